"""`python -m wsdemo decode HEX` prints a frame's breakdown (run as a real subprocess)."""

import subprocess
import sys

from wsdemo.wire import compress_message, encode_frame
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


def test_decode_several_frames_with_spaces_and_colons():
    proc = run("01:03:48:65:6c", "80 02 6c 6f")
    assert proc.returncode == 0
    assert "frame 2 at byte 5" in proc.stdout and "message: text 'Hello'" in proc.stdout


def test_decode_errors_exit_1():
    proc = run("81zz")
    assert proc.returncode == 1 and "not a hex digit" in proc.stdout
    proc = run("827e0100")
    assert proc.returncode == 1 and "got 0 of its 256 payload bytes" in proc.stdout
    proc = run("8300")
    assert proc.returncode == 1 and "reserved" in proc.stdout


def test_decode_hex_deflate():
    raw = encode_frame(1, compress_message(b"squeeze squeeze squeeze"), rsv1=True)
    text, ok = decode_hex(raw.hex(), deflate=True)
    assert ok and "'squeeze squeeze squeeze'" in text and "compressed" in text
    text, ok = decode_hex(raw.hex())
    assert not ok and "RSV1" in text
