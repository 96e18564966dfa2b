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

``python -m wsdemo serve`` runs the same thing outside a notebook (``serving.run_forever``);
``serve()`` itself and the checks on its options are in serving.py.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import tornado.httpserver
import tornado.netutil

from .apps import MAX_BODY, AppState, NoBodies, make_app
from .apps.base import (KICKED, TOKEN_CHANGED, TOKEN_CHANGED_REASON, BaseSocket, close_reason,
                        name_key, peer_port)
from .apps.cursors import CursorsSocket
from .apps.tornado_protocol import abort
from .client import Client, Reconnect
from .handoff import TappedHTTPServer
from .network import Network
from .tap import CLASS_LINKS, DEFAULT_BUDGET, Tap, raise_fd_limit
from ..wire import with_token

if TYPE_CHECKING:
    from .backplane import Backplane
    from .tls import LabCA

log = logging.getLogger("wsdemo.server")

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
        self.tls = tls  # wss:// and https://, TLS terminated at the tap (see wsdemo/live/tls.py)
        self.idle_timeout = idle_timeout
        self._ca: LabCA | None = None  # while running with TLS
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
        self.backplane: Backplane | None = None

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
            self._http = TappedHTTPServer(
                self._gate, xheaders=False, idle_connection_timeout=HEAD_TIMEOUT,
                max_body_size=MAX_BODY, body_timeout=BODY_TIMEOUT)
            self._http.add_sockets(app_sockets)
            self.direct_port = direct_port = app_sockets[0].getsockname()[1]
            context = None
            if self.tls:
                from .classroom import join_host
                from .tls import LabCA

                # The names clients use: loopback, the bound host, and where classmates join.
                self._ca = ca = LabCA([self.host, join_host(self.host, self.join_host)])
                context = ca.server_context()
            self.tap = tap = Tap("127.0.0.1", direct_port, ring_size=self._ring_size,
                                 ring_bytes=self._ring_bytes, budget_bytes=self._tap_budget,
                                 max_message_size=self.app_state.max_message_size,
                                 max_links_per_address=self._max_links_per_address,
                                 network=self._network, ssl_context=context,
                                 idle_timeout=self.idle_timeout)
            self._http.tap = tap  # what Tornado writes to the tap is handed over (handoff.py)
            await tap.start(tap_sockets)
            self.port = tap.port
        except BaseException:
            for sock in app_sockets + tap_sockets:
                sock.close()
            if self._ca is not None:
                self._ca.close()
            raise
        self._allow_hosts()
        self._check_capacity(tap)
        self.app_state.feed.start()

    def _allow_hosts(self) -> None:
        """The names (besides IP addresses and localhost) pages and WebSockets answer to: the
        bound host and the join link's host, when they are names (see BaseSocket's check)."""
        from .classroom import WILDCARDS, join_host

        self.app_state.ports = {p for p in (self.port, self.direct_port) if p is not None}
        self.app_state.allow_hosts([join_host(self.host, self.join_host) if self.host in WILDCARDS
                                    else self.host, self.join_host])

    def _check_capacity(self, tap: Tap) -> None:
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
        (``{base_url}proxy/PORT/...``, see wsdemo.live.proxy) when behind one, else http_url."""
        from . import proxy

        if proxy.prefix() is not None and self.port is not None:
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

    def _members(self) -> Iterator[tuple[BaseSocket, str]]:
        """(handler, name) of every open WebSocket; the name is "" outside chat and cursors."""
        state = self.app_state
        for handler in list(state.sockets):
            name = state.chat.get(handler) or (
                handler.name if isinstance(handler, CursorsSocket) and handler in state.cursors else "")
            yield handler, name

    def _tap_ids(self) -> dict[int, int]:
        """Tornado-side peer port -> the tap's connection id."""
        if self.tap is None:
            return {}
        return {c.upstream_port: c.id for c in self.tap.connections
                if c.is_open and c.upstream_port is not None}

    def _peer(self, handler, ids: dict[int, int]) -> tuple[int | None, str]:
        port = peer_port(handler.request)
        conn_id = ids.get(port) if port is not None else None
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
        an abnormal close (True, or a ``wsdemo.live.client.Reconnect`` policy). See wsdemo/live/client.py.
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
        if own is not None and self.tap is not None:
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
                abort(handler.ws_connection)  # the client never answered
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


def _key(name: str) -> str:
    """name_key(name), refusing a name without letters or digits (its key would match every
    such name in the room)."""
    key = name_key(name) if isinstance(name, str) else ""
    if not key:
        raise ValueError(f"a name to mute or lock needs a letter or digit (got {name!r:.80})")
    return key


def _check_token(token: str) -> str:
    if not isinstance(token, str) or not 8 <= len(token) <= 64 or not set(token) <= _TOKEN_CHARS:
        raise ValueError("token must be 8 to 64 characters of A-Z a-z 0-9 - _ "
                         f"(got {token!r:.80})")
    return token
