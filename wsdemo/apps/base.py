"""What every endpoint shares: the join token, the Origin check, the
connection cap, the per-connection rate limit, and close codes that say what
went wrong (Tornado on its own just drops the TCP connection on most protocol
errors; RFC 6455 section 7.4.1 asks for 1002 / 1007 instead).
"""

from __future__ import annotations

import logging
import secrets
import struct
import time
import urllib.parse
from typing import Any

import tornado.web
import tornado.websocket
from tornado.iostream import StreamClosedError

from .feed import Feed

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
        self.streams: set = set()  # every open /sse response (apps/sse.py)
        self.chat: dict[BaseSocket, str] = {}  # chat member -> name as sent
        self.cursors: dict[BaseSocket, int] = {}  # cursor member -> id
        self.next_cursor_id = 1

    def __repr__(self) -> str:
        mode = "classroom" if self.classroom else "loopback"
        return (f"<AppState {mode}: {len(self.sockets)} sockets, chat={len(self.chat)}, "
                f"cursors={len(self.cursors)}, ticker every {self.ticker_interval_ms:g} ms>")

    @property
    def open_connections(self) -> int:
        """Long-lived connections, counted against ``max_connections``: WebSockets and event streams."""
        return len(self.sockets) + len(self.streams)

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
        if not sent or not state.token or not secrets.compare_digest(sent, state.token):
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


class _Protocol13(tornado.websocket.WebSocketProtocol13):
    """Tornado's protocol, but failing with a close code instead of a bare TCP drop.

    Tornado calls ``_abort()`` for every protocol violation it detects; here
    that first sends a Close frame: 1007 for a text message that is not UTF-8,
    1011 when our own handler raised, 1002 for everything else. Tornado also
    accepts unmasked client frames, which RFC 6455 section 5.1 forbids.
    """

    _fail_code = 1002
    _fail_reason = "protocol error"

    def _fail(self, code: int, reason: str) -> None:
        self._fail_code, self._fail_reason = code, reason
        self._abort()

    def _abort(self) -> None:
        stream = self.stream
        if stream is not None and not stream.closed() and not self.server_terminated:
            try:
                payload = struct.pack(">H", self._fail_code) + self._fail_reason.encode()[:120]
                self._write_frame(True, 0x8, payload)
            except StreamClosedError:
                pass
            self.server_terminated = True
        super()._abort()

    async def _receive_frame(self) -> None:
        self._frame_mask = None
        await super()._receive_frame()
        if self._frame_mask is None and not self.client_terminated:
            # A non-final unmasked fragment (the final one is caught below).
            self._fail(1002, "client frames must be masked")

    def _handle_message(self, opcode: int, data: bytes):
        if self._frame_mask is None:
            self._fail(1002, "client frames must be masked")
            return None
        if opcode == 0x1 and not self._frame_compressed:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                self._fail(1007, "text message is not valid UTF-8")
                return None
        elif opcode == 0x8 and len(data) == 1:
            self._fail(1002, "close payload of 1 byte")
            return None
        elif opcode == 0x8 and len(data) > 2:
            try:
                data[2:].decode("utf-8")
            except UnicodeDecodeError:
                self._fail(1007, "close reason is not valid UTF-8")
                return None
        # Compressed text is checked after inflating, in Tornado's own path:
        # mark that a failure there is a UTF-8 failure.
        self._fail_code, self._fail_reason = (
            (1007, "text message is not valid UTF-8") if opcode == 0x1 else (1002, "protocol error"))
        try:
            return super()._handle_message(opcode, data)
        finally:
            self._fail_code, self._fail_reason = 1002, "protocol error"

    def _run_callback(self, callback, *args, **kwargs):
        # Our handler failing is a server error, not the client's fault.
        self._fail_code, self._fail_reason = 1011, "server error"
        try:
            return super()._run_callback(callback, *args, **kwargs)
        finally:
            self._fail_code, self._fail_reason = 1002, "protocol error"


class BaseSocket(Guarded, tornado.websocket.WebSocketHandler):
    """A WebSocket endpoint. Subclasses implement ``handle(message)``."""

    def initialize(self, state: AppState) -> None:  # type: ignore[override]
        self.state = state
        self._allowance = 0.0
        self._checked_at = 0.0
        self._backlog = 0  # bytes handed to Tornado and not yet written to the socket

    async def get(self, *args: Any, **kwargs: Any) -> None:
        state = self.state
        if state.open_connections >= state.max_connections:
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
            if not headers.get("Sec-WebSocket-Key"):
                self.refuse(400, "missing Sec-WebSocket-Key header (RFC 6455 section 4.2.1)")
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
        protocol = super().get_websocket_protocol()
        if protocol is not None:
            protocol.__class__ = _Protocol13
        return protocol

    def open(self, *args: Any, **kwargs: Any) -> None:
        self.state.sockets.add(self)
        self._checked_at = time.monotonic()
        self._allowance = self.state.rate_limit * 2
        self.opened()

    def opened(self) -> None:
        """Called when the handshake is done; override."""

    def on_message(self, message: str | bytes):
        if self.state.classroom and not self._within_rate():
            limit = self.state.rate_limit
            self.close(1008, f"rate limit: at most {limit:g} messages per second")
            return None
        return self.handle(message)

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
        self.state.sockets.discard(self)
        self.closed()

    def closed(self) -> None:
        """Called once when the connection is gone; override."""

    def send(self, message: str | bytes) -> None:
        """Send without raising if this client has gone: others keep being served.

        A client that stops reading is closed with 1008 once ``state.send_backlog``
        bytes wait for it, so it cannot make the server buffer without end.
        """
        if self.ws_connection is None or self.ws_connection.is_closing():
            return
        try:
            written = self.write_message(message, binary=isinstance(message, bytes))
        except tornado.websocket.WebSocketClosedError:
            return
        size = len(message)
        self._backlog += size
        written.add_done_callback(lambda fut: self._written(size, fut))
        limit = self.state.send_backlog
        if self._backlog > limit:
            log.info("closing %s %s: %d bytes unread", self.request.remote_ip, self.request.path,
                     self._backlog)
            self.close(1008, f"not reading: over {limit // 1024} KiB of messages waiting")

    def _written(self, size: int, fut) -> None:
        self._backlog -= size
        if not fut.cancelled():
            fut.exception()  # a client that left is not an error (and not "never retrieved")

    @property
    def max_message_size(self) -> int:
        return self.state.max_message_size
