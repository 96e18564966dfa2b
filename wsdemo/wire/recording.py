"""Recordings: what a connection's record is, what a source of events is, and a JSON file
format that saves either and decodes it again offline.

Two ``typing.Protocol``s name the seam between the live layer and the show layer:

- :class:`ConnectionRecord`: one connection as recorded (id, peer, path, times, the
  handshake, the events, a summary). The tap's ``Connection`` and :class:`RecordedConnection`
  satisfy it; so can a test's own class.
- :class:`EventSource`: many connections and a way to hear of new events. The tap satisfies
  it, and :class:`Recording` (recorded connections: a source that never changes).

The widgets and diagrams read these attributes directly: no ``getattr`` guessing.

The file format (``export_recording`` / ``import_recording``) keeps the bytes each event
came from, so a fresh :class:`ConnectionDecoder` decodes the recording again. Secrets
(cookies, tokens) are redacted before anything is written. Wire layer: standard library only.
"""

from __future__ import annotations

import dataclasses
import json
import reprlib
import time
from typing import Any, Callable, Iterable, Protocol, Sequence, runtime_checkable

from .connection import ConnectionDecoder
from .events import DecodeError, Event, FrameEvent, HttpRequest, HttpResponse, SseEnd, SseEvent
from .errors import ErrorKind
from .handshake import Request, Response
from .redact import redact, redact_head
from .stats import Summary, summarize

__all__ = [
    "Handshake", "ConnectionRecord", "LiveConnection", "EventSource", "RecordedConnection", "Recording",
    "export_recording", "import_recording", "RECORDING_FORMAT", "RECORDING_VERSION",
    "MAX_RECORDED_TIME", "MAX_RECORDED_OFFSET",
]

Unsubscribe = Callable[[], None]


class Handshake(Protocol):
    """Anything that knows an opening handshake: a record, or a ``ConnectionDecoder``."""

    @property
    def request(self) -> Request | None: ...

    @property
    def response(self) -> Response | None: ...


@runtime_checkable
class ConnectionRecord(Handshake, Protocol):
    """One connection as recorded: the tap's ``Connection``, a :class:`RecordedConnection`."""

    @property
    def id(self) -> Any: ...            # the tap's number (int); a recording may carry a string

    @property
    def peer(self) -> str | None: ...   # "host:port" of the client

    @property
    def path(self) -> str | None: ...   # the request target, query included

    @property
    def opened_at(self) -> float | None: ...  # time.time() seconds

    @property
    def closed_at(self) -> float | None: ...

    @property
    def is_open(self) -> bool: ...

    @property
    def events(self) -> Iterable[Event]: ...   # oldest first; a ring may have dropped the oldest

    def summary(self) -> Summary: ...           # counts over every event, not only those kept


@runtime_checkable
class EventSource(Protocol):
    """Connections, and callbacks for what happens next: the tap, or a :class:`Recording`."""

    @property
    def connections(self) -> Sequence[ConnectionRecord]: ...

    def subscribe(self, callback: Callable[[Event], None]) -> Unsubscribe:
        """Call ``callback(event)`` for each new event (its ``connection`` set)."""
        ...

    def subscribe_connections(self, callback: Callable[[ConnectionRecord], None]) -> Unsubscribe:
        """Call ``callback(connection)`` when a connection opens and when it closes."""
        ...


@runtime_checkable
class LiveConnection(ConnectionRecord, Protocol):
    """A record still being written (the tap's ``Connection``): it belongs to a source that
    announces its events, and can wait for one."""

    @property
    def tap(self) -> EventSource: ...

    async def wait_for(self, predicate: Callable[[Event], bool], timeout: float = 10.0, *,
                       after: Event | None = None) -> Event:
        """The first event (after ``after``) for which ``predicate`` is true, recorded already
        or next; an asyncio.TimeoutError when none comes within ``timeout`` seconds."""
        ...


# --------------------------------------------------------------------------- recorded

class RecordedConnection:
    """A connection loaded from a recording: a :class:`ConnectionRecord` that never changes.

    Its events name it as their ``connection``: events made for it (by a decoder given
    ``connection=`` this record, as :func:`import_recording` does) are kept as they are;
    others are copied with ``connection`` set (events are frozen)."""

    is_open = False

    def __init__(self, id: Any = None, peer: str | None = None, path: str | None = None,
                 opened_at: float | None = None, closed_at: float | None = None,
                 events: Iterable[Event] = (), decoder: ConnectionDecoder | None = None):
        self.id, self.peer, self.path = id, peer, path
        self.opened_at, self.closed_at = opened_at, closed_at
        self.decoder = decoder
        self._keep(events)

    def _keep(self, events: Iterable[Event]) -> None:
        self.events: list[Event] = [e if e.connection is self else dataclasses.replace(e, connection=self)
                                    for e in events]
        self.request = next((e.request for e in self.events if isinstance(e, HttpRequest)), None)
        self.response = next((e.response for e in self.events if isinstance(e, HttpResponse)), None)

    def summary(self) -> Summary:
        return summarize(self.events)

    def __repr__(self) -> str:
        return f"RecordedConnection(#{self.id} {self.path or ''}, {len(self.events)} events)"


