"""Checks for the course's "On your own" exercises.

Every ``check_*`` function prints ✓ when the answer is right, or a hint that names
what is wrong ("you forgot the GUID", "that is the hex digest ..."), and returns
True or False. A wrong answer never raises: a learner should read a hint, not a
traceback. The right answers are computed by ``wsdemo.wire`` or read from the tap's
recording of the live lab, never typed in here.

Each exercise asks for something the cell above it does not already show: a
prediction, or a few lines of code the notebook leaves out. ``check_close_codes``
sends frames to the live server, so it is awaited; the others are plain calls.

``solution(name)`` prints a worked solution when you want to compare or are stuck.

    >>> from wsdemo import exercises
    >>> exercises.check_accept(None, "dGhlIHNhbXBsZSBub25jZQ==")   # doctest: +ELLIPSIS
    ✗ No answer yet...
    False
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
from typing import Any

from . import experiments, wire

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
OK, NO = "✓", "✗"


def _say(ok: bool, text: str) -> bool:
    print(f"{OK if ok else NO} {text}")
    return ok


def _guid() -> str:
    # The one constant RFC 6455 section 1.3 fixes; taken from the wire layer when it names it.
    for name in ("GUID", "WEBSOCKET_GUID", "MAGIC"):
        value = getattr(wire, name, None)
        if isinstance(value, str):
            return value
    return "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _as_bytes(value: Any) -> bytes | None:
    """Bytes from bytes, a hex string ("37 fa 21 3d", "0x37fa213d") or a list of ints."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        text = value.strip().lower().replace("0x", "").replace(" ", "").replace(":", "")
        try:
            return bytes.fromhex(text)
        except ValueError:
            return None
    if isinstance(value, (list, tuple)) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return bytes(value)
    return None


T = 5.0  # seconds: a live check gives up after this rather than hang a cell


def _number(value: Any, what: str) -> tuple[float | None, str | None]:
    """``value`` as a finite number, or None and a hint that says what it was instead."""
    if value is None:
        return None, f"{what}: no answer yet."
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, f"{what}: give a number, not {type(value).__name__} ({value!r})."
    if not math.isfinite(value):
        return None, f"{what}: {value!r} is not a number of anything; give a finite number."
    return value, None


def _header_size(length: int, masked: bool) -> int:
    """Bytes of header for one frame with ``length`` payload bytes (the wire layer builds it)."""
    return len(wire.encode_frame(wire.Opcode.TEXT, bytes(length), mask_key=b"\0\0\0\0" if masked else None)) - length


def _plural(n: float, word: str) -> str:
    return f"{n:g} {word}{'' if n == 1 else 's'}"


# ---------------------------------------------------------------- 00: the set-up

INSTALL = {
    "dot": "install graphviz: 'sudo apt-get install graphviz', 'brew install graphviz' or "
           "'conda install -c conda-forge graphviz', then restart the kernel",
    "python": "wsdemo needs Python 3.10 or newer",
    "package": "run 'make lab' (or scripts/dev.sh lab) from the wsdemo folder, or "
               "'pip install -e .[lab]', then restart the kernel",
}


def _version_of(module: str) -> str | None:
    from importlib import import_module, metadata

    try:
        import_module(module)
    except ImportError:
        return None
    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        return "?"


def check_environment() -> bool:
    """Print what the course needs and whether this kernel has it: ✓ version, or ✗ and how to fix it."""
    import asyncio
    import platform
    import shutil
    import subprocess
    import sys

    ok = sys.version_info >= (3, 10)
    all_ok = _say(ok, f"Python version {platform.python_version()}" + ("" if ok else f": {INSTALL['python']}"))
    for module, what in (("wsdemo", "the course package"), ("tornado", "the server"),
                         ("ipywidgets", "the live views"), ("graphviz", "diagrams, Python side")):
        version = _version_of(module)
        ok = version is not None
        all_ok &= _say(ok, f"{module} ({what}) " + (f"version {version}" if ok else f"missing: {INSTALL['package']}"))
    dot = shutil.which("dot")
    version = None
    if dot:
        try:
            # dot prints "dot - graphviz version 2.43.0 (0)" on stderr; a short, local call.
            done = subprocess.run([dot, "-V"], capture_output=True, text=True, timeout=10)
            version = (done.stderr or done.stdout).strip().split("version", 1)[-1].strip() or "?"
        except (OSError, subprocess.SubprocessError):
            version = None
    ok = version is not None
    all_ok &= _say(ok, "dot (graphviz's drawing program) " + (f"version {version}" if ok else f"missing: {INSTALL['dot']}"))
    try:
        asyncio.get_running_loop()
        ok = True
    except RuntimeError:
        ok = False
    all_ok &= _say(ok, "an event loop runs in this kernel, so cells can 'await' a live server" if ok else
                   "no running event loop: open the course in JupyterLab (ipykernel 6 or newer) to 'await' in cells")
    print("Ready: every notebook of the course can run here." if all_ok else
          "Fix the ✗ lines above, restart the kernel and run this cell again.")
    return all_ok


# ---------------------------------------------------------------- 00: predict the framing

FIRST_MESSAGE = "Hello, wire!"  # what notebook 00 sends first: 12 bytes, a one-byte length


def check_framing(prediction: Any, length: int = 200, count: int = 10) -> bool:
    """Predict the framing bytes of ``count`` text messages of ``length`` bytes, each echoed:
    ``prediction`` is {"client": bytes, "server": bytes}, header bytes only, all messages together."""
    right = {"client": count * _header_size(length, True), "server": count * _header_size(length, False)}
    if not isinstance(prediction, dict) or not {"client", "server"} <= set(prediction):
        return _say(False, 'Fill in a dict {"client": bytes, "server": bytes}: the bytes of frame headers '
                           f"each side will send for {count} messages of {length} characters.")
    if prediction["client"] is None and prediction["server"] is None:
        return _say(False, f"No prediction yet. The first message ({len(FIRST_MESSAGE)} characters) cost the client "
                           f"{_header_size(len(FIRST_MESSAGE), True)} bytes of framing and the server "
                           f"{_header_size(len(FIRST_MESSAGE), False)}. What will {count} messages of {length} "
                           "characters cost? Notebook 03 explains the fields; the count above is a start.")
    given = {}
    for side in ("client", "server"):
        value, hint = _number(prediction[side], side)
        if hint:
            return _say(False, hint)
        given[side] = value
    if given == {"client": right["server"], "server": right["client"]} and right["client"] != right["server"]:
        return _say(False, f"Swapped: the client's frames are the larger ones ({right['client']} against "
                           f"{right['server']}), because a client masks and sends a 4-byte key in every header.")
    short = {"client": _header_size(len(FIRST_MESSAGE), True), "server": _header_size(len(FIRST_MESSAGE), False)}
    all_ok = True
    for side in ("client", "server"):
        n, ok_n, masked = given[side], right[side], side == "client"
        one, one_short = ok_n // count, short[side]
        if n == ok_n:
            extended = one - 2 - (4 if masked else 0)
            parts = ["2"] + ([f"{extended} of extended length"] if extended else []) + (["4 of key"] if masked else [])
            _say(True, f"{side}: {ok_n} bytes, {count} headers of {one} bytes ({' + '.join(parts)}).")
            continue
        all_ok = False
        if n == one_short:
            hint = (f"{n:g} is what the first {len(FIRST_MESSAGE)}-character message cost, one header; here "
                    f"there are {count} messages of {length} characters.")
        elif n == count * one_short:
            hint = (f"{n:g} is {count} headers of a short message ({one_short} bytes each). {length} bytes do "
                    "not fit in the 7-bit length field (at most 125): it says 126 and 2 more bytes carry the length.")
        elif n == one:
            hint = f"{n:g} is the header of one message; there are {count}."
        elif n == ok_n + count * length:
            hint = "that counts the payload too; framing is the headers only."
        elif masked and n == right["server"]:
            hint = "that is what the server spends; every client header also carries a 4-byte masking key."
        elif not masked and n == right["client"]:
            hint = "a server does not mask its frames: no 4-byte key in its headers."
        else:
            hint = (f"{n:g} bytes for {count} messages is {n / count:g} a header. A header is 2 bytes, + 2 "
                    "for a length of 126 to 65,535 (8 above)" + (", + 4 for a client's masking key." if masked
                                                                    else "; a server adds no key."))
        _say(False, f"{side}: {hint}")
    return all_ok


