"""Every exercise check: the right answer passes, each typical wrong answer gets its own
specific hint, and nothing a learner types makes a check raise."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html as _html
import math
import os
import re
from urllib.parse import urlsplit

import pytest

import wsdemo
from wsdemo import exercises, experiments, wire

T = 10.0  # seconds any single await in these tests may take

KEY = "x3JJHMbDL1EzLkh9GBhXDw=="  # a key many tutorials copy (not in RFC 6455)
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



# ------------------------------------------------------------------ bandwidth

def test_bandwidth_matches_the_classic_table(capsys):
    # Lubbers & Greco: 1,000 clients polling once a second with 871 bytes of headers: 6.6 Mbps.
    ok, out = run(capsys, exercises.check_bandwidth, 871 * 8 * 1000 / 2**20, 1000, 871)
    assert ok and "6.645" in out
    assert run(capsys, exercises.check_bandwidth, 6.968, 1000, 871, unit="10^6")[0]


@pytest.mark.parametrize("answer, hint", [
    (None, "No answer yet"),
    ("6.6", "not str"),
    (float("nan"), "finite number"),
    (871 * 8 * 1000 / 10**6, "other megabit"),
    (871 * 1000 / 2**20, "megabytes"),
    (871 * 8 * 1000, "divide by 2^20"),
    (1.0, "Not quite"),
])
def test_bandwidth_wrong(capsys, answer, hint):
    ok, out = run(capsys, exercises.check_bandwidth, answer, 1000, 871)
    assert not ok and hint in out, out



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



def test_environment_check_imports_and_reports_in_a_kernel_without_tornado():
    """Notebook 00 imports exercises to say what is missing: the package must import without
    tornado (the live server is imported only by the check that needs it)."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['tornado'] = None\n"  # import tornado now raises ImportError
            "from wsdemo import exercises\n"
            "assert not any(m.startswith('tornado') for m in sys.modules if sys.modules[m] is not None)\n"
            "print(exercises.check_environment())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr
    assert "✗ tornado (the server) missing" in done.stdout and done.stdout.rstrip().endswith("False"), done.stdout


# ------------------------------------------------------------------ solutions

def test_solution_prints_each_solution_and_names_them_for_an_unknown_one(capsys):
    for name in exercises.SOLUTIONS:
        exercises.solution(name)
        assert capsys.readouterr().out.strip() == exercises.SOLUTIONS[name].strip()
    exercises.solution("nope")
    assert "there are" in capsys.readouterr().out


def test_the_offline_solutions_solve_their_exercise(capsys):
    """Each solution, pasted in a namespace like its notebook's, passes its check. The live ones
    (close_codes, payback) are run against a real server below."""
    ns = {"key": KEY}
    exec(exercises.SOLUTIONS["accept"], ns)
    assert run(capsys, exercises.check_accept, ns["answer"], KEY)[0]
    ns = {}
    exec(exercises.SOLUTIONS["upgrade_request"], ns)
    assert run(capsys, exercises.check_upgrade_request, ns["my_request"], path="/chat", fresh_key=True)[0]
    ns = {"FRAME_HEX": MASKED_HELLO}
    exec(exercises.SOLUTIONS["decode"], ns)
    assert run(capsys, exercises.check_frame_fields, ns["answer"], MASKED_HELLO)[0]
    ns = {}
    exec(exercises.SOLUTIONS["unmask"], ns)
    assert run(capsys, exercises.check_unmask, ns["unmask"])[0]
    ns = {}
    exec(exercises.SOLUTIONS["framing"], ns)
    assert run(capsys, exercises.check_framing, ns["framing"])[0]
    ns = {}
    exec(exercises.SOLUTIONS["escape"], ns)
    assert run(capsys, exercises.check_escape, ns["render"])[0]
    ns = {"wire": wire}
    exec(exercises.SOLUTIONS["fragment"], ns)
    assert run(capsys, exercises.check_fragmenter, ns["fragment"])[0]
    ns = {}
    exec(exercises.SOLUTIONS["bandwidth"], ns)  # notebook 01's numbers
    assert run(capsys, exercises.check_bandwidth, ns["mbps"], 1000, 871)[0]

    class Row:  # notebook 06's measured websocket row: only its bytes per update are read
        bytes_per_update = 71.4

    ns = {"ws": Row()}
    exec(exercises.SOLUTIONS["busy_feed"], ns)
    assert run(capsys, exercises.check_bandwidth, ns["mbps"], 10_000, 71.4, 10, "10^6")[0]


