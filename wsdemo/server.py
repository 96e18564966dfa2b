"""The live lab: the Tornado app on a private port behind the recording tap.

In a notebook::

    server = await wsdemo.serve()          # returns once both ports listen
    client = await server.connect("/echo")
    server.tap.connections[-1].events

Running the cell again stops the previous server first. ``python -m wsdemo
serve`` runs the same thing outside a notebook (``run_forever``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import socket
import sys
import time

import tornado.httpserver
import tornado.netutil

from .apps import AppState, make_app
from .client import Client, Reconnect
from .heartbeat import check_heartbeat
from .tap import Tap

log = logging.getLogger("wsdemo.server")
conn_log = logging.getLogger("wsdemo.connections")

HEAD_TIMEOUT = 60.0  # seconds
_current: "Server | None" = None  # the server this process runs; serve() replaces it


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class Server:
    """A running live lab. Made by ``await wsdemo.serve()``."""

    def __init__(self, *, host: str, compression: bool, classroom: bool, state: AppState,
                 ring_size: int, ring_bytes: int = 8 << 20, ping_interval: float | None = None,
                 ping_timeout: float | None = None):
        self.host = host
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.compression = compression
        self.classroom = classroom
        self.app_state = state
        self.token = state.token
        self._ring_size = ring_size
        self._ring_bytes = ring_bytes
        self.tap: Tap | None = None
        self.port: int | None = None  # the tap's public port
        self.direct_port: int | None = None  # Tornado's private port
        self._http: tornado.httpserver.HTTPServer | None = None
        self._stopped = False
        self._stopping: asyncio.Future | None = None

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        extra = ", classroom" if self.classroom else ""
        extra += ", permessage-deflate" if self.compression else ""
        return f"<wsdemo Server {self.url('/')} (app on :{self.direct_port}){extra}, {state}>"

    @property
    def running(self) -> bool:
        """True from the moment serve() returns until stop() is called."""
        return self.tap is not None and not self._stopped

    # -- starting ------------------------------------------------------------

    async def _start(self, port: int) -> None:
        app = make_app(self.app_state, compression=self.compression,
                       ping_interval=self.ping_interval, ping_timeout=self.ping_timeout)
        # Tornado listens on loopback only: everything from outside goes through the tap.
        app_sockets = tornado.netutil.bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
        tap_sockets = tornado.netutil.bind_sockets(port, self.host)
        try:
            # A head must arrive within a minute (and idle keep-alive connections close then):
            # Tornado's default of an hour lets a half-sent head hold a connection all class.
            self._http = tornado.httpserver.HTTPServer(app, xheaders=False,
                                                       idle_connection_timeout=HEAD_TIMEOUT)
            self._http.add_sockets(app_sockets)
            self.direct_port = app_sockets[0].getsockname()[1]
            self.tap = Tap("127.0.0.1", self.direct_port, ring_size=self._ring_size,
                           ring_bytes=self._ring_bytes)
            await self.tap.start(tap_sockets)
            self.port = self.tap.port
        except BaseException:
            for sock in app_sockets + tap_sockets:
                sock.close()
            raise
        self.app_state.feed.start()

    # -- URLs ----------------------------------------------------------------

    @property
    def _public_host(self) -> str:
        # A wildcard bind is reached from this machine on loopback.
        return "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else _url_host(self.host)

    def url(self, path: str = "/") -> str:
        """ws:// URL through the tap."""
        return f"ws://{self._public_host}:{self.port}{path}"

    def http_url(self, path: str = "/") -> str:
        """http:// URL through the tap (pages, /poll, /longpoll)."""
        return f"http://{self._public_host}:{self.port}{path}"

    def direct_url(self, path: str = "/", scheme: str = "ws") -> str:
        """URL straight to Tornado, bypassing the tap (to measure what the tap costs)."""
        return f"{scheme}://127.0.0.1:{self.direct_port}{path}"

    def join_url(self, path: str = "/chat.html", host: str | None = None) -> str:
        """The link classmates open: the page with the join token in the query."""
        base = self.http_url(path) if host is None else f"http://{_url_host(host)}:{self.port}{path}"
        if not self.token:
            return base
        return f"{base}{'&' if '?' in path else '?'}token={self.token}"

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

    def _repr_mimebundle_(self, include=None, exclude=None):
        # In classroom mode, showing the server shows how to join it.
        if not self.classroom or self._stopped:
            return {"text/plain": repr(self)}
        card = self.join_card()
        return {"text/plain": f"{self!r}\n{card}", "text/html": card._repr_html_()}

    # -- clients -------------------------------------------------------------

    async def connect(self, path: str = "/echo", *, compression: bool = False,
                      headers: dict[str, str] | None = None, timeout: float = 10.0,
                      subprotocols: list[str] | tuple[str, ...] = (),
                      ping_interval: float | None = None, ping_timeout: float | None = None,
                      reconnect: "bool | Reconnect" = False) -> Client:
        """An in-kernel client through the tap (the join token is added in classroom mode).

        ``subprotocols``: offered in this order (``client.subprotocol``: the one selected);
        ``ping_interval``/``ping_timeout``: client heartbeats; ``reconnect``: dial again after
        an abnormal close (True, or a ``wsdemo.client.Reconnect`` policy). See wsdemo/client.py.
        """
        if self._stopped:
            raise RuntimeError("this server is stopped; start one with await wsdemo.serve()")
        if self.token and "token=" not in path:
            path = f"{path}{'&' if '?' in path else '?'}token={self.token}"
        return await Client.open(self, self.url(path), compression=compression,
                                 headers=headers, timeout=timeout, subprotocols=subprotocols,
                                 ping_interval=ping_interval, ping_timeout=ping_timeout,
                                 reconnect=reconnect)

    # -- stopping ------------------------------------------------------------

    async def stop(self, timeout: float = 2.0) -> None:
        """Close every WebSocket with 1001, stop the tasks, free both ports. Idempotent."""
        global _current
        if self._stopping is not None:
            await asyncio.shield(self._stopping)
            return
        self._stopping = asyncio.get_running_loop().create_future()
        try:
            await self._stop(timeout)
        finally:
            self._stopped = True
            if _current is self:
                _current = None
            self._stopping.set_result(None)

    async def _stop(self, timeout: float) -> None:
        state = self.app_state
        await state.feed.stop()
        if self._http is not None:
            self._http.stop()  # no new connections
        sockets = list(state.sockets)
        for handler in sockets:
            handler.close(1001, "server shutting down")
        # Give clients a moment to answer the Close, so the tap records a clean closing handshake.
        deadline = time.monotonic() + timeout
        while state.sockets and time.monotonic() < deadline:
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
        await asyncio.sleep(0)  # let the closed streams' callbacks run


