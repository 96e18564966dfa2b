"""The events a ``ConnectionDecoder`` emits, one per thing it saw on the wire: HTTP heads, frames,
messages, server-sent events, decode errors, and what the tap itself did. Frozen; each names its
``sender`` ("client", "server" or "tap"), its arrival time ``at``, and its ``connection`` (stamped
by the decoder that made it)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .errors import ErrorKind
from .frames import Frame
from .handshake import Request, Response
from .messages import Message
from .sse import ServerSentEvent


class _Readable:
    """One-line ``str`` and a compact ``repr`` for events, so a list of them reads well in a notebook."""

    __slots__ = ()
    sender: str
    at: float

    def _what(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return f"{self.sender}: {self._what()}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.sender} at={self.at:.3f}: {self._what()}>"


def _head_size(msg: Request | Response) -> str:
    body = f" + {msg.body_wire_size} B body" if msg.body_wire_size else ""
    return f"{len(msg.raw)} B head{body}"


@dataclass(repr=False, frozen=True)
class HttpRequest(_Readable):
    sender: str
    at: float
    request: Request
    connection: object = field(default=None, repr=False, compare=False)

    def _what(self) -> str:
        return f"{self.request} [{_head_size(self.request)}]"


@dataclass(repr=False, frozen=True)
class HttpResponse(_Readable):
    sender: str
    at: float
    response: Response
    connection: object = field(default=None, repr=False, compare=False)

    def _what(self) -> str:
        return f"{self.response} [{_head_size(self.response)}]"


# FrameEvent and MessageEvent are made once per frame and per message: their __init__ writes
# the instance dict directly, as a frozen dataclass's generated one (object.__setattr__ per
# field) took 4 times as long. Their fields stay those of the dataclass (eq, repr, replace).

@dataclass(repr=False, frozen=True, init=False)
class FrameEvent(_Readable):
    sender: str
    at: float
    frame: Frame
    offset: int  #: where the frame starts in its direction's byte stream
    connection: object = field(default=None, repr=False, compare=False)

    def __init__(self, sender: str, at: float, frame: Frame, offset: int, connection: object = None) -> None:
        d = self.__dict__
        d["sender"] = sender
        d["at"] = at
        d["frame"] = frame
        d["offset"] = offset
        d["connection"] = connection

    def _what(self) -> str:
        return f"frame at byte {self.offset}: {self.frame}"


@dataclass(repr=False, frozen=True, init=False)
class MessageEvent(_Readable):
    sender: str
    at: float
    message: Message
    connection: object = field(default=None, repr=False, compare=False)

    def __init__(self, sender: str, at: float, message: Message, connection: object = None) -> None:
        d = self.__dict__
        d["sender"] = sender
        d["at"] = at
        d["message"] = message
        d["connection"] = connection

    def _what(self) -> str:
        return f"message {self.message}"


@dataclass(repr=False, frozen=True)
class DecodeError(_Readable):
    sender: str
    at: float
    error: str
    offset: int  #: byte offset in that direction's stream where the problem is
    connection: object = field(default=None, repr=False, compare=False)
    #: True when decoding of this direction stopped (framing lost); False for a message-level
    #: problem (bad UTF-8, bad close code) after which frames still decode
    fatal: bool = True
    #: for a broken HTTP head or body: the status a server would answer with (400, 431, ...)
    status: int | None = None
    #: what rule was broken, for code that acts on it (never match ``error``'s words)
    kind: ErrorKind = ErrorKind.UNSPECIFIED

    def __str__(self) -> str:
        return f"{self.sender} byte {self.offset}: {self.error}"

    def _what(self) -> str:
        return f"{'fatal ' if self.fatal else ''}error at byte {self.offset}: {self.error}"


@dataclass(repr=False, frozen=True)
class SseEvent(_Readable):
    """One block of a ``text/event-stream`` response (HTML section 9.2), as the server sent it.

    ``event`` is the decoded block (its own bytes, field by field: ``event.sizes``).
    ``wire_size`` counts every byte of the response body since the previous SseEvent: the
    block plus the transfer coding around it (chunk-size lines, CRLFs), starting at stream
    ``offset``; ``raw`` is those bytes. The SseEvents and the SseEnd of a body add up to it.
    """

    sender: str
    at: float
    event: ServerSentEvent
    offset: int
    wire_size: int
    raw: bytes = field(default=b"", repr=False)
    connection: object = field(default=None, repr=False, compare=False)

    @property
    def framing_size(self) -> int:
        """Bytes of transfer coding (chunk framing) around the block."""
        return self.wire_size - self.event.wire_size

    def _what(self) -> str:
        extra = f" + {self.framing_size} B chunk framing" if self.framing_size else ""
        return f"event at byte {self.offset}: {self.event}{extra}"


@dataclass(repr=False, frozen=True)
class SseEnd(_Readable):
    """The end of a ``text/event-stream`` body: the bytes after its last event (the last
    chunk, and an unfinished event, which is discarded: ``discarded`` bytes of it)."""

    sender: str
    at: float
    offset: int
    wire_size: int
    discarded: int = 0
    raw: bytes = field(default=b"", repr=False)
    connection: object = field(default=None, repr=False, compare=False)

    def _what(self) -> str:
        cut = f", {self.discarded} B of an unfinished event discarded" if self.discarded else ""
        return f"end of the event stream at byte {self.offset} [{self.wire_size} B{cut}]"


class TapAction(enum.Enum):
    """What the tap itself did to a connection (a TapEvent's ``kind``)."""

    IDLE_CUT = "cut after idling"  #: no byte either way for the idle timeout: both ends closed
    TLS_FAILED = "TLS handshake failed"  #: the client and the tap found no secure channel
    PLAIN_ON_TLS = "plain HTTP on the TLS port"  #: answered 400, as nginx does (no TLS spoken)
    TLS_ON_PLAIN = "a TLS handshake on the plain port"  #: answered 400 in plain HTTP


@dataclass(repr=False, frozen=True)
class TapEvent(_Readable):
    """Something the tap did or saw that is not bytes either end sent (so no decoder made it):
    ``sender`` is "tap", ``kind`` a TapAction, ``text`` the details in plain words."""

    sender: str
    at: float
    kind: TapAction
    text: str
    connection: object = field(default=None, repr=False, compare=False)

    def _what(self) -> str:
        return f"{self.kind.value}: {self.text}"


Event = HttpRequest | HttpResponse | FrameEvent | MessageEvent | SseEvent | SseEnd | DecodeError | TapEvent
