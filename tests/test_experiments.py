"""compare_polling against a real server, through the real tap; the projection against the
published table. Behaviour only: no wall-clock bound is asserted."""

from __future__ import annotations

import asyncio
import math

import pytest

import wsdemo
from wsdemo import experiments as ex

T = 30.0  # seconds any whole experiment may take before the test fails


@pytest.fixture
async def server():
    srv = await asyncio.wait_for(wsdemo.serve(ticker_interval_ms=1000), T)
    yield srv
    await asyncio.wait_for(srv.stop(), T)


async def test_every_method_gets_every_update_in_order_and_websocket_costs_far_less(server):
    rows = await asyncio.wait_for(ex.compare_polling(server, updates=6, interval_ms=50), T)
    assert [r.method for r in rows] == list(ex.METHODS)
    for r in rows:
        assert r.updates == 6 and len(r.seqs) == 6, r
        assert r.seqs == sorted(set(r.seqs)), f"{r.method} got updates out of order: {r.seqs}"
        assert all(isinstance(x, float) and math.isfinite(x) and x > 0 for x in r.latencies_ms), r
        assert r.median_latency_ms > 0 and r.max_latency_ms >= r.median_latency_ms
        # The per-update figures are the tap's counts of the window, divided.
        assert r.bytes_per_update * r.updates == r.summary.wire_bytes
        assert r.up_bytes_per_update + r.down_bytes_per_update == pytest.approx(r.bytes_per_update)
        assert r.overhead_bytes_per_update + r.payload_bytes_per_update == pytest.approx(r.bytes_per_update)
    short, long, ws = rows["short polling"], rows["long polling"], rows["websocket"]
    # Push: one unmasked server frame per update, 2 header bytes each, nothing from the client.
    assert ws.summary.server.frames == 6 and ws.summary.client.wire_bytes == 0
    assert ws.overhead_bytes_per_update == 2.0
    assert ws.requests_per_update == 0 and ws.header_bytes_per_request is None
    for poll in (short, long):
        assert poll.requests_per_update >= 1
        assert poll.summary.client.frames == 0 and poll.summary.server.http_messages == poll.summary.client.http_messages
        assert poll.header_bytes_per_request > 100  # a request line, Host, ... and the response's head
        assert ws.bytes_per_update * 3 < poll.bytes_per_update
        assert ws.overhead_bytes_per_update * 50 < poll.overhead_bytes_per_update
    # Each method really used its own endpoint through the tap.
    assert [c.path.split("?")[0] for c in short.connections] == ["/poll"]
    assert [c.path.split("?")[0] for c in long.connections] == ["/longpoll"]
    assert [c.path.split("?")[0] for c in ws.connections] == ["/ticker"]
    # The server's own rate is put back.
    assert server.app_state.ticker_interval_ms == 1000
    text = repr(rows)
    assert "short polling" in text and "median latency" in text and "per update seen" in repr(ws)
    # the table says what its per-update figures average over, and shows what was skipped
    assert "per update seen" in text and "skipped" in text.splitlines()[1]


async def test_extra_request_headers_are_counted_on_the_wire(server):
    extra = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
             "Cookie": "session=" + "x" * 100}
    plain = await asyncio.wait_for(ex.compare_polling(server, 3, interval_ms=40, methods=["long polling"]), T)
    heavy = await asyncio.wait_for(ex.compare_polling(server, 3, interval_ms=40, methods=["long polling"],
                                                      headers=extra), T)
    assert [r.method for r in heavy] == ["long polling"]

    def request_head(row):
        s = row.summary
        return s.client.http_head_bytes / s.client.http_messages

    # "User-Agent: wsdemo" is replaced; the Cookie line is new.
    added = len(extra["User-Agent"]) - len("wsdemo") + len("Cookie: ") + len(extra["Cookie"]) + 2
    # since=N grows by a digit now and then; allow for that, nothing more.
    assert request_head(heavy["long polling"]) - request_head(plain["long polling"]) == pytest.approx(added, abs=2)


