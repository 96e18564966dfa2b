"""permessage-deflate (RFC 7692): the Sec-WebSocket-Extensions header, negotiated
parameters, and compressing a message the way a sender does.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from .errors import ErrorKind, HandshakeError
from .handshake import Headers, Request, Response, parse_extensions

NAME = "permessage-deflate"
#: A sender removes these 4 bytes from the end of each compressed message; the receiver
#: appends them back before inflating (RFC 7692 section 7.2.1).
TAIL = b"\x00\x00\xff\xff"

@dataclass(frozen=True)
class DeflateParams:
    """Negotiated permessage-deflate parameters (RFC 7692 section 7.1).

    ``*_max_window_bits`` is None when not sent (15, the default). "client_*" parameters
    describe what the client's compressor does, i.e. the frames the client sends.
    """

    client_no_context_takeover: bool = False
    server_no_context_takeover: bool = False
    client_max_window_bits: int | None = None
    server_max_window_bits: int | None = None

    def no_context_takeover(self, sender: str) -> bool:
        """Does ``sender`` ("client"/"server") reset its compression context after each message?"""
        return self.client_no_context_takeover if sender == "client" else self.server_no_context_takeover

    def window_bits(self, sender: str) -> int:
        bits = self.client_max_window_bits if sender == "client" else self.server_max_window_bits
        return 15 if bits is None else bits

    def __str__(self) -> str:
        parts = [NAME]
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_max_window_bits is not None:
            parts.append(f"client_max_window_bits={self.client_max_window_bits}")
        if self.server_max_window_bits is not None:
            parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        return "; ".join(parts)


def deflate_params(params: list[tuple[str, str | None]], *, response: bool = True) -> DeflateParams:
    """Validate the parameters of one permessage-deflate element. In a response every
    ``*_max_window_bits`` needs a value 8–15; in an offer ``client_max_window_bits`` may be bare."""
    seen = set()
    kw: dict[str, Any] = {}  # DeflateParams' fields, checked above
    for name, value in params:
        if name in seen:
            raise HandshakeError(f"permessage-deflate parameter {name!r} appears twice (RFC 7692 section 7)", kind=ErrorKind.BAD_EXTENSION)
        seen.add(name)
        if name in ("client_no_context_takeover", "server_no_context_takeover"):
            if value is not None:
                raise HandshakeError(f"permessage-deflate parameter {name} takes no value, got {value!r}", kind=ErrorKind.BAD_EXTENSION)
            kw[name] = True
        elif name in ("client_max_window_bits", "server_max_window_bits"):
            if value is None:
                if name == "client_max_window_bits" and not response:
                    continue  # an offer may send it bare: "I can use a smaller window if you ask"
                raise HandshakeError(f"permessage-deflate parameter {name} needs a value from 8 to 15", kind=ErrorKind.BAD_EXTENSION)
            if not (value.isascii() and value.isdigit() and 8 <= int(value) <= 15 and value == str(int(value))):
                raise HandshakeError(f"permessage-deflate {name}={value!r}: must be an integer from 8 to 15 "
                                     f"(RFC 7692 section 7.1.2)", kind=ErrorKind.BAD_EXTENSION)
            kw[name] = int(value)
        else:
            raise HandshakeError(f"unknown permessage-deflate parameter {name!r} (RFC 7692 section 7.1)", kind=ErrorKind.BAD_EXTENSION)
    return DeflateParams(**kw)


def negotiate_deflate(request_headers: Headers | Request | Response | None,
                      response_headers: Headers | Request | Response) -> DeflateParams | None:
    """The permessage-deflate parameters a 101 response accepted, or None when it accepted none.
    Takes Headers (or Request/Response). Raises HandshakeError for a malformed or unoffered one."""
    req = request_headers.headers if isinstance(request_headers, (Request, Response)) else request_headers
    res = response_headers.headers if isinstance(response_headers, (Request, Response)) else response_headers
    accepted = [(n, p) for n, p in parse_extensions(res.get_all("Sec-WebSocket-Extensions")) if n == NAME]
    if not accepted:
        return None
    if len(accepted) > 1:
        raise HandshakeError("the response accepts permessage-deflate more than once (RFC 7692 section 5)", kind=ErrorKind.BAD_EXTENSION)
    params = deflate_params(accepted[0][1], response=True)
    if req is not None:
        offers = [p for n, p in parse_extensions(req.get_all("Sec-WebSocket-Extensions")) if n == NAME]
        if not offers:
            raise HandshakeError("the response accepts permessage-deflate, which the request did not offer "
                                 "(RFC 6455 section 9.1)", kind=ErrorKind.BAD_EXTENSION)
        if params.client_max_window_bits is not None and not any(
                k == "client_max_window_bits" for offer in offers for k, _ in offer):
            raise HandshakeError("the response sets client_max_window_bits, which the client did not offer "
                                 "(RFC 7692 section 7.1.2.2)", kind=ErrorKind.BAD_EXTENSION)
    return params


def compress_message(data: bytes, compressor: zlib._Compress | None = None, *, window_bits: int = 15) -> bytes:
    """Compress one message as a permessage-deflate sender does: deflate, sync flush, drop the
    4-byte tail. Pass the same ``compressor`` (``new_compressor()``) for context takeover."""
    c = compressor if compressor is not None else new_compressor(window_bits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4] if out.endswith(TAIL) else out


def new_compressor(window_bits: int = 15) -> zlib._Compress:
    # zlib cannot make a raw deflate stream with an 8-bit window; it uses 9 (RFC 7692 section 7.1.2.1 notes it).
    return zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -max(window_bits, 9))
