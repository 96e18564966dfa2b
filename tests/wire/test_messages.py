"""MessageAssembler: fragments, control frames in between, UTF-8, close payloads, deflate."""

import zlib

import pytest

from wsdemo.wire import Close, ErrorKind, Frame, MessageAssembler, MessageError, Opcode, compress_message


def frame(op, payload=b"", **kw) -> Frame:
    return Frame.build(op, payload, **kw)


def test_control_frames_between_fragments():
    asm = MessageAssembler()
    assert asm.add(frame(Opcode.TEXT, "Hel", fin=False)) is None
    ping = asm.add(frame(Opcode.PING, b"are you there"))
    assert ping.kind == "ping" and ping.data == b"are you there"
    assert asm.in_progress
    assert asm.add(frame(Opcode.CONTINUATION, "l", fin=False)) is None
    pong = asm.add(frame(Opcode.PONG, b""))
    assert pong.kind == "pong"
    msg = asm.add(frame(Opcode.CONTINUATION, "o"))
    assert msg.text == "Hello" and len(msg.frames) == 3 and not asm.in_progress


def test_binary_message_fragments():
    asm = MessageAssembler()
    asm.add(frame(Opcode.BINARY, b"\x00\x01", fin=False, mask_key=b"abcd"))
    msg = asm.add(frame(Opcode.CONTINUATION, b"\x02", mask_key=b"abcd"))
    assert msg.kind == "binary" and msg.data == b"\x00\x01\x02" and msg.text is None
    assert msg.wire_size == (2 + 4 + 2) + (2 + 4 + 1)


def test_fragment_order_errors():
    asm = MessageAssembler()
    with pytest.raises(MessageError, match="continuation frame with no fragmented message"):
        asm.add(frame(Opcode.CONTINUATION, b"x"))
    asm.add(frame(Opcode.TEXT, "a", fin=False))
    with pytest.raises(MessageError, match="new BINARY frame while a fragmented message"):
        asm.add(frame(Opcode.BINARY, b"x"))
    # the broken message was dropped: the assembler carries on
    assert asm.add(frame(Opcode.TEXT, "next")).text == "next"


def test_utf8_split_across_fragments_is_fine():
    snowman = "☃".encode()  # 3 bytes
    asm = MessageAssembler()
    asm.add(frame(Opcode.TEXT, b"a" + snowman[:1], fin=False))
    asm.add(frame(Opcode.CONTINUATION, snowman[1:2], fin=False))
    assert asm.add(frame(Opcode.CONTINUATION, snowman[2:] + b"b")).text == "a☃b"


def test_invalid_utf8_reports_byte_offset():
    asm = MessageAssembler()
    with pytest.raises(MessageError) as info:
        asm.add(frame(Opcode.TEXT, b"Hello\xff"))
    assert info.value.offset == 5 and "byte 5" in str(info.value) and info.value.code == 1007
    asm.add(frame(Opcode.TEXT, b"abc", fin=False))
    with pytest.raises(MessageError) as info:
        asm.add(frame(Opcode.CONTINUATION, b"de\xc0\xaf"))
    assert info.value.offset == 5 and info.value.frame_offset == 2


def test_invalid_utf8_after_carried_partial_character():
    asm = MessageAssembler()
    asm.add(frame(Opcode.TEXT, b"ab\xe2", fin=False))  # first byte of a 3-byte character
    with pytest.raises(MessageError) as info:
        asm.add(frame(Opcode.CONTINUATION, b"\x41"))  # not a continuation byte
    assert info.value.offset == 2 and info.value.frame_offset == 0


def test_text_ending_mid_character():
    asm = MessageAssembler()
    asm.add(frame(Opcode.TEXT, b"ab\xe2\x98", fin=False))
    with pytest.raises(MessageError, match="not valid UTF-8 at byte 2"):
        asm.add(frame(Opcode.CONTINUATION, b""))


@pytest.mark.parametrize("payload, code, reason", [
    (b"", None, ""), (b"\x03\xe8", 1000, ""), (b"\x03\xe9going", 1001, "going"),
    (b"\x0b\xb8", 3000, ""), (b"\x0f\xa0caf\xc3\xa9", 4000, "café"),
])
def test_close_payloads(payload, code, reason):
    msg = MessageAssembler().add(frame(Opcode.CLOSE, payload))
    assert (msg.kind, msg.close_code, msg.close_reason) == ("close", code, reason)
    assert msg.close == Close.parse(payload) == Close(1005 if code is None else code, reason)


@pytest.mark.parametrize("code, words", [
    (1004, "has no meaning defined"), (1005, "carried no code at all"),
    (1006, "dropped without a close frame"), (1015, "TLS handshake failed"),
    (0, "0–999, which is not used"), (999, "0–999, which is not used"),
    (1016, "1016–2999, reserved for future revisions"), (2999, "1016–2999, reserved for future revisions"),
    (5000, "above 4999"), (65535, "above 4999"),
])
def test_close_codes_refused_on_the_wire(code, words):
    with pytest.raises(MessageError) as info:
        MessageAssembler().add(frame(Opcode.CLOSE, code.to_bytes(2, "big") + b"why"))
    assert info.value.message.startswith(f"close code {code} ") and words in info.value.message
    assert "RFC 6455 section 7.4" in info.value.message and info.value.frame_offset == 0
    assert info.value.kind is ErrorKind.CLOSE_CODE_INVALID and info.value.frame is not None


