"""HTTP/1.1 heads and the WebSocket opening handshake (RFC 6455 section 4, RFC 9112).

``parse_request`` / ``parse_response`` read one head; ``compute_accept`` and
``explain_accept`` do the Sec-WebSocket-Accept computation (section 4.2.2 item 5.4);
``check_handshake`` lists every section 4 rule a request/response pair breaks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Literal, NamedTuple, overload

from .errors import ErrorKind, HandshakeError

#: The GUID every server appends to the client's key (RFC 6455 section 1.3).
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: Largest HTTP head accepted by default. Jupyter cookies through a proxy can be a few KiB.
DEFAULT_MAX_HEAD = 64 * 1024

_TOKEN_RE = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"  # an HTTP token (RFC 9110 section 5.6.2)
_TOKEN = re.compile(_TOKEN_RE + r"\Z")
_VERSION = re.compile(r"HTTP/[0-9]\.[0-9]\Z")
# RFC 9112 section 2.2 lets a recipient accept a bare LF as a line end; real clients send CRLF.
_HEAD_END = re.compile(rb"\r?\n\r?\n")
# RFC 9112 section 2.2: a server SHOULD ignore at least one empty line before the request-line
# (old clients send a CRLF after a POST body). Only requests get this leniency.
_LEADING_EMPTY = re.compile(rb"(?:\r?\n)*")
_BAD_VALUE_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class Headers:
    """Ordered, case-insensitive multi-map of header fields that keeps the original casing.

    Iterating yields ``(name, value)`` pairs exactly as sent; ``get`` returns the first value.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] | dict[str, str] | Headers = ()):
        if isinstance(items, dict):
            items = items.items()
        self._items: list[tuple[str, str]] = [(str(n), str(v)) for n, v in items]

    def get(self, name: str, default: str | None = None) -> str | None:
        low = name.lower()
        for n, v in self._items:
            if n.lower() == low:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        low = name.lower()
        return [v for n, v in self._items if n.lower() == low]

    def tokens(self, name: str) -> list[str]:
        """Comma-separated tokens of every ``name`` field, lower-cased (``Connection: keep-alive, Upgrade``)."""
        return [t.strip().lower() for v in self.get_all(name) for t in v.split(",") if t.strip()]

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        low = name.lower()
        return any(n.lower() == low for n, _ in self._items)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._items == other._items
        return NotImplemented

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def encode(self) -> bytes:
        return "".join(f"{n}: {v}\r\n" for n, v in self._items).encode("latin-1")


def _is_upgrade(headers: Headers) -> bool:
    return "upgrade" in headers.tokens("Connection") and "websocket" in headers.tokens("Upgrade")


@dataclass
class Request:
    """An HTTP request head (and its body, on plain HTTP connections)."""

    method: str
    target: str
    version: str
    headers: Headers
    raw: bytes = field(repr=False)  #: the head exactly as sent, blank line included
    body: bytes = field(default=b"", repr=False)
    #: bytes the body took on the wire (chunk framing included); None means ``len(body)``
    wire_body_size: int | None = field(default=None, repr=False, compare=False)

    @property
    def is_websocket_upgrade(self) -> bool:
        return _is_upgrade(self.headers)

    @property
    def body_wire_size(self) -> int:
        return len(self.body) if self.wire_body_size is None else self.wire_body_size

    def serialize(self) -> bytes:
        """The head rebuilt from the fields (equals ``raw`` for a canonical CRLF head)."""
        return f"{self.method} {self.target} {self.version}\r\n".encode("latin-1") + self.headers.encode() + b"\r\n"

    def __str__(self) -> str:
        return f"{self.method} {self.target} {self.version} ({len(self.headers)} headers)"


@dataclass
class Response:
    """An HTTP response head (and its body, on plain HTTP connections)."""

    status: int
    reason: str
    version: str
    headers: Headers
    raw: bytes = field(repr=False)
    body: bytes = field(default=b"", repr=False)
    wire_body_size: int | None = field(default=None, repr=False, compare=False)

    @property
    def is_websocket_upgrade(self) -> bool:
        return self.status == 101 and _is_upgrade(self.headers)

    @property
    def body_wire_size(self) -> int:
        return len(self.body) if self.wire_body_size is None else self.wire_body_size

    def serialize(self) -> bytes:
        reason = f" {self.reason}" if self.reason else " "
        return f"{self.version} {self.status}{reason}\r\n".encode("latin-1") + self.headers.encode() + b"\r\n"

    def __str__(self) -> str:
        return f"{self.version} {self.status} {self.reason} ({len(self.headers)} headers)"


