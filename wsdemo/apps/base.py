"""What every endpoint shares: the join token, the Origin check, the
connection cap, the per-connection rate limit, and close codes that say what
went wrong (the protocol adaptation in tornado_protocol.py: Tornado on its own
just drops the TCP connection on most protocol errors; RFC 6455 section 7.4.1
asks for 1002 / 1007 instead).
"""

from __future__ import annotations

import logging
import secrets
import time
import urllib.parse
from typing import Any

import tornado.web
import tornado.websocket

from .. import wire
from ..heartbeat import Heartbeat
from .feed import Feed
from .tornado_protocol import adapt, handshake_problems, pending_write_bytes

log = logging.getLogger("wsdemo.apps")

TOKEN_COOKIE = "wsdemo_token"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


class AppState:
    """State the apps share; ``server.app_state`` in a notebook.

    ``ticker_interval_ms`` sets the feed's rate for /ticker, /poll and /longpoll.
    """

    def __init__(self, *, classroom: bool = False, token: str | None = None,
                 max_connections: int = 200, max_message_size: int = 1 << 20,
                 rate_limit: float = 20.0, ticker_interval_ms: float = 1000,
                 allowed_origins: tuple[str, ...] = ()):
        self.classroom = classroom
        self.token = token
        self.max_connections = max_connections
        self.max_message_size = max_message_size
        self.rate_limit = rate_limit  # messages per second per connection, classroom mode only
        self.allowed_origins = tuple(allowed_origins)
        # Bytes a client may leave unread (queued in Tornado) before it is closed with 1008:
        # Tornado buffers writes without limit, so a client that never reads would otherwise
        # make the server's memory grow with everything the room says.
        self.send_backlog = max(2 * max_message_size, 256 * 1024)
        self.feed = Feed(ticker_interval_ms)
        self.sockets: set[BaseSocket] = set()  # every open WebSocket, all endpoints
        self.chat: dict[BaseSocket, str] = {}  # chat member -> name as sent
        self.cursors: dict[BaseSocket, int] = {}  # cursor member -> id
        self.next_cursor_id = 1

    def __repr__(self) -> str:
        mode = "classroom" if self.classroom else "loopback"
        return (f"<AppState {mode}: {len(self.sockets)} sockets, chat={len(self.chat)}, "
                f"cursors={len(self.cursors)}, ticker every {self.ticker_interval_ms:g} ms>")

    @property
    def ticker_interval_ms(self) -> float:
        return self.feed.interval_ms

    @ticker_interval_ms.setter
    def ticker_interval_ms(self, ms: float) -> None:
        self.feed.interval_ms = ms


class Guarded:
    """Mixin for every handler: the join token in classroom mode, plain-text errors."""

    state: AppState

    def initialize(self, state: AppState) -> None:  # type: ignore[override]
        self.state = state

    def prepare(self) -> None:
        state = self.state
        if not state.classroom:
            return
        sent = self.get_query_argument("token", None) or self.get_cookie(TOKEN_COOKIE)
        if not sent or not state.token or not secrets.compare_digest(sent.encode(), state.token.encode()):
            self.refuse(403, "a join token is required (ask for the join link)")
            return
        if self.get_query_argument("token", None) and not self.request.headers.get("Upgrade"):
            # Pages opened from the join link keep the token for their WebSockets.
            self.set_cookie(TOKEN_COOKIE, state.token, httponly=True, samesite="Strict")

    def refuse(self, status: int, reason: str, **headers: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        for name, value in headers.items():
            self.set_header(name.replace("_", "-"), value)
        self.finish(reason + "\n")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code} {self._reason}\n")


