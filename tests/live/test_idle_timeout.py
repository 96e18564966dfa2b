"""serve(idle_timeout=...): the tap cuts a connection silent both ways for that long, as a
proxy does (nginx's proxy_read_timeout, 60 s by default), and heartbeats keep one alive."""

from __future__ import annotations

import asyncio
import logging
import math

import pytest
import websockets

import wsdemo
from wsdemo import wire
from wsdemo.live.tap import Tap

from .conftest import T, Raw, conn_for_port, handshake, messages, wait_for_event, wait_until

IDLE = 0.3  # seconds


@pytest.fixture
async def idle_server():
    srv = await asyncio.wait_for(wsdemo.serve(idle_timeout=IDLE, name="idle"), T)
    yield srv
    await asyncio.wait_for(srv.stop(), T)


@pytest.mark.parametrize("bad", [0, -1, 0.0, math.nan, math.inf, -math.inf, True, "60"])
async def test_bad_idle_timeouts_raise_naming_the_range(bad):
    with pytest.raises(ValueError, match=r"idle_timeout must be a number from 0\.01 to 86,400"):
        await wsdemo.serve(idle_timeout=bad, name="bad-idle")
    with pytest.raises(ValueError, match="idle_timeout must be a number from 0.01"):
        Tap("127.0.0.1", 1, idle_timeout=bad)


def _cut_events(conn):
    conn.flush()
    return [e for e in conn.events if isinstance(e, wire.TapEvent) and e.kind is wire.TapAction.IDLE_CUT]


async def test_a_silent_websocket_is_cut_with_a_fin_both_ways_recorded_and_logged(idle_server, caplog):
    with caplog.at_level(logging.INFO):
        raw = await Raw.open(idle_server.port)
        await raw.send(handshake("/echo"))
        head = await raw.read_head()
        assert head.startswith(b"HTTP/1.1 101")
        # Then nothing either way: the tap closes the line. A FIN, not a reset: read() ends
        # cleanly (a reset would raise ConnectionResetError here).
        assert await raw.read_all() == b""
        await raw.close()
        conn = conn_for_port(idle_server, raw.local_port)
        await wait_until(lambda: not conn.is_open, what="the tap to close the connection")
    (event,) = _cut_events(conn)
    assert f"after {IDLE:g} s idle" in event.text and event.sender == "tap"
    assert conn.cut_reason == event.text and "idle" in repr(conn)
    lines = [r for r in caplog.records if "idle" in r.getMessage() and r.name == "wsdemo.tap"]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO and not lines[0].exc_info
    # The app saw its end of the line too: its handler is gone.
    await wait_until(lambda: not idle_server.app_state.sockets, what="Tornado to see the close")


async def test_client_pings_keep_a_connection_alive_while_a_silent_one_is_cut(idle_server):
    silent = await Raw.open(idle_server.port)
    await silent.send(handshake("/echo"))
    await silent.read_head()
    async with websockets.connect(idle_server.url("/echo"), ping_interval=IDLE / 4,
                                  ping_timeout=T, open_timeout=T) as ws:
        port = ws.transport.get_extra_info("sockname")[1]
        alive = conn_for_port(idle_server, port)
        # The silent one is cut; meanwhile the pinging one sees its pongs...
        assert await silent.read_all() == b""
        silent_conn = conn_for_port(idle_server, silent.local_port)
        await wait_until(lambda: not silent_conn.is_open, what="the silent connection to be cut")
        # ...and stays up for many more idle timeouts' worth of pings (counted, not timed).
        await wait_until(lambda: len(messages(alive, "server", "pong")) >= 16,
                         what="16 pongs through the tap")
        assert alive.is_open and not _cut_events(alive)
        await ws.send("still here")
        assert await asyncio.wait_for(ws.recv(), T) == "still here"
    await silent.close()


async def test_the_app_streaming_to_a_client_that_never_speaks_keeps_the_line_alive():
    # Traffic either way counts: a ticker's frames, handed to the tap as Tornado writes them
    # (handoff.py), keep a listener that sends nothing from being cut.
    srv = await asyncio.wait_for(wsdemo.serve(idle_timeout=IDLE, ticker_interval_ms=IDLE * 1000 / 4,
                                              name="idle-ticker"), T)
    try:
        listener = await Raw.open(srv.port)
        await listener.send(handshake("/ticker"))
        assert (await listener.read_head()).startswith(b"HTTP/1.1 101")
        conn = conn_for_port(srv, listener.local_port)
        # Many idle timeouts' worth of ticks (counted, not timed), and still open.
        await wait_until(lambda: conn.summary().server.messages >= 16, what="16 ticks through the tap")
        assert conn.is_open and not _cut_events(conn)
        await listener.close()
    finally:
        await asyncio.wait_for(srv.stop(), T)


async def test_without_idle_timeout_a_silent_connection_stays(server):
    # The control: the same silence is kept while a pinging client counts many idle periods.
    silent = await Raw.open(server.port)
    await silent.send(handshake("/echo"))
    await silent.read_head()
    async with websockets.connect(server.url("/echo"), ping_interval=IDLE / 4, ping_timeout=T,
                                  open_timeout=T) as ws:
        conn = conn_for_port(server, ws.transport.get_extra_info("sockname")[1])
        await wait_until(lambda: len(messages(conn, "server", "pong")) >= 8, what="8 pongs")
    silent_conn = conn_for_port(server, silent.local_port)
    assert silent_conn.is_open and silent_conn.cut_reason is None
    await silent.close()


async def test_under_tls_the_idle_cut_sends_close_notify(caplog):
    srv = await asyncio.wait_for(wsdemo.serve(tls=True, idle_timeout=IDLE, name="idle-tls"), T)
    try:
        client = await srv.connect("/echo")
        await client.send("one")
        assert await client.recv() == "one"
        conn = client.connection
        await wait_until(lambda: not conn.is_open, what="the tap to cut the idle wss connection")
        assert _cut_events(conn) and conn.tls.close_notify["server"]
        await wait_for_event(conn, lambda e: isinstance(e, wire.TapEvent))
    finally:
        await asyncio.wait_for(srv.stop(), T)


async def test_under_tls_a_client_that_never_says_hello_is_cut_too():
    # No ClientHello: nothing to encrypt a close_notify with; the tap closes the TCP connection.
    srv = await asyncio.wait_for(wsdemo.serve(tls=True, idle_timeout=IDLE, name="idle-tls"), T)
    try:
        raw = await Raw.open(srv.port)
        assert await raw.read_all() == b""
        conn = conn_for_port(srv, raw.local_port)
        await wait_until(lambda: not conn.is_open, what="the tap to close the silent TLS client")
        assert _cut_events(conn)
        await raw.close()
    finally:
        await asyncio.wait_for(srv.stop(), T)
