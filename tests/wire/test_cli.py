"""`python -m wsdemo decode HEX` prints a frame's breakdown (run as a real subprocess), and
decode_hex reads what learners paste."""

import subprocess
import sys

import pytest
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode as WsOpcode

from wsdemo.wire import compress_message, compute_accept, encode_frame
from wsdemo.wire.dump import decode_hex


def run(*args):
    return subprocess.run([sys.executable, "-m", "wsdemo", "decode", *args], capture_output=True, text=True,
                          timeout=60)


def test_decode_masked_hello():
    proc = run("818537fa213d7f9f4d5158")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "TEXT 'Hello' [5 bytes, masked 37fa213d]" in out
    assert "10000001 10000101" in out
    for line in ("FIN", "opcode", "MASK", "payload length", "masking key", "payload"):
        assert line in out
    assert "7f 9f 4d 51 58" in out and "unmasked: 'Hello'" in out
    # the unmasking, byte by byte (section 5.3)
    assert "7f^37=48  9f^fa=65  4d^21=6c  51^3d=6c  58^37=6f" in out


def test_decode_several_frames_with_spaces_and_colons():
    proc = run("01:03:48:65:6c", "80 02 6c 6f")
    assert proc.returncode == 0
    assert "frame 2 at byte 5" in proc.stdout and "message: text 'Hello'" in proc.stdout


@pytest.mark.parametrize("text", ["0x81 0x02 0x48 0x69", "\\x81\\x02\\x48\\x69", "b'\\x81\\x02Hi'",
                                  '\\x81\\x02Hi', "81-02-48-69", "0x81024869"])
def test_what_learners_paste(text):
    out, ok = decode_hex(text)
    assert ok and "TEXT 'Hi' [2 bytes]" in out, out


def test_decode_errors_exit_1_and_say_what_and_where():
    proc = run("81zz")
    assert proc.returncode == 1 and "'z' at position 2 is not a hex digit" in proc.stdout
    proc = run("8105486")
    assert proc.returncode == 1 and "odd number of hex digits (7)" in proc.stdout
    # a cut frame: what its first bytes already say, then how much is missing
    proc = run("827e0100")
    assert proc.returncode == 1
    assert "opcode=0x2 (BINARY)" in proc.stdout and "payload of 256 bytes announced, 0 present, 256 missing" \
        in proc.stdout and "error at byte 0: the bytes end inside this frame" in proc.stdout
    out, ok = decode_hex("81")
    assert not ok and "a frame header needs at least 2 bytes" in out
    out, ok = decode_hex("81 7f 00 00")
    assert not ok and "6 more needed for the extended length" in out
    # a refused frame is still shown, then the rule it breaks
    proc = run("8300")
    assert proc.returncode == 1
    assert "frame 1 at byte 0 (refused):" in proc.stdout and "0x3 = reserved" in proc.stdout
    assert "error at byte 0: opcode 0x3 is reserved for further non-control frames" in proc.stdout
    # good frames before a bad one are kept
    out, ok = decode_hex("810548656c6c6f 8300")
    assert not ok and "TEXT 'Hello'" in out and "frame 2 at byte 7 (refused)" in out


def test_close_frames_read_in_words():
    out, ok = decode_hex("8885616263646 28a011d04".replace(" ", ""))
    assert ok and "unmasked: code 1000 Normal Closure, reason 'bye'" in out
    out, ok = decode_hex("8801 03")
    assert not ok and "1 byte, too short for a close code" in out
    assert "error in frame 1, byte 2: close payload is 1 byte" in out
    out, ok = decode_hex("8802 03ed")
    assert not ok and "close code 1005 (No Status Received) may not be sent in a close frame" in out
    out, ok = decode_hex("8803 03e8 ff")
    assert not ok and "close reason is not valid UTF-8 at byte 2" in out and "byte 4:" in out


def test_binary_payloads_are_not_shown_as_text():
    out, ok = decode_hex("8204 00 01 02 03")
    assert ok and "binary data" in out and "\\x00" not in out and "bytes 2-5" in out
    out, ok = decode_hex("8101 41")
    assert ok and "byte 2 " in out and "bytes 2-2" not in out


def test_decode_hex_deflate():
    raw = encode_frame(1, compress_message(b"squeeze squeeze squeeze"), rsv1=True)
    text, ok = decode_hex(raw.hex(), deflate=True)
    assert ok and "'squeeze squeeze squeeze'" in text and "compressed" in text
    text, ok = decode_hex(raw.hex())
    assert not ok and "RSV1" in text and "add --deflate" in text and "(refused)" in text


