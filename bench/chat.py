"""100 chat clients, 20 messages each, through the tap.

Every client (the `websockets` library) joins /chat, then sends its messages
at a steady pace; every client should receive every message. Prints what was
lost (goal: nothing), whether each sender's order was kept at every receiver,
and the p50/p99 delivery latency (send to receive, one clock: same process).
Never asserts.

    .venv/bin/python bench/chat.py [--clients 100] [--messages 20] [--interval 0.5] [--direct]

The clients run on the server's own event loop (as in a notebook), so the
latency includes their work too; ``--direct`` runs the same thing straight to
Tornado afterwards, as a reference measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import time

import websockets

import wsdemo


class GcPauses:
    """Time spent in the garbage collector's full (generation 2) passes: the tap keeps
    every connection's recent events in memory, and each full pass walks all of them
    while the loop (server, tap and clients) stands still."""

    def __init__(self) -> None:
        self.total = self.longest = 0.0
        self.count = 0
        self._start = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._start = time.perf_counter()
        else:
            took = time.perf_counter() - self._start
            self.total += took
            self.longest = max(self.longest, took)
            self.count += 1


async def main(clients: int, count: int, interval: float, direct: bool = False) -> None:
    pauses = GcPauses()
    gc.callbacks.append(pauses)
    cpu_started = time.process_time()
    server = await wsdemo.serve(max_connections=clients + 10, ring_size=200)
    url = server.direct_url("/chat") if direct else server.url("/chat")
    latencies: list[float] = []
    received: dict[int, dict[int, list[int]]] = {}  # receiver -> sender -> seqs in arrival order
    all_joined = asyncio.Event()
    joined = 0

    async def run(me: int, sockets: list) -> None:
        got: dict[int, list[int]] = {}
        received[me] = got
        ws = await websockets.connect(f"{url}?name=c{me}", compression=None, open_timeout=30,
                                      max_queue=None)
        sockets.append(ws)

        async def reader() -> None:
            async for raw in ws:
                event = json.loads(raw)
                if event["type"] != "message":
                    continue
                body = json.loads(event["text"])
                latencies.append(time.time() - body["t"])
                got.setdefault(body["from"], []).append(body["seq"])
                if sum(map(len, got.values())) == clients * count:
                    return

        read = asyncio.create_task(reader())
        nonlocal joined
        joined += 1
        if joined == clients:
            all_joined.set()
        await all_joined.wait()
        await asyncio.sleep(random.uniform(0, interval))  # spread the senders
        for seq in range(count):
            await ws.send(json.dumps({"text": json.dumps({"from": me, "seq": seq, "t": time.time()})}))
            await asyncio.sleep(interval)
        try:
            await asyncio.wait_for(read, 60)
        except asyncio.TimeoutError:
            pass

    sockets: list = []
    started = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(*(run(i, sockets) for i in range(clients))), 300)
    except asyncio.TimeoutError:
        print("(stopped after 300 s)")
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    gc.callbacks.remove(pauses)
    for ws in sockets:
        await ws.close()
    tap_frames = sum(c.summary().server.frames + c.summary().client.frames for c in server.tap.connections)
    await server.stop()

    expected = clients * clients * count
    delivered = sum(len(seqs) for got in received.values() for seqs in got.values())
    in_order = all(seqs == sorted(seqs) for got in received.values() for seqs in got.values())
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    path = "straight to Tornado (reference)" if direct else "through the tap"
    print(f"{clients} chat clients x {count} messages, one every {interval} s each, {path} "
          f"({elapsed:.1f} s, {tap_frames} frames decoded by the tap)")
    print(f"  deliveries   : {delivered} of {expected}; lost {expected - delivered} (goal 0)")
    print(f"  sender order : {'kept at every receiver' if in_order else 'NOT kept'}")
    print(f"  latency      : p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms")
    print(f"  this process : {cpu:.1f} s CPU in {elapsed:.1f} s ({cpu / elapsed:.0%} of one core: "
          f"far below 100% with high latency means other processes held the CPU); {pauses.count} full GC passes, "
          f"{pauses.total * 1000:.0f} ms in all, longest {pauses.longest * 1000:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--direct", action="store_true", help="also run straight to Tornado, for reference")
    args = parser.parse_args()
    asyncio.run(main(args.clients, args.messages, args.interval))
    if args.direct:
        asyncio.run(main(args.clients, args.messages, args.interval, direct=True))