def test_the_package_has_one_export_list_and_one_solution_table():
    from pathlib import Path
    sources = {p.name: p.read_text() for p in Path(exercises.__file__).parent.glob("*.py")}
    lists = {name for name, text in sources.items() if "\n__all__" in text or "__all__ +=" in text}
    assert lists == {"__init__.py"} and sources["__init__.py"].count("\n__all__") == 1, lists
    tables = {name: text.count("\nSOLUTIONS") for name, text in sources.items() if "\nSOLUTIONS" in text}
    assert tables == {"solutions.py": 1}, tables
    # nothing adds to the table elsewhere
    assert not any(re.search(r"SOLUTIONS(\.update|\.setdefault|\[[^\]]*\]\s*=[^=])", text)
                   for text in sources.values())
    checks = {n for n in dir(exercises) if n.startswith("check_")}
    assert checks <= set(exercises.__all__), checks - set(exercises.__all__)


# ------------------------------------------------------------------ live lab: a real server per test

@pytest.fixture
async def lab():
    server = await asyncio.wait_for(wsdemo.serve(ticker_interval_ms=50), T)
    yield server
    await asyncio.wait_for(server.stop(), T)


# ------------------------------------------------------------------ 00: predict the framing

FIRST_COST = {"client": 6, "server": 2}  # what notebook 00 prints for "Hello, wire!", just above


def test_framing_copying_the_count_above_gets_a_hint_that_says_so(capsys):
    ok, out = run(capsys, exercises.check_framing, dict(FIRST_COST))
    assert not ok and "what the first 12-character message cost" in out, out


@pytest.mark.parametrize("prediction, hint", [
    (None, "Fill in a dict"),
    ({"client": 1}, "Fill in a dict"),
    ({"client": None, "server": None}, "No prediction yet"),
    ({"client": 60, "server": 20}, "7-bit length field"),
    ({"client": 8, "server": 4}, "the header of one message; there are 10"),
    ({"client": 40, "server": 80}, "Swapped"),
    ({"client": 80 + 2000, "server": 40}, "counts the payload too"),
    ({"client": 40, "server": 40}, "4-byte masking key"),
    ({"client": 80, "server": 80}, "does not mask"),
    ({"client": "80", "server": 40}, "not str"),
    ({"client": float("nan"), "server": 40}, "finite"),
    ({"client": True, "server": 40}, "not bool"),
    ({"client": 99, "server": 40}, "A header is 2 bytes"),
])
def test_framing_wrong_predictions_get_specific_hints(capsys, prediction, hint):
    ok, out = run(capsys, exercises.check_framing, prediction)
    assert not ok and hint in out, out


async def test_framing_the_solution_is_what_the_tap_counts_on_a_real_server(capsys, lab):
    ns = {}
    exec(exercises.SOLUTIONS["framing"], ns)
    client = await asyncio.wait_for(lab.connect("/echo"), T)
    try:
        await asyncio.wait_for(client.send("Hello, wire!"), T)
        await asyncio.wait_for(client.recv(), T)
        first = client.connection.summary()
        assert {s: getattr(first, s).framing_bytes for s in ("client", "server")} == FIRST_COST
        for _ in range(10):
            await asyncio.wait_for(client.send("x" * 200), T)
            await asyncio.wait_for(client.recv(), T)
        after = client.connection.summary()
        spent = {s: getattr(after, s).framing_bytes - getattr(first, s).framing_bytes for s in ("client", "server")}
    finally:
        await asyncio.wait_for(client.close(), T)
    assert spent == ns["framing"]
    assert run(capsys, exercises.check_framing, spent)[0]


# ------------------------------------------------------------------ 02: an Upgrade of your own

def test_upgrade_copying_good_from_above_is_refused_with_both_reasons(capsys):
    good = (b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")  # notebook 02's GOOD
    ok, out = run(capsys, exercises.check_upgrade_request, good, path="/chat", fresh_key=True)
    assert not ok
    assert "it asks for /echo, not /chat" in out and "sample key of RFC 6455 section 1.3, copied" in out, out


@pytest.mark.parametrize("change, hint, absent", [
    ((b"GET /echo", b"GET /chat?name=me"), "sample key", "asks for"),
    ((KEY.encode(), b"AAAAAAAAAAAAAAAAAAAAAA=="), "it asks for /echo, not /chat", "sample key"),
])
def test_upgrade_names_only_what_the_request_did(capsys, change, hint, absent):
    ok, out = run(capsys, exercises.check_upgrade_request, GOOD_REQUEST.replace(*change), path="/chat",
                  fresh_key=True)
    assert not ok and hint in out and absent not in out, out


async def test_upgrade_the_solution_gets_101_from_the_live_chat(capsys, lab):
    ns = {}
    exec(exercises.SOLUTIONS["upgrade_request"], ns)
    assert run(capsys, exercises.check_upgrade_request, ns["my_request"], path="/chat", fresh_key=True)[0]
    url = urlsplit(lab.http_url("/"))
    reader, writer = await asyncio.wait_for(asyncio.open_connection(url.hostname, url.port), T)
    try:
        writer.write(ns["my_request"])
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T)
    finally:
        writer.close()
    response = wire.parse_response(head)
    assert response.status == 101
    key = wire.parse_request(ns["my_request"]).headers.get("Sec-WebSocket-Key")
    assert response.headers.get("Sec-WebSocket-Accept") == wire.compute_accept(key)