def leading_empty_lines(data: bytes | bytearray, start: int = 0, end: int | None = None) -> int:
    """How many bytes of empty lines (CRLF or LF) start ``data[start:end]``."""
    m = _LEADING_EMPTY.match(data, start, len(data) if end is None else end)
    return (m.end() if m else start) - start  # the pattern matches empty text too: m is never None


def find_head_end(data: bytes | bytearray, start: int = 0, end: int | None = None) -> int:
    """Index just past the empty line that ends a head starting at ``start``, or -1."""
    m = _HEAD_END.search(data, start, len(data) if end is None else end)
    return -1 if m is None else m.end()


def _split_lines(head: str) -> list[tuple[int, str]]:
    """(offset of line, line without its line end), stopping at the empty line."""
    lines = []
    pos = 0
    while True:
        nl = head.find("\n", pos)
        if nl < 0:
            break
        line = head[pos:nl]
        if line.endswith("\r"):
            line = line[:-1]
        if not line:
            break
        lines.append((pos, line))
        pos = nl + 1
    return lines


_TOKEN_BYTES = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def check_start(data: bytes | bytearray, *, response: bool, offset: int = 0) -> None:
    """Raise HandshakeError as soon as the first bytes of a head can no longer become HTTP/1.x.

    Lets a decoder name a TLS ClientHello or binary garbage on its first bytes instead of
    waiting for a blank line that will never come."""
    if not data or (data[0] == 0x16 and len(data) < 2):
        return  # a lone 0x16 may still be the start of a TLS record: wait for the next byte
    if data[0] == 0x16 and data[1] == 0x03:
        raise HandshakeError(
            "this looks like a TLS handshake (byte 0x16, then version 0x03): the peer speaks https/wss "
            "to a plain HTTP port", offset, kind=ErrorKind.TLS_ON_PLAIN)
    if response:
        prefix = bytes(data[:5])
        if not b"HTTP/".startswith(prefix):
            # show up to the first wrong byte, so the message does not depend on how bytes were cut
            bad = next(i for i, (x, y) in enumerate(zip(prefix, b"HTTP/")) if x != y)
            raise HandshakeError(f"a response must start with 'HTTP/', got {prefix[:bad + 1]!r}", offset, kind=ErrorKind.NOT_HTTP)
        return
    for i, byte in enumerate(data[:32]):
        if byte == 0x20 and i:
            return
        if byte not in _TOKEN_BYTES:
            raise HandshakeError(
                f"byte {offset + i}: {bytes([byte])!r} cannot be part of an HTTP method; "
                "a request must start with a method such as GET", offset + i, kind=ErrorKind.NOT_HTTP)
    if len(data) > 32:
        raise HandshakeError("the request line has no space within 32 bytes: not an HTTP method", offset, kind=ErrorKind.NOT_HTTP)


@overload
def parse_head(head: bytes, *, response: Literal[False], offset: int = 0) -> Request: ...
@overload
def parse_head(head: bytes, *, response: Literal[True], offset: int = 0) -> Response: ...
@overload
def parse_head(head: bytes, *, response: bool, offset: int = 0) -> Request | Response: ...


