"""Hide credentials before anything is displayed or saved: behind jupyter-server-proxy the
browser's Jupyter login cookie travels in the handshake, and join tokens (``?token=``, the
class's join link, Jupyter's own login link) travel in request lines and Referer headers.
Every value is replaced by '*' of the same length, so byte counts stay true."""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from typing import TypeVar

from .events import DecodeError, HttpRequest, HttpResponse
from .handshake import Headers

SECRET_HEADERS = frozenset({"cookie", "set-cookie", "authorization", "proxy-authorization"})
TOKEN_NAMES = ("token", "access_token")


def _name_pattern(name: str) -> str:
    # Servers percent-decode query names (Tornado does: ``?%74oken=`` is ``?token=`` to the
    # app), so each character may also come percent-encoded, in either case of hex digit.
    def char(c: str) -> str:
        hexed = "".join(f"[{h.lower()}{h.upper()}]" if h.isalpha() else h for h in f"{ord(c):02x}")
        return f"(?:{re.escape(c)}|%{hexed})"
    return "".join(map(char, name))


_TOKEN = r"([?&;](?:%s)=)([^&\s#;\"'<>]+)" % "|".join(map(_name_pattern, TOKEN_NAMES))
_TOKEN_B = re.compile(_TOKEN.encode())
_TOKEN_S = re.compile(_TOKEN)
_VALUE_B = re.compile(rb"[^&\s#;\"'<>]*")  # the rest of a token's value, cut by a chunk boundary
_NOT_CR = re.compile(rb"[^\r]+")
_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_NAME_MAX = 64  # bytes of a line read to find its header name (a secret one is far shorter)
# Bytes of a line kept across chunks, so a token name cut by a chunk boundary is still found:
# the longest name fully percent-encoded, with its '?' and '='.
_TOKEN_TAIL = 2 + 3 * max(map(len, TOKEN_NAMES))


def _might_have_token(text: str | bytes) -> bool:
    return "token=" in text or "%" in text if isinstance(text, str) else b"token=" in text or b"%" in text


def mask_tokens(data: bytes) -> bytes:
    """``data`` with the values of ``token=`` / ``access_token=`` query parameters masked
    (their names percent-encoded too: ``%74oken=``)."""
    if not _might_have_token(data):
        return data
    return _TOKEN_B.sub(lambda m: m.group(1) + b"*" * len(m.group(2)), data)


def mask_tokens_text(text: str) -> str:
    """The same as mask_tokens, for a str (a path, a log line, an error message)."""
    if not _might_have_token(text):
        return text
    return _TOKEN_S.sub(lambda m: m.group(1) + "*" * len(m.group(2)), text)


