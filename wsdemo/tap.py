"""The tap: a TCP relay in front of the Tornado app that records every chunk.

Clients connect to the tap's public port; for each connection the tap opens
one to Tornado's private port and copies bytes both ways. Relaying comes
first and does as little as possible: write the chunk on, note it with a
timestamp, and schedule decoding with ``loop.call_soon``. Decoding
(``wsdemo.wire.ConnectionDecoder``, the only decoder) runs just after, in
order, and nothing it does (or fails to do) can hold up or break the relay.

The tap is invisible to both ends: when one end goes, the other first gets every
byte the first one sent (even when asyncio had dropped the socket on a failed
write), then the same end of the line, once its kernel has acknowledged all of
it: a FIN for a FIN (a half-close: the other direction keeps flowing), a reset
for a reset.

With network conditions (``Tap.network``, wsdemo/network.py) each direction of a connection
becomes a lane: bytes wait there until the conditions say they arrive, in order, and an end
(FIN or reset) waits behind the bytes sent before it. Without conditions there is no lane and
the relay is as above.

With ``ssl_context`` the tap terminates TLS for its clients, as a load balancer does
(``_TlsSide``): ciphertext goes through a MemoryBIO pair, so ``Connection.tls`` counts the bytes
on the wire (records, handshake included) while the relay, the lanes and the recording see the
plain bytes, as without TLS. A client's close_notify (or a bare FIN) is its end of the line; the
tap's own end to a TLS client is close_notify, then a FIN. ``idle_timeout`` makes the tap cut a
connection that carried no byte either way for that long, as a proxy does, and say so in the
recording (a ``wire.TapEvent``) and the log.

Every event and every stored chunk passes through the wire layer's redaction
first: a browser behind a notebook proxy sends the Jupyter login cookie. Join
tokens in URLs (``?token=``) are masked the same way.

What the tap keeps is bounded by one byte budget across all connections
(``Tap.budget_bytes``, 256 MiB by default; ``Tap.retained_bytes`` is what the
rings keep now, estimated from payloads and Python's per-object costs). Past
it, closed connections lose their oldest events and chunks first, then the open
connection keeping the most; ``Connection.dropped_events`` says how many a
connection lost. Besides the rings, an open connection holds transient decoder
state: at most one message in progress per direction (``max_message_size``
bytes, ``wire.DEFAULT_MAX_FRAMES`` frames) and MAX_PENDING_BYTES undecoded.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import socket
import ssl
import struct
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, NamedTuple

from . import wire
from .network import Network, Schedule

log = logging.getLogger("wsdemo.tap")

SENDERS = ("client", "server")
_FrameEvent, _MessageEvent = wire.FrameEvent, wire.MessageEvent
_OTHER = {"client": "server", "server": "client"}
DEFAULT_BUDGET = 256 << 20  # bytes the rings of all connections may keep, together
_LOW_WATER = 0.9  # trimming goes down to this share of the budget, so it runs seldom
# Decoding is deferred so that it runs while the tap is quiet, not inside a round
# trip (bench/tap.py measures this): DECODE_DELAY after the first undecoded chunk,
# pushed back while chunks keep arriving on any connection, but never longer than
# MAX_DEFER or past MAX_PENDING chunks / MAX_PENDING_BYTES, so widgets stay live and
# memory bounded. Events keep each chunk's own arrival time in ``.at``; reading a
# connection's recording decodes what is pending first.
DECODE_DELAY = 0.002
MAX_DEFER = 0.05
MAX_PENDING = 256
MAX_PENDING_BYTES = 1 << 20
# A scheduled decoding turn stops after MAX_TURN_EVENTS events and lets the loop run (a 64 KiB
# chunk of empty frames is 10,000 events); chunks of frames are decoded TURN_SLICE bytes at a
# time so a turn can stop inside one. Past MAX_BACKLOG undecoded bytes the tap catches up at
# once instead: memory stays bounded even if decoding falls behind.
MAX_TURN_EVENTS = 1000
TURN_SLICE = 4096
MAX_BACKLOG = 8 * MAX_PENDING_BYTES
# Seconds a closed connection may take to hand its last buffered bytes to a peer.
LINGER = 5.0
# How often a side that is ending checks whether its peer has taken every byte yet.
_FLUSH_POLL = 0.002
# Bytes the kernel still holds for a socket's peer, sent or not but not yet acknowledged
# (Linux's SIOCOUTQ, the same number as TIOCOUTQ); elsewhere only asyncio's buffer is awaited.
if sys.platform.startswith("linux"):
    import fcntl
    import termios

    _SIOCOUTQ: int | None = termios.TIOCOUTQ
else:
    _SIOCOUTQ = None
_TCP_CLOSE = 7  # tcpi_state of a connection that is gone (reset): nothing more will be acknowledged
_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST
# Tap.idle_timeout's range, in seconds: above 0 (tests use fractions of a second), at most a day.
IDLE_TIMEOUT_RANGE = (0.01, 86_400)
# Bytes a lane (one direction under network conditions) may hold before the tap stops reading
# from their sender, as a full network path would: flow control still reaches the sender.
MAX_HELD = 1 << 20
_DUE_SLACK = 0.0001  # seconds: a timer may fire this early; bytes due that soon go now


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


class _Ring(deque):
    """A ring buffer bounded by count (``maxlen``) and by bytes (``max_bytes``, an estimate
    per item): the oldest items go first, the newest one always stays. Big messages would
    otherwise let a count-bounded ring hold gigabytes. Its bytes count towards ``tap``'s
    budget, which may take even the newest; ``dropped`` counts the items that went."""

    __slots__ = ("max_bytes", "nbytes", "dropped", "tap", "_sizes")  # two per connection: no dict

    def __init__(self, maxlen: int, max_bytes: int, tap: "Tap | None" = None):
        super().__init__(maxlen=maxlen)
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.dropped = 0
        self.tap = tap
        self._sizes: deque[int] = deque()

    def add(self, item, size: int) -> None:
        sizes = self._sizes
        before = self.nbytes
        if len(self) == self.maxlen:
            self.nbytes -= sizes.popleft()  # append below drops the oldest
            self.dropped += 1
        self.append(item)
        sizes.append(size)
        self.nbytes += size
        while self.nbytes > self.max_bytes and len(self) > 1:
            self.popleft()
            self.nbytes -= sizes.popleft()
            self.dropped += 1
        tap = self.tap
        if tap is not None:
            tap.retained_bytes += self.nbytes - before
            if tap.retained_bytes > tap._trim_at:
                tap._trim()

    def drop_oldest(self) -> None:
        """Drop the oldest item, for the tap's budget."""
        self.popleft()
        size = self._sizes.popleft()
        self.nbytes -= size
        self.dropped += 1
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
_COPY_BELOW = 16 << 10  # stored chunks shorter than this are copied (see Connection.flush)
_getsizeof = sys.getsizeof


