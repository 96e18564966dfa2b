"""A connection's recording: what the tap noted, decoded in order into bounded rings.

The relay notes each chunk (``Connection._note``) and goes on; decoding runs a moment later,
while the tap is quiet (see DECODE_DELAY), or at once when someone reads ``events``; while
nobody watches, only when someone reads (see LAZY_BYTES). Every
event and stored chunk is redacted first. What a connection keeps counts towards its tap's
byte budget (``Tap.budget_bytes``); ``event_bytes`` estimates an event's share.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import sys
import time
from array import array
from collections import deque
from collections.abc import Sequence
from functools import partial
from itertools import chain
from typing import TYPE_CHECKING, Callable, NamedTuple

from .. import wire
from .record_store import EventRecord, Events, at_of

if TYPE_CHECKING:
    from .sides import TlsInfo
    from .tap import Tap

log = logging.getLogger("wsdemo.tap")

_FrameEvent, _MessageEvent = wire.FrameEvent, wire.MessageEvent
LOW_WATER = 0.9  # trimming goes down to this share of the budget, so it runs seldom
# Decoding is deferred so that it runs while the tap is quiet, not inside a round
# trip (bench/tap.py measures this): DECODE_DELAY after the first undecoded chunk,
# pushed back while chunks keep arriving on any connection, but never longer than
# MAX_DEFER or past MAX_PENDING chunks / MAX_PENDING_BYTES, so widgets stay live and
# memory bounded (one queue and timer for all connections: decoding.py). Events keep each
# chunk's own arrival time in ``.at``; reading a connection's recording decodes what is
# pending first.
DECODE_DELAY = 0.002
MAX_DEFER = 0.05
MAX_PENDING = 256
MAX_PENDING_BYTES = 1 << 20
# The decode queue's turns (decoding.py) decode at most TURN_BUDGET events together in one
# pass of the loop, then let it run: the rest wait for the next pass, after the loop has polled
# the sockets. A turn stops inside a chunk of frames if need be: chunks are decoded TURN_SLICE
# bytes at a time (a 64 KiB chunk of empty frames is 10,000 events). Turns come due together (a
# cursor tick is a frame to every member at once), and one connection may have hundreds of
# chunks to pass at once (lazy decoding, below): a pass that decoded them all held up every
# chunk the tap had to relay meanwhile (a chat line waited behind them; bench/classroom.py).
# Past MAX_BACKLOG undecoded bytes the tap catches up at once instead: memory stays bounded
# even if decoding falls behind.
TURN_BUDGET = 100
TURN_SLICE = 4096
MAX_BACKLOG = 8 * MAX_PENDING_BYTES
# Decoding is lazy while nobody watches a connection (no tap subscriber, no wait_for): once its
# handshake is decoded, its frames wait undecoded, a window of at most a ring's worth of chunks
# (ring_size) and LAZY_BYTES, until someone reads the recording (which decodes the window, as
# above) or starts watching. Chunks pushed out of the window are decoded in the queue's turns
# without being kept: frames and messages only counted (``wire.ConnectionDecoder.feed``'s
# tally), so ``summary()`` stays exact, the decoder stays in step and errors are still
# recorded; their events count in ``dropped_events``. The chunks are kept as ever. Making
# and keeping every event costs several times what checking and counting it costs, and a
# class's load decodes ~6,000 events a second on the server's loop (bench/classroom.py).
LAZY_BYTES = 256 << 10
# A connection closed with more undecoded chunks than this is decoded in the queue's turns, not
# at once (a window takes ~10 ms; see Tap._closed); fewer take ~0.5 ms at most.
CLOSE_AT_ONCE = 64
_LAZY_HI = LAZY_BYTES * 5 // 4  # past this many undecoded bytes, the oldest are passed


class Delivery(NamedTuple):
    """When a chunk held back by network conditions was handed on: ``at`` is its arrival (the
    same float as in ``Connection.chunks``), ``delivered_at`` when its last byte was written
    to the other side (both ``time.time()``), ``size`` its length."""

    sender: str
    at: float
    delivered_at: float
    size: int


class _Rest(bytes):
    """The undecoded end of a chunk a decoding turn stopped in (already counted and stored)."""


class _Ring(Sequence):
    """A ring buffer bounded by count (``maxlen``) and by bytes (``max_bytes``, an estimate
    per item): the oldest items go first, the newest one always stays. Big messages would
    otherwise let a count-bounded ring hold gigabytes. Its bytes count towards ``tap``'s
    budget, which may take even the newest; ``dropped`` counts the items that went.

    Items are kept in blocks, tuples of BLOCK items, then a list of the newest; their sizes in
    an array. A collector's pass visits every item of a deque (and every size, an int object),
    and the rings of a class of 50 hold ~200,000 of them: each full pass stopped the loop for
    15-35 ms (bench/classroom.py). A tuple of untracked values (the rows and chunks kept here:
    record_store) is untracked once the collector has seen it, so a pass visits a ring's
    blocks and its newest items, not all of it."""

    __slots__ = ("maxlen", "max_bytes", "nbytes", "dropped", "tap", "_blocks", "_tail", "_len",
                 "_sizes", "_first")  # two per connection: no dict

    BLOCK = 32

    def __init__(self, maxlen: int, max_bytes: int, tap: "Tap | None" = None):
        if maxlen < 0:
            raise ValueError("maxlen must be non-negative")
        self.maxlen = maxlen
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.dropped = 0
        self.tap = tap
        self._blocks: deque[tuple] = deque()
        self._tail: list = []
        self._len = 0
        self._sizes = array("q")  # each item's size, oldest at _first
        self._first = 0

    def __len__(self) -> int:
        return self._len

    def __iter__(self):
        # what is there now: the ring may change while the caller iterates
        return chain(*self._blocks, self._tail[:])

    def __getitem__(self, index):
        if isinstance(index, slice):
            return list(self)[index]
        n = self._len
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("ring index out of range")
        blocks = self._blocks
        if blocks:
            first = len(blocks[0])  # the oldest block may have lost its first items
            if index < first:
                return blocks[0][index]
            b, i = divmod(index - first, self.BLOCK)
            if b + 1 < len(blocks):
                return blocks[b + 1][i]
            index -= first + (len(blocks) - 1) * self.BLOCK
        return self._tail[index]

    def __repr__(self) -> str:
        return f"_Ring({list(self)!r}, maxlen={self.maxlen})"

    def add(self, item, size: int) -> None:
        before = self.nbytes
        if self._len == self.maxlen:
            if not self.maxlen:
                self.dropped += 1
                return
            self.nbytes -= self._popleft()
        tail = self._tail
        tail.append(item)
        if len(tail) == self.BLOCK:
            self._blocks.append(tuple(tail))
            tail.clear()
        self._sizes.append(size)
        self._len += 1
        self.nbytes += size
        while self.nbytes > self.max_bytes and self._len > 1:
            self.nbytes -= self._popleft()
        tap = self.tap
        if tap is not None:
            tap.retained_bytes += self.nbytes - before
            if tap.retained_bytes > tap._trim_at:
                tap._trim()

    def _popleft(self) -> int:
        """Let the oldest item go (at once: a big one must not wait for its block); its size."""
        blocks = self._blocks
        if blocks:
            block = blocks[0]
            if len(block) == 1:
                blocks.popleft()
            else:
                blocks[0] = block[1:]
        else:
            del self._tail[0]
        self._len -= 1
        self.dropped += 1
        sizes, first = self._sizes, self._first
        size = sizes[first]
        first += 1
        if first >= 1024 and 2 * first >= len(sizes):
            del sizes[:first]
            first = 0
        self._first = first
        return size

    def drop_oldest(self) -> None:
        """Drop the oldest item, for the tap's budget."""
        size = self._popleft()
        self.nbytes -= size
        if self.tap is not None:
            self.tap.retained_bytes -= size


