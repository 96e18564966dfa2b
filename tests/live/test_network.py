"""Network conditions in the tap (issue 14): delay and bandwidth change only *when* bytes arrive.

Under conditions the tap still never changes the conversation: every byte arrives, in order,
unaltered, and each end (FIN, reset) after the bytes sent before it. Tests check that, and that
the delivery stamps the tap recorded respect the schedule (each chunk handed on no sooner than
its latency allows, in order), never wall-clock durations.
"""

from __future__ import annotations

import asyncio
import sys

import pytest
import websockets

import wsdemo
from wsdemo import Network, wire

from .conftest import T, conn_for_port, handshake, wait_until
from .test_tap_fidelity import SCENARIOS, assert_same, cf, check_recording, close_payload, converse

# Latency, jitter and caps small enough that a test stays quick, large enough to reorder
# chunks if the tap let them overtake each other.
CONDITIONS = Network(latency_ms=15, jitter_ms=10, down_kbps=40_000, up_kbps=40_000)
SLACK = 0.002  # seconds: time.time() stamps are taken a few microseconds apart from the timers


@pytest.fixture
async def slow_server():
    srv = await asyncio.wait_for(wsdemo.serve(ticker_interval_ms=50, network=CONDITIONS), T)
    yield srv
    await asyncio.wait_for(srv.stop(), T)


def check_deliveries(conn, network: Network) -> None:
    """Every recorded chunk was handed on once, in arrival order, no sooner than the smallest
    delay ``network`` allows (latency - jitter)."""
    floor = max(0.0, network.latency_ms - network.jitter_ms) / 1000
    for sender in ("client", "server"):
        chunks = [(at, len(data)) for who, at, data in conn.chunks if who == sender]
        handed = [d for d in conn.deliveries if d.sender == sender]
        assert [(d.at, d.size) for d in handed] == chunks, f"{sender}: not one delivery per chunk"
        times = [d.delivered_at for d in handed]
        assert times == sorted(times), f"{sender}: delivered out of order"
        late = [d.delivered_at - d.at for d in handed]
        assert min(late, default=floor) >= floor - SLACK, f"{sender}: delivered too soon: {min(late)}"


# -- the conversation is the same, only later -------------------------------------------------

@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
async def test_under_network_conditions_the_tap_changes_no_ending(slow_server, scenario):
    # Each scenario ends with the server's Close and the end of the line: through the delayed
    # tap the client must still get every byte, then the same end (EOF or reset) as direct.
    direct = await converse(slow_server.direct_port, scenario)
    tapped = await converse(slow_server.port, scenario)
    if scenario.oversized:
        # The app gives up mid-message and closes: with unread bytes in its buffer that is a
        # reset, with none a FIN. Straight to Tornado the client's burst is always there;
        # arriving later and in steps, it may all have been read by then. Which one is the
        # app's doing, and timing: the tap passes on either. Everything else must be the same.
        tapped.end = direct.end
        tapped.send_failed = direct.send_failed
    assert_same(scenario, direct, tapped)
    await check_recording(slow_server, scenario, tapped)
    if not scenario.oversized:  # (else the server left mid-message: what it never read is dropped)
        check_deliveries(conn_for_port(slow_server, tapped.local_port), CONDITIONS)