def test_deflate_frames_from_the_websockets_library_with_context_takeover():
    ext = PerMessageDeflate(False, False, 15, 15)
    frames = [WsFrame(WsOpcode.TEXT, m.encode()).serialize(mask=False, extensions=[ext])
              for m in ("Hello Hello Hello Hello", "Hello Hello Hello Hello again")]
    proc = run("--deflate", frames[0].hex(), frames[1].hex())
    assert proc.returncode == 0, proc.stdout
    assert "message: text 'Hello Hello Hello Hello again'" in proc.stdout
    # the second alone refers back to the first: the error says so
    proc = run("--deflate", frames[1].hex())
    assert proc.returncode == 1 and "give the frames before it too" in proc.stdout


def test_a_captured_conversation_with_its_http_head():
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    head = (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {compute_accept(key)}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
            ).encode()
    data = head + encode_frame(1, compress_message(b"hello hello hello"), rsv1=True)
    out, ok = decode_hex(data.hex())
    assert ok, out
    assert f"HTTP head, bytes 0-{len(head) - 1}" in out and "negotiated permessage-deflate" in out
    assert f"frame 1 at byte {len(head)} (positions below count from the frame's first byte)" in out
    assert "message: text 'hello hello hello'" in out
    out, ok = decode_hex(b"GET / HTTP/1.1\r\nHost: x".hex())
    assert not ok and "HTTP head" in out and "does not end" in out


def test_output_into_a_closed_pipe_is_quiet():
    proc = subprocess.run(f"{sys.executable} -m wsdemo decode {'8100' * 5000} | head -1", shell=True,
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout.startswith("frame 1 at byte 0") and "Traceback" not in proc.stderr


# -- input from stdin and files; hostile and garbage input (issue 11, item 15) -------------------

from wsdemo.wire import BytesTextError, parse_bytes_text  # noqa: E402


def run_in(*args, stdin: bytes = b""):
    return subprocess.run([sys.executable, "-m", "wsdemo", "decode", *args], input=stdin,
                          capture_output=True, timeout=120)


def test_decode_reads_hex_and_bytes_literals_from_stdin():
    proc = run_in("-", stdin=b"81 05\n48 65 6c 6c 6f\n")
    assert proc.returncode == 0, proc.stderr
    assert b"TEXT 'Hello' [5 bytes]" in proc.stdout
    proc = run_in("-", stdin=b"b'\\x81\\x02Hi'\n")
    assert proc.returncode == 0 and b"TEXT 'Hi' [2 bytes]" in proc.stdout


def _capture(path, size=10 * 1024 * 1024):
    """A server's side of a conversation, as raw bytes: text frames and a few big binary ones."""
    parts, n, i = [], 0, 0
    while n < size:
        frame = encode_frame(2, bytes([i % 256]) * 200_000) if i % 50 == 0 else \
            encode_frame(1, f"message {i} ".encode() + b"x" * (i % 3000))
        parts.append(frame)
        n, i = n + len(frame), i + 1
    parts.append(encode_frame(1, b"the end"))
    path.write_bytes(b"".join(parts))
    return i + 1


def test_decode_a_10_mb_capture_from_a_file_raw_or_as_hex(tmp_path):
    cap = tmp_path / "capture.bin"
    count = _capture(cap)
    assert cap.stat().st_size >= 10 * 1024 * 1024
    raw = run_in("--file", str(cap))
    assert raw.returncode == 0, raw.stderr[-500:]
    assert f"frame {count} at byte".encode() in raw.stdout and b"TEXT 'the end'" in raw.stdout
    assert raw.stderr == b""
    # the same bytes as raw stdin, and as a hex text file: the same breakdown
    assert run_in("--file", "-", stdin=cap.read_bytes()).stdout == raw.stdout
    hexfile = tmp_path / "capture.hex"
    hexfile.write_text(cap.read_bytes().hex(" "))
    as_hex = run_in("--hex-file", str(hexfile))
    assert as_hex.returncode == 0 and as_hex.stdout == raw.stdout


def test_a_crafted_bytes_literal_is_parsed_not_evaluated():
    # ast.literal_eval on this ran out of memory (a MemoryError traceback); it is plain text with
    # one escape, read as bytes: 0x81, then a frame that the decoder refuses.
    crafted = "\\x81'+" + "-" * 100_000 + "1+'"
    proc = run_in(crafted)
    assert b"Traceback" not in proc.stderr and b"MemoryError" not in proc.stderr, proc.stderr[-300:]
    assert proc.returncode == 1 and b"frame 1 at byte 0" in proc.stdout
    assert b"error at byte" in proc.stdout
    proc = run_in("-", stdin=crafted.encode())
    assert proc.returncode == 1 and b"Traceback" not in proc.stderr
    # inside b'...', the unescaped quote ends the literal: said so, nothing evaluated
    proc = run_in("b'" + crafted + "'")
    assert proc.returncode == 1 and b"an unescaped ' at position 6 ends it early" in proc.stdout


@pytest.mark.parametrize("args, stdin, code, said", [
    (["hello world"], b"", 1, b"not hex: 'h' at position 0"),
    (["-"], b"", 1, b"error: no bytes given"),
    (["-"], b"\x82\xff\x00garbage", 2, b"stdin is not text (byte 0 is 0x82)"),
    (["--hex-file", "-"], "81 05 é".encode(), 1, b"not hex"),
    (["--file", "/nonexistent/capture.bin"], b"", 2, b"cannot read /nonexistent/capture.bin"),
    (["--file", "/"], b"", 2, b"cannot read /: Is a directory"),
    ([], b"", 2, b"give the bytes one way"),
    (["81", "--file", "x"], b"", 2, b"(got HEX and --file)"),
    (["\\q81"], b"", 1, b"unknown escape \\q at position 0"),
    (["b'\\x8'"], b"", 1, b"\\x at position 2 must be followed by two hex digits"),
    (["b'\\777'"], b"", 1, b"octal escape \\777 at position 2 is over \\377"),
    (["\\x81\\"], b"", 1, b"a lone backslash at position 4"),
])
def test_bad_input_is_a_clear_error_and_a_nonzero_exit_never_a_traceback(args, stdin, code, said):
    proc = run_in(*args, stdin=stdin)
    assert proc.returncode == code, (proc.returncode, proc.stdout[-300:], proc.stderr[-300:])
    assert said in proc.stdout + proc.stderr
    assert b"Traceback" not in proc.stderr


def test_random_bytes_from_a_file_decode_to_an_error_not_a_traceback(tmp_path):
    import random
    rnd = random.Random(11)
    for i in range(5):
        path = tmp_path / f"garbage{i}.bin"
        path.write_bytes(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 5000))))
        proc = run_in("--file", str(path))
        assert proc.returncode in (0, 1) and b"Traceback" not in proc.stderr, proc.stderr[-300:]
        assert proc.stdout.strip()


