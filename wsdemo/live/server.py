"""The live lab: the Tornado app on a private port behind the recording tap.

In a notebook::

    server = await wsdemo.serve()          # returns once both ports listen
    client = await server.connect("/echo")
    server.tap.connections[-1].events

Servers side by side: ``serve()`` stops a running server of this process first
only when both are the same *slot*: the same ``name=`` (no name is a name too:
re-running a cell replaces that cell's server, freeing its ports) or the same
fixed ``port=``. A classroom server is never stopped that way: serving again in
its slot raises ``ServerBusy`` (stop it with ``await server.stop()``, or pass
``replace=True``), and any other server simply starts next to it.

``python -m wsdemo serve`` runs the same thing outside a notebook (``run_forever``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import numbers
import secrets
import signal
import socket
import ssl
import sys
import time
from dataclasses import dataclass

import tornado.httpserver
import tornado.netutil

from .apps import MAX_BODY, AppState, NoBodies, make_app
from .apps.base import CURSOR_TICK_HZ, KICKED, TOKEN_CHANGED, TOKEN_CHANGED_REASON, close_reason, name_key
from .apps.feed import MAX_INTERVAL_MS, MIN_INTERVAL_MS
from .client import Client, Reconnect
from .heartbeat import check_heartbeat
from .network import Network
from .tap import CLASS_LINKS, DEFAULT_BUDGET, IDLE_TIMEOUT_RANGE, Tap, raise_fd_limit
from ..wire import mask_tokens_text, with_token

log = logging.getLogger("wsdemo.server")
conn_log = logging.getLogger("wsdemo.connections")

HEAD_TIMEOUT = 60.0  # seconds
# No route takes a body (NoBodies refuses one from the head); should one be read anyway,
# it must come in this long, not a byte every few seconds for ever.
BODY_TIMEOUT = 10.0  # seconds
_running: "list[Server]" = []  # the servers this process runs, oldest first (see serve())
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def running() -> "list[Server]":
    """The servers this process runs now, oldest first."""
    return list(_running)


class ServerBusy(RuntimeError):
    """serve() would have to stop a classroom server (or take its fixed port): ``server``
    is the one in the way. A classroom server is only stopped on purpose."""

    def __init__(self, server: "Server", message: str):
        super().__init__(message)
        self.server = server


@dataclass
class Participant:
    """One open WebSocket, as the teacher sees it (``server.participants()``).

    ``id`` is the tap's connection number (the ``#`` in ConnectionsPanel), ``peer`` the
    client's real address, ``name`` the chat or cursors name ("" elsewhere)."""

    id: int | None
    endpoint: str
    name: str
    peer: str
    teacher: bool
    muted: bool

    def __str__(self) -> str:
        flags = "".join((" (teacher)" if self.teacher else "", " (muted)" if self.muted else ""))
        return f"#{self.id} {self.endpoint} {self.name or '-'} from {self.peer}{flags}"


