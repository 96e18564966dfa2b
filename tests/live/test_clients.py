"""Real clients through the tap: what each client saw, and what the tap decoded."""

from __future__ import annotations

import asyncio
import json
import urllib.parse

import pytest
import websockets

import wsdemo
from wsdemo import wire

from .conftest import T, conn_for_port, messages, wait_for_event, wait_until


async def test_websockets_library_echo_without_deflate(server):
    async with websockets.connect(server.url("/echo"), compression=None, open_timeout=T) as ws:
        await ws.send("hello tap")
        assert await asyncio.wait_for(ws.recv(), T) == "hello tap"
        await ws.send(b"\x00\x01\xff")
        assert await asyncio.wait_for(ws.recv(), T) == b"\x00\x01\xff"
        conn = conn_for_port(server, ws.local_address[1])
    await wait_until(lambda: not conn.is_open, what="connection closed")
    assert conn.path == "/echo"
    assert conn.request.headers.get("Upgrade").lower() == "websocket"
    assert conn.response.status == 101
    assert "permessage-deflate" not in (conn.response.headers.get("Sec-WebSocket-Extensions") or "")
    sent = messages(conn, "client")
    echoed = messages(conn, "server")
    assert [m.text for m in sent if m.kind == "text"] == ["hello tap"]
    assert [m.data for m in sent if m.kind == "binary"] == [b"\x00\x01\xff"]
    assert [m.text for m in echoed if m.kind == "text"] == ["hello tap"]
    client_frames = [e.frame for e in conn.events if isinstance(e, wire.FrameEvent) and e.sender == "client"]
    server_frames = [e.frame for e in conn.events if isinstance(e, wire.FrameEvent) and e.sender == "server"]
    assert client_frames and all(f.masked for f in client_frames)
    assert server_frames and not any(f.masked for f in server_frames)
    assert not any(f.rsv1 for f in client_frames + server_frames)
    assert [m.close_code for m in sent if m.kind == "close"] == [1000]
    assert not [e for e in conn.events if isinstance(e, wire.DecodeError)]


async def test_websockets_library_with_permessage_deflate():
    server = await asyncio.wait_for(wsdemo.serve(compression=True), T)
    try:
        text = "compress me " * 50
        async with websockets.connect(server.url("/echo"), open_timeout=T) as ws:  # deflate is its default
            await ws.send(text)
            assert await asyncio.wait_for(ws.recv(), T) == text
            conn = conn_for_port(server, ws.local_address[1])
            await wait_for_event(conn, lambda e: isinstance(e, wire.MessageEvent) and e.sender == "server")
        assert "permessage-deflate" in conn.request.headers.get("Sec-WebSocket-Extensions")
        assert "permessage-deflate" in conn.response.headers.get("Sec-WebSocket-Extensions")
        assert conn.decoder.deflate is not None
        data_frames = [e.frame for e in conn.events
                       if isinstance(e, wire.FrameEvent) and e.frame.opcode == wire.Opcode.TEXT]
        assert len(data_frames) == 2 and all(f.rsv1 for f in data_frames)
        # Compressed on the wire, inflated by the tap's decoder.
        assert all(f.payload_len < len(text) for f in data_frames)
        assert [m.text for m in messages(conn, kind="text")] == [text, text]
    finally:
        await asyncio.wait_for(server.stop(), T)


async def test_deflate_offered_but_server_declines(server):
    async with websockets.connect(server.url("/echo"), open_timeout=T) as ws:
        await ws.send("plain " * 20)
        assert await asyncio.wait_for(ws.recv(), T) == "plain " * 20
        conn = conn_for_port(server, ws.local_address[1])
        await wait_for_event(conn, lambda e: isinstance(e, wire.MessageEvent) and e.sender == "server")
    assert "permessage-deflate" in conn.request.headers.get("Sec-WebSocket-Extensions")
    assert conn.response.headers.get("Sec-WebSocket-Extensions") is None
    assert conn.decoder.deflate is None
    assert not any(e.frame.rsv1 for e in conn.events if isinstance(e, wire.FrameEvent))