def _frames_bytes(frames) -> int:
    return sum(_FRAME + f.payload_len * (2 if f.masked else 1) for f in frames)


def _event_bytes(event) -> int:
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


class Connection:
    """One TCP connection through the tap, both directions.

    ``events`` and ``chunks`` are ring buffers (oldest first); ``summary()``
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
        self._events = _Ring(ring_size, ring_bytes, tap)
        self._chunks = _Ring(ring_size, ring_bytes, tap)  # of (sender, at, bytes)
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
        self._flush_handle: asyncio.TimerHandle | None = None
        self._redactors = {"client": wire.HeadRedactor(), "server": wire.HeadRedactor()}
        # The tap's own port towards Tornado: the handler sees it as its peer, which is how
        # server.participants() pairs handlers with these records.
        self.upstream_port: int | None = None
        # Under TLS (Tap(ssl_context=...)): the protocol, and the bytes on the wire vs ``bytes``
        # (what was inside the records, relayed and decoded as without TLS). None without TLS.
        self.tls: TlsInfo | None = None
        self.cut_reason: str | None = None  # set when the tap itself cut the line (a TapEvent says so)

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
    def events(self) -> deque:
        self.flush()
        return self._events

    @property
    def chunks(self) -> deque:
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
    def retained_bytes(self) -> int:
        """About how many bytes this connection's recording keeps (its share of the tap's budget)."""
        return self._events.nbytes + self._chunks.nbytes + self._held

    def summary(self):
        """``wire.summarize`` over every event this connection has produced."""
        self.flush()
        return copy.deepcopy(self._summary)  # a snapshot: later traffic does not change it

    # -- recording (called by the relay) -------------------------------------

    def _tap_event(self, kind: "wire.TapAction", text: str) -> None:
        """Record what the tap itself did, after every event decoded so far."""
        self.flush()
        self._emit(wire.TapEvent("tap", time.time(), kind, text, connection=self))

    def _note(self, sender: str, data: bytes | None) -> float:
        # Hot path: one append, and a timer for the first chunk of a batch.
        tap = self.tap
        at = tap._last_chunk_at = time.time()
        pending = self._pending
        pending.append((sender, at, data))
        if data is not None:
            self._pending_bytes += len(data)
        if self._flush_handle is None:
            self._flush_handle = tap._loop.call_later(DECODE_DELAY, self._flush_when_quiet)
        elif len(pending) >= MAX_PENDING or self._pending_bytes >= MAX_PENDING_BYTES:
            self._flush_handle.cancel()
            if self._pending_bytes >= MAX_BACKLOG:
                self._flush_handle = None
                self.flush()
            else:
                self._flush_handle = tap._loop.call_soon(self._flush_turn)
        return at

    def _flush_when_quiet(self) -> None:
        self._flush_handle = None
        if not self._pending:
            return
        now = time.time()
        busy = now - self.tap._last_chunk_at < DECODE_DELAY / 2
        if busy and now - self._pending[0][1] < MAX_DEFER:
            self._flush_handle = self.tap._loop.call_later(DECODE_DELAY, self._flush_when_quiet)
            return
        self._flush_turn()

    def _flush_turn(self) -> None:
        self._flush_handle = None
        if self._decode_pending(MAX_TURN_EVENTS):  # more left: after what else the loop has to do
            self._flush_handle = self.tap._loop.call_soon(self._flush_turn)

    def flush(self) -> None:
        """Decode what the relay has noted so far, in order (also called on demand)."""
        self._decode_pending(None)

    def _decode_pending(self, limit: int | None) -> bool:
        """Decode the noted chunks in order. With a ``limit``, stop once that many events came
        (inside a chunk of frames, if need be) and say whether some are left."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        pending, self._pending = self._pending, []
        self._pending_bytes = 0
        made = 0
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
                if len(stored) < _COPY_BELOW:
                    # A chunk as read sits alone in what was a 256 KiB receive buffer: kept, a
                    # 100-byte chunk would hold a whole 4 KiB page. A copy packs it with others.
                    stored = bytes(memoryview(stored))
                self._chunks.add((sender, at, stored), _CHUNK + len(stored))
            for event in events:
                self._emit(event)
            made += len(events)
            if limit is not None and (rest or made >= limit) and (rest or n + 1 < len(pending)):
                left = pending[n + 1:]
                if rest:
                    left.insert(0, (sender, at, _Rest(rest)))
                self._pending = left + self._pending
                self._pending_bytes = sum(len(d) for _, _, d in self._pending if d is not None)
                return True
        return False

    def _decode_frames(self, sender: str, data: bytes, at: float, limit: int | None, made: int):
        """Frames of one chunk: (events, the bytes left undecoded when ``limit`` was reached)."""
        if limit is None or len(data) <= TURN_SLICE:
            return self._decode(self.decoder.feed, sender, data, at), None
        events: list = []
        for i in range(0, len(data), TURN_SLICE):
            events += self._decode(self.decoder.feed, sender, data[i:i + TURN_SLICE], at)
            if made + len(events) >= limit and i + TURN_SLICE < len(data):
                return events, data[i + TURN_SLICE:]
        return events, None

    def _decode(self, method, sender: str, *args) -> list:
        try:
            return method(sender, *args)
        except Exception as exc:  # the contract says it never raises; if it does, say so
            log.exception("wire decoder failed on connection #%d", self.id)
            return [wire.DecodeError(sender, args[-1], f"decoder failed: {exc!r}",
                                     self.bytes[sender], connection=self, kind=wire.ErrorKind.INTERNAL)]

    def _emit(self, event) -> None:
        kind = type(event)
        if kind is _FrameEvent or kind is _MessageEvent:
            # The common case, kept short: frames and messages carry no HTTP secrets, and
            # their counts are added here rather than through Summary.add's generic path.
            stats = self._summary.client if event.sender == "client" else self._summary.server
            if kind is _FrameEvent:
                frame = event.frame
                stats.frames += 1
                stats.framing_bytes += len(frame.header)
                stats.payload_bytes += frame.payload_len
            else:
                stats.messages += 1
                stats.data_bytes += len(event.message.data)
            self._events.add(event, _event_bytes(event))
            if self.tap._subscribers:
                self.tap._publish(event)
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
        self._events.add(event, _event_bytes(event))
        self._summary.add(event)
        if self.tap._subscribers:
            self.tap._publish(event)

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
        if events and (not chunks or events[0].at <= chunks[0][1]):
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
        low = int(tap.budget_bytes * _LOW_WATER)
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
        self._held = 0