class _MaskTokens(logging.Filter):
    """Join tokens out of log records: Tornado's own warnings and errors quote the raw URI."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a broken record is logging's to report, not ours
            return True
        masked = mask_tokens_text(text)
        if masked != text:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = mask_tokens_text(text)
        return True


# Not wsdemo.server: outside a notebook it announces the join URL, token and all, on purpose.
_LOGGERS_MASKED = ("tornado.access", "tornado.general", "tornado.application", "wsdemo.tap",
                   "wsdemo.connections")


def mask_tokens_in_logs() -> None:
    """Install the token mask on Tornado's loggers and the live lab's own (once per process)."""
    for name in _LOGGERS_MASKED:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _MaskTokens) for f in logger.filters):
            logger.addFilter(_MaskTokens())


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class Server:
    """A running live lab. Made by ``await wsdemo.serve()``."""

    def __init__(self, *, host: str, compression: bool, classroom: bool, state: AppState,
                 ring_size: int, ring_bytes: int = 8 << 20, tap_budget: int = DEFAULT_BUDGET,
                 max_links_per_address: int | None = None, network: Network | None = None,
                 name: str | None = None, join_host: str | None = None,
                 ping_interval: float | None = None, ping_timeout: float | None = None,
                 tls: bool = False, idle_timeout: float | None = None):
        self.host = host
        self.tls = tls  # wss:// and https://, TLS terminated at the tap (see wsdemo/tls.py)
        self.idle_timeout = idle_timeout
        self._ca = None  # tls.LabCA while running with TLS
        self._network = Network.of(network)
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.compression = compression
        self.classroom = classroom
        self.app_state = state
        self.token = state.token  # the join token (classroom mode); rotate_token() changes it
        self.name = name  # its slot: serve() with the same name replaces it (see the module doc)
        self.join_host = join_host  # the address on the join card; None: found (classroom.py)
        self._ring_size = ring_size
        self._ring_bytes = ring_bytes
        self._tap_budget = tap_budget
        self._max_links_per_address = max_links_per_address
        # Set when the tap can relay fewer connections at once than a class needs.
        self.capacity_warning: str | None = None
        self.tap: Tap | None = None
        self.port: int | None = None  # the tap's public port
        self.direct_port: int | None = None  # Tornado's private port
        self._http: tornado.httpserver.HTTPServer | None = None
        self._gate: NoBodies | None = None
        self._stopped = False
        self._stopping: asyncio.Future | None = None
        # Helpers that live as long as the lab (wsdemo.hijack's attacker page): each has an
        # async stop(), awaited first by stop().
        self.companions: list = []
        # wsdemo.backplane.Backplane when serve(backplane=...) shares rooms with other servers;
        # its .status says whether Redis is reachable and counts what crossed.
        self.backplane = None

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        extra = ", classroom" if self.classroom else ""
        extra += ", permessage-deflate" if self.compression else ""
        extra += ", Origin check OFF" if not self.app_state.check_origin else ""
        warning = f"; WARNING: {self.capacity_warning}" if self.capacity_warning else ""
        return f"<wsdemo Server {self.url('/')} (app on :{self.direct_port}){extra}, {state}{warning}>"

    @property
    def max_links(self) -> int | None:
        """Connections the tap relays at once (past it, 503)."""
        return self.tap.max_links if self.tap is not None else None

    @property
    def teacher_token(self) -> str | None:
        """The teacher's own token: it may use locked names and survives a rotation. The
        kernel's clients use it; never project it (``teacher_url()`` is for your own tab)."""
        return self.app_state.teacher_token

    @property
    def running(self) -> bool:
        """True from the moment serve() returns until stop() is called."""
        return self.tap is not None and not self._stopped

    # -- starting ------------------------------------------------------------

    async def _start(self, port: int) -> None:
        raise_fd_limit()  # before the tap sizes its cap from it
        app = make_app(self.app_state, compression=self.compression,
                       ping_interval=self.ping_interval, ping_timeout=self.ping_timeout)
        # Tornado listens on loopback only: everything from outside goes through the tap.
        app_sockets = tornado.netutil.bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
        tap_sockets = tornado.netutil.bind_sockets(port, self.host)
        try:
            # A head must arrive within a minute (and idle keep-alive connections close then):
            # Tornado's default of an hour lets a half-sent head hold a connection all class.
            self._gate = NoBodies(app)
            self._http = tornado.httpserver.HTTPServer(
                self._gate, xheaders=False, idle_connection_timeout=HEAD_TIMEOUT,
                max_body_size=MAX_BODY, body_timeout=BODY_TIMEOUT)
            self._http.add_sockets(app_sockets)
            self.direct_port = app_sockets[0].getsockname()[1]
            context = None
            if self.tls:
                from .classroom import join_host
                from .tls import LabCA

                # The names clients use: loopback, the bound host, and where classmates join.
                self._ca = LabCA([self.host, join_host(self.host, self.join_host)])
                context = self._ca.server_context()
            self.tap = Tap("127.0.0.1", self.direct_port, ring_size=self._ring_size,
                           ring_bytes=self._ring_bytes, budget_bytes=self._tap_budget,
                           max_message_size=self.app_state.max_message_size,
                           max_links_per_address=self._max_links_per_address, network=self._network,
                           ssl_context=context, idle_timeout=self.idle_timeout)
            await self.tap.start(tap_sockets)
            self.port = self.tap.port
        except BaseException:
            for sock in app_sockets + tap_sockets:
                sock.close()
            if self._ca is not None:
                self._ca.close()
            raise
        self._allow_hosts()
        self._check_capacity()
        self.app_state.feed.start()

    def _allow_hosts(self) -> None:
        """The names (besides IP addresses and localhost) pages and WebSockets answer to: the
        bound host and the join link's host, when they are names (see BaseSocket's check)."""
        from .classroom import WILDCARDS, join_host

        self.app_state.ports = {self.port, self.direct_port}
        self.app_state.allow_hosts([join_host(self.host, self.join_host) if self.host in WILDCARDS
                                    else self.host, self.join_host])

    def _check_capacity(self) -> None:
        tap = self.tap
        if tap.max_links >= CLASS_LINKS:
            return
        try:
            import resource

            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            why = f"open-file limit {soft} (hard limit {hard}); raise it (ulimit -n 4096) and restart"
        except ImportError:
            why = "the open-file limit"
        self.capacity_warning = (f"the tap relays only {tap.max_links} connections at once, "
                                 f"fewer than a class of 30 needs (about {CLASS_LINKS}): {why}")
        log.warning("%s", self.capacity_warning)

    # -- URLs ----------------------------------------------------------------

    @property
    def _public_host(self) -> str:
        # A wildcard bind is reached from this machine on loopback.
        return "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else _url_host(self.host)

    def url(self, path: str = "/") -> str:
        """ws:// URL through the tap (wss:// with ``tls=True``)."""
        return f"{'wss' if self.tls else 'ws'}://{self._public_host}:{self.port}{path}"

    def http_url(self, path: str = "/") -> str:
        """http:// URL through the tap (pages, /poll, /longpoll; https:// with ``tls=True``)."""
        return f"{self._http_scheme}://{self._public_host}:{self.port}{path}"

    @property
    def _http_scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def ca_file(self) -> str | None:
        """With ``tls=True``: the lab CA's certificate (PEM) that clients trust; removed on stop."""
        return self._ca.ca_file if self._ca is not None else None

    def ssl_context(self) -> ssl.SSLContext:
        """A client context trusting this server's CA (and only it), for wss:// and https://."""
        if self._ca is None:
            raise RuntimeError("this server speaks no TLS; start one with wsdemo.serve(tls=True)")
        return self._ca.client_context()

    def spki_pin(self) -> str:
        """base64 SHA-256 of the server key (for Chromium's --ignore-certificate-errors-spki-list)."""
        if self._ca is None:
            raise RuntimeError("this server speaks no TLS; start one with wsdemo.serve(tls=True)")
        return self._ca.spki_sha256()

    def direct_url(self, path: str = "/", scheme: str = "ws") -> str:
        """URL straight to Tornado, bypassing the tap (to measure what the tap costs)."""
        return f"{scheme}://127.0.0.1:{self.direct_port}{path}"

    def join_url(self, path: str = "/chat.html", host: str | None = None) -> str:
        """The link classmates open: the page with the join token in the query."""
        return with_token(self._page_url(path, host), self.token)

    def _page_url(self, path: str, host: str | None) -> str:
        return (self.http_url(path) if host is None
                else f"{self._http_scheme}://{_url_host(host)}:{self.port}{path}")

    def browser_url(self, path: str = "/chat.html") -> str:
        """The link a browser on the learner's side opens: through jupyter-server-proxy
        (``{base_url}proxy/PORT/...``, see wsdemo.proxy) when behind one, else http_url."""
        from . import proxy

        if proxy.prefix() is not None:
            return proxy.proxied_path(self.port, path)
        return self.http_url(path)

    def join_card(self, page: str = "/chat.html"):
        """The join URL (LAN address + token) and its QR code, for the projector."""
        from .classroom import join_card

        return join_card(self, page)

    def teacher_url(self, path: str = "/chat.html", host: str | None = None) -> str:
        """The join link with the teacher's token: for the teacher's own browser tab (it may
        call itself "Teacher"). Not for the projector."""
        return with_token(self._page_url(path, host), self.teacher_token or self.token)

    # -- classroom: reachability and moderation ------------------------------
    # Every action shows on the wire: kicks and rotations are Close frames (1008, 4001), a
    # refused "Teacher" is a 1008, and a mute sends the student an error event.

    def check_classroom(self, *, firewall: bool = True):
        """Can the room reach this server? A ``ClassroomCheck``: is the join address this
        machine's, is the port bound on it, is a connection to it answered, is a firewall
        likely in the way, what to do about Wi-Fi isolation. Its str is plain words."""
        from .classroom import check_reachability, join_host

        if self._stopped or self.port is None:
            raise RuntimeError("this server is stopped; start one with await wsdemo.serve()")
        return check_reachability(join_host(self.host, self.join_host), self.port,
                                  bound_host=self.host, firewall=firewall)

    def _members(self):
        """(handler, name) of every open WebSocket; the name is "" outside chat and cursors."""
        state = self.app_state
        for handler in list(state.sockets):
            name = state.chat.get(handler) or (handler.name if handler in state.cursors else "")
            yield handler, name

    def _tap_ids(self) -> dict[int, int]:
        """Tornado-side peer port -> the tap's connection id."""
        if self.tap is None:
            return {}
        return {c.upstream_port: c.id for c in self.tap.connections
                if c.is_open and c.upstream_port is not None}

    def _peer(self, handler, ids: dict[int, int]) -> tuple[int | None, str]:
        address = getattr(handler.request.connection, "context", None)
        port = getattr(address, "address", (None, None))[1] if address is not None else None
        conn_id = ids.get(port)
        peer = handler.request.remote_ip
        if conn_id is not None and self.tap is not None:
            peer = next((c.peer for c in self.tap.connections if c.id == conn_id), peer)
        return conn_id, peer

    def participants(self) -> list[Participant]:
        """Every open WebSocket: tap id, endpoint, name, real address, teacher, muted."""
        ids = self._tap_ids()
        out = []
        for handler, name in self._members():
            conn_id, peer = self._peer(handler, ids)
            out.append(Participant(conn_id, handler.request.path, name, peer, handler.teacher,
                                   bool(name) and name_key(name) in self.app_state.muted))
        return sorted(out, key=lambda p: (p.id is None, p.id or 0))

    def kick(self, who: "int | str", reason: str = "") -> int:
        """Close the connection with tap id ``who`` (an int, the ``#`` in ConnectionsPanel),
        or every connection named ``who`` (a str), with 1008 "removed by the teacher" and
        ``reason``, shown on the student's page. The teacher's own connections are kept
        when kicking by name. Returns how many were closed."""
        text = close_reason("removed by the teacher" + (f": {reason}" if reason else ""))
        ids = self._tap_ids()
        closed = 0
        for handler, name in self._members():
            if isinstance(who, int):
                hit = self._peer(handler, ids)[0] == who
            else:
                hit = bool(name) and name_key(name) == name_key(who) and not handler.teacher
            if hit:
                handler.close(KICKED, text)
                closed += 1
        log.info("kicked %r: %d connection(s)", who, closed)
        return closed

    def mute(self, name: str) -> int:
        """Refuse the chat messages of ``name`` (and look-alikes: see name_key) from now on,
        with an error event to them only; each is told at once. Returns how many were told."""
        import json

        from .apps.chat import MUTED_TEXT

        self.app_state.muted.add(_key(name))
        return self._tell(name, json.dumps({"type": "error", "code": "muted", "text": MUTED_TEXT}))

    def unmute(self, name: str) -> int:
        """Let ``name`` talk again; each of its connections is told."""
        import json

        self.app_state.muted.discard(name_key(name))
        return self._tell(name, json.dumps({"type": "notice", "code": "unmuted",
                                            "text": "the teacher unmuted you"}))

    def _tell(self, name: str, event: str) -> int:
        told = 0
        for handler, member in self._members():
            if handler in self.app_state.chat and name_key(member) == name_key(name):
                handler.send(event)
                told += 1
        return told

    def lock_name(self, name: str = "Teacher") -> int:
        """Keep ``name`` (and look-alikes) for the teacher's own connections; anyone else
        using it now is closed with 1008. Classroom servers lock "Teacher" from the start.
        Returns how many were closed."""
        self.app_state.locked_names.add(_key(name))
        closed = 0
        for handler, member in self._members():
            if member and name_key(member) == name_key(name) and not handler.teacher:
                handler.close(KICKED, close_reason(
                    f"the name {member!r} is kept for the teacher; rejoin with another name"))
                closed += 1
        return closed

    def unlock_name(self, name: str = "Teacher") -> None:
        self.app_state.locked_names.discard(name_key(name))

    def is_locked(self, name: str = "Teacher") -> bool:
        """Is ``name`` (or a look-alike) kept for the teacher's connections?"""
        return name_key(name) in self.app_state.locked_names

    def rotate_token(self, token: str | None = None):
        """A new join token (``token`` or a random one); every connection that joined with
        the old one is closed with 4001 "the join token changed; rejoin with the new link"
        (the teacher's own stay). Returns the new join card."""
        if not self.classroom:
            raise RuntimeError("only a classroom server has a join token (serve(classroom=True))")
        new = _check_token(token) if token is not None else secrets.token_urlsafe(12)
        self.app_state.token = self.token = new
        closed = 0
        for handler in list(self.app_state.sockets):
            if not handler.teacher and handler.joined_token != new:
                handler.close(TOKEN_CHANGED, TOKEN_CHANGED_REASON)
                closed += 1
        log.info("join token rotated: %d connection(s) closed with %d", closed, TOKEN_CHANGED)
        return self.join_card()

    def _repr_mimebundle_(self, include=None, exclude=None):
        # In classroom mode, showing the server shows how to join it.
        if not self.classroom or self._stopped:
            return {"text/plain": repr(self)}
        card = self.join_card()
        return {"text/plain": f"{self!r}\n{card}", "text/html": card._repr_html_()}

    # -- clients -------------------------------------------------------------

    async def connect(self, path: str = "/echo", *, compression: bool = False,
                      headers: dict[str, str] | None = None, timeout: float = 10.0,
                      network: Network | str | None = None,
                      subprotocols: list[str] | tuple[str, ...] = (),
                      ping_interval: float | None = None, ping_timeout: float | None = None,
                      reconnect: "bool | Reconnect" = False) -> Client:
        """An in-kernel client through the tap (the join token is added in classroom mode).

        ``network`` (a ``wsdemo.Network`` or a preset name) gives this client's connection its
        own conditions, from the end of the opening handshake on (the handshake itself
        crosses under the tap's); the others keep ``server.tap.network``.
        ``subprotocols``: offered in this order (``client.subprotocol``: the one selected);
        ``ping_interval``/``ping_timeout``: client heartbeats; ``reconnect``: dial again after
        an abnormal close (True, or a ``wsdemo.client.Reconnect`` policy). See wsdemo/client.py.
        """
        if self._stopped:
            raise RuntimeError("this server is stopped; start one with await wsdemo.serve()")
        own = None if network is None else Network.of(network)  # a bad value fails before connecting
        if self.token and "token=" not in path:
            # The kernel is the teacher's: its clients use the teacher's token.
            path = with_token(path, self.teacher_token or self.token)
        client = await Client.open(self.tap, self.url(path), compression=compression,
                                   headers=headers, timeout=timeout, subprotocols=subprotocols,
                                   ping_interval=ping_interval, ping_timeout=ping_timeout,
                                   reconnect=reconnect, ssl=self.ssl_context() if self.tls else None)
        if own is not None:
            # The tap knows the connection by the client's address (its local port).
            self.tap.set_network(client.local_address, own)
        return client

    # -- stopping ------------------------------------------------------------

    async def stop(self, timeout: float = 2.0) -> None:
        """Close every WebSocket with 1001, stop the tasks, free both ports. Idempotent."""
        if self._stopping is not None:
            await asyncio.shield(self._stopping)
            return
        self._stopping = asyncio.get_running_loop().create_future()
        try:
            await self._stop(timeout)
        finally:
            self._stopped = True
            if self in _running:
                _running.remove(self)
            self._stopping.set_result(None)

    async def _stop(self, timeout: float) -> None:
        for companion in list(self.companions):
            await companion.stop()
        state = self.app_state
        if self.backplane is not None:
            await self.backplane.stop()
        await state.feed.stop()
        if self._http is not None:
            self._http.stop()  # no new connections
        if self._gate is not None:
            self._gate.close()  # connections still draining a refused body
        sockets = list(state.sockets)
        for handler in sockets:
            handler.close(1001, "server shutting down")
        for stream in list(state.streams):  # event streams end with their last chunk, not a cut
            stream.end("server shutting down")
        # Give clients a moment to answer the Close, so the tap records a clean closing handshake.
        deadline = time.monotonic() + timeout
        while (state.sockets or state.streams) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for handler in list(state.sockets):
            if handler.ws_connection is not None:
                handler.ws_connection._abort()  # the client never answered
            state.sockets.discard(handler)
        if self._http is not None:
            try:
                await asyncio.wait_for(self._http.close_all_connections(), timeout)
            except asyncio.TimeoutError:
                log.warning("some HTTP connections did not close in time")
        if self.tap is not None:
            await self.tap.stop()
        if self._ca is not None:
            self._ca.close()  # the CA's key was only ever in memory; its PEM file goes now
        await asyncio.sleep(0)  # let the closed streams' callbacks run


