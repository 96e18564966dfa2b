"""Property tests: round trips, split invariance, and calm in front of random bytes.

Example counts stay moderate for the suite; WSDEMO_HYPOTHESIS_SCALE=20 runs 20 times as many.
"""

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsdemo.wire import (
    ConnectionDecoder, DecodeError, Frame, FrameDecoder, FrameEvent, MessageAssembler, MessageEvent, Opcode,
    ProtocolError, Summary, compute_accept, encode_frame, parse_request, parse_response, summarize,
)
from wsdemo.wire.dump import decode_hex

SCALE = int(os.environ.get("WSDEMO_HYPOTHESIS_SCALE", "1"))
FAST = settings(max_examples=120 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])

mask_keys = st.one_of(st.none(), st.binary(min_size=4, max_size=4))
# sizes around the 7/16/64-bit length boundaries matter most
payload_sizes = st.one_of(st.integers(0, 130), st.sampled_from([65535, 65536, 65537]), st.integers(0, 70000))


@st.composite
def frame_specs(draw, allow_rsv1=True):
    op = draw(st.sampled_from(list(Opcode)))
    if op.is_control:
        payload = draw(st.binary(max_size=125))
        fin, rsv1 = True, False
    else:
        size = draw(payload_sizes)
        payload = draw(st.binary(min_size=min(size, 64), max_size=min(size, 64))) * (size // 64 + 1)
        payload = payload[:size] if size else b""
        fin = draw(st.booleans())
        rsv1 = draw(st.booleans()) if allow_rsv1 else False
    return op, payload, fin, rsv1, draw(mask_keys)


@FAST
@given(frame_specs())
def test_encode_decode_round_trip(spec):
    op, payload, fin, rsv1, key = spec
    raw = encode_frame(op, payload, fin=fin, rsv1=rsv1, mask_key=key)
    (frame,) = FrameDecoder(allow_rsv1=True).feed(raw)
    assert (frame.opcode, frame.payload, frame.fin, frame.rsv1, frame.mask_key) == (op, payload, fin, rsv1, key)
    assert frame.raw == raw and frame.payload_len == len(payload)
    assert encode_frame(frame.opcode, frame.payload, fin=frame.fin, rsv1=frame.rsv1, mask_key=frame.mask_key) == raw
    # fields tile the frame exactly: consecutive, no gaps, ending at the last bit
    pos = 0
    for field in frame.fields:
        assert field.start_bit == pos
        pos += field.bit_len
    assert pos == 8 * len(raw)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    points = sorted({p % (len(data) + 1) for p in points})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:])]


@FAST
@given(st.lists(frame_specs(), min_size=1, max_size=6), st.lists(st.integers(0, 1 << 20), max_size=12))
def test_every_cut_of_the_stream_gives_the_same_frames(specs, points):
    stream = b"".join(encode_frame(op, p, fin=f, rsv1=r, mask_key=k) for op, p, f, r, k in specs)
    whole = FrameDecoder(allow_rsv1=True).feed(stream)
    dec = FrameDecoder(allow_rsv1=True)
    pieces = []
    for chunk in cut(stream, points):
        pieces += dec.feed(chunk)
    assert pieces == whole
    assert [f.offset for f in pieces] == [f.offset for f in whole]
    assert dec.buffered == 0 and dec.eof() == []


