"""Checks for the course's "On your own" exercises.

Every ``check_*`` function prints ✓ when the answer is right, or a hint that names
what is wrong ("you forgot the GUID", "that is the hex digest ..."), and returns
True or False. A wrong answer never raises: a learner should read a hint, not a
traceback. The right answers are computed by ``wsdemo.wire``, never typed in here.

``solution(name)`` prints a worked solution when you want to compare or are stuck.

    >>> from wsdemo import exercises
    >>> exercises.check_accept(None, "dGhlIHNhbXBsZSBub25jZQ==")   # doctest: +ELLIPSIS
    ✗ No answer yet...
    False
"""

from __future__ import annotations

import base64
import hashlib
import math
from typing import Any, Callable

from . import wire

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


def check_upgrade_request(raw: Any, host: str | None = None) -> bool:
    """Would a server accept ``raw`` (the bytes of an HTTP head) as a WebSocket Upgrade?

    The rules are the wire layer's ``check_handshake`` (RFC 6455 section 4.1).
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


def check_header_sizes(answer: Any, masked: bool = True) -> bool:
    """``answer`` maps payload lengths to the frame header size in bytes (FIN byte up to the key)."""
    who = "client" if masked else "server"
    if not isinstance(answer, dict) or not answer:
        return _say(False, "Fill in a dict {payload_length: header_bytes}.")
    if all(v is None for v in answer.values()):
        return _say(False, f"Nothing filled in yet. Every header has 2 bytes; add the extended length "
                           f"(0, 2 or 8 bytes){' and the 4-byte masking key' if masked else ''}.")
    all_ok = True
    for n, given in answer.items():
        frame = wire.encode_frame(wire.Opcode.BINARY, bytes(n), mask_key=b"\0\0\0\0" if masked else None)
        right = len(frame) - n
        if given == right and not isinstance(given, bool):
            _say(True, f"{n}-byte payload from the {who}: {right} header bytes")
            continue
        all_ok = False
        extra = 0 if n <= 125 else 2 if n <= 0xFFFF else 8
        if given == right + n:
            hint = "count only the header, not the payload."
        elif masked and given == right - 4:
            hint = "a client frame also carries the 4-byte masking key."
        elif not masked and given == right + 4:
            hint = "a server frame is not masked: no 4-byte key."
        elif isinstance(given, int) and given - (4 if masked else 0) - 2 in (0, 2, 8):
            got_extra = given - (4 if masked else 0) - 2
            hint = (f"{n} bytes need a {extra}-byte extended length, not {got_extra}: "
                    "0-125 fit in the 7 bits, 126-65535 take 2 more bytes, larger ones 8.")
        else:
            hint = f"2 bytes, + {extra} for the extended length" + (", + 4 for the key." if masked else ".")
        _say(False, f"{n}-byte payload from the {who}: {given!r}? {hint}")
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


# ---------------------------------------------------------------- solutions

SOLUTIONS = {
    "accept": '''\
import base64, hashlib
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"      # RFC 6455, section 1.3
digest = hashlib.sha1((key + GUID).encode("ascii")).digest()   # 20 raw bytes
answer = base64.b64encode(digest).decode("ascii")             # 28 characters''',
    "upgrade_request": '''\
my_request = (
    b"GET /echo HTTP/1.1\\r\\n"
    b"Host: 127.0.0.1\\r\\n"
    b"Upgrade: websocket\\r\\n"
    b"Connection: Upgrade\\r\\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\n"   # any base64 of 16 bytes
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
    "header_sizes": '''\
# 2 bytes always; + 2 (126..65535) or + 8 (larger) for the extended length; + 4 if masked
header_sizes = {125: 2 + 0 + 4, 126: 2 + 2 + 4, 65_536: 2 + 8 + 4}''',
    "bandwidth": '''\
# clients × bytes per poll × polls a second × 8 bits, in megabits of 2^20 bits
mbps = 1_000 * 871 * 1 * 8 / 2**20      # about 6.65, the table's 6.6''',
    "busy_feed": '''\
# clients × bytes per update (every byte, measured) × updates a second × 8 bits, in megabits of 10^6 bits
mbps = 10_000 * ws.bytes_per_update * 10 * 8 / 10**6''',
}


def solution(name: str) -> None:
    """Print the worked solution of exercise ``name`` (see ``SOLUTIONS``)."""
    if name not in SOLUTIONS:
        print(f"No solution called {name!r}; there are: {', '.join(sorted(SOLUTIONS))}.")
        return
    print(SOLUTIONS[name])


__all__ = ["check_environment", "check_accept", "check_upgrade_request", "check_frame_fields", "check_unmask",
           "check_header_sizes", "check_bandwidth", "solution", "SOLUTIONS", "FIELDS"]


# ================================================================ notebooks 04-07
# (appended by the author of notebooks 04-07; the functions above are left as they are)

_DATA_OPCODES = (wire.Opcode.TEXT, wire.Opcode.BINARY, wire.Opcode.CONTINUATION)


def _frame_senders(connection: Any, data_only: bool = True) -> list[str]:
    return [e.sender for e in list(getattr(connection, "events", ()))
            if isinstance(e, wire.FrameEvent) and (not data_only or e.frame.opcode in _DATA_OPCODES)]


def _changes(senders: list[str]) -> int:
    return sum(1 for a, b in zip(senders, senders[1:]) if a != b)


# ---------------------------------------------------------------- 04: both ways at once

def check_direction_changes(answer: Any, connection: Any) -> bool:
    """How many times does the sender change from one data frame to the next on ``connection``?

    ``connection`` is a tap Connection (``client.connection``). Data frames are text,
    binary and continuation frames; the close handshake and pings do not count.
    """
    if connection is None or not hasattr(connection, "events"):
        return _say(False, "Pass the tap's record of the connection: client.connection.")
    flush = getattr(connection, "flush", None)
    if callable(flush):
        flush()  # decode what the tap has noted but not decoded yet
    senders = _frame_senders(connection)
    right = _changes(senders)
    if answer is None:
        return _say(False, "No answer yet. Keep the FrameEvents of connection.events whose frame is text or "
                           "binary, list their .sender in order, and count the places where it differs from "
                           "the one before.")
    if not isinstance(answer, int) or isinstance(answer, bool):
        return _say(False, f"Give a whole number of changes, not {type(answer).__name__}.")
    if answer == right:
        return _say(True, f"{right} changes of direction in {len(senders)} data frames: neither side waited "
                          "for the other to finish.")
    everything = _frame_senders(connection, data_only=False)
    if answer == len(senders) and len(senders) != right:
        return _say(False, f"{answer} is the number of data frames; count only the places where the sender "
                           "changes from one frame to the next.")
    if answer == right + 1 and senders:
        return _say(False, f"{answer} counts the runs (blocks of frames from one side); the changes between "
                           "them are one fewer.")
    if answer == _changes(everything) and everything != senders:
        return _say(False, "You counted control frames too (the close handshake, pings): keep only text and "
                           "binary frames.")
    if answer == len(everything):
        return _say(False, "That is the number of all frames; count changes of sender between data frames.")
    return _say(False, f"Not {answer}. List the senders of the data frames in order (there are {len(senders)}) "
                       "and count each place where one differs from the one before it.")


# ---------------------------------------------------------------- 05: show chat text safely

_HOSTILE = [
    ("<b>Mallory</b>", "<img src=x onerror=alert(1)>"),
    ("Tom & Jerry", "5 > 3 && 2 < 4"),
    ("O'Brien", 'say "hi" <script>alert("x")</script>'),
    ("Ada", "plain text stays plain"),
]


def check_escape(render: Any) -> bool:
    """Check ``render(name, text) -> str``: one chat line as HTML that shows the name and
    the text exactly as sent, as text, whatever they contain."""
    import html as _html

    if render is None:
        return _say(False, "No function yet. Define render(name, text) returning an HTML string such as "
                           "'<b>NAME</b>: TEXT', with NAME and TEXT escaped.")
    if not callable(render):
        return _say(False, "Pass the function itself (render), not the result of calling it.")
    for name, text in _HOSTILE:
        try:
            out = render(name, text)
        except Exception as exc:  # a learner's bug must end in a hint, not a traceback
            return _say(False, f"render({name!r}, {text!r}) raised {type(exc).__name__}: {exc}")
        if not isinstance(out, str):
            return _say(False, f"Return a str of HTML, not {type(out).__name__}.")
        for value in (name, text):
            esc = _html.escape(value)
            if "<" in value and value in out:
                return _say(False, f"{value!r} went into the HTML as it is: a browser would run it as markup. "
                                   "Escape it with html.escape(value).")
            if _html.escape(esc) in out and esc != value:
                return _say(False, f"{value!r} was escaped twice (&amp;lt; ...): the reader would see the "
                                   "entities instead of the text. Escape once.")
            if esc not in out and _html.escape(value, quote=False) not in out:
                if _html.unescape(out).find(value) < 0:
                    return _say(False, f"The line for {value!r} does not show it as sent: escape the characters "
                                       "< > & (and quotes), do not delete or replace them.")
        if "<script" in out.lower() or "<img" in out.lower():
            return _say(False, "A tag from the chat text is still live in the HTML: escape every value you insert.")
    return _say(True, "Every name and message is shown as sent, and none of it can run as HTML.")


# ---------------------------------------------------------------- 07: a server answers a ping

def check_pong(reply: Any) -> bool:
    """Check ``reply(frame) -> bytes``: the frame a server sends back for a client's ping
    (RFC 6455 section 5.5.3: a pong with the same application data, unmasked)."""
    if reply is None:
        return _say(False, "No function yet. Define reply(frame) returning the bytes of a PONG frame that "
                           "carries frame.payload: wire.encode_frame(...).")
    if not callable(reply):
        return _say(False, "Pass the function itself (reply), not the result of calling it.")
    key = bytes.fromhex("a1b2c3d4")
    for data in (b"", b"are you there?", bytes(range(100))):
        ping = wire.FrameDecoder().feed(wire.encode_frame(wire.Opcode.PING, data, mask_key=key))[0]
        try:
            out = reply(ping)
        except Exception as exc:
            return _say(False, f"reply() raised {type(exc).__name__} for a ping with {len(data)} bytes: {exc}")
        if isinstance(out, wire.Frame):
            return _say(False, "Return the bytes to write on the socket (wire.encode_frame returns them), "
                               "not a Frame object.")
        if not isinstance(out, (bytes, bytearray)):
            return _say(False, f"Return bytes, not {type(out).__name__}.")
        try:
            frames = wire.FrameDecoder().feed(bytes(out))
        except wire.ProtocolError as exc:
            return _say(False, f"Those bytes are not a valid frame: {exc}")
        if len(frames) != 1 or sum(len(f.raw) for f in frames) != len(out):
            return _say(False, "Return exactly one whole frame.")
        f = frames[0]
        if f.opcode == wire.Opcode.PING:
            return _say(False, "That is a ping again; the answer's opcode is PONG (0xA).")
        if f.opcode != wire.Opcode.PONG:
            return _say(False, f"The opcode is {wire.Opcode(f.opcode).name if f.opcode in wire.Opcode._value2member_map_ else f.opcode}; "
                               "a ping is answered with PONG (0xA).")
        if f.masked:
            return _say(False, "A server never masks its frames (RFC 6455 section 5.1): leave mask_key out.")
        if f.payload != data:
            return _say(False, f"A pong carries the ping's data unchanged: expected {data[:20]!r}"
                               f"{'…' if len(data) > 20 else ''}, got {f.payload[:20]!r}. Use frame.payload "
                               "(already unmasked), not frame.wire_payload.")
        if not f.fin:
            return _say(False, "Control frames are never fragmented: FIN must be set.")
    return _say(True, "Your server answers every ping with a matching, unmasked pong.")


SOLUTIONS.update({
    "direction_changes": '''\
senders = [e.sender for e in conn.events
           if isinstance(e, wire.FrameEvent) and e.frame.opcode in (wire.Opcode.TEXT, wire.Opcode.BINARY)]
changes = sum(1 for a, b in zip(senders, senders[1:]) if a != b)''',
    "escape": '''\
import html

def render(name, text):
    return f"<b>{html.escape(name)}</b>: {html.escape(text)}"''',
    "pong": '''\
def reply(frame):
    return wire.encode_frame(wire.Opcode.PONG, frame.payload)   # no mask_key: servers never mask''',
})

__all__ += ["check_direction_changes", "check_escape", "check_pong"]