# ------------------------------------------------------------------ 03: predict, then provoke, close codes

async def test_close_codes_the_solution_matches_what_the_live_server_answers(capsys, lab):
    ns = {}
    exec(exercises.SOLUTIONS["close_codes"], ns)
    ok = await exercises.check_close_codes(ns["predicted"], lab)
    out = capsys.readouterr().out
    assert ok, out
    assert out.count("✓") == len(exercises.BROKEN_FRAMES)
    # ...and the check read each code from the tap's recording of a real connection
    lab_closes = [e.message.close_code for c in lab.tap.connections for e in c.events
                  if isinstance(e, wire.MessageEvent) and e.sender == "server" and e.message.kind == "close"]
    assert sorted(c or 1005 for c in lab_closes) == sorted(ns["predicted"].values())


async def test_close_codes_copying_the_close_just_above_gets_a_hint_per_frame(capsys, lab):
    # Notebook 03 closes its client with code 1000 just above the exercise.
    ok = await exercises.check_close_codes(dict.fromkeys(exercises.BROKEN_FRAMES, 1000), lab)
    out = capsys.readouterr().out
    assert not ok
    assert out.count("✓") == 1 and "✓ a Close with code 1000" in out
    assert "✗ an unmasked text frame: you predicted 1000, the server answered 1002: client frames must be masked" in out
    assert "✗ a text frame that is not UTF-8: you predicted 1000, the server answered 1007" in out
    assert "✗ an empty Close: you predicted 1000, the server answered 1005 (a Close without a code)" in out
    assert "the server answered 1009" in out and "the server answered 4000" in out


@pytest.mark.parametrize("predicted, hint", [
    (None, "Fill in the dict"),
    ("1002", "Fill in the dict"),
    (dict.fromkeys(exercises.BROKEN_FRAMES), "No predictions yet"),
    ({"an unmasked text frame": "1002"}, "right code, but as text '1002'"),
    ({"an unmasked text frame": 1006}, "1006 never travels on the wire"),
    ({"an unmasked text frame": 1005}, "an API reports it for a Close without a code; this answer had one"),
    ({"an unmasked text frame": 99999}, "not a close code"),
    ({"an unmasked text frame": float("nan")}, "finite"),
    ({"an unmasked text frame": [1002]}, "not list"),
    ({"an unmasked text frame": 1002}, "a ping of 126 bytes: not predicted yet"),
    ({"unmasked": 1002}, "'unmasked' is not one of the frames"),
])
async def test_close_codes_wrong_input_gets_a_hint_never_an_exception(capsys, lab, predicted, hint):
    ok = await exercises.check_close_codes(predicted, lab)
    out = capsys.readouterr().out
    assert ok is False and hint in out, out


async def test_close_codes_without_a_running_server(capsys):
    some = {"an unmasked text frame": 1002}
    assert await exercises.check_close_codes(some, None) is False
    assert "Pass the running lab server" in capsys.readouterr().out
    server = await asyncio.wait_for(wsdemo.serve(), T)
    await asyncio.wait_for(server.stop(), T)
    assert await exercises.check_close_codes(some, server) is False
    assert "Could not reach the server" in capsys.readouterr().out


async def test_close_codes_on_a_classroom_server_sends_its_token(capsys):
    server = await asyncio.wait_for(wsdemo.serve(classroom=True, show_join=False), T)
    try:
        ns = {}
        exec(exercises.SOLUTIONS["close_codes"], ns)
        assert await exercises.check_close_codes(ns["predicted"], server), capsys.readouterr().out
        capsys.readouterr()
        server.token = None  # the check no longer knows the token: the lab refuses its handshake
        assert await exercises.check_close_codes(ns["predicted"], server) is False
        out = capsys.readouterr().out
        assert "The server refused the WebSocket handshake itself (403" in out, out
    finally:
        await asyncio.wait_for(server.stop(), T)


# ------------------------------------------------------------------ 04: when has the handshake paid for itself?