class Recording:
    """Several recorded connections: an :class:`EventSource` where nothing happens any more."""

    def __init__(self, connections: Iterable[ConnectionRecord]):
        self.connections: list[ConnectionRecord] = list(connections)

    def subscribe(self, callback: Callable[[Event], None]) -> Unsubscribe:
        return _nothing

    def subscribe_connections(self, callback: Callable[[ConnectionRecord], None]) -> Unsubscribe:
        return _nothing

    def __repr__(self) -> str:
        return f"Recording({len(self.connections)} connections)"


def _nothing() -> None:
    return None


# --------------------------------------------------------------------------- the file format

RECORDING_FORMAT = "wsdemo-recording"
RECORDING_VERSION = 1
MAX_RECORDED_TIME = 1e12  # seconds (about 31,700 years): bigger "times" are hostile, not clocks
MAX_RECORDED_OFFSET = 2 ** 53  # bytes: as far as a float counts exactly


def _event_chunk(event: Event) -> dict[str, Any] | None:
    """The bytes an event came from, so a fresh ConnectionDecoder can decode it again."""
    if isinstance(event, (HttpRequest, HttpResponse)):
        event = redact(event)
    if isinstance(event, HttpRequest):
        data = bytes(event.request.raw) + bytes(event.request.body or b"")
    elif isinstance(event, HttpResponse):
        data = bytes(event.response.raw) + bytes(event.response.body or b"")
    elif isinstance(event, FrameEvent):
        data = bytes(event.frame.raw)
    elif isinstance(event, (SseEvent, SseEnd)):
        data = bytes(event.raw)  # the body bytes as sent, chunk framing included: they decode again
    elif isinstance(event, DecodeError):
        # the typed fields too: code acts on them, never on the words
        return {"sender": event.sender, "at": event.at, "error": str(event.error),
                "offset": int(event.offset), "kind": event.kind.value, "fatal": bool(event.fatal),
                "status": event.status}
    else:
        return None  # messages are rebuilt from their frames; what the tap did is not on the wire
    return {"sender": event.sender, "at": event.at, "hex": data.hex()}


def _chunks(events: Iterable[Event]) -> list[dict[str, Any]]:
    return [c for c in map(_event_chunk, events) if c is not None]


def _connection_record(conn: ConnectionRecord) -> dict[str, Any]:
    events = list(conn.events)
    chunks = _chunks(events)
    # A ring may have dropped the handshake: put it back from the connection's own copy,
    # so the recording decodes (and its deflate settings are known) offline.
    have = {type(e) for e in events}
    pre = []
    for msg, cls, sender in ((conn.request, HttpRequest, "client"), (conn.response, HttpResponse, "server")):
        if msg is not None and cls not in have:
            raw = redact_head(bytes(msg.raw)) + bytes(msg.body or b"")
            pre.append({"sender": sender, "at": conn.opened_at, "hex": raw.hex()})
    return {"chunks": pre + chunks, "id": conn.id, "peer": conn.peer, "path": conn.path,
            "opened_at": conn.opened_at, "closed_at": conn.closed_at}


def export_recording(source: EventSource | ConnectionRecord | Iterable[Event], *,
                     indent: int | None = None) -> str:
    """JSON for a source of events (all its connections), one connection, or a list of events."""
    if isinstance(source, EventSource):
        conns = [_connection_record(c) for c in source.connections]
    elif isinstance(source, ConnectionRecord):
        conns = [_connection_record(source)]
    else:
        conns = [{"chunks": _chunks(source)}]
    return json.dumps({"format": RECORDING_FORMAT, "version": RECORDING_VERSION,
                       "connections": conns}, indent=indent)


def _shown(value: Any) -> str:
    return reprlib.repr(value)


def _time_field(value: Any, where: str, name: str) -> float | None:
    """A time in seconds, or None; ValueError for text, booleans, NaN, infinities, huge numbers."""
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not abs(value) <= MAX_RECORDED_TIME):  # NaN fails this too
        raise ValueError(f"{where}: {name!r} must be a time in seconds (a finite number up to "
                         f"{MAX_RECORDED_TIME:g}), not {_shown(value)}")
    return float(value)


