"""How the tap keeps a connection's recorded frames and messages: as flat tuples the garbage
collector does not walk, turned back into wire events when someone reads them.

Kept as objects, each recorded frame and message is about five objects the collector tracks
(a FrameEvent and its attribute dict, its Frame, a MessageEvent, its Message and the Message's
list of frames). A class of 50 keeps 100 connections of 1,000 events each: every full
(generation 2) pass walked ~160,000 objects while the loop stood still, 100-300 ms at a time,
and chat's p99 went from 12 ms to 100-200 ms (bench/classroom.py prints those passes).
CPython stops tracking a tuple that holds only untracked values (bytes, str, numbers, None)
the first time a collection sees it, so a row costs a full pass nothing. Rows are flat: a
tuple inside a row made at the same moment may be seen after the row, which then stays tracked
one collection longer, and that is how rows would reach the oldest generation.

Rows, for the two events that come by the thousand::

    (FRAME, sender, at, offset, *frame)
    (MESSAGE, sender, at, kind, data, text, wire_size, close code, close reason, compressed,
     *frame, *frame, ...)  # each of the message's frames

where ``frame`` is ``FRAME_FIELDS`` values: fin, rsv1, rsv2, rsv3, the opcode as an int, masked,
mask_key, payload_len, header, payload, wire_payload (None when it is payload itself), offset.
Payloads are the decoder's bytes objects, shared by a frame's row and its message's. Every other
event (HTTP heads, errors, the tap's own, server-sent events: a few per connection) is kept as
the event itself, less its ``connection``, which reading gives back: nothing a record keeps
points to its connection, so a record nobody holds is freed as soon as it is let go of.

Reading (``Events``, what ``Connection.events`` returns) builds the events again, equal to the
ones decoded. While anyone holds an event it is the one a later read returns (weak references),
and within one pass over the events a frame event's ``frame`` is the same object as in its
message's ``frames``, as the decoder made them (widgets pair them by identity; a frame is known
by its sender and its offset in that sender's stream).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import replace

from .. import wire

FRAME, MESSAGE = 1, 2
FRAME_FIELDS = 12
_MESSAGE_HEAD = 10  # fields of a message row before its frames
_FrameEvent, _MessageEvent, _Frame, _Message = wire.FrameEvent, wire.MessageEvent, wire.Frame, wire.Message
_Close = wire.Close


def _opcode(value: int):
    try:
        return wire.Opcode(value)
    except ValueError:  # a reserved opcode: the decoder keeps the bare int (see wire.frames)
        return value


_OPCODES = tuple(_opcode(i) for i in range(16))


def at_of(item) -> float:
    """The arrival time of a stored item, row or event."""
    return item[2] if type(item) is tuple else item.at


def _frame_fields(f) -> tuple:
    payload, wire_payload = f.payload, f.wire_payload
    return (f.fin, f.rsv1, f.rsv2, f.rsv3, int(f.opcode), f.masked, f.mask_key, f.payload_len,
            f.header, payload, None if wire_payload is payload else wire_payload, f.offset)


def _pack(event):
    """The row kept for ``event`` (or the event itself, for the few of other kinds)."""
    kind = type(event)
    if kind is _FrameEvent:
        return (FRAME, event.sender, event.at, event.offset) + _frame_fields(event.frame)
    if kind is _MessageEvent:
        m = event.message
        close = m.close  # a Close is an object the collector tracks: kept as its two fields
        row = (MESSAGE, event.sender, event.at, m.kind, m.data, m.text, m.wire_size,
               None if close is None else int(close.code), None if close is None else close.reason,
               m.compressed)
        frames = m.frames
        if len(frames) == 1:
            return row + _frame_fields(frames[0])
        fields = list(row)
        for f in frames:
            fields += _frame_fields(f)
        return tuple(fields)
    if event.connection is not None:
        # Kept without its connection, which a read gives back (_unpack): an event pointing to
        # the connection that keeps it is a cycle, and a record the tap lets go of (max_closed)
        # would wait, rings and all, for a full collection, which then freed a whole class's
        # records with the loop stopped (bench/classroom.py: 30-120 ms passes).
        return replace(event, connection=None)
    return event


def _frame(row: tuple, i: int, sender: str, frames: dict):
    """The Frame whose fields start at ``row[i]``: the one ``frames`` already has for it, else
    a new one (kept there)."""
    offset = row[i + 11]
    key = (sender, offset)
    frame = frames.get(key) if offset is not None else None
    if frame is None:
        frame = _Frame(row[i], row[i + 1], row[i + 2], row[i + 3], _OPCODES[row[i + 4]], row[i + 5],
                       row[i + 6], row[i + 7], row[i + 8], row[i + 9], row[i + 10], offset)
        if offset is not None:
            frames[key] = frame
    return frame


class EventRecord:
    """One connection's events in ``ring`` (a deque of rows, oldest first, that counts in
    ``dropped`` every item it let go, so the item at index i was the ``dropped + i``-th added).

    ``add`` packs an event into a row; ``view`` reads them back as events.
    """

    __slots__ = ("ring", "_seen")

    def __init__(self, ring):
        self.ring = ring
        self._seen: weakref.WeakValueDictionary | None = None  # serial -> event, while held

    def add(self, event, size: int, held: bool = False) -> None:
        """Keep ``event`` (``size`` bytes, about, for the ring's bounds). ``held``: someone got
        this very object (a subscriber), so a read returns it while they hold it."""
        ring = self.ring
        serial = ring.dropped + len(ring)
        row = _pack(event)
        ring.add(row, size)
        if held and row is not event:
            seen = self._seen
            if seen is None:
                seen = self._seen = weakref.WeakValueDictionary()
            seen[serial] = event

    def view(self, connection) -> "Events":
        return Events(self, connection)

    def _unpack(self, row, serial: int, connection, frames: dict):
        """The event for ``row``. ``frames`` ((sender, offset) -> Frame) is shared by one
        pass, so a frame event and its message share their Frame objects."""
        kept = type(row) is not tuple
        if kept and row.connection is connection:  # (kept without one: _pack)
            return row
        seen = self._seen
        if seen is not None:
            event = seen.get(serial)
            if event is not None:
                if not kept and row[0] == FRAME and event.frame.offset is not None:
                    frames[(event.sender, event.frame.offset)] = event.frame
                return event
        else:
            seen = self._seen = weakref.WeakValueDictionary()
        if kept:
            event = replace(row, connection=connection)
            seen[serial] = event
            return event
        sender = row[1]
        if row[0] == FRAME:
            event = _FrameEvent(sender=sender, at=row[2], frame=_frame(row, 4, sender, frames),
                                offset=row[3], connection=connection)
        else:
            built = [_frame(row, i, sender, frames) for i in range(_MESSAGE_HEAD, len(row), FRAME_FIELDS)]
            close = None if row[7] is None else _Close(row[7], row[8])
            message = _Message(row[3], row[4], row[5], built, row[6], close, row[9])
            event = _MessageEvent(sender=sender, at=row[2], message=message, connection=connection)
        seen[serial] = event
        return event


class Events(Sequence):
    """A connection's recorded events, oldest first: a live view of its ring (``len`` and
    indexing see what is there now; iterating walks what was there when it began)."""

    __slots__ = ("_record", "_connection")

    def __init__(self, record: EventRecord, connection):
        self._record = record
        self._connection = connection

    def __len__(self) -> int:
        return len(self._record.ring)

    @property
    def maxlen(self) -> int:
        """Most events kept (the ring's count bound; it has a byte bound too)."""
        return self._record.ring.maxlen

    def __getitem__(self, index):
        if isinstance(index, slice):
            return list(self)[index]
        ring = self._record.ring
        n = len(ring)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("event index out of range")
        return self._record._unpack(ring[index], ring.dropped + index, self._connection, {})

    def __iter__(self):
        ring = self._record.ring
        rows = list(ring)  # a snapshot: the recording may grow while the caller iterates
        first = ring.dropped
        unpack, connection, frames = self._record._unpack, self._connection, {}
        for i, row in enumerate(rows):
            yield unpack(row, first + i, connection, frames)

    def __reversed__(self):
        return reversed(list(self))

    def __repr__(self) -> str:
        return f"<{len(self)} recorded events of {self._connection!r}>"