KEY = "dGhlIHNhbXBsZSBub25jZQ=="
REQUEST = (f"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n"
           f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n").encode()
RESPONSE = (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {compute_accept(KEY)}\r\n\r\n").encode()


def run_connection(client_chunks, server_chunks, order):
    dec = ConnectionDecoder()
    events = []
    c, s = list(client_chunks), list(server_chunks)
    for who in order:
        queue = c if who else s
        if queue:
            events += dec.feed("client" if who else "server", queue.pop(0), at=0.0)
    for chunk in c:
        events += dec.feed("client", chunk, at=0.0)
    for chunk in s:
        events += dec.feed("server", chunk, at=0.0)
    return events


@FAST
@given(st.lists(frame_specs(allow_rsv1=False), max_size=4), st.lists(frame_specs(allow_rsv1=False), max_size=4),
       st.lists(st.integers(0, 1 << 20), max_size=8), st.lists(st.integers(0, 1 << 20), max_size=8))
def test_connection_events_do_not_depend_on_chunking(client_specs, server_specs, cpoints, spoints):
    client = REQUEST + b"".join(encode_frame(op, p, fin=f, mask_key=k or b"abcd") for op, p, f, _, k in client_specs)
    server = RESPONSE + b"".join(encode_frame(op, p, fin=f) for op, p, f, _, _ in server_specs)
    # per direction, the events only depend on that direction's bytes (heads first, then frames)
    whole = run_connection([client[:len(REQUEST)], client[len(REQUEST):]], [server], [1, 0])
    pieces = run_connection([client[:len(REQUEST)]] + cut(client[len(REQUEST):], cpoints),
                            cut(server, spoints), [1] + [0] * 30)
    for who in ("client", "server"):
        assert [e for e in pieces if e.sender == who] == [e for e in whole if e.sender == who]


@settings(max_examples=300 * SCALE, deadline=None)
@given(st.binary(max_size=300), st.booleans(), st.sampled_from([None, True, False]))
def test_random_bytes_only_give_protocol_errors(data, rsv1, masked):
    dec = FrameDecoder(max_payload=1000, allow_rsv1=rsv1, expect_masked=masked)
    asm = MessageAssembler(deflate=rsv1, max_size=1000)
    try:
        for frame in dec.feed(data):
            try:
                asm.add(frame)
            except ProtocolError:
                pass
        dec.eof()
    except ProtocolError:
        pass


@settings(max_examples=300 * SCALE, deadline=None)
@given(st.binary(max_size=300))
def test_random_heads_only_give_handshake_errors(data):
    for parse in (parse_request, parse_response):
        try:
            parse(data, max_size=200)
        except ProtocolError:
            pass
    try:
        parse_request(b"GET / HTTP/1.1\r\n" + data + b"\r\n\r\n")
    except ProtocolError:
        pass


@st.composite
def garbage_after_prefix(draw):
    prefix = draw(st.sampled_from(["none", "request", "handshake"]))
    return prefix, draw(st.binary(max_size=200)), draw(st.binary(max_size=200))


@settings(max_examples=250 * SCALE, deadline=None)
@given(garbage_after_prefix(), st.lists(st.integers(0, 400), max_size=6))
def test_connection_decoder_never_raises(case, points):
    prefix, cdata, sdata = case
    dec = ConnectionDecoder(max_payload=500, max_head=300)
    events = []
    if prefix != "none":
        events += dec.feed("client", REQUEST)
    if prefix == "handshake":
        events += dec.feed("server", RESPONSE)
    for chunk in cut(cdata, points):
        events += dec.feed("client", chunk)
    for chunk in cut(sdata, points):
        events += dec.feed("server", chunk)
    events += dec.eof("client") + dec.eof("server")
    for e in events:
        if isinstance(e, DecodeError):
            assert e.error and isinstance(e.offset, int) and 0 <= e.offset <= dec.received[e.sender]
    assert dec.received == {"client": len(cdata) + (len(REQUEST) if prefix != "none" else 0),
                            "server": len(sdata) + (len(RESPONSE) if prefix == "handshake" else 0)}


@settings(max_examples=150 * SCALE, deadline=None)
@given(st.text(alphabet="0123456789abcdefx: g", max_size=60), st.booleans())
def test_decode_hex_never_raises(text, deflate):
    out, ok = decode_hex(text, deflate=deflate)
    assert isinstance(out, str) and isinstance(ok, bool)


@FAST
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=5), mask_keys)
def test_fragmented_messages_reassemble(parts, key):
    asm = MessageAssembler()
    frames = [Frame.build(Opcode.BINARY if i == 0 else Opcode.CONTINUATION, p, fin=i == len(parts) - 1, mask_key=key)
              for i, p in enumerate(parts)]
    results = [asm.add(f) for f in frames]
    assert results[:-1] == [None] * (len(parts) - 1)
    assert results[-1].data == b"".join(parts) and results[-1].frames == frames