def _rows(handshake_request, handshake_response, ws, poll):
    """compare_polling's rows, for hint texts that need chosen numbers: the WebSocket's handshake
    and the two rows' overhead per update (every other figure as a short run might have it)."""
    def row(method, overhead, setup=0):
        return experiments.PollingResult(
            method=method, updates=3, bytes_per_update=overhead + 60, median_latency_ms=5.0,
            up_bytes_per_update=overhead / 2, down_bytes_per_update=overhead / 2 + 60,
            overhead_bytes_per_update=overhead, payload_bytes_per_update=60.0,
            requests_per_update=0.0 if setup else 1.0, header_bytes_per_request=None if setup else overhead,
            empty_polls=0, skipped=0, max_latency_ms=9.0, tcp_connections=1, setup_bytes=setup)

    return experiments.Comparison([row("short polling", poll),
                                   row("websocket", ws, handshake_request + handshake_response)])


async def test_payback_on_rows_measured_on_a_real_server(capsys, lab):
    rows = await asyncio.wait_for(experiments.compare_polling(lab, updates=3, interval_ms=50), 30)
    push, short = rows["websocket"], rows["short polling"]
    ns = {"push": push, "short": short}
    exec(exercises.SOLUTIONS["payback"], ns)
    stats = push.connections[0].summary()
    handshake = stats.client.http_head_bytes + stats.server.http_head_bytes
    right = ns["updates"]
    ws, poll = push.overhead_bytes_per_update, short.overhead_bytes_per_update
    # the solution's number is the first whole update where the WebSocket is not behind
    assert handshake + right * ws <= right * poll and handshake + (right - 1) * ws > (right - 1) * poll
    assert right == experiments.payback(handshake, ws, poll)
    ok, out = run(capsys, exercises.check_payback, right, rows)
    assert ok, out
    # what a learner could paste from just above: requests per update (0 for push, 1 for polling)
    ok, out = run(capsys, exercises.check_payback, push.requests_per_update, rows)
    assert not ok and "before any update the WebSocket has already paid its" in out, out
    # polling asks once per update when every poll finds one; under load some polls find none,
    # so the measured figure can be fractional (e.g. 4 requests for 3 updates): both are wrong answers
    assert right > 1, right
    ok, out = run(capsys, exercises.check_payback, 1, rows)
    assert not ok and "Too early: after 1 update the WebSocket has cost" in out, out
    ok, out = run(capsys, exercises.check_payback, 4 / 3, rows)
    assert not ok and "1.33333 is not a whole number of updates" in out, out
    ok, out = run(capsys, exercises.check_payback, right + 1, rows)
    assert not ok and f"already ahead after {right}" in out, out


@pytest.mark.parametrize("answer, hint", [
    (16, "✓ 16: after 16 updates"),
    (15, "15 is 950 / 60.0 rounded down"),
    (10, "without the WebSocket's own overhead per update"),
    (12, "Too early: after 12 updates the WebSocket has cost 1,430 bytes"),
    (17, "already ahead after 16"),
    (15.83, "not a whole number"),
    (None, "No answer yet"),
    ("16", "not the text '16'"),
    ("soon", "not str"),
    (float("nan"), "finite"),
    (0, "before any update"),
])
def test_payback_hints_say_what_the_answer_means(capsys, answer, hint):
    rows = _rows(600, 350, ws=40, poll=100)  # 950 bytes of handshake, 60 saved per update: 15.8
    ok, out = run(capsys, exercises.check_payback, answer, rows)
    assert ok == hint.startswith("✓") and hint in out, out


def test_payback_without_rows(capsys):
    only_websocket = experiments.Comparison([_rows(600, 350, ws=40, poll=100)["websocket"]])
    for rows in (None, [], {"websocket": None}, only_websocket, _rows(600, 350, ws=float("nan"), poll=100)):
        ok, out = run(capsys, exercises.check_payback, 3, rows)
        assert not ok and "Pass the rows" in out, out


# ------------------------------------------------------------------ 05: chat lines, safely

def _strip_tags(value):
    return re.sub(r"<[^>]*>", "", value)


ESC = _html.escape