def _terminal_qr(text: str) -> str:
    """The QR code as text, for the terminal (segno, offline)."""
    import io

    import segno

    out = io.StringIO()
    segno.make(text, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()


def _key(name: str) -> str:
    """name_key(name), refusing a name without letters or digits (its key would match every
    such name in the room)."""
    key = name_key(name) if isinstance(name, str) else ""
    if not key:
        raise ValueError(f"a name to mute or lock needs a letter or digit (got {name!r:.80})")
    return key


def _check_loopback_only(host: str) -> None:
    """check_origin=False lets any page its visitor opens use the visitor's cookies here:
    allowed only where no one else can reach the server."""
    import ipaddress

    try:
        loopback = host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"check_origin=False is for a throwaway server on a loopback address (127.0.0.1), "
            f"not host={host!r}: without the Origin check any web page a visitor opens can use "
            "their cookies (the join token) to talk here as them (cross-site WebSocket hijacking)")


def _check_token(token: str) -> str:
    if not isinstance(token, str) or not 8 <= len(token) <= 64 or not set(token) <= _TOKEN_CHARS:
        raise ValueError("token must be 8 to 64 characters of A-Z a-z 0-9 - _ "
                         f"(got {token!r:.80})")
    return token


async def serve(host: str = "127.0.0.1", port: int = 0, *, compression: bool = False,
                classroom: bool = False, max_message_size: int = 1 << 20,
                max_connections: int = 200, ring_size: int = 1000, ring_bytes: int = 8 << 20,
                rate_limit: float = 20.0, ticker_interval_ms: float = 1000,
                allowed_origins: tuple[str, ...] = (), allowed_hosts: tuple[str, ...] = (),
                max_links_per_address: int | None = None, show_join: bool = True,
                tap_budget: int = DEFAULT_BUDGET, network: Network | str | None = None,
                name: str | None = None, replace: bool = False, join_host: str | None = None,
                token: str | None = None, ping_interval: float | None = None,
                ping_timeout: float | None = None, check_origin: bool = True, tls: bool = False,
                idle_timeout: float | None = None, cursor_tick_hz: float = 20,
                backplane: str | None = None) -> Server:
    """Start the live lab on the running event loop; returns once it listens.

    ``host``/``port`` are the tap's (public) address; Tornado always listens on
    127.0.0.1 on a port the OS picks. The tap keeps each connection's latest
    ``ring_size`` events and chunks, up to about ``ring_bytes`` of payload each, and
    about ``tap_budget`` bytes for all connections together (256 MiB by default).
    ``classroom=True`` requires a join token
    (``server.token``, ``server.join_url()``; ``token=`` fixes it, so a restarted server
    keeps its link) and limits each connection to
    ``rate_limit`` messages per second; it also shows the join card (the URL
    with the token, and its QR code) under the cell, or logs the join URL
    outside IPython (``show_join=False``: neither). ``join_host`` is the
    address on the card (default: WSDEMO_JOIN_HOST, else the likely LAN address).

    A running server of this process is stopped first when it is in the same slot:
    the same ``name`` (None included), or the same fixed ``port``. A classroom server
    is never stopped implicitly: serving again in its slot raises ``ServerBusy``
    unless ``replace=True``; stop it with ``await server.stop()``.

    ``network`` (a ``wsdemo.Network`` or a preset name from ``wsdemo.NETWORKS``, e.g.
    ``"4g"``) puts those conditions between every client and the app;
    ``server.tap.network = ...`` changes them live. Straight to Tornado (``direct_url``)
    nothing is added.

    ``ping_interval``/``ping_timeout`` (seconds): the server pings every WebSocket that often
    and fails one whose pong is later than the timeout with 1011 "no pong within N s"
    (wsdemo/heartbeat.py; ValueError names the rule an option breaks).

    Pages and WebSockets answer to a ``Host`` that is an IP address, localhost,
    the bound host or the join host, or a name in ``allowed_hosts``; WebSockets
    accept pages of their own origin and of ``allowed_origins``. The tap relays
    at most ``max_links_per_address`` connections from one client address
    (default tap.MAX_LINKS_PER_ADDRESS). Numbers out of their range (see
    NUMERIC_OPTIONS) raise ValueError, before anything is stopped or started.

    ``check_origin=False`` turns the Origin check off, so that a page of any origin may open
    WebSockets here with the visitor's cookies: cross-site WebSocket hijacking, shown by
    ``wsdemo.hijack``. Only for a throwaway server on a loopback address: with any other
    ``host`` it raises ValueError.

    ``tls=True`` serves wss:// and https://: the tap terminates TLS with a certificate from a
    CA made for this server (``server.ca_file``, ``server.ssl_context()`` for clients) and
    relays plain bytes to Tornado, so the recording reads as without TLS; each connection's
    ``tls`` counts the bytes on the wire. ``idle_timeout`` (seconds) makes the tap cut a
    connection with no byte either way for that long, as a proxy does (nginx: 60 s).

    ``cursor_tick_hz``: /cursors sends each member at most one frame per tick, carrying
    every cursor that moved since the last one (apps/cursors.py).

    ``backplane="redis://HOST:PORT"`` shares the chat and cursors rooms and the feed with
    every server on the same Redis (see wsdemo.backplane); ``server.backplane.status``
    says how that goes. Without it Redis is neither needed nor imported.
    """
    if not check_origin:
        _check_loopback_only(host)
    network = Network.of(network)
    ping_interval, ping_timeout = check_heartbeat(ping_interval, ping_timeout)
    _check_options(port=port, max_message_size=max_message_size, max_connections=max_connections,
                   ring_size=ring_size, ring_bytes=ring_bytes, rate_limit=rate_limit,
                   ticker_interval_ms=ticker_interval_ms,
                   max_links_per_address=max_links_per_address, tap_budget=tap_budget,
                   idle_timeout=idle_timeout, cursor_tick_hz=cursor_tick_hz)
    allowed_origins, allowed_hosts = _strings(allowed_origins), _strings(allowed_hosts)
    if token is not None:
        _check_token(token)
    if backplane is not None:
        from .backplane import require_redis, check_url

        check_url(backplane)
        require_redis()
    in_slot = [s for s in _running if s.name == name or (port and s.port == port)]
    for old in in_slot:
        if old.classroom and not replace:
            if old.port == port or classroom:
                raise ServerBusy(old, (
                    f"a classroom server is running on port {old.port} (name={old.name!r}); "
                    "it is never stopped implicitly: stop it with await server.stop(), or pass "
                    "replace=True" + ("" if old.port != port else ", or pick another port")))
            continue  # a plain server starts next to it
        await old.stop()
    token = (token or secrets.token_urlsafe(12)) if classroom else None
    state = AppState(classroom=classroom, token=token, max_connections=max_connections,
                     max_message_size=max_message_size, rate_limit=rate_limit,
                     ticker_interval_ms=ticker_interval_ms, allowed_origins=allowed_origins,
                     check_origin=check_origin, cursor_tick_hz=cursor_tick_hz)
    state.allow_hosts(allowed_hosts)
    server = Server(host=host, compression=compression, classroom=classroom, state=state,
                    ring_size=ring_size, ring_bytes=ring_bytes, tap_budget=tap_budget,
                    max_links_per_address=max_links_per_address, network=network,
                    name=name, join_host=join_host, ping_interval=ping_interval,
                    ping_timeout=ping_timeout, tls=bool(tls), idle_timeout=idle_timeout)
    mask_tokens_in_logs()
    await server._start(port)
    if backplane is not None:
        from .backplane import Backplane

        state.backplane = server.backplane = Backplane(backplane, state, label=name)
        try:
            await server.backplane.start()
        except BaseException:
            await server.stop()
            raise
    _running.append(server)
    if classroom and show_join:
        _show_join_card(server)
    return server