def parse_head(head: bytes, *, response: bool, offset: int = 0) -> Request | Response:
    """Parse one complete head (``head`` ends with the empty line). ``offset`` is where it
    starts in its stream, for error positions. Returns a Request or Response."""
    text = head.decode("latin-1")
    what = "response" if response else "request"
    lead = leading_empty_lines(head)
    if lead:
        if response:
            raise HandshakeError("the response starts with an empty line: the status line 'HTTP/1.1 ...' "
                                 "must come first (RFC 9112 section 4)", offset, kind=ErrorKind.BAD_START_LINE)
        # skipped, yet kept in ``raw`` so byte counts stay true
        text = text[lead:]
        offset += lead
    lines = _split_lines(text)
    if not lines:
        raise HandshakeError(f"empty HTTP {what}: the head has no start line", offset, kind=ErrorKind.BAD_START_LINE)
    start_at, start = lines[0]
    items: list[tuple[str, str]] = []
    for number, (at, line) in enumerate(lines[1:], start=2):
        where = f"line {number} (byte {offset + at})"
        if line[0] in " \t":
            raise HandshakeError(
                f"{where}: obsolete line folding (a header line starting with whitespace) is not allowed "
                f"(RFC 9112 section 5.2): {line!r}", offset + at, kind=ErrorKind.BAD_HEADER)
        name, sep, value = line.partition(":")
        if not sep:
            raise HandshakeError(f"{where}: header line has no ':' between name and value: {line!r}", offset + at, kind=ErrorKind.BAD_HEADER)
        if not _TOKEN.match(name):
            hint = " (no whitespace is allowed before the ':', RFC 9112 section 5.1)" if name != name.rstrip() else ""
            raise HandshakeError(f"{where}: {name!r} is not a valid header name{hint}", offset + at, kind=ErrorKind.BAD_HEADER)
        bad = _BAD_VALUE_CHARS.search(line, len(name) + 1)
        if bad:
            raise HandshakeError(
                f"{where}: header {name!r} has a control character {bad.group()!r} in its value",
                offset + at + bad.start(), kind=ErrorKind.BAD_HEADER)
        value = value.strip(" \t")
        items.append((name, value))
    headers = Headers(items)
    where = f"line 1 (byte {offset + start_at})"
    if response:
        parts = start.split(" ", 2)
        if len(parts) < 2 or not _VERSION.match(parts[0]):
            raise HandshakeError(
                f"{where}: status line must be 'HTTP/1.1 STATUS REASON', got {start[:80]!r}", offset + start_at, kind=ErrorKind.BAD_START_LINE)
        if len(parts[1]) != 3 or not (parts[1].isascii() and parts[1].isdigit()):
            raise HandshakeError(f"{where}: status code must be 3 digits, got {parts[1][:20]!r}",
                                 offset + start_at + len(parts[0]) + 1, kind=ErrorKind.BAD_START_LINE)
        return Response(int(parts[1]), parts[2] if len(parts) > 2 else "", parts[0], headers, bytes(head))
    parts = start.split(" ")
    if len(parts) != 3:
        raise HandshakeError(
            f"{where}: request line must be 'METHOD TARGET HTTP/1.1' (3 parts separated by single spaces), "
            f"got {start[:80]!r}", offset + start_at, kind=ErrorKind.BAD_START_LINE)
    method, target, version = parts
    if not _TOKEN.match(method):
        raise HandshakeError(f"{where}: {method[:20]!r} is not a valid method", offset + start_at, kind=ErrorKind.BAD_START_LINE)
    if not _VERSION.match(version):
        raise HandshakeError(f"{where}: {version[:20]!r} is not an HTTP version like 'HTTP/1.1'",
                             offset + start_at + len(method) + len(target) + 2, kind=ErrorKind.BAD_START_LINE)
    if not target:
        raise HandshakeError(f"{where}: empty request target", offset + start_at + len(method) + 1, kind=ErrorKind.BAD_START_LINE)
    return Request(method, target, version, headers, bytes(head))


@overload
def _parse(data: bytes | bytearray | str, max_size: int, response: Literal[False]) -> Request: ...
@overload
def _parse(data: bytes | bytearray | str, max_size: int, response: Literal[True]) -> Response: ...


def _parse(data: bytes | bytearray | str, max_size: int, response: bool) -> Request | Response:
    if isinstance(data, str):
        data = data.encode("latin-1", "replace")
    data = bytes(data)
    what = "response" if response else "request"
    lead = 0 if response else leading_empty_lines(data)
    end = find_head_end(data, lead, min(len(data), max_size + 4))
    if end < 0 or end > max_size:
        if len(data) > max_size:
            raise HandshakeError(f"HTTP {what} head is larger than the limit of {max_size} bytes", max_size,
                                 kind=ErrorKind.HEAD_TOO_LARGE)
        raise HandshakeError(
            f"incomplete HTTP {what} head: no empty line (CRLF CRLF) ends it within {len(data)} bytes", len(data), kind=ErrorKind.TRUNCATED)
    msg = parse_head(data[:end], response=response)
    # Bytes after the head are kept as the body: the caller gave them, nothing is dropped.
    msg.body = data[end:]
    return msg


def parse_request(data: bytes | bytearray | str, *, max_size: int = DEFAULT_MAX_HEAD) -> Request:
    """Parse an HTTP request head; raises :class:`HandshakeError` saying what and where."""
    return _parse(data, max_size, False)


def parse_response(data: bytes | bytearray | str, *, max_size: int = DEFAULT_MAX_HEAD) -> Response:
    """Parse an HTTP response head; raises :class:`HandshakeError` saying what and where."""
    return _parse(data, max_size, True)


