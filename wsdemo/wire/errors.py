"""Errors of the wire layer.

Every error the wire layer raises is a :class:`ProtocolError`, whatever bytes it is
fed. Each says what was wrong and, where it can, the byte ``offset`` where it was found,
plus the close ``code`` an endpoint would send in answer (RFC 6455 section 7.4.1).
``ProtocolError`` is also a ``ValueError`` so that callers passing bad arguments
(a 3-byte mask key, say) can catch the usual thing.
"""

from __future__ import annotations


class ProtocolError(ValueError):
    """Base of every error raised by :mod:`wsdemo.wire`."""

    #: Close code an endpoint would answer this error with (1002 protocol error).
    default_code = 1002
    #: HTTP status a server would answer this error with, when it is about an HTTP head or body
    #: (like h11's ``error_status_hint``); None for WebSocket framing errors.
    default_status: int | None = None

    def __init__(self, message: str, offset: int | None = None, *, code: int | None = None,
                 status: int | None = None):
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.code = self.default_code if code is None else code
        self.status = self.default_status if status is None else status

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        where = "" if self.offset is None else f", offset={self.offset}"
        return f"{type(self).__name__}({self.message!r}{where})"


class HandshakeError(ProtocolError):
    """A malformed HTTP head or opening handshake (RFC 6455 section 4, RFC 9112)."""

    default_status = 400


class HttpError(HandshakeError):
    """A malformed HTTP/1.1 body (Content-Length, chunked encoding) on a plain HTTP connection."""


class FrameError(ProtocolError):
    """A frame that breaks the framing rules of RFC 6455 section 5."""

    def __init__(self, message: str, offset: int | None = None, *, code: int | None = None):
        super().__init__(message, offset, code=code)
        #: frames decoded completely in the same ``feed`` call before the error (nothing is lost)
        self.frames: list = []


class MessageError(ProtocolError):
    """A message-level problem: fragment order, invalid UTF-8, a bad close payload,
    or permessage-deflate data that does not inflate.

    ``offset`` counts bytes inside the message (after inflating); ``frame`` is the frame
    where it was found and ``frame_offset`` the byte inside that frame's payload, when known.
    """

    def __init__(self, message: str, offset: int | None = None, *, code: int | None = None,
                 frame=None, frame_offset: int | None = None):
        super().__init__(message, offset, code=code)
        self.frame = frame
        self.frame_offset = frame_offset


class SseError(ProtocolError):
    """An event stream (HTML section 9.2) the decoder cannot go on with: a block larger than
    its limit (``limit`` says which number was passed), or a bad argument to ``encode_sse``.
    Nothing in a stream's text is an error to the standard itself (bad UTF-8 is replaced)."""

    def __init__(self, message: str, offset: int | None = None, *, code: int | None = None,
                 limit: int | None = None):
        super().__init__(message, offset, code=code)
        self.limit = limit
        #: events completed in the same ``feed`` call before the error (nothing is lost)
        self.events: list = []