async def test_tornado_client_send_ping_close(server):
    client = await server.connect("/echo")
    await client.send("one")
    assert await client.recv(timeout=T) == "one"
    await client.send(b"\x01\x02")
    assert await client.recv(timeout=T) == b"\x01\x02"
    await client.send_json({"n": 1})
    assert json.loads(await client.recv(timeout=T)) == {"n": 1}
    assert await client.ping(b"are you there", timeout=T) == b"are you there"
    conn = client.connection
    assert conn is not None and conn.peer == client.local_address
    await client.close(4000, "done here")
    assert client.close_code == 4000
    await wait_until(lambda: not conn.is_open, what="tap saw the close")
    # Tornado's own spelling of the key header is kept as sent.
    assert any(name == "Sec-Websocket-Key" for name, _ in conn.request.headers)
    pings = messages(conn, "client", "ping")
    pongs = messages(conn, "server", "pong")
    assert [m.data for m in pings] == [b"are you there"] and [m.data for m in pongs] == [b"are you there"]
    closes = messages(conn, kind="close")
    assert [(m.close_code, m.close_reason) for m in closes][0] == (4000, "done here")
    assert [m.close_code for m in closes][1] == 4000  # the server echoes the code
    assert conn.summary().client.messages >= 4
    try:
        await client.recv(timeout=1)
    except wsdemo.live.client.ConnectionClosed as exc:
        assert exc.code == 4000
    else:
        raise AssertionError("recv after close should raise ConnectionClosed")


async def test_recv_times_out_without_blocking(server):
    client = await server.connect("/echo")
    ticks = 0

    async def tick():  # runs only if recv leaves the loop free while it waits
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.ensure_future(tick())
    with pytest.raises(asyncio.TimeoutError):  # nothing was sent: recv must time out
        await client.recv(timeout=0.2)
    ticker.cancel()
    assert ticks > 1
    # The loop kept running: the server still answers.
    await client.send("still here")
    assert await client.recv(timeout=T) == "still here"
    await client.close()


async def test_chat_broadcast_join_leave_and_hostile_names_kept_as_sent(server):
    hostile = '<img src=x onerror="alert(1)">&amp;'
    ada = await server.connect("/chat?name=Ada")
    assert json.loads(await ada.recv(timeout=T))["type"] == "join"
    evil = await server.connect("/chat?name=" + urllib.parse.quote(hostile))
    joined = json.loads(await ada.recv(timeout=T))
    assert joined == {**joined, "type": "join", "name": hostile}
    assert sorted(joined["users"]) == sorted(["Ada", hostile])
    assert json.loads(await evil.recv(timeout=T))["name"] == hostile
    await evil.send_json({"text": "<script>steal()</script>"})
    for member in (ada, evil):
        got = json.loads(await member.recv(timeout=T))
        assert (got["type"], got["name"], got["text"]) == ("message", hostile, "<script>steal()</script>")
    await ada.send("plain text works too")
    for member in (ada, evil):
        assert json.loads(await member.recv(timeout=T))["text"] == "plain text works too"
    conn = evil.connection
    await evil.close()
    left = json.loads(await ada.recv(timeout=T))
    assert (left["type"], left["name"], left["users"]) == ("leave", hostile, ["Ada"])
    # The tap decoded the same bytes: the name is in the JSON exactly as sent.
    sent = [json.loads(m.text) for m in messages(conn, "client", "text")]
    assert sent == [{"text": "<script>steal()</script>"}]
    received = [json.loads(m.text) for m in messages(conn, "server", "text")]
    assert any(r.get("name") == hostile and r.get("text") == "<script>steal()</script>" for r in received)
    await ada.close()


async def test_ticker_pushes_unasked_and_rate_is_settable(server):
    client = await server.connect("/ticker")
    first = json.loads(await client.recv(timeout=T))
    second = json.loads(await client.recv(timeout=T))
    assert second["seq"] > first["seq"] and second["at"] >= first["at"]
    server.app_state.ticker_interval_ms = 30
    assert server.app_state.ticker_interval_ms == 30
    third = json.loads(await client.recv(timeout=T))
    assert third["seq"] > second["seq"]
    conn = client.connection
    await client.close()
    # Pushed: the server sent updates while the client sent nothing but its Close.
    assert [m.kind for m in messages(conn, "client")] == ["close"]
    assert len(messages(conn, "server", "text")) >= 3