def _valid_conversation() -> tuple[bytes, bytes]:
    from wsdemo.wire import compress_message

    req = REQUEST
    res = RESPONSE.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
    client = req + b"".join([
        encode_frame(Opcode.TEXT, "hello", mask_key=b"abcd"),
        encode_frame(Opcode.TEXT, compress_message(b"squeezed " * 20), rsv1=True, mask_key=b"wxyz"),
        encode_frame(Opcode.BINARY, b"\x00" * 200, fin=False, mask_key=b"1234"),
        encode_frame(Opcode.PING, b"p", mask_key=b"abcd"),
        encode_frame(Opcode.CONTINUATION, b"\x01" * 70000, mask_key=b"5678"),
        encode_frame(Opcode.CLOSE, b"\x03\xe8bye", mask_key=b"abcd"),
    ])
    server = res + encode_frame(Opcode.TEXT, "welcome") + encode_frame(Opcode.CLOSE, b"\x03\xe8")
    return client, server


CLIENT, SERVER = _valid_conversation()


@settings(max_examples=200 * SCALE, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=4),
       st.lists(st.integers(0, 1 << 20), max_size=5))
def test_mutated_real_conversation_never_raises(mutations, points):
    client, server = bytearray(CLIENT), bytearray(SERVER)
    for to_client, where, value in mutations:
        target = client if to_client else server
        target[where % len(target)] = value
    dec = ConnectionDecoder(max_payload=1 << 17)
    events = []
    for chunk in cut(bytes(client), points):
        events += dec.feed("client", chunk)
    for chunk in cut(bytes(server), points):
        events += dec.feed("server", chunk)
    events += dec.eof("server") + dec.eof("client")
    for e in events:
        if isinstance(e, DecodeError):
            assert "internal decoder error" not in e.error
            assert 0 <= e.offset <= dec.received[e.sender]


def _fed(chunks, tallied):
    """Feed (sender, bytes) chunks after the handshake; the chunks whose index is in ``tallied``
    with a tally. Returns (events, tally, decoder)."""
    dec = ConnectionDecoder(max_payload=500)
    dec.feed("client", REQUEST, at=0.0)
    dec.feed("server", RESPONSE, at=0.0)
    tally = Summary()
    events = []
    for i, (who, chunk) in enumerate(chunks):
        events += dec.feed(who, chunk, at=float(i), tally=tally) if i in tallied else dec.feed(who, chunk, at=float(i))
    events += dec.eof("client", at=-1.0) + dec.eof("server", at=-1.0)
    return events, tally, dec


@st.composite
def conversations(draw):
    """Both directions after a handshake, cut into chunks and interleaved: valid frames (with
    fragments, closes and bad UTF-8 among them) or random bytes after a valid prefix."""
    chunks = []
    for who, mask in (("client", b"abcd"), ("server", None)):
        specs = draw(st.lists(frame_specs(allow_rsv1=False), max_size=5))
        data = b"".join(encode_frame(op, p, fin=f, mask_key=mask and (k or mask)) for op, p, f, _, k in specs)
        if draw(st.booleans()):
            data += draw(st.binary(max_size=60))
        chunks += [(who, c) for c in cut(data, draw(st.lists(st.integers(0, 1 << 17), max_size=6)))]
    return draw(st.permutations(chunks))


@FAST
@given(conversations(), st.data())
def test_a_tally_counts_what_the_events_would_have_been(chunks, data):
    # With a tally, feed makes no frame or message events but counts them as summarize would;
    # every other event is the same, and later chunks decode as if nothing had been tallied.
    tallied = set(data.draw(st.lists(st.integers(0, max(0, len(chunks) - 1)), max_size=len(chunks))))
    made, _, plain = _fed(chunks, set())
    counted, tally, dec = _fed(chunks, tallied)
    kept = (FrameEvent, MessageEvent)
    skipped = [e for e in made if isinstance(e, kept) and int(e.at) in tallied]
    assert [e for e in counted if isinstance(e, kept)] == [e for e in made if isinstance(e, kept) and e not in skipped]
    assert not any(isinstance(e, kept) and int(e.at) in tallied for e in counted)
    assert [e for e in counted if not isinstance(e, kept)] == [e for e in made if not isinstance(e, kept)]
    expected = summarize(skipped)
    for who in ("client", "server"):
        assert (tally[who].frames, tally[who].messages, tally[who].payload_bytes, tally[who].framing_bytes,
                tally[who].data_bytes) == (expected[who].frames, expected[who].messages, expected[who].payload_bytes,
                                           expected[who].framing_bytes, expected[who].data_bytes)
    assert dec.state is plain.state