# ---------------------------------------------------------------- 01 and 06: bandwidth

def check_bandwidth(answer: Any, clients: int, bytes_per_message: int, per_second: float = 1.0,
                    unit: str = "2^20") -> bool:
    """Megabits per second for ``clients`` each sending ``bytes_per_message`` ``per_second`` times.

    ``unit`` is "2^20" (Lubbers & Greco's table: 1 Mbit = 1,048,576 bits) or "10^6".
    """
    bits = clients * bytes_per_message * per_second * 8
    mega = {"2^20": 2 ** 20, "10^6": 10 ** 6}[unit]
    right = bits / mega

    def close(x: float) -> bool:
        return math.isclose(x, right, rel_tol=0.01)

    if answer is None:
        return _say(False, "No answer yet: clients × bytes × messages per second × 8 bits, "
                           f"divided by {unit} for megabits.")
    if not isinstance(answer, (int, float)) or isinstance(answer, bool):
        return _say(False, f"Give a number of Mbps, not {type(answer).__name__}.")
    if not math.isfinite(answer):
        return _say(False, f"{answer!r} is not a number of megabits; give a finite number.")
    if close(answer):
        return _say(True, f"{right:,.3f} Mbps (1 Mbit = {unit} bits).")
    other = 10 ** 6 if unit == "2^20" else 2 ** 20
    if math.isclose(answer, bits / other, rel_tol=0.01):
        return _say(False, f"Right method, other megabit: this table divides by {unit}, not "
                           f"{'10^6' if unit == '2^20' else '2^20'}.")
    if math.isclose(answer * 8, right, rel_tol=0.01):
        return _say(False, "That is megabytes: multiply by 8 for bits.")
    if math.isclose(answer, bits, rel_tol=0.01) or math.isclose(answer, bits / 8, rel_tol=0.01):
        return _say(False, f"Now divide by {unit} to get megabits.")
    return _say(False, f"Not quite: {clients:,} × {bytes_per_message} bytes × {per_second:g}/s × 8, "
                       f"divided by {unit}.")


# ---------------------------------------------------------------- 02: the handshake

def check_accept(answer: Any, key: str = RFC_KEY) -> bool:
    """Is ``answer`` the Sec-WebSocket-Accept a server must send for ``key``?"""
    guid = _guid()
    right = wire.compute_accept(key)
    if answer is None:
        return _say(False, "No answer yet. Join the key and the GUID, take the SHA-1 digest, "
                           "then base64-encode it (RFC 6455, section 4.2.2, step 5.4).")
    if isinstance(answer, (bytes, bytearray)):
        if bytes(answer) == right.encode("ascii"):
            return _say(False, "Right value, but as bytes: a header value is text. Use .decode('ascii').")
        answer = bytes(answer).decode("latin-1")
    if not isinstance(answer, str):
        return _say(False, f"The accept value is a string of base64 text, not {type(answer).__name__}.")
    stripped = answer.strip()
    if stripped.lower().startswith("sec-websocket-accept:"):
        stripped = stripped.split(":", 1)[1].strip()
        if stripped == right:
            return _say(False, "Right value, but give only the value, without 'Sec-WebSocket-Accept:'.")
    if answer == right:
        return _say(True, f"Correct: {right} is what the server must answer to {key}.")
    if stripped == right:
        return _say(False, "Right characters, but with spaces or a newline around them: the "
                           "header value is exactly the 28 base64 characters.")
    k = key.encode("ascii")
    digest = hashlib.sha1(k + guid.encode("ascii"))
    if stripped == key + guid:
        return _say(False, "That is key + GUID, the text to hash. Now take its SHA-1 digest and base64 it.")
    if stripped.lower() == digest.hexdigest():
        return _say(False, "That is the hex digest (40 hex digits). Base64-encode the raw 20 "
                           "digest bytes instead: base64.b64encode(sha1(...).digest()).")
    if stripped == _b64(digest.hexdigest().encode("ascii")):
        return _say(False, "You base64-encoded the hex text of the digest. Encode the raw bytes: "
                           "use .digest(), not .hexdigest().")
    if stripped == _b64(hashlib.sha1(k).digest()):
        return _say(False, "You forgot the GUID: hash key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'.")
    if stripped == _b64(hashlib.sha1(guid.encode("ascii") + k).digest()):
        return _say(False, "Key and GUID are the wrong way round: the key comes first, then the GUID.")
    if stripped == _b64(hashlib.sha1(k + guid.lower().encode("ascii")).digest()):
        return _say(False, "The GUID is in capital letters exactly as the RFC prints it; you used lower case.")
    try:
        raw_key = base64.b64decode(k, validate=True)
    except ValueError:
        raw_key = None
    if raw_key is not None and stripped == _b64(hashlib.sha1(raw_key + guid.encode("ascii")).digest()):
        return _say(False, "Do not base64-decode the key: append the GUID to the key text as it was sent.")
    for h in ("sha256", "md5", "sha512"):
        if stripped == _b64(hashlib.new(h, k + guid.encode("ascii")).digest()):
            return _say(False, f"That is {h.upper()}; the RFC asks for SHA-1 (hashlib.sha1).")
    if key != RFC_KEY and stripped == wire.compute_accept(RFC_KEY):
        return _say(False, f"That is the accept for the RFC's sample key; this exercise's key is {key}.")
    if stripped == key:
        return _say(False, "That is the client's key itself; the server answers with a value computed from it.")
    if len(stripped) != 28:
        return _say(False, f"An accept value is 28 base64 characters (20 SHA-1 bytes); yours has {len(stripped)}. "
                           "Check each step with wire.explain_accept(key) on the RFC's sample key.")
    return _say(False, "Not the expected value. Check the GUID character by character "
                       "(258EAFA5-E914-47DA-95CA-C5AB0DC85B11) and that you hash key + GUID with SHA-1.")


# Keys a learner may copy instead of making one: the RFC's sample, and one that many tutorials
# copy (it is not in RFC 6455).
SAMPLE_KEYS = {RFC_KEY: "RFC 6455 section 1.3", "x3JJHMbDL1EzLkh9GBhXDw==": "many tutorials (not RFC 6455)"}


