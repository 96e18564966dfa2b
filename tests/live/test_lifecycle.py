"""serve() / stop(): 1001 for everyone, ports freed, idempotent, and no leaks over 50 cycles."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

import wsdemo

from .conftest import T, messages


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def port_is_free(port: int) -> bool:
    """No socket listens on ``port``: a server may bind it again. With SO_REUSEADDR, as
    Tornado and asyncio bind: the app closes each TCP connection first after the closing
    handshake (RFC 6455 7.1.1: the server, "so that it holds the TIME_WAIT state"), and a
    plain bind fails on those TIME_WAIT entries for a minute."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


async def test_stop_closes_websockets_with_1001_and_frees_both_ports():
    server = await asyncio.wait_for(wsdemo.serve(), T)
    clients = [await server.connect(path) for path in ("/echo", "/chat?name=x", "/ticker")]
    conns = [c.connection for c in clients]
    port, direct = server.port, server.direct_port
    assert server.running
    await asyncio.wait_for(server.stop(), T)
    assert not server.running
    for client in clients:
        with pytest.raises(wsdemo.live.client.ConnectionClosed):
            while True:
                await client.recv(timeout=T)
        assert client.close_code == 1001
    for conn in conns:
        assert not conn.is_open and conn.closed_at >= conn.opened_at
        assert 1001 in [m.close_code for m in messages(conn, "server", "close")]
    assert port_is_free(port) and port_is_free(direct)
    await asyncio.wait_for(server.stop(), T)  # a second stop is harmless
    with pytest.raises(RuntimeError):
        await server.connect("/echo")


async def test_serving_again_stops_the_previous_server():
    first = await asyncio.wait_for(wsdemo.serve(), T)
    client = await first.connect("/echo")
    second = await asyncio.wait_for(wsdemo.serve(), T)
    try:
        with pytest.raises(wsdemo.live.client.ConnectionClosed):
            await client.recv(timeout=T)
        assert client.close_code == 1001
        assert port_is_free(first.port)
        other = await second.connect("/echo")
        await other.send("new one")
        assert await other.recv(timeout=T) == "new one"
        await other.close()
    finally:
        await asyncio.wait_for(second.stop(), T)


async def test_fifty_cycles_leak_nothing():
    async def cycle():
        server = await asyncio.wait_for(wsdemo.serve(), T)
        client = await server.connect("/echo")
        await client.send("x")
        assert await client.recv(timeout=T) == "x"
        ticker = await server.connect("/ticker")  # one that is still open at stop()
        await asyncio.wait_for(server.stop(), T)
        await ticker.close()
        await client.close()

    await cycle()  # warm up: imports, Tornado's first-use caches
    await asyncio.sleep(0.05)
    fds, tasks = open_fds(), len(asyncio.all_tasks())
    for _ in range(50):
        await cycle()
    await asyncio.sleep(0.1)
    assert open_fds() <= fds, f"{open_fds() - fds} file descriptors leaked"
    assert len(asyncio.all_tasks()) <= tasks, [t for t in asyncio.all_tasks()]


async def test_stop_right_after_a_rate_change_ends_the_feed():
    # A rate change wakes the feed; a stop in the same loop turn used to be swallowed by
    # Python 3.11's wait_for, and stop() then waited for ever.
    from wsdemo.live.apps.feed import Feed

    for _ in range(20):
        feed = Feed(interval_ms=100)
        feed.start()
        await asyncio.sleep(0)
        feed.interval_ms = 50
        await asyncio.sleep(0)  # the feed's wait is now done, its task not yet resumed
        await asyncio.wait_for(feed.stop(), T)
        assert not feed.running
