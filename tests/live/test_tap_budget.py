"""What the tap keeps is bounded (issue 11): one byte budget across all connections, the
server's message limit, frames counted in what a message keeps, heads redacted once."""

from __future__ import annotations

import asyncio

import websockets

import wsdemo
from wsdemo import wire
from wsdemo.live.recording import event_bytes

from .conftest import T, Raw, client_frame, conn_for_port, handshake, wait_for_event, wait_until


def kept(tap) -> int:
    """What the tap's connections say they keep, added up (the tap keeps a running total)."""
    return sum(c.retained_bytes for c in tap.connections)


async def echo_some(server, n: int, size: int, *, close: bool = True):
    client = await server.connect("/echo")
    for i in range(n):
        await client.send(bytes([i]) * size)
        assert len(await client.recv(timeout=T)) == size
    conn = client.connection
    if close:
        await client.close()
        await wait_until(lambda: not conn.is_open, what="the tap saw it close")
    return client, conn


async def test_one_budget_across_all_connections_closed_ones_trimmed_first():
    budget = 3 << 20
    server = await asyncio.wait_for(wsdemo.serve(tap_budget=budget), T)
    try:
        tap = server.tap
        assert tap.budget_bytes == budget and f"of {budget / (1 << 20):.1f} MiB kept" in repr(tap)
        keeper, kconn = await echo_some(server, 2, 20_000, close=False)  # open all along, little traffic
        closed = [(await echo_some(server, 4, 200_000))[1] for _ in range(12)]  # ~ 4 MB each, in all
        tap_kept = tap.retained_bytes
        assert tap_kept == kept(tap)
        assert budget * 0.5 < tap_kept <= budget
        # Closed connections gave first, the oldest most: the open one lost nothing.
        assert kconn.dropped_events == 0 and len(kconn.events) > 4
        assert closed[0].dropped_events > 0 and len(closed[0].events) < closed[0].summary().client.messages
        assert closed[-1].dropped_events <= closed[0].dropped_events
        assert f"({closed[0].dropped_events} dropped)" in repr(closed[0])
        assert closed[0].summary().client.messages == 5  # counted, though no longer kept (4 + close)
        # A big open connection is then cut down; its newest message stays.
        big, bconn = await echo_some(server, 30, 200_000, close=False)
        assert tap.retained_bytes <= budget and tap.retained_bytes == kept(tap)
        assert bconn.dropped_events > 0
        newest = [e for e in bconn.events if isinstance(e, wire.MessageEvent) and e.sender == "server"]
        assert newest and newest[-1].message.data == bytes([29]) * 200_000
        await keeper.close()
        await big.close()
    finally:
        await asyncio.wait_for(server.stop(), T)


async def test_lowering_the_budget_trims_at_once_and_forgotten_connections_leave_it(server):
    tap = server.tap
    for _ in range(3):
        await echo_some(server, 3, 100_000)
    before = tap.retained_bytes
    assert before == kept(tap) > 600_000
    tap.budget_bytes = 200_000
    assert tap.retained_bytes <= 200_000 and tap.retained_bytes == kept(tap)
    tap.budget_bytes = 256 << 20
    tap.max_closed = 1
    await echo_some(server, 1, 10)  # closing it forgets the oldest recorded connections
    assert len(tap.connections) == 1 and tap.retained_bytes == kept(tap)


async def test_the_tap_decodes_with_the_servers_message_limit():
    # The server refuses a message past max_message_size; the tap must not keep one 16x bigger
    # (a compressed client message inflates: 1 KB on the wire, 1 MiB in memory).
    server = await asyncio.wait_for(wsdemo.serve(max_message_size=64 * 1024, compression=True), T)
    try:
        async with websockets.connect(server.url("/echo"), open_timeout=T, max_size=None) as ws:
            await ws.send(b"\0" * (1 << 20))
            try:
                await asyncio.wait_for(ws.recv(), T)
            except websockets.ConnectionClosed as exc:
                assert exc.rcvd is not None and exc.rcvd.code == 1009  # the server's answer
            else:
                raise AssertionError("the server echoed a message over its limit")
        conn = server.tap.connections[-1]
        err = await wait_for_event(conn, lambda e: isinstance(e, wire.DecodeError) and e.sender == "client")
        assert "exceeds the limit of 65536 bytes" in err.error
        assert not [e for e in conn.events if isinstance(e, wire.MessageEvent)
                    and len(e.message.data) > 64 * 1024]
        assert server.tap.max_message_size == 64 * 1024
    finally:
        await asyncio.wait_for(server.stop(), T)