def _own_request_problems(request, path: str | None, fresh_key: bool) -> list[str]:
    """What an otherwise valid request did differently from what the exercise asks."""
    wrong = []
    if path is not None:
        asked = request.target.split("?", 1)[0]
        if asked != path:
            wrong.append(f"it asks for {request.target}, not {path}")
    if fresh_key:
        key = (request.headers.get("Sec-WebSocket-Key") or "").strip()
        if key in SAMPLE_KEYS:
            wrong.append(f"its key {key} is the sample key of {SAMPLE_KEYS[key]}, copied: a client makes a new "
                         "one for every connection, 16 random bytes in base64 (os.urandom, base64.b64encode)")
    return wrong


def check_upgrade_request(raw: Any, host: str | None = None, path: str | None = None,
                          fresh_key: bool = False) -> bool:
    """Would a server accept ``raw`` (the bytes of an HTTP head) as a WebSocket Upgrade?

    The rules are the wire layer's ``check_handshake`` (RFC 6455 section 4.1). With ``path``,
    the request must ask for that path (a query is allowed); with ``fresh_key``, its key must
    not be a copied sample key (``SAMPLE_KEYS``).
    """
    if raw is None:
        return _say(False, "No request yet. Write the bytes of a GET request: the request line, "
                           "then the headers a WebSocket Upgrade needs, each ending in \\r\\n, "
                           "then an empty line.")
    if isinstance(raw, str):
        return _say(False, "Send bytes, not text: write b\"GET ...\" or call .encode('ascii').")
    if not isinstance(raw, (bytes, bytearray)):
        return _say(False, f"A request is bytes, not {type(raw).__name__}.")
    raw = bytes(raw)
    if b"\r\n" not in raw and b"\n" in raw:
        return _say(False, "HTTP lines end with \\r\\n (carriage return, line feed), not just \\n.")
    if not raw.endswith(b"\r\n\r\n"):
        return _say(False, "The head must end with an empty line: finish with \\r\\n\\r\\n, "
                           "or the server keeps waiting for more headers.")
    try:
        request = wire.parse_request(raw)
    except wire.ProtocolError as exc:
        return _say(False, f"The server cannot even parse it: {exc}")
    problems = wire.check_handshake(request, None)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        return _say(False, f"A server would answer 400 Bad Request, because:\n{lines}")
    wrong = _own_request_problems(request, path, fresh_key)
    if wrong:
        return _say(False, "A server would accept it, but " + "; and ".join(wrong) + ".")
    if host is not None and (request.headers.get("Host") or "") != host:
        return _say(False, f"Every rule holds, but the Host header should name the server you talk to: {host}.")
    return _say(True, "A server would accept this Upgrade and answer 101 Switching Protocols.")


# ---------------------------------------------------------------- 03: frames

def _decode_one(frame_hex: str):
    frames = wire.FrameDecoder().feed(bytes.fromhex(frame_hex.replace(" ", "")))
    if len(frames) != 1:
        raise ValueError(f"the exercise needs exactly one frame in {frame_hex!r}")
    return frames[0]


FIELDS = ("fin", "opcode", "masked", "payload_length", "mask_key", "text")


def check_frame_fields(answer: Any, frame_hex: str) -> bool:
    """Check a frame decoded by hand: a dict with the keys in ``FIELDS``.

    ``opcode`` may be a number or a name ("text"); ``mask_key`` bytes, hex text or a
    list of ints (None for an unmasked frame); ``text`` the unmasked payload as str.
    """
    frame = _decode_one(frame_hex)
    data = bytes.fromhex(frame_hex.replace(" ", ""))
    if not isinstance(answer, dict):
        return _say(False, "Fill in a dict with the keys " + ", ".join(repr(f) for f in FIELDS)
                    + ", one field at a time, starting from the first byte.")
    missing = [f for f in FIELDS if f not in answer]
    if missing:
        return _say(False, f"The dict lacks {', '.join(map(repr, missing))}.")
    if all(answer[f] is None for f in FIELDS if not (f == "mask_key" and not frame.masked)):
        return _say(False, f"Nothing filled in yet. Start with the first byte, 0x{data[0]:02x} = "
                           f"{data[0]:08b} in bits: FIN is the leftmost bit, the opcode the rightmost four.")
    all_ok = True

    def field(name: str, ok: bool, hint: str) -> None:
        nonlocal all_ok
        all_ok &= ok
        _say(ok, name if ok else f"{name}: {hint}")

    fin = answer["fin"]
    field("fin", fin in (True, 1) if frame.fin else fin in (False, 0),
          f"FIN is the most significant bit of byte 0 (0x{data[0]:02x} >> 7); 1 means "
          "'this is the last (or only) fragment'.")

    op = answer["opcode"]
    op_ok = False
    if isinstance(op, str):
        op_ok = op.strip().upper() == wire.Opcode(frame.opcode).name
    elif isinstance(op, int) and not isinstance(op, bool):
        op_ok = op == frame.opcode
    if op == data[0]:
        hint = f"0x{data[0]:02x} is the whole first byte; the opcode is its low 4 bits (byte & 0x0F)."
    else:
        hint = "the opcode is the low 4 bits of byte 0; 0x1 is text, 0x2 binary, 0x8 close, 0x9 ping, 0xA pong."
    field("opcode", op_ok, hint)

    masked = answer["masked"]
    field("masked", masked in (True, 1) if frame.masked else masked in (False, 0),
          f"MASK is the most significant bit of byte 1 (0x{data[1]:02x} >> 7).")

    length = answer["payload_length"]
    if length == data[1] and frame.masked:
        hint = f"you kept the MASK bit: the 7-bit length is byte 1 & 0x7F, not 0x{data[1]:02x}."
    elif length == len(data):
        hint = "that is the length of the whole frame; count only the payload bytes."
    elif (data[1] & 0x7F) >= 126 and length == data[1] & 0x7F:
        hint = (f"{data[1] & 0x7F} is a signal, not the length: the real length follows in the next "
                f"{2 if data[1] & 0x7F == 126 else 8} bytes, big-endian.")
    else:
        hint = "the 7 low bits of byte 1 hold the payload length (126 and 127 mean: read the next 2 or 8 bytes)."
    field("payload_length", length == frame.payload_len and not isinstance(length, bool), hint)

    key = answer["mask_key"]
    if frame.masked:
        got = _as_bytes(key)
        start = len(frame.header) - 4
        if got is not None and len(got) != 4:
            hint = f"a masking key is exactly 4 bytes; you gave {len(got)}."
        else:
            hint = (f"the 4 bytes right after the length fields (here bytes {start} to {start + 3}); "
                    "give them as hex text like '0a 1b 2c 3d' or as bytes.")
        field("mask_key", got == frame.mask_key, hint)
    else:
        field("mask_key", key in (None, b"", ""),
              "this frame is not masked (MASK bit 0), so it has no masking key: answer None.")

    text = answer["text"]
    if isinstance(text, (bytes, bytearray)):
        text_ok = False
        hint = ("right bytes, but give the text as a str: .decode('utf-8')." if bytes(text) == frame.payload
                else "give the text as a str (the unmasked bytes decoded as UTF-8).")
    else:
        text_ok = text == frame.payload.decode("utf-8", "replace")
        if frame.masked and isinstance(text, str) and text == frame.wire_payload.decode("latin-1"):
            hint = ("that is the masked payload as it travels; unmask it first: "
                    "byte i XOR mask_key[i % 4].")
        else:
            hint = ("the payload is the last payload_length bytes"
                    + (", each XOR-ed with mask_key[i % 4], then decoded as UTF-8." if frame.masked
                       else ", decoded as UTF-8."))
    field("text", text_ok, hint)
    if all_ok:
        print(f"{OK} All fields right: {frame}")
    return all_ok