# serve()'s numbers: (low, high, integer?, unit). Out of range is a ValueError naming it.
NUMERIC_OPTIONS: dict[str, tuple[float, float, bool, str]] = {
    "port": (0, 65535, True, ""),
    "max_message_size": (1, 64 << 20, True, " bytes"),
    "max_connections": (1, 100_000, True, ""),
    "ring_size": (1, 1_000_000, True, " items"),
    "ring_bytes": (1024, 1 << 30, True, " bytes"),
    "rate_limit": (0.1, 10_000, False, " messages per second"),
    "ticker_interval_ms": (MIN_INTERVAL_MS, MAX_INTERVAL_MS, False, " ms"),
    "max_links_per_address": (1, 100_000, True, ""),
    "tap_budget": (1 << 20, 64 << 30, True, " bytes"),
    "idle_timeout": (*IDLE_TIMEOUT_RANGE, False, " seconds"),
    "cursor_tick_hz": (*CURSOR_TICK_HZ, False, " ticks per second"),
}


def check_option(name: str, value) -> None:
    """ValueError naming the allowed range unless ``value`` is a finite number in it."""
    low, high, integer, unit = NUMERIC_OPTIONS[name]
    kind = "an integer" if integer else "a number"
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok and integer:
        ok = isinstance(value, numbers.Integral)
    elif ok:
        ok = math.isfinite(value)  # NaN compares False to everything: say so, not "in range"
    if not (ok and low <= value <= high):
        raise ValueError(f"{name} must be {kind} from {low:,} to {high:,}{unit}, got {value!r}")