# -- Sec-WebSocket-Accept ----------------------------------------------------------------------

def compute_accept(key: str | bytes) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)) (section 4.2.2)."""
    if isinstance(key, bytes):
        key = key.decode("latin-1")
    digest = hashlib.sha1((key.strip() + GUID).encode("latin-1", "replace")).digest()
    return base64.b64encode(digest).decode("ascii")


class AcceptStep(NamedTuple):
    name: str
    value: str


def explain_accept(key: str | bytes) -> list[AcceptStep]:
    """The accept computation as named steps: key, key + GUID, SHA-1 (hex), base64."""
    if isinstance(key, bytes):
        key = key.decode("latin-1")
    key = key.strip()
    joined = key + GUID
    digest = hashlib.sha1(joined.encode("latin-1", "replace")).digest()
    return [
        AcceptStep("key", key),
        AcceptStep("key + GUID", joined),
        AcceptStep("SHA-1 (hex)", digest.hex()),
        AcceptStep("base64", base64.b64encode(digest).decode("ascii")),
    ]


# -- subprotocols (sections 1.9, 4.1, 4.2.2) -------------------------------------------------------

def subprotocol_problem(name: object) -> str | None:
    """Why ``name`` cannot be a subprotocol name, or None if it can.

    Section 4.1: each one is a non-empty string of characters U+0021 to U+007E without the
    HTTP separators (an RFC 2616 token), so it fits in the comma-separated header intact."""
    if not isinstance(name, str):
        return f"a subprotocol name is a string, not {type(name).__name__}"
    if not _TOKEN.match(name):
        return (f"subprotocol name {name!r} is not a token: non-empty, characters U+0021..U+007E, "
                "no separators such as , ; / = or spaces (RFC 6455 section 4.1)")
    return None


def offered_subprotocols(headers: Headers) -> list[str]:
    """The subprotocols a request offers, in the client's order of preference (section 4.1)."""
    return [t.strip() for v in headers.get_all("Sec-WebSocket-Protocol") for t in v.split(",") if t.strip()]


def select_subprotocol(offered: Iterable[str], spoken: Iterable[str]) -> str | None:
    """The first offer the server speaks, in the client's order (its order of preference,
    section 4.1); None when it speaks none of them. Never a name that was not offered
    (section 4.2.2 /subprotocol/). Names are compared exactly, as browsers do."""
    speaks = set(spoken)
    return next((name for name in offered if name in speaks), None)


# -- check_handshake ---------------------------------------------------------------------------

class Problem(str):
    """One broken rule: a readable string that also carries ``.rule`` and ``.section``."""

    rule: str
    section: str

    def __new__(cls, rule: str, section: str, detail: str) -> "Problem":
        self = super().__new__(cls, f"{rule} (RFC 6455 section {section}): {detail}")
        self.rule = rule
        self.section = section
        return self


def _key_problem(key: str | None) -> str | None:
    if key is None:
        return "the request has no Sec-WebSocket-Key header"
    try:
        raw = base64.b64decode(key.strip(), validate=True)
    except (binascii.Error, ValueError):
        return f"Sec-WebSocket-Key {key!r} is not valid base64"
    if len(raw) != 16:
        return f"Sec-WebSocket-Key {key!r} decodes to {len(raw)} bytes, not 16"
    return None


