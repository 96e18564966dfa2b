"""Errors of the wire layer.

Every error the wire layer raises is a :class:`ProtocolError`, whatever bytes it is
fed. Each says what was wrong in words (``message``, for people) and as a machine-readable
:class:`ErrorKind` (``kind``, for code: never match the words), with, where it can, the byte
``offset`` where it was found, the close ``code`` an endpoint would send in answer (RFC 6455
section 7.4.1) and, for HTTP, the ``status`` a server would answer (h11's
``error_status_hint``). ``ProtocolError`` is also a ``ValueError`` so that callers passing bad
arguments (a 3-byte mask key, say) can catch the usual thing.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .frames import Frame


class ErrorKind(enum.Enum):
    """What rule an error broke, for code that must act on it (a status, a hint, a colour).

    The value is a short stable name; the member's docstring-like comment says when it is used.
    """

    # -- any layer
    UNSPECIFIED = "unspecified"  #: raised from outside wsdemo.wire without a kind
    BAD_ARGUMENT = "bad argument"  #: a caller passed a wrong type or value (a 3-byte mask key)
    INTERNAL = "internal"  #: a bug in the decoder, reported instead of raised
    DECODER_STOPPED = "decoder stopped"  #: fed again after a fatal error
    TRUNCATED = "truncated"  #: the stream ended inside a head, body, frame or message
    BYTES_TEXT = "bytes text"  #: text meant to spell bytes (hex, a bytes literal) does not
    # -- HTTP heads and bodies (RFC 9112), the opening handshake (RFC 6455 section 4)
    TLS_ON_PLAIN = "TLS on a plain port"  #: a TLS ClientHello where HTTP was expected
    NOT_HTTP = "not HTTP"  #: the first bytes cannot start an HTTP message
    BAD_START_LINE = "bad start line"  #: request or status line malformed
    BAD_HEADER = "bad header"  #: a header line malformed
    HEAD_TOO_LARGE = "head too large"  #: over the head limit (status 431)
    BAD_BODY_FRAMING = "bad body framing"  #: Content-Length, Transfer-Encoding or chunks malformed
    BODY_TOO_LARGE = "body too large"  #: over the body limit
    BAD_EXTENSION = "bad extension"  #: Sec-WebSocket-Extensions / permessage-deflate negotiation
    # -- the connection as a whole (ConnectionDecoder only)
    UNANSWERED_UPGRADE = "unanswered upgrade"  #: client bytes before the server answered its upgrade
    OUT_OF_ORDER = "out of order"  #: a response fed before any request it could answer
    NOT_WEBSOCKET = "not WebSocket"  #: a 101 to another protocol: the bytes after it are not decoded
    AFTER_EOF = "after EOF"  #: bytes after the sender closed its side
    AFTER_CLOSE = "after close"  #: a frame after this side's CLOSE frame (RFC 6455 section 5.5.1)
    # -- frames (RFC 6455 section 5)
    RESERVED_OPCODE = "reserved opcode"
    RSV1_NOT_NEGOTIATED = "RSV1 not negotiated"  #: RSV1 on a data frame without permessage-deflate
    RSV_NOT_NEGOTIATED = "RSV2/RSV3 set"  #: RSV2 or RSV3: no extension defines them
    COMPRESSED_CONTROL = "compressed control frame"  #: RSV1 on a control frame (RFC 7692 section 6.1)
    COMPRESSED_CONTINUATION = "compressed continuation"  #: RSV1 on a continuation frame
    FRAGMENTED_CONTROL = "fragmented control frame"
    CONTROL_TOO_LONG = "control frame too long"  #: more than 125 bytes
    NON_MINIMAL_LENGTH = "non-minimal length"
    LENGTH_TOP_BIT = "64-bit length top bit set"
    FRAME_TOO_LARGE = "frame too large"  #: over the decoder's payload limit
    MASKING = "masking"  #: a client frame unmasked or a server frame masked
    # -- messages (RFC 6455 sections 5.4-5.6, 8.1; RFC 7692)
    UNEXPECTED_CONTINUATION = "unexpected continuation"  #: no fragmented message in progress
    EXPECTED_CONTINUATION = "expected continuation"  #: a new message while one is in progress
    INVALID_UTF8 = "invalid UTF-8"  #: a text message that is not UTF-8
    MESSAGE_TOO_LARGE = "message too large"  #: over the size limit (inflated too)
    TOO_MANY_FRAMES = "too many frames"  #: over the frames-per-message limit
    INFLATE_FAILED = "inflate failed"  #: permessage-deflate data that does not inflate
    # -- close frames (RFC 6455 sections 5.5.1, 7.4)
    CLOSE_TOO_SHORT = "close payload too short"  #: a 1-byte close payload
    CLOSE_CODE_INVALID = "invalid close code"  #: a code that may not be sent
    CLOSE_REASON_INVALID = "invalid close reason"  #: a reason that is not UTF-8
    CLOSE_REASON_TOO_LONG = "close reason too long"  #: over 123 bytes
    # -- server-sent events (HTML section 9.2)
    EVENT_TOO_LARGE = "event too large"

    @property
    def status(self) -> int | None:
        """The HTTP status a server would answer an error of this kind with; None when the
        kind is not about HTTP."""
        if self is ErrorKind.HEAD_TOO_LARGE:
            return 431
        return 400 if self in _HTTP_KINDS else None


_HTTP_KINDS = frozenset({
    ErrorKind.TLS_ON_PLAIN, ErrorKind.NOT_HTTP, ErrorKind.BAD_START_LINE, ErrorKind.BAD_HEADER,
    ErrorKind.HEAD_TOO_LARGE, ErrorKind.BAD_BODY_FRAMING, ErrorKind.BODY_TOO_LARGE, ErrorKind.BAD_EXTENSION,
})


class ProtocolError(ValueError):
    """Base of every error raised by :mod:`wsdemo.wire`."""

    #: Close code an endpoint would answer this error with (1002 protocol error).
    default_code = 1002
    #: HTTP status a server would answer this error with, when it is about an HTTP head or body
    #: (like h11's ``error_status_hint``); None for WebSocket framing errors.
    default_status: int | None = None

    def __init__(self, message: str, offset: int | None = None, *, kind: ErrorKind = ErrorKind.UNSPECIFIED,
                 code: int | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.kind = kind
        self.code = self.default_code if code is None else code
        if status is None:
            status = kind.status if kind.status is not None else self.default_status
        self.status = status

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        where = "" if self.offset is None else f", offset={self.offset}"
        return f"{type(self).__name__}({self.message!r}{where}, kind={self.kind.name})"


class HandshakeError(ProtocolError):
    """A malformed HTTP head or opening handshake (RFC 6455 section 4, RFC 9112)."""

    default_status = 400


class HttpError(HandshakeError):
    """A malformed HTTP/1.1 body (Content-Length, chunked encoding) on a plain HTTP connection."""


class FrameError(ProtocolError):
    """A frame that breaks the framing rules of RFC 6455 section 5."""

    def __init__(self, message: str, offset: int | None = None, *, kind: ErrorKind = ErrorKind.UNSPECIFIED,
                 code: int | None = None):
        super().__init__(message, offset, kind=kind, code=code)
        #: frames decoded completely in the same ``feed`` call before the error (nothing is lost)
        self.frames: list[Frame] = []


class MessageError(ProtocolError):
    """A message-level problem: fragment order, invalid UTF-8, a bad close payload,
    or permessage-deflate data that does not inflate.

    ``offset`` counts bytes inside the message (after inflating); ``frame`` is the frame
    where it was found and ``frame_offset`` the byte inside that frame's payload, when known.
    """

    def __init__(self, message: str, offset: int | None = None, *, kind: ErrorKind = ErrorKind.UNSPECIFIED,
                 code: int | None = None, frame: Frame | None = None, frame_offset: int | None = None):
        super().__init__(message, offset, kind=kind, code=code)
        self.frame = frame
        self.frame_offset = frame_offset


class SseError(ProtocolError):
    """An event stream (HTML section 9.2) the decoder cannot go on with: a block larger than
    its limit (``limit`` says which number was passed), or a bad argument to ``encode_sse``.
    Nothing in a stream's text is an error to the standard itself (bad UTF-8 is replaced)."""

    def __init__(self, message: str, offset: int | None = None, *, kind: ErrorKind = ErrorKind.UNSPECIFIED,
                 code: int | None = None, limit: int | None = None):
        super().__init__(message, offset, kind=kind, code=code)
        self.limit = limit
        #: events completed in the same ``feed`` call before the error (nothing is lost)
        self.events: list[Any] = []