@pytest.mark.parametrize("render, hint", [
    (None, "No function yet"),
    ("<li>x</li>", "the function itself"),
    # the cell just above the exercise
    (lambda n, t: f"<b>{ESC(n)}</b>: {ESC(t)}", "returned '<b>Ada</b>: hello': the line should be"),
    (lambda n, t: f'<li data-name="{n}"><b>{n}</b>: {t}</li>', "'<img src=x onerror=alert(1)>' went into the HTML as markup"),
    (lambda n, t: f'<li data-name="{ESC(n)}"><b>{n}</b>: {ESC(t)}</li>', "'<b>Mallory</b>' went into the HTML as markup"),
    (lambda n, t: f'<li data-name="{ESC(n, quote=False)}"><b>{ESC(n)}</b>: {ESC(t)}</li>',
     "the name closed the data-name attribute and added onmouseover"),
    (lambda n, t: f'<li data-name="{ESC(ESC(n))}"><b>{ESC(n)}</b>: {ESC(t)}</li>', "the name was escaped twice"),
    (lambda n, t: f'<li data-name="{ESC(n)}"><b>{ESC(ESC(n))}</b>: {ESC(t)}</li>', "escaped twice (&amp;lt;"),
    (lambda n, t: f'<li><b>{ESC(n)}</b>: {ESC(t)}</li>', "no data-name attribute"),
    (lambda n, t: f'<li class="x" data-name="{ESC(n)}"><b>{ESC(n)}</b>: {ESC(t)}</li>', "attributes class besides"),
    (lambda n, t: f'<li data-name="{ESC(n)}"><b>{ESC(n)}</b>: {ESC(t)}<br></li>', "it has a <br> element of its own"),
    (lambda n, t: None, "not NoneType"),
    (lambda n, t: 1 / 0, "ZeroDivisionError"),
])
def test_escape_wrong_renders_get_a_hint_about_what_they_did(capsys, render, hint):
    ok, out = run(capsys, exercises.check_escape, render)
    assert not ok and hint in out, out


def test_escape_a_tag_stripper_is_told_it_deleted_characters_not_that_tags_went_through(capsys):
    # The old check said "'<b>Mallory</b>' went into the HTML as it is" to a render that strips tags,
    # because its own bold wrapper contained the test name.
    def strip(n, t):
        return f'<li data-name="{ESC(_strip_tags(n))}"><b>{ESC(_strip_tags(n))}</b>: {ESC(_strip_tags(t))}</li>'

    ok, out = run(capsys, exercises.check_escape, strip)
    assert not ok
    assert "data-name reads 'Mallory', but the name sent was '<b>Mallory</b>'" in out and "do not delete" in out
    assert "as markup" not in out and "as it is" not in out, out

    def strip_text_only(n, t):
        return f'<li data-name="{ESC(n)}"><b>{ESC(n)}</b>: {ESC(_strip_tags(t))}</li>'

    ok, out = run(capsys, exercises.check_escape, strip_text_only)
    assert not ok and "shows '<b>Mallory</b>: ' where the reader should see" in out, out
    assert "as markup" not in out


def test_escape_right_renders(capsys):
    assert run(capsys, exercises.check_escape,
               lambda n, t: f'<li data-name="{ESC(n)}"><b>{ESC(n)}</b>: {ESC(t)}</li>')[0]
    # quotes need escaping only in the attribute
    assert run(capsys, exercises.check_escape,
               lambda n, t: f'<li data-name="{ESC(n)}"><b>{ESC(n, quote=False)}</b>: {ESC(t, quote=False)}</li>')[0]


# ------------------------------------------------------------------ 07: a fragmenter

def _frames_of(pieces, opcodes=None, fins=None, keys=None):
    out = b""
    for i, piece in enumerate(pieces):
        opcode = (opcodes or [wire.Opcode.TEXT] + [wire.Opcode.CONTINUATION] * len(pieces))[i]
        fin = fins[i] if fins else i == len(pieces) - 1
        out += wire.encode_frame(opcode, piece, fin=fin, mask_key=(keys[i] if keys else os.urandom(4)))
    return out