async def test_ticker_interval_query(server):
    client = await server.connect("/ticker?interval=40")
    await client.recv(timeout=T)
    assert server.app_state.ticker_interval_ms == 40
    await client.close()


async def test_poll_and_longpoll_serve_the_same_feed(server):
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest
    http = AsyncHTTPClient(force_instance=True)
    try:
        ticker = await server.connect("/ticker")
        pushed = json.loads(await ticker.recv(timeout=T))
        response = await http.fetch(HTTPRequest(server.http_url("/poll"), request_timeout=T))
        polled = json.loads(response.body)
        assert response.code == 200 and polled["seq"] >= pushed["seq"]
        response = await http.fetch(HTTPRequest(server.http_url("/poll?since=999999"), request_timeout=T))
        assert response.code == 204 and response.body == b""
        response = await http.fetch(HTTPRequest(
            server.http_url(f"/longpoll?since={polled['seq']}&timeout=5"), request_timeout=T))
        held = json.loads(response.body)
        assert response.code == 200 and held["seq"] > polled["seq"]
        # The same update reached the ticker's WebSocket.
        seen = set()
        while held["seq"] not in seen:
            seen.add(json.loads(await ticker.recv(timeout=T))["seq"])
        server.app_state.ticker_interval_ms = 60_000
        response = await http.fetch(HTTPRequest(server.http_url("/longpoll?timeout=0.2"), request_timeout=T))
        assert response.code == 204
        await ticker.close()
    finally:
        http.close()
    polls = [c for c in server.tap.connections if c.path and c.path.startswith(("/poll", "/longpoll"))]
    statuses = []
    for conn in polls:
        conn.flush()
        statuses += [e.response.status for e in conn.events if isinstance(e, wire.HttpResponse)]
    assert sorted(statuses) == [200, 200, 204, 204]


async def test_cursors_go_to_the_others(server):
    a = await server.connect("/cursors?name=A")
    b = await server.connect("/cursors?name=B")
    hello_a = json.loads(await a.recv(timeout=T))
    assert json.loads(await b.recv(timeout=T))["type"] == "hello"
    await a.send_json({"x": 0.25, "y": 0.75})
    tick = json.loads(await b.recv(timeout=T))
    assert tick == {"type": "moves", "tick": 1,
                    "moves": [{"id": hello_a["id"], "name": "A", "x": 0.25, "y": 0.75}]}
    assert json.loads(await a.recv(timeout=T)) == tick  # the same frame for everyone, the mover too
    await a.send("not json")
    assert json.loads(await a.recv(timeout=T))["type"] == "error"
    await a.close()
    assert json.loads(await b.recv(timeout=T)) == {"type": "leave", "id": hello_a["id"]}
    await b.close()


async def test_reading_a_connection_right_after_a_round_trip_shows_its_frames(server):
    # Decoding is deferred a little to stay off the round trip; reading the recording
    # must not depend on that: the frames of a finished round trip are there at once.
    client = await server.connect("/echo")
    await client.send("right away")
    assert await client.recv(timeout=T) == "right away"
    conn = client.connection
    assert conn.path == "/echo" and conn.request is not None and conn.response.status == 101
    texts = [(e.sender, e.message.text) for e in conn.events if isinstance(e, wire.MessageEvent)]
    assert texts == [("client", "right away"), ("server", "right away")]
    assert sum(len(data) for _, _, data in conn.chunks) == conn.bytes["client"] + conn.bytes["server"]
    await client.close()


async def test_decoding_keeps_up_with_a_continuous_stream(server):
    # Decoding waits for a quiet moment, but a stream that never pauses must not hold it
    # back for ever: subscribers get events while it runs, and what waits stays bounded.
    from wsdemo.live import recording

    seen = []
    unsubscribe = server.tap.subscribe(seen.append)
    client = await server.connect("/echo")
    conn = client.connection
    most_pending = 0
    for i in range(3 * recording.MAX_PENDING):
        await client.send(f"s{i}")
        assert await client.recv(timeout=T) == f"s{i}"
        most_pending = max(most_pending, conn.pending_chunks)
    published = sum(isinstance(e, wire.MessageEvent) for e in seen)  # before any read flushes
    unsubscribe()
    assert most_pending <= recording.MAX_PENDING
    assert published >= recording.MAX_PENDING, published  # delivered during the stream
    n = 3 * recording.MAX_PENDING
    assert conn.summary().client.messages == n  # all of it...
    texts = [m.text for m in messages(conn, "client", "text")]  # ...the ring keeps the latest, in order
    assert texts == [f"s{i}" for i in range(n - len(texts), n)] and len(texts) > 100
    await client.close()


