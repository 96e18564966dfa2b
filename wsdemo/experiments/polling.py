"""``compare_polling``: four real clients follow the server's feed at once, each on its own
connection through the tap, and the tap's counts become one row per method."""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable, Sequence

from .. import wire
from ..live import sse
from ..live.keepalive import KeepAliveClient
from ..live.network import Network
from .results import METHODS, PHASES, STREAMS, Comparison, PollingResult
from .tables import network_label

if TYPE_CHECKING:
    from ..live.client import Client
    from ..live.recording import Connection
    from ..live.server import Server
    from ..live.tap import Tap


def _carried_seq(event: object) -> int | None:
    """The feed update's seq an event carries (an HTTP answer, a server frame, an event of
    the stream), or None."""
    if isinstance(event, wire.HttpResponse):
        body = event.response.body
    elif isinstance(event, wire.FrameEvent) and event.sender == "server":
        body = event.frame.payload
    elif isinstance(event, wire.SseEvent) and event.event.dispatched:
        body = event.event.data.encode("utf-8")
    else:
        return None
    if not body.startswith(b"{"):
        return None
    try:
        seq = json.loads(body).get("seq")
    except (ValueError, AttributeError):
        return None
    return seq if isinstance(seq, int) else None


def _window(conn: "Connection", start_seq: int, last_seq: int) -> wire.Summary:
    """The tap's counts of one connection's window: every event after the one that carried
    ``start_seq`` (the warm-up update), up to and including the one that carried ``last_seq``.

    Chosen by content, not by time: under network conditions the tap records bytes when
    they leave their sender, a latency before the client has them, so a snapshot taken
    when the client has an update would already hold the next few."""
    events = list(conn.events)
    start = end = None
    for i, e in enumerate(events):
        seq = _carried_seq(e)
        if seq == start_seq and end is None:
            start = i
        elif seq == last_seq and start is not None:
            end = i
            break
    if start is None or end is None:
        raise RuntimeError(f"the tap's recording of {conn!r} no longer holds updates {start_seq} to {last_seq}")
    return wire.summarize(events[start + 1:end + 1])


def _p90(values: Sequence[float]) -> float:
    """The 90th percentile (inclusive method: within the values measured)."""
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


@dataclass
class _Run:
    method: str
    network: str = "loopback"
    latencies: list[float] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    start_seq: int = 0
    empty: int = 0
    connections: "list[Connection]" = field(default_factory=list)
    summary: wire.Summary | None = None
    phase_ms: float | None = None

    def got(self, update: dict, now: float) -> None:
        self.seqs.append(update["seq"])
        self.latencies.append((now - update["at"]) * 1000)

    def result(self) -> PollingResult:
        n = len(self.seqs)
        s = self.summary
        if s is None:  # set when the run has its last update
            raise RuntimeError(f"{self.method}: the run ended before its window was counted")
        requests = s.client.http_messages
        heads = s.client.http_head_bytes + s.server.http_head_bytes
        overhead = (heads + s.client.framing_bytes + s.server.framing_bytes
                    + s.client.sse_overhead_bytes + s.server.sse_overhead_bytes)
        payload = (s.client.http_body_bytes + s.server.http_body_bytes
                   + s.client.payload_bytes + s.server.payload_bytes
                   + s.client.sse_payload_bytes + s.server.sse_payload_bytes)
        # the request that opened each stream, and its answer
        setup = _opening_heads(self.connections) if self.method in STREAMS else 0
        return PollingResult(
            method=self.method, updates=n, bytes_per_update=s.wire_bytes / n,
            median_latency_ms=statistics.median(self.latencies),
            up_bytes_per_update=s.client.wire_bytes / n, down_bytes_per_update=s.server.wire_bytes / n,
            overhead_bytes_per_update=overhead / n, payload_bytes_per_update=payload / n,
            requests_per_update=requests / n,
            header_bytes_per_request=heads / requests if requests else None,
            empty_polls=self.empty, skipped=self.seqs[-1] - self.start_seq - n,
            max_latency_ms=max(self.latencies), p90_latency_ms=_p90(self.latencies), network=self.network,
            tcp_connections=len(self.connections), setup_bytes=setup, phase_ms=self.phase_ms,
            latencies_ms=list(self.latencies), seqs=list(self.seqs),
            summary=s, connections=list(self.connections))


def _opening_heads(connections: "list[Connection]") -> int:
    """The HTTP heads on whole tap connections, both directions: on a stream's connection, the
    request that opened it and its answer (for the WebSocket, the Upgrade and the 101)."""
    total = 0
    for conn in connections:
        s = conn.summary()
        total += s.client.http_head_bytes + s.server.http_head_bytes
    return total