async def _stream(port: int, messages: list[bytes], between=None) -> tuple[int, list[bytes], bytes]:
    """Send each message as its own masked text frame, then a Close; read to the end of the line.
    ``between(i)`` runs before message i. Returns (local port, echoed payloads, bytes after the head)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), T)
    local_port = writer.get_extra_info("sockname")[1]
    try:
        writer.write(handshake("/echo"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T)
        assert head.startswith(b"HTTP/1.1 101")
        for i, message in enumerate(messages):
            if between is not None:
                await between(i)
            writer.write(cf(1, message))
            if i % 8 == 0:
                await writer.drain()
                await asyncio.sleep(0.001)  # many separate chunks, not one big write
        writer.write(cf(8, close_payload(1000)))
        received = await asyncio.wait_for(reader.read(), T * 3)
    finally:
        writer.close()
    frames = wire.FrameDecoder(expect_masked=False).feed(received)
    echoes = [f.payload for f in frames if f.opcode == wire.Opcode.TEXT]
    assert frames[-1].opcode == wire.Opcode.CLOSE
    return local_port, echoes, received


async def test_jitter_larger_than_latency_neither_reorders_nor_loses_a_byte(server):
    jittery = Network(latency_ms=1, jitter_ms=40)
    server.tap.network = jittery
    messages = [f"message {i:04d} ".encode() + bytes([65 + i % 26]) * (i % 97) for i in range(400)]
    port, echoes, received = await _stream(server.port, messages)
    assert echoes == messages
    conn = conn_for_port(server, port)
    await wait_until(lambda: not conn.is_open, what="the tap closed the connection")
    assert len([1 for who, _, _ in conn.chunks if who == "client"]) > 20, "too few chunks to tell"
    to_client = b"".join(data for who, _, data in conn.chunks if who == "server")
    assert to_client.endswith(received) and to_client[:-len(received)].startswith(b"HTTP/1.1 101")
    check_deliveries(conn, jittery)


async def test_a_live_change_keeps_order_and_loses_nothing(server):
    # Conditions change three times while bytes are in flight, the last time back to none.
    changes = {60: Network(latency_ms=150, jitter_ms=50), 120: Network(down_kbps=64),
               180: None, 240: Network(latency_ms=5)}

    async def between(i: int) -> None:
        if i in changes:
            server.tap.network = changes[i]

    messages = [f"live {i}".encode() for i in range(300)]
    port, echoes, _ = await _stream(server.port, messages, between)
    assert echoes == messages
    conn = conn_for_port(server, port)
    await wait_until(lambda: not conn.is_open, what="the tap closed the connection")
    times = [d.delivered_at for d in conn.deliveries if d.sender == "client"]
    assert times and times == sorted(times)


async def test_switching_conditions_off_goes_back_to_the_plain_relay(server):
    server.tap.network = "3g"
    async with websockets.connect(server.url("/echo"), compression=None, open_timeout=T) as ws:
        await ws.send("slow")
        assert await asyncio.wait_for(ws.recv(), T) == "slow"
        conn = server.tap.connections[-1]
        held = len(conn.deliveries)
        assert held >= 4  # handshake both ways, then the message both ways
        server.tap.network = None
        await ws.send("fast")
        assert await asyncio.wait_for(ws.recv(), T) == "fast"
        assert len(conn.deliveries) == held  # relayed as it came: nothing held back


async def test_one_client_gets_its_own_network(server):
    own = Network(latency_ms=30)
    slow = await server.connect("/echo", network=own)
    plain = await server.connect("/echo")
    try:
        for client in (slow, plain):
            for i in range(5):
                await client.send(f"hello {i}")
                assert await client.recv(timeout=T) == f"hello {i}"
        assert server.tap.network == Network()  # the others keep the tap's (none)
        assert not plain.connection.deliveries
        handed = [d for d in slow.connection.deliveries]
        assert {d.sender for d in handed} == {"client", "server"}
        # every message frame (5 each way) was held back at least the client's latency
        assert len(handed) >= 10
        assert all(d.delivered_at - d.at >= 0.030 - SLACK for d in handed)
    finally:
        await slow.close()
        await plain.close()


async def test_set_network_names_what_it_cannot_find(server):
    with pytest.raises(LookupError, match="203.0.113.9:1"):
        server.tap.set_network("203.0.113.9:1", "4g")


async def test_straight_to_tornado_nothing_is_added(slow_server):
    async with websockets.connect(slow_server.direct_url("/echo"), compression=None,
                                  open_timeout=T) as ws:
        await ws.send("direct")
        assert await asyncio.wait_for(ws.recv(), T) == "direct"
    assert slow_server.tap.connections == []  # the tap never saw it: nothing delayed it


# -- bad values ---------------------------------------------------------------------------

async def test_bad_conditions_are_refused_and_nothing_changes(server):
    with pytest.raises(ValueError, match="unknown network '5g'; the presets are loopback, lan"):
        await wsdemo.serve(network="5g")
    assert server.running  # a bad value fails before the running server is stopped
    with pytest.raises(ValueError, match="latency_ms must be from 0 to 60000"):
        server.tap.network = Network(latency_ms=-5)
    with pytest.raises(ValueError, match="a network is a wsdemo.Network"):
        server.tap.network = 40
    assert server.tap.network == Network()
    before = len(server.tap.connections)
    with pytest.raises(ValueError, match="unknown network 'dialup'"):
        await server.connect("/echo", network="dialup")
    assert len(server.tap.connections) == before  # refused before connecting
    client = await server.connect("/echo")  # the server still serves
    await client.send("still here")
    assert await client.recv(timeout=T) == "still here"
    await client.close()


# -- the command line ---------------------------------------------------------------------

async def test_cli_network_option():
    bad = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsdemo", "serve", "--network", "5g",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(bad.communicate(), T * 3)
    assert bad.returncode == 2
    assert "argument --network: unknown network '5g'; the presets are loopback, lan, wifi, 4g" in err.decode()

    from .test_cli import serve_command

    async with serve_command("--network", "4g") as (proc, lines):
        assert "  network between clients and the app: 30 ms one way, down 9000 kbps, up 1500 kbps" in lines
        echo = next(line.strip() for line in lines if line.strip().endswith("/echo"))
        async with websockets.connect(echo, open_timeout=T) as ws:
            await ws.send("over 4g")
            assert await asyncio.wait_for(ws.recv(), T) == "over 4g"


async def test_what_the_tap_holds_back_is_bounded_and_flow_control_reaches_the_sender(server):
    # 3 MiB sent as fast as the client can, upward at 3 MB/s behind 200 ms: without a bound
    # the tap would read it all at once and hold it; with one it stops reading from the client.
    from wsdemo.live.sides import MAX_HELD

    server.tap.network = Network(latency_ms=200, up_kbps=24_000)
    messages = [bytes([i]) * 300_000 for i in range(10)]
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            # the most one direction holds (the echoes coming back are held too)
            peak = max([peak, *server.tap.held_by_lane()])
            await asyncio.sleep(0.002)

    watcher = asyncio.ensure_future(watch())
    try:
        port, echoes, _ = await _stream(server.port, messages)
    finally:
        watcher.cancel()
    assert echoes == messages
    await wait_until(lambda: server.tap.held == 0, what="the tap handed everything on")
    assert MAX_HELD // 2 < peak <= MAX_HELD + (256 << 10), peak  # one read past the bound at most


async def test_a_capped_direction_hands_bytes_on_at_its_rate(server):
    # 800 kbps is 100,000 bytes a second: the 20,000-byte echo (plus a 4-byte frame header)
    # is handed on over 0.2 s, and the last of it no sooner; the upward direction is not capped.
    server.tap.network = Network(down_kbps=800)
    async with websockets.connect(server.url("/echo"), compression=None, open_timeout=T) as ws:
        conn = server.tap.connections[-1]
        before = len(conn.chunks)
        await ws.send(b"e" * 20_000)
        assert await asyncio.wait_for(ws.recv(), T) == b"e" * 20_000
        new = list(conn.chunks)[before:]
        echo = [(at, len(data)) for who, at, data in new if who == "server"]
        assert sum(size for _, size in echo) == 20_004
        handed = {(d.at, d.size): d.delivered_at for d in conn.deliveries if d.sender == "server"}
        last = handed[echo[-1]]
        assert last - echo[0][0] >= 20_004 / 100_000 - SLACK
        up = [d for d in conn.deliveries if d.sender == "client" and d.at >= new[0][1]]
        assert up and all(d.delivered_at - d.at < 0.2 for d in up)  # not held at 800 kbps
