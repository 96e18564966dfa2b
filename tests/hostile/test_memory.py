"""Crafted traffic against what the tap keeps (issue 11, items 6 and 7), measured with
tracemalloc in the server's own process: memory that stays allocated once the attack is over,
against the tap's own accounting (``tap.retained_bytes``) and its budget."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import sys
import tracemalloc

import pytest

import wsdemo
from wsdemo import wire
from tests.live.conftest import T, Raw, client_frame, conn_for_port, handshake, wait_for_event, wait_until

MiB = 1 << 20


@pytest.fixture
def traced():
    """Bytes allocated since the test started, still alive (after a collection)."""
    tracemalloc.start()
    gc.collect()
    base = tracemalloc.get_traced_memory()[0]

    def grown() -> int:
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - base

    yield grown
    tracemalloc.stop()


async def test_an_empty_continuation_flood_keeps_little(server, traced):
    # 6 bytes on the wire per frame; the tap used to keep ~250 bytes per frame for ever. The
    # server refuses a message of more than wire.DEFAULT_MAX_FRAMES frames (1009), so the flood
    # comes as many messages just within that limit, then one over it.
    per_message = wire.DEFAULT_MAX_FRAMES - 96
    messages = 25
    errors = []
    server.tap.subscribe(lambda e: errors.append(e) if isinstance(e, wire.DecodeError) else None)
    raw = await Raw.open(server.port)
    await raw.send(handshake("/echo"))
    assert (await raw.read_head()).startswith(b"HTTP/1.1 101")
    message = (client_frame(0x1, b"a", fin=False) + client_frame(0x0, b"", fin=False) * (per_message - 2)
               + client_frame(0x0, b"z"))
    for _ in range(messages):
        await raw.send(message)
    conn = conn_for_port(server, raw.local_port)
    echoes = await asyncio.wait_for(raw.reader.readexactly(4 * messages), 60)
    assert echoes == b"\x81\x02az" * messages  # the server's echoes
    # One message over the limit: the server closes with 1009, the tap says it once.
    await raw.send(client_frame(0x1, b"a", fin=False)
                   + client_frame(0x0, b"", fin=False) * (wire.DEFAULT_MAX_FRAMES + 10))
    close = await asyncio.wait_for(raw.reader.readexactly(2), 60)
    assert close[0] == 0x88
    await raw.close()
    await wait_until(lambda: not conn.is_open, what="the tap saw it close")
    conn.flush()
    over = [e for e in errors if f"more than {wire.DEFAULT_MAX_FRAMES} frames" in e.error]
    assert len(over) == 1 and not over[0].fatal, [e.error for e in errors]  # one, not one per frame
    grown = traced()
    kept = getattr(server.tap, "retained_bytes", 0)
    sent = conn.bytes["client"]
    print(f"tracemalloc: {grown / MiB:.1f} MiB kept for {sent / MiB:.1f} MiB sent; the tap says {kept / MiB:.1f} MiB")
    assert sent > 6 * per_message * messages
    assert grown < 2 * sent + 2 * MiB, f"{grown / MiB:.1f} MiB kept for {sent / MiB:.1f} MiB sent"
    assert grown < 1.5 * kept + MiB, f"the tap says {kept / MiB:.1f} MiB, tracemalloc {grown / MiB:.1f} MiB"


async def _compressed_echoes(port: int, messages: int) -> None:
    """One connection offering permessage-deflate, sending 1 MB of zeros (~1 KB) per message."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), T)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(handshake("/echo", key=key, extra="Sec-WebSocket-Extensions: permessage-deflate\r\n"))
    answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T)
    assert answer.startswith(b"HTTP/1.1 101") and b"permessage-deflate" in answer
    frame = client_frame(0x2, wire.compress_message(bytes(1_000_000)), rsv1=True)
    decoder = wire.FrameDecoder(allow_rsv1=True)
    for _ in range(messages):
        writer.write(frame)
        got = []
        while not got:
            got = decoder.feed(await asyncio.wait_for(reader.read(65536), T))
    writer.write(client_frame(0x8, b"\x03\xe8"))
    await asyncio.wait_for(reader.read(), T)
    writer.close()


