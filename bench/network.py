"""How precisely the tap emulates a network: measured figures as ratios to the nominal ones.

The server runs in a subprocess (this file with --serve: ``wsdemo.serve()``, whose tap
conditions the bench changes through the subprocess's stdin); the clients (the `websockets`
library, no compression) run here, on loopback. All in one run:

  * loopback round trip through the tap, no conditions (the base) and straight to Tornado;
  * latency_ms=40: an echo round trip through the tap should be 2 x 40 ms + the base (+-10%);
  * down_kbps=800: a 100,000-byte message from the server should take 1.0 s (+-15%);
  * straight to Tornado under those conditions: nothing should change.

Prints the figures and their ratios; never asserts. Bounded (about 15 s) and stops by itself.

    .venv/bin/python bench/network.py [--rounds 6] [--per-round 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

import websockets

T = 20.0  # seconds any single step may take


# -- the server side (a subprocess) ----------------------------------------------------------

async def serve() -> None:
    import wsdemo

    server = await wsdemo.serve()
    print(f"PORTS {server.port} {server.direct_port}", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():  # "LATENCY_MS DOWN_KBPS|-" until stdin closes
            latency, down = line.decode().split()
            server.tap.network = wsdemo.Network(latency_ms=float(latency),
                                                down_kbps=None if down == "-" else float(down))
            print(f"NETWORK {server.tap.network}", flush=True)
    finally:
        await server.stop()


# -- the client side -------------------------------------------------------------------------

async def round_trips(url: str, n: int, payload: str = "x" * 32) -> list[float]:
    times = []
    async with websockets.connect(url, compression=None, open_timeout=T, max_size=None) as ws:
        for _ in range(n):
            start = time.perf_counter()
            await ws.send(payload)
            await asyncio.wait_for(ws.recv(), T)
            times.append(time.perf_counter() - start)
    return times


async def download_times(url: str, n: int, size: int) -> list[float]:
    """Time from sending ``size`` bytes to having the server's echo of them, in full."""
    times = []
    payload = b"d" * size
    async with websockets.connect(url, compression=None, open_timeout=T, max_size=None) as ws:
        for _ in range(n):
            start = time.perf_counter()
            await ws.send(payload)
            assert len(await asyncio.wait_for(ws.recv(), T)) == size
            times.append(time.perf_counter() - start)
    return times


async def main(rounds: int, per_round: int) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE)
    try:
        words = (await asyncio.wait_for(proc.stdout.readline(), T)).decode().split()
        assert words[:1] == ["PORTS"], words
        tap, direct = (f"ws://127.0.0.1:{port}/echo" for port in words[1:3])

        async def conditions(latency_ms: float, down_kbps: float | None) -> str:
            proc.stdin.write(f"{latency_ms} {'-' if down_kbps is None else down_kbps}\n".encode())
            await proc.stdin.drain()
            return (await asyncio.wait_for(proc.stdout.readline(), T)).decode().strip()

        await round_trips(tap, 50)  # warm up both paths
        await round_trips(direct, 50)
        # Interleaved rounds, so that the load on the machine weighs on each figure alike.
        base_tap, base_direct, lat_tap, lat_direct = [], [], [], []
        for _ in range(rounds):
            await conditions(0, None)
            base_tap += await round_trips(tap, 40)
            base_direct += await round_trips(direct, 40)
            shown = await conditions(40, None)
            lat_tap += await round_trips(tap, per_round)
            lat_direct += await round_trips(direct, 40)
        print(shown)
        size = 100_000
        bw_tap, bw_direct, plain_direct = [], [], []
        for _ in range(3):
            shown = await conditions(0, 800)
            bw_tap += await download_times(tap, 1, size)
            bw_direct += await download_times(direct, 1, size)
            await conditions(0, None)
            plain_direct += await download_times(direct, 1, size)
        print(shown)
        base_tap, base_direct, lat_tap, lat_direct, bw_tap, bw_direct, plain_direct = map(
            statistics.median, (base_tap, base_direct, lat_tap, lat_direct, bw_tap, bw_direct,
                                plain_direct))
        n = rounds * per_round
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), T)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()

    ms = 1e3
    print(f"server in a subprocess, clients here; medians; loopback round trip through the tap "
          f"{base_tap * ms:.2f} ms, straight to Tornado {base_direct * ms:.2f} ms")
    added = lat_tap - base_tap
    print(f"  latency_ms=40, echo round trip through the tap: {lat_tap * ms:7.1f} ms; minus the "
          f"loopback round trip: {added * ms:.1f} ms vs nominal 80.0 ms -> ratio {added / 0.080:.3f}"
          f"   (goal 0.90-1.10, n={n}; the loop's timers wake up to 1 ms late each way)")
    print(f"  down_kbps=800, a {size:,}-byte message from the server: {bw_tap:.3f} s vs nominal "
          f"1.000 s -> ratio {bw_tap / 1.0:.3f}   (goal 0.85-1.15, n=3; includes the upload and "
          f"a loopback round trip)")
    print(f"  straight to Tornado under those conditions: round trip {lat_direct * ms:.2f} ms vs "
          f"{base_direct * ms:.2f} ms without ({(lat_direct - base_direct) / 0.080:+.2%} of the 80 ms "
          f"the tap adds); {size:,}-byte echo {bw_direct * ms:.1f} ms vs {plain_direct * ms:.1f} ms "
          f"without ({(bw_direct - plain_direct) / 1.0:+.2%} of the 1.0 s)   (goal: unchanged)")

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=5, help="round trips at 40 ms per round")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    asyncio.run(serve() if args.serve else main(args.rounds, args.per_round))
