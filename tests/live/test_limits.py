"""Classroom token, connection cap, Origin check, rate limit, redaction, ring buffers."""

from __future__ import annotations

import asyncio
import json

import websockets
from websockets.exceptions import InvalidStatus

import wsdemo
from wsdemo import wire

from .conftest import T, Raw, conn_for_port, handshake, messages, wait_for_event, wait_until


async def expect_status(url: str, status: int, **kwargs) -> bytes:
    try:
        async with websockets.connect(url, open_timeout=T, **kwargs):
            pass
    except InvalidStatus as exc:
        assert exc.response.status_code == status, exc.response
        return exc.response.body or b""
    raise AssertionError(f"{url} should have been refused with {status}")


async def test_classroom_requires_the_join_token():
    server = await asyncio.wait_for(wsdemo.serve(host="0.0.0.0", classroom=True), T)
    try:
        assert server.token and len(server.token) >= 16
        assert server.join_url("/chat.html").endswith(f"/chat.html?token={server.token}")
        body = await expect_status(server.url("/echo"), 403)
        assert b"join token" in body
        await expect_status(server.url("/echo?token=wrong"), 403)
        async with websockets.connect(server.url(f"/echo?token={server.token}"), open_timeout=T) as ws:
            await ws.send("in")
            assert await asyncio.wait_for(ws.recv(), T) == "in"
        # The cookie works too (pages opened from the join link get it).
        async with websockets.connect(server.url("/echo"), open_timeout=T,
                                      additional_headers={"Cookie": f"wsdemo_token={server.token}"}) as ws:
            await ws.send("cookie")
            assert await asyncio.wait_for(ws.recv(), T) == "cookie"
        # server.connect adds the token itself.
        client = await server.connect("/echo")
        await client.send("kernel")
        assert await client.recv(timeout=T) == "kernel"
        await client.close()
        # Pages need it too; the tap saw the 403s.
        raw = await Raw.open(server.port)
        await raw.send(b"GET /chat.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert (await raw.read_head()).startswith(b"HTTP/1.1 403")
        conn = conn_for_port(server, raw.local_port)
        assert (await wait_for_event(conn, lambda e: isinstance(e, wire.HttpResponse))).response.status == 403
        await raw.close()
    finally:
        await asyncio.wait_for(server.stop(), T)


async def test_connection_cap_answers_503():
    server = await asyncio.wait_for(wsdemo.serve(max_connections=2), T)
    try:
        a = await server.connect("/echo")
        b = await server.connect("/echo")
        body = await expect_status(server.url("/echo"), 503)
        assert b"too many connections" in body
        await a.send("a still works")
        assert await a.recv(timeout=T) == "a still works"
        await a.close()
        await wait_until(lambda: len(server.app_state.sockets) < 2, what="a slot is free")
        c = await server.connect("/echo")
        await c.close()
        await b.close()
    finally:
        await asyncio.wait_for(server.stop(), T)
    refused = [c for c in server.tap.connections if c.response is not None and c.response.status == 503]
    assert len(refused) == 1


async def test_origin_check(server):
    body = await expect_status(server.url("/echo"), 403, origin="http://evil.example")
    assert b"Origin 'http://evil.example' is not this server's" in body
    # The server's own pages (same origin) pass; other origins, even on this machine,
    # are tests/live/test_hardening.py's subject.
    async with websockets.connect(server.url("/echo"), origin=f"http://127.0.0.1:{server.port}",
                                  open_timeout=T) as ws:
        await ws.send("ok")
        assert await asyncio.wait_for(ws.recv(), T) == "ok"
    refused = [c for c in server.tap.connections if c.response is not None and c.response.status == 403]
    assert [c.request.headers.get("Origin") for c in refused] == ["http://evil.example"]


async def test_a_blank_pages_null_origin_is_refused(server):
    # Notebook 07 says so: a page with an opaque origin (about:blank) sends "Origin: null",
    # and the lab refuses it, as it refuses a page of another local port; a page the lab
    # itself served (its own origin) gets in.
    body = await expect_status(server.url("/echo"), 403, origin="null")
    assert b"Origin 'null' is not this server's" in body
    await expect_status(server.url("/echo"), 403, origin="http://127.0.0.1:9")
    async with websockets.connect(server.url("/echo"), origin=server.http_url("/").rstrip("/"),
                                  open_timeout=T) as ws:
        await ws.send("from a loopback page")
        assert await asyncio.wait_for(ws.recv(), T) == "from a loopback page"


async def test_classroom_rate_limit_closes_with_1008():
    server = await asyncio.wait_for(wsdemo.serve(classroom=True, rate_limit=5), T)
    try:
        flood = await server.connect("/echo")
        calm = await server.connect("/echo")
        for i in range(30):
            await flood.send(f"m{i}")
        echoed = []
        try:
            while True:
                echoed.append(await flood.recv(timeout=T))
        except wsdemo.live.client.ConnectionClosed as exc:
            assert exc.code == 1008 and "rate limit" in exc.reason
        assert 0 < len(echoed) < 30
        await calm.send("calm")
        assert await calm.recv(timeout=T) == "calm"
        await calm.close()
        conn = flood.connection
        await wait_until(lambda: not conn.is_open)
        assert [m.close_code for m in messages(conn, "server", "close")] == [1008]
    finally:
        await asyncio.wait_for(server.stop(), T)


async def test_cookie_and_authorization_are_redacted(server):
    secret = "jupyterhub-session-id=S3CR3T-VALUE"
    got = []
    unsubscribe = server.tap.subscribe(got.append)
    headers = {"Cookie": secret, "Authorization": "token S3CR3T-TOKEN"}
    async with websockets.connect(server.url("/echo"), additional_headers=headers, open_timeout=T) as ws:
        await ws.send("hi")
        assert await asyncio.wait_for(ws.recv(), T) == "hi"
        conn = conn_for_port(server, ws.local_address[1])
    # A head split into one-byte chunks, so a value arrives across many reads.
    raw = await Raw.open(server.port)
    for byte in handshake(extra=f"Cookie: {secret}\r\n"):
        await raw.send(bytes([byte]))
        await asyncio.sleep(0)
    assert (await raw.read_head()).startswith(b"HTTP/1.1 101")
    split = conn_for_port(server, raw.local_port)
    await raw.close()
    await wait_until(lambda: not conn.is_open and not split.is_open)
    unsubscribe()
    for c in (conn, split):
        stored = b"".join(data for sender, at, data in c.chunks if sender == "client")
        assert b"S3CR3T" not in stored
        assert b"Cookie: " + b"*" * len(secret) in stored
        assert sum(len(d) for s, a, d in c.chunks if s == "client") == c.bytes["client"]
        assert "S3CR3T" not in c.request.headers.get("Cookie")
        assert b"S3CR3T" not in c.request.raw
    assert c.request.headers.get("Cookie") == "*" * len(secret)
    assert conn.request.headers.get("Authorization") == "*" * len("token S3CR3T-TOKEN")
    heads = [e for e in got if isinstance(e, wire.HttpRequest)]
    assert len(heads) == 2 and all(b"S3CR3T" not in e.request.raw for e in heads)
    assert all(e.connection in (conn, split) for e in heads)


async def test_set_cookie_from_the_server_is_redacted():
    server = await asyncio.wait_for(wsdemo.serve(classroom=True), T)
    try:
        raw = await Raw.open(server.port)
        await raw.send(f"GET /index.html?token={server.token} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        head = await raw.read_head()
        assert server.token.encode() in head and b"Set-Cookie" in head  # the client gets it...
        conn = conn_for_port(server, raw.local_port)
        response = await wait_for_event(conn, lambda e: isinstance(e, wire.HttpResponse))
        await raw.close()
        await wait_until(lambda: not conn.is_open)
        # ...but what the tap keeps and publishes has it masked.
        assert "wsdemo_token" not in response.response.headers.get("Set-Cookie")
        stored = b"".join(d for s, a, d in conn.chunks if s == "server")
        assert b"Set-Cookie: " in stored and f"wsdemo_token={server.token}".encode() not in stored
    finally:
        await asyncio.wait_for(server.stop(), T)


async def test_ring_buffers_are_bounded_and_summary_counts_everything():
    server = await asyncio.wait_for(wsdemo.serve(ring_size=10), T)
    try:
        client = await server.connect("/echo")
        for i in range(40):
            await client.send(f"n{i}")
            assert await client.recv(timeout=T) == f"n{i}"
        conn = client.connection
        await client.close()
        await wait_until(lambda: not conn.is_open)
        assert len(conn.events) == 10 and len(conn.chunks) == 10
        assert conn.events.maxlen == 10
        summary = conn.summary()
        assert summary.client.messages == 41 and summary.server.messages == 41  # 40 + close
        assert conn.bytes["client"] > sum(len(d) for s, a, d in conn.chunks if s == "client")
    finally:
        await asyncio.wait_for(server.stop(), T)


async def test_closed_connections_are_capped(server):
    server.tap.max_closed = 3
    for i in range(6):
        client = await server.connect("/echo")
        conn = client.connection
        await client.close()
        await wait_until(lambda: not conn.is_open)
    assert len(server.tap.connections) == 3
    assert [c.id for c in server.tap.connections] == [4, 5, 6]


async def test_subscriber_errors_do_not_break_the_relay(server):
    seen = []

    def broken(event):
        raise RuntimeError("a buggy widget")

    server.tap.subscribe(broken)
    server.tap.subscribe(seen.append)
    opened = []
    server.tap.subscribe_connections(lambda c: opened.append((c.id, c.is_open)))
    client = await server.connect("/echo")
    await client.send("through")
    assert await client.recv(timeout=T) == "through"
    conn = client.connection
    await client.close()
    await wait_until(lambda: not conn.is_open)
    assert any(isinstance(e, wire.MessageEvent) and e.message.text == "through" for e in seen)
    assert all(e.connection is conn for e in seen)
    assert opened == [(conn.id, True), (conn.id, False)]


async def test_classroom_serve_announces_the_join_url_outside_a_notebook(caplog):
    # In a notebook serve(classroom=True) displays the join card (the classroom dashboard's
    # nbval run checks that output); elsewhere it says where to join in the log.
    import logging

    with caplog.at_level(logging.INFO, logger="wsdemo"):
        server = await asyncio.wait_for(wsdemo.serve(classroom=True), T)
    try:
        said = [r.getMessage() for r in caplog.records if r.name == "wsdemo.server"]
        assert said == [f"classroom mode: Join: {server.join_card().url}; {server.join_card().note}"]
        assert server.token in said[0]
        caplog.clear()
        # A second classroom server beside the first (one is never replaced implicitly).
        quiet = await asyncio.wait_for(wsdemo.serve(classroom=True, show_join=False, name="quiet"), T)
        assert not [r for r in caplog.records if "Join:" in r.getMessage()]
        await asyncio.wait_for(quiet.stop(), T)
    finally:
        await asyncio.wait_for(server.stop(), T)


async def test_a_client_that_never_reads_is_closed_with_1008_not_buffered_for_ever(caplog):
    # Tornado buffers writes without limit: a classmate whose page stops reading would make
    # the server hold everything the room says. Past state.send_backlog it is closed instead.
    import logging

    from .conftest import close_code_of

    server = await asyncio.wait_for(wsdemo.serve(max_message_size=64 * 1024), T)
    try:
        limit = server.app_state.send_backlog
        lazy = await Raw.open(server.port)
        await lazy.send(handshake("/chat?name=lazy"))
        assert (await lazy.read_head()).startswith(b"HTTP/1.1 101")
        talker = await server.connect("/chat?name=talker")
        with caplog.at_level(logging.INFO, logger="wsdemo.apps"):
            for i in range(2000):  # far more than the kernel's socket buffers and the limit
                await talker.send("x" * 60_000)
                while True:  # the talker reads its own echoes: it is not the slow one
                    try:
                        await talker.recv(timeout=0.001)
                    except asyncio.TimeoutError:
                        break
                if any("bytes unread" in r.getMessage() for r in caplog.records):
                    break
            else:
                raise AssertionError("the server kept buffering for the client that does not read")
        # The slow client finally reads: the messages that fitted, then the reason.
        assert close_code_of(await lazy.read_all()) == 1008
        left = json.loads(await talker.recv(timeout=T))
        while left.get("type") != "leave":
            left = json.loads(await talker.recv(timeout=T))
        assert left["name"] == "lazy"
        await talker.send("still served")
        while json.loads(await talker.recv(timeout=T)).get("text") != "still served":
            pass
        assert all(s._backlog <= limit + 60_000 for s in server.app_state.sockets)
        await talker.close()
        await lazy.close()
    finally:
        await asyncio.wait_for(server.stop(), T)


async def test_rings_are_bounded_in_bytes_too():
    server = await asyncio.wait_for(wsdemo.serve(ring_bytes=256 * 1024), T)
    try:
        client = await server.connect("/echo")
        for i in range(40):
            await client.send(b"z" * 50_000)
            assert len(await client.recv(timeout=T)) == 50_000
        conn = client.connection
        assert sum(len(d) for _, _, d in conn.chunks) <= 256 * 1024
        assert 1 < len(conn.events) < 40
        assert conn.summary().client.messages == 40  # counted, though no longer kept
        big = await server.connect("/echo")
        await big.send(b"w" * 400_000)  # bigger than the budget: the newest is always kept
        assert len(await big.recv(timeout=T)) == 400_000
        assert any(isinstance(e, wire.MessageEvent) and len(e.message.data) == 400_000
                   for e in big.connection.events)
        await client.close()
        await big.close()
    finally:
        await asyncio.wait_for(server.stop(), T)


async def test_the_tap_refuses_connections_past_its_limit_and_keeps_serving(server):
    # A script opening connections by the thousand must not take the file descriptors
    # everybody else needs: past max_links the tap answers 503 itself.
    server.tap.max_links = 5
    keep = await server.connect("/echo")
    hogs = [await Raw.open(server.port) for _ in range(4)]
    for hog in hogs:  # half-sent heads (slowloris): they hold their connection
        await hog.send(b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    await wait_until(lambda: server.tap.open_links == 5, what="five links open")
    extra = await Raw.open(server.port)
    reply = await extra.read_all()
    assert reply.startswith(b"HTTP/1.1 503 ")
    assert reply.endswith(b"too many connections to the tap (the limit is 5 at once); try again\n")
    await extra.close()
    await keep.send("still served")
    assert await keep.recv(timeout=T) == "still served"
    for hog in hogs:
        await hog.close()
    await wait_until(lambda: server.tap.open_links == 1, what="the hogs gone")
    again = await server.connect("/echo")
    await again.send("room again")
    assert await again.recv(timeout=T) == "room again"
    await again.close()
    await keep.close()


async def test_a_head_that_never_ends_is_dropped_after_the_head_timeout(monkeypatch):
    import wsdemo.live.server

    monkeypatch.setattr(wsdemo.live.server, "HEAD_TIMEOUT", 0.5)
    server = await asyncio.wait_for(wsdemo.serve(), T)
    try:
        slow = await Raw.open(server.port)
        await slow.send(b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        assert await slow.read_all() == b""  # closed without an answer
        conn = conn_for_port(server, slow.local_port)
        await slow.close()
        await wait_until(lambda: not conn.is_open, what="the tap saw it close")
        assert conn.bytes["server"] == 0
    finally:
        await asyncio.wait_for(server.stop(), T)


async def test_join_tokens_in_urls_are_masked_in_what_the_tap_shows():
    # The projector shows paths and handshakes; the join card is the one place for the token.
    server = await asyncio.wait_for(wsdemo.serve(classroom=True, show_join=False), T)
    try:
        token = server.token
        assert token in server.join_card().url
        client = await server.connect("/chat?name=Ada")  # adds ?token=...
        assert json.loads(await client.recv(timeout=T))["type"] == "join"
        conn = client.connection
        # A head in one-byte chunks, with the token in the request line and the Referer.
        raw = await Raw.open(server.port)
        page = f"http://127.0.0.1:{server.port}/chat.html?token={token}&name=Bo"
        for byte in handshake(f"/chat?token={token}&name=Bo", extra=f"Referer: {page}\r\n"):
            await raw.send(bytes([byte]))
        assert (await raw.read_head()).startswith(b"HTTP/1.1 101")  # the server got the real one
        split = conn_for_port(server, raw.local_port)
        await wait_for_event(split, lambda e: isinstance(e, wire.HttpResponse))
        stars = "*" * len(token)
        assert conn.path == f"/chat?name=Ada&token={stars}"
        assert split.path == f"/chat?token={stars}&name=Bo"
        assert split.request.headers.get("Referer") == page.replace(token, stars)
        for c in (conn, split):
            assert token not in repr(c) and token not in c.request.target
            assert token.encode() not in c.request.raw
            stored = b"".join(d for _, _, d in c.chunks)
            assert token.encode() not in stored and stars.encode() in stored
            assert sum(len(d) for _, _, d in c.chunks) == c.bytes["client"] + c.bytes["server"]
            assert all(token not in repr(e) for e in c.events)
        await raw.close()
        await client.close()
    finally:
        await asyncio.wait_for(server.stop(), T)
