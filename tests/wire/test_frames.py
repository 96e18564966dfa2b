"""Frame decoding rules (RFC 6455 section 5), fields and their bit offsets, close codes."""

import pytest

from wsdemo.wire import (
    CloseCode, FrameDecoder, FrameError, Opcode, ProtocolError, describe_close_code, encode_frame, unmask,
)

KEY = b"\x01\x02\x03\x04"


def feed_error(data: bytes, **kw) -> FrameError:
    with pytest.raises(FrameError) as info:
        FrameDecoder(**kw).feed(data)
    return info.value


def test_opcode_is_control():
    assert [op for op in Opcode if op.is_control] == [Opcode.CLOSE, Opcode.PING, Opcode.PONG]
    assert not Opcode.TEXT.is_control


def test_close_codes_cover_1000_to_1015_with_meanings():
    assert [int(c) for c in CloseCode] == list(range(1000, 1016))
    for code in CloseCode:
        text = describe_close_code(code)
        # the meaning's explanation appears, and the name is said once, not twice
        assert code.meaning and code.meaning.split(": ", 1)[-1] in text
        assert text.lower().count(code.meaning.split(": ", 1)[0].lower()) <= 1
    assert not CloseCode.NO_STATUS_RCVD.allowed_on_wire
    assert CloseCode.GOING_AWAY.allowed_on_wire


@pytest.mark.parametrize("code, words", [
    (1000, "1000 Normal Closure: the purpose"), (1005, "No Status Received"), (1015, "TLS Handshake"), (1006, "not allowed in a close frame"), (999, "invalid"),
    (2000, "reserved"), (3000, "libraries, frameworks"), (3999, "libraries"), (4000, "private use"),
    (4999, "private use"), (5000, "invalid"), (1016, "reserved"),
])
def test_describe_close_code_ranges(code, words):
    assert words in describe_close_code(code)


@pytest.mark.parametrize("code", [3000, 3999])
def test_a_code_from_3000_to_3999_is_not_said_to_be_registered(code):
    # RFC 6455 section 7.4.2 sets the range aside for codes registered with IANA; whether
    # a given code is registered is not ours to say.
    text = describe_close_code(code)
    assert "registered" not in text and "register their codes with IANA" in text and "7.4.2" in text


@pytest.mark.parametrize("first, words", [
    (0xC1, "RSV1"),  # RSV1 without an extension
    (0xA1, "RSV2"),
    (0x91, "RSV3"),
    (0x83, "opcode 0x3 is reserved for further non-control"),
    (0x8B, "opcode 0xb is reserved for further control"),
    (0x09, "control frames must not be fragmented"),
])
def test_header_violations_are_refused_with_offsets(first, words):
    good = encode_frame(Opcode.TEXT, b"ok")
    err = feed_error(good + bytes([first, 0x00]))
    assert words in str(err)
    assert err.offset == len(good)  # the byte holding the bad field
    assert len(err.frames) == 1 and err.frames[0].payload == b"ok"  # nothing lost


def test_control_frame_over_125_bytes():
    err = feed_error(bytes([0x89, 126, 0, 126]) + b"x" * 126)
    assert "at most 125" in str(err) and err.offset == 1


def test_non_minimal_lengths():
    err = feed_error(bytes([0x82, 126, 0, 5]) + b"x" * 5)
    assert "minimal encoding" in str(err) and err.offset == 2
    err = feed_error(bytes([0x82, 127]) + (300).to_bytes(8, "big") + b"x" * 300)
    assert "minimal encoding" in str(err)


def test_64_bit_length_top_bit():
    err = feed_error(bytes([0x82, 127]) + (1 << 63).to_bytes(8, "big"))
    assert "most significant bit" in str(err)


def test_max_payload():
    err = feed_error(encode_frame(Opcode.BINARY, b"x" * 101), max_payload=100)
    assert "exceeds the limit of 100" in str(err) and err.code == 1009


def test_masking_direction():
    assert "must mask" in str(feed_error(encode_frame(1, b"hi"), expect_masked=True))
    assert "must not mask" in str(feed_error(encode_frame(1, b"hi", mask_key=KEY), expect_masked=False))
    assert FrameDecoder(expect_masked=True).feed(encode_frame(1, b"hi", mask_key=KEY))[0].payload == b"hi"