class HeadRedactor:
    """Redacts one direction's HTTP head as its bytes arrive: ``feed(chunk)`` returns the chunk
    as it may be kept, same length, with the values of SECRET_HEADERS and join tokens replaced
    by '*'. Each byte is looked at once, however the head is cut (a head trickled in 100-byte
    chunks costs what one piece does), and nothing after the blank line that ends the head:
    then ``done`` is True and chunks pass unchanged, until ``restart()`` (the next head on a
    keep-alive connection). ``until_blank=False`` reads every line instead (any run of head
    lines, whatever follows)."""

    __slots__ = ("done", "until_blank", "_start", "_named", "_secret", "_ows", "_len", "_seen_line",
                 "_tail", "_in_token")

    def __init__(self, until_blank: bool = True):
        self.until_blank = until_blank
        self.restart()

    @property
    def carried(self) -> int:
        """Bytes kept between chunks (bounded: the start of a line, for its name, and its end,
        for a token cut in two), so each chunk costs its own length, not the line's."""
        return len(self._start) + len(self._tail)

    def restart(self) -> None:
        self.done = False
        self._seen_line = False  # empty lines before the start line do not end a head
        self._tail = b""
        self._in_token = False
        self._new_line()

    def _new_line(self) -> None:
        self._start = b""  # the line's first bytes, until its name is known
        self._named = False
        self._secret = False
        self._ows = False  # just after a secret header's colon: spaces before the value stay
        self._len = 0

    def feed(self, data: bytes) -> bytes:
        if self.done or not data:
            return data
        out: bytearray | None = None
        n = len(data)
        pos = 0
        while pos < n:
            nl = data.find(b"\n", pos)
            end = n if nl < 0 else nl
            if end > pos:
                out = self._line_part(data, pos, end, out)
            if nl < 0:
                pos = n
                break
            pos = nl + 1
            blank = self._len == 0 or (self._len == 1 and self._start == b"\r")
            if not blank:
                self._seen_line = True
            elif self._seen_line and self.until_blank:
                self.done = True
                break
            self._new_line()
        out = self._mask_tokens(data, pos, out)
        return data if out is None else bytes(out)

    def _line_part(self, data: bytes, pos: int, end: int, out: bytearray | None) -> bytearray | None:
        """Bytes ``pos:end`` of the current line (no newline among them)."""
        self._len += end - pos
        if not self._named:
            before = len(self._start)
            self._start += data[pos:min(end, pos + _NAME_MAX - before)]
            colon = self._start.find(b":")
            if colon >= 0:
                self._named = True
                name = self._start[:colon].rstrip(b" \t")
                self._secret = bool(_NAME.fullmatch(name)) and name.decode("latin-1").lower() in SECRET_HEADERS
                self._ows = True
                pos += colon + 1 - before  # the value starts after the colon
            elif len(self._start) >= _NAME_MAX:
                self._named = True
            else:
                return out  # all of it is the name so far
        if not self._secret or pos >= end:
            return out
        if self._ows:
            while pos < end and data[pos] in b" \t":
                pos += 1
            if pos == end:
                return out
            self._ows = False
        if out is None:
            out = bytearray(data)
        out[pos:end] = _NOT_CR.sub(lambda m: b"*" * len(m.group()), data[pos:end])
        return out

    def _mask_tokens(self, data: bytes, stop: int, out: bytearray | None) -> bytearray | None:
        """Mask token values in ``data[:stop]``, with the line's earlier bytes (``_tail``) for context."""
        if self._in_token:
            m = _VALUE_B.match(data, 0, stop)
            end = m.end() if m else 0  # the pattern matches empty text too: m is never None
            self._in_token = end == stop
            if end:
                if out is None:
                    out = bytearray(data)
                out[:end] = b"*" * end
        tail = self._tail
        text = tail + data[:stop] if tail else data[:stop]
        if _might_have_token(text):
            k = len(tail)
            for m in _TOKEN_B.finditer(text):
                a, b = max(m.start(2), k), m.end(2)
                if b > a:
                    if out is None:
                        out = bytearray(data)
                    out[a - k:b - k] = b"*" * (b - a)
                if b == len(text):
                    self._in_token = True
        nl = text.rfind(b"\n")
        self._tail = b"" if self.done else text[max(nl + 1, len(text) - _TOKEN_TAIL):]
        return out


def redact_head(raw: bytes) -> bytes:
    """The same head with the values of Cookie, Set-Cookie, Authorization and
    Proxy-Authorization, and join tokens in URLs, replaced by '*' of the same length.

    Any run of head lines (a chunk of one) can be given; what follows the blank line that
    ends a head is left alone (a body is not a head)."""
    return HeadRedactor().feed(bytes(raw))


def _redact_headers(headers: Headers) -> Headers:
    return Headers([(n, "*" * len(v) if n.lower() in SECRET_HEADERS else mask_tokens_text(v))
                    for n, v in headers])


_E = TypeVar("_E")


def redact(event: _E) -> _E:
    """An HttpRequest/HttpResponse with credentials hidden in ``raw`` and ``headers``, a
    DecodeError with join tokens hidden in its text (errors quote request lines); other
    events come back unchanged."""
    if isinstance(event, DecodeError):
        text = mask_tokens_text(event.error)
        return event if text == event.error else dataclasses.replace(event, error=text)
    if isinstance(event, HttpRequest):
        req = event.request
        new_req = dataclasses.replace(req, target=mask_tokens_text(req.target),
                                      headers=_redact_headers(req.headers), raw=redact_head(req.raw))
        return dataclasses.replace(event, request=new_req)
    if isinstance(event, HttpResponse):
        res = event.response
        new_res = dataclasses.replace(res, headers=_redact_headers(res.headers), raw=redact_head(res.raw))
        return dataclasses.replace(event, response=new_res)
    return event


def with_token(url: str, token: str | None) -> str:
    """``url`` with ``token=TOKEN`` added to its query (URL-quoted); ``url`` itself when
    ``token`` is empty. A fragment stays last."""
    if not token:
        return url
    base, hash_, fragment = url.partition("#")
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}token={urllib.parse.quote(token, safe='')}{hash_}{fragment}"
