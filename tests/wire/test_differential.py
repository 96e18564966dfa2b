"""Differential tests: frames the wsproto and websockets libraries encode, we decode to the
same messages; frames we encode, they decode to the same messages. Compressed and not."""

import os
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.extensions.permessage_deflate import PerMessageDeflate as WsDeflate
from websockets.frames import Close as WsClose
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode as WsOpcode
from websockets.streams import StreamReader
from wsproto.extensions import PerMessageDeflate as WsprotoDeflate
from wsproto.frame_protocol import FrameProtocol

from wsdemo.wire import FrameDecoder, MessageAssembler, Opcode, compress_message, encode_frame, parse_close_payload

SCALE = int(os.environ.get("WSDEMO_HYPOTHESIS_SCALE", "1"))
SETTINGS = settings(max_examples=40 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# a message: (text?, data, number of fragments)
messages_st = st.lists(
    st.tuples(st.booleans(), st.one_of(st.text(max_size=300), st.binary(max_size=3000).map(bytes)),
              st.integers(1, 3)),
    min_size=1, max_size=5)
# (deflate?, no_context_takeover, window bits)
deflate_st = st.one_of(st.just((False, False, 15)),
                       st.tuples(st.just(True), st.booleans(), st.sampled_from([9, 10, 12, 15])))


def normalize(messages):
    out = []
    for is_text, data, parts in messages:
        if is_text:
            data = data if isinstance(data, str) else data.hex()
            out.append(("text", data.encode(), parts))
        else:
            out.append(("binary", data if isinstance(data, bytes) else data.encode(), parts))
    return out


def split(data: bytes, parts: int) -> list[bytes]:
    step = max(1, -(-len(data) // parts))
    pieces = [data[i:i + step] for i in range(0, len(data), step)] or [b""]
    return pieces


def our_decode(stream: bytes, deflate, masked: bool):
    on, nct, bits = deflate
    dec = FrameDecoder(allow_rsv1=on, expect_masked=masked)
    asm = MessageAssembler(deflate=on, no_context_takeover=nct, window_bits=bits)
    out = []
    for frame in dec.feed(stream):
        msg = asm.add(frame)
        if msg is not None:
            out.append((msg.kind, msg.data))
            if msg.kind == "text":
                assert msg.text == msg.data.decode()
    assert dec.buffered == 0 and not asm.in_progress
    return out


def our_encode(messages, deflate, mask_key):
    on, nct, bits = deflate
    comp = zlib.compressobj(wbits=-max(bits, 9))
    out = []
    for kind, data, parts in messages:
        op = Opcode.TEXT if kind == "text" else Opcode.BINARY
        compressed = False
        if on:
            if nct:
                comp = zlib.compressobj(wbits=-max(bits, 9))
            data = compress_message(data, comp)
            compressed = True
        pieces = split(data, parts)
        for i, piece in enumerate(pieces):
            out.append(encode_frame(op if i == 0 else Opcode.CONTINUATION, piece, fin=i == len(pieces) - 1,
                                    rsv1=compressed and i == 0, mask_key=mask_key))
    return b"".join(out)


# -- websockets --------------------------------------------------------------------------------

def ws_extension(deflate, *, client: bool):
    on, nct, bits = deflate
    if not on:
        return []
    # the client sends: its "local" settings describe what we decode; both sides agree on them
    return [WsDeflate(remote_no_context_takeover=nct, local_no_context_takeover=nct,
                      remote_max_window_bits=bits, local_max_window_bits=bits)]


def ws_encode(messages, deflate):
    exts = ws_extension(deflate, client=True)
    out = []
    for kind, data, parts in messages:
        op = WsOpcode.TEXT if kind == "text" else WsOpcode.BINARY
        pieces = split(data, parts)
        for i, piece in enumerate(pieces):
            frame = WsFrame(op if i == 0 else WsOpcode.CONT, piece, fin=i == len(pieces) - 1)
            out.append(frame.serialize(mask=True, extensions=exts))
    return b"".join(out)


def ws_decode(stream: bytes, deflate):
    reader = StreamReader()
    reader.feed_data(stream)
    reader.feed_eof()
    exts = ws_extension(deflate, client=False)
    out, parts, kind = [], [], None
    while True:
        at_eof = reader.at_eof()
        try:
            next(at_eof)
        except StopIteration as e:
            if e.value:
                break
        gen = WsFrame.parse(reader.read_exact, mask=True, extensions=exts)
        with pytest.raises(StopIteration) as done:
            next(gen)
        frame = done.value.value
        if frame.opcode != WsOpcode.CONT:
            kind = "text" if frame.opcode == WsOpcode.TEXT else "binary"
        parts.append(bytes(frame.data))
        if frame.fin:
            out.append((kind, b"".join(parts)))
            parts = []
    return out


@SETTINGS
@given(messages_st, deflate_st)
def test_websockets_encodes_we_decode(messages, deflate):
    messages = normalize(messages)
    stream = ws_encode(messages, deflate)
    assert our_decode(stream, deflate, masked=True) == [(k, d) for k, d, _ in messages]


@SETTINGS
@given(messages_st, deflate_st, st.binary(min_size=4, max_size=4))
def test_we_encode_websockets_decodes(messages, deflate, key):
    messages = normalize(messages)
    stream = our_encode(messages, deflate, key)
    assert ws_decode(stream, deflate) == [(k, d) for k, d, _ in messages]
    assert our_decode(stream, deflate, masked=True) == [(k, d) for k, d, _ in messages]


@pytest.mark.parametrize("code, reason", [(1000, ""), (1001, "bye"), (4000, "café"), (3001, "x" * 100)])
def test_close_payloads_agree_with_websockets(code, reason):
    payload = WsClose(code, reason).serialize()
    assert parse_close_payload(payload) == (code, reason)
    ours = encode_frame(Opcode.CLOSE, code.to_bytes(2, "big") + reason.encode())
    assert WsClose.parse(ours[2:]) == WsClose(code, reason)


# -- wsproto -----------------------------------------------------------------------------------

def wsproto_ext(deflate, *, client: bool):
    on, nct, bits = deflate
    if not on:
        return []
    ext = WsprotoDeflate(client_no_context_takeover=nct, client_max_window_bits=bits,
                         server_no_context_takeover=nct, server_max_window_bits=bits)
    params = f"permessage-deflate; client_max_window_bits={bits}; server_max_window_bits={bits}"
    if nct:
        params += "; client_no_context_takeover; server_no_context_takeover"
    if client:
        ext.finalize(params)
    else:
        ext.accept(params)
    return [ext]


def wsproto_encode(messages, deflate):
    proto = FrameProtocol(client=True, extensions=wsproto_ext(deflate, client=True))
    out = []
    for kind, data, parts in messages:
        pieces = split(data, parts)
        for i, piece in enumerate(pieces):
            payload = piece if kind == "binary" else piece
            if kind == "text":
                # wsproto picks TEXT for str; fragments of a text message must be cut on characters
                text = data.decode()
                chunks = [text[j:j + max(1, -(-len(text) // parts))]
                          for j in range(0, len(text), max(1, -(-len(text) // parts)))] or [""]
                for n, chunk in enumerate(chunks):
                    out.append(bytes(proto.send_data(chunk, fin=n == len(chunks) - 1)))
                break
            out.append(bytes(proto.send_data(payload, fin=i == len(pieces) - 1)))
    return b"".join(out)


def wsproto_decode(stream: bytes, deflate):
    proto = FrameProtocol(client=False, extensions=wsproto_ext(deflate, client=False))
    proto.receive_bytes(stream)
    out, parts, kind = [], [], None
    for frame in proto.received_frames():
        if frame.opcode in (1, 2):
            kind = "text" if frame.opcode == 1 else "binary"
        data = frame.payload
        parts.append(data.encode() if isinstance(data, str) else bytes(data))
        if frame.message_finished:
            out.append((kind, b"".join(parts)))
            parts = []
    return out


@SETTINGS
@given(messages_st, deflate_st)
def test_wsproto_encodes_we_decode(messages, deflate):
    messages = normalize(messages)
    stream = wsproto_encode(messages, deflate)
    assert our_decode(stream, deflate, masked=True) == [(k, d) for k, d, _ in messages]


@SETTINGS
@given(messages_st, deflate_st, st.binary(min_size=4, max_size=4))
def test_we_encode_wsproto_decodes(messages, deflate, key):
    messages = normalize(messages)
    stream = our_encode(messages, deflate, key)
    assert wsproto_decode(stream, deflate) == [(k, d) for k, d, _ in messages]


def test_wsproto_control_frames():
    proto = FrameProtocol(client=True, extensions=[])
    stream = bytes(proto.ping(b"p")) + bytes(proto.pong(b"")) + bytes(proto.close(1001, "going"))
    dec, asm = FrameDecoder(expect_masked=True), MessageAssembler()
    got = [asm.add(f) for f in dec.feed(stream)]
    assert [(m.kind, m.data) for m in got[:2]] == [("ping", b"p"), ("pong", b"")]
    assert (got[2].close_code, got[2].close_reason) == (1001, "going")


def test_we_reject_what_wsproto_rejects():
    """Bad frames: both refuse (wsproto raises ParseFailed, we raise ProtocolError)."""
    from wsproto.frame_protocol import ParseFailed

    from wsdemo.wire import ProtocolError

    bad = [b"\x83\x80abcd", b"\x09\x80abcd", bytes([0x89, 0xFE, 0, 126]) + b"abcd" + b"x" * 126,
           b"\xc1\x81abcdx", b"\x88\x82abcd" + bytes(a ^ b for a, b in zip((1005).to_bytes(2, "big"), b"ab"))]
    for data in bad:
        proto = FrameProtocol(client=False, extensions=[])
        proto.receive_bytes(data)
        with pytest.raises(ParseFailed):
            list(proto.received_frames())
        with pytest.raises(ProtocolError):
            for f in FrameDecoder(expect_masked=True).feed(data):
                MessageAssembler().add(f)
