"""The recording keeps frames and messages as rows the garbage collector does not walk
(wsdemo/record_store.py), and reading them back gives the events the decoder made.

A real Connection is fed the way the relay feeds it (a noted chunk, then flush), without
sockets: what is checked is what it keeps and what it gives back.
"""

from __future__ import annotations

import gc
import time

from wsdemo import wire
from wsdemo.live.recording import Connection
from wsdemo.live.tap import Tap

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
MASK = b"\x37\xfa\x21\x3d"


def conversation() -> list[tuple[str, bytes]]:
    """A handshake with permessage-deflate, then every kind of message both ways: single and
    fragmented (a ping between the fragments), binary, compressed, ping/pong, close."""
    request = (f"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
               f"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n").encode()
    response = (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {wire.compute_accept(KEY)}\r\n"
                f"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n").encode()

    def client(opcode, payload, **kw):
        return "client", wire.encode_frame(opcode, payload, mask_key=MASK, **kw)

    def server(opcode, payload, **kw):
        return "server", wire.encode_frame(opcode, payload, **kw)

    return [
        ("client", request), ("server", response),
        client(0x1, "hello"),
        server(0x1, "hello"),
        client(0x1, "frag", fin=False), client(0x9, b"mid"), client(0x0, "ment", fin=False),
        client(0x0, "ed"),
        server(0xA, b"mid"),
        client(0x2, bytes(range(200))),
        server(0x1, wire.compress_message(b"squeeze " * 20), rsv1=True),
        client(0x8, b"\x03\xe8bye"),
        server(0x8, b"\x03\xe8"),
    ]


T0 = time.time()


def record(conn: Connection, chunks) -> None:
    for i, (sender, data) in enumerate(chunks):
        conn._pending.append((sender, T0 + i, data))  # as the relay notes a chunk
        conn.flush()


def decoded(chunks) -> list:
    """What the wire layer alone makes of the same bytes (arriving at the same times)."""
    decoder = wire.ConnectionDecoder(client_max_payload=wire.DEFAULT_MAX_PAYLOAD)
    return [e for i, (sender, data) in enumerate(chunks) for e in decoder.feed(sender, data, at=T0 + i)]


def recorded(ring_size: int = 1000) -> tuple[Tap, Connection]:
    tap = Tap("127.0.0.1", 9, ring_size=ring_size)
    conn = Connection(tap, 1, "127.0.0.1:5", ring_size)
    tap.connections.append(conn)
    return tap, conn


def test_recorded_frames_and_messages_are_not_walked_by_the_collector():
    _, conn = recorded()
    gc.collect()
    gc.disable()  # one collection, below, and only of the youngest generation
    try:
        record(conn, conversation()[:-2] + [("client", wire.encode_frame(0x1, "x" * i, mask_key=MASK))
                                             for i in range(200)])
        # CPython untracks a tuple of untracked values when a collection first sees it: rows
        # never reach the generations a full pass walks
        gc.collect(0)
    finally:
        gc.enable()
    kept = list(conn._events)
    frames_and_messages = [e for e in conn.events if isinstance(e, (wire.FrameEvent, wire.MessageEvent))]
    assert len(frames_and_messages) > 400
    tracked = [item for item in kept if gc.is_tracked(item)]
    # only the few others (the handshake's two events) stay objects
    assert len(tracked) == len(kept) - len(frames_and_messages) == 2, tracked[:3]


def test_events_read_back_equal_what_the_decoder_made():
    _, conn = recorded()
    chunks = conversation()
    record(conn, chunks)
    want = decoded(chunks)
    got = list(conn.events)
    assert got == want
    assert [type(e) for e in got] == [type(e) for e in want]
    assert [str(e) for e in got] == [str(e) for e in want]
    assert all(e.connection is conn for e in got)
    for g, w in zip(got, want):
        if isinstance(w, wire.FrameEvent):
            assert type(g.frame.opcode) is type(w.frame.opcode) and g.frame.offset == w.frame.offset
            assert (g.frame.wire_payload is g.frame.payload) == (w.frame.wire_payload is w.frame.payload)
        if isinstance(w, wire.MessageEvent):
            assert g.message.compressed == w.message.compressed and g.message.close_code == w.message.close_code
    kinds = [e.message.kind for e in got if isinstance(e, wire.MessageEvent)]
    assert kinds == ["text", "text", "ping", "text", "pong", "binary", "text", "close", "close"]


def test_in_one_read_a_frame_event_and_its_message_share_their_frames():
    # Widgets pair a message with the rows of its frames by the frames' identity (ui RowBook).
    _, conn = recorded()
    record(conn, conversation())
    events = list(conn.events)
    frames = {id(e.frame) for e in events if isinstance(e, wire.FrameEvent)}
    messages = [e.message for e in events if isinstance(e, wire.MessageEvent)]
    assert all(id(f) in frames for m in messages for f in m.frames)
    fragmented = next(m for m in messages if len(m.frames) == 3)
    assert fragmented.text == "fragmented"


def test_an_event_someone_holds_is_the_one_read_again():
    tap, conn = recorded()
    record(conn, conversation()[:4])
    last = conn.events[-1]
    assert conn.events[-1] is last and list(conn.events)[-1] is last
    assert conn.events.index(last) == len(conn.events) - 1
    live: list = []
    tap.subscribe(live.append)
    record(conn, conversation()[4:6])
    assert live and live[-1] is conn.events[-1]  # what a subscriber got is what a read gives
    assert [e for e in conn.events][-len(live):] == live


def test_summary_counts_every_event_after_the_ring_let_them_go():
    _, conn = recorded(ring_size=8)
    chunks = conversation()[:2] + [("client", wire.encode_frame(0x1, f"m{i}", mask_key=MASK))
                                   for i in range(50)]
    record(conn, chunks)
    summary = conn.summary()
    assert summary.client.messages == 50 and summary.client.frames == 50
    assert len(conn.events) == 8 and conn.dropped_events == 2 + 100 - 8
    assert list(conn.events) == decoded(chunks)[-8:]
    assert conn.events[0] == decoded(chunks)[-8]