async def test_compressed_traffic_over_short_connections_stays_within_the_budget(traced):
    budget = 16 * MiB
    server = await asyncio.wait_for(wsdemo.serve(compression=True), T)
    try:
        server.tap.budget_bytes = budget
        started = traced()  # the server itself
        for _ in range(30):  # ~60 KB on the wire; 60 MB once inflated, twice (echoed)
            await _compressed_echoes(server.port, 2)
        tap = server.tap
        await wait_until(lambda: not any(c.is_open for c in tap.connections), what="all closed")
        for conn in tap.connections:
            conn.flush()
        grown = traced() - started
        kept = getattr(tap, "retained_bytes", 0)
        print(f"tracemalloc: {grown / MiB:.1f} MiB kept; the tap says {kept / MiB:.1f} MiB")
        assert kept <= budget
        assert grown < budget * 1.15 + 2 * MiB, f"{grown / MiB:.1f} MiB kept, budget {budget / MiB:.0f} MiB"
        assert grown < kept * 1.15 + 2 * MiB, f"the tap says {kept / MiB:.1f} MiB, tracemalloc {grown / MiB:.1f} MiB"
        assert sum(c.dropped_events for c in tap.connections) > 0
    finally:
        await asyncio.wait_for(server.stop(), T)


# A server in a process of its own, as `python -m wsdemo serve` or a fresh kernel runs it: its
# allocator's state is not the test runner's. It prints its port, then its resident size and
# the number of chunks its tap keeps for each line it reads.
_SERVER = """
import asyncio, gc, json, os, sys, threading
import wsdemo

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

async def main():
    loop = asyncio.get_running_loop()
    # The app answers a body with 413 and drops what follows for DRAIN_SECONDS: here for long
    # enough that every slow body arrives whole, however loaded the machine.
    import wsdemo.live.apps.bodies
    wsdemo.live.apps.bodies.DRAIN_SECONDS = 60.0
    server = await wsdemo.serve(show_join=False)
    print(json.dumps({"port": server.port}), flush=True)
    done = loop.create_future()

    def report():
        for c in server.tap.connections:
            c.flush()
        gc.collect()
        print(json.dumps({"rss": rss(), "chunks": sum(len(c.chunks) for c in server.tap.connections),
                          "open": sum(c.is_open for c in server.tap.connections)}), flush=True)

    def read():
        for _ in sys.stdin:
            loop.call_soon_threadsafe(report)
        loop.call_soon_threadsafe(done.set_result, None)

    threading.Thread(target=read, daemon=True).start()
    await done
    await server.stop()

asyncio.run(main())
"""


async def test_small_chunks_kept_do_not_pin_their_receive_buffers():
    # asyncio reads into a 256 KiB buffer and shrinks it: a 100-byte chunk kept as read can hold
    # a whole page of memory. tracemalloc cannot see that; the server's resident size can.
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", _SERVER, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE)

    async def report() -> dict:
        proc.stdin.write(b"report\n")
        return json.loads(await asyncio.wait_for(proc.stdout.readline(), T))

    async def slow_body(chunks: int) -> None:
        raw = await Raw.open(port)
        await raw.send(b"POST /poll HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (100 * chunks))
        for _ in range(chunks):
            await raw.send(b"x" * 100)
            await asyncio.sleep(0.001)  # one chunk at a time
        assert (await raw.read_head()).startswith(b"HTTP/1.1 413 ")
        await raw.close()

    try:
        port = json.loads(await asyncio.wait_for(proc.stdout.readline(), T))["port"]
        await slow_body(20)  # warm up
        before = await report()
        await asyncio.gather(*(slow_body(1000) for _ in range(4)))
        after = await report()
        while after["open"]:
            await asyncio.sleep(0.05)
            after = await report()
    finally:
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), T)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
    kept = after["chunks"] - before["chunks"]
    grown = after["rss"] - before["rss"]
    print(f"RSS +{grown / MiB:.1f} MiB for {kept} chunks kept")
    assert kept > 3000
    assert grown < kept * 1024 + MiB, f"RSS +{grown / MiB:.1f} MiB for {kept} small chunks kept"
