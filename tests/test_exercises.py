"""Every exercise check: the right answer passes, each typical wrong answer gets its own
specific hint, and nothing a learner types makes a check raise."""

from __future__ import annotations

import base64
import hashlib

import pytest

from wsdemo import exercises, wire

KEY = "x3JJHMbDL1EzLkh9GBhXDw=="  # the key of RFC 6455's own client example (section 4.1)
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def run(capsys, check, *args, **kwargs):
    ok = check(*args, **kwargs)
    out = capsys.readouterr().out
    assert isinstance(ok, bool)
    assert ("✗" in out) != ok and ("✓" in out or not ok), out
    return ok, out


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ------------------------------------------------------------------ accept

def test_accept_right_for_the_rfc_example_and_another_key(capsys):
    ok, out = run(capsys, exercises.check_accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    assert ok and "✓" in out
    right = b64(hashlib.sha1((KEY + GUID).encode()).digest())
    assert run(capsys, exercises.check_accept, right, KEY)[0]


@pytest.mark.parametrize("make_answer, hint", [
    (lambda k: None, "No answer yet"),
    (lambda k: b64(hashlib.sha1(k.encode()).digest()), "forgot the GUID"),
    (lambda k: hashlib.sha1((k + GUID).encode()).hexdigest(), "hex digest"),
    (lambda k: b64(hashlib.sha1((k + GUID).encode()).hexdigest().encode()), ".digest(), not .hexdigest()"),
    (lambda k: b64(hashlib.sha1((GUID + k).encode()).digest()), "wrong way round"),
    (lambda k: b64(hashlib.sha1((k + GUID.lower()).encode()).digest()), "lower case"),
    (lambda k: b64(hashlib.sha1(base64.b64decode(k) + GUID.encode()).digest()), "Do not base64-decode"),
    (lambda k: b64(hashlib.sha256((k + GUID).encode()).digest()), "SHA256"),
    (lambda k: k + GUID, "the text to hash"),
    (lambda k: k, "the client's key itself"),
    (lambda k: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "the RFC's sample key"),
    (lambda k: " " + b64(hashlib.sha1((k + GUID).encode()).digest()) + "\n", "spaces or a newline"),
    (lambda k: b64(hashlib.sha1((k + GUID).encode()).digest()).encode(), "as bytes"),
    (lambda k: "Sec-WebSocket-Accept: " + b64(hashlib.sha1((k + GUID).encode()).digest()), "only the value"),
    (lambda k: 42, "not int"),
    (lambda k: "abc", "28 base64 characters"),
    (lambda k: "A" * 27 + "=", "Check the GUID"),
])
def test_accept_wrong_answers_get_their_specific_hint(capsys, make_answer, hint):
    ok, out = run(capsys, exercises.check_accept, make_answer(KEY), KEY)
    assert not ok
    assert hint in out, out


# ------------------------------------------------------------------ upgrade request

GOOD_REQUEST = (b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: " + KEY.encode() +
                b"\r\nSec-WebSocket-Version: 13\r\n\r\n")


def test_upgrade_request_right(capsys):
    ok, out = run(capsys, exercises.check_upgrade_request, GOOD_REQUEST)
    assert ok and "101" in out
    assert run(capsys, exercises.check_upgrade_request, GOOD_REQUEST, host="127.0.0.1")[0]


@pytest.mark.parametrize("raw, hint", [
    (None, "No request yet"),
    (GOOD_REQUEST.decode(), "bytes, not text"),
    (GOOD_REQUEST.replace(b"\r\n", b"\n"), "not just \\n"),
    (GOOD_REQUEST[:-2], "empty line"),
    (12, "not int"),
    (b"\x00\x01garbage\r\n\r\n", "cannot even parse"),
])
def test_upgrade_request_malformed_gets_a_hint(capsys, raw, hint):
    ok, out = run(capsys, exercises.check_upgrade_request, raw)
    assert not ok and hint in out, out


@pytest.mark.parametrize("change, word", [
    ((b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8"), "13"),
    ((b"Upgrade: websocket\r\n", b""), "Upgrade"),
    ((b"Sec-WebSocket-Key: " + KEY.encode() + b"\r\n", b""), "Key"),
    ((b"GET /echo", b"POST /echo"), "GET"),
])
def test_upgrade_request_names_the_broken_rule(capsys, change, word):
    ok, out = run(capsys, exercises.check_upgrade_request, GOOD_REQUEST.replace(*change))
    assert not ok and "400" in out
    assert word.lower() in out.lower(), out


def test_upgrade_request_wrong_host(capsys):
    ok, out = run(capsys, exercises.check_upgrade_request, GOOD_REQUEST, host="127.0.0.1:8888")
    assert not ok and "Host" in out


# ------------------------------------------------------------------ frame fields

MASKED_HELLO = "818537fa213d7f9f4d5158"  # RFC 6455 section 5.7
RIGHT = {"fin": 1, "opcode": 1, "masked": 1, "payload_length": 5, "mask_key": "37 fa 21 3d", "text": "Hello"}


def test_frame_fields_right_in_several_spellings(capsys):
    assert run(capsys, exercises.check_frame_fields, RIGHT, MASKED_HELLO)[0]
    other = dict(RIGHT, fin=True, opcode="text", masked=True, mask_key=bytes.fromhex("37fa213d"))
    assert run(capsys, exercises.check_frame_fields, other, MASKED_HELLO)[0]
    unmasked = {"fin": 1, "opcode": 1, "masked": 0, "payload_length": 5, "mask_key": None, "text": "Hello"}
    assert run(capsys, exercises.check_frame_fields, unmasked, "810548656c6c6f")[0]


@pytest.mark.parametrize("wrong, hint", [
    ({"opcode": 0x81}, "whole first byte"),
    ({"opcode": 2}, "low 4 bits"),
    ({"fin": 0}, "most significant bit of byte 0"),
    ({"masked": 0}, "byte 1"),
    ({"payload_length": 0x85}, "kept the MASK bit"),
    ({"payload_length": 11}, "whole frame"),
    ({"mask_key": "37 fa 21"}, "exactly 4 bytes"),
    ({"mask_key": "85 37 fa 21"}, "right after the length"),
    ({"text": bytes.fromhex("7f9f4d5158").decode("latin-1")}, "masked payload"),
    ({"text": b"Hello"}, "as a str"),
    ({"text": "Hallo"}, "XOR-ed"),
])
def test_frame_fields_each_wrong_field_gets_its_hint(capsys, wrong, hint):
    ok, out = run(capsys, exercises.check_frame_fields, dict(RIGHT, **wrong), MASKED_HELLO)
    assert not ok and hint in out, out
    (name,) = wrong
    assert f"✗ {name}" in out
    # the other fields are still confirmed, so a learner knows what is already right
    assert out.count("✓") == len(RIGHT) - 1


def test_frame_fields_placeholders(capsys):
    ok, out = run(capsys, exercises.check_frame_fields, None, MASKED_HELLO)
    assert not ok and "Fill in a dict" in out
    ok, out = run(capsys, exercises.check_frame_fields, dict.fromkeys(exercises.FIELDS), MASKED_HELLO)
    assert not ok and "Nothing filled in" in out and "10000001" in out
    ok, out = run(capsys, exercises.check_frame_fields, {"fin": 1}, MASKED_HELLO)
    assert not ok and "lacks" in out


def test_frame_fields_extended_length_signal(capsys):
    frame = wire.encode_frame(wire.Opcode.TEXT, "x" * 200, mask_key=b"abcd").hex()
    ok, out = run(capsys, exercises.check_frame_fields, dict(RIGHT, payload_length=126), frame)
    assert not ok and "a signal, not the length" in out


# ------------------------------------------------------------------ unmask

def test_unmask_right(capsys):
    def unmask(data, key):
        return bytes(b ^ key[i % 4] for i, b in enumerate(data))
    assert run(capsys, exercises.check_unmask, unmask)[0]


@pytest.mark.parametrize("func, hint", [
    (None, "No function yet"),
    (b"Hello", "the function itself"),
    (lambda d, k: bytes(b ^ k[i] for i, b in enumerate(d)), "key[i % 4]"),
    (lambda d, k: d, "unchanged"),
    (lambda d, k: "".join(chr(b ^ k[i % 4]) for i, b in enumerate(d)), "not str"),
    (lambda d, k: [b ^ k[i % 4] for i, b in enumerate(d)], "not a list"),
    (lambda d, k: bytes(b ^ k[i % 4] for i, b in enumerate(d[:4])) + d[4:], "first 4 bytes"),
    (lambda d, k: bytes(b ^ k[0] for b in d), "should give"),
    (lambda d, k: bytes(b ^ k[i % 4] for i, b in enumerate(d))[:-1], "length never changes"),
    (lambda d, k: bytes(chr(b) ^ k[0] for b in d), "TypeError"),
    (lambda d, k: 1 / 0, "ZeroDivisionError"),
    (lambda d, k: None, "not NoneType"),
])
def test_unmask_wrong_functions_get_a_hint(capsys, func, hint):
    ok, out = run(capsys, exercises.check_unmask, func)
    assert not ok and hint in out, out


# ------------------------------------------------------------------ header sizes

def test_header_sizes_right(capsys):
    assert run(capsys, exercises.check_header_sizes, {5: 6, 125: 6, 126: 8, 65535: 8, 65536: 14})[0]
    assert run(capsys, exercises.check_header_sizes, {5: 2, 126: 4, 65536: 10}, masked=False)[0]


@pytest.mark.parametrize("answer, masked, hint", [
    ({125: None, 126: None}, True, "Nothing filled in"),
    (None, True, "Fill in a dict"),
    ({126: 4}, True, "4-byte masking key"),
    ({126: 8}, False, "not masked"),
    ({126: 6}, True, "2-byte extended length, not 0"),
    ({65536: 8}, True, "8-byte extended length, not 2"),
    ({126: 8 + 126}, True, "not the payload"),
    ({126: 99}, True, "+ 2 for the extended length, + 4"),
])
def test_header_sizes_wrong(capsys, answer, masked, hint):
    ok, out = run(capsys, exercises.check_header_sizes, answer, masked=masked)
    assert not ok and hint in out, out


# ------------------------------------------------------------------ bandwidth

def test_bandwidth_matches_the_classic_table(capsys):
    # Lubbers & Greco: 1,000 clients polling once a second with 871 bytes of headers: 6.6 Mbps.
    ok, out = run(capsys, exercises.check_bandwidth, 871 * 8 * 1000 / 2**20, 1000, 871)
    assert ok and "6.645" in out
    assert run(capsys, exercises.check_bandwidth, 6.968, 1000, 871, unit="10^6")[0]


@pytest.mark.parametrize("answer, hint", [
    (None, "No answer yet"),
    ("6.6", "not str"),
    (871 * 8 * 1000 / 10**6, "other megabit"),
    (871 * 1000 / 2**20, "megabytes"),
    (871 * 8 * 1000, "divide by 2^20"),
    (1.0, "Not quite"),
])
def test_bandwidth_wrong(capsys, answer, hint):
    ok, out = run(capsys, exercises.check_bandwidth, answer, 1000, 871)
    assert not ok and hint in out, out


# ------------------------------------------------------------------ solutions

def test_every_solution_prints_and_the_code_solves_its_exercise(capsys):
    for name in exercises.SOLUTIONS:
        exercises.solution(name)
        assert capsys.readouterr().out.strip() == exercises.SOLUTIONS[name].strip()
    exercises.solution("nope")
    assert "there are" in capsys.readouterr().out

    ns = {"key": KEY}
    exec(exercises.SOLUTIONS["accept"], ns)
    assert run(capsys, exercises.check_accept, ns["answer"], KEY)[0]
    ns = {}
    exec(exercises.SOLUTIONS["upgrade_request"], ns)
    assert run(capsys, exercises.check_upgrade_request, ns["my_request"])[0]
    ns = {"FRAME_HEX": MASKED_HELLO}
    exec(exercises.SOLUTIONS["decode"], ns)
    assert run(capsys, exercises.check_frame_fields, ns["answer"], MASKED_HELLO)[0]
    ns = {}
    exec(exercises.SOLUTIONS["unmask"], ns)
    assert run(capsys, exercises.check_unmask, ns["unmask"])[0]
    ns = {}
    exec(exercises.SOLUTIONS["header_sizes"], ns)
    assert run(capsys, exercises.check_header_sizes, ns["header_sizes"])[0]
    ns = {}
    exec(exercises.SOLUTIONS["bandwidth"], ns)  # notebook 01's numbers
    assert run(capsys, exercises.check_bandwidth, ns["mbps"], 1000, 871)[0]

    class Row:  # notebook 06's measured websocket row: only its bytes per update are read
        bytes_per_update = 71.4

    ns = {"ws": Row()}
    exec(exercises.SOLUTIONS["busy_feed"], ns)
    assert run(capsys, exercises.check_bandwidth, ns["mbps"], 10_000, 71.4, 10, "10^6")[0]


# ------------------------------------------------------------------ environment (notebook 00)

async def test_environment_ready_inside_a_running_loop(capsys, need_dot):
    ok = exercises.check_environment()
    out = capsys.readouterr().out
    assert ok, out
    assert "✗" not in out and "dot (graphviz's drawing program) version " in out and "Ready" in out


def test_environment_without_a_loop_says_to_use_jupyter(capsys, need_dot):
    ok, out = run(capsys, exercises.check_environment)
    assert not ok and "no running event loop" in out and "Fix the ✗ lines" in out


async def test_environment_without_dot_says_how_to_install_it(capsys, monkeypatch):
    import shutil
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "dot" else real_which(name, *a, **k))
    ok, out = run(capsys, exercises.check_environment)
    assert not ok and "✗ dot" in out and "apt-get install graphviz" in out and "brew install graphviz" in out


# ================================================================ notebooks 04-07 (appended)

import html as _html
from types import SimpleNamespace


def _conversation(senders_and_opcodes):
    """A recorded connection-like object: FrameEvents in the given order."""
    events = []
    for i, (sender, opcode) in enumerate(senders_and_opcodes):
        key = b"\x01\x02\x03\x04" if sender == "client" else None
        payload = b"\x03\xe8" if opcode == wire.Opcode.CLOSE else b"x%d" % i
        frame = wire.FrameDecoder().feed(wire.encode_frame(opcode, payload, mask_key=key))[0]
        events.append(wire.FrameEvent(sender, float(i), frame, 0))
    return SimpleNamespace(events=events)


C, S, TXT, CLOSE = "client", "server", wire.Opcode.TEXT, wire.Opcode.CLOSE
# data senders: C S S C S C -> 4 changes; with the close handshake C S -> 5 changes
CONV = [(C, TXT), (S, TXT), (S, TXT), (C, TXT), (S, TXT), (C, TXT), (C, CLOSE), (S, CLOSE)]


def test_direction_changes_right_and_each_wrong_answer_hinted(capsys):
    conn = _conversation(CONV)
    assert run(capsys, exercises.check_direction_changes, 4, conn)[0]
    for answer, hint in [(None, "No answer yet"), (6, "number of data frames"), (5, "runs"),
                         ("4", "whole number"), (8, "all frames"), (1, "Not 1")]:
        ok, out = run(capsys, exercises.check_direction_changes, answer, conn)
        assert not ok and hint in out, (answer, out)
    ok, out = run(capsys, exercises.check_direction_changes, 4, None)
    assert not ok and "client.connection" in out


def test_direction_changes_control_frames_hint(capsys):
    conn = _conversation([(C, TXT), (C, TXT), (S, TXT), (C, CLOSE), (S, CLOSE), (C, wire.Opcode.PING)])
    ok, out = run(capsys, exercises.check_direction_changes, 4, conn)  # 1 data change, 4 with control
    assert not ok and "control frames" in out


@pytest.mark.parametrize("render, hint", [
    (None, "No function yet"),
    ("<b>x</b>", "the function itself"),
    (lambda n, t: f"<b>{n}</b>: {t}", "as it is"),
    (lambda n, t: f"<b>{_html.escape(_html.escape(n))}</b>: {_html.escape(_html.escape(t))}", "escaped twice"),
    (lambda n, t: n.replace("<", "") + ": " + t.replace("<", ""), "do not delete"),
    (lambda n, t: None, "not NoneType"),
    (lambda n, t: 1 / 0, "ZeroDivisionError"),
])
def test_escape_wrong_answers(capsys, render, hint):
    ok, out = run(capsys, exercises.check_escape, render)
    assert not ok and hint in out, out


def test_escape_right_answers(capsys):
    assert run(capsys, exercises.check_escape, lambda n, t: f"<b>{_html.escape(n)}</b>: {_html.escape(t)}")[0]
    assert run(capsys, exercises.check_escape,
               lambda n, t: f"<b>{_html.escape(n, quote=False)}</b>: {_html.escape(t, quote=False)}")[0]


@pytest.mark.parametrize("reply, hint", [
    (None, "No function yet"),
    (lambda f: wire.encode_frame(wire.Opcode.PONG, f.payload, mask_key=b"abcd"), "never masks"),
    (lambda f: wire.encode_frame(wire.Opcode.PING, f.payload), "ping again"),
    (lambda f: wire.encode_frame(wire.Opcode.TEXT, f.payload), "PONG (0xA)"),
    (lambda f: wire.encode_frame(wire.Opcode.PONG, f.wire_payload), "frame.payload"),
    (lambda f: wire.encode_frame(wire.Opcode.PONG, b""), "unchanged"),
    (lambda f: f, "not a Frame object"),
    (lambda f: "pong", "not str"),
    (lambda f: wire.encode_frame(wire.Opcode.PONG, f.payload) * 2, "exactly one whole frame"),
])
def test_pong_wrong_answers(capsys, reply, hint):
    ok, out = run(capsys, exercises.check_pong, reply)
    assert not ok and hint in out, out


def test_pong_right_answer_and_solutions_exist(capsys):
    ns = {"wire": wire}
    exec(exercises.SOLUTIONS["pong"], ns)
    assert run(capsys, exercises.check_pong, ns["reply"])[0]
    ns = {}
    exec(exercises.SOLUTIONS["escape"], ns)
    assert run(capsys, exercises.check_escape, ns["render"])[0]
    ns = {"wire": wire, "conn": _conversation(CONV)}
    exec(exercises.SOLUTIONS["direction_changes"], ns)
    assert run(capsys, exercises.check_direction_changes, ns["changes"], ns["conn"])[0]
