"""A student floods pings or pongs (issue 11 item 5): before, 536,000 control frames in 10 s went
unlimited and a bystander's round trip rose from under 1 ms to 10-33 ms. In classroom mode
control frames count against the per-connection rate limit: past it the flooder gets Close 1008
naming the limit and is dropped; everyone else keeps being served."""

from __future__ import annotations

import asyncio

import pytest

import wsdemo
from wsdemo import wire

from tests.live.conftest import T, Raw, conn_for_port, handshake, messages, wait_until

KEY = b"\x37\xfa\x21\x3d"
BATCH = 1000  # control frames per write
BATCHES = 50  # at most this many: far past any limit, bounded in count


async def flood(raw: Raw, opcode: int) -> bytes:
    """Send control frames in batches until the server hangs up; everything it sent back."""
    received = bytearray()

    async def read() -> None:
        while chunk := await raw.reader.read(65536):
            received.extend(chunk)

    reader = asyncio.ensure_future(read())
    frames = wire.encode_frame(opcode, b"flood", mask_key=KEY) * BATCH
    try:
        for _ in range(BATCHES):
            if reader.done():
                break
            try:
                await raw.send(frames)
            except (ConnectionError, asyncio.TimeoutError):
                break
            await asyncio.sleep(0)
        try:
            await asyncio.wait_for(reader, T)
        except asyncio.TimeoutError:
            pass  # the server never hung up: the caller finds no Close in what came back
    finally:
        reader.cancel()
    return bytes(received)


@pytest.mark.parametrize("opcode", [wire.Opcode.PING, wire.Opcode.PONG])
async def test_a_control_frame_flood_is_closed_with_1008_naming_the_limit(opcode):
    # ring_size: the tap keeps every event of the flood, so the server's Close is still there.
    server = await asyncio.wait_for(wsdemo.serve(classroom=True, rate_limit=20, show_join=False,
                                                 ring_size=50_000), T)
    try:
        bystander = await server.connect("/echo")
        raw = await Raw.open(server.port)
        await raw.send(handshake(f"/echo?token={server.token}"))
        assert (await raw.read_head()).startswith(b"HTTP/1.1 101")
        received = await flood(raw, opcode)
        frames = wire.FrameDecoder().feed(received)
        closes = [f for f in frames if f.opcode == wire.Opcode.CLOSE]
        assert closes, f"no Close after {BATCH * BATCHES} {opcode.name} frames"
        close = wire.Close.parse(closes[0].payload)
        assert close.code == 1008
        assert close.reason == "rate limit: at most 20 messages per second (pings and pongs count)"
        pongs = [f for f in frames if f.opcode == wire.Opcode.PONG]
        assert len(pongs) <= 2 * 20  # the burst allowance, at most, was answered
        conn = conn_for_port(server, raw.local_port)
        await raw.close()
        await wait_until(lambda: not conn.is_open, what="the flooder gone")
        assert [m.close_code for m in messages(conn, "server", "close")] == [1008]
        # The bystander never noticed.
        await bystander.send("still here")
        assert await bystander.recv(timeout=T) == "still here"
        assert await bystander.ping(b"rtt", timeout=T) == b"rtt"
        await bystander.close()
    finally:
        await asyncio.wait_for(server.stop(), T)


async def test_a_few_pings_stay_within_the_limit():
    server = await asyncio.wait_for(wsdemo.serve(classroom=True, rate_limit=20, show_join=False), T)
    try:
        client = await server.connect("/echo")
        for i in range(10):  # within the burst allowance (twice the rate)
            assert await client.ping(f"{i}".encode(), timeout=T) == f"{i}".encode()
        await client.send("and a message")
        assert await client.recv(timeout=T) == "and a message"
        await client.close()
    finally:
        await asyncio.wait_for(server.stop(), T)


async def test_on_loopback_pings_are_not_rate_limited(server):
    # Outside classroom mode the only peers are the learner's own (as for messages).
    raw = await Raw.open(server.port)
    await raw.send(handshake("/echo"))
    assert (await raw.read_head()).startswith(b"HTTP/1.1 101")
    await raw.send(wire.encode_frame(wire.Opcode.PING, b"p", mask_key=KEY) * 500
                   + wire.encode_frame(wire.Opcode.TEXT, b"after the pings", mask_key=KEY))
    decoder, got = wire.FrameDecoder(), []
    while not any(f.opcode == wire.Opcode.TEXT for f in got):
        got += decoder.feed(await asyncio.wait_for(raw.reader.read(65536), T))
    assert not [f for f in got if f.opcode == wire.Opcode.CLOSE]
    await raw.close()
