"""One home each in wire: opcode names, previews and "is it text?"."""

import pytest

from wsdemo.wire import ErrorKind, Frame, FrameError, Opcode, looks_text, opcode_name, preview


def test_every_opcode_has_a_name():
    names = [opcode_name(n) for n in range(16)]
    assert names[:3] == ["CONTINUATION", "TEXT", "BINARY"] and names[8:11] == ["CLOSE", "PING", "PONG"]
    assert names[3] == "reserved 0x3" and names[0xB] == "reserved 0xb"
    assert opcode_name(Opcode.CONTINUATION, short=True) == "CONT" and opcode_name(Opcode.TEXT, short=True) == "TEXT"
    with pytest.raises(FrameError) as info:
        opcode_name(16)
    assert info.value.kind is ErrorKind.BAD_ARGUMENT


def test_frames_print_reserved_opcodes_by_the_same_name():
    frame = Frame.build(0xB, b"")
    assert str(frame).startswith("reserved 0xb ")
    assert any(f.text == "0xb = reserved 0xb" for f in frame.fields)


@pytest.mark.parametrize("data, text, limit, shown", [
    (b"", None, 72, ""), (b"\x00\x01", None, 72, "00 01"), (bytes(20), None, 72, "00 " * 15 + "00 …"),
    (bytes(20), None, 12, "00 00 00 00 …"), (b"", "hi\n", 72, "'hi\\n'"), (b"", "abcdef", 3, "'abc'…"),
    (b"caf\xc3\xa9", True, 72, "'café'"), (b"ok\xff", True, 72, "'ok\ufffd'"), (b"x" * 1000, True, 5, "'xxxxx'…"),
    (b"hi", False, 72, "68 69"),
])
def test_preview(data, text, limit, shown):
    assert preview(data, text, limit) == shown


@pytest.mark.parametrize("data, text", [
    (b"Hello", True), (b"tab\tand\r\nlines", True), ("café".encode(), True), (b"", True),
    (b"\x00\x01\x02", False), (b"ok\xff", False), (b"bell\x07", False),
    ("é".encode() * 199 + b"\xc3", True),  # a character cut by the 400-byte look is fine
])
def test_looks_text(data, text):
    assert looks_text(data) is text


def test_frames_and_messages_print_cuts_as_the_course_shows_them():
    # the saved outputs of the notebooks print str(frame) and str(message) with "…" inside the quotes
    assert str(Frame.build(Opcode.TEXT, "x" * 41)) == "TEXT '" + "x" * 40 + "…' [41 bytes]"
    assert str(Frame.build(Opcode.BINARY, bytes(20))) == "BINARY " + "00 " * 15 + "00 … [20 bytes]"
    assert preview(b"", "abcdef", 3, ellipsis_inside=True) == "'abc…'"