@pytest.mark.parametrize("code", [1000, 1003, 1007, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999])
def test_close_codes_allowed_on_the_wire(code):
    msg = MessageAssembler().add(frame(Opcode.CLOSE, code.to_bytes(2, "big") + b"ok"))
    assert (msg.close_code, msg.close_reason) == (code, "ok")


def test_close_payload_of_one_byte_and_bad_reason():
    with pytest.raises(MessageError, match="1 byte") as info:
        MessageAssembler().add(frame(Opcode.CLOSE, b"\x03"))
    assert info.value.kind is ErrorKind.CLOSE_TOO_SHORT
    with pytest.raises(MessageError) as info:
        MessageAssembler().add(frame(Opcode.CLOSE, b"\x03\xe8ok\xff"))
    assert info.value.offset == 4 and info.value.kind is ErrorKind.CLOSE_REASON_INVALID and info.value.code == 1007


def test_message_size_limit():
    asm = MessageAssembler(max_size=10)
    asm.add(frame(Opcode.BINARY, b"x" * 6, fin=False))
    with pytest.raises(MessageError, match="limit of 10") as info:
        asm.add(frame(Opcode.CONTINUATION, b"x" * 6))
    assert info.value.code == 1009


# -- permessage-deflate ---------------------------------------------------------------------

def compressed_frames(messages, *, context_takeover=True, window_bits=15):
    c = zlib.compressobj(wbits=-window_bits)
    out = []
    for m in messages:
        if not context_takeover:
            c = zlib.compressobj(wbits=-window_bits)
        out.append(frame(Opcode.TEXT, compress_message(m.encode(), c), rsv1=True))
    return out


def test_inflate_with_context_takeover_records_sizes():
    msgs = ["hello hello hello hello"] * 3
    asm = MessageAssembler(deflate=True)
    got = [asm.add(f) for f in compressed_frames(msgs)]
    assert [m.text for m in got] == msgs
    assert all(m.compressed for m in got)
    # the 2nd and 3rd messages reuse the context: they are tiny on the wire
    assert got[1].wire_payload_size < got[0].wire_payload_size < got[0].size
    assert got[1].wire_size == len(got[1].frames[0].raw)


def test_no_context_takeover_needs_a_fresh_inflater():
    msgs = ["abcabcabcabc", "abcabcabcabc"]
    frames = compressed_frames(msgs, context_takeover=False)
    asm = MessageAssembler(deflate=True, no_context_takeover=True)
    assert [asm.add(f).text for f in frames] == msgs
    # context-takeover frames decoded with no_context_takeover fail: they refer to the old window
    frames = compressed_frames(msgs)
    asm = MessageAssembler(deflate=True, no_context_takeover=True)
    assert asm.add(frames[0]).text == msgs[0]
    with pytest.raises(MessageError, match="does not inflate"):
        asm.add(frames[1])


@pytest.mark.parametrize("bits", [9, 10, 12, 15])
def test_window_bits(bits):
    text = "".join(f"line {i} of a long and repetitive text\n" for i in range(300))
    frames = compressed_frames([text, text], window_bits=bits)
    asm = MessageAssembler(deflate=True, window_bits=bits)
    assert [asm.add(f).text for f in frames] == [text, text]


def test_fragmented_compressed_message_and_rsv1_only_on_first_frame():
    data = compress_message(b"x" * 1000)
    asm = MessageAssembler(deflate=True)
    assert asm.add(frame(Opcode.BINARY, data[:3], fin=False, rsv1=True)) is None
    msg = asm.add(frame(Opcode.CONTINUATION, data[3:]))
    assert msg.data == b"x" * 1000 and msg.compressed and msg.wire_payload_size == len(data)
    asm.add(frame(Opcode.BINARY, data[:3], fin=False, rsv1=True))
    with pytest.raises(MessageError, match="continuation frame"):
        asm.add(frame(Opcode.CONTINUATION, data[3:], rsv1=True))


def test_decompression_bomb_stops_at_the_limit():
    bomb = compress_message(b"\0" * (10 << 20))  # 10 MiB of zeros, ~10 KiB compressed
    assert len(bomb) < 20000
    asm = MessageAssembler(deflate=True, max_size=1 << 20)
    with pytest.raises(MessageError, match="exceeds the limit") as info:
        asm.add(frame(Opcode.BINARY, bomb, rsv1=True))
    assert info.value.code == 1009


def test_rsv1_without_deflate_and_garbage_compressed_data():
    with pytest.raises(MessageError, match="not negotiated"):
        MessageAssembler().add(frame(Opcode.TEXT, b"x", rsv1=True))
    with pytest.raises(MessageError, match="does not inflate"):
        MessageAssembler(deflate=True).add(frame(Opcode.BINARY, b"\xff\xff\xff\xff", rsv1=True))
