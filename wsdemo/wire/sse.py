"""Server-sent events: the ``text/event-stream`` format, decoded sans-IO, with the bytes each
event cost on the wire, field by field.

The rules are the HTML Living Standard's, section 9.2 "Server-sent events"
(https://html.spec.whatwg.org/multipage/server-sent-events.html):

- 9.2.5 "Parsing an event stream": the stream is UTF-8, decoded with replacement (bad bytes
  become U+FFFD, never an error); one U+FEFF BOM at the very start is dropped; a line ends
  with CRLF, LF or CR (so ``\\r\\r\\n\\n`` is three line ends).
- 9.2.6 "Interpreting an event stream": an empty line dispatches the event; a line starting
  with ``:`` is a comment; otherwise the field name runs to the first ``:`` (the whole line
  when there is none) and one space after the colon is dropped from the value. ``event``
  sets the event type buffer, ``data`` appends the value and a LF to the data buffer,
  ``id`` sets the last event ID buffer unless the value contains U+0000 NULL, ``retry`` sets
  the reconnection time when the value is ASCII digits only; other fields are ignored. On
  dispatch the last event ID buffer becomes the stream's last event ID; when the data
  buffer is empty nothing is fired; otherwise one trailing LF is removed and the event's
  type is the event type buffer, or ``message`` when that is empty. Both buffers are
  cleared. At the end of the stream an event without its empty line is discarded.
- 9.2.4 "The ``Last-Event-ID`` header": a client reconnecting sends the last event ID it had,
  so the server can resend what the client missed.

``SseDecoder().feed(data)`` takes bytes cut anywhere and returns one
:class:`ServerSentEvent` per block (every run of lines ended by an empty line), with
``dispatched`` False for blocks a browser fires nothing for (a keep-alive comment, an
``id`` alone). Each event keeps its byte ``offset``, its ``wire_size`` and the bytes per
kind of line (``sizes``), so a lesson can set SSE's per-update cost next to a frame
header's. :func:`encode_sse` writes one block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import ErrorKind, SseError
from .handshake import Request, Response

#: A block (all its lines) may hold at most this many bytes while the decoder waits for its
#: empty line; the largest update a lesson sends is far below it.
DEFAULT_MAX_EVENT = 1 << 20
#: Lines kept per event in ``fields``; later lines are still counted in ``sizes``.
MAX_FIELDS_KEPT = 64
#: A ``retry`` longer than this many digits is clamped (no client waits 30 million years).
_RETRY_DIGITS = 18

BOM = b"\xef\xbb\xbf"
_EOL = re.compile(rb"[\r\n]")
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also accepts '²'
KINDS = ("data", "event", "id", "retry", "comment", "unknown", "end", "bom")


@dataclass
class SseField:
    """One line of an event stream (or the BOM), as it was on the wire.

    ``kind``: ``data``, ``event``, ``id``, ``retry`` (the four fields the standard knows),
    ``unknown`` (another field name), ``comment`` (starts with ``:``), ``end`` (the empty
    line that ends a block) or ``bom``. ``ignored`` is True when the standard says to ignore
    the line: an unknown field, an ``id`` containing NUL, a ``retry`` that is not digits.
    ``size`` counts the line end; ``value_size`` the bytes of the value alone.
    """

    kind: str
    name: str  #: field name as sent ('' for comments, the empty line and the BOM)
    value: str  #: the value (after the one optional space), or the comment's text
    offset: int  #: stream offset of the line's first byte
    size: int  #: bytes on the wire, line end included
    value_size: int = 0
    ignored: bool = False

    def __str__(self) -> str:
        if self.kind in ("end", "bom"):
            return f"{self.kind} [{self.size} B]"
        note = " (ignored)" if self.ignored else ""
        name = ":" if self.kind == "comment" else f"{self.name}:"
        return f"{name} {self.value!r}{note} [{self.size} B]"


@dataclass
class ServerSentEvent:
    """One block of an event stream: its lines up to and including the empty line.

    ``type``, ``data`` and ``last_event_id`` are what a browser's ``MessageEvent`` carries
    (``event.type``, ``event.data``, ``event.lastEventId``); ``id`` and ``retry`` are what
    this block itself set (None when it set nothing). ``payload_size`` is the bytes of the
    data values (what the application wanted to say); ``overhead`` the rest: field names,
    ids, line ends, comments.
    """

    type: str
    data: str
    last_event_id: str
    id: str | None
    retry: int | None
    dispatched: bool  #: False: no data line, so a browser fires no event for this block
    offset: int  #: stream offset of the block's first byte
    wire_size: int  #: bytes of the block on the wire, its empty line included
    payload_size: int
    sizes: dict[str, int] = field(default_factory=dict)  #: bytes per kind of line (SseField.kind)
    fields: list[SseField] = field(default_factory=list, repr=False)  #: the lines (the first MAX_FIELDS_KEPT)
    raw: bytes = field(default=b"", repr=False)  #: the block's bytes as sent

    @property
    def overhead(self) -> int:
        return self.wire_size - self.payload_size

    def size_text(self) -> str:
        parts = ", ".join(f"{kind} {n}" for kind, n in self.sizes.items() if n)
        return f"{self.wire_size} B: {parts}" if parts else f"{self.wire_size} B"

    def __str__(self) -> str:
        what = self.type if self.dispatched else "(nothing dispatched)"
        id_ = f" id={self.id!r}" if self.id is not None else ""
        retry = f" retry={self.retry}" if self.retry is not None else ""
        data = self.data[:60] + ("…" if len(self.data) > 60 else "")
        shown = f" {data!r}" if self.dispatched else ""
        return f"SSE {what}{id_}{retry}{shown} [{self.size_text()}]"


class SseDecoder:
    """Decode one event stream (the response body, after any transfer coding):
    ``feed(data) -> list[ServerSentEvent]``, any chunking; ``eof()`` at the end.

    ``last_event_id`` starts as given (what a reconnecting client sent) and follows the
    stream; ``retry`` is the reconnection time in ms the stream last set (None: not set).
    ``offset`` is the stream offset of the first byte fed (offsets count from there).
    Raises :class:`~wsdemo.wire.SseError` (a ProtocolError) when a block outgrows
    ``max_event`` bytes, and nothing else; its ``events`` are those completed before it in
    the same call. After an error the decoder must not be fed again.
    """

    def __init__(self, *, last_event_id: str = "", offset: int = 0, max_event: int = DEFAULT_MAX_EVENT):
        self.last_event_id = last_event_id
        self.retry: int | None = None
        self.max_event = max_event
        self.offset = offset  #: stream offset of the next byte
        self._line = bytearray()  # the line in progress (without its line end)
        self._line_start = offset
        self._after_cr = False  # the last line ended with CR: a LF next belongs to it
        self._first_line = True  # the BOM may only start the first line
        self._carry = 0  # the LF of a CRLF whose CR ended the previous block
        self._new_block(offset)

    def _new_block(self, offset: int) -> None:
        self._block_start = offset
        self._block_size = 0
        self._block_raw = bytearray()
        self._fields: list[SseField] = []
        self._sizes: dict[str, int] = {}
        self._data: list[str] = []
        self._data_bytes = 0
        self._type = ""
        self._id: str | None = None
        self._retry: int | None = None
        self._id_buffer = self.last_event_id
        self._last_kind = "end"  # kind and object of the block's last line (a late LF is added to it)
        self._last_field: SseField | None = None

    @property
    def pending(self) -> int:
        """Bytes of a block not finished yet (they are discarded if the stream ends)."""
        return self._block_size + len(self._line) + self._carry

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise SseError(f"expected bytes, got {type(data).__name__}", self.offset, kind=ErrorKind.BAD_ARGUMENT)
        data = bytes(data)
        events: list[ServerSentEvent] = []
        try:
            self._feed(data, events)
        except SseError as e:
            e.events = events
            raise
        return events

    def _feed(self, data: bytes, events: list[ServerSentEvent]) -> None:
        pos, n = 0, len(data)
        if self._after_cr and n:
            self._after_cr = False
            if data[0] == 0x0A:  # the LF of a CRLF cut between two chunks
                self._add_lf()
                pos = 1
        while pos < n:
            m = _EOL.search(data, pos)
            if m is None:
                self._line += data[pos:]
                self._check_size()
                break
            end = m.start()
            self._line += data[pos:end]
            eol = 1
            if data[end] == 0x0D:
                if end + 1 < n:
                    if data[end + 1] == 0x0A:
                        eol = 2
                else:
                    self._after_cr = True  # a LF may come in the next chunk
            self._check_size()
            line, self._line = bytes(self._line), bytearray()
            event = self._line_done(line, line + data[end:end + eol])
            if event is not None:
                events.append(event)
            pos = end + eol
        self.offset += n

    def eof(self) -> int:
        """The stream ended: an unfinished block is discarded (9.2.6). Returns its bytes."""
        left = self.pending
        self._line = bytearray()
        self._new_block(self.offset)
        self._carry = 0
        return left

    # -- internals -------------------------------------------------------------------------

    def _check_size(self) -> None:
        if self._block_size + len(self._line) > self.max_event:
            raise SseError(f"an event of more than {self.max_event} bytes without its empty line "
                           f"(the decoder's limit max_event={self.max_event})", self._block_start,
                           limit=self.max_event, kind=ErrorKind.EVENT_TOO_LARGE)

    def _add_lf(self) -> None:
        if self._block_size:  # the CR ended a line of the block in progress
            self._block_size += 1
            self._block_raw += b"\n"
            if self._last_field is not None:
                self._last_field.size += 1
            self._sizes[self._last_kind] = self._sizes.get(self._last_kind, 0) + 1
        else:  # the CR was the empty line that ended the previous block
            self._carry += 1

    def _line_done(self, line: bytes, raw: bytes) -> ServerSentEvent | None:
        start = self._block_start + self._carry + self._block_size
        if self._first_line:
            self._first_line = False
            if line.startswith(BOM):
                self._record("bom", "", "", start, 3, 0, False, BOM)
                line, raw, start = line[3:], raw[3:], start + 3
        size = len(raw)
        if not line:
            self._record("end", "", "", start, size, 0, False, raw)
            return self._dispatch()
        if line[0] == 0x3A:  # ':' comment
            text = line[1:].decode("utf-8", "replace")
            self._record("comment", "", text, start, size, len(line) - 1, False, raw)
            return None
        colon = line.find(b":")
        if colon < 0:
            name_b, value_b = line, b""
        else:
            name_b, value_b = line[:colon], line[colon + 1:]
            if value_b[:1] == b" ":
                value_b = value_b[1:]
        name = name_b.decode("utf-8", "replace")
        value = value_b.decode("utf-8", "replace")
        kind, ignored = name, False
        if name == "data":
            self._data.append(value)
            self._data_bytes += len(value_b)
        elif name == "event":
            self._type = value
        elif name == "id":
            if "\x00" in value:
                ignored = True
            else:
                self._id_buffer = self._id = value
        elif name == "retry":
            if _DIGITS.fullmatch(value):
                digits = value.lstrip("0") or "0"
                retry = int(digits) if len(digits) <= _RETRY_DIGITS else 10 ** _RETRY_DIGITS
                self.retry = self._retry = retry
            else:
                ignored = True
        else:
            kind, ignored = "unknown", True
        self._record(kind, name, value, start, size, len(value_b), ignored, raw)
        return None

    def _record(self, kind: str, name: str, value: str, offset: int, size: int, value_size: int, ignored: bool,
                raw: bytes) -> None:
        self._last_kind, self._last_field = kind, None
        if len(self._fields) < MAX_FIELDS_KEPT:
            self._last_field = SseField(kind, name, value, offset, size, value_size, ignored)
            self._fields.append(self._last_field)
        self._sizes[kind] = self._sizes.get(kind, 0) + size
        self._block_size += size
        self._block_raw += raw

    def _dispatch(self) -> ServerSentEvent:
        self.last_event_id = self._id_buffer
        carry = self._carry
        sizes = dict(self._sizes)
        if carry:
            sizes["end"] = sizes.get("end", 0) + carry
        data = self._data
        dispatched = bool(data)
        payload = self._data_bytes + max(0, len(data) - 1)  # values, and the LFs joining them
        event = ServerSentEvent(
            type=(self._type or "message") if dispatched else "",
            data="\n".join(data), last_event_id=self.last_event_id, id=self._id, retry=self._retry,
            dispatched=dispatched, offset=self._block_start, wire_size=carry + self._block_size,
            payload_size=payload if dispatched else 0,
            sizes={k: sizes[k] for k in KINDS if k in sizes}, fields=self._fields,
            raw=b"\n" * carry + bytes(self._block_raw))
        self._carry = 0
        self._new_block(self._block_start + event.wire_size)
        return event


def is_event_stream(response: Request | Response) -> bool:
    """A 200 response of type ``text/event-stream``: its body is an event stream, read as it
    comes (it does not end). EventSource reads only a 200 (HTML 9.2.3); parameters such as
    charset are ignored (the stream is always UTF-8)."""
    media = (response.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    return isinstance(response, Response) and response.status == 200 and media == "text/event-stream"


def _one_line(what: str, value: str) -> str:
    if not isinstance(value, str):
        raise SseError(f"{what} must be a str, got {type(value).__name__}", kind=ErrorKind.BAD_ARGUMENT)
    if "\r" in value or "\n" in value:
        raise SseError(f"{what} {value[:40]!r} contains a line break: it would end the field early", kind=ErrorKind.BAD_ARGUMENT)
    return value


def encode_sse(data: str | None = None, *, event: str | None = None, id: str | int | None = None,
               retry: int | None = None, comment: str | None = None) -> bytes:
    """One block of an event stream, LF line ends, ending with the empty line.

    ``data`` is split at its line breaks into one ``data:`` line each (a reader joins them
    with LF again); None writes no data line (a browser then fires nothing). ``id`` and
    ``event`` must be one line; ``id`` must not contain NUL (a reader would ignore it).
    """
    lines: list[str] = []
    if comment is not None:
        if not isinstance(comment, str):
            raise SseError(f"comment must be a str, got {type(comment).__name__}", kind=ErrorKind.BAD_ARGUMENT)
        lines += [":" + (" " + c if c else "") for c in re.split(r"\r\n|\r|\n", comment)]
    if retry is not None:
        if not isinstance(retry, int) or isinstance(retry, bool) or retry < 0:
            raise SseError(f"retry must be an int of milliseconds >= 0, got {retry!r}", kind=ErrorKind.BAD_ARGUMENT)
        lines.append(f"retry: {retry}")
    if event is not None:
        lines.append("event: " + _one_line("event", event))
    if id is not None:
        id = _one_line("id", str(id))
        if "\x00" in id:
            raise SseError("id contains NUL: a reader ignores such an id (HTML 9.2.6)", kind=ErrorKind.BAD_ARGUMENT)
        lines.append("id: " + id)
    if data is not None:
        if not isinstance(data, str):
            raise SseError(f"data must be a str, got {type(data).__name__}", kind=ErrorKind.BAD_ARGUMENT)
        lines += ["data: " + part if part else "data:" for part in re.split(r"\r\n|\r|\n", data)]
    return ("\n".join(lines) + "\n\n").encode("utf-8") if lines else b"\n"


def decode_sse(data: bytes, *, last_event_id: str = "", max_event: int = DEFAULT_MAX_EVENT) -> list[ServerSentEvent]:
    """Every complete block of a whole stream (an unfinished last block is discarded)."""
    dec = SseDecoder(last_event_id=last_event_id, max_event=max_event)
    events = dec.feed(data)
    dec.eof()
    return events
