"""Every error the wire layer raises carries a machine-readable ``kind`` (and, for HTTP, a
``status``): callers act on these fields, never on the words of the message."""

import ast
import pathlib

import pytest

import wsdemo.wire as wire
from wsdemo.wire import (
    ConnectionDecoder, DecodeError, ErrorKind, FrameDecoder, FrameError, HandshakeError, MessageAssembler,
    MessageError, Opcode, ProtocolError, SseDecoder, encode_frame,
)

WIRE = pathlib.Path(wire.__file__).parent
KEY = b"\x37\xfa\x21\x3d"
_ERRORS = {name for name in dir(wire) if isinstance(getattr(wire, name), type)
           and issubclass(getattr(wire, name), ProtocolError)} | {"DecodeError"}


def test_every_error_made_in_wire_names_its_kind():
    # BytesTextError always has one kind and sets it itself.
    missing = []
    for path in sorted(WIRE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _ERRORS \
                    and node.func.id != "BytesTextError" and path.name != "errors.py":
                if not any(k.arg == "kind" for k in node.keywords):
                    missing.append(f"{path.name}:{node.lineno} {node.func.id}")
    assert not missing


def frame_error(data: bytes, **kw) -> FrameError:
    with pytest.raises(FrameError) as info:
        FrameDecoder(**kw).feed(data)
    return info.value


@pytest.mark.parametrize("data, kw, kind", [
    (b"\x83\x00", {}, ErrorKind.RESERVED_OPCODE),
    (b"\xc1\x00", {}, ErrorKind.RSV1_NOT_NEGOTIATED),
    (b"\xa1\x00", {}, ErrorKind.RSV_NOT_NEGOTIATED),
    (b"\xc9\x00", {"allow_rsv1": True}, ErrorKind.COMPRESSED_CONTROL),
    (b"\x09\x00", {}, ErrorKind.FRAGMENTED_CONTROL),
    (b"\x89\x7e\x00\x80", {}, ErrorKind.CONTROL_TOO_LONG),
    (b"\x81\x7e\x00\x05", {}, ErrorKind.NON_MINIMAL_LENGTH),
    (b"\x81\x7f" + (1 << 63).to_bytes(8, "big"), {}, ErrorKind.LENGTH_TOP_BIT),
    (b"\x82\x7e\x01\x00", {"max_payload": 100}, ErrorKind.FRAME_TOO_LARGE),
    (b"\x81\x00", {"expect_masked": True}, ErrorKind.MASKING),
    (encode_frame(1, b"", mask_key=KEY), {"expect_masked": False}, ErrorKind.MASKING),
])
def test_frame_error_kinds(data, kw, kind):
    assert frame_error(data, **kw).kind is kind


def test_frame_error_kinds_at_the_end_and_after():
    dec = FrameDecoder()
    dec.feed(b"\x81\x05He")
    with pytest.raises(FrameError) as info:
        dec.eof()
    assert info.value.kind is ErrorKind.TRUNCATED
    dec = FrameDecoder()
    with pytest.raises(FrameError):
        dec.feed(b"\x83\x00")
    with pytest.raises(FrameError) as info:
        dec.feed(b"\x81\x00")
    assert info.value.kind is ErrorKind.DECODER_STOPPED
    with pytest.raises(FrameError) as info:
        encode_frame(1, b"", mask_key=b"abc")
    assert info.value.kind is ErrorKind.BAD_ARGUMENT


def message_error(*frames: wire.Frame, **kw) -> MessageError:
    asm = MessageAssembler(**kw)
    with pytest.raises(MessageError) as info:
        for f in frames:
            asm.add(f)
    return info.value


F = wire.Frame.build


@pytest.mark.parametrize("frames, kw, kind", [
    ((F(Opcode.CONTINUATION, b"x"),), {}, ErrorKind.UNEXPECTED_CONTINUATION),
    ((F(Opcode.TEXT, b"a", fin=False), F(Opcode.TEXT, b"b")), {}, ErrorKind.EXPECTED_CONTINUATION),
    ((F(Opcode.TEXT, b"\xff"),), {}, ErrorKind.INVALID_UTF8),
    ((F(Opcode.BINARY, b"x" * 11),), {"max_size": 10}, ErrorKind.MESSAGE_TOO_LARGE),
    ((F(Opcode.BINARY, b"x", fin=False), F(Opcode.CONTINUATION, b"x", fin=False)), {"max_frames": 1},
     ErrorKind.TOO_MANY_FRAMES),
    ((F(Opcode.TEXT, b"\x00\x01", rsv1=True),), {"deflate": True}, ErrorKind.INFLATE_FAILED),
    ((F(Opcode.TEXT, b"x", rsv1=True),), {}, ErrorKind.RSV1_NOT_NEGOTIATED),
    ((F(Opcode.CLOSE, b"\x03"),), {}, ErrorKind.CLOSE_TOO_SHORT),
    ((F(Opcode.CLOSE, b"\x03\xed"),), {}, ErrorKind.CLOSE_CODE_INVALID),
])
def test_message_error_kinds(frames, kw, kind):
    assert message_error(*frames, **kw).kind is kind


@pytest.mark.parametrize("head, kind, status", [
    (b"\x16\x03\x01\x02\x00", ErrorKind.TLS_ON_PLAIN, 400),
    (b"\x00\x01GET / HTTP/1.1\r\n\r\n", ErrorKind.NOT_HTTP, 400),
    (b"GET /\r\n\r\n", ErrorKind.BAD_START_LINE, 400),
    (b"GET / HTTP/1.1\r\nNo colon\r\n\r\n", ErrorKind.BAD_HEADER, 400),
    (b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000, ErrorKind.HEAD_TOO_LARGE, 431),
    (b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", ErrorKind.BAD_BODY_FRAMING, 400),
    (b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", ErrorKind.BODY_TOO_LARGE, 400),
])
def test_decode_errors_carry_kind_and_status(head, kind, status):
    (error,) = [e for e in ConnectionDecoder().feed("client", head) if isinstance(e, DecodeError)]
    assert (error.kind, error.status, error.fatal) == (kind, status, True)
    assert kind.status == status


def test_decode_error_kinds_after_the_upgrade():
    from tests.wire.test_connection import upgrade_request, upgrade_response
    dec = ConnectionDecoder()
    dec.feed("client", upgrade_request())
    dec.feed("server", upgrade_response())
    (bad_close,) = [e for e in dec.feed("server", encode_frame(Opcode.CLOSE, b"\x03\xed"))
                    if isinstance(e, DecodeError)]
    assert bad_close.kind is ErrorKind.CLOSE_CODE_INVALID and not bad_close.fatal and bad_close.status is None
    assert not [e for e in dec.feed("server", encode_frame(Opcode.CLOSE, b"\x03\xe8"))
                if isinstance(e, DecodeError)]
    (after,) = [e for e in dec.feed("server", encode_frame(Opcode.PING, b""))
                if isinstance(e, DecodeError)]
    assert after.kind is ErrorKind.AFTER_CLOSE
    (unmasked,) = [e for e in dec.feed("client", encode_frame(Opcode.TEXT, b"hi"))
                   if isinstance(e, DecodeError)]
    assert unmasked.kind is ErrorKind.MASKING and unmasked.fatal


def test_handshake_and_sse_error_kinds():
    with pytest.raises(HandshakeError) as info:
        wire.negotiate_deflate(wire.parse_request(b"GET / HTTP/1.1\r\n\r\n"),
                               wire.parse_response(b"HTTP/1.1 101 OK\r\nSec-WebSocket-Extensions: "
                                                   b"permessage-deflate\r\n\r\n"))
    assert info.value.kind is ErrorKind.BAD_EXTENSION
    with pytest.raises(wire.SseError) as sse:
        SseDecoder(max_event=10).feed(b"data: " + b"x" * 20)
    assert sse.value.kind is ErrorKind.EVENT_TOO_LARGE
    with pytest.raises(wire.BytesTextError) as text:
        wire.parse_bytes_text("81 0")
    assert text.value.kind is ErrorKind.BYTES_TEXT and text.value.status is None


def test_an_error_made_outside_wire_still_has_a_kind():
    e = FrameError("client frames must be masked (RFC 6455 section 5.1)")  # as notebook 07 raises it
    assert e.kind is ErrorKind.UNSPECIFIED and e.code == 1002 and e.status is None
    assert HandshakeError("bad").status == 400