async def echoed(server, prefix: str, n: int):
    """A client of /echo that sent ``n`` messages and got each back; and its recording."""
    client = await server.connect("/echo")
    for i in range(n):
        await client.send(f"{prefix}{i}")
        assert await client.recv(timeout=T) == f"{prefix}{i}"
    return client, client.connection


async def test_while_nobody_watches_frames_wait_and_those_pushed_out_are_only_counted(server):
    # Nobody subscribed and nobody waits: past the handshake, a window of chunks (the ring's
    # count) waits undecoded; older ones are checked and counted, not kept as events. What a
    # read shows is exact all the same: every frame counted, the newest in order, every chunk.
    from wsdemo.live import recording

    server.tap.ring_size = 20  # the window and the rings of connections opened from here on
    n = 100
    client, conn = await echoed(server, "m", n)
    await asyncio.sleep(3 * recording.MAX_DEFER)  # eager decoding would have run by now
    assert 0 < conn.pending_chunks <= 20 * 5 // 4
    summary = conn.summary()  # a read: the window is decoded
    assert conn.pending_chunks == 0
    assert (summary.client.messages, summary.server.messages) == (n, n)
    assert summary.client.data_bytes == summary.server.data_bytes == sum(len(f"m{i}") for i in range(n))
    events = list(conn.events)
    assert len(events) + conn.dropped_events == 2 + 4 * n  # the two heads, then a frame and a message each
    texts = [(e.sender, e.message.text) for e in events if isinstance(e, wire.MessageEvent)]
    expected = [(who, f"m{i}") for i in range(n) for who in ("client", "server")]
    assert len(texts) >= 10 and texts == expected[-len(texts):]
    assert len(conn.chunks) + conn.dropped_chunks == 2 + 2 * n  # every chunk kept, as ever, within the ring
    assert conn.chunks[-1][2] == wire.encode_frame(wire.Opcode.TEXT, f"m{n - 1}")

    seen = []
    unsubscribe = server.tap.subscribe(seen.append)  # someone watches: decoded as it comes again
    await client.send("watched")
    assert await client.recv(timeout=T) == "watched"
    await wait_until(lambda: any(isinstance(e, wire.MessageEvent) and e.message.text == "watched"
                                 and e.sender == "server" for e in seen))
    unsubscribe()
    await client.close()


async def test_a_close_with_a_window_to_decode_is_reported_once_decoded_without_holding_the_loop(server):
    # A connection nobody watched closes with its window undecoded: it is decoded in the
    # queue's turns (the loop keeps turning meanwhile), and the close is reported to the
    # connection subscribers once the recording is complete.
    from wsdemo.live import recording

    n = 400
    client, conn = await echoed(server, "w", n)
    assert conn.pending_chunks > recording.CLOSE_AT_ONCE
    loop = asyncio.get_running_loop()
    passes = {"n": 0, "closed_at": None}

    def turn():  # counts the loop's passes, and notes the first one that saw the close
        passes["n"] += 1
        if passes["closed_at"] is None and not conn.is_open:
            passes["closed_at"] = passes["n"]
        loop.call_soon(turn)

    reported = []

    def on_connection(c):
        if c is conn and not c.is_open:
            reported.append((passes["n"], c.pending_chunks, c.summary().client.messages,
                             [e.message.kind for e in c.events if isinstance(e, wire.MessageEvent)][-1:]))

    unsubscribe = server.tap.subscribe_connections(on_connection)
    loop.call_soon(turn)
    await client.close()
    await wait_until(lambda: reported)
    unsubscribe()
    at, pending, messages_seen, last = reported[0]
    assert pending == 0 and messages_seen == n + 1 and last == ["close"]  # every message, then the Close
    assert at - passes["closed_at"] >= 3, (at, passes)  # decoded over several passes of the loop