class _Clock:
    def __init__(self, timeout: float, what: str):
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self.what = what

    def left(self, run: _Run, n: int) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise asyncio.TimeoutError(f"{run.method}: {len(run.seqs)} of {n} updates after "
                                       f"{self.timeout:g} s ({self.what})")
        return left


async def _poll(server: "Server", tap: "Tap", run: _Run, n: int, clock: _Clock, fresh_after: int, *, long: bool,
                poll_s: float, hold_s: float, headers: dict[str, str] | None, phase: str = "random",
                rng: random.Random | None = None) -> None:
    rng = rng or random.Random()
    http = KeepAliveClient(server.http_url("/"), headers=headers)
    loop = asyncio.get_running_loop()

    async def ask(since: int | None) -> dict | None:
        if long:
            target = f"/longpoll?timeout={hold_s:g}" + ("" if since is None else f"&since={since}")
        else:
            target = "/poll" + ("" if since is None else f"?since={since}")
        response = await http.get(wire.with_token(target, server.token), clock.left(run, n))
        if response.status == 204:
            return None
        if response.status != 200:
            raise RuntimeError(f"{run.method}: GET {target} answered {response.status} {response.reason}: "
                               f"{response.body[:200]!r}")
        return json.loads(response.body)

    try:
        await http.connect(clock.left(run, n))
        # Warm up: the first update this client sees marks the start of the window.
        first = None
        next_at = loop.time()
        while first is None or first["seq"] <= fresh_after:  # one produced at the rate measured
            first = await ask(None)
            if (first is None or first["seq"] <= fresh_after) and not long:
                next_at += poll_s
                await asyncio.wait_for(asyncio.sleep(max(0.0, next_at - loop.time())), clock.left(run, n))
        conn = tap.connection_from(http.local_address)
        if conn is None:
            raise RuntimeError(f"the tap recorded no connection from {http.local_address}")
        run.connections.append(conn)
        run.start_seq = last = first["seq"]
        # A poller does not know when news comes. Real pages start polling whenever they were
        # opened, so each poller's polls fall at a random offset (phase) after the feed's
        # beat: phase="random" draws one in [0, poll_s) and keeps that lattice, so the
        # latency measured includes where the polls happen to fall. phase="locked" puts
        # them half a poll interval after the beat (the average wait, every time) and
        # re-anchors on each update's own `at`, so the feed's drift cannot slide them.
        locked = phase == "locked"
        offset = poll_s / 2 if locked else rng.uniform(0, poll_s)
        run.phase_ms = None if long else offset * 1000

        def slot_after(update: dict) -> float:
            t = loop.time() + (update["at"] - time.time()) + offset + poll_s
            while t <= loop.time():
                t += poll_s
            return t

        next_at = slot_after(first)
        while len(run.seqs) < n:
            if not long:  # a poll every poll_s
                await asyncio.wait_for(asyncio.sleep(max(0.0, next_at - loop.time())), clock.left(run, n))
            update = await ask(last)
            now = time.time()
            if update is None:
                run.empty += 1
            elif update["seq"] > last:
                run.got(update, now)
                last = update["seq"]
            if locked and update is not None:
                next_at = slot_after(update)
            else:
                next_at += poll_s
                while next_at <= loop.time():  # a late answer: the next slot of the same lattice
                    next_at += poll_s
        run.summary = _window(conn, run.start_seq, last)
    finally:
        await http.close()


async def _follow(run: _Run, n: int, fresh_after: int, next_update: Callable[[], Awaitable[dict]],
                  client: "Client | sse.SseClient", what: str) -> None:
    """A pushed stream of updates (WebSocket or event stream): the stream first sends the latest
    update it has, so wait for one produced at the rate measured; the window starts there."""
    first = await next_update()
    while first["seq"] <= fresh_after:
        first = await next_update()
    conn = client.connection
    if conn is None:
        raise RuntimeError(f"the tap recorded no connection for the {what}")
    run.connections.append(conn)
    run.start_seq = last = first["seq"]
    while len(run.seqs) < n:
        update = await next_update()
        now = time.time()
        if update["seq"] > last:
            run.got(update, now)
            last = update["seq"]
    run.summary = _window(conn, run.start_seq, last)


async def _listen(server: "Server", run: _Run, n: int, clock: _Clock, fresh_after: int) -> None:
    client = await asyncio.wait_for(server.connect("/ticker", timeout=clock.left(run, n)), clock.left(run, n))
    try:
        async def update() -> dict:
            return json.loads(await client.recv(timeout=clock.left(run, n)))

        await _follow(run, n, fresh_after, update, client, "WebSocket client")
    finally:
        await client.close(timeout=2)


async def _stream(server: "Server", run: _Run, n: int, clock: _Clock, fresh_after: int) -> None:
    client = await sse.connect(server, "/sse", timeout=clock.left(run, n), reconnect=False)
    try:
        async def update() -> dict:
            while True:  # only update events carry a seq (a gap or reset notice does not)
                event = await client.next(timeout=clock.left(run, n))
                data = json.loads(event.data)
                if event.type == "message" and "seq" in data:
                    return data

        await _follow(run, n, fresh_after, update, client, "event stream")
    finally:
        await client.close()