# What Python objects cost besides their payloads (measured with tracemalloc on CPython 3.11):
# an event with its attribute dict, a Frame with its header and mask key, a Message, a
# stored chunk's tuple, one parsed header field.
_EVENT = 160
_FRAME = 200
_MESSAGE = 130
_CHUNK = 130
_HEADER = 180
_getsizeof = sys.getsizeof


def _frames_bytes(frames) -> int:
    return sum(_FRAME + f.payload_len * (2 if f.masked else 1) for f in frames)


def event_bytes(event) -> int:
    """About how many bytes an event keeps alive: payloads, and the objects around them. A
    message counts its frames too (it keeps them, even once their frame events are gone)."""
    kind = type(event)
    if kind is wire.SseEvent:  # its wire bytes, the block's bytes and the data text
        return 64 + 3 * len(event.raw)
    if kind is _FrameEvent:
        frame = event.frame
        return _EVENT + _FRAME + frame.payload_len * (2 if frame.masked else 1)  # unmasked and as sent
    if kind is _MessageEvent:
        m = event.message
        frames = m.frames
        size = _EVENT + _MESSAGE + 8 * len(frames) + _frames_bytes(frames)
        if len(frames) != 1 or m.data is not frames[0].payload:  # joined or inflated: a copy
            size += len(m.data)
        if m.text is not None:
            size += _getsizeof(m.text)
        return size
    msg = getattr(event, "request", None) or getattr(event, "response", None)
    if msg is not None:
        return _http_bytes(msg)
    return _EVENT + len(getattr(event, "error", "") or "")