def check_unmask(unmask: Any) -> bool:
    """Check a function ``unmask(data: bytes, key: bytes) -> bytes`` (RFC 6455 section 5.3)."""
    if unmask is None:
        return _say(False, "No function yet. Define unmask(data, key) returning bytes where byte i "
                           "is data[i] XOR key[i % 4].")
    if not callable(unmask):
        return _say(False, "Pass the function itself (unmask), not the result of calling it.")
    # The RFC's "Hello", then lengths that are not a multiple of 4, then nothing at all.
    key = bytes.fromhex("37fa213d")
    cases = [(b"Hello", key), ("WebSockets mask every client byte".encode(), bytes.fromhex("a1b2c3d4")),
             (bytes(range(256)), bytes.fromhex("00ff10ef")), (b"", key)]
    for plain, k in cases:
        masked = wire.encode_frame(wire.Opcode.BINARY, plain, mask_key=k)[-len(plain):] if plain else b""
        try:
            got = unmask(masked, k)
        except IndexError:
            return _say(False, "IndexError: the key has only 4 bytes; use key[i % 4] for byte i.")
        except TypeError as exc:
            return _say(False, f"TypeError ({exc}): XOR works on ints; data[i] of bytes is already an int, "
                               "and bytes(list_of_ints) makes the result.")
        except Exception as exc:  # a learner's bug must end in a hint, not a traceback
            return _say(False, f"Your function raised {type(exc).__name__}: {exc}")
        if isinstance(got, str):
            return _say(False, "Return bytes, not str: build bytes(...) from the XOR-ed ints.")
        if isinstance(got, list):
            return _say(False, "Return bytes, not a list: wrap the list in bytes(...).")
        if not isinstance(got, (bytes, bytearray)):
            return _say(False, f"Return bytes, not {type(got).__name__}.")
        got = bytes(got)
        if got == plain:
            continue
        if got == masked and plain:
            return _say(False, "It returned the data unchanged: XOR each byte with the key.")
        if len(got) != len(plain):
            return _say(False, f"For {len(plain)} bytes in, it gave {len(got)} bytes out; the length never changes.")
        if got[:4] == plain[:4]:
            return _say(False, "Right for the first 4 bytes, wrong after: the key repeats, key[i % 4].")
        return _say(False, f"Unmasking {masked.hex(' ')} with key {k.hex(' ')} should give {plain!r}, got {got!r}.")
    return _say(True, "Your unmask() gives the right bytes, for every length.")


# ---------------------------------------------------------------- 03: predict, then provoke, close codes

_K = bytes.fromhex("a1b2c3d4")  # a fixed masking key, so the bytes printed in the notebook do not change
_E, _O = wire.encode_frame, wire.Opcode

#: name -> (the bytes a client sends after its handshake, why the server answers as it does)
BROKEN_FRAMES: dict[str, tuple[bytes, str]] = {
    "a Close with code 1000 and a reason": (
        _E(_O.CLOSE, (1000).to_bytes(2, "big") + b"bye", mask_key=_K),
        "a peer answers a Close with a Close and, usually, the same code (section 5.5.1); the reason is optional."),
    "a Close with code 4000": (
        _E(_O.CLOSE, (4000).to_bytes(2, "big"), mask_key=_K),
        "4000-4999 are for applications; the server echoes the code it was sent, like any other valid one."),
    "an empty Close": (
        _E(_O.CLOSE, b"", mask_key=_K),
        "a Close without a code is answered by a Close without a code, which an API reports as 1005 "
        "(no status received, section 7.4.1)."),
    "an unmasked text frame": (
        _E(_O.TEXT, b"hi"),
        "client frames must be masked (section 5.1): a protocol error, 1002."),
    "a text frame that is not UTF-8": (
        _E(_O.TEXT, b"\xff\xfe", mask_key=_K),
        "the frame itself is well formed; its text is not UTF-8: 1007, invalid payload data (section 8.1)."),
    "a ping of 126 bytes": (
        _E(_O.PING, b"x" * 126, mask_key=_K),
        "control frames carry at most 125 bytes (section 5.5): a protocol error, 1002."),
    "a binary frame that announces 2 MiB": (
        bytes((0x82, 0xFF)) + (2 * 2 ** 20).to_bytes(8, "big") + _K,
        "the header alone says 2 MiB, above the lab's 1 MiB limit: 1009, message too big, before any payload."),
}
NO_CODE = 1005  # what an API reports for a Close without a code (never sent on the wire)
NO_CLOSE = 1006  # ... and for a connection that ended without any Close


class _Refused(Exception):
    """The lab answered the exercise's handshake with something other than 101."""

    def __init__(self, status: int, reason: str):
        super().__init__(f"{status} {reason}")
        self.status = status


async def _provoke(server: Any, data: bytes) -> int:
    """Send ``data`` after a handshake through the tap, and read from the tap's recording the
    close code the server answered (1005 for a Close without a code, 1006 for none)."""
    import os
    from urllib.parse import urlsplit

    url = urlsplit(server.url("/echo"))
    reader, writer = await asyncio.wait_for(asyncio.open_connection(url.hostname, url.port), T)
    try:
        key = _b64(os.urandom(16))
        token = getattr(server, "token", None)  # a classroom server asks for its join token
        target = "/echo" + (f"?token={token}" if isinstance(token, str) and token else "")
        writer.write(f"GET {target} HTTP/1.1\r\nHost: {url.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode("ascii"))
        head = wire.parse_response(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T))
        if head.status != 101:
            raise _Refused(head.status, head.reason)
        writer.write(data)
        await asyncio.wait_for(reader.read(), T)  # until the server hangs up
        local = "%s:%d" % writer.get_extra_info("sockname")[:2]
    finally:
        writer.close()
    for conn in reversed(server.tap.connections):
        if conn.peer == local:
            conn.flush()
            for e in list(conn.events):
                if isinstance(e, wire.MessageEvent) and e.sender == "server" and e.message.kind == "close":
                    return e.message.close_code if e.message.close_code is not None else NO_CODE
            return NO_CLOSE
    raise RuntimeError(f"the tap recorded no connection from {local}")


