"""Hide credentials before anything is displayed or saved: behind jupyter-server-proxy the
browser's Jupyter login cookie travels in the handshake."""

from __future__ import annotations

import dataclasses
import re

from .connection import HttpRequest, HttpResponse
from .handshake import Headers

SECRET_HEADERS = frozenset({"cookie", "set-cookie", "authorization", "proxy-authorization"})

_LINE = re.compile(rb"(?m)^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$")


def redact_head(raw: bytes) -> bytes:
    """The same head with the values of Cookie, Set-Cookie, Authorization and
    Proxy-Authorization replaced by '*' of the same length (byte counts stay true)."""
    raw = bytes(raw)
    out = bytearray(raw)
    for m in _LINE.finditer(raw):
        if m.group(1).decode("latin-1").lower() in SECRET_HEADERS:
            out[m.start(2):m.end(2)] = b"*" * (m.end(2) - m.start(2))
    return bytes(out)


def _redact_headers(headers: Headers) -> Headers:
    return Headers([(n, "*" * len(v) if n.lower() in SECRET_HEADERS else v) for n, v in headers])


def redact(event):
    """An HttpRequest/HttpResponse with credentials hidden in ``raw`` and ``headers``; other
    events come back unchanged."""
    if isinstance(event, HttpRequest):
        msg = event.request
        new = dataclasses.replace(msg, headers=_redact_headers(msg.headers), raw=redact_head(msg.raw))
        return dataclasses.replace(event, request=new)
    if isinstance(event, HttpResponse):
        msg = event.response
        new = dataclasses.replace(msg, headers=_redact_headers(msg.headers), raw=redact_head(msg.raw))
        return dataclasses.replace(event, response=new)
    return event
