"""The recording keeps frames and messages as rows the garbage collector does not walk
(wsdemo/record_store.py), and reading them back gives the events the decoder made.

A real Connection is fed the way the relay feeds it (a noted chunk, then flush), without
sockets: what is checked is what it keeps and what it gives back.
"""

from __future__ import annotations

import gc
import time
from collections import deque

from wsdemo import wire
from wsdemo.live.recording import Connection, _Ring
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


def followed(ring) -> int:
    """How many references a collector's pass follows from ``ring`` through what holds its items
    (not into the few events kept as objects: record_store)."""
    seen, todo, n = set(), [ring], 0
    while todo:
        o = todo.pop()
        if type(o) not in (_Ring, deque, list, tuple) or id(o) in seen or not gc.is_tracked(o):
            continue
        seen.add(id(o))
        refs = gc.get_referents(o)
        n += len(refs)
        todo.extend(refs)
    return n


def test_a_full_pass_visits_a_rings_blocks_not_each_item():
    # A deque's every item (and its size, an int object) was visited by every full pass: a
    # class of 50 kept ~200,000, and each pass held the loop 15-35 ms (bench/classroom.py).
    _, conn = recorded()
    record(conn, conversation()[:-2] + [("client", wire.encode_frame(0x1, "x" * i, mask_key=MASK))
                                         for i in range(400)])
    # once seen, a block of untracked rows or chunks is untracked itself (a block the collector
    # reached before its rows waits for the next collection, as a server's next one)
    gc.collect()
    gc.collect()
    for ring in (conn._events, conn._chunks):
        assert len(ring) > 400
        assert followed(ring) < len(ring) // 4, (len(ring), followed(ring))


def test_a_ring_keeps_its_newest_items_within_its_count_and_bytes():
    ring = _Ring(100, 1000)
    for i in range(250):
        ring.add(("client", float(i), b"x"), 5)
    assert list(ring) == [("client", float(i), b"x") for i in range(150, 250)]
    assert len(ring) == 100 and ring.dropped == 150 and ring.nbytes == 500
    assert ring[0][1] == 150.0 and ring[-1][1] == 249.0 and ring[40][1] == 190.0 and ring[-33][1] == 217.0
    assert [item[1] for item in ring[95:]] == [245.0, 246.0, 247.0, 248.0, 249.0]
    ring.add(("server", 250.0, b"y" * 600), 600)  # past max_bytes: the oldest go, the newest stays
    assert ring.nbytes <= 1000 and ring[-1][1] == 250.0 and ring.dropped == 150 + 1 + 19
    assert [item[1] for item in ring] == [float(i) for i in range(170, 251)]
    ring.add(("server", 251.0, b"z"), 5000)  # bigger than the bound alone: kept, alone
    assert list(ring) == [("server", 251.0, b"z")] and ring.nbytes == 5000
    ring.drop_oldest()
    assert not ring and ring.nbytes == 0 and ring.dropped == 252
    try:
        ring[0]
    except IndexError:
        pass
    else:
        raise AssertionError("an empty ring has no item 0")
    snapshot = iter(ring)
    ring.add(("client", 1.0, b""), 1)
    assert list(snapshot) == []  # iterating walks what was there when it began


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