async def check_close_codes(predicted: Any, server: Any) -> bool:
    """Compare predicted close codes with what the live server answers to each of
    ``BROKEN_FRAMES``, sent through the tap on a raw connection (read from the recording)."""
    names = list(BROKEN_FRAMES)
    if not isinstance(predicted, dict):
        return _say(False, "Fill in the dict: for each frame's name, the close code you expect the server "
                           "to answer, as a number.")
    unknown = [n for n in predicted if n not in BROKEN_FRAMES]
    if unknown:
        return _say(False, f"{unknown[0]!r} is not one of the frames; keep the names as they are: "
                           + ", ".join(map(repr, names)) + ".")
    if all(predicted.get(n) is None for n in names):
        return _say(False, "No predictions yet. For each frame, write the code you expect in the server's Close: "
                           "the list of codes above says what each means (section 7.4.1).")
    if server is None or not hasattr(server, "tap") or not callable(getattr(server, "url", None)):
        return _say(False, "Pass the running lab server (server), so the frames can be sent to it.")
    all_ok = True
    for name in names:
        guess = predicted.get(name)
        if guess is None:
            all_ok = _say(False, f"{name}: not predicted yet.")
            continue
        data, why = BROKEN_FRAMES[name]
        try:
            code = await _provoke(server, data)
        except _Refused as exc:
            return _say(False, f"The server refused the WebSocket handshake itself ({exc}), so no frame could "
                               "be sent; is it a lab server started with a token or an origin check?")
        except (OSError, RuntimeError, EOFError, wire.ProtocolError, asyncio.TimeoutError) as exc:
            return _say(False, f"Could not reach the server ({type(exc).__name__}: {exc}); is it still running?")
        got = f"the server answered {code}" + (" (a Close without a code)" if code == NO_CODE else "")
        if isinstance(guess, str) and guess.strip().isdigit() and int(guess) == code:
            all_ok = _say(False, f"{name}: right code, but as text {guess!r}; write the number {code}.")
            continue
        number, hint = _number(guess, name)
        if hint:
            all_ok = _say(False, hint)
            continue
        if number == code:
            _say(True, f"{name}: {got}; {why}")
            continue
        all_ok = False
        if number == NO_CLOSE:
            extra = " 1006 never travels on the wire: it means the connection dropped without a Close, and here one came."
        elif number == NO_CODE:
            extra = " 1005 is never sent on the wire: an API reports it for a Close without a code; this answer had one."
        elif number == 1015:
            extra = " 1015 is never sent on the wire: an API reports it for a failed TLS handshake."
        elif not 1000 <= number <= 4999 or number != int(number):
            extra = f" {number:g} is not a close code; codes are whole numbers from 1000 to 4999."
        else:
            extra = ""
        _say(False, f"{name}: you predicted {number:g}, {got}: {why}{extra}")
    return all_ok


# ---------------------------------------------------------------- 04: when has a WebSocket paid back its handshake?

def _payback_inputs(rows: Any) -> tuple[float, float, float] | str:
    """Handshake bytes, WebSocket and short-polling overhead per update, or a hint."""
    try:
        ws, poll = rows["websocket"], rows["short polling"]
        handshake = experiments.handshake_bytes(ws)
        numbers = float(handshake), float(ws.overhead_bytes_per_update), float(poll.overhead_bytes_per_update)
        if all(math.isfinite(x) and x >= 0 for x in numbers):
            return numbers
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        pass
    return ("Pass the rows that experiments.compare_polling measured above (rows), with a "
            "'websocket' and a 'short polling' row.")


def _cost(n: float, handshake: float, ws: float, poll: float) -> str:
    return (f"after {_plural(n, 'update')} the WebSocket has cost {handshake + n * ws:,.0f} bytes of overhead "
            f"({handshake:,.0f} of handshake + {n:g} × {ws:.1f}), short polling {n * poll:,.0f} ({n:g} × {poll:.1f})")


# One computation for the idea: experiments.break_even uses the same function.
payback = experiments.payback


def check_payback(answer: Any, rows: Any) -> bool:
    """After how many updates has the WebSocket's handshake paid for itself, against short polling?
    (Overhead bytes only: HTTP heads and frame headers; the updates themselves cost both the same.)"""
    inputs = _payback_inputs(rows)
    if isinstance(inputs, str):
        return _say(False, inputs)
    handshake, ws, poll = inputs
    right = payback(handshake, ws, poll)
    if answer is None:
        return _say(False, "No answer yet. The WebSocket pays its handshake once, then a little per update; "
                           "short polling pays a request and an answer per update. Find the first number of "
                           "updates after which the WebSocket's total is not larger.")
    if isinstance(answer, str) and answer.strip().isdigit():
        return _say(False, f"Give the number itself, not the text {answer!r}.")
    number, hint = _number(answer, "The number of updates")
    if hint:
        return _say(False, hint)
    if right is None:
        return _say(False, "In this measurement short polling cost no more per update than the WebSocket; "
                           "run the comparison again.")
    if number == right:
        return _say(True, f"{right}: {_cost(right, handshake, ws, poll)}; one update fewer and the WebSocket "
                          "would still be behind. From then on every update saves "
                          f"{poll - ws:.0f} bytes.")
    if number != int(number):
        return _say(False, f"{number:g} is not a whole number of updates; the WebSocket is ahead only after a "
                           "whole update: round up.")
    number = int(number)
    if number < 1:
        return _say(False, f"{number} updates: before any update the WebSocket has already paid its "
                           f"{handshake:,.0f}-byte handshake, and polling nothing.")
    if number < right:
        why = ""
        if number == payback(handshake, 0, poll):
            why = (f" ({number} is the answer without the WebSocket's own overhead per update, {ws:.1f} bytes "
                   "of frame headers: count it too.)")
        elif number == math.floor(handshake / (poll - ws)):
            why = (f" ({number} is {handshake:,.0f} / {poll - ws:.1f} rounded down; the WebSocket is ahead only "
                   "once the whole handshake is paid: round up.)")
        return _say(False, f"Too early: {_cost(number, handshake, ws, poll)}.{why}")
    return _say(False, f"Later than needed: {_cost(number - 1, handshake, ws, poll)}, so the WebSocket was "
                       f"already ahead after {number - 1}.")


# ---------------------------------------------------------------- 05: one chat line, safely, in an attribute too

CHAT_LINE = '<li data-name="NAME"><b>NAME</b>: TEXT</li>'

_HOSTILE = [  # the first pair is harmless, so a wrong shape is reported before anything hostile
    ("Ada", "hello"),
    ("<b>Mallory</b>", "<img src=x onerror=alert(1)>"),
    ('Eve" onmouseover="alert(1)', "</li><script>alert('x')</script>"),
    ("Tom & Jerry", "5 > 3 && 2 < 4"),
    ("O'Brien", 'say "hi"'),
]