def _cut(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


def by_bytes(**kw):
    return lambda text, size: _frames_of(_cut(text.encode(), size), **kw)


@pytest.mark.parametrize("fragment, hint", [
    (None, "No function yet"),
    (b"\x81\x00", "the function itself"),
    # the echo line of the server just above, as a fragmenter
    (lambda text, size: wire.encode_frame(wire.Opcode.TEXT, text),
     "made one frame with all 17 bytes; cut the payload into pieces of at most 5 bytes, one frame each. "
     "And a client masks every frame"),
    (lambda text, size: _frames_of([text[i:i + size].encode() for i in range(0, len(text), size)] or [b""]),
     "you cut characters; cut the UTF-8 bytes"),
    (lambda text, size: b"".join(wire.encode_frame(0 if i else 1, p, fin=i == len(_cut(text.encode(), size)) - 1)
                                 for i, p in enumerate(_cut(text.encode(), size))), "not all are masked"),
    (lambda text, size: _frames_of(_cut(text.encode(), size), opcodes=[wire.Opcode.TEXT] * 10),
     "only the first frame says TEXT"),
    (lambda text, size: _frames_of(_cut(text.encode(), size), fins=[True] * 10), "only the last frame sets FIN"),
    (lambda text, size: _frames_of(_cut(text.encode(), size), fins=[False] * 10), "the last frame must set FIN"),
    (lambda text, size: _frames_of(_cut(text.encode(), size), keys=[b"abcd"] * 10), "with the same key 61626364"),
    (lambda text, size: _frames_of(_cut(text.encode(), size)[:-1]), "the frames join into"),
    (lambda text, size: [wire.encode_frame(1, p, mask_key=b"abcd") for p in _cut(text.encode(), size)], "b''.join"),
    (lambda text, size: text, "returned str"),
    (lambda text, size: wire.FrameDecoder().feed(wire.encode_frame(1, text, mask_key=b"abcd"))[0], "Frame object"),
    (lambda text, size: _frames_of(_cut(text.encode(), size))[:-1], "in the middle of a frame"),
    (lambda text, size: _frames_of(_cut(text.encode(), size + 1)), "more than 5"),
    (lambda text: b"", "TypeError"),
    # cuts right, but makes no frame at all for an empty text
    (lambda text, size: _frames_of(_cut(text.encode(), size)) if text else b"", "even an empty message is one frame"),
])
def test_fragmenter_wrong_functions_get_a_hint_about_what_they_made(capsys, fragment, hint):
    ok, out = run(capsys, exercises.check_fragmenter, fragment)
    assert not ok and hint in out, out


def test_fragmenter_right_ones(capsys):
    assert run(capsys, exercises.check_fragmenter, by_bytes())[0]


async def test_fragmenter_output_with_a_ping_inside_through_the_tap(capsys, lab):
    """Notebook 07's live cell, against the lab: the tap reassembles the learner's frames into one
    message, and the server answers the ping that arrived in the middle before it echoes."""
    ns = {"wire": wire}
    exec(exercises.SOLUTIONS["fragment"], ns)
    pieces = wire.FrameDecoder().feed(ns["fragment"]("Hello, fragments!", 5))
    assert len(pieces) == 4
    ping = wire.encode_frame(wire.Opcode.PING, b"still there?", mask_key=os.urandom(4))
    url = urlsplit(lab.url("/echo"))
    reader, writer = await asyncio.wait_for(asyncio.open_connection(url.hostname, url.port), T)
    try:
        writer.write(b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)) + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T)
        writer.write(pieces[0].raw + ping + b"".join(p.raw for p in pieces[1:]))
        came_back, decoder = [], wire.FrameDecoder()
        while not any(f.opcode == wire.Opcode.TEXT for f in came_back):
            data = await asyncio.wait_for(reader.read(65536), T)
            assert data, came_back
            came_back += decoder.feed(data)
        local = writer.get_extra_info("sockname")
    finally:
        writer.close()
    assert [(f.opcode, f.payload) for f in came_back] == [(wire.Opcode.PONG, b"still there?"),
                                                         (wire.Opcode.TEXT, b"Hello, fragments!")]
    conn = lab.tap.connection_from(local)
    conn.flush()
    texts = [e.message for e in conn.events
             if isinstance(e, wire.MessageEvent) and e.sender == "client" and e.message.kind == "text"]
    assert [(m.text, len(m.frames)) for m in texts] == [("Hello, fragments!", 4)]



# ------------------------------------------------------------------ nothing a learner types makes a check raise

JUNK = [None, "x", "1", float("nan"), float("inf"), -1, 0, 10**30, [], {}, (), object(), b"\x00", True, 3.5,
        {"client": [], "server": {}}, {"client": float("inf"), "server": -5},
        lambda *a: None, lambda *a: "<li", lambda *a: '<li data-name="x" data-name="y"><b></b></li>',
        lambda *a: b"\x81\x7f" + b"\xff" * 8, lambda *a: bytearray(b"\x81\x00"), lambda *a: b"\x8f\x80abcd",
        lambda *a: 1 / 0, lambda *a: "<<<>>>&&&<!--", lambda *a: "<li data-name='A'><b>A</b>: B</li><li>"]


async def test_no_check_raises_on_junk(capsys, lab):
    for junk in JUNK:
        for check, args in [(exercises.check_framing, ()), (exercises.check_payback, (junk,)),
                            (exercises.check_payback, ({"websocket": junk, "short polling": junk},)),
                            (exercises.check_escape, ()), (exercises.check_fragmenter, ()),
                            (exercises.check_upgrade_request, ()), (exercises.check_accept, ()),
                            (exercises.check_unmask, ()), (exercises.check_bandwidth, (10, 10))]:
            assert check(junk, *args) is False, (check.__name__, junk)
        assert await exercises.check_close_codes(junk, lab) is False, junk
        assert await exercises.check_close_codes({"an empty Close": junk}, lab) is False, junk
        assert await exercises.check_close_codes({"an empty Close": 1005}, junk) is False, junk
    out = capsys.readouterr().out
    assert "Traceback" not in out and out.count("✗") >= len(JUNK) * 12