# A class of 30 whose browsers each hold a page and a WebSocket or two needs about this
# many connections at once; a smaller cap is worth a warning (Server.capacity_warning).
CLASS_LINKS = 90
# Connections one client address may hold at once. On a classroom Wi-Fi each student has an
# address of their own, but behind a NAT (or jupyter-server-proxy, where everything comes
# from 127.0.0.1) a whole class shares one: 256 is a class of 40 with six connections each
# (a browser opens up to six per server), while one stranger cannot take every slot.
MAX_LINKS_PER_ADDRESS = 256


# What the tap may answer for the app when a request head cannot be read (the decoder's hint).
_STATUS_LINES = {400: b"400 Bad Request", 431: b"431 Request Header Fields Too Large"}


def _refusal(status: bytes, text: str, retry: bool = True) -> bytes:
    body = text.encode()
    return (b"HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\n%s"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n%s"
            % (status, b"Retry-After: 5\r\n" if retry else b"", len(body), body))


# default_max_links's ceiling, and the file descriptors it takes (three per link, 200 spare).
MAX_LINKS = 5000
_FDS_WANTED = 3 * MAX_LINKS + 200


def raise_fd_limit() -> tuple[int, int] | None:
    """Raise this process's soft limit on open files towards the hard limit, as far as the
    tap can use (three per connection; macOS shells start at 256, a class needs more).
    Returns (soft, hard) as they are now."""
    try:
        import resource
    except ImportError:  # not on this platform
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # macOS reports an unlimited hard limit but refuses more than OPEN_MAX (10240).
    targets = ((_FDS_WANTED, 10240, 4096) if hard == resource.RLIM_INFINITY
               else (min(hard, _FDS_WANTED),))
    for target in targets:
        if soft == resource.RLIM_INFINITY or soft >= target:
            break
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def default_max_links() -> int:
    """As many relayed connections as this process's file descriptor limit allows
    (three each: the client's, the tap's to Tornado, and Tornado's), keeping 200 spare."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 300
    if soft == resource.RLIM_INFINITY:
        return MAX_LINKS
    return max(20, min(MAX_LINKS, (soft - 200) // 3))


def _unacked(transport: asyncio.Transport) -> int:
    """Bytes written to ``transport``'s socket that its peer has not acknowledged yet, and
    still may (0 once the connection was reset)."""
    if _SIOCOUTQ is None:
        return 0
    try:
        sock = transport.get_extra_info("socket")
        if sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == _TCP_CLOSE:
            return 0
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), _SIOCOUTQ, b"\0\0\0\0"))[0]
    except (AttributeError, OSError, ValueError):
        return 0


class _Side(asyncio.Protocol):
    """One socket of a relayed connection; ``sender`` is who sends what it reads."""

    def __init__(self, link: "_Link", sender: str):
        self.link = link
        self.sender = sender
        self.transport: asyncio.Transport | None = None
        self.ending = False  # its peer is gone: it gets what is relayed, then its end
        self.error: OSError | None = None  # why the tap dropped it (see fail)
        self.write_paused = False  # its peer reads slower than the tap writes to it
        if sender == "client" and type(self) is _Side:
            # The first chunk is looked at once (a TLS ClientHello on this plain port?), then
            # this instance attribute goes and every later chunk takes the class's method.
            self.data_received = self._first_chunk

    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self.link.made(self)

    def data_received(self, data: bytes) -> None:
        link = self.link
        if link.idle_timer is not None:
            link.last_read = link.tap._loop.time()
        if link.lanes is None:  # no network conditions
            link.relay(self, data)  # relay first...
            link.conn._note(self.sender, data)  # ...then note it for decoding
        else:
            link.lanes[self.sender].push(data, link.conn._note(self.sender, data))

    def _first_chunk(self, data: bytes) -> None:
        del self.data_received
        if data[:2] == b"\x16\x03" and self.link.conn is not None:  # a TLS record's header
            self.link.tls_on_plain(self, data)
            return
        self.data_received(data)

    def eof_received(self):
        self.link.eof(self.sender)
        return True  # keep the other direction open (a half-close)

    def connection_lost(self, exc) -> None:
        exc = exc or self.error
        try:
            if exc is not None:
                self.drain()
        finally:
            self.link.lost(self, exc)

    def fail(self, exc: OSError) -> None:
        """A write to this socket failed where asyncio does not catch it (write_eof): its
        peer is gone, so drop it as asyncio drops a transport whose write failed."""
        self.error = exc
        self.transport.abort()

    def drain(self) -> None:
        """Relay what the kernel still holds from this socket's peer.

        When a write to a socket fails (the peer reset it, say right after its Close frame),
        asyncio drops the transport without reading what the peer had sent before: read it
        here, while the socket is still open, so the other side gets every byte.
        """
        transport = self.transport
        if transport is None or self.link.conn is None:
            return  # (under TLS, _TlsSide.data_received takes the ciphertext read here)
        try:
            sock = socket.socket(fileno=transport.get_extra_info("socket").fileno())
        except (AttributeError, OSError, ValueError):
            return
        try:
            while True:
                try:
                    data = sock.recv(1 << 18)
                except OSError:  # nothing more for now, or the reset itself
                    return
                if not data:
                    return
                self.data_received(data)
        finally:
            sock.detach()  # the fd stays asyncio's

    # Flow control: a slow reader on one side pauses reading from the other.
    def pause_writing(self) -> None:
        self.write_paused = True
        other = self.link.other(self)
        if other is not None and other.transport is not None:
            other.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        other = self.link.other(self)
        if other is not None:
            self.link.resume_from(other)

    def may_read(self) -> bool:
        """Reading from this side may resume: it is not ending, its peer takes what is
        written, and what network conditions hold from it is under MAX_HELD."""
        link = self.link
        other = link.other(self)
        return (self.transport is not None and not self.ending and not self.transport.is_closing()
                and (other is None or not other.write_paused)
                and (link.lanes is None or not link.lanes[self.sender].full))


@dataclass
class TlsInfo:
    """One connection's TLS, as the tap terminated it (``Connection.tls``).

    ``wire_bytes`` are the bytes on the wire per sender (TLS records: handshake, encrypted
    data, alerts); ``Connection.bytes`` are the bytes inside them, as relayed to and from the
    app. ``handshake_bytes`` is what each side sent until the handshake was complete (in TLS
    1.3 the server's session tickets included). ``close_notify``: who ended with a TLS
    close_notify alert rather than only a TCP FIN (a truncation). ``error``: why the
    handshake failed, else None."""

    version: str | None = None
    cipher: str | None = None
    wire_bytes: dict[str, int] = field(default_factory=lambda: {"client": 0, "server": 0})
    handshake_bytes: dict[str, int] = field(default_factory=lambda: {"client": 0, "server": 0})
    close_notify: dict[str, bool] = field(default_factory=lambda: {"client": False, "server": False})
    error: str | None = None

    def __str__(self) -> str:
        what = f"{self.version} {self.cipher}" if self.version else (
            f"TLS failed: {self.error}" if self.error else "TLS handshake in progress")
        w, h = self.wire_bytes, self.handshake_bytes
        return (f"{what}, {w['client']}+{w['server']} bytes on the wire "
                f"({h['client']}+{h['server']} handshake)")


class _TlsTransport:
    """The client's socket as the relay sees it under TLS: what the relay writes is encrypted
    into records, ``write_eof`` sends close_notify then a FIN (TLS's end of a direction), and
    everything else (buffer sizes, pausing, the socket for a reset) is the TCP transport's.
    Writes before the handshake is done wait for it."""

    def __init__(self, side: "_TlsSide", raw: asyncio.Transport):
        self.side = side
        self.raw = raw
        self.pending: list[bytes] = []  # plaintext written before the handshake was done
        self.eof_pending = False
        self.close_pending = False
        self.notified = False  # close_notify sent

    def write(self, data) -> None:
        side = self.side
        if self.notified or self.raw.is_closing():
            return
        if not side.handshaken:
            self.pending.append(bytes(data))
            return
        view = memoryview(data)
        try:
            while view:
                view = view[side.sslobj.write(view):]
        except ssl.SSLError as exc:  # the TLS session is broken: nothing more can be sent
            log.info("tap: TLS write failed on #%s: %s", side.conn_id, exc)
            self.raw.abort()
            return
        side.flush_out()

    def _handshake_done(self) -> None:
        pending, self.pending = self.pending, []
        for data in pending:
            self.write(data)
        if self.eof_pending:
            self.write_eof()
        if self.close_pending:
            self.close()

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if not self.side.handshaken:
            self.eof_pending = True
            return
        self._notify()
        if not self.raw.is_closing():
            self.raw.write_eof()

    def _notify(self) -> None:
        """Send close_notify once: this direction is over (the other may still flow)."""
        if self.notified or not self.side.handshaken:
            return
        try:
            self.side.sslobj.unwrap()
        except ssl.SSLWantReadError:
            pass  # expected: the peer's close_notify has not come yet
        except ssl.SSLError:
            pass
        self.side.flush_out()
        self.notified = True
        self.side.tls.close_notify["server"] = True

    def close(self) -> None:
        side = self.side
        if not side.handshaken and not side.failed and self.pending and not self.raw.is_closing():
            # Say what was written first (a refusal) once TLS is up, then close; a client that
            # never finishes its handshake does not keep the socket.
            if not self.close_pending:
                self.close_pending = True
                side.link.tap._loop.call_later(LINGER, self._give_up)
            return
        self._notify()
        self.raw.close()

    def _give_up(self) -> None:
        if not self.raw.is_closing():
            self.raw.abort()

    def abort(self) -> None:
        self.raw.abort()

    def is_closing(self) -> bool:
        return self.raw.is_closing() or self.close_pending

    def get_write_buffer_size(self) -> int:
        return self.raw.get_write_buffer_size() + sum(map(len, self.pending))

    def pause_reading(self) -> None:
        self.raw.pause_reading()

    def resume_reading(self) -> None:
        self.raw.resume_reading()

    def get_extra_info(self, name: str, default=None):
        if name == "ssl_object":
            return self.side.sslobj
        return self.raw.get_extra_info(name, default)


_TLS_ON_PLAIN = ("this port speaks plain HTTP (http://, ws://) and the client sent a TLS handshake; "
                 "use http:// or ws://\n")
# How a plain-HTTP request on the TLS port is answered (nginx says the same with a 400).
_PLAIN_ON_TLS = ("this port speaks TLS: the plain HTTP request was sent to an https/wss port; "
                 "use https:// or wss://\n")


class _TlsSide(_Side):
    """The client's side under TLS, terminated here: ciphertext in and out goes through a
    MemoryBIO pair, so the tap counts the bytes on the wire (``TlsInfo``) while the relay,
    the lanes and the recording get the plaintext, exactly as without TLS."""

    def __init__(self, link: "_Link", context: ssl.SSLContext):
        super().__init__(link, "client")
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.sslobj = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.tls = TlsInfo()
        self.raw: asyncio.Transport | None = None
        self.handshaken = False
        self.failed = False
        self.eof_seen = False
        self.first = True

    @property
    def conn_id(self):
        return self.link.conn.id if self.link.conn is not None else "-"

    def connection_made(self, transport) -> None:
        self.raw = transport
        tls_transport = _TlsTransport(self, transport)
        super().connection_made(tls_transport)
        if self.link.conn is not None:
            self.link.conn.tls = self.tls

    def flush_out(self) -> None:
        data = self.outgoing.read()
        if data:
            self.tls.wire_bytes["server"] += len(data)
            if not self.raw.is_closing():
                self.raw.write(data)

    def data_received(self, data: bytes) -> None:
        tls = self.tls
        tls.wire_bytes["client"] += len(data)
        link = self.link
        if link.idle_timer is not None:  # a handshake is traffic too
            link.last_read = link.tap._loop.time()
        if self.failed:
            return
        if self.first:
            self.first = False
            if data[:1] != b"\x16" and data[:1].isalpha():  # not a TLS record: an HTTP method
                self._plain_http(data)
                return
        self.incoming.write(data)
        if not self.handshaken:
            try:
                self.sslobj.do_handshake()
            except ssl.SSLWantReadError:
                self.flush_out()
                return
            except ssl.SSLError as exc:
                self._fail(exc)
                return
            self.handshaken = True
            self.flush_out()
            tls.version, tls.cipher = self.sslobj.version(), self.sslobj.cipher()[0]
            tls.handshake_bytes["client"] = tls.wire_bytes["client"] - self.incoming.pending
            tls.handshake_bytes["server"] = tls.wire_bytes["server"]
            self.transport._handshake_done()
        relay = super().data_received
        while not self.eof_seen:
            try:
                plain = self.sslobj.read(1 << 18)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                plain = b""
            except ssl.SSLError as exc:  # a bad record after the handshake: the session is over
                self._fail(exc)
                return
            if not plain:  # the client's close_notify: its direction is over (Python says it
                tls.close_notify["client"] = True  # with b"" or SSLZeroReturnError, depending
                self._eof()                         # on whether the tap had sent its own first)
                break
            if self.link.conn is not None and not self.ending:
                relay(plain)
        self.flush_out()  # answers inside TLS (key updates) and alerts

    def eof_received(self):
        self._cut_in_handshake("closed")
        self._eof()  # a FIN without close_notify (a truncation) ends the direction too
        return True

    def connection_lost(self, exc) -> None:
        self._cut_in_handshake("reset")
        super().connection_lost(exc)

    def _cut_in_handshake(self, how: str) -> None:
        conn = self.link.conn
        if self.handshaken or self.failed or conn is None:
            return
        self.failed = True
        tls = self.tls
        tls.error = (f"the client {how} the connection during the handshake, without an alert"
                     + (" (as clients do that do not trust the certificate)"
                        if tls.wire_bytes["server"] else ""))
        log.info("tap: #%d %s from %s: %s", conn.id, wire.TapAction.TLS_FAILED.value, conn.peer,
                 tls.error)
        conn._tap_event(wire.TapAction.TLS_FAILED, tls.error)

    def _eof(self) -> None:
        if not self.eof_seen:
            self.eof_seen = True
            if self.link.conn is not None:
                self.link.eof("client")

    def _fail(self, exc: ssl.SSLError) -> None:
        """The handshake (or a record) failed: say so (the client already got an alert, if
        OpenSSL had one to send), record it, and close as after a FIN."""
        self.failed = True
        self.flush_out()  # the alert
        tls = self.tls
        tls.error = f"{exc.reason or type(exc).__name__} ({exc.library or 'ssl'})"
        conn = self.link.conn
        if conn is not None:
            log.info("tap: #%d %s from %s: %s", conn.id, wire.TapAction.TLS_FAILED.value, conn.peer,
                     tls.error)
            conn._tap_event(wire.TapAction.TLS_FAILED, tls.error)
        self.raw.close()

    def _plain_http(self, data: bytes) -> None:
        """Plain HTTP on the TLS port: record the request as it came, answer it in plain
        HTTP (the client can read that, not an alert), and close."""
        self.failed = True
        conn = self.link.conn
        if conn is not None:
            conn._note("client", data)
            log.info("tap: #%d %s from %s: answered 400", conn.id, wire.TapAction.PLAIN_ON_TLS.value,
                     conn.peer)
            conn._tap_event(wire.TapAction.PLAIN_ON_TLS, "answered 400 Bad Request without TLS")
        self.tls.error = wire.TapAction.PLAIN_ON_TLS.value
        answer = _refusal(b"400 Bad Request", _PLAIN_ON_TLS, retry=False)
        self.tls.wire_bytes["server"] += len(answer)
        self.raw.write(answer)
        self.raw.close()


class _Lane:
    """One direction of a connection under network conditions: the bytes its sender sent,
    each waiting for the time ``Schedule`` gives it, then written to the other side in order.
    Ends (a FIN, a reset) queue behind the bytes before them."""

    def __init__(self, link: "_Link", sender: str, network: Network):
        self.link = link
        self.sender = sender
        self.schedule = Schedule(network, sender)
        # (due, bytes, (arrival, chunk size) on a chunk's last slice) or (due, callable, args)
        self.queue: deque = deque()
        self.held = 0  # bytes in the queue
        self.full = False  # over MAX_HELD: reading from the sender is paused
        self.timer: asyncio.TimerHandle | None = None

    def push(self, data: bytes, at: float) -> None:
        """Queue a chunk that arrived now (``at``: its time.time() stamp, for the Delivery)."""
        loop = self.link.tap._loop
        queue = self.queue
        start = 0
        size = len(data)
        for end, due in self.schedule.plan(loop.time(), size):
            queue.append((due, data[start:end] if start or end < size else data,
                          (at, size) if end == size else None))
            start = end
        self.held += size
        if self.held > MAX_HELD and not self.full:
            self.full = True
            side = self.link.client if self.sender == "client" else self.link.server
            if side is not None and side.transport is not None:
                side.transport.pause_reading()
        self._arm()

    def push_call(self, fn: Callable, *args) -> None:
        """Call ``fn(*args)`` once every byte queued before it has been handed on, and no
        sooner than the conditions' latency from now (an end travels like data)."""
        ((_, due),) = self.schedule.plan(self.link.tap._loop.time(), 0)
        self.queue.append((due, fn, args))
        self._arm()

    def _arm(self) -> None:
        if self.timer is None and self.queue:
            self.timer = self.link.tap._loop.call_at(self.queue[0][0], self._fire)

    def _fire(self) -> None:
        self.timer = None
        link = self.link
        queue = self.queue
        now = link.tap._loop.time() + _DUE_SLACK
        receiver = link.server if self.sender == "client" else link.client
        while queue and queue[0][0] <= now:
            _, item, extra = queue.popleft()
            if callable(item):
                item(*extra)
                continue
            self.held -= len(item)
            if receiver is not None and receiver.transport is not None:
                receiver.transport.write(item)
            if extra is not None and link.conn is not None:
                link.conn.deliveries.append(Delivery(self.sender, extra[0], time.time(), extra[1]))
        if self.full and self.held <= MAX_HELD // 2:
            self.full = False
            sender = link.client if self.sender == "client" else link.server
            if sender is not None:
                link.resume_from(sender)
        self._arm()
        if not queue:
            link.lane_idle()

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.queue.clear()
        self.held = 0


class _Link:
    """The two sockets of one relayed connection and its Connection record."""

    def __init__(self, tap: "Tap"):
        self.tap = tap
        self.client = _Side(self, "client") if tap.ssl_context is None else _TlsSide(self, tap.ssl_context)
        self.server: _Side | None = None
        self.conn: Connection | None = None
        self.connect_task: asyncio.Task | None = None
        self.eofs: set[str] = set()  # senders whose FIN has arrived
        self.eofs_passed: set[str] = set()  # ... and has been passed on
        self.done = False
        self.address: str | None = None  # the client's, for the per-address limit
        self.own_network: Network | None = None  # this connection's conditions, else the tap's
        self.lanes: dict[str, _Lane] | None = None  # only while conditions apply (or drain)
        self.idle_timer: asyncio.TimerHandle | None = None  # only with Tap.idle_timeout
        self.last_read = 0.0  # loop.time() of the last chunk read from either side

    def other(self, side: _Side) -> _Side | None:
        return self.server if side is self.client else self.client

    def made(self, side: _Side) -> None:
        if side is self.client:
            host, port = side.transport.get_extra_info("peername")[:2]
            tap = self.tap
            self.address = host
            refusal = None
            if len(tap._links) >= tap.max_links:
                # Each relayed connection costs three file descriptors in this process: a
                # script opening thousands must not exhaust them for the whole class.
                log.info("tap: refused %s:%s, already %d connections", host, port, len(tap._links))
                refusal = _refusal(b"503 Service Unavailable", "too many connections to the tap "
                                   f"(the limit is {tap.max_links} at once); try again\n")
            elif tap._per_address.get(host, 0) >= tap.max_links_per_address:
                # ...nor may one address take them all, so a stranger cannot lock the class out.
                log.info("tap: refused %s:%s, already %d connections from it", host, port,
                         tap.max_links_per_address)
                refusal = _refusal(b"429 Too Many Requests", "too many connections from your "
                                   f"address (the limit is {tap.max_links_per_address} at once); "
                                   "close some and try again\n")
            if refusal is not None:
                side.transport.write(refusal)
                side.transport.close()
                self.done = True
                return
            self.conn = self.tap._open(self, f"{host}:{port}")
            if tap.network.active:
                self.apply_network()
            if tap.idle_timeout is not None:
                self.last_read = tap._loop.time()
                self.idle_timer = tap._loop.call_at(self.last_read + tap.idle_timeout, self._idle_check)
            side.transport.pause_reading()  # until Tornado's side is connected
            self.connect_task = self.tap._loop.create_task(
                self._connect(), name=f"wsdemo tap connect #{self.conn.id}")
        else:
            self.server = side
            if self.conn is not None:
                self.conn.upstream_port = side.transport.get_extra_info("sockname")[1]
            if self.client.transport is None:  # the client left while we connected
                side.transport.close()
            else:
                self.client.transport.resume_reading()

    async def _connect(self) -> None:
        tap = self.tap
        try:
            await tap._loop.create_connection(lambda: _Side(self, "server"),
                                              tap.target_host, tap.target_port)
        except OSError as exc:
            log.warning("tap: cannot reach the app at %s:%s: %s",
                        tap.target_host, tap.target_port, exc)
            self.connect_task = None
            self.close()
        except asyncio.CancelledError:
            self.connect_task = None
            self.close(abort=True)
        else:
            self.connect_task = None

    def relay(self, side: _Side, data: bytes) -> None:
        other = self.server if side is self.client else self.client
        if other is not None and other.transport is not None:
            other.transport.write(data)

    # -- network conditions ----------------------------------------------------

    @property
    def network(self) -> Network:
        return self.own_network if self.own_network is not None else self.tap.network

    def apply_network(self) -> None:
        """Use the current conditions from now on: bytes already queued keep their times,
        new ones follow them. Without conditions the lanes go once they are empty."""
        network = self.network
        if self.lanes is None:
            if network.active and not self.done:
                self.lanes = {sender: _Lane(self, sender, network) for sender in SENDERS}
            return
        for lane in self.lanes.values():
            lane.schedule.network = network
        self.lane_idle()

    def lane_idle(self) -> None:
        lanes = self.lanes
        if lanes is not None and not self.network.active and not any(
                lane.queue for lane in lanes.values()):
            self.lanes = None  # back to the plain relay, nothing left to overtake

    def resume_from(self, side: _Side) -> None:
        if side.may_read():
            side.transport.resume_reading()

    def _drop_lanes(self) -> None:
        if self.lanes is not None:
            for lane in self.lanes.values():
                lane.cancel()
            self.lanes = None

    def tls_on_plain(self, side: _Side, data: bytes) -> None:
        """A TLS handshake on this plain port. Tornado would wait a minute for a request head
        that never comes; the tap answers at once in plain HTTP (as nginx does), which the
        client's TLS stack reports as not TLS ("wrong version number"), and records it."""
        conn = self.conn
        conn._note("client", data)  # recorded: the decoder names the ClientHello too
        log.info("tap: #%d %s from %s: answered 400", conn.id, wire.TapAction.TLS_ON_PLAIN.value,
                 conn.peer)
        conn._tap_event(wire.TapAction.TLS_ON_PLAIN, "answered 400 Bad Request in plain HTTP")
        side.transport.write(_refusal(b"400 Bad Request", _TLS_ON_PLAIN, retry=False))
        self.end(side, reset=False)

    # -- the idle timeout ----------------------------------------------------------

    def _idle_check(self) -> None:
        self.idle_timer = None
        timeout = self.tap.idle_timeout
        if self.done or timeout is None or self.conn is None:
            return
        loop = self.tap._loop
        due = self.last_read + timeout
        if loop.time() + _DUE_SLACK < due:  # something came meanwhile
            self.idle_timer = loop.call_at(due, self._idle_check)
            return
        conn = self.conn
        conn.cut_reason = (f"cut by the tap after {timeout:g} s idle (no byte either way), as a "
                           "proxy's idle timeout does")
        log.info("tap: #%d %s %s: %s", conn.id, conn.peer, conn.path or "-", conn.cut_reason)
        conn._tap_event(wire.TapAction.IDLE_CUT, conn.cut_reason)
        # As nginx does on its timeouts (reset_timedout_connection off): a plain close of both
        # connections, a FIN each way (and close_notify first under TLS), not a reset.
        for side in (self.client, self.server):
            if side is not None and side.transport is not None:
                self.end(side, reset=False)
        if self.connect_task is not None:
            self.connect_task.cancel()

    # -- ends --------------------------------------------------------------------

    def eof(self, sender: str) -> None:
        self.conn._note(sender, None)
        self.eofs.add(sender)
        if self.lanes is not None:
            self.lanes[sender].push_call(self._pass_eof, sender)  # behind the data before it
        else:
            self._pass_eof(sender)

    def _pass_eof(self, sender: str) -> None:
        self.eofs_passed.add(sender)
        other = self.server if sender == "client" else self.client
        if sender == "server" and other.transport is not None:
            self._answer_unread_head(other.transport)
        if other is not None and other.transport is not None and not other.transport.is_closing():
            if other.transport.can_write_eof():
                try:
                    other.transport.write_eof()
                except OSError as exc:  # the other end was reset (it is not this side's error)
                    other.fail(exc)
        if len(self.eofs_passed) == 2:
            self.close()

    def lost(self, side: _Side, exc: BaseException | None = None) -> None:
        """``side``'s socket is gone: with ``exc``, its peer reset it (or a write to it
        failed); without, the tap closed it. The other side then ends the same way, but only
        once it has every byte relayed to it."""
        if exc is not None and self.conn is not None and side.sender not in self.eofs:
            self.conn._note(side.sender, None)  # that direction has ended too
        side.transport = None
        other = self.other(side)
        if other is not None and other.transport is not None:
            if self.lanes is not None:  # the end travels behind the bytes sent before it
                self.lanes[side.sender].push_call(self._pass_end, side, exc)
            else:
                self._pass_end(side, exc)
        if side is self.client and self.connect_task is not None:
            self.connect_task.cancel()
        self._maybe_finish()

    def _pass_end(self, side: _Side, exc: BaseException | None) -> None:
        other = self.other(side)
        if other is None or other.transport is None:
            return
        answered = side is self.server and self._answer_unread_head(other.transport)
        # A reset is passed on as a reset, unless the tap answered for the app (then
        # its answer is what the client should read).
        self.end(other, reset=exc is not None and not answered)

    def end(self, side: _Side, reset: bool) -> None:
        """Close ``side`` once its peer has taken every byte relayed to it (at most LINGER
        seconds: a peer that never reads must not keep the socket): with a reset (RST) when
        the other end was reset, else a plain close. Reading from it stops now: what it
        sends has nowhere to go, and a reset or close drops it, as the other end would."""
        transport = side.transport
        if transport is None or side.ending:
            return
        side.ending = True
        transport.pause_reading()
        self._end_when_flushed(side, reset, self.tap._loop.time() + LINGER)

    def _end_when_flushed(self, side: _Side, reset: bool, deadline: float) -> None:
        transport = side.transport
        if transport is None:
            return
        loop = self.tap._loop
        if transport.get_write_buffer_size() or _unacked(transport):
            if loop.time() < deadline:
                loop.call_later(_FLUSH_POLL, self._end_when_flushed, side, reset, deadline)
            else:
                transport.abort()  # a peer that never reads
            return
        if reset:
            try:
                transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                              _LINGER_RESET)
            except (AttributeError, OSError):
                pass
            transport.abort()
        else:
            transport.close()

    def _answer_unread_head(self, client: asyncio.Transport) -> bool:
        """Tornado drops a request head it cannot read (too large, cut) without a word. When
        the app answered nothing and the decoder named what was wrong with the head, the
        tap says it as HTTP, so the client learns why instead of seeing a reset. True if
        it answered."""
        conn = self.conn
        if conn is None or "client" in self.eofs:
            return False  # the client had finished (a cut head is its own doing)
        conn.flush()  # first: what the app sent may still wait to be counted
        if conn.bytes["server"] or conn._response is not None:
            return False  # the app answered
        errors = [e for e in conn._events if isinstance(e, wire.DecodeError)
                  and e.sender == "client" and e.fatal]
        if conn._request is not None or not errors or client.is_closing():
            return False
        reason = errors[-1].error
        status = _STATUS_LINES.get(errors[-1].status or 400, _STATUS_LINES[400])
        body = f"wsdemo tap: the server could not read this request: {reason}\n".encode()
        client.write(b"HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body))
        log.info("tap: #%d answered %s for the app: %s", conn.id, status.decode(), reason)
        return True

    def close(self, abort: bool = False) -> None:
        for side in (self.client, self.server):
            if side is not None and side.transport is not None:
                if abort:
                    side.transport.abort()
                else:
                    side.transport.close()
        if self.connect_task is not None:
            self.connect_task.cancel()
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        if (self.client.transport is None and (self.server is None or self.server.transport is None)
                and self.connect_task is None and not self.done):
            self.done = True
            self._drop_lanes()
            if self.idle_timer is not None:
                self.idle_timer.cancel()
                self.idle_timer = None
            self.tap._closed(self)


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


class Tap:
    """Records every connection to ``target_host:target_port`` made through it.

    ``connections`` is a list, oldest first: every open connection plus up
    to ``max_closed`` closed ones. ``ring_size`` (items) and ``ring_bytes``
    (payload bytes, about) bound each connection's ``events`` and ``chunks``;
    ``budget_bytes`` bounds them all together (``retained_bytes`` now). Each
    connection is decoded with the server's ``max_message_size`` for what
    clients send. ``max_links`` caps the connections relayed at once (default:
    what the file descriptor limit allows), ``max_links_per_address`` those from
    one client address (default MAX_LINKS_PER_ADDRESS, at most half of ``max_links``).
    ``network`` (a ``wsdemo.Network``, a preset name, or None) puts the same network
    conditions between every client and the app; ``tap.network = ...`` changes them live,
    ``set_network(connection, ...)`` gives one connection its own.
    """

    def __init__(self, target_host: str, target_port: int, *, ring_size: int = 1000,
                 ring_bytes: int = 8 << 20, max_closed: int = 100, max_links: int | None = None,
                 budget_bytes: int = DEFAULT_BUDGET, max_message_size: int = wire.DEFAULT_MAX_PAYLOAD,
                 max_links_per_address: int | None = None, network: Network | str | None = None,
                 ssl_context: ssl.SSLContext | None = None, idle_timeout: float | None = None):
        self._network = Network.of(network)
        # TLS is terminated here (the app behind speaks plain HTTP), as at a load balancer.
        self.ssl_context = ssl_context
        self.idle_timeout = idle_timeout  # (checked by the setter)
        self.target_host = target_host
        self.target_port = target_port
        self.ring_size = ring_size
        self.ring_bytes = ring_bytes
        # Open TCP connections at once; past it a new one gets a 503 from the tap itself.
        self.max_links = default_max_links() if max_links is None else max_links
        # Open connections from one client address at once; past it, a 429. By default
        # MAX_LINKS_PER_ADDRESS, but never more than half of max_links: others keep room.
        self.max_links_per_address = (max(1, min(MAX_LINKS_PER_ADDRESS, self.max_links // 2))
                                      if max_links_per_address is None else max_links_per_address)
        self.max_closed = max_closed
        self.retained_bytes = 0  # kept by every recorded connection's rings, about (see _event_bytes)
        self.budget_bytes = budget_bytes  # (sets _trim_at)
        self.max_message_size = max_message_size
        self.connections: list[Connection] = []
        self.host: str | None = None
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._links: set[_Link] = set()
        # Open links per client address, kept as they open and close: counting them over
        # _links for each new one made opening N connections cost N² (bench/connections.py).
        self._per_address: dict[str, int] = {}
        self._closed_recorded = 0  # closed connections in ``connections``
        self._next_id = 1
        self._last_chunk_at = 0.0  # time.time() of the last chunk relayed, any connection
        self._subscribers: list[Callable] = []
        self._conn_subscribers: list[Callable] = []

    def __repr__(self) -> str:
        where = f"{self.host}:{self.port}" if self.port else "not listening"
        open_ = sum(c.is_open for c in self.connections)
        network = f", network: {self._network}" if self._network.active else ""
        network += ", TLS terminated here" if self.ssl_context is not None else ""
        network += f", idle timeout {self._idle_timeout:g} s" if self._idle_timeout else ""
        return (f"<Tap {where} -> {self.target_host}:{self.target_port}, "
                f"{open_} open / {len(self.connections)} recorded connections, "
                f"{_mib(self.retained_bytes)} of {_mib(self.budget_bytes)} kept{network}>")

    @property
    def idle_timeout(self) -> float | None:
        """Seconds a connection may go without a byte either way before the tap cuts it, as a
        proxy would (nginx's proxy_read_timeout, 60 s by default); None: never. A change
        applies to connections opened from then on."""
        return self._idle_timeout

    @idle_timeout.setter
    def idle_timeout(self, value: float | None) -> None:
        if value is not None:
            low, high = IDLE_TIMEOUT_RANGE
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or not math.isfinite(value) or not low <= value <= high):
                raise ValueError(f"idle_timeout must be a number from {low:g} to {high:,g} seconds "
                                 f"(or None: no timeout), got {value!r}")
            value = float(value)
        self._idle_timeout = value

    @property
    def network(self) -> Network:
        """The conditions between clients and the app (a connection may have its own)."""
        return self._network

    @network.setter
    def network(self, value: Network | str | None) -> None:
        # Open connections change too: bytes already held keep their times, new ones follow.
        self._network = Network.of(value)
        for link in list(self._links):
            if link.own_network is None:
                link.apply_network()

    @property
    def held(self) -> int:
        """Bytes network conditions hold back right now, over every connection (each direction
        of one holds about MAX_HELD at most: past it the tap stops reading from its sender)."""
        return sum(lane.held for link in self._links if link.lanes is not None
                   for lane in link.lanes.values())

    def set_network(self, connection: "Connection | str", network: Network | str | None) -> None:
        """Give one open connection (a Connection, or its client's "host:port") its own
        conditions from now on; ``None`` puts it back under the tap's."""
        own = None if network is None else Network.of(network)
        for link in list(self._links):
            conn = link.conn
            if conn is not None and (conn is connection or conn.peer == connection):
                link.own_network = own
                link.apply_network()
                return
        raise LookupError(f"no open connection through the tap matches {connection!r}")

    async def start(self, sockets: Iterable[socket.socket]) -> None:
        """Listen on already bound sockets (tornado.netutil.bind_sockets)."""
        self._loop = asyncio.get_running_loop()
        for sock in sockets:
            server = await self._loop.create_server(lambda: _Link(self).client, sock=sock)
            self._servers.append(server)
            if self.port is None:
                self.host, self.port = sock.getsockname()[:2]

    async def stop(self) -> None:
        """Stop listening, drop every relayed connection, decode what is left. Idempotent."""
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        for link in list(self._links):
            link.close(abort=True)
        tasks = [link.connect_task for link in self._links if link.connect_task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        await asyncio.sleep(0)  # let connection_lost callbacks run
        for link in list(self._links):  # whatever did not report back, report now
            link.client.transport = None
            if link.server is not None:
                link.server.transport = None
            link.connect_task = None
            link._maybe_finish()
        for conn in self.connections:
            conn.flush()
        for server in servers:
            try:
                await asyncio.wait_for(server.wait_closed(), 2)
            except asyncio.TimeoutError:
                log.warning("tap: listener did not close in time")

    # -- subscribers ---------------------------------------------------------

    def subscribe(self, callback: Callable) -> Callable[[], None]:
        """Call ``callback(event)`` for each new event (``event.connection`` set)."""
        return self._add(self._subscribers, callback)

    def subscribe_connections(self, callback: Callable) -> Callable[[], None]:
        """Call ``callback(connection)`` when a connection opens and when it closes."""
        return self._add(self._conn_subscribers, callback)

    @staticmethod
    def _add(subscribers: list, callback: Callable) -> Callable[[], None]:
        subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in subscribers:
                subscribers.remove(callback)
        return unsubscribe

    @staticmethod
    def _call(subscribers: list, arg) -> None:
        for callback in list(subscribers):
            try:
                callback(arg)
            except Exception:  # a broken subscriber is logged, never breaks the relay
                log.exception("tap subscriber %r failed", callback)

    def _publish(self, event) -> None:
        if self._subscribers:
            self._call(self._subscribers, event)

    # -- bookkeeping ---------------------------------------------------------

    def _open(self, link: _Link, peer: str) -> Connection:
        conn = Connection(self, self._next_id, peer, self.ring_size, self.ring_bytes)
        self._next_id += 1
        self._links.add(link)
        self._per_address[link.address] = self._per_address.get(link.address, 0) + 1
        self.connections.append(conn)
        self._call(self._conn_subscribers, conn)
        return conn

    def _closed(self, link: _Link) -> None:
        if link in self._links:
            self._links.discard(link)
            left = self._per_address.pop(link.address) - 1
            if left:
                self._per_address[link.address] = left
        conn = link.conn
        if conn is None:
            return
        conn.flush()
        conn.decoder.release()  # its inflaters alone would keep ~80 KiB per closed connection
        conn.closed_at = time.time()
        # Past max_closed, the oldest closed records go. Counted, not found by walking every
        # record at each close: closing N connections at once cost N² (bench/connections.py).
        self._closed_recorded += 1
        excess = self._closed_recorded - self.max_closed
        if excess > 0:
            old = []
            for c in self.connections:  # oldest first: usually the first few records
                if c.closed_at is not None:
                    old.append(c)
                    if len(old) == excess:
                        break
            for c in old:
                self.connections.remove(c)
                c._forget()
            self._closed_recorded -= len(old)
        self._call(self._conn_subscribers, conn)

    @property
    def budget_bytes(self) -> int:
        """Bytes the rings of all connections may keep together (about; see ``retained_bytes``)."""
        return self._budget

    @budget_bytes.setter
    def budget_bytes(self, value: int) -> None:
        self._budget = self._trim_at = int(value)
        if self.retained_bytes > value:
            self._trim()

    def _trim(self) -> None:
        """Over budget: bring what the rings keep down to the low-water mark. Closed connections
        give first, oldest first; then the open connections keeping the most are cut down to a
        common level (their newest events stay), so one noisy client cannot wipe out the rest."""
        low = int(self.budget_bytes * _LOW_WATER)
        try:
            self._trim_to(low)
        finally:
            # What cannot go (open connections' handshakes) must not make every event trim again.
            self._trim_at = max(self._budget, self.retained_bytes + self._budget // 10)

    def _trim_to(self, low: int) -> None:
        for conn in self.connections:
            if self.retained_bytes <= low:
                return
            if not conn.is_open:
                conn._trim(0)
        sizes = sorted((c.retained_bytes for c in self.connections if c.is_open), reverse=True)
        excess = self.retained_bytes - low
        level, above = 0, 0
        for i, size in enumerate(sizes):  # the highest level that frees enough when cut down to
            nxt = sizes[i + 1] if i + 1 < len(sizes) else 0
            above += size
            if above - (i + 1) * nxt >= excess:
                level = max(nxt, (above - excess) // (i + 1))
                break
        for conn in self.connections:
            if self.retained_bytes <= low:
                return
            if conn.is_open and conn.retained_bytes > level:
                conn._trim(level)
