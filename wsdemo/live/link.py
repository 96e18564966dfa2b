"""One relayed connection: its two sides (sides.py), the relay between them, its lanes
under network conditions, its idle timer, and how its ends are passed on (a FIN for a FIN,
a reset for a reset, once every byte before them has been taken).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import deque
from typing import TYPE_CHECKING, Callable

from .. import wire
from .network import Network, Schedule
from .recording import Delivery
from .sides import LINGER, LINGER_RESET, MAX_HELD, Side, TlsSide, http_refusal, unacked, unread

if TYPE_CHECKING:
    from .handoff import TappedStream
    from .recording import Connection
    from .tap import Tap

log = logging.getLogger("wsdemo.tap")

# How often a side that is ending checks whether its peer has taken every byte yet.
_FLUSH_POLL = 0.002
_DUE_SLACK = 0.0001  # seconds: a timer may fire this early; bytes due that soon go now
# What the tap may answer for the app when a request head cannot be read (the decoder's hint).
_STATUS_LINES = {400: b"400 Bad Request", 431: b"431 Request Header Fields Too Large"}
_TLS_ON_PLAIN = ("this port speaks plain HTTP (http://, ws://) and the client sent a TLS handshake; "
                 "use http:// or ws://\n")


class _Lane:
    """One direction of a connection under network conditions: the bytes its sender sent,
    each waiting for the time ``Schedule`` gives it, then written to the other side in order.
    Ends (a FIN, a reset) queue behind the bytes before them."""

    def __init__(self, link: "Link", sender: str, network: Network):
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
                receiver.send(item)
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


class Link:
    """The two sockets of one relayed connection and its Connection record."""

    def __init__(self, tap: "Tap"):
        self.tap = tap
        self.client = Side(self, "client") if tap.ssl_context is None else TlsSide(self, tap.ssl_context)
        self.server: Side | None = None
        self.conn: Connection | None = None
        self.connect_task: asyncio.Task | None = None
        self.eofs: set[str] = set()  # senders whose FIN has arrived
        self.eofs_passed: set[str] = set()  # ... and has been passed on
        self.done = False
        self.address = ""  # the client's host, for the per-address limit (set by made())
        self.own_network: Network | None = None  # this connection's conditions, else the tap's
        self.lanes: dict[str, _Lane] | None = None  # only while conditions apply (or drain)
        self.idle_timer: asyncio.TimerHandle | None = None  # only with Tap.idle_timeout
        self.last_read = 0.0  # loop.time() of the last chunk read from either side
        self.upstream: tuple[str, int] | None = None  # the app-side socket's address (handoff.py)
        self.stream: TappedStream | None = None  # the app's stream for it, once it wrote

    def other(self, side: Side) -> Side | None:
        return self.server if side is self.client else self.client

    def made(self, side: Side, transport: asyncio.Transport) -> None:
        """``side``'s socket is connected, through ``transport`` (now also ``side.transport``)."""
        if side is self.client:
            host, port = transport.get_extra_info("peername")[:2]
            tap = self.tap
            self.address = host
            refusal = None
            if len(tap._links) >= tap.max_links:
                # Each relayed connection costs three file descriptors in this process: a
                # script opening thousands must not exhaust them for the whole class.
                log.info("tap: refused %s:%s, already %d connections", host, port, len(tap._links))
                refusal = http_refusal(b"503 Service Unavailable", "too many connections to the tap "
                                   f"(the limit is {tap.max_links} at once); try again\n")
            elif tap._per_address.get(host, 0) >= tap.max_links_per_address:
                # ...nor may one address take them all, so a stranger cannot lock the class out.
                log.info("tap: refused %s:%s, already %d connections from it", host, port,
                         tap.max_links_per_address)
                refusal = http_refusal(b"429 Too Many Requests", "too many connections from your "
                                   f"address (the limit is {tap.max_links_per_address} at once); "
                                   "close some and try again\n")
            if refusal is not None:
                transport.write(refusal)
                transport.close()
                self.done = True
                return
            self.conn = self.tap._open(self, f"{host}:{port}")
            if tap.network.active:
                self.apply_network()
            if tap.idle_timeout is not None:
                self.last_read = tap._loop.time()
                self.idle_timer = tap._loop.call_at(self.last_read + tap.idle_timeout, self._idle_check)
            transport.pause_reading()  # until Tornado's side is connected
            self.connect_task = self.tap._loop.create_task(
                self._connect(), name=f"wsdemo tap connect #{self.conn.id}")
        else:
            self.server = side
            self.upstream = transport.get_extra_info("sockname")[:2]
            self.tap._upstream[self.upstream] = self
            if self.conn is not None:
                self.conn.upstream_port = self.upstream[1]
            if self.client.transport is None:  # the client left while we connected
                transport.close()
            else:
                self.client.transport.resume_reading()

    async def _connect(self) -> None:
        tap = self.tap
        try:
            await tap._loop.create_connection(lambda: Side(self, "server"),
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

    def from_app(self, data: memoryview) -> bool:
        """The app is writing ``data`` to this link's upstream socket: take it here, relayed
        and noted in this same call, as if read from that socket. False when it must go
        through the socket instead: the tap would not read it now (its client reads slowly,
        network conditions hold too much, the link is ending) or bytes sent that way are
        still unread, and these must follow them."""
        side, client = self.server, self.client
        conn = self.conn
        if side is None or side.in_socket or conn is None:
            return False
        transport = client.transport
        if self.lanes is not None:  # network conditions: the lanes take it
            if (not side.may_read() or transport is None or transport.is_closing()
                    or conn.would_flush_now(len(data))):
                return False
            side.take(bytes(data))
            return True
        # The plain relay, written out (the app's every write comes here): side.may_read()
        # and side.take() then client.send(), without their calls.
        own = side.transport
        if (transport is None or own is None or side.ending or client.write_paused
                or transport.is_closing() or own.is_closing() or conn.would_flush_now(len(data))):
            return False
        chunk = bytes(data)
        if self.idle_timer is not None:
            self.last_read = self.tap._loop.time()
        client.to_socket += len(chunk)
        transport.write(chunk)
        conn._note("server", chunk)
        return True

    def through_socket(self, size: int) -> None:
        """The app sent ``size`` bytes through the upstream socket: the tap reads them there."""
        if self.server is not None:
            self.server.in_socket += size

    def relay(self, side: Side, data: bytes) -> None:
        if side is self.client:
            other = self.server
            stream = self.stream
            if other is not None and stream is not None and stream.from_tap(data, other.to_socket):
                if stream.inbox_full:  # the app reads no more for now: so neither does the tap
                    other.pause_writing()
                return
        else:
            other = self.client
        if other is not None and other.transport is not None:
            other.send(data)

    def client_unread(self) -> int:
        """Bytes the client sent that wait in the tap's socket, unread (0 if unknown)."""
        transport = self.client.transport
        return 0 if transport is None else unread(transport)

    def upstream_quiet(self, read: int) -> bool:
        """The app's socket holds nothing from the tap: the app has read all the tap sent
        through it (``read`` bytes) and the tap has neither closed nor half-closed it."""
        server = self.server
        if server is None or server.to_socket != read or "client" in self.eofs_passed:
            return False
        transport = server.transport
        return transport is not None and not transport.is_closing()

    def inbox_drained(self) -> None:
        """The app read everything handed in (``TappedStream.from_tap``)."""
        if self.server is not None and self.server.write_paused:
            self.server.resume_writing()

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
                self.lanes = {sender: _Lane(self, sender, network) for sender in ("client", "server")}
            return
        for lane in self.lanes.values():
            lane.schedule.network = network
        self.lane_idle()

    def lane_idle(self) -> None:
        lanes = self.lanes
        if lanes is not None and not self.network.active and not any(
                lane.queue for lane in lanes.values()):
            self.lanes = None  # back to the plain relay, nothing left to overtake

    def resume_from(self, side: Side) -> None:
        transport = side.transport
        if transport is not None and side.may_read():
            transport.resume_reading()

    def _drop_lanes(self) -> None:
        if self.lanes is not None:
            for lane in self.lanes.values():
                lane.cancel()
            self.lanes = None

    def tls_on_plain(self, side: Side, conn: Connection, data: bytes) -> None:
        """A TLS handshake on this plain port. Tornado would wait a minute for a request head
        that never comes; the tap answers at once in plain HTTP (as nginx does), which the
        client's TLS stack reports as not TLS ("wrong version number"), and records it."""
        conn._note("client", data)  # recorded: the decoder names the ClientHello too
        log.info("tap: #%d %s from %s: answered 400", conn.id, wire.TapAction.TLS_ON_PLAIN.value,
                 conn.peer)
        conn._tap_event(wire.TapAction.TLS_ON_PLAIN, "answered 400 Bad Request in plain HTTP")
        if side.transport is not None:
            side.transport.write(http_refusal(b"400 Bad Request", _TLS_ON_PLAIN, retry=False))
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
        if self.conn is not None:
            self.conn._note(sender, None)
        self.eofs.add(sender)
        if self.lanes is not None:
            self.lanes[sender].push_call(self._pass_eof, sender)  # behind the data before it
        else:
            self._pass_eof(sender)

    def _pass_eof(self, sender: str) -> None:
        self.eofs_passed.add(sender)
        other = self.server if sender == "client" else self.client
        if sender == "server" and self.client.transport is not None:
            self._answer_unread_head(self.client.transport)
        if other is not None and other.transport is not None and not other.transport.is_closing():
            if other.transport.can_write_eof():
                try:
                    other.transport.write_eof()
                except OSError as exc:  # the other end was reset (it is not this side's error)
                    other.fail(exc)
        if len(self.eofs_passed) == 2:
            self.close()

    def lost(self, side: Side, exc: BaseException | None = None) -> None:
        """``side``'s socket is gone: with ``exc``, its peer reset it (or a write to it
        failed); without, the tap closed it. The other side then ends the same way, but only
        once it has every byte relayed to it."""
        if exc is not None and self.conn is not None and side.sender not in self.eofs:
            self.conn._note(side.sender, None)  # that direction has ended too
        side.transport = None
        if side is self.server:
            self._forget_upstream()
        other = self.other(side)
        if other is not None and other.transport is not None:
            if self.lanes is not None:  # the end travels behind the bytes sent before it
                self.lanes[side.sender].push_call(self._pass_end, side, exc)
            else:
                self._pass_end(side, exc)
        if side is self.client and self.connect_task is not None:
            self.connect_task.cancel()
        self._maybe_finish()

    def _pass_end(self, side: Side, exc: BaseException | None) -> None:
        other = self.other(side)
        if other is None or other.transport is None:
            return
        answered = side is self.server and self._answer_unread_head(other.transport)
        # A reset is passed on as a reset, unless the tap answered for the app (then
        # its answer is what the client should read).
        self.end(other, reset=exc is not None and not answered)

    def end(self, side: Side, reset: bool) -> None:
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

    def _end_when_flushed(self, side: Side, reset: bool, deadline: float) -> None:
        transport = side.transport
        if transport is None:
            return
        loop = self.tap._loop
        if transport.get_write_buffer_size() or unacked(transport):
            if loop.time() < deadline:
                loop.call_later(_FLUSH_POLL, self._end_when_flushed, side, reset, deadline)
            else:
                transport.abort()  # a peer that never reads
            return
        if reset:
            try:
                transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                              LINGER_RESET)
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
        if conn._response is not None:
            return False  # the app answered (and its frames need not be decoded to know it)
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

    def _forget_upstream(self) -> None:
        if self.upstream is not None and self.tap._upstream.get(self.upstream) is self:
            del self.tap._upstream[self.upstream]

    def _maybe_finish(self) -> None:
        if (self.client.transport is None and (self.server is None or self.server.transport is None)
                and self.connect_task is None and not self.done):
            self.done = True
            self._forget_upstream()
            self._drop_lanes()
            if self.idle_timer is not None:
                self.idle_timer.cancel()
                self.idle_timer = None
            self.tap._closed(self)
            # The record is the tap's now. A finished link is in cycles (its sides and stream
            # point back to it) until a full collection; holding the record too, it would keep
            # its rings that long after the tap let it go (max_closed).
            self.conn = None
