"""What the tap costs: echo round trips through the tap vs straight to Tornado.

Both paths run in the same process and the same run, interleaved in rounds,
with the same client (the `websockets` library, no compression). Prints the
median round trip of each and their ratio (goal: <= 1.5x). Never asserts.

    .venv/bin/python bench/tap.py [--rounds 10] [--per-round 200] [--size 32]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import websockets

import wsdemo


async def round_trips(url: str, n: int, payload: str) -> list[float]:
    times = []
    async with websockets.connect(url, compression=None, open_timeout=10) as ws:
        for _ in range(n):
            start = time.perf_counter()
            await ws.send(payload)
            await asyncio.wait_for(ws.recv(), 10)
            times.append(time.perf_counter() - start)
    return times


async def main(rounds: int, per_round: int, size: int) -> None:
    server = await wsdemo.serve()
    payload = "x" * size
    tapped: list[float] = []
    direct: list[float] = []
    try:
        await round_trips(server.url("/echo"), 50, payload)  # warm up both paths
        await round_trips(server.direct_url("/echo"), 50, payload)
        for _ in range(rounds):
            tapped += await round_trips(server.url("/echo"), per_round, payload)
            direct += await round_trips(server.direct_url("/echo"), per_round, payload)
        events = sum(len(c.events) for c in server.tap.connections)
    finally:
        await server.stop()
    t, d = statistics.median(tapped), statistics.median(direct)
    tq = statistics.quantiles(tapped, n=100)
    dq = statistics.quantiles(direct, n=100)
    print(f"echo round trips, {size}-byte text, {len(tapped)} per path in {rounds} interleaved rounds")
    print(f"  direct to Tornado : median {d * 1e6:7.1f} us   p99 {dq[98] * 1e6:7.1f} us")
    print(f"  through the tap   : median {t * 1e6:7.1f} us   p99 {tq[98] * 1e6:7.1f} us"
          f"   (decoded, events kept in rings: {events})")
    print(f"  ratio tap/direct  : {t / d:.2f}x (median), {tq[98] / dq[98]:.2f}x (p99)   goal <= 1.5x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=200)
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.per_round, args.size))
