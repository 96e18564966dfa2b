"""RFC 6455's own examples as literal bytes, both directions: parse, then serialize back."""

import pytest

from wsdemo.wire import (
    Frame, FrameDecoder, MessageAssembler, Opcode, compute_accept, encode_frame, explain_accept,
    parse_request, parse_response,
)

MASK = bytes.fromhex("37fa213d")


def decode_one(data: bytes) -> Frame:
    frames = FrameDecoder().feed(data)
    assert len(frames) == 1
    return frames[0]


def test_accept_example_section_1_3():
    assert compute_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert compute_accept(b"dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_explain_accept_steps():
    steps = explain_accept("dGhlIHNhbXBsZSBub25jZQ==")
    assert [s.name for s in steps] == ["key", "key + GUID", "SHA-1 (hex)", "base64"]
    assert steps[0].value == "dGhlIHNhbXBsZSBub25jZQ=="
    assert steps[1].value == "dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    assert steps[2].value == "b37a4f2cc0624f1690f64606cf385945b2bec4ea"
    assert steps[3].value == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


HANDSHAKE_REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)
HANDSHAKE_RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Sec-WebSocket-Protocol: chat\r\n"
    b"\r\n"
)


def test_handshake_example_round_trip():
    req = parse_request(HANDSHAKE_REQUEST)
    assert (req.method, req.target, req.version) == ("GET", "/chat", "HTTP/1.1")
    assert req.headers.get("sec-websocket-key") == "dGhlIHNhbXBsZSBub25jZQ=="
    assert req.raw == HANDSHAKE_REQUEST
    assert req.serialize() == HANDSHAKE_REQUEST
    res = parse_response(HANDSHAKE_RESPONSE)
    assert (res.status, res.reason) == (101, "Switching Protocols")
    assert res.headers["Sec-WebSocket-Accept"] == compute_accept(req.headers["Sec-WebSocket-Key"])
    assert res.serialize() == HANDSHAKE_RESPONSE


@pytest.mark.parametrize("hexbytes, opcode, payload, mask_key, fin", [
    ("810548656c6c6f", Opcode.TEXT, b"Hello", None, True),  # unmasked text
    ("818537fa213d7f9f4d5158", Opcode.TEXT, b"Hello", MASK, True),  # masked text
    ("010348656c", Opcode.TEXT, b"Hel", None, False),  # first fragment
    ("80026c6f", Opcode.CONTINUATION, b"lo", None, True),  # last fragment
    ("890548656c6c6f", Opcode.PING, b"Hello", None, True),  # unmasked ping
    ("8a8537fa213d7f9f4d5158", Opcode.PONG, b"Hello", MASK, True),  # masked pong
])
def test_section_5_7_examples(hexbytes, opcode, payload, mask_key, fin):
    raw = bytes.fromhex(hexbytes)
    frame = decode_one(raw)
    assert frame.opcode == opcode
    assert frame.payload == payload
    assert frame.fin is fin
    assert frame.masked is (mask_key is not None)
    assert frame.mask_key == mask_key
    assert frame.raw == raw
    # and back: serializing the fields gives the same bytes
    assert encode_frame(opcode, payload, fin=fin, mask_key=mask_key) == raw
    assert Frame.build(opcode, payload, fin=fin, mask_key=mask_key) == frame


def test_masked_hello_wire_payload_is_masked_bytes():
    frame = decode_one(bytes.fromhex("818537fa213d7f9f4d5158"))
    assert frame.wire_payload == bytes.fromhex("7f9f4d5158")
    assert frame.header == bytes.fromhex("818537fa213d")
    assert str(frame) == "TEXT 'Hello' [5 bytes, masked 37fa213d]"


def test_unmasked_hello_str_and_shared_payload():
    frame = decode_one(bytes.fromhex("810548656c6c6f"))
    assert str(frame) == "TEXT 'Hello' [5 bytes]"
    assert frame.wire_payload is frame.payload  # no duplicate copy when unmasked


def test_fragmented_hello_assembles():
    frames = FrameDecoder().feed(bytes.fromhex("010348656c80026c6f"))
    asm = MessageAssembler()
    assert asm.add(frames[0]) is None
    msg = asm.add(frames[1])
    assert msg.kind == "text" and msg.text == "Hello" and msg.frames == frames
    assert msg.wire_size == 9


@pytest.mark.parametrize("n, header_hex", [
    (256, "827e0100"),  # 256 bytes: 16-bit extended length
    (65536, "827f0000000000010000"),  # 64 KiB: 64-bit extended length
])
def test_binary_length_headers(n, header_hex):
    payload = bytes(range(256)) * (n // 256)
    raw = bytes.fromhex(header_hex) + payload
    frame = decode_one(raw)
    assert frame.opcode == Opcode.BINARY
    assert frame.payload_len == n
    assert frame.header == bytes.fromhex(header_hex)
    assert frame.payload == payload
    assert encode_frame(Opcode.BINARY, payload) == raw
    names = [f.name for f in frame.fields]
    assert names == ["FIN", "RSV1", "RSV2", "RSV3", "opcode", "MASK", "payload length",
                     "extended payload length", "payload"]
    ext = frame.fields[7]
    assert ext.start_bit == 16 and ext.bit_len == (16 if n == 256 else 64) and ext.value == n
