"""/sse against real clients, through the tap and straight to Tornado: the feed as server-sent
events with ids, resuming with Last-Event-ID, the join token, bad numbers, a reader that
never reads, the connection cap, and a clean end when the server stops."""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp  # installed with jupyter-server-proxy (the lab extra)
import pytest

import wsdemo
from wsdemo import wire
from wsdemo.live import sse

from .conftest import T, Raw, conn_for_port, wait_until


def request(path: str, *headers: str) -> bytes:
    return ("\r\n".join([f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Accept: text/event-stream", *headers])
            + "\r\n\r\n").encode()


class RawStream:
    """An event-stream reader on a raw socket: HttpReader un-chunks, SseDecoder parses."""

    def __init__(self, raw: Raw):
        self.raw = raw
        self.http = wire.http.HttpReader(response=True)
        self.http.stream = wire.is_event_stream
        self.sse = wire.SseDecoder()
        self.head: wire.Response | None = None
        self.events: list[wire.ServerSentEvent] = []
        self.body = bytearray()  # the body bytes as sent (chunk framing included)
        self.ended = False

    @classmethod
    async def open(cls, port: int, path: str, *headers: str) -> "RawStream":
        raw = await Raw.open(port)
        await raw.send(request(path, *headers))
        return cls(raw)

    async def read(self) -> None:
        data = await asyncio.wait_for(self.raw.reader.read(65536), T)
        if self.head is not None:
            self.body += data
        if not data:
            self.ended = True
            return
        self.http.feed(data)
        while True:
            msg = self.http.next("GET")
            for _, piece in self.http.take_body():
                self.events += self.sse.feed(piece)
            if msg is None:
                return
            if self.head is None:
                self.head = msg
                self.body += self.http.buf[self.http.pos:]
                if not self.http.streaming:
                    return
            else:
                self.ended = True
                return

    async def until(self, count: int) -> list[wire.ServerSentEvent]:
        """At least ``count`` dispatched events (or the end of the stream)."""
        while len(self.fired()) < count and not self.ended:
            await self.read()
        return self.fired()

    def fired(self):
        return [e for e in self.events if e.dispatched]

    async def close(self) -> None:
        await self.raw.close()


def seqs(events) -> list[int]:
    return [json.loads(e.data)["seq"] for e in events if e.type == "message"]


@pytest.fixture
async def server():
    srv = await asyncio.wait_for(wsdemo.serve(ticker_interval_ms=50), T)
    yield srv
    await asyncio.wait_for(srv.stop(), T)


@pytest.mark.parametrize("through_tap", [True, False])
async def test_the_feed_arrives_as_events_with_ids(server, through_tap):
    port = server.port if through_tap else server.direct_port
    s = await RawStream.open(port, "/sse")
    try:
        events = await s.until(4)
        assert s.head.status == 200 and s.head.headers.get("Content-Type") == "text/event-stream"
        assert s.head.headers.get("Transfer-Encoding") == "chunked"  # HTTP/1.1: Tornado chunks each flush
        assert s.head.headers.get("Cache-Control") == "no-store"
        first = s.events[0]
        assert not first.dispatched and first.retry == 3000 and str(server.app_state.send_backlog // 1024) in \
            first.fields[0].value  # the first comment names the backlog limit
        numbers = seqs(events)
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        assert [e.id for e in events] == [str(n) for n in numbers] == [e.last_event_id for e in events]
        if through_tap:
            # The tap decodes the same events, with what each cost on the wire.
            conn = conn_for_port(server, s.raw.local_port)
            await wait_until(lambda: sum(isinstance(e, wire.SseEvent) for e in conn.events) >= len(s.events),
                             what="the tap's SSE events")
            tapped = [e for e in conn.events if isinstance(e, wire.SseEvent)][:len(s.events)]
            assert [t.event.data for t in tapped] == [e.data for e in s.events]
            assert all(t.framing_size > 0 for t in tapped[1:])  # chunk-size line and CRLF
            assert b"".join(t.raw for t in tapped) == bytes(s.body[:sum(t.wire_size for t in tapped)])
    finally:
        await s.close()


async def test_http_1_0_gets_a_close_delimited_stream(server):
    raw = await Raw.open(server.port)
    try:
        await raw.send(b"GET /sse HTTP/1.0\r\n\r\n")
        head = await raw.read_head()
        assert b"200 OK" in head and b"chunked" not in head.lower()
        conn = conn_for_port(server, raw.local_port)
        await wait_until(lambda: sum(isinstance(e, wire.SseEvent) and e.event.dispatched
                                     for e in conn.events) >= 2, what="two events in the tap")
        assert all(e.framing_size == 0 for e in conn.events if isinstance(e, wire.SseEvent))
    finally:
        await raw.close()


async def test_last_event_id_resumes_without_gaps_or_duplicates(server):
    first = await RawStream.open(server.port, "/sse")
    try:
        seen = seqs(await first.until(3))
    finally:
        await first.close()
    await wait_until(lambda: server.app_state.feed.seq >= seen[-1] + 3, what="the feed to move on")
    # The header wins over ?since= (EventSource keeps the first URL when it reconnects).
    again = await RawStream.open(server.port, "/sse?since=0", f"Last-Event-ID: {seen[-1]}")
    try:
        resumed = seqs(await again.until(4))
        assert resumed[0] == seen[-1] + 1
        assert resumed == list(range(resumed[0], resumed[0] + len(resumed)))
        assert not [e for e in again.events if e.type in ("gap", "reset")]
    finally:
        await again.close()
    # ?since= alone (a first connection that knows where it is)
    since = await RawStream.open(server.direct_port, f"/sse?since={seen[0]}")
    try:
        assert seqs(await since.until(3))[:3] == [seen[0] + 1, seen[0] + 2, seen[0] + 3]
    finally:
        await since.close()


async def test_an_id_too_old_says_gap_and_an_id_from_the_future_says_reset(server):
    feed = server.app_state.feed
    for _ in range(feed.history.maxlen + 20):
        feed.publish()
    oldest = feed.history[0]["seq"]
    old = await RawStream.open(server.port, "/sse", "Last-Event-ID: 3")
    try:
        events = await old.until(2)
        assert events[0].type == "gap"
        gap = json.loads(events[0].data)
        assert gap == {"after": 3, "missed": oldest - 4, "first_kept": oldest, "kept": feed.history.maxlen}
        assert seqs(events[1:2]) == [oldest]
    finally:
        await old.close()
    future = feed.seq + 1000  # a client of a server that has since restarted
    ahead = await RawStream.open(server.port, "/sse", f"Last-Event-ID: {future}")
    try:
        events = await ahead.until(2)
        assert events[0].type == "reset"
        reset = json.loads(events[0].data)
        assert reset["last_event_id"] == future and reset["seq"] <= feed.seq
        assert seqs(events[1:2])[0] <= feed.seq  # then the latest update, as on a first connection
    finally:
        await ahead.close()


@pytest.mark.parametrize("query,header", [
    ("since=abc", None), ("since=1e3", None), ("since=nan", None), ("since=1_0", None), ("since=%EF%BC%91", None),
    ("since=" + "9" * 40, None), ("retry=nan", None), ("retry=inf", None), ("retry=-5", None),
    ("retry=1e9", None), ("retry=1.5", None), ("since=-1", None), ("interval=nan", None),
    ("interval=inf", None), ("interval=-1", None), ("interval=1e99", None),
    ("", "Last-Event-ID: abc"), ("", "Last-Event-ID: 1.5"), ("", "Last-Event-ID: 1_0"),
    ("", "Last-Event-ID: " + "9" * 30),
])
async def test_bad_numbers_get_400_naming_the_parameter(server, query, header):
    async with aiohttp.ClientSession() as session:
        headers = dict([header.split(": ")]) if header else {}
        async with session.get(server.http_url(f"/sse?{query}"), headers=headers,
                               timeout=aiohttp.ClientTimeout(total=T)) as resp:
            assert resp.status == 400
            name = (query or header).split("=")[0].split(":")[0]
            assert name in resp.reason and name in await resp.text()
        # the server goes on serving everyone else
        async with session.get(server.http_url("/poll"), timeout=aiohttp.ClientTimeout(total=T)) as resp:
            assert resp.status in (200, 204)


async def test_aiohttp_reads_the_stream_line_by_line(server):
    async with aiohttp.ClientSession() as session:
        async with session.get(server.http_url("/sse?retry=250"), timeout=aiohttp.ClientTimeout(total=T)) as resp:
            assert resp.status == 200 and resp.content_type == "text/event-stream"
            dec = wire.SseDecoder()
            events = []
            while len([e for e in events if e.dispatched]) < 3:
                events += dec.feed(await asyncio.wait_for(resp.content.readline(), T))
            assert dec.retry == 250


async def test_classroom_needs_the_token():
    server = await asyncio.wait_for(wsdemo.serve(classroom=True, ticker_interval_ms=50, show_join=False), T)
    try:
        with pytest.raises(sse.SseRefused) as info:
            await sse.SseClient.open(server.http_url("/sse"), timeout=T)
        assert info.value.status == 403 and b"join token" in info.value.body
        with pytest.raises(sse.SseRefused):
            await sse.SseClient.open(server.http_url("/sse?token=wrong"), timeout=T)
        by_cookie = await sse.SseClient.open(server.http_url("/sse"), timeout=T,
                                             headers={"Cookie": f"wsdemo_token={server.token}"})
        by_query = await sse.connect(server, "/sse", timeout=T)  # adds the token
        try:
            assert json.loads((await by_cookie.next(timeout=T)).data)["seq"] >= 1
            assert json.loads((await by_query.next(timeout=T)).data)["seq"] >= 1
            # the tap shows the stream without the token
            assert "token=*" in by_query.connection.path and server.token not in by_query.connection.path
        finally:
            await by_cookie.close()
            await by_query.close()
    finally:
        await asyncio.wait_for(server.stop(), T)


async def test_the_client_reconnects_with_last_event_id_when_the_stream_ends(server):
    client = await sse.connect(server, "/sse?retry=20", timeout=T)
    try:
        got = [json.loads((await client.next(timeout=T)).data)["seq"] for _ in range(3)]
        assert client.retry == 20
        for stream in list(server.app_state.streams):
            stream.end("going away for a moment")  # the server ends the response cleanly
        got += [json.loads((await client.next(timeout=T)).data)["seq"] for _ in range(5)]
        assert client.reconnects == 1 and len(client.local_addresses) == 2
        assert got == list(range(got[0], got[0] + len(got)))  # no gap, no duplicate
        conns = [c for c in server.tap.connections if c.peer in client.local_addresses]
        assert len(conns) == 2
        resumed = conns[1].request.headers.get("Last-Event-ID")
        assert resumed == str(got[2])
        ended = [e for e in conns[0].events if isinstance(e, wire.SseEnd)]
        assert ended and not [e for e in conns[0].events if isinstance(e, wire.DecodeError)]
    finally:
        await client.close()


async def test_the_client_gives_up_after_its_budget_and_times_out_cleanly(server):
    client = await sse.connect(server, "/sse", timeout=T, max_reconnects=0)
    try:
        await client.next(timeout=T)
        await server.app_state.feed.stop()  # no more updates: the next wait can only time out
        with pytest.raises(asyncio.TimeoutError):
            while True:
                await client.next(timeout=0.2)
        for stream in list(server.app_state.streams):
            stream.end("bye")
        with pytest.raises(sse.SseClosed):
            await client.next(timeout=T)
        assert client.reconnects == 0
    finally:
        await client.close()


async def test_a_reader_that_never_reads_is_disconnected_not_buffered_for_ever(server, caplog):
    state = server.app_state
    state.send_backlog = 64 * 1024
    lazy = await RawStream.open(server.direct_port, "/sse")
    reader = await sse.connect(server, "/sse", timeout=T)
    try:
        await lazy.read()  # the head, then it stops reading
        await wait_until(lambda: len(state.streams) == 2, what="two streams")
        (lazy_handler,) = [h for h in state.streams
                           if h.request.connection.stream.socket.getpeername()[1] == lazy.raw.local_port]
        with caplog.at_level(logging.INFO, logger="wsdemo.apps"):
            for i in range(2000):  # far more than the kernel's socket buffers and the limit
                state.feed.publish(pad="x" * 50_000)
                while True:  # the other reader keeps up
                    try:
                        await reader.next(timeout=0.001)
                    except asyncio.TimeoutError:
                        break
                if lazy_handler not in state.streams:
                    break
                await asyncio.sleep(0)
            else:
                raise AssertionError("the server kept buffering for the reader that does not read")
        assert lazy_handler._backlog <= state.send_backlog + 60_000
        assert any("bytes unread" in r.getMessage() and "65536" in r.getMessage() for r in caplog.records)
        (record,) = state.backpressure_log  # the notebook's record of it
        assert record.path == "/sse" and record.limit == 64 * 1024 and record.buffered > record.limit
        assert record.peer_port == lazy.raw.local_port  # straight to Tornado here, no tap
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # a lesson, not an incident
        # The lazy reader gets what fitted, then the end of the connection.
        while not lazy.ended:
            await lazy.read()
        # Everyone else is still served.
        before = state.feed.publish()["seq"]
        while json.loads((await reader.next(timeout=T)).data)["seq"] < before:
            pass
    finally:
        await reader.close()
        await lazy.close()


async def test_a_stream_is_let_go_when_its_client_leaves(server):
    clients = [await sse.connect(server, "/sse", timeout=T) for _ in range(3)]
    for client in clients:
        await client.next(timeout=T)
    assert len(server.app_state.streams) == 3
    for client in clients:
        await client.close()
    # Tornado learns of it at the next write or two (the feed ticks every 50 ms)
    await wait_until(lambda: not server.app_state.streams, what="the streams to be let go")
    assert len(server.app_state.feed._subscribers) == 0


async def test_an_empty_last_event_id_is_no_position(server):
    s = await RawStream.open(server.port, "/sse", "Last-Event-ID: ")
    try:
        events = await s.until(1)
        assert s.head.status == 200 and events[0].type == "message"
    finally:
        await s.close()


async def test_streams_count_against_the_connection_cap():
    server = await asyncio.wait_for(wsdemo.serve(max_connections=2, ticker_interval_ms=50), T)
    try:
        one = await sse.connect(server, "/sse", timeout=T)
        two = await server.connect("/ticker")
        try:
            with pytest.raises(sse.SseRefused) as info:
                await sse.connect(server, "/sse", timeout=T)
            assert info.value.status == 503 and b"2" in info.value.body
            raw = await Raw.open(server.port)
            await raw.send(b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            assert (await raw.read_head()).startswith(b"HTTP/1.1 503")
            await raw.close()
        finally:
            await one.close()
            await two.close()
    finally:
        await asyncio.wait_for(server.stop(), T)


async def test_stopping_the_server_ends_streams_with_their_last_chunk():
    server = await asyncio.wait_for(wsdemo.serve(ticker_interval_ms=50), T)
    s = await RawStream.open(server.port, "/sse")
    try:
        await s.until(2)
        conn = conn_for_port(server, s.raw.local_port)
        await asyncio.wait_for(server.stop(), T)
        while not s.ended:
            await s.read()
        assert s.body.endswith(b"0\r\n\r\n")
        assert s.events[-1].fields[0].value == " server shutting down"  # a comment keeps its space
        conn.flush()
        assert isinstance([e for e in conn.events if e.sender == "server"][-1], wire.SseEnd)
        assert not [e for e in conn.events if isinstance(e, wire.DecodeError)]
        assert not server.app_state.streams
    finally:
        await s.close()
        await asyncio.wait_for(server.stop(), T)


async def test_the_taps_ring_counts_the_bytes_of_sse_events():
    server = await asyncio.wait_for(wsdemo.serve(ring_bytes=256 * 1024, ticker_interval_ms=60_000), T)
    try:
        client = await sse.connect(server, "/sse", timeout=T)
        try:
            for _ in range(40):  # 2 MB of events, eight times the ring
                server.app_state.feed.publish(pad="x" * 50_000)
                await client.next(timeout=T)
            conn = client.connection
            kept = sum(len(e.raw) for e in conn.events if isinstance(e, wire.SseEvent))
            assert 0 < kept <= 256 * 1024
            assert conn.summary().server.sse_events >= 40  # the totals still count everything
        finally:
            await client.close()
    finally:
        await asyncio.wait_for(server.stop(), T)


async def test_a_silent_stream_gets_keep_alive_comments(monkeypatch):
    from wsdemo.live.apps import sse as sse_app

    monkeypatch.setattr(sse_app, "KEEPALIVE_S", 0.05)
    server = await asyncio.wait_for(wsdemo.serve(ticker_interval_ms=60_000), T)  # a silent feed
    s = await RawStream.open(server.port, "/sse")
    try:
        while len(s.events) < 3:
            await s.read()
        keepalive = s.events[-1]
        assert not keepalive.dispatched and keepalive.raw == b":\n\n"  # 3 bytes, no event fired
    finally:
        await s.close()
        await asyncio.wait_for(server.stop(), T)
