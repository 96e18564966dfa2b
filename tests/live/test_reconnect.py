"""``server.connect(path, reconnect=...)``: after an abnormal close the in-kernel client dials
again with exponential backoff and full jitter; never after a normal close or a refusal.
Real servers restarted on the same port; small backoffs; behaviour awaited, never timed."""

from __future__ import annotations

import asyncio
import random

import pytest
import tornado.httpclient

import wsdemo
from wsdemo.live.client import RETRY_CODES, Client, ConnectionClosed, Disconnected, Reconnect

from .conftest import T, wait_until

FAST = Reconnect(base=0.02, cap=0.1, attempts=200)
# Each dial gives up after this long: a freed port can be taken by another process's server
# (other test runs share this loopback) that never answers; that try then just times out.
DIAL = 2.0


async def _handler(server):
    await wait_until(lambda: server.app_state.sockets, what="the handler registered")
    (handler,) = server.app_state.sockets
    return handler


def test_backoff_is_full_jitter_under_an_exponential_ceiling():
    policy = Reconnect(base=0.5, cap=10.0, attempts=10)
    rng = random.Random(6455)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (5, 8.0), (6, 10.0), (40, 10.0)]:
        delays = [policy.delay(attempt, rng) for _ in range(400)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.9 * ceiling and min(delays) < 0.1 * ceiling  # spread over all of it


@pytest.mark.parametrize("kwargs, says", [
    ({"base": 0}, "base must be"), ({"cap": float("nan")}, "cap must be"),
    ({"base": 2, "cap": 1}, "at least base"), ({"attempts": 0}, "attempts must be"),
    ({"attempts": 2.5}, "attempts must be"),
])
def test_bad_policies_raise(kwargs, says):
    with pytest.raises(ValueError, match=says):
        Reconnect(**kwargs)


async def test_client_reconnects_to_a_server_restarted_on_the_same_port_and_recv_waits_across():
    first = await wsdemo.serve()
    port = first.port
    second = None
    try:
        client = await first.connect("/echo", reconnect=FAST, timeout=DIAL)
        seen = []
        client.on_attempt(seen.append)
        await client.send("before")
        assert await client.recv(timeout=T) == "before"
        waiting = asyncio.ensure_future(client.recv(timeout=3 * T))  # waits across the reconnect

        await first.stop()  # Close 1001 "server shutting down": retried
        await wait_until(lambda: client.state == "reconnecting", what="the client to notice")
        with pytest.raises(Disconnected) as info:
            await client.send("while away")
        assert info.value.code == 1001 and info.value.attempt >= 1
        assert not waiting.done()

        second = await wsdemo.serve(port=port)
        await client.wait_open(timeout=T)
        assert client.state == "open" and client.reconnects == 1
        last = client.attempts[-1]
        assert last.connected and last.outcome == "connected" and last.after == (1001, "server shutting down")
        assert seen == client.attempts
        assert all(not a.connected for a in client.attempts[:-1])  # the port was closed meanwhile
        await client.send("after")
        assert await asyncio.wait_for(waiting, T) == "after"
        assert client.connection in second.tap.connections  # the restarted server's recording
        assert client.connection.peer == client.local_address
        await client.close()
        assert client.state == "closed"
    finally:
        await first.stop()
        if second is not None:
            await second.stop()


# The policy, written out: 1000 the server is done with us; 1002/1003/1007/1009 we broke a rule;
# 1008 a policy refused us; 4000 an application code we cannot interpret. 1011/1012/1013: the
# server's trouble, a restart, "try again later". (1001 and 1006: the tests below.)
RETRIED = {1000: False, 1002: False, 1003: False, 1007: False, 1008: False, 1009: False, 4000: False,
           1011: True, 1012: True, 1013: True}


def test_the_retried_codes_are_the_documented_ones():
    assert RETRY_CODES == {1001, 1006, 1011, 1012, 1013, 1014}


@pytest.mark.parametrize("code, retried", sorted(RETRIED.items()))
async def test_which_close_codes_are_retried(server, code, retried):
    client = await server.connect("/echo", reconnect=FAST)
    handler = await _handler(server)
    handler.close(code, "closed by the test")
    if retried:
        await wait_until(lambda: client.reconnects == 1 and client.is_open, what="the reconnect")
        assert client.attempts[-1].after == (code, "closed by the test")
        await client.send("again")
        assert await client.recv(timeout=T) == "again"
        await client.close()
    else:
        with pytest.raises(ConnectionClosed) as info:
            await client.recv(timeout=T)
        assert info.value.code == code
        assert client.state == "closed" and client.attempts == []


async def test_a_dropped_line_1006_is_retried(server):
    client = await server.connect("/echo", reconnect=FAST)
    handler = await _handler(server)
    handler.ws_connection.stream.close()  # no Close frame: the client records 1006 (None)
    await wait_until(lambda: client.reconnects == 1 and client.is_open, what="the reconnect")
    assert client.attempts[-1].after == (None, None)
    await client.close()


async def test_our_own_close_is_never_retried(server):
    client = await server.connect("/echo", reconnect=FAST)
    await client.close()
    assert client.state == "closed" and client.attempts == []
    with pytest.raises(ConnectionClosed):
        await client.recv(timeout=T)


async def test_a_403_on_reconnect_ends_the_reconnecting():
    # A classroom server restarted with a new join token refuses the old one: not retried.
    first = await wsdemo.serve(classroom=True, show_join=False)
    port, second = first.port, None
    try:
        client = await first.connect("/echo", reconnect=FAST, timeout=DIAL)
        await first.stop()
        second = await wsdemo.serve(port=port, classroom=True, show_join=False)
        with pytest.raises(ConnectionClosed) as info:
            await client.recv(timeout=T)  # waits until the client gives up
        assert info.value.code == 1001
        assert client.state == "closed"
        assert client.attempts[-1].outcome.startswith("refused: HTTP 403")
        assert not any(a.connected for a in client.attempts)
    finally:
        await first.stop()
        if second is not None:
            await second.stop()


async def test_attempts_are_bounded_when_the_server_never_returns():
    server = await wsdemo.serve()
    client = await server.connect("/echo", reconnect=Reconnect(base=0.01, cap=0.02, attempts=3),
                                  timeout=DIAL)
    await server.stop()
    with pytest.raises(ConnectionClosed) as info:
        await client.recv(timeout=T)
    assert info.value.code == 1001
    assert [a.number for a in client.attempts] == [1, 2, 3]
    assert not any(a.connected for a in client.attempts)
    assert all(a.outcome.startswith(("unreachable", "no answer", "timed out")) for a in client.attempts)
    assert client.state == "closed"


async def test_close_while_reconnecting_stops_the_attempts():
    server = await wsdemo.serve()
    client = await server.connect("/echo", reconnect=Reconnect(base=0.01, cap=0.02, attempts=10_000),
                                  timeout=DIAL)
    await server.stop()
    await wait_until(lambda: len(client.attempts) >= 2, what="a few failed attempts")
    await client.close()
    assert client.state == "closed"
    tried = len(client.attempts)
    await asyncio.sleep(0.2)  # ten backoff ceilings: a live loop would have tried again
    assert len(client.attempts) == tried
    with pytest.raises(ConnectionClosed):
        await client.recv(timeout=T)


async def test_without_reconnect_a_drop_just_closes(server):
    client = await server.connect("/echo")
    await server.stop()
    with pytest.raises(ConnectionClosed) as info:
        await client.recv(timeout=T)
    assert info.value.code == 1001 and client.attempts == [] and client.state == "closed"


async def test_the_first_dial_still_raises_as_before():
    server = await wsdemo.serve(classroom=True, show_join=False)
    try:
        url = server.url("/echo")  # no token
        with pytest.raises(tornado.httpclient.HTTPClientError) as info:
            await Client.open(server.tap, url, reconnect=FAST, timeout=T)
        assert info.value.code == 403
    finally:
        await server.stop()


async def test_reconnect_option_is_checked(server):
    with pytest.raises(ValueError, match="Reconnect"):
        await server.connect("/echo", reconnect="yes")


async def test_a_heartbeat_failure_1011_is_retried():
    from .test_heartbeats import _silent_server

    srv, release, _received = await _silent_server()  # answers handshakes, then never reads
    port = srv.sockets[0].getsockname()[1]
    try:
        client = await Client.open(None, f"ws://127.0.0.1:{port}/", ping_interval=0.1, timeout=DIAL,
                                   reconnect=FAST)
        broken = []
        client.on_attempt(lambda attempt: broken.append(1 / 0))  # a faulty callback changes nothing
        await wait_until(lambda: client.reconnects >= 2, what="two reconnects after heartbeat failures")
        assert client.attempts[0].after == (1011, "no pong within 0.1 s")
        await client.close(timeout=0.5)  # the silent server never answers the Close either
        assert client.state == "closed"
    finally:
        release.set()
        srv.close()
        await srv.wait_closed()
