"""wsdemo.live.keepalive on a real lab: one TCP connection for many requests, a WebSocket
opened by hand, a refusal that says its status."""

from __future__ import annotations

import asyncio
import json

import pytest

import wsdemo
from wsdemo import wire
from wsdemo.live.keepalive import KeepAliveClient, UpgradeRefused, close_writer, open_websocket

from .conftest import T, wait_for_event


async def test_keep_alive_client_asks_twice_on_one_tcp_connection(server):
    http = KeepAliveClient(server.http_url("/"))
    with pytest.raises(RuntimeError, match="not connected"):
        await http.get("/poll", T)
    await http.connect(T)
    try:
        first = await http.get("/poll", T)
        second = await http.get("/poll?since=0", T)
        for answer in (first, second):  # 204 before the feed's first update, 200 with it after
            assert answer.status == 204 or (answer.status == 200 and "seq" in json.loads(answer.body)), answer
        assert "open" in repr(http)
        mine = [c for c in server.tap.connections if c.peer == http.local_address]
        assert len(mine) == 1  # both requests rode the one connection

        def answered_twice(_event) -> bool:
            return sum(isinstance(e, wire.HttpResponse) for e in mine[0].events) == 2

        await wait_for_event(mine[0], answered_twice)
        requests = [e.request.target for e in mine[0].events if isinstance(e, wire.HttpRequest)]
        assert requests == ["/poll", "/poll?since=0"]
    finally:
        await http.close()
    assert "closed" in repr(http)
    await http.close()  # twice is fine


async def test_open_websocket_gets_101_and_the_frames_are_the_callers(server):
    ws = await open_websocket(server.url("/echo"), timeout=T)
    try:
        assert ws.response.status == 101
        ws.writer.write(wire.encode_frame(wire.Opcode.TEXT, b"hi", mask_key=b"\x01\x02\x03\x04"))
        frames = []
        decoder = wire.FrameDecoder()
        while not frames:
            frames = decoder.feed(await asyncio.wait_for(ws.reader.read(1024), T))
        assert frames[0].opcode == wire.Opcode.TEXT and frames[0].payload == b"hi"
        assert any(c.peer == ws.local_address for c in server.tap.connections)
    finally:
        await ws.close()


async def test_a_url_without_a_port_is_refused_before_connecting():
    with pytest.raises(ValueError, match="host and a port"):
        KeepAliveClient("http://127.0.0.1/")
    with pytest.raises(ValueError, match="host and a port"):
        await open_websocket("/echo", timeout=T)


async def test_a_refused_upgrade_raises_with_its_status_and_closes():
    server = await asyncio.wait_for(wsdemo.serve(classroom=True, show_join=False), T)
    try:
        with pytest.raises(UpgradeRefused) as refused:
            await open_websocket(server.url("/echo"), timeout=T)  # no join token
        assert refused.value.status == 403 == refused.value.response.status
    finally:
        await asyncio.wait_for(server.stop(), T)


async def test_close_writer_is_bounded_when_the_peer_is_gone():
    async def hang_up(reader, writer):
        writer.transport.abort()

    listener = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    try:
        port = listener.sockets[0].getsockname()[1]
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), T)
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await close_writer(writer, timeout=1)
        assert loop.time() - start < 1.5
        assert writer.is_closing()
    finally:
        listener.close()
        await asyncio.wait_for(listener.wait_closed(), T)
