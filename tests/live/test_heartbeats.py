"""Heartbeats: ``serve(ping_interval=, ping_timeout=)`` pings every WebSocket; a peer that
answers stays, one that stops answering gets Close 1011 "no pong within N s" and the line is
dropped. The in-kernel client does the same towards a server. Small intervals; no clocks."""

from __future__ import annotations

import asyncio
import math
import re
import signal
import struct
import sys

import pytest
import websockets

import wsdemo
from wsdemo import wire
from wsdemo.live.client import Client, ConnectionClosed

from .conftest import T, Raw, handshake, messages, wait_until

INTERVAL = 0.2


def _close_of(data: bytes) -> tuple[int, str]:
    frames = wire.FrameDecoder().feed(data)
    (close,) = [f for f in frames if f.opcode == wire.Opcode.CLOSE]
    return struct.unpack(">H", close.payload[:2])[0], close.payload[2:].decode()


@pytest.mark.parametrize("interval, timeout, rule", [
    (0, None, "greater than 0"), (-1, None, "greater than 0"), (math.nan, None, "greater than 0"),
    (math.inf, None, "finite"), ("1", None, "number of seconds"), (True, None, "number of seconds"),
    (1, 0, "greater than 0"), (1, math.nan, "greater than 0"),
    (1, 2, "must not be larger than ping_interval"), (None, 1, "needs a ping_interval"),
])
async def test_bad_heartbeat_options_raise_naming_the_rule_and_keep_the_running_server(server, interval,
                                                                                        timeout, rule):
    with pytest.raises(ValueError, match=rule):
        await wsdemo.serve(ping_interval=interval, ping_timeout=timeout)
    assert server.running  # validated before anything was replaced
    with pytest.raises(ValueError, match=rule):
        await server.connect("/echo", ping_interval=interval, ping_timeout=timeout)


async def test_a_peer_that_answers_pings_stays_open():
    server = await wsdemo.serve(ping_interval=INTERVAL, ping_timeout=INTERVAL)
    try:
        # ping_interval=None: websockets sends no pings of its own, but answers the server's.
        async with websockets.connect(server.url("/echo"), ping_interval=None, open_timeout=T) as ws:
            conn = server.tap.connections[-1]
            await wait_until(lambda: len(messages(conn, "client", "pong")) >= 3, what="three pongs")
            pings = messages(conn, "server", "ping")
            assert [p.data for p in pings[:3]] == [b"heartbeat 1", b"heartbeat 2", b"heartbeat 3"]
            await ws.send("still here")
            assert await asyncio.wait_for(ws.recv(), T) == "still here"
            assert not messages(conn, kind="close")
    finally:
        await server.stop()


async def test_a_peer_that_stops_answering_gets_1011_and_the_line_is_dropped():
    server = await wsdemo.serve(ping_interval=INTERVAL, ping_timeout=INTERVAL)
    try:
        raw = await Raw.open(server.port)
        await raw.send(handshake("/echo"))
        assert b" 101 " in await raw.read_head()
        # From here on the peer neither reads nor answers: everything waits in its socket buffer.
        await wait_until(lambda: server.app_state.sockets, what="the handler registered")
        await wait_until(lambda: not server.app_state.sockets, what="the server to give up on it")
        data = await raw.read_all()  # returns at EOF: the server did not leave the line half-open
        frames = wire.FrameDecoder().feed(data)
        assert [f.opcode for f in frames] == [wire.Opcode.PING, wire.Opcode.CLOSE]
        assert _close_of(data) == (1011, f"no pong within {INTERVAL:g} s")
        await raw.close()
    finally:
        await server.stop()


async def test_without_heartbeats_a_silent_peer_is_kept(server):
    raw = await Raw.open(server.port)
    await raw.send(handshake("/echo"))
    assert b" 101 " in await raw.read_head()
    await wait_until(lambda: server.app_state.sockets, what="the handler registered")
    with pytest.raises(asyncio.TimeoutError):
        await raw.read_all(timeout=5 * INTERVAL)  # nothing: no ping, no close
    assert server.app_state.sockets
    await raw.close()


async def test_wsdemo_client_heartbeats_keep_user_pings_its_own(server):
    client = await server.connect("/echo", ping_interval=INTERVAL)
    conn = client.connection
    await wait_until(lambda: len(messages(conn, "server", "pong")) >= 2, what="two heartbeat pongs")
    assert await client.ping(b"mine", timeout=T) == b"mine"  # not a heartbeat's pong
    assert messages(conn, "client", "ping")[0].data == b"heartbeat 1"
    assert client.is_open
    await client.close()


async def _silent_server():
    """Completes the handshake, then neither reads nor answers until ``release`` is set."""
    release = asyncio.Event()
    received: list[bytes] = []

    async def handle(reader, writer):
        head = wire.parse_request(await reader.readuntil(b"\r\n\r\n"))
        accept = wire.compute_accept(head.headers.get("Sec-WebSocket-Key"))
        writer.write((f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        await writer.drain()
        await release.wait()
        received.append(await asyncio.wait_for(reader.read(), T))  # until the client hung up
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    return srv, release, received


async def test_wsdemo_client_fails_a_server_that_stops_answering_with_1011():
    srv, release, received = await _silent_server()
    port = srv.sockets[0].getsockname()[1]
    try:
        client = await Client.open(None, f"ws://127.0.0.1:{port}/", ping_interval=INTERVAL, timeout=T)
        with pytest.raises(ConnectionClosed) as info:
            await client.recv(timeout=T)  # ends when the heartbeat gives up
        assert (info.value.code, info.value.reason) == (1011, f"no pong within {INTERVAL:g} s")
        assert client.close_code == 1011 and not client.is_open
        release.set()
        await wait_until(lambda: received, what="the silent server to read what it was sent")
        frames = wire.FrameDecoder(expect_masked=True).feed(received[0])
        assert [f.opcode for f in frames] == [wire.Opcode.PING, wire.Opcode.CLOSE]
        assert struct.unpack(">H", frames[-1].payload[:2])[0] == 1011
    finally:
        release.set()
        srv.close()
        await srv.wait_closed()


@pytest.mark.parametrize("args, says", [
    (["--ping-interval", "0"], "--ping-interval must be a finite number of seconds greater than 0"),
    (["--ping-interval", "1", "--ping-timeout", "2"], "--ping-timeout (2 s) must not be larger than --ping-interval"),
    (["--ping-timeout", "1"], "--ping-timeout needs a --ping-interval"),
    (["--ping-interval", "nan"], "greater than 0"),
])
async def test_cli_refuses_bad_heartbeat_options(args, says):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsdemo", "serve", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), T * 3)
    assert proc.returncode == 2, (out, err)
    assert says in err.decode()


async def test_cli_serve_pings_and_closes_a_silent_peer():
    from .test_cli import serve_command

    async with serve_command("--ping-interval", "0.2") as (proc, lines):
        assert "heartbeats: a ping every 0.2 s; no pong within 0.2 s closes the WebSocket with 1011" in lines
        port = int(next(re.search(r"tap on 127\.0\.0\.1:(\d+)", l).group(1) for l in lines if "tap on" in l))
        raw = await Raw.open(port)
        await raw.send(handshake("/echo"))
        assert b" 101 " in await raw.read_head()
        data = await raw.read_all()  # the server gives up on this silent peer
        assert _close_of(data) == (1011, "no pong within 0.2 s")
        await raw.close()
        logged = []
        while not any("closed" in l for l in logged):
            logged.append((await asyncio.wait_for(proc.stdout.readline(), T)).decode())
        assert "WebSocket, close 1011" in "".join(logged)
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), T) == 0