def _check_options(**options) -> None:
    for name, value in options.items():
        if value is not None or name not in ("max_links_per_address", "idle_timeout"):
            check_option(name, value)


def _strings(values) -> tuple[str, ...]:
    # One string is one value, not its characters.
    return (values,) if isinstance(values, str) else tuple(values)


def _show_join_card(server: Server) -> None:
    """The join card under the running cell, or one log line outside IPython."""
    card = server.join_card()
    shell = None
    if "IPython" in sys.modules:  # only if already loaded: the live layer does not need it
        try:
            from IPython import get_ipython
            from IPython.display import display

            shell = get_ipython()
        except ImportError:
            shell = None
    if shell is not None:
        display(card)
    else:
        log.info("classroom mode: %s", str(card).replace("\n", "; "))


def _outcome(conn) -> str:
    """How a finished connection went, in a few words: its status, and its close code."""
    from .. import wire

    response = conn.response
    if response is None:
        return "no HTTP answer"
    if response.status != 101:
        return f"HTTP {response.status}"
    codes = [e.message.close_code for e in conn.events
             if isinstance(e, wire.MessageEvent) and e.message.kind == "close"]
    if not codes:
        return "WebSocket, no close frame"
    return "WebSocket, close " + " / ".join("-" if c is None else str(c) for c in codes)