async def test_bad_arguments_and_a_stopped_server_get_clear_errors(server):
    with pytest.raises(ValueError, match="updates"):
        await ex.compare_polling(server, 0)
    with pytest.raises(ValueError, match="methods"):
        await ex.compare_polling(server, 3, methods=["carrier pigeon"])
    stopped = await asyncio.wait_for(wsdemo.serve(), T)  # replaces (stops) the fixture's server
    await stopped.stop()
    with pytest.raises(RuntimeError, match="not running"):
        await ex.compare_polling(stopped, 3)


async def test_a_run_that_cannot_finish_times_out_cleanly(server):
    # An update every minute: 3 updates cannot arrive within half a second.
    with pytest.raises(asyncio.TimeoutError, match="of 3 updates"):
        await asyncio.wait_for(ex.compare_polling(server, 3, interval_ms=60_000, timeout=0.5), T)
    assert server.app_state.ticker_interval_ms == 1000
    # Every connection the experiment opened is closed again.
    deadline = asyncio.get_running_loop().time() + T
    while any(c.is_open for c in server.tap.connections):
        assert asyncio.get_running_loop().time() < deadline, server.tap.connections
        await asyncio.sleep(0.01)
    # And the server still serves.
    client = await server.connect("/echo")
    await client.send("still here")
    assert await client.recv(timeout=T) == "still here"
    await client.close()


def _row(method: str, **changes) -> ex.PollingResult:
    fields = dict(method=method, updates=10, bytes_per_update=300.0, median_latency_ms=120.0,
                  up_bytes_per_update=100.0, down_bytes_per_update=200.0, overhead_bytes_per_update=230.0,
                  payload_bytes_per_update=70.0, requests_per_update=1.0, header_bytes_per_request=230.0,
                  empty_polls=0, skipped=0, max_latency_ms=200.0)
    fields.update(changes)
    return ex.PollingResult(**fields)


def test_the_table_shows_skipped_updates_and_says_figures_are_per_update_seen():
    # A poller slower than the feed: 10 updates seen, 20 never seen.
    slow = _row("short polling", skipped=20)
    table = ex.table([slow, _row("websocket", requests_per_update=0.0, header_bytes_per_request=None)])
    assert table.header[:3] == ["method", "updates seen", "skipped"]
    assert [r[:3] for r in table.rows] == [["short polling", "10", "20"], ["websocket", "10", "0"]]
    assert "per update seen" in table.title and "skipped" in table.title
    assert "20 skipped" in repr(slow) and "per update seen" in repr(slow)
    assert "skipped" in table._repr_html_()


# ---------------------------------------------------------------- projection

def test_projection_reproduces_the_published_table():
    table = ex.published_table()
    assert [r.clients for r in table] == [1_000, 10_000, 100_000]
    polling = ex.project_bandwidth(ex.PUBLISHED_POLL_BYTES)
    websocket = ex.project_bandwidth(ex.PUBLISHED_FRAME_BYTES)
    for row, p, w in zip(table, polling, websocket):
        assert (p.clients, w.clients) == (row.clients, row.clients)
        assert ex.round_like(p.mbps_binary, row.polling_mbps) == row.polling_mbps
        assert ex.round_like(w.mbps_binary, row.websocket_mbps) == row.websocket_mbps
    # The same figures in the other convention are larger by 2^20 / 10^6.
    assert polling[0].mbps_binary == pytest.approx(871 * 8 * 1000 / 2**20)
    assert polling[0].mbps_decimal == pytest.approx(6.968)
    assert polling[2].mbps_decimal / polling[2].mbps_binary == pytest.approx(2**20 / 10**6)