def test_rsv1_allowed_with_extension_but_never_on_control_frames():
    assert FrameDecoder(allow_rsv1=True).feed(encode_frame(1, b"x", rsv1=True))[0].rsv1
    err = feed_error(encode_frame(Opcode.PING, b"x", rsv1=True), allow_rsv1=True)
    assert "control frames are never compressed" in str(err)


def test_decoder_stops_after_error():
    dec = FrameDecoder()
    with pytest.raises(FrameError):
        dec.feed(b"\x83\x00")
    with pytest.raises(FrameError, match="earlier error"):
        dec.feed(encode_frame(1, b"fine"))


def test_eof_inside_frame():
    dec = FrameDecoder()
    raw = encode_frame(Opcode.BINARY, b"x" * 300)
    assert dec.feed(raw[:100]) == []
    assert dec.buffered == 100
    with pytest.raises(FrameError, match="got 96 of its 300 payload bytes"):
        dec.eof()
    dec = FrameDecoder()
    dec.feed(raw[:3])
    with pytest.raises(FrameError, match="inside a frame header"):
        dec.eof()


def test_offsets_count_from_given_start():
    raw = encode_frame(1, b"a") + encode_frame(2, b"bc", mask_key=KEY)
    frames = FrameDecoder(offset=1000).feed(raw)
    assert [f.offset for f in frames] == [1000, 1003]


def test_fields_of_masked_frame():
    frame = FrameDecoder().feed(bytes.fromhex("818537fa213d7f9f4d5158"))[0]
    fields = {f.name: f for f in frame.fields}
    assert [f.name for f in frame.fields] == ["FIN", "RSV1", "RSV2", "RSV3", "opcode", "MASK",
                                             "payload length", "masking key", "payload"]
    assert (fields["opcode"].start_bit, fields["opcode"].bit_len, fields["opcode"].value) == (4, 4, Opcode.TEXT)
    assert (fields["MASK"].start_bit, fields["MASK"].value) == (8, True)
    assert (fields["payload length"].start_bit, fields["payload length"].bit_len) == (9, 7)
    mk = fields["masking key"]
    assert (mk.start_bit, mk.bit_len, mk.value, mk.start_byte, mk.end_byte) == (16, 32, bytes.fromhex("37fa213d"), 2, 6)
    pl = fields["payload"]
    assert (pl.start_byte, pl.bit_len, pl.value) == (6, 40, b"Hello")


def test_describe_is_a_bit_by_bit_breakdown():
    frame = FrameDecoder().feed(bytes.fromhex("818537fa213d7f9f4d5158"))[0]
    text = frame.describe()
    assert "10000001 10000101" in text
    for name in ("FIN", "RSV1", "opcode", "MASK", "payload length", "masking key", "payload"):
        assert name in text
    assert "'Hello'" in text and "37fa213d" in text


def test_str_of_other_frames():
    dec = FrameDecoder()
    (close,) = dec.feed(encode_frame(Opcode.CLOSE, b"\x03\xe8bye"))
    assert str(close) == "CLOSE 1000 'bye' [5 bytes]"
    (ping,) = dec.feed(encode_frame(Opcode.PING, b""))
    assert str(ping) == "PING [0 bytes]"
    (binary,) = dec.feed(encode_frame(Opcode.BINARY, bytes([0, 1, 255])))
    assert str(binary) == "BINARY 00 01 ff [3 bytes]"
    (part,) = dec.feed(encode_frame(Opcode.TEXT, b"He", fin=False))
    assert str(part) == "TEXT 'He' [2 bytes, not final]"


def test_unmask_is_its_own_inverse_and_matches_bytewise_xor():
    data = bytes(range(256)) * 3 + b"xyz"
    expected = bytes(b ^ KEY[i % 4] for i, b in enumerate(data))
    assert unmask(data, KEY) == expected
    assert unmask(expected, KEY) == data
    assert unmask(b"", KEY) == b""


def test_encode_frame_argument_errors_are_protocol_errors():
    with pytest.raises(ProtocolError):
        encode_frame(1, b"x", mask_key=b"abc")
    with pytest.raises(ProtocolError):
        encode_frame(16, b"x")