async def compare_polling(server: "Server", updates: int = 10, *, network: "Network | str | None" = None,
                          interval_ms: float = 100, poll_ms: float | None = None, hold_s: float = 5.0,
                          methods: Sequence[str] = METHODS, phase: str = "random",
                          headers: dict[str, str] | None = None, timeout: float | None = None,
                          rng: random.Random | None = None) -> Comparison:
    """Follow the server's feed with short polling, long polling, server-sent events and a
    WebSocket at once, until each has ``updates`` new updates; return one measured row per method.

    ``network``: the conditions to measure under (a ``wsdemo.Network`` or a preset name,
    ``wsdemo.NETWORKS``): set on the tap for the run, the previous ones put back after;
    None measures under whatever ``server.tap.network`` is. ``interval_ms``: the feed
    produces an update this often while measuring (the server's previous rate is put back
    afterwards). ``poll_ms``: how often the short poller asks (default: as often as updates
    come). ``phase``: "random" (default) starts the short poller's polls at a random offset
    within its interval, as pages opened at any moment do, so its latency is measured
    rather than set by the schedule; "locked" polls half an interval after each update
    (the average case, every time). ``hold_s``: how long the server may hold a long poll.
    ``headers``: extra request headers for the pollers (try what a browser sends).
    ``timeout``: seconds for the whole run (default: generous for the rates and the
    network given); on expiry an ``asyncio.TimeoutError`` says how far each got.
    """
    if not isinstance(updates, int) or isinstance(updates, bool) or not 1 <= updates <= 10_000:
        raise ValueError(f"updates must be an int from 1 to 10,000, got {updates!r}")
    if isinstance(methods, str):
        methods = [methods]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"methods must be some of {METHODS}, got {list(methods)!r}")
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    if not interval_ms > 0:
        raise ValueError(f"interval_ms must be > 0, got {interval_ms!r}")
    poll_s = (interval_ms if poll_ms is None else poll_ms) / 1000
    if not poll_s > 0:
        raise ValueError(f"poll_ms must be > 0, got {poll_ms!r}")
    conditions = None if network is None else Network.of(network)  # a bad one fails before anything changes
    tap = server.tap
    if tap is None or not server.running:
        raise RuntimeError("the server is not running: start one with server = await wsdemo.serve()")
    old_network = tap.network
    label = network_label(conditions if conditions is not None else old_network)
    effective = conditions if conditions is not None else old_network
    state = server.app_state
    old_interval = state.ticker_interval_ms
    if conditions is not None:
        tap.network = conditions
    state.ticker_interval_ms = interval_ms
    interval_s = state.ticker_interval_ms / 1000  # as the feed clamped it
    fresh_after = state.feed.seq  # updates up to here were produced at the old rate
    if timeout is None:
        # a few round trips of set-up, then each update may wait a poll and a round trip
        rtt = 2 * (effective.latency_ms + effective.jitter_ms) / 1000
        timeout = 10 + 4 * rtt + 3 * (updates + 2) * (max(interval_s, poll_s) + rtt)
    clock = _Clock(timeout, f"the feed every {interval_s * 1000:g} ms, under {label}")
    runs = {m: _Run(m, network=label) for m in METHODS if m in methods}
    jobs = []
    for m, run in runs.items():
        if m == "websocket":
            jobs.append(_listen(server, run, updates, clock, fresh_after))
        elif m == "server-sent events":
            jobs.append(_stream(server, run, updates, clock, fresh_after))
        else:
            jobs.append(_poll(server, tap, run, updates, clock, fresh_after, long=m == "long polling", poll_s=poll_s,
                              hold_s=hold_s, headers=headers, phase=phase, rng=rng))
    try:
        tasks = [asyncio.ensure_future(j) for j in jobs]
        try:
            outcomes = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout + 5)
        except asyncio.TimeoutError:
            outcomes = [asyncio.TimeoutError()]
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        state.ticker_interval_ms = old_interval
        if conditions is not None:
            tap.network = old_network
    errors = [e for e in outcomes if isinstance(e, BaseException)]
    for e in errors:
        if not isinstance(e, asyncio.TimeoutError):
            raise e
    if errors:
        got = ", ".join(f"{r.method} {len(r.seqs)}" for r in runs.values())
        raise asyncio.TimeoutError(f"not every method had {updates} updates within {timeout:g} s "
                                   f"(the feed every {interval_s * 1000:g} ms, under {label}): "
                                   f"got {got} of {updates} updates")
    out = Comparison(run.result() for run in runs.values())
    out.network = label
    return out