def _terminal_qr(text: str) -> str:
    """The QR code as text, for the terminal (segno, offline)."""
    import io

    import segno

    out = io.StringIO()
    segno.make(text, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()


async def serve(host: str = "127.0.0.1", port: int = 0, *, compression: bool = False,
                classroom: bool = False, max_message_size: int = 1 << 20,
                max_connections: int = 200, ring_size: int = 1000, ring_bytes: int = 8 << 20,
                rate_limit: float = 20.0, ticker_interval_ms: float = 1000,
                allowed_origins: tuple[str, ...] = (), show_join: bool = True,
                ping_interval: float | None = None, ping_timeout: float | None = None) -> Server:
    """Start the live lab on the running event loop; returns once it listens.

    ``host``/``port`` are the tap's (public) address; Tornado always listens on
    127.0.0.1 on a port the OS picks. The tap keeps each connection's latest
    ``ring_size`` events and chunks, up to about ``ring_bytes`` of payload each.
    ``classroom=True`` requires a join token
    (``server.token``, ``server.join_url()``) and limits each connection to
    ``rate_limit`` messages per second; it also shows the join card (the URL
    with the token, and its QR code) under the cell, or logs the join URL
    outside IPython (``show_join=False``: neither). A server already running
    in this process is stopped first. ``ping_interval``/``ping_timeout`` (seconds): the
    server pings every WebSocket that often and fails one whose pong is later than the
    timeout with 1011 "no pong within N s" (wsdemo/heartbeat.py; ValueError names the rule
    an option breaks).
    """
    global _current
    ping_interval, ping_timeout = check_heartbeat(ping_interval, ping_timeout)  # before stopping anything
    if _current is not None:
        await _current.stop()
    token = secrets.token_urlsafe(12) if classroom else None
    state = AppState(classroom=classroom, token=token, max_connections=max_connections,
                     max_message_size=max_message_size, rate_limit=rate_limit,
                     ticker_interval_ms=ticker_interval_ms, allowed_origins=allowed_origins)
    server = Server(host=host, compression=compression, classroom=classroom, state=state,
                    ring_size=ring_size, ring_bytes=ring_bytes, ping_interval=ping_interval,
                    ping_timeout=ping_timeout)
    await server._start(port)
    _current = server
    if classroom and show_join:
        _show_join_card(server)
    return server


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
    from . import wire

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
                classroom: bool = False, ping_interval: float | None = None,
                ping_timeout: float | None = None) -> int:
    """``python -m wsdemo serve``: run until Ctrl-C, logging connections. Returns an exit code."""

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
    logging.getLogger("wsdemo").addHandler(handler)
    logging.getLogger("wsdemo").setLevel(logging.INFO)

    async def main() -> int:
        try:
            # The join card and its QR code are printed below, for the terminal.
            server = await serve(host, port, compression=compression, classroom=classroom,
                                 show_join=False, ping_interval=ping_interval,
                                 ping_timeout=ping_timeout)
        except OSError as exc:
            print(f"wsdemo: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
            return 1

        def on_connection(conn) -> None:
            # Through the log, so these lines and the access log share one format.
            if conn.is_open:
                conn_log.info("#%d open   %s", conn.id, conn.peer)
            else:
                took = (conn.closed_at or time.time()) - conn.opened_at
                conn_log.info("#%d closed %s %s after %.1f s: %s, %d bytes in, %d bytes out",
                              conn.id, conn.peer, conn.path or "-", took, _outcome(conn),
                              conn.bytes["client"], conn.bytes["server"])

        server.tap.subscribe_connections(on_connection)
        print(f"wsdemo live lab: tap on {host}:{server.port}, app on 127.0.0.1:{server.direct_port}")
        if server.ping_interval:
            print(f"heartbeats: a ping every {server.ping_interval:g} s; no pong within "
                  f"{server.ping_timeout:g} s closes the WebSocket with 1011")
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
        print(f"  {server.http_url('/poll')}   {server.http_url('/longpoll')}")
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