# ------------------------------------------------------------------ 08: an Origin check

def _netloc_rule(origin, host):
    return urlsplit(origin).netloc == host


@pytest.mark.parametrize("allowed, hint", [
    (None, "No function yet"),
    (True, "the function itself"),
    (lambda origin, host: True, "lets every page in"),
    (lambda origin, host: False, "refuses every page"),
    (lambda origin, host: None, "forget to return"),
    (lambda origin, host: "yes", "return True or False"),
    (lambda origin, host: origin.split("//")[1], "return True or False"),  # 'null' has no '//': raises
    (lambda origin, host: host in origin, "startswith, endswith, in"),  # a substring test: lookalikes pass
    (lambda origin, host: origin == "null" or urlsplit(origin).netloc == host, "'null' is what"),
    (lambda origin, host: origin != "null" and urlsplit(origin).hostname == host.split(":")[0],
     "the port is part of the origin"),
    (lambda origin, host: origin != "null" and urlsplit(origin).port in (None, 8888)
     and urlsplit(origin).hostname in ("127.0.0.1", "localhost", "chat.example.org"), "localhost and 127.0.0.1"),
    (lambda origin, host: origin != "null" and urlsplit(origin).netloc.startswith(host), "startswith, endswith"),
    (lambda origin, host: origin != "null" and urlsplit(origin).netloc.endswith(host), "startswith, endswith"),
    (lambda origin, host: origin == "http://" + host, "is False, but that is a page of the site itself"),
])
def test_origin_rule_wrong_functions_get_a_hint_about_what_they_let_in(capsys, allowed, hint):
    ok, out = run(capsys, exercises.check_origin_rule, allowed)
    assert not ok and hint in out, out


def test_origin_rule_a_function_that_raises_gets_the_call_that_raised(capsys):
    ok, out = run(capsys, exercises.check_origin_rule, lambda origin, host: origin.split("//")[1] == host)
    assert not ok and "raised IndexError" in out and "allowed('null'" in out


def test_origin_rule_a_copy_of_the_notebooks_handshake_helper_fails(capsys, recwarn):
    async def handshake_as_browser(lab, origin, cookie, path="/chat?name=mallory"):  # notebook 08's, in short
        return 403, ""

    ok, out = run(capsys, exercises.check_origin_rule, handshake_as_browser)
    assert not ok and "raised TypeError" in out, out

    async def allowed(origin, host):  # the right rule, but async: it returns a coroutine
        return urlsplit(origin).netloc == host

    ok, out = run(capsys, exercises.check_origin_rule, allowed)
    assert not ok and "async function" in out, out
    assert not [w for w in recwarn if "never awaited" in str(w.message)]


def test_origin_rule_right_ones(capsys):
    assert run(capsys, exercises.check_origin_rule, _netloc_rule)[0]
    assert run(capsys, exercises.check_origin_rule,
               lambda origin, host: origin != "null" and urlsplit(origin).netloc.lower() == host.lower())[0]
    ns = {}
    exec(exercises.SOLUTIONS["origin"], ns)
    assert run(capsys, exercises.check_origin_rule, ns["allowed"])[0]


def test_origin_rule_cases_agree_with_the_labs_own_check():
    """The exercise's expected answers are the lab's rule (apps/base.py origin_allowed)."""
    from types import SimpleNamespace

    from wsdemo.live.apps.base import BaseSocket

    for origin, host, right, what in exercises.ORIGIN_CASES:
        fake = SimpleNamespace(state=SimpleNamespace(allowed_origins=()),
                               request=SimpleNamespace(host=host, headers={}), _proxied=lambda: False)
        assert BaseSocket.origin_allowed(fake, origin) is right, (origin, host, what)


# ------------------------------------------------------------------ 08: a ping interval

@pytest.mark.parametrize("interval, hint", [
    (None, "no answer yet"),
    ("25", "give a number"),
    (0, "more than 0 seconds"),
    (-5, "more than 0 seconds"),
    (60, "never sees the next ping"),
    (120, "never sees the next ping"),
    (58, "up to 5 s late"),
    (55, "up to 5 s late"),
    (0.25, "100,000 clients"),  # a copy of notebook 08's demo (ping_interval=0.25 under a 1 s cut)
    (1, "100,000 clients"),
])
def test_ping_interval_wrong_answers_get_their_hint(capsys, interval, hint):
    ok, out = run(capsys, exercises.check_ping_interval, interval)
    assert not ok and hint in out, out


