"""Hide credentials before anything is displayed or saved: behind jupyter-server-proxy the
browser's Jupyter login cookie travels in the handshake, and join tokens (``?token=``, the
class's join link, Jupyter's own login link) travel in request lines and Referer headers.
Every value is replaced by '*' of the same length, so byte counts stay true."""

from __future__ import annotations

import dataclasses
import re

from .connection import HttpRequest, HttpResponse
from .handshake import Headers

SECRET_HEADERS = frozenset({"cookie", "set-cookie", "authorization", "proxy-authorization"})

_LINE = re.compile(rb"(?m)^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$")
_TOKEN_B = re.compile(rb"([?&;](?:token|access_token)=)([^&\s#;\"'<>]+)")
_TOKEN_S = re.compile(_TOKEN_B.pattern.decode())


def mask_tokens(data: bytes) -> bytes:
    """``data`` with the values of ``token=`` / ``access_token=`` query parameters masked."""
    if b"token=" not in data:
        return data
    return _TOKEN_B.sub(lambda m: m.group(1) + b"*" * len(m.group(2)), data)


def mask_tokens_text(text: str) -> str:
    """The same as mask_tokens, for a str (a path, a log line)."""
    if "token=" not in text:
        return text
    return _TOKEN_S.sub(lambda m: m.group(1) + "*" * len(m.group(2)), text)


def redact_head(raw: bytes) -> bytes:
    """The same head with the values of Cookie, Set-Cookie, Authorization and
    Proxy-Authorization, and join tokens in URLs, replaced by '*' of the same length.

    It works line by line, so any run of head lines (a chunk of one) can be given."""
    out = bytearray(mask_tokens(bytes(raw)))
    for m in _LINE.finditer(out):
        if m.group(1).decode("latin-1").lower() in SECRET_HEADERS:
            out[m.start(2):m.end(2)] = b"*" * (m.end(2) - m.start(2))
    return bytes(out)


def _redact_headers(headers: Headers) -> Headers:
    return Headers([(n, "*" * len(v) if n.lower() in SECRET_HEADERS else mask_tokens_text(v))
                    for n, v in headers])


def redact(event):
    """An HttpRequest/HttpResponse with credentials hidden in ``raw`` and ``headers``; other
    events come back unchanged."""
    if isinstance(event, HttpRequest):
        msg = event.request
        new = dataclasses.replace(msg, target=mask_tokens_text(msg.target),
                                  headers=_redact_headers(msg.headers), raw=redact_head(msg.raw))
        return dataclasses.replace(event, request=new)
    if isinstance(event, HttpResponse):
        msg = event.response
        new = dataclasses.replace(msg, headers=_redact_headers(msg.headers), raw=redact_head(msg.raw))
        return dataclasses.replace(event, response=new)
    return event