def run_forever(host: str = "127.0.0.1", port: int = 0, compression: bool = False,
                classroom: bool = False, max_links_per_address: int | None = None,
                network: Network | str | None = None, join_host: str | None = None,
                token: str | None = None, ping_interval: float | None = None,
                ping_timeout: float | None = None, tls: bool = False,
                idle_timeout: float | None = None, cursor_tick_hz: float = 20,
                backplane: str | None = None, max_connections: int = 200) -> int:
    """``python -m wsdemo serve``: run until Ctrl-C, logging connections. Returns an exit code."""

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
    logging.getLogger("wsdemo").addHandler(handler)
    logging.getLogger("wsdemo").setLevel(logging.INFO)

    async def main() -> int:
        try:
            # The join card and its QR code are printed below, for the terminal.
            server = await serve(host, port, compression=compression, classroom=classroom,
                                 max_links_per_address=max_links_per_address, show_join=False,
                                 network=network, join_host=join_host, token=token,
                                 ping_interval=ping_interval, ping_timeout=ping_timeout, tls=tls,
                                 idle_timeout=idle_timeout, cursor_tick_hz=cursor_tick_hz,
                                 backplane=backplane, max_connections=max_connections)
        except ModuleNotFoundError as exc:  # a backplane without the redis package
            print(f"wsdemo: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"wsdemo: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
            return 1
        except ValueError as exc:
            print(f"wsdemo: {exc}", file=sys.stderr)
            return 2

        def on_connection(conn) -> None:
            # Through the log, so these lines and the access log share one format.
            if conn.is_open:
                conn_log.info("#%d open   %s", conn.id, conn.peer)
            else:
                took = (conn.closed_at or time.time()) - conn.opened_at
                extra = "".join(f"; {x}" for x in (conn.tls, conn.cut_reason) if x is not None)
                conn_log.info("#%d closed %s %s after %.1f s: %s, %d bytes in, %d bytes out%s",
                              conn.id, conn.peer, conn.path or "-", took, _outcome(conn),
                              conn.bytes["client"], conn.bytes["server"], extra)

        server.tap.subscribe_connections(on_connection)
        print(f"wsdemo live lab: tap on {host}:{server.port}, app on 127.0.0.1:{server.direct_port}")
        tap = server.tap
        print(f"  up to {tap.max_links} connections at once, {tap.max_links_per_address} "
              "from one address")
        if server.capacity_warning:
            print(f"  WARNING: {server.capacity_warning}")
        if server.backplane is not None:
            print(f"  {server.backplane.status}")
        if server.tap.network.active:
            print(f"  network between clients and the app: {server.tap.network}")
        if server.ping_interval:
            print(f"heartbeats: a ping every {server.ping_interval:g} s; no pong within "
                  f"{server.ping_timeout:g} s closes the WebSocket with 1011")
        if tls:
            print(f"  TLS at the tap; clients trust the CA in {server.ca_file}")
            print(f"  (Chromium: --ignore-certificate-errors-spki-list={server.spki_pin()})")
        if idle_timeout is not None:
            print(f"  the tap cuts a connection idle for {idle_timeout:g} s")
        for page in ("/chat.html", "/cursors.html", "/ticker.html"):
            print(f"  {server.join_url(page) if classroom else server.http_url(page)}")
        from . import proxy

        if proxy.prefix() is not None:
            print("behind jupyter-server-proxy, open:")
            for page in ("/chat.html", "/cursors.html", "/ticker.html"):
                print(f"  {server.browser_url(page)}")
        if classroom:
            card = server.join_card()
            print(card)
            print(_terminal_qr(card.url))
        for path in ("/echo", "/chat", "/ticker", "/cursors"):
            print(f"  {server.url(path)}")
        print(f"  {server.http_url('/poll')}   {server.http_url('/longpoll')}   {server.http_url('/sse')}")
        if classroom:
            print(f"join token: {server.token}")
        print("Ctrl-C stops.", flush=True)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # not on this platform
                pass
        try:
            await stop.wait()
        finally:
            print("stopping...", flush=True)
            await server.stop()
            print("stopped.", flush=True)
        return 0

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 130