def test_ping_interval_right_ones(capsys):
    for interval in (5, 20, 25, 30, 54.9):
        assert run(capsys, exercises.check_ping_interval, interval)[0], interval
    ns = {}
    exec(exercises.SOLUTIONS["ping_interval"], ns)
    assert run(capsys, exercises.check_ping_interval, ns["ping_every"], proxy_timeout=60, late=5)[0]
    # other conditions move the bounds: a 30 s proxy and 2 s of lateness
    assert not run(capsys, exercises.check_ping_interval, 29, proxy_timeout=30, late=2)[0]
    assert run(capsys, exercises.check_ping_interval, 15, proxy_timeout=30, late=2)[0]


def test_the_new_checks_never_raise_on_junk(capsys):
    for junk in JUNK:
        assert exercises.check_origin_rule(junk) is False, junk
        assert exercises.check_ping_interval(junk) is False, junk
    out = capsys.readouterr().out
    assert "Traceback" not in out and out.count("✗") == 2 * len(JUNK)


# ------------------------------------------------------------------ 09: machines for a million users

# Figures like the ones notebook 09 measures straight to Tornado on a laptop core.
MACHINES = dict(users=1_000_000, room_size=20, seconds_between_messages=30,
                frames_per_core_second=30_000.0, bytes_per_connection=10_500.0,
                cores=4, ram_bytes=8 * 2**30, busy=0.7)


def _machines_solution(**figures):
    ns = {"direct_rate": figures["frames_per_core_second"], "direct_per_conn": figures["bytes_per_connection"]}
    exec(exercises.SOLUTIONS["machines"], ns)
    return ns["machines"]


def test_machines_solution_passes_for_cpu_and_for_memory_bound_figures(capsys):
    right = _machines_solution(**MACHINES)
    assert right == 8  # 666,667 frames/s ÷ (30,000 × 4 × 0.7) = 7.9 machines of CPU; memory: 1.75
    ok, out = run(capsys, exercises.check_machines, right, **MACHINES)
    assert ok and "the CPU decides" in out
    # a fast core and fat connections: the memory decides (the solution reads the same names)
    heavy = dict(MACHINES, frames_per_core_second=1_000_000.0, bytes_per_connection=60_000.0)
    ok, out = run(capsys, exercises.check_machines, _machines_solution(**heavy), **heavy)
    assert ok and "the memory decides" in out


def test_a_copy_of_the_notebooks_projection_fails(capsys):
    # notebook 09's projection cell, chat row: rooms of 50, a message a minute, 8 cores, 16 GiB, half busy
    rate, per_conn = MACHINES["frames_per_core_second"], MACHINES["bytes_per_connection"]
    cpu_machines = 1_000_000 / 60 * 50 / rate / (8 * 0.5)
    memory_machines = 1_000_000 * per_conn / (16 * 2**30 * 0.5)
    copied = max(1, math.ceil(max(cpu_machines, memory_machines)))
    ok, out = run(capsys, exercises.check_machines, copied, **MACHINES)
    assert not ok


SLOW_CORES = dict(MACHINES, frames_per_core_second=3_000.0)  # CPU-bound: 79.4 machines, memory 1.75


@pytest.mark.parametrize("answer, figures, hint", [
    (None, MACHINES, "no answer yet"),
    ("8", MACHINES, "give a number"),
    (7.94, MACHINES, "round"),                         # max(cpu, memory) not rounded up
    (2, MACHINES, "That is what the memory needs"),    # memory alone: 1.75 → 2
    (6, MACHINES, "100% busy"),                        # 7.94 × 0.7 = 5.56 → 6: the 70% forgotten
    (32, MACHINES, "cores, not machines"),             # 7.94 × 4 cores
    (1000, MACHINES, "Not quite"),
    (4, SLOW_CORES, "room size"),                      # messages, not frames: 79.4 / 20 → 4
    (76, SLOW_CORES, "back to its sender"),            # 19 frames per message: 79.4 × 19/20 → 76
    (1, dict(MACHINES, bytes_per_connection=60_000.0, frames_per_core_second=1e6),
     "That is what the CPU needs"),                    # CPU 0.24 → 1, but memory 9.98 → 10
])
def test_machines_hints_say_what_the_answer_missed(capsys, answer, figures, hint):
    ok, out = run(capsys, exercises.check_machines, answer, **figures)
    assert not ok and hint in out, out


def test_check_machines_never_raises_on_junk(capsys):
    for junk in JUNK:
        assert exercises.check_machines(junk, **MACHINES) is False, junk
    out = capsys.readouterr().out
    assert "Traceback" not in out and out.count("✗") == len(JUNK)