def test_projection_scales_with_rate_and_rejects_nonsense():
    [p] = ex.project_bandwidth(100, clients=[10], rate_hz=4)
    assert p.mbps_decimal == pytest.approx(10 * 100 * 4 * 8 / 1e6)
    assert "10 clients" in repr(p) and "(2^20)" in repr(p)
    for bad in (-1, float("nan"), "871", True):
        with pytest.raises(ValueError):
            ex.project_bandwidth(bad)
    with pytest.raises(ValueError):
        ex.project_bandwidth(871, rate_hz=0)
    t = ex.projection_table({"polling": 871, "websocket": 2})
    assert "6.97 | 6.65 Mbps" in repr(t) and "0.016 | 0.015 Mbps" in repr(t)
    assert "<table" in t._repr_html_()


def test_round_like_and_ratio_bands():
    assert ex.round_like(6.6452, 6.6) == 6.6
    assert ex.round_like(664.52, 665) == 665
    assert ex.round_like(0.015259, 0.015) == 0.015
    assert ex.round_like(1.52588, 1.526) == 1.526
    assert ex.ratio_band(0.007) == "under 1/100"
    assert ex.ratio_band(0.2) == "under 1/2"
    assert ex.ratio_band(0.05) == "under 1/10"
    assert ex.ratio_band(45) == "10 to 100 times"
    assert ex.ratio_band(1.5) == "1 to 2 times"
    assert ex.ratio_band(5000) == "1000 times or more"
    with pytest.raises(ValueError):
        ex.ratio_band(float("inf"))


# ---------------------------------------------------------------- an independent count