def _http_bytes(msg) -> int:
    # raw, plus the parsed copies of its fields
    return _EVENT + 2 * len(msg.raw) + _HEADER * len(msg.headers) + len(getattr(msg, "body", b"") or b"")


class EventTimeout(asyncio.TimeoutError):
    """``Connection.wait_for`` gave up: no matching event was recorded within ``timeout``."""

    def __init__(self, connection: "Connection", timeout: float):
        super().__init__(f"no matching event on connection #{connection.id} within {timeout:g} s")
        self.connection = connection
        self.timeout = timeout


class Connection:
    """One TCP connection through the tap, both directions.

    ``events`` and ``chunks`` are ring buffers (oldest first; events are kept as rows the
    garbage collector does not walk and built when read: record_store.py); ``summary()``
    counts every event ever seen, not only those still in the ring, and
    ``dropped_events``/``dropped_chunks`` how many the rings let go (by count, by
    bytes, or for the tap's budget).
    """

    def __init__(self, tap: "Tap", id: int, peer: str, ring_size: int,
                 ring_bytes: int = 8 << 20):
        self.tap = tap
        self.id = id
        self.peer = peer
        self._path: str | None = None
        self.opened_at = time.time()
        self.closed_at: float | None = None
        self._events = _Ring(ring_size, ring_bytes, tap)  # of rows (see record_store)
        self._record = EventRecord(self._events)
        self._chunks = _Ring(ring_size, ring_bytes, tap)  # of (sender, at, bytes)
        self._window = ring_size  # chunks that may wait undecoded while nobody watches (LAZY_BYTES)
        self._window_hi = ring_size * 5 // 4  # past this many, the oldest are passed
        # Chunks held back by network conditions (see ``deliveries``): made when first used,
        # as most connections never see conditions (an empty deque is ~600 bytes).
        self._deliveries: deque[Delivery] | None = None
        # The server's limits: what a client sends past them, the server refuses anyway.
        self.decoder = wire.ConnectionDecoder(client_max_payload=tap.max_message_size, connection=self)
        self._request = None  # the handshake, redacted
        self._response = None
        self._held = 0  # bytes the handshake kept outside the rings (counted in the budget)
        self.bytes = {"client": 0, "server": 0}  # relayed so far, per sender
        self._summary = wire.Summary()  # running totals over every event, not only the ring
        self._pending: list[tuple[str, float, bytes | None]] = []
        self._pending_bytes = 0
        self._due = False  # in the tap's decode queue (decoding.py)
        self._closing = False  # closed, its window still to decode before the close is reported (Tap._closed)
        self._redactors = {"client": wire.HeadRedactor(), "server": wire.HeadRedactor()}
        # The tap's own port towards Tornado: the handler sees it as its peer, which is how
        # server.participants() pairs handlers with these records.
        self.upstream_port: int | None = None
        # Under TLS (Tap(ssl_context=...)): the protocol, and the bytes on the wire vs ``bytes``
        # (what was inside the records, relayed and decoded as without TLS). None without TLS.
        self.tls: TlsInfo | None = None
        self.cut_reason: str | None = None  # set when the tap itself cut the line (a TapEvent says so)
        # (predicate, future) of each wait_for under way; None while nobody waits (most of the time)
        self._waiters: list[tuple[Callable, asyncio.Future]] | None = None

    @property
    def deliveries(self) -> deque:
        """Chunks held back by network conditions, when each was handed on (see Delivery), in
        that order; join them to ``chunks`` on (sender, at). A chunk relayed without
        conditions was handed on as it arrived and has no entry."""
        if self._deliveries is None:
            self._deliveries = deque(maxlen=self._events.maxlen)
        return self._deliveries

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        dropped = f" ({self._events.dropped} dropped)" if self._events.dropped else ""
        tls = f", {self.tls}" if self.tls is not None else ""
        cut = f", {self.cut_reason}" if self.cut_reason else ""
        return (f"<Connection #{self.id} {self.peer} {self._path or '-'} {state}, "
                f"{len(self._events)} events{dropped}, {self.bytes['client']}+{self.bytes['server']} bytes"
                f"{tls}{cut}>")

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    # Reading what was recorded first decodes what the relay has noted so far, so a
    # notebook cell that runs right after a send sees its frames (decoding is deferred
    # by DECODE_DELAY to keep it off the round trip).
    @property
    def events(self) -> Events:
        self.flush()
        return self._record.view(self)

    @property
    def chunks(self) -> Sequence:
        self.flush()
        return self._chunks

    @property
    def path(self) -> str | None:
        self.flush()
        return self._path

    @property
    def request(self):
        """The opening handshake's request (redacted), or None."""
        self.flush()
        return self._request

    @property
    def response(self):
        """The opening handshake's response (redacted), or None."""
        self.flush()
        return self._response

    @property
    def dropped_events(self) -> int:
        """Events no longer in ``events`` (the ring's count or byte bound, or the tap's budget)."""
        self.flush()
        return self._events.dropped

    @property
    def dropped_chunks(self) -> int:
        self.flush()
        return self._chunks.dropped

    @property
    def pending_chunks(self) -> int:
        """Chunks relayed but not decoded yet: at most about MAX_PENDING (see DECODE_DELAY), or
        while nobody watches, a window of up to ``ring_size`` (see LAZY_BYTES)."""
        return len(self._pending)

    @property
    def pending_bytes(self) -> int:
        """Bytes relayed but not decoded yet."""
        return self._pending_bytes

    def would_flush_now(self, size: int) -> bool:
        """Noting ``size`` more bytes would decode them at once (past MAX_BACKLOG), calling
        subscribers inside the caller: the app's own write must not (link.from_app)."""
        return self._pending_bytes + size >= MAX_BACKLOG

    @property
    def retained_bytes(self) -> int:
        """About how many bytes this connection's recording keeps (its share of the tap's budget)."""
        return self._events.nbytes + self._chunks.nbytes + self._held

    def summary(self):
        """``wire.summarize`` over every event this connection has produced."""
        self.flush()
        return copy.deepcopy(self._summary)  # a snapshot: later traffic does not change it

    async def wait_for(self, predicate: Callable[[object], bool], timeout: float = 10.0, *,
                       after: object = None):
        """The first event for which ``predicate(event)`` is true: one already recorded (after
        the event ``after``, when given and still in ``events``), else the next one recorded.
        Raises EventTimeout (an asyncio.TimeoutError) when none comes within ``timeout`` s."""
        events = list(self.events)  # decodes what is pending first
        if after is not None:
            for i in range(len(events) - 1, -1, -1):
                if events[i] is after:
                    events = events[i + 1:]
                    break
        for event in events:
            if predicate(event):
                return event
        future = asyncio.get_running_loop().create_future()
        waiter = (predicate, future)
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise EventTimeout(self, timeout) from None
        finally:
            self._waiters.remove(waiter)
            if not self._waiters:
                self._waiters = None

    def _wake(self, event) -> None:
        """Hand a new event to every wait_for whose predicate it satisfies."""
        for predicate, future in list(self._waiters or ()):
            if future.done():
                continue
            try:
                if predicate(event):
                    future.set_result(event)
            except Exception as exc:  # the waiter's own error, raised in the waiter, not here
                future.set_exception(exc)

    # -- recording (called by the relay) -------------------------------------

    def _tap_event(self, kind: "wire.TapAction", text: str) -> None:
        """Record what the tap itself did, after every event decoded so far."""
        self.flush()
        self._emit(wire.TapEvent("tap", time.time(), kind, text, connection=self))

    def _note(self, sender: str, data: bytes | None) -> float:
        # Hot path: one append, and the tap's decode queue for the first chunk of a batch.
        tap = self.tap
        at = tap._last_chunk_at = time.time()
        pending = self._pending
        pending.append((sender, at, data))
        if data is not None:
            self._pending_bytes += len(data)
        if not self._due:
            # nobody watching (_lazy) and the window not a quarter past its bound (_over_window),
            # written out: this runs for every chunk relayed
            if (self._waiters is None and not tap._subscribers and not self._closing
                    and len(pending) <= self._window_hi and self._pending_bytes <= _LAZY_HI
                    and self.decoder.upgraded):
                return at
            tap._decoding.add(self)
        elif len(pending) >= MAX_PENDING or self._pending_bytes >= MAX_PENDING_BYTES:
            if self._pending_bytes >= MAX_BACKLOG:
                self.flush()
            else:
                tap._decoding.hurry()
        return at

    def flush(self) -> None:
        """Decode what the relay has noted so far, in order (also called on demand)."""
        self._decode_pending(None)

    def _lazy(self) -> bool:
        """Nobody watches and the handshake is decoded: frames may wait (see LAZY_BYTES)."""
        return (self._waiters is None and not self.tap._subscribers and self.decoder.upgraded
                and not self._closing)

    def _over_window(self) -> bool:
        """The undecoded chunks are a quarter past the window: time to pass the oldest."""
        return len(self._pending) > self._window_hi or self._pending_bytes > _LAZY_HI

    def _counted(self) -> int:
        s = self._summary
        return s.client.frames + s.client.messages + s.server.frames + s.server.messages

    def _pass_excess(self, limit: int) -> tuple[bool, int]:
        """A scheduled turn while nobody watches: decode the oldest chunks past the window,
        counting their frames and messages without keeping them; stop once about ``limit``
        were counted. Returns whether some are left to pass, and how many were counted."""
        pending = self._pending
        n = len(pending)
        window = self._window
        over = self._pending_bytes - LAZY_BYTES
        k = 0
        while k < n and (n - k > window or over > 0):
            data = pending[k][2]
            if data is not None:
                over -= len(data)
            k += 1
        made = 0
        summary = self._summary
        feed = self.decoder.feed
        done = 0  # chunks passed
        left = None  # the end of a chunk this turn stopped in
        for i in range(k):
            sender, at, data = pending[i]
            before = self._counted()
            if data is None:
                events = self._decode(self.decoder.eof, sender, at)
            else:
                self._pending_bytes -= len(data)
                if type(data) is not _Rest:  # kept as when decoded in full: upgraded, so not redacted
                    self.bytes[sender] += len(data)
                    self._store(sender, at, data)
                if len(data) <= TURN_SLICE:  # most chunks: the call made directly, as it is most of the cost
                    try:
                        events = feed(sender, data, at, tally=summary)
                    except Exception as exc:
                        events = self._failed(exc, sender, at)
                else:
                    events, rest = self._decode_frames(sender, data, at, limit, made, summary)
                    if rest:
                        left = (sender, at, _Rest(rest))
            counted = self._counted() - before
            self._events.dropped += counted
            for event in events:
                self._emit(event)
            made += counted + len(events)
            done += 1
            if left is not None or (made >= limit and done < k):
                break
        # In place: a new list of the window at every turn was a young object the collector
        # walked whole (thousands of references) at its next pass.
        del pending[:done]
        if left is not None:
            pending.insert(0, left)
            self._pending_bytes += len(left[2])
        return done < k or left is not None, made

    def _decode_pending(self, limit: int | None) -> tuple[bool, int]:
        """Decode the noted chunks in order. With a ``limit``, stop once that many events came
        (inside a chunk of frames, if need be). Returns whether some are left, and how many
        events came. A scheduled turn (a ``limit``) while nobody watches only passes the
        chunks past the window (``_pass_excess``)."""
        if limit is not None and self._lazy():
            return self._pass_excess(limit)
        more, made = self._decode_all(limit)
        if self._closing and not more:
            self._closing = False
            self.tap._finish_close(self)
        return more, made

    def _decode_all(self, limit: int | None) -> tuple[bool, int]:
        pending, self._pending = self._pending, []
        self._pending_bytes = 0
        made = 0
        handshake = limit is not None and not self.decoder.upgraded  # a turn may end it
        for n, (sender, at, data) in enumerate(pending):
            rest = None
            if data is None:
                events = self._decode(self.decoder.eof, sender, at)
            elif type(data) is _Rest:  # a chunk an earlier turn stopped in: counted and stored
                events, rest = self._decode_frames(sender, data, at, limit, made)
            else:
                start = self.bytes[sender]
                self.bytes[sender] += len(data)
                if self.decoder.upgraded:  # frames from here on: no heads to redact
                    events, rest = self._decode_frames(sender, data, at, limit, made)
                    stored = data
                else:
                    stored = self._redact_chunk(sender, data, start)
                    events = self._decode(self.decoder.feed, sender, data, at)
                    stored = self._redact_rest(sender, data, start, stored, events)
                self._store(sender, at, stored)
            for event in events:
                self._emit(event)
            made += len(events)
            # The handshake decoded and nobody watching: the frames after it wait (LAZY_BYTES).
            lazy = handshake and self.decoder.upgraded and self._lazy()
            if limit is not None and (rest or made >= limit or lazy) and (rest or n + 1 < len(pending)):
                left = pending[n + 1:]
                if rest:
                    left.insert(0, (sender, at, _Rest(rest)))
                self._pending = left + self._pending
                self._pending_bytes = sum(len(d) for _, _, d in self._pending if d is not None)
                return not lazy or self._over_window(), made
        return False, made

    def _store(self, sender: str, at: float, stored: bytes) -> None:
        # Kept as they come: the sides read every chunk at its own length (Side.read_exact).
        self._chunks.add((sender, at, stored), _CHUNK + len(stored))

    def _decode_frames(self, sender: str, data: bytes, at: float, limit: int | None, made: int,
                       tally: wire.Summary | None = None):
        """Frames of one chunk: (events, the bytes left undecoded when ``limit`` was reached).
        With ``tally`` (the summary), frames and messages are counted there, not made, and
        count towards ``limit`` all the same (see _pass_excess)."""
        feed = self.decoder.feed if tally is None else partial(self.decoder.feed, tally=tally)
        if limit is None or len(data) <= TURN_SLICE:
            return self._decode(feed, sender, data, at), None
        events: list = []
        before = self._counted()
        for i in range(0, len(data), TURN_SLICE):
            events += self._decode(feed, sender, data[i:i + TURN_SLICE], at)
            done = len(events) + (self._counted() - before if tally is not None else 0)
            if made + done >= limit and i + TURN_SLICE < len(data):
                return events, data[i + TURN_SLICE:]
        return events, None

    def _decode(self, method, sender: str, *args) -> list:
        try:
            return method(sender, *args)
        except Exception as exc:
            return self._failed(exc, sender, args[-1])

    def _failed(self, exc: Exception, sender: str, at: float) -> list:
        """The decoder raised (its contract says it never does): say so, as an event."""
        log.exception("wire decoder failed on connection #%d", self.id, exc_info=exc)
        return [wire.DecodeError(sender, at, f"decoder failed: {exc!r}",
                                 self.bytes[sender], connection=self, kind=wire.ErrorKind.INTERNAL)]

    def _emit(self, event) -> None:
        kind = type(event)
        if kind is _FrameEvent or kind is _MessageEvent:
            # The common case, kept short: frames and messages carry no HTTP secrets, and
            # they are counted here rather than through Summary.add's generic path.
            stats = self._summary.client if event.sender == "client" else self._summary.server
            if kind is _FrameEvent:
                stats.add_frame(event.frame)
            else:
                stats.add_message(event.message)
            # someone may keep this very object: a later read must return it (wait_for's ``after``)
            self._record.add(event, event_bytes(event), held=bool(self.tap._subscribers or self._waiters))
            if self.tap._subscribers:
                self.tap._publish(event)
            if self._waiters is not None:
                self._wake(event)
            return
        # Heads carry cookies and tokens; errors quote request lines.
        try:
            event = wire.redact(event)
        except Exception:
            log.exception("redaction failed; event withheld")
            return
        if kind is wire.HttpRequest:
            if self._request is None:
                self._request = event.request
                self._path = event.request.target
                self._hold(_http_bytes(event.request))
        elif kind is wire.HttpResponse and self._response is None:
            self._response = event.response
            self._hold(_http_bytes(event.response))
        self._record.add(event, event_bytes(event))
        self._summary.add(event)
        if self.tap._subscribers:
            self.tap._publish(event)
        if self._waiters is not None:
            self._wake(event)

    def _redact_chunk(self, sender: str, data: bytes, start: int) -> bytes:
        """The chunk as stored, before decoding it: header values that carry secrets and join
        tokens masked, same length. Only heads are read, each byte once (wire.HeadRedactor):
        a body or frames pass untouched, however slowly they come."""
        redactor = self._redactors[sender]
        if redactor.done and self.decoder.head_offset(sender) == start:
            redactor.restart()  # the next request (or response) on a keep-alive connection
        return redactor.feed(data)

    def _redact_rest(self, sender: str, data: bytes, start: int, stored: bytes, events: list) -> bytes:
        """After decoding: a head that began inside this chunk, after a body the redactor
        skipped, is redacted too (the decoder knows where bodies end; this code does not)."""
        redactor = self._redactors[sender]
        if not redactor.done:
            return stored
        # One message may end in a chunk (the head being read, or the body); a second one is a
        # whole message after it (pipelined): then every line of the chunk is read, once.
        ended = 0
        for e in events:
            if (type(e) is wire.HttpRequest or type(e) is wire.HttpResponse) and e.sender == sender:
                ended += 1
        if ended > 1:
            stored = wire.HeadRedactor(until_blank=False).feed(stored)
        head = self.decoder.head_offset(sender)
        if head is not None and start <= head < start + len(data):
            i = head - start
            redactor.restart()
            stored = stored[:i] + redactor.feed(data[i:])
        return stored

    # -- the tap's budget -----------------------------------------------------

    def _hold(self, size: int) -> None:
        self._held += size
        self.tap.retained_bytes += size

    def _drop_oldest(self) -> bool:
        """Let the oldest event or chunk go (whichever came first); False when none is left."""
        events, chunks = self._events, self._chunks
        if events and (not chunks or at_of(events[0]) <= chunks[0][1]):
            events.drop_oldest()
        elif chunks:
            chunks.drop_oldest()
        else:
            return False
        return True

    def _trim(self, target: int) -> None:
        """Drop the oldest items until this connection keeps at most ``target`` bytes, or the
        tap is back under its low-water mark. A closed one emptied also lets its handshake go."""
        tap = self.tap
        low = int(tap.budget_bytes * LOW_WATER)
        while self.retained_bytes > target and tap.retained_bytes > low and self._drop_oldest():
            pass
        if not self.is_open and not self._events and not self._chunks and self._held:
            tap.retained_bytes -= self._held
            self._held = 0
            self._request = self._response = None

    def _forget(self) -> None:
        """No longer recorded by the tap: its bytes leave the budget."""
        self.tap.retained_bytes -= self.retained_bytes
        self._events.tap = self._chunks.tap = None
        # Its decoder points back to it: without that cycle, a record nobody holds is freed
        # here, not in a full collection (see record_store). Nothing is decoded after this.
        self.decoder.connection = None
        self._held = 0