def _parse_html(out: str):
    """Start tags (name, attrs) and the text a browser would show, from ``out``."""
    from html.parser import HTMLParser

    class Reader(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.tags: list[tuple[str, list]] = []
            self.text: list[str] = []

        def handle_starttag(self, tag, attrs):
            self.tags.append((tag, attrs))

        def handle_startendtag(self, tag, attrs):
            self.tags.append((tag, attrs))

        def handle_data(self, data):
            self.text.append(data)

    reader = Reader()
    reader.feed(out)
    reader.close()
    return reader.tags, "".join(reader.text)


def check_escape(render: Any) -> bool:
    """Check ``render(name, text) -> str``: one chat line as ``CHAT_LINE``, which shows the name
    (in an attribute and as text) and the message exactly as sent, whatever they contain."""
    import html as _html

    if render is None:
        return _say(False, f"No function yet. Define render(name, text) returning {CHAT_LINE}, with NAME and "
                           "TEXT as sent, safely.")
    if not callable(render):
        return _say(False, "Pass the function itself (render), not the result of calling it.")
    for name, text in _HOSTILE:
        call = f"render({name!r}, {text!r})"
        try:
            out = render(name, text)
        except Exception as exc:  # a learner's bug must end in a hint, not a traceback
            return _say(False, f"{call} raised {type(exc).__name__}: {exc}")
        if not isinstance(out, str):
            return _say(False, f"Return a str of HTML, not {type(out).__name__}.")
        tags, shown = _parse_html(out)
        names = [t for t, _ in tags]
        stray = [t for t in names if t not in ("li", "b")]
        extra_b = names.count("b") > 1 or names.count("li") > 1
        if stray or extra_b:
            made = (stray or ["b" if names.count("b") > 1 else "li"])[0]
            source = next((v for v in (name, text) if f"<{made}" in v.lower() or f"</{made}" in v.lower()), None)
            if source is None:
                return _say(False, f"{call} returned {out[:80]!r}: it has a <{made}> element of its own; "
                                   f"the line is exactly {CHAT_LINE}.")
            return _say(False, f"{call}: {source!r} went into the HTML as markup: a browser would build a live "
                               f"<{made}> element from it. Escape every value you insert: html.escape(value).")
        if names[:2] != ["li", "b"]:
            return _say(False, f"{call} returned {out[:60]!r}: the line should be {CHAT_LINE}, "
                               f"an <li> with the name in its data-name attribute, then the name in bold.")
        attrs = dict(tags[0][1])
        if set(attrs) != {"data-name"}:
            added = sorted(set(attrs) - {"data-name"})
            injected = [a for a in added if a in name.lower()]
            if injected:
                return _say(False, f"{call}: the name closed the data-name attribute and added {', '.join(injected)}"
                                   "=... to the <li>: inside an attribute, quotes must be escaped too "
                                   '(html.escape(value) turns " into &quot;; quote=False does not).')
            if added:
                return _say(False, f"{call}: the <li> has attributes {', '.join(added)} besides data-name; the line "
                                   f"is exactly {CHAT_LINE}.")
            return _say(False, f"{call}: the <li> has no data-name attribute: {out[:60]!r}.")
        value = attrs["data-name"]
        if value != name:
            if value == _html.escape(name) and value != name:
                return _say(False, f"{call}: data-name reads {value!r}: the name was escaped twice, so a "
                                   "script would see the entities. Escape once.")
            return _say(False, f"{call}: data-name reads {value!r}, but the name sent was {name!r}: escape it, do "
                               "not delete or change characters.")
        expected = f"{name}: {text}"
        if shown != expected:
            if _html.unescape(shown) == expected:
                return _say(False, f"{call} shows {shown!r}: escaped twice (&amp;lt; ...), so the reader sees "
                                   "the entities instead of the text. Escape once.")
            return _say(False, f"{call} shows {shown!r} where the reader should see {expected!r}: escape the "
                               "characters < > & \" ', do not delete or replace them.")
    return _say(True, "Every name and message shows exactly as sent, in the attribute and in the text, and "
                      "none of it can run as HTML.")


# ---------------------------------------------------------------- 07: a fragmenter

_FRAGMENT_CASES = [("Hello, fragments!", 5), ("héllo wörld ✓", 4), ("exactly ten", 11), ("", 3)]


def check_fragmenter(fragment: Any) -> bool:
    """Check ``fragment(text, size) -> bytes``: the frames a client sends for ``text`` cut into
    pieces of at most ``size`` payload bytes (RFC 6455 section 5.4), each masked with its own key."""
    if fragment is None:
        return _say(False, "No function yet. Define fragment(text, size) returning the bytes of the frames "
                           "a client sends for text, each carrying at most size payload bytes.")
    if not callable(fragment):
        return _say(False, "Pass the function itself (fragment), not the result of calling it.")
    for text, size in _FRAGMENT_CASES:
        call = f"fragment({text!r}, {size})"
        data = text.encode("utf-8")
        try:
            out = fragment(text, size)
        except Exception as exc:  # a learner's bug must end in a hint, not a traceback
            return _say(False, f"{call} raised {type(exc).__name__}: {exc}")
        if isinstance(out, (list, tuple)) and all(isinstance(b, (bytes, bytearray)) for b in out):
            return _say(False, f"{call} returned a {type(out).__name__} of frames; join them into the bytes "
                               "that go on the wire: b''.join(...).")
        if isinstance(out, wire.Frame):
            return _say(False, f"{call} returned a Frame object; return the bytes (wire.encode_frame returns them).")
        if not isinstance(out, (bytes, bytearray)):
            return _say(False, f"{call} returned {type(out).__name__}; return bytes.")
        if not out:
            return _say(False, f"{call} returned no bytes at all; even an empty message is one frame "
                               "(TEXT, FIN set, no payload).")
        try:
            frames = wire.FrameDecoder().feed(bytes(out))
        except wire.ProtocolError as exc:
            return _say(False, f"{call}: those bytes are not valid frames: {exc}")
        if not frames or sum(len(f.raw) for f in frames) != len(out):
            return _say(False, f"{call}: the bytes end in the middle of a frame ({len(out)} bytes).")
        where = ", ".join(f"{wire.Opcode(f.opcode).name if f.opcode in wire.Opcode._value2member_map_ else f.opcode}"
                          f"{'' if f.fin else '(no FIN)'} {len(f.payload)} B" for f in frames[:6])
        if len(frames) > 6:
            where += ", ..."
        unmasked = "" if all(f.masked for f in frames) else (
            " And a client masks every frame: mask_key=os.urandom(4).")
        if len(data) > size and len(frames) == 1:
            return _say(False, f"{call} made one frame with all {len(data)} bytes; cut the payload into pieces of "
                               f"at most {size} bytes, one frame each.{unmasked}")
        if unmasked:
            return _say(False, f"{call} made [{where}], and not all are masked: a client masks every frame "
                               "(mask_key=os.urandom(4)).")
        big = next((f for f in frames if len(f.payload) > size), None)
        if big is not None:
            by_chars = [text[i:i + size].encode("utf-8") for i in range(0, len(text), size)]
            chars = (" (you cut characters; cut the UTF-8 bytes: é is 2 bytes, ✓ 3)"
                     if [f.payload for f in frames] == by_chars else "")
            return _say(False, f"{call} made [{where}]: a frame carries {len(big.payload)} bytes, more than {size}"
                               f"{chars}.")
        if frames[0].opcode != wire.Opcode.TEXT:
            return _say(False, f"{call} made [{where}]: the first frame says what the message is, TEXT (1).")
        later = [f for f in frames[1:] if f.opcode != wire.Opcode.CONTINUATION]
        if later:
            return _say(False, f"{call} made [{where}]: only the first frame says TEXT; every later one is a "
                               "CONTINUATION (opcode 0), or the peer sees a new message start in the middle.")
        if not frames[-1].fin:
            return _say(False, f"{call} made [{where}]: the last frame must set FIN, or the message never ends.")
        if any(f.fin for f in frames[:-1]):
            return _say(False, f"{call} made [{where}]: only the last frame sets FIN; a FIN before it ends the "
                               "message there.")
        if len(frames) > 1 and len({f.mask_key for f in frames}) == 1:
            return _say(False, f"{call} masked all {len(frames)} frames with the same key {frames[0].mask_key.hex()}; "
                               "a client picks a new random key for every frame (section 5.3): os.urandom(4).")
        try:
            assembler = wire.MessageAssembler()
            message = None
            for f in frames:
                message = assembler.add(f) or message
        except wire.ProtocolError as exc:
            return _say(False, f"{call}: a peer could not join the frames: {exc}")
        if message is None or message.data != data:
            got = message.data if message is not None else b""
            return _say(False, f"{call}: the frames join into {got[:40]!r}, not {data[:40]!r}.")
    return _say(True, "Your frames reassemble into every message, masked, in pieces of the size asked.")


# ---------------------------------------------------------------- 08: an Origin check, a ping interval

#: (Origin header, Host header, whether a WebSocket server should let that page in, what it is).
ORIGIN_CASES = (
    ("http://127.0.0.1:8888", "127.0.0.1:8888", True, "the lab's own page"),
    ("https://chat.example.org", "chat.example.org", True, "a page of the site itself (Host leaves out :443)"),
    ("null", "127.0.0.1:8888", False, "a sandboxed frame or a file:// page"),
    ("http://127.0.0.1:8001", "127.0.0.1:8888", False, "another port of the same host"),
    ("http://localhost:8888", "127.0.0.1:8888", False, "another name for the same machine"),
    ("https://chat.example.org.evil.example", "chat.example.org", False, "a lookalike that starts with the name"),
    ("https://evilchat.example.org", "chat.example.org", False, "a lookalike that ends with the name"),
)


def check_origin_rule(allowed: Any) -> bool:
    """Check ``allowed(origin, host) -> bool``: True only when the page's origin names the very
    host and port the handshake's ``Host`` header does (ORIGIN_CASES)."""
    if allowed is None:
        return _say(False, "No function yet. Define allowed(origin, host) returning True when a page whose "
                           "Origin header is origin may open a WebSocket to the server at host (the Host header).")
    if not callable(allowed):
        return _say(False, "Pass the function itself (allowed), not the result of calling it.")
    answers = []
    for origin, host, _right, _what in ORIGIN_CASES:
        call = f"allowed({origin!r}, {host!r})"
        try:
            out = allowed(origin, host)
        except Exception as exc:  # a learner's bug must end in a hint, not a traceback
            return _say(False, f"{call} raised {type(exc).__name__}: {exc}")
        if asyncio.iscoroutine(out):
            out.close()  # never awaited: closed here so Python does not warn about it
            return _say(False, f"{call} returned a coroutine: allowed is an async function. The check is a "
                               "plain decision on two strings: define it with def, not async def.")
        if out is None:
            return _say(False, f"{call} returned None: did the function forget to return True or False?")
        if not isinstance(out, bool):
            return _say(False, f"{call} returned {type(out).__name__} ({out!r}); return True or False.")
        answers.append(out)
    if all(answers):
        return _say(False, "Your function lets every page in: that is no check. Any site the visitor opens "
                           "could then talk to the server with the visitor's cookies.")
    if not any(answers):
        return _say(False, "Your function refuses every page, the server's own pages too: compare the origin's "
                           "host and port with the Host header (urllib.parse.urlsplit(origin).netloc).")
    for (origin, host, right, what), out in zip(ORIGIN_CASES, answers):
        if out == right:
            continue
        call = f"allowed({origin!r}, {host!r})"
        if right:
            return _say(False, f"{call} is False, but that is {what}: its origin names exactly the host and "
                               "port in Host. Compare urllib.parse.urlsplit(origin).netloc with host.")
        if origin == "null":
            return _say(False, f"{call} is True: 'null' is what {what} sends, and any site can make one (an "
                               "iframe with the sandbox attribute). Refuse it.")
        if "8001" in origin:
            return _say(False, f"{call} is True: the port is part of the origin, and another app on this machine "
                               "(the attacker page of this notebook, on its own port) would get in.")
        if "localhost" in origin:
            return _say(False, f"{call} is True: localhost and 127.0.0.1 reach the same machine, but they are "
                               "different origins and the browser sends the one in the page's address. Compare "
                               "the names exactly (a server that serves both lists one in allowed_origins).")
        return _say(False, f"{call} is True: that is {what}. A test on part of the name (startswith, endswith, "
                           "in) lets it through; compare the whole host:port with Host.")
    return _say(True, "Your check lets in the page of the server's own origin and refuses null, other ports, "
                      "other names for the machine and lookalike domains.")


def check_ping_interval(interval: Any, proxy_timeout: float = 60, late: float = 5) -> bool:
    """Check a ping interval (seconds) for a proxy that cuts a line silent for ``proxy_timeout``
    seconds, when a ping may leave and travel up to ``late`` seconds after it is due."""
    value, problem = _number(interval, "ping_interval")
    if problem:
        return _say(False, problem + " How many seconds between two pings?")
    if value <= 0:
        return _say(False, f"ping_interval = {value:g}: the time between two pings is more than 0 seconds.")
    if value >= proxy_timeout:
        return _say(False, f"With a ping every {value:g} s the line is silent for {value:g} s between pings, and "
                           f"the proxy cuts it after {proxy_timeout:g} s: it never sees the next ping. Stay "
                           "well below the timeout.")
    if value + late >= proxy_timeout:
        return _say(False, f"{value:g} s is below {proxy_timeout:g} s, but a ping due at {value:g} s may reach the "
                           f"proxy up to {late:g} s late (a busy server, a slow link), at {value + late:g} s: the "
                           f"proxy has already cut the line. The interval plus the lateness must stay below "
                           f"{proxy_timeout:g} s.")
    floor = proxy_timeout / 12
    if value < floor:
        return _say(False, f"A ping every {value:g} s keeps the line open, but every ping is a frame each way for "
                           f"every client: 100,000 clients at that rate send {100_000 / value:,.0f} pings (and as "
                           f"many pongs) a second. A {proxy_timeout:g} s timeout needs far fewer: "
                           f"at least {floor:g} s apart is plenty.")
    return _say(True, f"A ping every {value:g} s: even {late:g} s late it comes {proxy_timeout - value - late:g} s "
                      f"before the proxy's {proxy_timeout:g} s run out, and it costs one small frame each way.")


# ---------------------------------------------------------------- solutions

# ---------------------------------------------------------------- 09: machines for a million

def machines_needed(*, users: int, room_size: int, seconds_between_messages: float,
                    frames_per_core_second: float, bytes_per_connection: float, cores: int,
                    ram_bytes: float, busy: float) -> dict[str, float]:
    """The chat projection of notebook 09: frames per second, and the machines the CPU and the
    memory each need (not rounded). Every member of a room gets each message, the sender too."""
    frames = users / seconds_between_messages * room_size
    return {"frames_per_second": frames,
            "cpu": frames / (frames_per_core_second * cores * busy),
            "memory": users * bytes_per_connection / (ram_bytes * busy)}


def check_machines(answer: Any, *, users: int, room_size: int, seconds_between_messages: float,
                   frames_per_core_second: float, bytes_per_connection: float, cores: int,
                   ram_bytes: float, busy: float) -> bool:
    """Machines a chat of ``users`` needs: the larger of the CPU's and the memory's, rounded up."""
    need = machines_needed(users=users, room_size=room_size,
                           seconds_between_messages=seconds_between_messages,
                           frames_per_core_second=frames_per_core_second,
                           bytes_per_connection=bytes_per_connection, cores=cores,
                           ram_bytes=ram_bytes, busy=busy)
    cpu, memory = need["cpu"], need["memory"]
    right = max(1, math.ceil(max(cpu, memory)))
    value, problem = _number(answer, "Machines")
    if value is None:
        return _say(False, problem + " Count the frames per second (each message goes to every "
                                     "member of its room), then the machines the CPU needs and the "
                                     "machines the memory needs; the larger, rounded up.")
    if value == right:
        bound = "CPU" if cpu >= memory else "memory"
        return _say(True, f"{right:,} machines: {need['frames_per_second']:,.0f} frames a second need "
                          f"{cpu:.2f} machines of CPU, {users:,} connections need {memory:.2f} of "
                          f"memory; the {bound} decides.")

    def near(x: float) -> bool:
        return math.isclose(value, x, rel_tol=0.01)

    if value != int(value) and near(max(cpu, memory)):
        return _say(False, f"Right sum, but machines come whole: round {value:g} up.")
    if cpu < memory and (near(cpu) or value == math.ceil(cpu)):
        return _say(False, "That is what the CPU needs; the connections' memory needs more "
                           "machines here: users × bytes per connection ÷ (RAM × the busy share).")
    if memory < cpu and (near(memory) or value == math.ceil(memory)):
        return _say(False, "That is what the memory needs; the frames need more CPU here: "
                           "frames per second ÷ (frames per core-second × cores × the busy share).")
    if near(max(cpu, memory) * busy) or value == math.ceil(max(cpu, memory) * busy):
        return _say(False, f"That plans each machine 100% busy; the budget says at most {busy:.0%}: "
                           "divide by it.")
    if cpu >= memory and (near(cpu / room_size) or value == max(1, math.ceil(max(cpu / room_size, memory)))):
        return _say(False, f"Each message is written to every member of its room: multiply the "
                           f"messages per second by the room size ({room_size}).")
    if cpu >= memory and (near(cpu * (room_size - 1) / room_size)
                          or value == math.ceil(cpu * (room_size - 1) / room_size)):
        return _say(False, "The lab's chat sends each message back to its sender too: "
                           f"{room_size} frames per message, not {room_size - 1}.")
    if near(cpu * cores) or value == math.ceil(cpu * cores):
        return _say(False, f"That counts cores, not machines: a machine has {cores}.")
    return _say(False, f"Not quite: frames per second = {users:,} ÷ {seconds_between_messages:g} s × "
                       f"{room_size}; CPU machines = that ÷ (frames per core-second × {cores} × {busy:g}); "
                       f"memory machines = {users:,} × bytes per connection ÷ (RAM × {busy:g}); "
                       "the larger, rounded up.")


SOLUTIONS = {
    "accept": '''\
import base64, hashlib
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"      # RFC 6455, section 1.3
digest = hashlib.sha1((key + GUID).encode("ascii")).digest()   # 20 raw bytes
answer = base64.b64encode(digest).decode("ascii")             # 28 characters''',
    "upgrade_request": '''\
import base64, os
my_key = base64.b64encode(os.urandom(16))           # a new key for every connection
my_request = (
    b"GET /chat?name=me HTTP/1.1\\r\\n"
    b"Host: 127.0.0.1\\r\\n"
    b"Upgrade: websocket\\r\\n"
    b"Connection: Upgrade\\r\\n"
    b"Sec-WebSocket-Key: " + my_key + b"\\r\\n"
    b"Sec-WebSocket-Version: 13\\r\\n"
    b"\\r\\n"
)''',
    "decode": '''\
data = bytes.fromhex(FRAME_HEX)
fin = data[0] >> 7                      # top bit of byte 0
opcode = data[0] & 0x0F                 # low 4 bits of byte 0
masked = data[1] >> 7                   # top bit of byte 1
payload_length = data[1] & 0x7F         # < 126 here, so no extended length
mask_key = data[2:6]                    # 4 bytes, present because masked == 1
payload = bytes(b ^ mask_key[i % 4] for i, b in enumerate(data[6:6 + payload_length]))
answer = {"fin": fin, "opcode": opcode, "masked": masked, "payload_length": payload_length,
          "mask_key": mask_key, "text": payload.decode("utf-8")}''',
    "unmask": '''\
def unmask(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))''',
    "framing": '''\
# 200 bytes do not fit in 7 bits (at most 125): 126, then a 2-byte length
framing = {"client": 10 * (2 + 2 + 4),   # + 4: every client frame carries its masking key
           "server": 10 * (2 + 2)}       # servers do not mask''',
    "close_codes": '''\
predicted = {
    "a Close with code 1000 and a reason": 1000,   # answered with the same code
    "a Close with code 4000": 4000,                # an application's code is echoed too
    "an empty Close": 1005,                        # no code in, no code out: APIs say 1005
    "an unmasked text frame": 1002,                # clients must mask: protocol error
    "a text frame that is not UTF-8": 1007,        # well framed, bad data
    "a ping of 126 bytes": 1002,                   # control frames carry at most 125 bytes
    "a binary frame that announces 2 MiB": 1009,   # above the server's limit: too big
}''',
    "payback": '''\
import math
stats = push.connections[0].summary()                 # the whole WebSocket connection, handshake included
handshake = stats.client.http_head_bytes + stats.server.http_head_bytes
saved = short.overhead_bytes_per_update - push.overhead_bytes_per_update   # per update
updates = math.ceil(handshake / saved)                # the first whole update where the WebSocket is ahead''',
    "escape": '''\
import html

def render(name, text):
    # html.escape also escapes quotes, which the attribute needs
    return f'<li data-name="{html.escape(name)}"><b>{html.escape(name)}</b>: {html.escape(text)}</li>'
''',
    "fragment": '''\
import os

def fragment(text, size):
    data = text.encode("utf-8")                       # cut bytes, not characters
    pieces = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
    frames = []
    for i, piece in enumerate(pieces):
        opcode = wire.Opcode.TEXT if i == 0 else wire.Opcode.CONTINUATION
        frames.append(wire.encode_frame(opcode, piece, fin=i == len(pieces) - 1,
                                        mask_key=os.urandom(4)))   # a new key per frame
    return b"".join(frames)''',
    "bandwidth": '''\
# clients × bytes per poll × polls a second × 8 bits, in megabits of 2^20 bits
mbps = 1_000 * 871 * 1 * 8 / 2**20      # about 6.65, the table's 6.6''',
    "busy_feed": '''\
# clients × bytes per update (every byte, measured) × updates a second × 8 bits, in megabits of 10^6 bits
mbps = 10_000 * ws.bytes_per_update * 10 * 8 / 10**6''',
    "origin": '''\
from urllib.parse import urlsplit

def allowed(origin, host):
    if origin == "null":                 # a sandboxed frame or a file:// page: never trusted
        return False
    # the whole host:port, exactly: no startswith/endswith, so no lookalike gets through
    return urlsplit(origin).netloc.lower() == host.lower()''',
    "ping_interval": '''\
# below 60 - 5 = 55 s with room to spare: a late ping still beats the proxy's timeout
ping_every = 25''',
    "machines": '''\
import math
frames_per_second = 1_000_000 / 30 * 20           # each message goes to its whole room, the sender too
cpu = frames_per_second / (direct_rate * 4 * 0.7)        # machines the CPU needs, 70% busy
memory = 1_000_000 * direct_per_conn / (8 * 2**30 * 0.7) # machines the memory needs, 70% full
machines = max(1, math.ceil(max(cpu, memory)))           # the larger decides; machines come whole''',
}


def solution(name: str) -> None:
    """Print the worked solution of exercise ``name`` (see ``SOLUTIONS``)."""
    if name not in SOLUTIONS:
        print(f"No solution called {name!r}; there are: {', '.join(sorted(SOLUTIONS))}.")
        return
    print(SOLUTIONS[name])


__all__ = [
    "check_environment", "check_framing",                                  # 00
    "check_bandwidth",                                                     # 01 and 06
    "check_accept", "check_upgrade_request",                               # 02
    "check_frame_fields", "check_unmask", "check_close_codes",             # 03
    "check_payback",                                                       # 04
    "check_escape",                                                        # 05
    "check_fragmenter",                                                    # 07
    "check_origin_rule", "check_ping_interval",                            # 08
    "check_machines", "machines_needed",                                   # 09
    "solution", "SOLUTIONS", "FIELDS", "BROKEN_FRAMES", "CHAT_LINE", "ORIGIN_CASES", "payback",
]
