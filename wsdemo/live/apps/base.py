"""What every endpoint shares: the Host and Origin checks, the join token, the
connection cap, the per-connection rate limit, and close codes that say what
went wrong (the protocol adaptation in tornado_protocol.py: Tornado on its own
just drops the TCP connection on most protocol errors; RFC 6455 section 7.4.1
asks for 1002 / 1007 instead).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import secrets
import time
import unicodedata
import urllib.parse
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import tornado.httputil
import tornado.web
import tornado.websocket

from ... import wire
from .. import proxy
from ..heartbeat import Heartbeat
from .feed import Feed
from .tornado_protocol import Protocol13, adapt, handshake_problems, pending_write_bytes

if TYPE_CHECKING:
    from ..backplane import Backplane

log = logging.getLogger("wsdemo.apps")

TOKEN_COOKIE = "wsdemo_token"
_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def split_host(host: str) -> tuple[str, int | None]:
    """``Host`` header value -> (lower-case name without brackets or final dot, port or None)."""
    host = host.strip().lower()
    name, port = host, None
    if host.startswith("["):  # [v6]:port
        end = host.find("]")
        name, rest = host[1:end if end > 0 else None], host[end + 1:] if end > 0 else ""
        port_text = rest[1:] if rest.startswith(":") else ""
    elif host.count(":") == 1:
        name, port_text = host.split(":")
    else:
        port_text = ""
    if port_text:
        port = int(port_text) if port_text.isascii() and port_text.isdigit() else -1
    return name.rstrip("."), port


def host_allowed(name: str, allowed: frozenset[str] | set[str]) -> bool:
    """A Host name this server answers to. IP addresses always: a browser sends one only
    when the user typed it, so it cannot be a DNS rebinding (a name the attacker's DNS
    first points at its own server, then at ours, which makes our answers same-origin
    for its page). Names: localhost, and the ones in ``allowed``."""
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    return name == "localhost" or name in allowed


def parse_json(message: str | bytes) -> tuple[Any, str | None]:
    """``(value, None)``, or ``(None, what was wrong)`` for text that is not JSON, including
    JSON nested too deep for the parser (``[[[[...`` raises RecursionError, not ValueError)."""
    try:
        return json.loads(message), None
    except ValueError as exc:
        return None, f"not JSON: {exc}"
    except RecursionError:
        return None, "not JSON this server reads: nested too deep"

# Close codes of the teacher's actions (classroom mode). The pages show the reason and do
# not reconnect after them.
KICKED = 1008  # policy violation (RFC 6455 section 7.4.1): the teacher removed this connection
NAME_LOCKED = 1008  # the name is kept for the teacher
TOKEN_CHANGED = 4001  # private-use range (4000-4999): the join token was rotated
TOKEN_CHANGED_REASON = "the join token changed; rejoin with the new link"
LOCKED_BY_DEFAULT = ("Teacher",)
CURSOR_TICK_HZ = (1, 100)  # the range of AppState.cursor_tick_hz, ticks per second


def name_key(name: str) -> str:
    """What two names share when they would look the same in the room: "Teacher",
    "teacher ", "T e a c h e r!" and a full-width "Ｔｅａｃｈｅｒ" all give "teacher"."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", name).casefold() if ch.isalnum())


@dataclass(frozen=True)
class Backlogged:
    """A client closed for not reading (``server.app_state.backpressure_log``): ``buffered``
    bytes waited in the server for it, over ``limit`` (``state.send_backlog``). ``peer_port``
    is its port as Tornado sees it, the tap's ``Connection.upstream_port``."""

    at: float  # time.time()
    path: str
    peer_port: int | None
    buffered: int
    limit: int
    reason: str


BACKPRESSURE_LOG = 100  # records kept in state.backpressure_log, newest last


def peer_port(request: tornado.httputil.HTTPServerRequest) -> int | None:
    """The client's port as Tornado sees it (the tap's ``Connection.upstream_port``)."""
    # The HTTP/1 connection's context holds the address; Tornado's interface types neither.
    address = getattr(getattr(request.connection, "context", None), "address", None)
    return address[1] if isinstance(address, tuple) and len(address) >= 2 else None


def record_backlog(handler: tornado.web.RequestHandler, state: "AppState", buffered: int) -> str:
    """``handler``'s client is being closed for not reading, ``buffered`` bytes waiting for it
    (over ``state.send_backlog``): logged, kept in ``state.backpressure_log``; returns the reason."""
    limit = state.send_backlog
    request = handler.request
    log.info("closing %s %s: %d bytes unread (the limit is %d)", request.remote_ip, request.path,
             buffered, limit)
    reason = f"not reading: {buffered} bytes waiting, over the limit of {limit // 1024} KiB (send_backlog)"
    state.backpressure_log.append(Backlogged(time.time(), request.path, peer_port(request), buffered,
                                             limit, reason))
    return reason


def close_reason(text: str) -> str:
    """``text`` cut to the 123 bytes a close frame can carry, on a character boundary."""
    data = text.encode()
    if len(data) <= 123:
        return text
    return data[:120].decode("utf-8", "ignore") + "..."


class AppState:
    """State the apps share; ``server.app_state`` in a notebook.

    ``ticker_interval_ms`` sets the feed's rate for /ticker, /poll and /longpoll;
    ``cursor_tick_hz`` how often /cursors sends the moves it gathered (apps/cursors.py).
    """

    def __init__(self, *, classroom: bool = False, token: str | None = None,
                 max_connections: int = 200, max_message_size: int = 1 << 20,
                 rate_limit: float = 20.0, ticker_interval_ms: float = 1000,
                 allowed_origins: tuple[str, ...] = (), check_origin: bool = True,
                 cursor_tick_hz: float = 20):
        self.classroom = classroom
        # False only on a throwaway loopback server (serve() checks): the hijacking lesson.
        self.check_origin = check_origin
        self.token = token
        self.max_connections = max_connections
        self.max_message_size = max_message_size
        self.rate_limit = rate_limit  # messages per second per connection, classroom mode only
        self.allowed_origins = tuple(allowed_origins)
        # Host names (besides IP addresses and localhost) pages and WebSockets answer to;
        # the server adds the names it is bound to and reached at (Server._start).
        self.allowed_hosts: set[str] = set()
        self.ports: set[int] = set()  # the tap's and Tornado's, set when listening
        # Bytes a client may leave unread (queued in Tornado) before it is closed with 1008:
        # Tornado buffers writes without limit, so a client that never reads would otherwise
        # make the server's memory grow with everything the room says.
        self.send_backlog = max(2 * max_message_size, 256 * 1024)
        self.backpressure_log: deque[Backlogged] = deque(maxlen=BACKPRESSURE_LOG)
        self.feed = Feed(ticker_interval_ms)
        self.sockets: set[BaseSocket] = set()  # every open WebSocket, all endpoints
        self.streams: set = set()  # every open /sse response (apps/sse.py)
        self.chat: dict[BaseSocket, str] = {}  # chat member -> name as sent
        # Moderation (classroom mode): the teacher's own token (the kernel's clients and the
        # teacher's link use it; it survives a rotation), names kept for the teacher, and
        # muted names, all by name_key().
        self.teacher_token = secrets.token_urlsafe(12) if classroom else None
        self.locked_names: set[str] = {name_key(n) for n in LOCKED_BY_DEFAULT} if classroom else set()
        self.muted: set[str] = set()
        self.cursors: dict[BaseSocket, int] = {}  # cursor member -> id
        self.next_cursor_id = 1
        self.cursor_tick_hz = cursor_tick_hz
        self.cursor_moves: dict[int, dict] = {}  # mover id -> its latest move since the last tick
        self.cursor_tick = 0  # ticks sent so far
        self.cursor_timer: asyncio.TimerHandle | None = None  # the next tick, while moves wait
        self.backplane: Backplane | None = None  # rooms shared with other servers

    def allow_hosts(self, names) -> None:
        """Answer to these Host names too (a port, brackets or a final dot are ignored)."""
        self.allowed_hosts.update(split_host(name)[0] for name in names if name)

    def __repr__(self) -> str:
        mode = "classroom" if self.classroom else "loopback"
        return (f"<AppState {mode}: {len(self.sockets)} sockets, chat={len(self.chat)}, "
                f"cursors={len(self.cursors)}, ticker every {self.ticker_interval_ms:g} ms>")

    @property
    def open_connections(self) -> int:
        """Long-lived connections, counted against ``max_connections``: WebSockets and event streams."""
        return len(self.sockets) + len(self.streams)

    @property
    def cursor_tick_hz(self) -> float:
        return self._cursor_tick_hz

    @cursor_tick_hz.setter
    def cursor_tick_hz(self, hz: float) -> None:
        low, high = CURSOR_TICK_HZ
        if isinstance(hz, bool) or not isinstance(hz, (int, float)) or not low <= hz <= high:
            raise ValueError(f"cursor_tick_hz must be a number from {low} to {high} ticks per second, "
                             f"got {hz!r}")
        self._cursor_tick_hz = hz

    @property
    def ticker_interval_ms(self) -> float:
        return self.feed.interval_ms

    @ticker_interval_ms.setter
    def ticker_interval_ms(self, ms: float) -> None:
        self.feed.interval_ms = ms


class Guarded(tornado.web.RequestHandler):
    """What every handler shares (first in its bases, before Tornado's handler class):
    the Host (and a WebSocket's Origin), the join token in classroom mode, plain-text errors."""

    state: AppState
    teacher = False  # joined with the teacher's token (classroom mode)
    joined_token: str | None = None

    def initialize(self, state: AppState) -> None:
        self.state = state

    def prepare(self) -> None:
        if not self._check_host_and_origin():
            return
        state = self.state
        if not state.classroom:
            return
        sent = self.get_query_argument("token", None) or self.get_cookie(TOKEN_COOKIE)
        refusal = "a join token is required (ask for the join link)"
        if not sent:
            self.refuse(403, refusal)
            return
        self.teacher = bool(state.teacher_token
                            and secrets.compare_digest(sent.encode(), state.teacher_token.encode()))
        if not self.teacher and (not state.token
                                 or not secrets.compare_digest(sent.encode(), state.token.encode())):
            self.refuse(403, refusal)
            return
        self.joined_token = sent  # a token rotation closes the sockets that joined with the old one
        if self.get_query_argument("token", None) and not self.request.headers.get("Upgrade"):
            # Pages opened from the join link keep the token for their WebSockets.
            self.set_cookie(TOKEN_COOKIE, sent, httponly=True, samesite="Strict")

    def _proxied(self) -> bool:
        """Came through jupyter-server-proxy: it forwards the browser's own Host, which names
        the Jupyter server's port, never ours (a browser puts the port it connects to in
        Host, so it cannot fake this). Only when wsdemo.live.proxy says we are behind one."""
        if proxy.prefix() is None:
            return False
        _, port = split_host(self.request.host)
        if port is None:  # the scheme's default port
            return not self.state.ports & {80, 443}
        return port not in self.state.ports

    def _check_host_and_origin(self) -> bool:
        """Refuse (403, naming the rule) a Host this server does not answer to, and a
        WebSocket opened by a page from another origin. True when the request may go on."""
        name, port = split_host(self.request.host)
        if port == -1 or not (host_allowed(name, self.state.allowed_hosts) or self._proxied()):
            self.refuse(403, f"Host {self.request.host!r} is not a name this server answers to "
                             "(IP addresses, localhost, and the names it was started with; "
                             "add more with serve(allowed_hosts=...)): a guard against DNS rebinding")
            return False
        origin = self.request.headers.get("Origin")
        if (origin is not None and self.request.headers.get("Upgrade", "").lower() == "websocket"
                and self.state.check_origin and not self.origin_allowed(origin)):
            self.refuse(403, f"Origin {origin!r} is not this server's ({self.request.host}): a page "
                             "from another origin (another host or port) may not open WebSockets "
                             "here; add it with serve(allowed_origins=...)")
            return False
        return True

    def origin_allowed(self, origin: str) -> bool:
        """Same origin as the Host asked for, or listed in ``allowed_origins``. Behind
        jupyter-server-proxy, also the host it forwarded for (X-Forwarded-Host)."""
        if origin.rstrip("/") in {o.rstrip("/") for o in self.state.allowed_origins}:
            return True
        try:
            parsed = urllib.parse.urlparse(origin)
            origin_port = parsed.port or _DEFAULT_PORTS.get(parsed.scheme)
        except ValueError:
            return False
        if not parsed.hostname:
            return False  # "null": a file:// page or a sandboxed frame
        hosts = [self.request.host]
        forwarded = self.request.headers.get("X-Forwarded-Host")
        if forwarded and self._proxied():  # any client can send it: trusted only from the proxy
            hosts += [h.strip() for h in forwarded.split(",")]
        for host in hosts:
            name, port = split_host(host)
            if port is None:  # Host leaves out the default port of the scheme the page used
                port = _DEFAULT_PORTS.get(parsed.scheme)
            if name == parsed.hostname.rstrip(".") and port == origin_port:
                return True
        return False

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

    def initialize(self, state: AppState) -> None:
        self.state = state
        self._allowance = 0.0
        self._checked_at = 0.0
        self._heartbeat: Heartbeat | None = None

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        # Tornado hands over the offers split on commas; it puts our answer in the 101.
        return wire.select_subprotocol(subprotocols, self.SUBPROTOCOLS)

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
            problems = handshake_problems(self.request)  # HTTP/1.1, Host, a 16-byte key, ...
            if problems:
                self.refuse(400, "; ".join(problems))
                return
        await super().get(*args, **kwargs)

    def check_origin(self, origin: str) -> bool:
        # prepare() has refused a foreign Origin with a clearer answer; Tornado asks again.
        return not self.state.check_origin or self.origin_allowed(origin)

    def get_compression_options(self) -> dict | None:
        return {} if self.settings.get("wsdemo_compression") else None

    def get_websocket_protocol(self):
        return adapt(super().get_websocket_protocol())

    def open(self, *args: Any, **kwargs: Any) -> None:
        # Small frames go at once: with Nagle's algorithm a frame written while the last is
        # unacknowledged waits for the peer's delayed ACK, up to 40 ms on Linux (a chat line
        # to 50 members had a 40 ms tail; Tornado's set_nodelay docstring names the interaction).
        self.set_nodelay(True)
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
        self._fail(code, reason)

    def _fail(self, code: int, reason: str) -> None:
        # get_websocket_protocol() adapted the protocol, so an open connection is a Protocol13.
        protocol = self.ws_connection
        if isinstance(protocol, Protocol13):
            protocol.fail(code, reason)

    def opened(self) -> None:
        """Called when the handshake is done; override."""

    def claim_name(self, name: str) -> bool:
        """False (and the connection closed with 1008, saying why) when ``name`` is kept for
        the teacher and this is not the teacher's connection."""
        if self.teacher or name_key(name) not in self.state.locked_names:
            return True
        self.close(NAME_LOCKED, close_reason(
            f"the name {name!r} is kept for the teacher; rejoin with another name"))
        return False

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
        if self._over_rate():
            self._fail(1008, self._rate_reason())

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
            # (the stream's Future: Tornado retrieves its error itself, see Protocol13.write_message)
            self.write_message(message, binary=binary)
        except tornado.websocket.WebSocketClosedError:
            return
        # Measured after the write: Tornado has already handed the kernel what it would take,
        # so this is what really waits for the client (compressed, framed), not the message size.
        pending = self._backlog
        if pending > self.state.send_backlog:
            self.close(1008, record_backlog(self, self.state, pending))

    @property
    def _backlog(self) -> int:
        """Bytes queued in Tornado for this client that the kernel has not taken yet."""
        return pending_write_bytes(getattr(self.ws_connection, "stream", None))

    @property
    def max_message_size(self) -> int:
        return self.state.max_message_size
