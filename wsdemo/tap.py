"""The tap: a TCP relay in front of the Tornado app that records every chunk.

Clients connect to the tap's public port; for each connection the tap opens
one to Tornado's private port and copies bytes both ways. Relaying comes
first and does as little as possible: write the chunk on, note it with a
timestamp, and schedule decoding with ``loop.call_soon``. Decoding
(``wsdemo.wire.ConnectionDecoder``, the only decoder) runs just after, in
order, and nothing it does (or fails to do) can hold up or break the relay.

Every event and every stored chunk passes through the wire layer's redaction
first: a browser behind a notebook proxy sends the Jupyter login cookie. Join
tokens in URLs (``?token=``) are masked the same way.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import socket
import time
from collections import deque
from typing import Callable, Iterable

from . import wire

log = logging.getLogger("wsdemo.tap")

SENDERS = ("client", "server")
_FrameEvent, _MessageEvent = wire.FrameEvent, wire.MessageEvent
_OTHER = {"client": "server", "server": "client"}
_MAX_LINE = 64 * 1024
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
# Seconds a closed connection may take to hand its last buffered bytes to a peer.
LINGER = 5.0


class _Ring(deque):
    """A ring buffer bounded by count (``maxlen``) and by bytes (``max_bytes``, an estimate
    per item): the oldest items go first, the newest one always stays. Big messages would
    otherwise let a count-bounded ring hold gigabytes."""

    def __init__(self, maxlen: int, max_bytes: int):
        super().__init__(maxlen=maxlen)
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._sizes: deque[int] = deque()

    def add(self, item, size: int) -> None:
        sizes = self._sizes
        if len(self) == self.maxlen:
            self.nbytes -= sizes.popleft()  # append below drops the oldest
        self.append(item)
        sizes.append(size)
        self.nbytes += size
        while self.nbytes > self.max_bytes and len(self) > 1:
            self.popleft()
            self.nbytes -= sizes.popleft()


def _event_bytes(event) -> int:
    """About how many bytes an event keeps alive (payloads and heads; the rest is small)."""
    kind = type(event)
    if kind is wire.SseEvent:  # its wire bytes, the block's bytes and the data text
        return 64 + 3 * len(event.raw)
    if kind is _FrameEvent:
        frame = event.frame
        return 64 + frame.payload_len * (2 if frame.masked else 1)  # unmasked and as sent
    if kind is _MessageEvent:
        return 64 + len(event.message.data)
    msg = getattr(event, "request", None) or getattr(event, "response", None)
    if msg is not None:
        return 64 + len(msg.raw) + len(getattr(msg, "body", b"") or b"")
    return 64


class Connection:
    """One TCP connection through the tap, both directions.

    ``events`` and ``chunks`` are ring buffers (oldest first); ``summary()``
    counts every event ever seen, not only those still in the ring.
    """

    def __init__(self, tap: "Tap", id: int, peer: str, ring_size: int,
                 ring_bytes: int = 8 << 20):
        self.tap = tap
        self.id = id
        self.peer = peer
        self._path: str | None = None
        self.opened_at = time.time()
        self.closed_at: float | None = None
        self._events = _Ring(ring_size, ring_bytes)
        self._chunks = _Ring(ring_size, ring_bytes)  # of (sender, at, bytes)
        self.decoder = wire.ConnectionDecoder()
        self._request = None  # the handshake, redacted
        self._response = None
        self.bytes = {"client": 0, "server": 0}  # relayed so far, per sender
        self._summary = wire.Summary()  # running totals over every event, not only the ring
        self._pending: list[tuple[str, float, bytes | None]] = []
        self._pending_bytes = 0
        self._flush_handle: asyncio.TimerHandle | None = None
        self._line_tail = {"client": b"", "server": b""}

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return (f"<Connection #{self.id} {self.peer} {self._path or '-'} {state}, "
                f"{len(self._events)} events, {self.bytes['client']}+{self.bytes['server']} bytes>")

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

    def summary(self):
        """``wire.summarize`` over every event this connection has produced."""
        self.flush()
        return copy.deepcopy(self._summary)  # a snapshot: later traffic does not change it

    # -- recording (called by the relay) -------------------------------------

    def _note(self, sender: str, data: bytes | None) -> None:
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
            self._flush_handle = tap._loop.call_soon(self.flush)

    def _flush_when_quiet(self) -> None:
        self._flush_handle = None
        if not self._pending:
            return
        now = time.time()
        busy = now - self.tap._last_chunk_at < DECODE_DELAY / 2
        if busy and now - self._pending[0][1] < MAX_DEFER:
            self._flush_handle = self.tap._loop.call_later(DECODE_DELAY, self._flush_when_quiet)
            return
        self.flush()

    def flush(self) -> None:
        """Decode what the relay has noted so far, in order (also called on demand)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        pending, self._pending = self._pending, []
        self._pending_bytes = 0
        for sender, at, data in pending:
            if data is None:
                events = self._decode(self.decoder.eof, sender, at)
            else:
                self.bytes[sender] += len(data)
                self._chunks.add((sender, at, self._redact_chunk(sender, data)), 64 + len(data))
                events = self._decode(self.decoder.feed, sender, data, at)
            for event in events:
                self._emit(event)

    def _decode(self, method, sender: str, *args) -> list:
        try:
            return method(sender, *args)
        except Exception as exc:  # the contract says it never raises; if it does, say so
            log.exception("wire decoder failed on connection #%d", self.id)
            return [wire.DecodeError(sender, args[-1], f"decoder failed: {exc!r}",
                                     self.bytes[sender])]

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
            event.connection = self
            self._events.add(event, _event_bytes(event))
            if self.tap._subscribers:
                self.tap._publish(event)
            return
        if kind is wire.HttpRequest or kind is wire.HttpResponse:  # only heads carry secrets
            try:
                event = wire.redact(event)
            except Exception:
                log.exception("redaction failed; event withheld")
                return
            if kind is wire.HttpRequest:
                if self._request is None:
                    self._request = event.request
                    self._path = event.request.target
            elif self._response is None:
                self._response = event.response
        event.connection = self
        self._events.add(event, _event_bytes(event))
        self._summary.add(event)
        if self.tap._subscribers:
            self.tap._publish(event)

    def _redact_chunk(self, sender: str, data: bytes) -> bytes:
        """The chunk as stored: header values that carry secrets masked, same length.

        Only while the connection speaks HTTP; a head may be split anywhere, so
        each line is redacted with the bytes of it that came in earlier chunks.
        """
        if self.decoder.state in (wire.State.OPEN, wire.State.CLOSING):
            return data
        tail = self._line_tail[sender]
        text = tail + data
        rest = text[text.rfind(b"\n") + 1:]
        self._line_tail[sender] = rest if len(rest) <= _MAX_LINE else b""
        return wire.redact_head(text)[len(tail):]


