"""What an idle WebSocket costs the tap: its recording state is small, and what only some
connections need (network conditions' delivery times) is allocated when first used.

bench/connections.py measures the whole server process (RSS, CPU) at 1,000 and 5,000; these
tests pin the tap's own share with tracemalloc, which counts allocations, not time.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import os
import tracemalloc
import weakref

import wsdemo
from wsdemo import wire
from wsdemo.live import link, recording, sides, tap

from .conftest import T

N = 200
# Bytes of Python heap per idle WebSocket allocated in the tap and the wire layer (every trace
# with a frame in the tap's modules of wsdemo/live/ or in wsdemo/wire/): the Connection, its rings,
# decoder and redactors, the recorded handshake (heads, events, chunks), the Link and its Sides.
# Measured on CPython 3.11 (tracemalloc, 6 frames): 15,632 before deliveries were allocated
# lazily and the rings got __slots__, 14,253 to 14,329 after. About half is the recorded
# handshake (heads parsed, redacted, stored); the rest is state. The bound leaves room for
# small changes, not for a new per-connection buffer.
MAX_PER_CONNECTION = 15_000


async def open_idle(port: int) -> asyncio.StreamWriter:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), T)
    key = base64.b64encode(os.urandom(16))
    writer.write(b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                 b"Sec-WebSocket-Version: 13\r\n\r\n" % key)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T)
    assert head.startswith(b"HTTP/1.1 101 "), head
    return writer


def tap_heap(snapshot: tracemalloc.Snapshot) -> int:
    mine = snapshot.filter_traces(
        [tracemalloc.Filter(True, module.__file__, all_frames=True) for module in (tap, link, sides, recording)]
        + [tracemalloc.Filter(True, os.path.join(os.path.dirname(wire.__file__), "*"), all_frames=True)])
    return sum(stat.size for stat in mine.statistics("filename"))


async def test_an_idle_websockets_tap_state_stays_under_its_measured_bound():
    server = await wsdemo.serve(max_connections=N + 50)
    writers = []
    tracemalloc.start(6)
    try:
        for w in [await open_idle(server.port) for _ in range(5)]:  # warm up: imports, caches
            w.transport.abort()
        while server.tap.open_links or server.app_state.open_connections:
            await asyncio.sleep(0.05)
        for conn in server.tap.connections:
            conn.flush()
        before = tap_heap(tracemalloc.take_snapshot())
        writers = [await open_idle(server.port) for _ in range(N)]
        while server.app_state.open_connections < N:
            await asyncio.sleep(0.05)
        for conn in server.tap.connections:
            conn.flush()  # the handshakes decoded and recorded, as they will be a moment later
        per_connection = (tap_heap(tracemalloc.take_snapshot()) - before) / N
        assert len([c for c in server.tap.connections if c.is_open]) == N
        # Every one recorded its handshake, in full: small is not empty.
        assert all(c.response is not None and c.response.status == 101
                   for c in server.tap.connections if c.is_open)
        print(f"tap + wire heap per idle WebSocket: {per_connection:,.0f} bytes")
        assert per_connection <= MAX_PER_CONNECTION, per_connection
    finally:
        tracemalloc.stop()
        for w in writers:
            w.transport.abort()
        await server.stop()


async def test_delivery_times_are_kept_only_once_conditions_hold_bytes_back():
    server = await wsdemo.serve()
    try:
        plain = await open_idle(server.port)
        conn = next(c for c in server.tap.connections if c.is_open)
        assert conn._deliveries is None  # nothing held back: no deque for it
        assert len(conn.deliveries) == 0 and conn.deliveries.maxlen == server.tap.ring_size
        plain.transport.abort()
    finally:
        await server.stop()


class _CountingSet(set):
    """A set that counts how often it is walked through."""

    walks = 0

    def __iter__(self):
        _CountingSet.walks += 1
        return super().__iter__()


async def test_opening_a_connection_does_not_walk_every_other_one():
    # The per-address cap counted an address's connections by walking all of them, for every
    # new connection: opening N cost N² (bench/connections.py at 5,000: 2,270 µs of server CPU
    # per connection through the tap before, 1,532 after). Now a count per
    # address is kept; the cap still holds, and frees up as connections close.
    server = await wsdemo.serve(max_links_per_address=3)
    writers = []
    try:
        server.tap._links = _CountingSet(server.tap._links)
        writers = [await open_idle(server.port) for _ in range(3)]
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        refused = await asyncio.wait_for(reader.read(), T)
        assert refused.startswith(b"HTTP/1.1 429 ") and b"the limit is 3 at once" in refused
        writer.close()
        assert _CountingSet.walks == 0
        writers.pop().transport.abort()
        while server.tap.open_links > 2:
            await asyncio.sleep(0.05)
        writers.append(await open_idle(server.port))  # a slot freed: the address may use it
        assert server.tap.links_by_address() == {"127.0.0.1": 3}
    finally:
        for w in writers:
            w.transport.abort()
        await server.stop()
    assert server.tap.links_by_address() == {}


class _CountingList(list):
    """A list that counts how often it is walked through."""

    walks = 0

    def __iter__(self):
        _CountingList.walks += 1
        return super().__iter__()


async def test_closing_a_connection_does_not_walk_every_record():
    # Each close walked every recorded connection to find the closed ones: a class of 5,000
    # leaving at once cost 500-586 µs of server CPU each through the tap, 328 µs now. Now
    # closed records are counted; the oldest still go first past max_closed, and open ones
    # always stay.
    server = await wsdemo.serve()
    writers = []
    try:
        tap = server.tap
        tap.max_closed = 2
        writers = [await open_idle(server.port) for _ in range(6)]
        ids = [c.id for c in tap.connections]
        tap.connections = _CountingList(tap.connections)
        for i in (4, 3):  # under max_closed: no walk at all
            writers[i].transport.abort()
            while tap.open_links > 6 - (5 - i):
                await asyncio.sleep(0.05)
        assert _CountingList.walks == 0
        for i in (5, 1):  # past it: the oldest closed records go, oldest opened first
            writers[i].transport.abort()
        while tap.open_links > 2:
            await asyncio.sleep(0.05)
        kept = [(c.id, c.is_open) for c in tap.connections]
        # Whichever of the two closed first, #3 and #1 (the oldest opened) were let go.
        assert kept == [(ids[0], True), (ids[2], True), (ids[4], False), (ids[5], False)], kept
    finally:
        for w in writers:
            w.transport.abort()
        await server.stop()


async def test_a_record_the_tap_lets_go_of_is_freed_then_not_at_the_next_full_collection():
    # A record kept its connection alive in cycles (its events' and its decoder's `connection`,
    # and its finished link's): records past max_closed, rings and all, waited for a full
    # collection, which then freed a whole class's with the loop stopped (bench/classroom.py:
    # 30-120 ms passes). The collector is off here, so only reference counting can free one.
    server = await wsdemo.serve()
    writers = []
    gc.collect()
    gc.disable()
    try:
        tap = server.tap
        tap.max_closed = 1
        writers = [await open_idle(server.port) for _ in range(3)]
        first = weakref.ref(tap.connections[0])
        for i, w in enumerate(writers):
            w.transport.abort()
            while tap.open_links > 2 - i:
                await asyncio.sleep(0.05)
        assert [c.is_open for c in tap.connections] == [False]
        assert first() is None, gc.get_referrers(first())
        # what the tap still keeps reads as before: its events name their connection
        kept = tap.connections[0]
        assert kept.events and all(e.connection is kept for e in kept.events)
        assert kept.request is not None and kept.events[0].request is kept.request
    finally:
        gc.enable()
        for w in writers:
            w.transport.abort()
        await server.stop()