def check_handshake(request: Request, response: Response | None = None) -> list[Problem]:
    """Every RFC 6455 section 4 rule the request (and response, if given) breaks; [] if none."""
    problems: list[Problem] = []

    def add(rule: str, section: str, detail: str) -> None:
        problems.append(Problem(rule, section, detail))

    h = request.headers
    if request.method != "GET":
        add("the method must be GET", "4.1", f"the request uses {request.method}")
    if request.version != "HTTP/1.1":
        add("the request must be HTTP/1.1 or later", "4.1", f"the request line says {request.version}")
    if "Host" not in h:
        add("the request must carry a Host header", "4.1", "no Host header")
    if "websocket" not in h.tokens("Upgrade"):
        add("Upgrade must be 'websocket'", "4.1",
            f"Upgrade is {h.get('Upgrade')!r}" if "Upgrade" in h else "no Upgrade header")
    if "upgrade" not in h.tokens("Connection"):
        add("Connection must contain the token 'Upgrade'", "4.1",
            f"Connection is {h.get('Connection')!r}" if "Connection" in h else "no Connection header")
    key = h.get("Sec-WebSocket-Key")
    detail = _key_problem(key)
    if detail:
        add("Sec-WebSocket-Key must be base64 of 16 random bytes", "4.1", detail)
    if h.get_all("Sec-WebSocket-Version") != ["13"]:
        got = h.get_all("Sec-WebSocket-Version")
        add("Sec-WebSocket-Version must be 13", "4.1", f"the request sends {got!r}" if got else "no Sec-WebSocket-Version header")
    if response is None:
        return problems

    r = response.headers
    if response.status != 101:
        add("the server must answer 101 Switching Protocols", "4.2.2",
            f"status is {response.status} {response.reason}".rstrip())
        return problems  # the other response rules only apply to a 101
    if "websocket" not in r.tokens("Upgrade"):
        add("the response's Upgrade must be 'websocket'", "4.1",
            f"Upgrade is {r.get('Upgrade')!r}" if "Upgrade" in r else "no Upgrade header in the response")
    if "upgrade" not in r.tokens("Connection"):
        add("the response's Connection must contain 'Upgrade'", "4.1",
            f"Connection is {r.get('Connection')!r}" if "Connection" in r else "no Connection header in the response")
    accept = r.get("Sec-WebSocket-Accept")
    if key is not None:
        expected = compute_accept(key)
        if accept is None:
            add("Sec-WebSocket-Accept must match the key", "4.2.2", f"no Sec-WebSocket-Accept header (expected {expected})")
        elif accept.strip() != expected:
            add("Sec-WebSocket-Accept must match the key", "4.2.2", f"got {accept!r}, expected {expected!r}")
    try:
        offered = {name for name, _ in parse_extensions(h.get_all("Sec-WebSocket-Extensions"))}
        accepted = [name for name, _ in parse_extensions(r.get_all("Sec-WebSocket-Extensions"))]
    except HandshakeError as e:
        add("Sec-WebSocket-Extensions must be well formed", "9.1", str(e))
    else:
        for name in accepted:
            if name not in offered:
                add("the server may only accept extensions the client offered", "4.1",
                    f"the response accepts {name!r}, which the request did not offer")
    selected = [t.strip() for v in r.get_all("Sec-WebSocket-Protocol") for t in v.split(",")]
    if len(selected) > 1:
        add("the server selects at most one subprotocol", "4.2.2",
            f"the response names {len(selected)}: {', '.join(selected)}")
    protocol = r.get("Sec-WebSocket-Protocol")
    if protocol is not None and len(selected) == 1:
        # compared exactly: the server must pick one "present in the client's handshake" (section 4.1);
        # browsers match case-sensitively and RFC 7936 makes only the IANA registry case-insensitive
        offered_p = offered_subprotocols(h)
        if protocol.strip() not in offered_p:
            add("the server may only select a subprotocol the client offered", "4.1",
                f"the response selects {protocol!r}; the request offered {offered_p or 'none'}")
    return problems


# Sec-WebSocket-Extensions syntax (RFC 6455 section 9.1); permessage-deflate reads its offer with it.
_PARAM = re.compile(rf"\s*({_TOKEN_RE})\s*(?:=\s*({_TOKEN_RE}|\"(?:[^\"\\]|\\.)*\"))?\s*")


def parse_extensions(values: list[str] | str | None) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Parse Sec-WebSocket-Extensions values into ``[(name, [(param, value|None), ...]), ...]``
    (RFC 6455 section 9.1). Raises HandshakeError saying where the syntax breaks."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out = []
    for value in values:
        for ext in _split(value, ","):
            if not ext.strip():
                continue
            items = _split(ext, ";")
            name = items[0].strip()
            if not _TOKEN.match(name):
                raise HandshakeError(f"Sec-WebSocket-Extensions: {name!r} is not a valid extension name", kind=ErrorKind.BAD_EXTENSION)
            params = []
            for item in items[1:]:
                m = _PARAM.fullmatch(item)
                if not m:
                    raise HandshakeError(f"Sec-WebSocket-Extensions: cannot parse parameter {item.strip()!r} "
                                         f"of {name!r}", kind=ErrorKind.BAD_EXTENSION)
                v = m.group(2)
                if v is not None and v.startswith('"'):
                    v = re.sub(r"\\(.)", r"\1", v[1:-1])
                params.append((m.group(1), v))
            out.append((name, params))
    return out


def _split(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside quoted strings."""
    parts: list[str] = []
    cur: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return parts
