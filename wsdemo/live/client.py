"""The in-kernel client: a real WebSocket client (Tornado's) that goes through the tap.

Everything is ``await``-ed on the kernel's own event loop, so the server in
the same kernel keeps running while a cell waits for an answer.

Options (``server.connect(path, ...)`` passes them on):

- ``subprotocols=[...]``: offered in this order of preference (RFC 6455 section 4.1);
  ``client.subprotocol`` is the one the server selected, or None. A server that selects
  one that was not offered fails the connection (:class:`SubprotocolMismatch`), as
  section 4.1 requires; selecting none is allowed and the connection goes on.
- ``ping_interval``/``ping_timeout``: client heartbeats (wsdemo/live/heartbeat.py); a server
  that stops answering is failed with 1011 "no pong within N s".
- ``reconnect=True`` (or a :class:`Reconnect` policy): after an abnormal close the client
  dials again with exponential backoff and full jitter; ``client.attempts`` records each
  try. While it is away, ``send()`` and ``ping()`` raise :class:`Disconnected` (nothing is
  queued: a message sent later, to a new connection, could mean something else there);
  ``recv()`` waits across the reconnect, within its timeout, and raises
  :class:`ConnectionClosed` once the client has given up.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import math
import random
import ssl as _ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import tornado.httpclient
import tornado.iostream
import tornado.websocket

from .apps.tornado_protocol import abort
from .callbacks import subscribe
from .heartbeat import Heartbeat, check_heartbeat
from .tap import listening
from ..wire import subprotocol_problem

if TYPE_CHECKING:
    from .recording import Connection
    from .tap import Tap

log = logging.getLogger("wsdemo.client")

#: Messages the client holds that no recv() has taken yet. Past this it stops reading the
#: socket, as Tornado's own client does (its queue holds one), so a client that does not
#: read is one to the server ("not reading", 1008) and notices a close only when it reads.
#: With heartbeats on, a client that stops reading stops reading pongs too: its heartbeat
#: then fails the connection (1011), as the websockets library's keepalive does.
INBOX = 1

#: Close codes after which the client dials again, with why:
#: 1001 the server is going away (a restart: ``server.stop()`` sends it);
#: 1006 no Close frame at all, the line dropped (recorded as 1006, never sent);
#: 1011 the server hit an unexpected condition, or a heartbeat went unanswered;
#: 1012 service restart; 1013 try again later; 1014 a gateway's upstream failed.
#: Never after 1000 (the server ended the conversation on purpose), nor after a code that
#: says the client was refused or broke a rule (1002, 1003, 1007, 1008, 1009, 1010, 4xxx):
#: dialling again would be refused again.
RETRY_CODES = frozenset({1001, 1006, 1011, 1012, 1013, 1014})
#: HTTP answers to a reconnect's handshake that are worth another try: 502/503/504 (503 is
#: the lab's "too many connections", with Retry-After). 400, 403 (a join token that no longer
#: holds), 404 or 426 end the reconnecting.
RETRY_STATUSES = frozenset({502, 503, 504})


class ConnectionClosed(Exception):
    """Raised by ``recv()`` once the connection is closed; says how it closed.

    ``code`` is the code of the server's Close frame, or of the client's own when it failed
    the connection (a heartbeat: 1011); None when the line dropped without one."""

    def __init__(self, code: int | None, reason: str | None):
        self.code, self.reason = code, reason
        how = f"code {code}" if code is not None else "no close code"
        super().__init__(f"the WebSocket is closed ({how}{': ' + reason if reason else ''})")


class Disconnected(ConnectionClosed):
    """Raised by ``send()``/``ping()`` while a reconnecting client is between connections.

    ``code``/``reason``: how the last connection ended; ``attempt``: the number of the dial
    under way or next (1 for the first after the drop)."""

    def __init__(self, code: int | None, reason: str | None, attempt: int):
        super().__init__(code, reason)
        self.attempt = attempt
        how = f"code {code}" if code is not None else "no close code"
        self.args = (f"not connected: the connection closed ({how}{': ' + reason if reason else ''}) "
                     f"and the client is reconnecting (attempt {attempt}); nothing was sent",)


class SubprotocolMismatch(Exception):
    """The server selected a subprotocol the client did not offer (RFC 6455 section 4.1:
    the client MUST fail the connection). ``offered`` and ``selected`` say what happened."""

    def __init__(self, offered: tuple[str, ...], selected: str):
        self.offered, self.selected = offered, selected
        super().__init__(f"the server selected subprotocol {selected!r}, which was not offered "
                         f"(offered: {', '.join(offered) or 'none'}); the connection is failed "
                         "(RFC 6455 section 4.1)")


@dataclass(frozen=True)
class Reconnect:
    """When and how often a client dials again: before try ``n`` (1, 2, ...) it waits a
    random time in ``[0, min(cap, base * 2**(n-1))]`` ("full jitter": a class of clients
    dropped together does not come back together), at most ``attempts`` tries per outage."""

    base: float = 0.5
    cap: float = 10.0
    attempts: int = 10

    def __post_init__(self) -> None:
        for name in ("base", "cap"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"Reconnect.{name} must be a finite number of seconds > 0, not {value!r}")
        if self.cap < self.base:
            raise ValueError(f"Reconnect.cap ({self.cap:g} s) must be at least base ({self.base:g} s)")
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or self.attempts < 1:
            raise ValueError(f"Reconnect.attempts must be a whole number >= 1, not {self.attempts!r}")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.cap, self.base * 2 ** min(attempt - 1, 60))
        return (rng or random).uniform(0.0, ceiling)


@dataclass(frozen=True)
class Attempt:
    """One reconnect try: ``number`` within its outage, ``at`` (time.time() when it dialled),
    ``delay`` (seconds waited before it), ``connected``, ``outcome`` in a few words, and
    ``after``: how the connection it replaces ended (code, reason)."""

    number: int
    at: float
    delay: float
    connected: bool
    outcome: str
    after: tuple[int | None, str | None]


@dataclass(frozen=True)
class _DialOptions:
    """What every dial of one Client uses (the first and each reconnect)."""

    compression: bool
    headers: dict[str, str]
    timeout: float
    max_message_size: int
    ssl: _ssl.SSLContext | None


def _dial_failure(exc: BaseException) -> tuple[str, bool]:
    """What a failed dial says, and whether another try may succeed."""
    if isinstance(exc, SubprotocolMismatch):
        return str(exc), False
    if isinstance(exc, tornado.httpclient.HTTPClientError):
        if exc.code == 599:  # Tornado's code for a timeout or a connection that failed
            return f"no answer ({exc.message})", True
        return f"refused: HTTP {exc.code} {exc.message}", exc.code in RETRY_STATUSES
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out", True
    if isinstance(exc, (OSError, tornado.iostream.StreamClosedError)):  # refused, reset, unreachable
        return f"unreachable: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}", True
    if isinstance(exc, tornado.websocket.WebSocketError):  # an answer that is not a WebSocket
        return f"refused: {exc}", False
    return f"{type(exc).__name__}: {exc}", False  # unforeseen: stop rather than loop on it


class Client:
    """Made by ``await server.connect(path)``; ``tap`` is the one ``url`` goes through (its
    recording of this client is ``client.connection``), or None for a URL past any tap."""

    def __init__(self, tap: "Tap | None", url: str, *, compression: bool = False,
                 headers: dict[str, str] | None = None, timeout: float = 10.0,
                 max_message_size: int = 64 << 20, subprotocols: list[str] | tuple[str, ...] = (),
                 ping_interval: float | None = None, ping_timeout: float | None = None,
                 reconnect: "bool | Reconnect" = False, ssl: _ssl.SSLContext | None = None):
        if isinstance(subprotocols, str):
            raise ValueError("subprotocols is a list of names, not one string")
        offered = tuple(subprotocols)
        problems = [p for p in map(subprotocol_problem, offered) if p]
        if problems:
            raise ValueError("; ".join(problems))
        if len(set(offered)) != len(offered):
            raise ValueError(f"subprotocols must be unique (RFC 6455 section 4.1), got {list(offered)}")
        self.ping_interval, self.ping_timeout = check_heartbeat(ping_interval, ping_timeout)
        if reconnect is True:
            reconnect = Reconnect()
        elif reconnect is not False and not isinstance(reconnect, Reconnect):
            raise ValueError(f"reconnect is True, False or a wsdemo.live.client.Reconnect, not {reconnect!r}")
        self.tap = tap
        self.url = url
        self.subprotocols = offered
        self.reconnect: Reconnect | None = reconnect or None
        self.attempts: list[Attempt] = []  # every reconnect try, oldest first
        self._dial_options = _DialOptions(compression, dict(headers or {}), timeout,
                                          max_message_size, ssl)
        self._ws: tornado.websocket.WebSocketClientConnection | None = None
        self._local: tuple[str, int] = ("", 0)
        self._connection: Connection | None = None
        self._pongs: asyncio.Queue[bytes] = asyncio.Queue()
        self._heartbeat: Heartbeat | None = None
        self._failed: tuple[int, str] | None = None  # the client failed this connection itself
        self._inbox: collections.deque[str | bytes] = collections.deque()
        self._arrived = asyncio.Event()  # something for recv(): a message, or the end
        self._room = asyncio.Event()  # the inbox has room again
        self._changed = asyncio.Event()  # the state changed (see wait_open)
        self._state = "connecting"
        self._closing = False  # close() was called
        self._stop = asyncio.Event()  # set by close(): ends a reconnect's backoff
        self._attempt = 0  # the reconnect try under way or next
        self._drop: tuple[int | None, str | None] = (None, None)  # how the last connection ended
        self._final: ConnectionClosed | None = None
        self._task: asyncio.Task | None = None  # reads the open connection, then reconnects
        self._listeners: list[Callable[[Attempt], Any]] = []

    def __repr__(self) -> str:
        state = "open" if self.is_open else self._state if self._state != "closed" else f"closed ({self.close_code})"
        return f"<Client {self.url} {state}>"

    @classmethod
    async def open(cls, tap: "Tap | None", url: str, **options: Any) -> "Client":
        """Connect (errors of this first dial are raised as they are: nothing to reconnect yet)."""
        client = cls(tap, url, **options)
        client._attach(await client._dial())
        return client

    async def _dial(self) -> tornado.websocket.WebSocketClientConnection:
        opts = self._dial_options
        timeout = opts.timeout
        # ``ssl``: the context a wss:// URL is checked with (server.ssl_context() trusts the lab's CA)
        request = tornado.httpclient.HTTPRequest(self.url, headers=dict(opts.headers),
                                                 ssl_options=opts.ssl,
                                                 connect_timeout=timeout, request_timeout=timeout)
        ws = await asyncio.wait_for(tornado.websocket.websocket_connect(
            request, compression_options={} if opts.compression else None,
            max_message_size=opts.max_message_size,
            subprotocols=list(self.subprotocols) or None), timeout)
        selected = ws.selected_subprotocol
        if selected is not None and selected not in self.subprotocols:
            # Tornado's client takes any answer; RFC 6455 section 4.1 says fail the connection.
            abort(ws.protocol)
            raise SubprotocolMismatch(self.subprotocols, selected)
        return ws

    def _attach(self, ws: tornado.websocket.WebSocketClientConnection) -> None:
        self._ws = ws
        stream = ws.protocol.stream if ws.protocol is not None else None
        sock = stream.socket if stream is not None else None
        # Already gone (Tornado let go of the socket): no address, so no tap record to find.
        self._local = sock.getsockname()[:2] if sock is not None else ("", 0)
        self._connection = None
        self._failed = None
        # Tornado reports pongs to the connection's on_pong hook, if any.
        ws.on_pong = self._on_pong  # type: ignore[method-assign]
        interval, timeout = self.ping_interval, self.ping_timeout  # both set, or neither
        if interval and timeout is not None:
            self._heartbeat = Heartbeat(interval, timeout, ping=ws.ping,
                                        fail=lambda code, reason: self._fail(ws, code, reason))
            self._heartbeat.start()
        self._set_state("open")
        self._task = asyncio.get_running_loop().create_task(self._run(ws))

    def _on_pong(self, data: bytes) -> None:
        # A heartbeat's pong is the heartbeat's; ping() waits for the others.
        if self._heartbeat is None or not self._heartbeat.pong(data):
            self._pongs.put_nowait(data)

    def _fail(self, ws, code: int, reason: str) -> None:
        """Fail the connection: our Close frame saying why, then drop it (section 7.1.7)."""
        self._failed = (code, reason)
        protocol = ws.protocol
        if protocol is not None:
            protocol.close(code, reason)
            abort(protocol)

    async def _run(self, ws) -> None:
        """Move messages into the inbox until the connection ends; then maybe reconnect."""
        try:
            while True:
                message = await ws.read_message()
                if message is None:
                    break
                while len(self._inbox) >= INBOX and not self._closing:
                    self._room.clear()
                    await self._room.wait()
                if not self._closing:  # after close(), what is still in flight is dropped
                    self._inbox.append(message)
                    self._arrived.set()
        finally:
            if self._heartbeat is not None:
                self._heartbeat.stop()
                self._heartbeat = None
        self._drop = (self.close_code, self.close_reason)
        code = 1006 if self.close_code is None else self.close_code
        if self._closing or self.reconnect is None or code not in RETRY_CODES:
            self._finish()
            return
        self._set_state("reconnecting")
        await self._reconnect(self.reconnect)

    async def _reconnect(self, policy: Reconnect) -> None:
        for number in range(1, policy.attempts + 1):
            self._attempt = number
            delay = policy.delay(number)
            try:  # the backoff, cut short by close()
                await asyncio.wait_for(self._stop.wait(), delay)
            except asyncio.TimeoutError:
                pass
            if self._closing:
                return
            at = time.time()
            try:
                # A dial is not cancelled midway (Tornado would finish it and keep the connection
                # open, unowned); close() lets it end and the connection is closed here.
                ws = await self._dial()
            except Exception as exc:  # noqa: BLE001 - recorded in attempts, never lost
                if self._closing:
                    return
                outcome, again = _dial_failure(exc)
                self._record(Attempt(number, at, delay, False, outcome, self._drop))
                if not again:
                    break
                continue
            if self._closing:
                ws.close(1000, None)
                return
            self._record(Attempt(number, at, delay, True, "connected", self._drop))
            self._attach(ws)
            return
        self._finish()

    def _record(self, attempt: Attempt) -> None:
        self.attempts.append(attempt)
        for listener in list(self._listeners):
            try:
                listener(attempt)
            except Exception as exc:  # noqa: BLE001 - a cell's callback must not stop the reconnecting
                log.warning("on_attempt callback %r raised %s: %s", listener, type(exc).__name__, exc)

    def _set_state(self, state: str) -> None:
        self._state = state
        self._changed.set()

    def _finish(self) -> None:
        self._final = ConnectionClosed(*self._drop)
        self._set_state("closed")
        self._arrived.set()

    # -- what a cell reads -------------------------------------------------------------------

    @property
    def state(self) -> str:
        """"open", "reconnecting" (between connections) or "closed" (for good)."""
        return self._state

    @property
    def is_open(self) -> bool:
        ws = self._ws
        return (self._state == "open" and ws is not None and ws.protocol is not None
                and not ws.protocol.is_closing())

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server selected for the current connection; None if none."""
        return None if self._ws is None else self._ws.selected_subprotocol

    @property
    def close_code(self) -> int | None:
        """The code of the server's Close frame; the client's own if it failed the
        connection (1011 for a heartbeat); None while open or after a bare drop."""
        return self._ending()[0]

    @property
    def close_reason(self) -> str | None:
        return self._ending()[1]

    def _ending(self) -> tuple[int | None, str | None]:
        """(code, reason): the server's Close, or the client's own when it failed the connection."""
        ws = self._ws
        if ws is None:
            return None, None
        if ws.close_code is None and self._failed is not None:
            return self._failed
        return ws.close_code, ws.close_reason

    @property
    def reconnects(self) -> int:
        """How many times the client has connected again."""
        return sum(a.connected for a in self.attempts)

    def on_attempt(self, callback: Callable[[Attempt], Any]) -> Callable[[], None]:
        """Call ``callback(attempt)`` after each reconnect try; returns an unsubscribe function."""
        return subscribe(self._listeners, callback)

    async def wait_open(self, timeout: float = 10.0) -> None:
        """Wait until the client is connected (again); ConnectionClosed if it gave up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.is_open:
            if self._final is not None:
                raise self._final
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), max(0.0, deadline - loop.time()))

    @property
    def local_address(self) -> str:
        return f"{self._local[0]}:{self._local[1]}"

    @property
    def connection(self) -> "Connection | None":
        """This client's connection as the tap recorded it (matched by local address); after a
        reconnect, the new one, also when the server it reached is a restarted one (whose
        tap this process runs now)."""
        if self._connection is None:
            for tap in dict.fromkeys(t for t in (self.tap, *listening()) if t is not None):
                conn = tap.connection_from(self._local)
                if conn is not None:
                    self._connection = conn
                    break
        return self._connection

    def _current(self) -> tornado.websocket.WebSocketClientConnection:
        if self._state == "reconnecting":
            raise Disconnected(*self._drop, attempt=max(self._attempt, 1))
        assert self._ws is not None
        return self._ws

    async def send(self, message: str | bytes) -> None:
        """Send a message. While reconnecting: Disconnected (nothing is queued)."""
        await self._current().write_message(message, binary=isinstance(message, (bytes, bytearray)))

    async def send_json(self, obj: Any) -> None:
        await self.send(json.dumps(obj))

    async def recv(self, timeout: float = 5.0) -> str | bytes:
        """The next message; asyncio.TimeoutError if none comes in time, ConnectionClosed once
        closed for good. A reconnecting client's recv() waits across the reconnect."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._inbox:
                message = self._inbox.popleft()
                self._room.set()
                return message
            if self._final is not None:
                raise self._final
            self._arrived.clear()
            await asyncio.wait_for(self._arrived.wait(), max(0.0, deadline - loop.time()))

    async def recv_json(self, timeout: float = 5.0) -> Any:
        return json.loads(await self.recv(timeout))

    async def ping(self, data: bytes = b"", timeout: float = 5.0) -> bytes:
        """Send a ping and wait for its pong; returns the pong's data."""
        self._current().ping(data)
        return await asyncio.wait_for(self._pongs.get(), timeout)

    async def close(self, code: int = 1000, reason: str = "", timeout: float = 5.0) -> None:
        """Send a Close frame and wait (up to ``timeout``) for the server's. Safe to call twice.
        A reconnecting client stops trying."""
        if self._closing:
            return
        self._closing = True
        self._stop.set()
        self._inbox.clear()  # messages not yet read are dropped, as before
        self._room.set()
        task, ws = self._task, self._ws
        if self._state == "reconnecting":
            self._finish()
            return
        if self._state == "closed" or ws is None or ws.protocol is None or task is None:
            return
        protocol = ws.protocol
        ws.close(code, reason or None)
        # The reading task ends once the server's Close has arrived.
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except asyncio.TimeoutError:
            abort(protocol)  # the server never answered
            await asyncio.wait_for(asyncio.shield(task), timeout)