_FULL_BODY = b"too many connections to the tap; try again\n"
_FULL = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
         b"Retry-After: 5\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
         % (len(_FULL_BODY), _FULL_BODY))


def default_max_links() -> int:
    """As many relayed connections as this process's file descriptor limit allows
    (three each: the client's, the tap's to Tornado, and Tornado's), keeping 200 spare."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 300
    if soft == resource.RLIM_INFINITY:
        return 5000
    return max(20, min(5000, (soft - 200) // 3))


class _Side(asyncio.Protocol):
    """One socket of a relayed connection; ``sender`` is who sends what it reads."""

    def __init__(self, link: "_Link", sender: str):
        self.link = link
        self.sender = sender
        self.transport: asyncio.Transport | None = None

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
        link.relay(self, data)  # relay first...
        link.conn._note(self.sender, data)  # ...then note it for decoding

    def eof_received(self):
        self.link.eof(self.sender)
        return True  # keep the other direction open (a half-close)

    def connection_lost(self, exc) -> None:
        self.link.lost(self)

    # Flow control: a slow reader on one side pauses reading from the other.
    def pause_writing(self) -> None:
        other = self.link.other(self)
        if other is not None and other.transport is not None:
            other.transport.pause_reading()

    def resume_writing(self) -> None:
        other = self.link.other(self)
        if other is not None and other.transport is not None and not other.transport.is_closing():
            other.transport.resume_reading()


class _Link:
    """The two sockets of one relayed connection and its Connection record."""

    def __init__(self, tap: "Tap"):
        self.tap = tap
        self.client = _Side(self, "client")
        self.server: _Side | None = None
        self.conn: Connection | None = None
        self.connect_task: asyncio.Task | None = None
        self.eofs: set[str] = set()
        self.done = False

    def other(self, side: _Side) -> _Side | None:
        return self.server if side is self.client else self.client

    def made(self, side: _Side) -> None:
        if side is self.client:
            host, port = side.transport.get_extra_info("peername")[:2]
            tap = self.tap
            if len(tap._links) >= tap.max_links:
                # Each relayed connection costs three file descriptors in this process: a
                # script opening thousands must not exhaust them for the whole class.
                log.info("tap: refused %s:%s, already %d connections", host, port, len(tap._links))
                side.transport.write(_FULL)
                side.transport.close()
                self.done = True
                return
            self.conn = self.tap._open(self, f"{host}:{port}")
            side.transport.pause_reading()  # until Tornado's side is connected
            self.connect_task = self.tap._loop.create_task(
                self._connect(), name=f"wsdemo tap connect #{self.conn.id}")
        else:
            self.server = side
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

    def eof(self, sender: str) -> None:
        self.conn._note(sender, None)
        self.eofs.add(sender)
        other = self.server if sender == "client" else self.client
        if sender == "server" and other.transport is not None:
            self._answer_unread_head(other.transport)
        if other is not None and other.transport is not None and not other.transport.is_closing():
            if other.transport.can_write_eof():
                other.transport.write_eof()
        if len(self.eofs) == 2:
            self.close()

    def lost(self, side: _Side) -> None:
        side.transport = None
        other = self.other(side)
        if side is self.server and other is not None and other.transport is not None:
            self._answer_unread_head(other.transport)
        if other is not None and other.transport is not None:
            transport = other.transport
            transport.close()  # sends what is buffered, then closes...
            if transport.get_write_buffer_size():
                # ...unless that peer never reads: then the socket (and its buffer) would stay.
                self.tap._loop.call_later(LINGER, transport.abort)
        if side is self.client and self.connect_task is not None:
            self.connect_task.cancel()
        self._maybe_finish()

    def _answer_unread_head(self, client: asyncio.Transport) -> None:
        """Tornado drops a request head it cannot read (too large, cut) without a word. When
        the app answered nothing and the decoder named what was wrong with the head, the
        tap says it as HTTP, so the client learns why instead of seeing a reset."""
        conn = self.conn
        if conn is None or conn.bytes["server"] or conn._response is not None or "client" in self.eofs:
            return  # the app answered, or the client had finished (a cut head is its own doing)
        conn.flush()
        errors = [e for e in conn._events if isinstance(e, wire.DecodeError)
                  and e.sender == "client" and e.fatal]
        if conn._request is not None or not errors or client.is_closing():
            return
        reason = errors[-1].error
        status = (b"431 Request Header Fields Too Large" if "larger than the limit" in reason
                  else b"400 Bad Request")
        body = f"wsdemo tap: the server could not read this request: {reason}\n".encode()
        client.write(b"HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body))
        log.info("tap: #%d answered %s for the app: %s", conn.id, status.decode(), reason)

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
            self.tap._closed(self)


class Tap:
    """Records every connection to ``target_host:target_port`` made through it.

    ``connections`` is a list, oldest first: every open connection plus up
    to ``max_closed`` closed ones. ``ring_size`` (items) and ``ring_bytes``
    (payload bytes, about) bound each connection's ``events`` and ``chunks``.
    """

    def __init__(self, target_host: str, target_port: int, *, ring_size: int = 1000,
                 ring_bytes: int = 8 << 20, max_closed: int = 100, max_links: int | None = None):
        self.target_host = target_host
        self.target_port = target_port
        self.ring_size = ring_size
        self.ring_bytes = ring_bytes
        # Open TCP connections at once; past it a new one gets a 503 from the tap itself.
        self.max_links = default_max_links() if max_links is None else max_links
        self.max_closed = max_closed
        self.connections: list[Connection] = []
        self.host: str | None = None
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._links: set[_Link] = set()
        self._next_id = 1
        self._last_chunk_at = 0.0  # time.time() of the last chunk relayed, any connection
        self._subscribers: list[Callable] = []
        self._conn_subscribers: list[Callable] = []

    def __repr__(self) -> str:
        where = f"{self.host}:{self.port}" if self.port else "not listening"
        open_ = sum(c.is_open for c in self.connections)
        return (f"<Tap {where} -> {self.target_host}:{self.target_port}, "
                f"{open_} open / {len(self.connections)} recorded connections>")

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
        self.connections.append(conn)
        self._call(self._conn_subscribers, conn)
        return conn

    def _closed(self, link: _Link) -> None:
        self._links.discard(link)
        conn = link.conn
        if conn is None:
            return
        conn.flush()
        conn.closed_at = time.time()
        closed = [c for c in self.connections if not c.is_open]
        for old in closed[:max(0, len(closed) - self.max_closed)]:
            self.connections.remove(old)
        self._call(self._conn_subscribers, conn)