class BaseSocket(Guarded, tornado.websocket.WebSocketHandler):
    """A WebSocket endpoint. Subclasses implement ``handle(message)``.

    ``SUBPROTOCOLS``: the subprotocols the endpoint speaks (RFC 6455 section 1.9). The server
    selects the first the client offers, in the client's order; none if it speaks none of
    them, and the connection goes on without one (what the client then does is its choice:
    a browser that offered some fails the connection).
    """

    SUBPROTOCOLS: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        problems = [p for p in map(wire.subprotocol_problem, cls.SUBPROTOCOLS) if p]
        if problems:
            raise ValueError(f"{cls.__name__}.SUBPROTOCOLS: {'; '.join(problems)}")

    def initialize(self, state: AppState) -> None:  # type: ignore[override]
        self.state = state
        self._allowance = 0.0
        self._checked_at = 0.0
        self._heartbeat: Heartbeat | None = None

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        # Tornado hands over the offers split on commas; it puts our answer in the 101.
        return wire.select_subprotocol(subprotocols, self.SUBPROTOCOLS)

    async def get(self, *args: Any, **kwargs: Any) -> None:
        state = self.state
        if len(state.sockets) >= state.max_connections:
            self.refuse(503, f"too many connections (the cap is {state.max_connections})",
                        Retry_After="5")
            return
        headers = self.request.headers
        if headers.get("Upgrade", "").lower() == "websocket":
            # Tornado answers these with a bare 426 or a vague 400; say which rule was broken.
            version = headers.get("Sec-WebSocket-Version")
            if version != "13":
                self.refuse(426, f"Sec-WebSocket-Version must be 13, got {version!r} "
                                 "(RFC 6455 section 4.2.2)", Sec_WebSocket_Version="13")
                return
            problems = handshake_problems(self.request)  # HTTP/1.1, Host, a 16-byte key, ...
            if problems:
                self.refuse(400, "; ".join(problems))
                return
        await super().get(*args, **kwargs)

    def check_origin(self, origin: str) -> bool:
        # Called only when the client sent Origin (browsers always do).
        parsed = urllib.parse.urlparse(origin)
        netloc = parsed.netloc.lower()
        if not netloc:
            return False
        hosts = {self.request.host.lower()}
        forwarded = self.request.headers.get("X-Forwarded-Host")
        if forwarded:  # jupyter-server-proxy and other reverse proxies
            hosts.update(h.strip().lower() for h in forwarded.split(","))
        if netloc in hosts or parsed.hostname in LOOPBACK_HOSTS:
            return True
        return origin.rstrip("/") in {o.rstrip("/") for o in self.state.allowed_origins}

    def get_compression_options(self) -> dict | None:
        return {} if self.settings.get("wsdemo_compression") else None

    def get_websocket_protocol(self):
        return adapt(super().get_websocket_protocol())

    def open(self, *args: Any, **kwargs: Any) -> None:
        self.state.sockets.add(self)
        self._checked_at = time.monotonic()
        self._allowance = self.state.rate_limit * 2
        interval = self.settings.get("wsdemo_ping_interval")
        if interval:
            self._heartbeat = Heartbeat(interval, self.settings["wsdemo_ping_timeout"],
                                        ping=self.ping, fail=self._silent)
            self._heartbeat.start()
        self.opened()

    def _silent(self, code: int, reason: str) -> None:
        """The client stopped answering pings: a Close saying so, then the line is dropped."""
        log.info("closing %s %s: %s", self.request.remote_ip, self.request.path, reason)
        if self.ws_connection is not None:
            self.ws_connection.fail(code, reason)

    def opened(self) -> None:
        """Called when the handshake is done; override."""

    def on_message(self, message: str | bytes):
        if self._over_rate():
            self.close(1008, self._rate_reason())
            return None
        return self.handle(message)

    # Pings and pongs count against the same limit: a flood of them costs the server as much
    # as messages do (a pong each, the event loop for everyone). Only in classroom mode, like
    # messages: on loopback the only peers are the learner's own, and lessons send bursts.
    # No page sends pings in bulk, so a flood is cut at once rather than waited on for a
    # closing handshake it will not answer.
    def on_ping(self, data: bytes) -> None:
        self._count_control()

    def on_pong(self, data: bytes) -> None:
        self._count_control()
        if self._heartbeat is not None:
            self._heartbeat.pong(data)

    def _count_control(self) -> None:
        if self._over_rate() and self.ws_connection is not None:
            self.ws_connection.fail(1008, self._rate_reason())

    def _over_rate(self) -> bool:
        return self.state.classroom and not self._within_rate()

    def _rate_reason(self) -> str:
        return f"rate limit: at most {self.state.rate_limit:g} messages per second (pings and pongs count)"

    def handle(self, message: str | bytes):
        raise NotImplementedError

    def _within_rate(self) -> bool:
        # Token bucket: bursts up to twice the rate, then the rate itself.
        now = time.monotonic()
        rate = self.state.rate_limit
        self._allowance = min(rate * 2, self._allowance + (now - self._checked_at) * rate)
        self._checked_at = now
        if self._allowance < 1:
            return False
        self._allowance -= 1
        return True

    def on_close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()
        self.state.sockets.discard(self)
        self.closed()

    def closed(self) -> None:
        """Called once when the connection is gone; override."""

    def send(self, message: str | bytes, *, binary: bool | None = None) -> None:
        """Send without raising if this client has gone: others keep being served.

        ``binary=False`` sends UTF-8 bytes as a text message (a broadcast encodes once, not
        once per member). A client that stops reading is closed with 1008 once more than
        ``state.send_backlog`` bytes wait for it, so it cannot make the server buffer
        without end.
        """
        if self.ws_connection is None or self.ws_connection.is_closing():
            return
        if binary is None:
            binary = isinstance(message, bytes)
        try:
            written = self.write_message(message, binary=binary)
        except tornado.websocket.WebSocketClosedError:
            return
        written.add_done_callback(self._written)
        # Measured after the write: Tornado has already handed the kernel what it would take,
        # so this is what really waits for the client (compressed, framed), not the message size.
        pending, limit = self._backlog, self.state.send_backlog
        if pending > limit:
            log.info("closing %s %s: %d bytes unread", self.request.remote_ip, self.request.path, pending)
            self.close(1008, f"not reading: over {limit // 1024} KiB of messages waiting")

    @staticmethod
    def _written(fut) -> None:
        if not fut.cancelled():
            fut.exception()  # a client that left is not an error (and not "never retrieved")

    @property
    def _backlog(self) -> int:
        """Bytes queued in Tornado for this client that the kernel has not taken yet."""
        return pending_write_bytes(getattr(self.ws_connection, "stream", None))

    @property
    def max_message_size(self) -> int:
        return self.state.max_message_size