async def test_a_message_counts_its_frames_in_what_the_ring_keeps(server):
    raw = await Raw.open(server.port)
    await raw.send(handshake("/echo"))
    assert (await raw.read_head()).startswith(b"HTTP/1.1 101")
    n = 1000  # empty continuation frames: 6 bytes each on the wire, a Frame object each here
    await raw.send(client_frame(0x1, b"a", fin=False) + client_frame(0x0, b"", fin=False) * n
                   + client_frame(0x0, b"z"))
    conn = conn_for_port(server, raw.local_port)
    event = await wait_for_event(conn, lambda e: isinstance(e, wire.MessageEvent) and e.sender == "client")
    assert event.message.text == "az" and len(event.message.frames) == n + 2
    assert event_bytes(event) > 150 * n  # not "66 bytes"
    await raw.close()


async def test_a_slow_body_is_not_redacted_and_the_next_head_is(server):
    # Bodies are not heads: they are stored as sent, however slowly they come, and the next
    # head on the same keep-alive connection is redacted again.
    # The app refuses any body (413) and then reads and drops what follows for a moment:
    # everything is sent in that moment, and the tap records it all as the client sent it.
    raw = await Raw.open(server.port)
    body = b"Cookie: in a body ?token=not-a-url " * 30
    await raw.send(b"POST /poll HTTP/1.1\r\nHost: x\r\nCookie: c=SECRET1\r\n"
                   b"Content-Length: %d\r\n\r\n" % len(body))
    for i in range(0, len(body), 100):
        await raw.send(body[i:i + 100])
    await raw.send(b"GET /poll?token=SECRET2 HTTP/1.1\r\nHost: x\r\nCookie: c=SECRET3\r\n\r\n")
    # two requests in one chunk (pipelined), the second one after a body
    await raw.send(b"POST /poll HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
                   b"GET /poll HTTP/1.1\r\nHost: x\r\nCookie: c=SECRET4\r\n\r\n")
    assert (await raw.reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 413 ")
    conn = conn_for_port(server, raw.local_port)
    await wait_until(lambda: sum(isinstance(e, wire.HttpRequest) for e in conn.events) == 4,
                     what="all four requests decoded")
    stored = b"".join(d for s, _, d in conn.chunks if s == "client")
    assert body in stored
    for secret in (b"SECRET1", b"SECRET2", b"SECRET3", b"SECRET4"):
        assert secret not in stored
    assert len(stored) == conn.bytes["client"]
    await raw.close()



class _EventsPerPass:
    """How many events the tap publishes in each pass of the loop: a task that yields at once
    counts the passes, a subscriber counts the events in the current one."""

    def __init__(self, tap):
        self.passes = 0
        self.counts: dict[int, int] = {}
        self._unsubscribe = tap.subscribe(self._seen)
        self._ticker = asyncio.ensure_future(self._tick())

    async def _tick(self):
        while True:
            self.passes += 1
            await asyncio.sleep(0)

    def _seen(self, event):
        self.counts[self.passes] = self.counts.get(self.passes, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def most(self) -> int:
        return max(self.counts.values())

    def stop(self):
        self._ticker.cancel()
        self._unsubscribe()


async def test_a_flood_of_tiny_frames_is_decoded_in_turns_that_let_the_loop_run(server):
    # 64 KiB of empty frames is ~11,000 events: decoded in one go, the loop (the relay, Tornado,
    # every other client) would wait for all of them. A pass of the loop stops near TURN_BUDGET.
    from wsdemo.live.recording import TURN_BUDGET, TURN_SLICE

    raw = await Raw.open(server.port)
    await raw.send(handshake("/echo"))
    assert (await raw.read_head()).startswith(b"HTTP/1.1 101")
    passes = _EventsPerPass(server.tap)
    try:
        # 25 messages of 4,000 frames each (the server, like the tap, refuses a message of more
        # than wire.DEFAULT_MAX_FRAMES with 1009), sent in one write: 100,000 frames.
        message = (client_frame(0x1, b"a", fin=False) + client_frame(0x0, b"", fin=False) * 3_998
                   + client_frame(0x0, b"z"))
        await raw.send(message * 25)
        assert await asyncio.wait_for(raw.reader.readexactly(4 * 25), 60) == b"\x81\x02az" * 25
        # (reading conn.events would decode the rest at once: only the tap's own turns here)
        await wait_until(lambda: passes.total >= 100_000, timeout=60, what="every frame decoded")
    finally:
        passes.stop()
    # a turn may finish the slice it is in: at most TURN_SLICE / 2 more (2-byte frames)
    assert passes.most <= TURN_BUDGET + TURN_SLICE // 2 + 10, passes.most
    await raw.close()


async def test_turns_that_come_due_together_share_one_budget_per_pass_of_the_loop(server):
    # A cursor tick reaches every member at once, so every member's connection comes due for
    # decoding in the same pass of the loop. Together they decode at most TURN_BUDGET events
    # there (a turn may finish the chunk it is in); the rest wait for the next pass.
    from wsdemo.live.recording import TURN_BUDGET

    raws = []
    for _ in range(12):
        raw = await Raw.open(server.port)
        await raw.send(handshake("/echo"))
        assert (await raw.read_head()).startswith(b"HTTP/1.1 101")
        raws.append(raw)
    passes = _EventsPerPass(server.tap)
    try:
        burst = client_frame(0x1, b"hi") * 150  # each: 150 frames and 150 messages, echoed
        for raw in raws:
            raw.writer.write(burst)
        for raw in raws:
            assert await asyncio.wait_for(raw.reader.readexactly(4 * 150), T) == b"\x81\x02hi" * 150
        await wait_until(lambda: passes.total >= 12 * 600, timeout=T, what="every event decoded")
    finally:
        passes.stop()
    # Without the shared budget the 12 turns ran in one or two passes: thousands of events each.
    assert passes.most < TURN_BUDGET + 600, sorted(passes.counts.values())[-5:]
    for raw in raws:
        await raw.close()


async def test_while_nobody_watches_the_chunks_past_the_window_are_passed_a_budget_a_pass(server):
    # A connection nobody watches keeps a window of chunks undecoded and passes (checks and
    # counts) the older ones in the queue's turns: hundreds at once when a burst pushes them
    # out, so they too go at most TURN_BUDGET events a pass of the loop.
    from wsdemo.live.recording import TURN_BUDGET

    server.tap.ring_size = 100  # the window: 100 chunks, passed from 125 on
    raw = await Raw.open(server.port)
    await raw.send(handshake("/echo"))
    assert (await raw.read_head()).startswith(b"HTTP/1.1 101")
    conn = conn_for_port(server, raw.local_port)
    loop = asyncio.get_running_loop()
    passed = []  # the server's messages counted so far, at each pass of the loop

    def tick():
        passed.append(conn._summary.server.messages)
        if len(passed) < 100_000:
            loop.call_soon(tick)

    loop.call_soon(tick)
    n = 600
    raw.writer.write(client_frame(0x1, b"hi") * n)  # echoed in 600 writes: 600 chunks
    assert await asyncio.wait_for(raw.reader.readexactly(4 * n), T) == b"\x81\x02hi" * n
    await wait_until(lambda: conn._summary.server.messages >= n - 125, what="the old chunks passed")
    steps = [b - a for a, b in zip(passed, passed[1:])]
    # each echo is a frame and a message: two events; a turn may finish the chunk it is in
    assert 0 < max(steps) <= TURN_BUDGET // 2 + 1, max(steps)
    assert conn.pending_chunks <= 125
    await raw.close()


async def test_while_the_tap_stays_busy_a_waiting_decode_looks_again_less_and_less_often(server):
    # Under a class's load the tap is never quiet, so pending chunks wait out MAX_DEFER anyway;
    # when the oldest has waited w, the tap's decode queue looks again after w (2, 4, 8... ms),
    # not every DECODE_DELAY.
    import time

    from wsdemo.live.recording import DECODE_DELAY, MAX_DEFER

    raw = await Raw.open(server.port)
    await raw.send(handshake("/echo"))
    assert (await raw.read_head()).startswith(b"HTTP/1.1 101")
    conn = conn_for_port(server, raw.local_port)
    conn.flush()
    queue = server.tap._decoding
    queue.cancel()  # (whatever the handshake left queued)
    loop = asyncio.get_running_loop()
    waits = []
    for waited in (0.004, 0.010, 0.020):
        conn._pending = [("client", time.time() - waited, client_frame(0x1, b"x"))]
        conn._due = True
        queue.due.append(conn)
        server.tap._last_chunk_at = time.time()  # a chunk just went by on some connection: busy
        queue._when_quiet()
        waits.append(queue.timer.when() - loop.time())
        queue.cancel()
    conn._pending = []
    assert waits[0] > DECODE_DELAY / 2 and waits[1] > 3 * DECODE_DELAY and waits[2] > 6 * DECODE_DELAY, waits
    assert all(w <= MAX_DEFER for w in waits), waits
    await raw.close()