def _http_messages(stream: bytes) -> list[bytes]:
    """Split one direction's raw bytes into whole HTTP messages by hand: the head up to
    the blank line, then Content-Length bytes of body (no wire-layer code involved)."""
    out = []
    while stream:
        end = stream.index(b"\r\n\r\n") + 4
        length = 0
        for line in stream[:end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        out.append(stream[:end + length])
        stream = stream[end + length:]
    return out


def _raw(conn, sender: str) -> bytes:
    return b"".join(data for who, _, data in conn.chunks if who == sender)


def _seq(body: bytes) -> int | None:
    import json
    return json.loads(body)["seq"] if body.strip() else None


async def test_measured_bytes_and_latencies_agree_with_an_independent_count(server):
    """Recount each row's bytes from the raw chunks the tap recorded, splitting the
    streams by hand, and check the latencies against the feed's own clock."""
    import time

    started = time.time()
    rows = await asyncio.wait_for(ex.compare_polling(server, updates=4, interval_ms=100), T)
    finished = time.time()
    for r in rows:
        # latency = client has it - server produced it: positive, and within the run
        assert all(0 < ms < (finished - started) * 1000 for ms in r.latencies_ms), r.latencies_ms
    for method in ("short polling", "long polling"):
        r = rows[method]
        [conn] = r.connections
        requests, responses = _http_messages(_raw(conn, "client")), _http_messages(_raw(conn, "server"))
        assert len(requests) == len(responses) and all(q.startswith(b"GET ") for q in requests)
        seqs = [_seq(resp.split(b"\r\n\r\n", 1)[1]) for resp in responses]
        # the window: after the answer carrying the update just before the first one counted,
        # up to the answer carrying the last one counted
        first, last = seqs.index(r.seqs[0]), seqs.index(r.seqs[-1])
        start = max(i for i in range(first) if seqs[i] is not None)
        window = range(start + 1, last + 1)
        counted = sum(len(requests[i]) + len(responses[i]) for i in window)
        assert r.bytes_per_update * r.updates == counted
        assert r.requests_per_update * r.updates == len(window)
        heads = sum(len(requests[i]) + responses[i].index(b"\r\n\r\n") + 4 for i in window)
        assert r.header_bytes_per_request == pytest.approx(heads / len(window))
        assert [s for s in (seqs[i] for i in window) if s is not None] == r.seqs
        assert r.empty_polls == sum(seqs[i] is None for i in window)
        # skipped: the updates produced after the one that opened the window and never answered
        assert r.skipped == len(set(range(seqs[start] + 1, r.seqs[-1] + 1)) - set(r.seqs))
    r = rows["websocket"]
    [conn] = r.connections
    stream = _raw(conn, "server")
    stream = stream[stream.index(b"\r\n\r\n") + 4:]  # after the 101 head: frames only
    frames = []
    while stream:  # unmasked server frames of under 126 bytes: 2 header bytes, then the payload
        assert stream[1] < 126, "expected small unmasked frames"
        frames.append(stream[:2 + stream[1]])
        stream = stream[2 + stream[1]:]
    texts = [f for f in frames if f[0] == 0x81]
    seqs = [_seq(f[2:]) for f in texts]
    window = texts[seqs.index(r.seqs[0]):seqs.index(r.seqs[-1]) + 1]
    assert r.bytes_per_update * r.updates == sum(len(f) for f in window)
    opened = seqs[seqs.index(r.seqs[0]) - 1]  # the update that opened the window
    assert r.skipped == len(set(range(opened + 1, r.seqs[-1] + 1)) - set(r.seqs)) == 0  # push misses none
    assert r.overhead_bytes_per_update == 2 and r.up_bytes_per_update == 0
    # Latency is "server produced it -> client has it": the tap, between the two, saw each
    # update after the feed's `at` and before the client's latency had run out.
    import json

    from wsdemo import wire
    for r in rows:
        seen = {}
        for e in r.connections[0].events:
            body = (e.response.body if isinstance(e, wire.HttpResponse)
                    else e.frame.payload if isinstance(e, wire.FrameEvent) and e.sender == "server"
                    else e.event.data.encode() if isinstance(e, wire.SseEvent) else b"")
            if body.startswith(b"{"):
                update = json.loads(body)
                seen[update["seq"]] = (update["at"], e.at)
        for seq, ms in zip(r.seqs, r.latencies_ms):
            produced, tapped = seen[seq]
            assert produced <= tapped <= produced + ms / 1000, (r.method, seq, produced, tapped, ms)


# ---------------------------------------------------------------- four methods, network conditions

def _chunked_blocks(stream: bytes) -> list[bytes]:
    """Split a chunked HTTP body by hand into its chunks, each with its own framing
    (size line, data, CRLF), no wire-layer code involved."""
    out = []
    while stream:
        line_end = stream.index(b"\r\n") + 2
        length = int(stream[:line_end].split(b";")[0], 16)
        out.append(stream[:line_end + length + 2])
        stream = stream[line_end + length + 2:]
    return out


@pytest.mark.parametrize("network", [None, "4g"])
async def test_four_methods_under_named_conditions_and_sse_bytes_recounted(server, network):
    before = server.tap.network
    rows = await asyncio.wait_for(ex.compare_polling(server, updates=3, interval_ms=100, network=network), T)
    assert [r.method for r in rows] == list(ex.METHODS) == ["short polling", "long polling",
                                                            "server-sent events", "websocket"]
    label = "loopback" if network is None else network
    assert rows.network == label and all(r.network == label for r in rows)
    assert server.tap.network == before  # the conditions are put back
    text = repr(rows)
    assert text.splitlines()[0].startswith(f"under {label}:") and "90th pct latency" in text
    for r in rows:
        assert r.updates == 3 and r.seqs == sorted(set(r.seqs))
        assert r.overhead_bytes_per_update + r.payload_bytes_per_update == pytest.approx(r.bytes_per_update)
        assert r.median_latency_ms <= r.p90_latency_ms <= r.max_latency_ms
        assert r.tcp_connections == 1 == len(r.connections)
        if network == "4g":  # every update crossed the 30 ms one-way path at least once
            assert min(r.latencies_ms) >= 30, (r.method, r.latencies_ms)
    sse = rows["server-sent events"]
    assert sse.requests_per_update == 0 and sse.summary.client.wire_bytes == 0
    assert sse.summary.server.sse_events == 3
    [conn] = sse.connections
    assert conn.path.split("?")[0] == "/sse"
    # recount from the raw chunks: the 200 head, then one chunk per event block
    stream = _raw(conn, "server")
    head_end = stream.index(b"\r\n\r\n") + 4
    assert sse.setup_bytes == head_end + len(_raw(conn, "client"))  # its request and its answer's head
    blocks = _chunked_blocks(stream[head_end:])
    import json
    seqs = []
    for b in blocks:
        data = [line[6:] for line in b.split(b"\n") if line.startswith(b"data: ")]
        seqs.append(json.loads(data[0])["seq"] if data else None)
    window = blocks[seqs.index(sse.seqs[0]):seqs.index(sse.seqs[-1]) + 1]
    assert sse.bytes_per_update * sse.updates == sum(len(b) for b in window)
    payload = sum(len(line[6:]) for b in window for line in b.split(b"\n") if line.startswith(b"data: "))
    assert sse.payload_bytes_per_update * sse.updates == payload
    ws = rows["websocket"]
    assert ws.overhead_bytes_per_update < sse.overhead_bytes_per_update < rows["long polling"].overhead_bytes_per_update


async def test_short_polling_phase_is_random_by_default_and_locked_on_request(server):
    import random

    async def phase(kind, seed=None):
        rows = await asyncio.wait_for(ex.compare_polling(
            server, updates=2, interval_ms=100, methods=["short polling"], phase=kind,
            rng=None if seed is None else random.Random(seed)), T)
        return rows["short polling"].phase_ms

    locked = [await phase("locked") for _ in range(2)]
    assert locked == [50.0, 50.0]  # half the poll interval, every time
    spread = [await phase("random", seed) for seed in (1, 2, 3)]
    assert all(0 <= p < 100 for p in spread)
    assert len(set(spread)) == 3  # each poller its own offset in its interval
    # the offset is the one drawn, so a seeded run can be repeated
    assert spread[0] == pytest.approx(random.Random(1).uniform(0, 0.1) * 1000)
    with pytest.raises(ValueError, match="phase"):
        await ex.compare_polling(server, 2, phase="sometimes")
    with pytest.raises(ValueError, match="unknown network"):
        await ex.compare_polling(server, 2, network="carrier pigeon")


def _with_setup(row, heads: int, connections: int = 1):
    """A row that opened ``connections`` TCP connections, its stream with ``heads`` bytes of HTTP."""
    row.setup_bytes = heads
    row.tcp_connections = connections
    return row


def test_break_even_against_hand_computed_numbers():
    rows = ex.Comparison([
        _with_setup(_row("short polling", overhead_bytes_per_update=260.0), 0),
        _with_setup(_row("long polling", overhead_bytes_per_update=275.0), 0, connections=3),
        _with_setup(_row("server-sent events", overhead_bytes_per_update=20.0), 230),
        _with_setup(_row("websocket", overhead_bytes_per_update=2.0), 400),
    ])
    even = ex.break_even(rows, tcp_bytes=120)
    # websocket: 120 + 400 = 520 up front, 2 B per update
    # short polling: 120 up front, 260 per update: 520 + 2n <= 120 + 260n from n = 400/258 -> 2
    assert even["short polling"].updates == 2
    assert (even["short polling"].websocket_setup_bytes, even["short polling"].other_setup_bytes) == (520, 120)
    # long polling opened 3 connections (360 B): 520 + 2n <= 360 + 275n from n = 160/273 -> 1
    assert even["long polling"].updates == 1
    # server-sent events: 120 + 230 = 350 up front, 20 per update: 170/18 = 9.4 -> 10
    assert even["server-sent events"].updates == 10
    # without TCP: the exercise's number (handshake / saved per update, rounded up): 400/258 -> 2
    assert ex.break_even(rows, tcp_bytes=0)["short polling"].updates == ex.payback(400, 2, 260) == 2
    # a method cheaper per update than the WebSocket never lets it catch up
    rows[2].overhead_bytes_per_update = 1.0
    assert ex.break_even(rows)["server-sent events"].updates is None
    assert "never" in repr(ex.break_even(rows)) and "updates to pay back" in repr(ex.break_even(rows))


async def test_break_even_on_a_measured_run_agrees_with_the_exercise(server, capsys):
    from wsdemo import exercises
    rows = await asyncio.wait_for(ex.compare_polling(server, updates=3, interval_ms=50), T)
    even = ex.break_even(rows, tcp_bytes=0)
    ws, short = rows["websocket"], rows["short polling"]
    heads = ws.connections[0].summary()
    handshake = heads.client.http_head_bytes + heads.server.http_head_bytes
    assert handshake == ws.setup_bytes > 100  # the Upgrade request and the 101, as the tap counted them
    n = even["short polling"].updates
    assert handshake + n * ws.overhead_bytes_per_update <= n * short.overhead_bytes_per_update
    assert handshake + (n - 1) * ws.overhead_bytes_per_update > (n - 1) * short.overhead_bytes_per_update
    assert exercises.check_payback(n, rows) is True
    # one connection each: counting TCP set-up changes nothing against a keep-alive poller
    assert ex.break_even(rows)["short polling"].updates == n


async def test_head_of_line_pong_waits_behind_the_big_message():
    srv = await asyncio.wait_for(wsdemo.serve(), T)
    try:
        # 40 kB at 800 kbps: 0.4 s of bytes ahead of the pong (small, so the test is quick)
        net = wsdemo.Network(down_kbps=800)
        r = await asyncio.wait_for(ex.head_of_line(srv, 40_000, network=net), T)
        assert r.serialization_s == pytest.approx(40_010 / 100_000)
        assert list(r.pongs) == ["after the message"]
        down = [e for e in r.timeline if e.sender == "server"]
        assert [e.what for e in down] == ["binary", "pong 'after the message'"]
        echo, pong = down
        assert echo.size == 40_000 + 4
        # the pong reached the tap with (or right after) the echo, but is delivered after its last byte
        assert pong.delivered >= echo.delivered >= echo.sent + 0.9 * r.serialization_s
        assert r.pongs["after the message"] >= 0.9 * r.serialization_s

        f = await asyncio.wait_for(ex.head_of_line(srv, 40_000, network=net, fragment=8_000), T)
        assert list(f.pongs) == ["between fragments", "after the message"]
        up = [e.what for e in f.timeline if e.sender == "client"]
        assert up[:3] == ["binary (not final)", "ping 'between fragments'", "continuation (not final)"]
        down = [e for e in f.timeline if e.sender == "server"]
        # the ping the sender put between fragments got its pong before the echo existed;
        # the ping after the message still waits behind the echo's bytes on the one stream
        assert [e.what for e in down] == ["pong 'between fragments'", "binary", "pong 'after the message'"]
        early, echo, late = down
        assert early.delivered < echo.delivered <= late.delivered
        assert f.pongs["between fragments"] < r.serialization_s / 2 < f.pongs["after the message"]

        with pytest.raises(ValueError, match="max_message_size"):
            await ex.head_of_line(srv, 2 << 20)
        with pytest.raises(ValueError, match="fragment"):
            await ex.head_of_line(srv, 1000, fragment=1000)
    finally:
        await asyncio.wait_for(srv.stop(), T)


async def test_the_window_counts_the_updates_seen_even_when_the_tap_sees_them_a_latency_earlier(server):
    # 250 ms one way against an update every 50 ms: when a client has an update, the tap has
    # already recorded the next four. The window holds exactly the frames/events of the
    # updates seen.
    far = wsdemo.Network(latency_ms=250)
    rows = await asyncio.wait_for(ex.compare_polling(server, updates=4, interval_ms=50, network=far,
                                                     methods=["server-sent events", "websocket"]), T)
    assert rows.network == str(far)
    ws, sse = rows["websocket"], rows["server-sent events"]
    assert ws.summary.server.frames == 4 and ws.overhead_bytes_per_update == 2.0
    assert sse.summary.server.sse_events == 4
    for r in rows:
        assert min(r.latencies_ms) >= 250