def _text_field(value: Any, where: str, name: str, *, numbers: bool = False) -> Any:
    if value is None or isinstance(value, str) or (numbers and type(value) is int):
        return value
    kind = "a number or a string" if numbers else "a string"
    raise ValueError(f"{where}: {name!r} must be {kind}, not {_shown(value)}")


_KINDS = {k.value: k for k in ErrorKind}


def _error_fields(chunk: dict[str, Any], where: str) -> tuple[ErrorKind, bool, int | None]:
    """A recorded decode error's kind, fatal and status (older recordings have none: defaults)."""
    kind = chunk.get("kind", ErrorKind.UNSPECIFIED.value)
    if not isinstance(kind, str) or kind not in _KINDS:
        raise ValueError(f"{where}: 'kind' must be the name of a wire error kind, not {_shown(kind)}")
    fatal = chunk.get("fatal", True)
    if not isinstance(fatal, bool):
        raise ValueError(f"{where}: 'fatal' must be true or false, not {_shown(fatal)}")
    status = chunk.get("status")
    if status is not None and (type(status) is not int or not 100 <= status <= 599):
        raise ValueError(f"{where}: 'status' must be an HTTP status (100 to 599), not {_shown(status)}")
    return _KINDS[kind], fatal, status


def import_recording(text: str | bytes) -> list[RecordedConnection]:
    """Decode a recording made by :func:`export_recording` again, from its bytes.

    Every field is checked before anything is decoded (types, hex, sender names, times
    finite and at most MAX_RECORDED_TIME): a bad file raises ValueError naming the connection,
    chunk and field that is wrong.
    """
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError("recording is not JSON we can read: nested too deeply") from None
    except ValueError as e:
        raise ValueError(f"recording is not JSON: {e}") from None
    if not isinstance(data, dict) or data.get("format") != RECORDING_FORMAT:
        raise ValueError(f"not a wsdemo recording (expected format {RECORDING_FORMAT!r})")
    version = data.get("version")
    if type(version) is not int or version != RECORDING_VERSION:
        raise ValueError(f"unsupported recording version {_shown(version)} "
                         f"(this wsdemo reads version {RECORDING_VERSION})")
    conns = data.get("connections")
    if not isinstance(conns, list):
        raise ValueError("recording has no 'connections' list")
    out = []
    for n, rec in enumerate(conns):
        if not isinstance(rec, dict) or not isinstance(rec.get("chunks"), list):
            raise ValueError(f"connection {n}: no 'chunks' list")
        where = f"connection {n}"
        ident = _text_field(rec.get("id"), where, "id", numbers=True)
        peer = _text_field(rec.get("peer"), where, "peer")
        path = _text_field(rec.get("path"), where, "path")
        opened = _time_field(rec.get("opened_at"), where, "opened_at")
        closed = _time_field(rec.get("closed_at"), where, "closed_at")
        record = RecordedConnection(ident, peer, path, opened, closed)
        record.decoder = dec = ConnectionDecoder(connection=record)  # events name it as they are made
        events: list[Event] = []
        for i, ch in enumerate(rec["chunks"]):
            where = f"connection {n}, chunk {i}"
            if not isinstance(ch, dict) or not any(ch.get("sender") == s for s in ("client", "server")):
                raise ValueError(f"{where}: 'sender' must be 'client' or 'server'")
            sender = ch["sender"]
            at = _time_field(ch.get("at"), where, "at")
            if "hex" in ch:
                if not isinstance(ch["hex"], str):
                    raise ValueError(f"{where}: 'hex' must be a string of hex digits, not {_shown(ch['hex'])}")
                try:
                    data_b = bytes.fromhex(ch["hex"])
                except ValueError:
                    raise ValueError(f"{where}: 'hex' is not hexadecimal") from None
                events.extend(dec.feed(sender, data_b, at=at))
            elif "error" in ch:
                error = _text_field(ch["error"], where, "error")
                offset = ch.get("offset", 0)
                if type(offset) is not int or not 0 <= offset <= MAX_RECORDED_OFFSET:
                    raise ValueError(f"{where}: 'offset' must be a whole number of bytes "
                                     f"(0 to 2**53), not {_shown(offset)}")
                kind, fatal, status = _error_fields(ch, where)
                when = time.time() if at is None else at  # as the decoder stamps a chunk without a time
                events.append(DecodeError(sender, when, str(error), offset, record, fatal=fatal, status=status,
                                          kind=kind))
            else:
                raise ValueError(f"{where}: needs 'hex' or 'error'")
        record._keep(events)
        out.append(record)
    return out
