"""A stranger on the classroom network, without the join token, tries to lock the class out:
many connections that each hold a slot (half-sent heads, huge slow bodies). A student with
the token still gets in, and the stranger's bodies are refused before they are read."""

from __future__ import annotations

import asyncio
import json

import websockets

import wsdemo
from tests.live.conftest import T, Raw, wait_until

STRANGER = "127.0.0.2"  # another address on this machine's loopback: a second client


async def open_from(port: int, address: str) -> Raw:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0)), T)
    return Raw(reader, writer)


async def test_a_stranger_holding_many_connections_does_not_lock_the_class_out():
    server = await asyncio.wait_for(wsdemo.serve(host="127.0.0.1", classroom=True, show_join=False,
                                                 max_links_per_address=10), T)
    server.tap.max_links = 30  # a small tap, so that a bounded attack could fill it
    held = []
    try:
        # The stranger's share: heads that never end (slowloris), held until the head timeout.
        for _ in range(10):
            raw = await open_from(server.port, STRANGER)
            await raw.send(b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            held.append(raw)
        await wait_until(lambda: server.tap.open_links == 10, what="the stranger's ten connections")
        # Past it, every further connection from that address is refused at once, whatever it sends.
        refused = []
        for i in range(30):
            raw = await open_from(server.port, STRANGER)
            await raw.send(b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\n" if i % 2 else
                           b"POST /chat.html HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Content-Length: 99000000\r\n\r\n" + b"a" * 65536)
            refused.append(raw)
        for raw in refused:
            line = await asyncio.wait_for(raw.reader.readline(), T)
            assert line == b"HTTP/1.1 429 Too Many Requests\r\n"
            await raw.close()
        assert server.tap.open_links == 10

        # From another address a huge body is refused before it is read, token or not.
        other = await open_from(server.port, "127.0.0.3")
        await other.send(b"POST /chat.html HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Length: 99000000\r\n\r\n" + b"a" * 65536)
        assert (await asyncio.wait_for(other.reader.readline(), T)).startswith(b"HTTP/1.1 413 ")
        await other.close()

        # A student with the join link gets in while the stranger holds its connections:
        # the page, and the chat.
        page = await Raw.open(server.port)
        await page.send(f"GET /chat.html?token={server.token} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        assert (await page.read_head()).startswith(b"HTTP/1.1 200 ")
        await page.close()
        async with websockets.connect(server.url(f"/chat?name=Ada&token={server.token}"),
                                      open_timeout=T) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), T))["type"] == "join"
            await ws.send("made it")
            said = json.loads(await asyncio.wait_for(ws.recv(), T))
            assert (said["name"], said["text"]) == ("Ada", "made it")
        assert all(not raw.reader.at_eof() for raw in held)  # still held, all along
    finally:
        for raw in held:
            await raw.close()
        await asyncio.wait_for(server.stop(), T)