@pytest.mark.parametrize("typed, expected", [
    ("b'\\x81\\x05Hello'", b"\x81\x05Hello"),
    ('b"it\'s"', b"it's"),
    ("b'\\n\\r\\t\\\\\\'\\\"\\0\\07\\377'", b"\n\r\t\\'\"\x00\x07\xff"),
    ("\\x81\\x02Hi", b"\x81\x02Hi"),
    ("\\x81 \\x02", b"\x81\x02"),  # only \xHH bytes: hex with prefixes, spaces separate
    ("0x81, 0x02", b"\x81\x02"),
    ("81:02", b"\x81\x02"),
    ("", b""),
])
def test_parse_bytes_text(typed, expected):
    assert parse_bytes_text(typed) == expected


def test_parse_bytes_text_errors_are_wire_errors_with_a_position():
    with pytest.raises(BytesTextError) as err:
        parse_bytes_text("b'ok\\u00e9'")
    assert err.value.offset == 4 and "unknown escape \\u" in str(err.value)
    with pytest.raises(BytesTextError) as err:
        parse_bytes_text("\\x81é")
    assert err.value.offset == 4 and "not ASCII" in str(err.value)


def test_hints_follow_the_error_kind():
    # HTTP text where a frame should start: 'G' (0x47) reads as the reserved opcode 7
    out, ok = decode_hex((encode_frame(1, b"hi") + b"GET / HTTP/1.1\r\n\r\n").hex())
    assert not ok and "opcode 0x7 is reserved" in out and "hint: these bytes are HTTP text, not a frame" in out
    # RSV1 on a control frame is not a deflate problem when deflate was given
    out, ok = decode_hex(encode_frame(9, b"", rsv1=True).hex(), deflate=True)
    assert not ok and "control frames are never compressed" in out and "hint" not in out
    # a request that offers permessage-deflate does not switch inflating on: only a response can
    head = b"GET / HTTP/1.1\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
    out, ok = decode_hex((head + encode_frame(1, b"hi", mask_key=b"abcd")).hex())
    assert ok and "negotiated permessage-deflate" not in out
