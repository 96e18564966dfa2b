"""Several servers as one through a Redis pub/sub backplane (wsdemo/live/backplane.py): a real
redis-server of the test's own, real servers, real clients. The outage test kills
redis-server mid-chat and starts it again."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import subprocess
import sys

import pytest

import wsdemo
from wsdemo.live.backplane import (LOCK_KEY, LOCK_TTL_MS, NOT_RELAYED, PREFIX, check_url,
                              measure_cross_server)

from .conftest import T, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]


@pytest.fixture
async def pair(redis_server):
    """Two servers of this process on one backplane (different names: side by side)."""
    a = await asyncio.wait_for(wsdemo.serve(name="bp-a", backplane=redis_server.url,
                                            ticker_interval_ms=50), T)
    try:
        b = await asyncio.wait_for(wsdemo.serve(name="bp-b", backplane=redis_server.url,
                                                ticker_interval_ms=50), T)
    except BaseException:
        await a.stop()
        raise
    try:
        yield a, b
    finally:
        await asyncio.wait_for(a.stop(), T)
        await asyncio.wait_for(b.stop(), T)


async def next_of(client, kind: str, timeout: float = T) -> dict:
    """The next chat event of type ``kind`` (skipping join/leave notices and others)."""
    while True:
        event = await client.recv_json(timeout)
        if event.get("type") == kind:
            return event


async def texts_until(client, last: str, timeout: float = T) -> list[str]:
    """Texts of the chat messages ``client`` gets, up to and including ``last``."""
    out = []
    while True:
        event = await next_of(client, "message", timeout)
        out.append(event["text"])
        if event["text"] == last:
            return out


async def test_a_chat_message_sent_to_one_server_reaches_members_of_the_other_once(pair):
    a, b = pair
    ada = await a.connect("/chat?name=Ada")
    alan = await a.connect("/chat?name=Alan")
    bob = await b.connect("/chat?name=Bob")
    # Bob's join on b is announced on a too, with everyone in the room on both servers.
    while (join := await next_of(ada, "join"))["name"] != "Bob":
        pass
    assert join["users"] == ["Ada", "Alan", "Bob"]
    await ada.send("hello from a")
    got = await next_of(bob, "message")
    assert (got["name"], got["text"]) == ("Ada", "hello from a")
    await bob.send("hello from b")
    # Each member of a gets each message once: a drops its own messages that Redis echoes
    # back to its subscription, so Ada sees her own line once, then Bob's.
    assert await texts_until(alan, "hello from b") == ["hello from a", "hello from b"]
    assert await texts_until(ada, "hello from b") == ["hello from a", "hello from b"]
    assert a.backplane.status.published >= 1 and b.backplane.status.received >= 1
    await bob.close()
    leave = await next_of(ada, "leave")
    assert (leave["name"], leave["users"]) == ("Bob", ["Ada", "Alan"])
    for c in (ada, alan):
        await c.close()


async def test_cursor_moves_cross_and_ids_do_not_collide(pair):
    a, b = pair
    one = await a.connect("/cursors?name=one")
    two = await b.connect("/cursors?name=two")
    hello_one, hello_two = await one.recv_json(T), await two.recv_json(T)
    assert hello_one["id"] != hello_two["id"]  # each server numbers from its own random base
    await one.send_json({"x": 0.25, "y": 0.75})
    tick = await next_of(two, "moves")  # A's tick frame, as A's own members got it
    (move,) = tick["moves"]
    assert (move["id"], move["name"], move["x"], move["y"]) == (hello_one["id"], "one", 0.25, 0.75)
    await one.close()
    assert (await next_of(two, "leave"))["id"] == hello_one["id"]
    await two.close()


async def test_order_per_sender_is_kept_across_the_backplane(pair):
    a, b = pair
    ada = await a.connect("/chat?name=Ada")
    cy = await a.connect("/chat?name=Cy")
    bob = await b.connect("/chat?name=Bob")
    await asyncio.sleep(0)
    n = 60
    for i in range(n):  # two senders interleaved, no waiting between sends
        await ada.send(f"ada {i}")
        await cy.send(f"cy {i}")
    await ada.send("end")
    got = await texts_until(bob, "end", timeout=20)
    assert [t for t in got if t.startswith("ada ")] == [f"ada {i}" for i in range(n)]
    assert [t for t in got if t.startswith("cy ")] == [f"cy {i}" for i in range(n)]
    for c in (ada, cy, bob):
        await c.close()


async def test_the_feed_has_one_publisher_and_every_server_serves_its_updates(pair):
    a, b = pair
    await wait_until(lambda: {a.backplane.status.feed_role, b.backplane.status.feed_role}
                     == {"publisher", "follower"}, what="one publisher, one follower")
    publisher, follower = (a, b) if a.backplane.status.feed_role == "publisher" else (b, a)
    ticker = await follower.connect("/ticker")
    first = await ticker.recv_json(T)
    second = await ticker.recv_json(T)
    assert second["seq"] > first["seq"]
    # What the follower serves is the publisher's update, sequence number and all.
    await wait_until(lambda: publisher.app_state.feed.latest["seq"] >= second["seq"], what="publisher")
    seen = {u["seq"]: u for u in publisher.app_state.feed.history}
    assert seen[second["seq"]] == second
    await ticker.close()
    # /poll and /longpoll of the follower serve the same updates (one feed behind them all).
    from tornado.httpclient import AsyncHTTPClient

    http = AsyncHTTPClient()
    held = json.loads((await http.fetch(follower.http_url(f"/longpoll?since={second['seq']}"))).body)
    polled = json.loads((await http.fetch(follower.http_url("/poll"))).body)
    assert polled["seq"] >= held["seq"] > second["seq"]
    await wait_until(lambda: publisher.app_state.feed.latest["seq"] >= polled["seq"], what="publisher")
    seen = {u["seq"]: u for u in publisher.app_state.feed.history}
    assert seen[polled["seq"]] == polled and seen[held["seq"]] == held


async def test_when_the_publisher_stops_another_server_takes_the_feed_over(pair):
    a, b = pair
    await wait_until(lambda: {a.backplane.status.feed_role, b.backplane.status.feed_role}
                     == {"publisher", "follower"}, what="one publisher, one follower")
    publisher, follower = (a, b) if a.backplane.status.feed_role == "publisher" else (b, a)
    ticker = await follower.connect("/ticker")
    before = (await ticker.recv_json(T))["seq"]
    await publisher.stop()  # releases the lock: no waiting for its TTL
    await wait_until(lambda: follower.backplane.status.feed_role == "publisher", what="takeover")
    while (update := await ticker.recv_json(T))["seq"] <= before + 3:
        pass
    assert follower.app_state.feed.latest == update  # its own timer makes them now
    await ticker.close()


async def test_redis_killed_mid_chat_each_server_serves_its_own_then_recovers(pair, redis_server, caplog):
    caplog.set_level(logging.INFO, logger="wsdemo.backplane")
    a, b = pair
    ada = await a.connect("/chat?name=Ada")
    alan = await a.connect("/chat?name=Alan")
    bob = await b.connect("/chat?name=Bob")
    # A ticker on each server all along: its numbers must only go up, through the outage
    # (each feed ticks on its own) and after it (one publisher again, above them all).
    seqs = {a: [], b: []}
    tickers = [await s.connect("/ticker") for s in (a, b)]

    async def follow(server, ticker):
        while True:
            seqs[server].append((await ticker.recv_json(T))["seq"])

    following = [asyncio.ensure_future(follow(s, t)) for s, t in zip((a, b), tickers)]
    await ada.send("before")
    assert (await next_of(bob, "message"))["text"] == "before"
    assert (await next_of(alan, "message"))["text"] == "before"

    redis_server.kill()
    await wait_until(lambda: not a.backplane.connected and not b.backplane.connected,
                     what="both servers to notice the outage")
    down = a.backplane.status
    assert not down.connected and down.feed_role == "local" and down.last_error
    assert "unreachable" in caplog.text and "serving this server's members only" in caplog.text
    failed_before = down.failed

    await ada.send("during")
    # Ada's own server still delivers it; Ada is told the other servers did not get it.
    assert (await next_of(alan, "message"))["text"] == "during"
    notice = await next_of(ada, "notice")
    assert notice["code"] == NOT_RELAYED and "other servers did not get it" in notice["text"]
    assert a.backplane.status.failed == failed_before + 1
    # b goes on serving its own: Bob's own message reaches him, Ada's "during" never does.
    await bob.send("bob alone")
    assert await texts_until(bob, "bob alone") == ["bob alone"]
    # Each feed ticks on its own meanwhile.
    seq = b.app_state.feed.seq
    await wait_until(lambda: b.app_state.feed.seq > seq, what="b's own feed to tick")
    for _ in range(30):  # b's island has served more updates than a's ...
        b.app_state.feed.publish()

    await redis_server.start()
    # ... and a will publish after the outage (the lock taken for it before it reconnects):
    # b must not go back to a's lower numbers.
    import redis.asyncio as aioredis

    r = aioredis.Redis.from_url(redis_server.url)
    await r.set(LOCK_KEY, a.backplane.server_id, px=LOCK_TTL_MS)
    await r.aclose()
    await wait_until(lambda: a.backplane.connected and b.backplane.connected, timeout=30,
                     what="both servers to reconnect")
    assert "connected" in caplog.text
    await ada.send("after")
    assert (await next_of(bob, "message"))["text"] == "after"
    await bob.send("bob after")
    assert await texts_until(ada, "bob after") == ["after", "bob after"]
    # One publisher again, and the numbers each ticker got only went up.
    await wait_until(lambda: (a.backplane.status.feed_role, b.backplane.status.feed_role)
                     == ("publisher", "follower"), what="a publishes, b follows")
    counts = {s: len(seqs[s]) for s in (a, b)}
    await wait_until(lambda: all(len(seqs[s]) > counts[s] + 3 for s in (a, b)), what="updates")
    for task in following:
        task.cancel()
    for server in (a, b):
        assert seqs[server] == sorted(set(seqs[server])), seqs[server]
    for c in (ada, alan, bob, *tickers):
        await c.close()


async def test_a_server_started_while_redis_is_down_serves_alone_then_joins(redis_server):
    redis_server.kill()
    a = await asyncio.wait_for(wsdemo.serve(name="bp-a", backplane=redis_server.url), T)
    try:
        assert not a.backplane.connected and a.backplane.status.last_error
        ada = await a.connect("/chat?name=Ada")
        await ada.send("alone")
        assert (await next_of(ada, "message"))["text"] == "alone"
        assert (await next_of(ada, "notice"))["code"] == NOT_RELAYED
        await redis_server.start()
        await wait_until(lambda: a.backplane.connected, timeout=30, what="a to connect")
        b = await asyncio.wait_for(wsdemo.serve(name="bp-b", backplane=redis_server.url), T)
        try:
            # b asked who is where when it connected; a answered.
            await wait_until(lambda: b.backplane.remote_users() == ["Ada"], what="a's members")
            bob = await b.connect("/chat?name=Bob")
            assert (await next_of(bob, "join"))["users"] == ["Ada", "Bob"]
            await wait_until(lambda: a.backplane.status.received >= 1, what="Bob's join")
            await ada.send("together")
            assert (await next_of(bob, "message"))["text"] == "together"
            assert a.backplane.remote_users() == ["Bob"]
        finally:
            await asyncio.wait_for(b.stop(), T)  # Bob still in the room
        # b said goodbye as it stopped: a forgets its members.
        await wait_until(lambda: a.backplane.remote_users() == [], what="b's goodbye")
        await ada.close()
    finally:
        await asyncio.wait_for(a.stop(), T)


async def test_a_huge_message_is_refused_before_publishing_and_hostile_envelopes_are_dropped(redis_server):
    import redis.asyncio as aioredis

    a = await wsdemo.serve(name="bp-a", backplane=redis_server.url, max_message_size=1000)
    b = await wsdemo.serve(name="bp-b", backplane=redis_server.url, max_message_size=1000)
    r = aioredis.Redis.from_url(redis_server.url)
    try:
        watch = r.pubsub()  # what really goes through Redis
        await watch.subscribe(PREFIX + "chat")
        ada = await a.connect("/chat?name=Ada")
        bob = await b.connect("/chat?name=Bob")
        await ada.send("x" * 990)  # fits the socket's limit, not once wrapped as a chat event
        error = await next_of(ada, "error")
        assert error["limit"] == 1000
        await ada.send("after the huge one")
        seen = []
        deadline = asyncio.get_running_loop().time() + T
        while not any("after the huge one" in d for d in seen):
            assert asyncio.get_running_loop().time() < deadline, seen
            m = await watch.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if m is not None:
                seen.append(json.loads(m["data"])["data"])
        assert not any("x" * 990 in d for d in seen)  # refused before publishing
        await watch.aclose()
        # Anyone on the same Redis can publish: what is not a wsdemo envelope, or is too big
        # for this server, is dropped and counted; members get nothing of it.
        dropped = b.backplane.status.dropped
        await r.publish(PREFIX + "chat", b"not json")
        await r.publish(PREFIX + "chat", json.dumps({"v": 1, "origin": "x", "room": "chat",
                                                     "data": "y" * 1500}))
        await r.publish(PREFIX + "chat", b"z" * 100_000)
        await wait_until(lambda: b.backplane.status.dropped == dropped + 3, what="three drops")
        await ada.send("still here")
        assert await texts_until(bob, "still here") == ["after the huge one", "still here"]
        await ada.close()
        await bob.close()
    finally:
        await asyncio.wait_for(r.aclose(), T)
        await asyncio.wait_for(a.stop(), T)
        await asyncio.wait_for(b.stop(), T)


async def test_a_bad_backplane_url_raises_value_error_naming_the_form():
    for url in ("http://127.0.0.1:6379", "redis://127.0.0.1", "127.0.0.1:6379", "redis://:6379",
                "redis://h:99999", 6379):
        with pytest.raises(ValueError, match=re.escape("redis://HOST:PORT")):
            check_url(url)
        with pytest.raises(ValueError, match=re.escape("redis://HOST:PORT")):
            await wsdemo.serve(name="bp-bad", backplane=url)
    assert check_url("redis://127.0.0.1:6379/2") == "redis://127.0.0.1:6379/2"
    proc = subprocess.run([sys.executable, "-m", "wsdemo", "serve", "--backplane", "http://x:1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "redis://HOST:PORT" in proc.stderr


async def test_a_backplane_without_the_redis_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "redis", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(ModuleNotFoundError, match=re.escape("pip install 'redis>=5'")):
        await wsdemo.serve(name="bp-none", backplane="redis://127.0.0.1:6379")


def test_without_a_backplane_redis_is_not_imported():
    code = ("import asyncio, sys, wsdemo\n"
            "async def main():\n"
            "    s = await wsdemo.serve()\n"
            "    assert s.backplane is None\n"
            "    await s.stop()\n"
            "asyncio.run(main())\n"
            "print('redis' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


async def test_a_server_in_another_process_shares_the_room(redis_server):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsdemo", "serve", "--backplane", redis_server.url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    here = None
    try:
        port = None
        lines = []
        while port is None:
            line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
            assert line, "".join(lines)
            lines.append(line)
            if m := re.search(r"tap on [\d.]+:(\d+)", line):
                port = int(m.group(1))
        here = await wsdemo.serve(name="bp-here", backplane=redis_server.url)
        there = await wsdemo.live.client.Client.open(None, f"ws://127.0.0.1:{port}/chat?name=There")
        mine = await here.connect("/chat?name=Here")
        await wait_until(lambda: here.backplane.status.received >= 1, what="There's join")
        await mine.send("to the other process")
        assert (await next_of(there, "message"))["text"] == "to the other process"
        await there.send("back again")
        assert await texts_until(mine, "back again") == ["to the other process", "back again"]
        await there.close()
        await mine.close()
        across = await measure_cross_server(here, f"ws://127.0.0.1:{port}", n=3)
        assert len(across.across) == 3 and all(t > 0 for t in across.across)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        if here is not None:
            await here.stop()


async def test_measure_cross_server_times_each_message_local_and_across(pair):
    a, b = pair
    result = await measure_cross_server(a, b, n=5)
    assert len(result.local) == len(result.across) == 5
    assert all(t > 0 for t in result.local + result.across)
    assert "through the backplane" in str(result)
    with pytest.raises(ValueError, match="n must be"):
        await measure_cross_server(a, b, n=0)
