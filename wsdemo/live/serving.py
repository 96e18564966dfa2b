"""Starting the live lab: ``serve()`` (a notebook cell) and ``run_forever()`` (``python -m
wsdemo serve``), the checks on their options, and the token mask on the logs. The server
they start is ``server.Server``; see its module for the slots servers run in.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import numbers
import secrets
import signal
import sys
import time

from .apps import AppState
from .apps.base import CURSOR_TICK_HZ
from .apps.feed import MAX_INTERVAL_MS, MIN_INTERVAL_MS
from .heartbeat import check_heartbeat
from .network import Network
from .server import Server, ServerBusy, _check_token, _running
from .tap import DEFAULT_BUDGET, IDLE_TIMEOUT_RANGE
from ..wire import mask_tokens_text

log = logging.getLogger("wsdemo.server")
conn_log = logging.getLogger("wsdemo.connections")


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


# Not the wsdemo.server logger: outside a notebook it announces the join URL, token and all, on purpose.
_LOGGERS_MASKED = ("tornado.access", "tornado.general", "tornado.application", "wsdemo.tap",
                   "wsdemo.connections")


def mask_tokens_in_logs() -> None:
    """Install the token mask on Tornado's loggers and the live lab's own (once per process)."""
    for name in _LOGGERS_MASKED:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _MaskTokens) for f in logger.filters):
            logger.addFilter(_MaskTokens())


def _terminal_qr(text: str) -> str:
    """The QR code as text, for the terminal (segno, offline)."""
    import io

    import segno

    out = io.StringIO()
    segno.make(text, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()


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
    (wsdemo/live/heartbeat.py; ValueError names the rule an option breaks).

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

        state.backplane = server.backplane = shared = Backplane(backplane, state, label=name)
        try:
            await shared.start()
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


def settle_heap() -> None:
    """Set aside what this process has made so far from the collector's full passes.

    Only for a process wsdemo owns (``run_forever``), once the lab is up: what is alive then is
    modules, classes, functions and the server itself (~30,000 objects), alive until exit. Each
    full (generation 2) pass walked them all, 20-30 ms with the loop stopped, and a class of 50
    sets off such a pass every few seconds (bench/classroom.py --cli). ``gc.freeze()`` moves them
    to the permanent generation, which the collector never walks; later passes walk only what
    came after. Never inside ``serve()`` in a notebook kernel: the learner's objects alive then,
    their cyclic garbage included, would never be collected."""
    gc.collect()
    gc.freeze()


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

        tap = server.tap
        assert tap is not None, "serve() returns a started server"
        tap.subscribe_connections(on_connection)
        print(f"wsdemo live lab: tap on {host}:{server.port}, app on 127.0.0.1:{server.direct_port}")
        print(f"  up to {tap.max_links} connections at once, {tap.max_links_per_address} "
              "from one address")
        if server.capacity_warning:
            print(f"  WARNING: {server.capacity_warning}")
        if server.backplane is not None:
            print(f"  {server.backplane.status}")
        if tap.network.active:
            print(f"  network between clients and the app: {tap.network}")
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
        settle_heap()

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
