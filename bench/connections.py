"""What one idle WebSocket costs the server process, through the tap vs straight to Tornado.

For each count N (default 1,000 then 5,000) and each path, a fresh ``python -m wsdemo serve``
process (bench/lab_process.py: the serve command plus a stdin "report" line) is started with
``--max-connections`` and ``--max-links-per-address`` raised past N; this process then opens N
idle WebSockets to /echo (raw asyncio sockets: the handshake, then nothing) and reads, from
/proc/PID of the server:

  memory  (VmRSS after - VmRSS before) / N           per connection
  CPU     (utime+stime after - before) / N           per connection, to open them
  wall    first connect to last 101, and per connection

Through the tap, the server process holds both the tap and Tornado; straight, only Tornado.
What the tap ADDS per connection is (tap path - direct path); the goal is that it adds at most
2x what Tornado itself costs: added <= 2 x direct. Both paths run in the same run, each in its
own fresh server process (memory an earlier phase freed would otherwise be reused by the
next and flatter it), direct first.

Clients come from many loopback addresses (127.0.x.y, bound before connect), --per-address
each (default 4: a page and a few WebSockets per student's browser): that is what a class on
Wi-Fi looks like, one address per device, so the tap's per-address cap stays at its default
and the bench also pays the per-address bookkeeping a class makes it do. Loopback only,
bounded, stops by itself and kills its server.

    .venv/bin/python bench/connections.py [--counts 1000 5000] [--per-address 4]
                                          [--profile K]  # tracemalloc top allocations, tap path
                                          [--cprofile K] # cProfile top functions, tap path
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")
CONCURRENT = 64  # handshakes in flight at once: under the listen backlog (128), no SYN retries
T = 30.0  # seconds any one step may take


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14 and 15)


def source_address(i: int, per_address: int) -> str:
    n = i // per_address  # 127.0.0.2 onwards, skipping .0 and .255 of each /24
    return f"127.{n // 250 // 250 % 250}.{n // 250 % 250}.{2 + n % 250}"


class Lab:
    """The server process: ports from its banner, reports over stdin."""

    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc
        self.tap_port = self.app_port = 0

    @classmethod
    async def start(cls, n: int, trace: int = 0) -> "Lab":
        env = dict(os.environ)
        if trace:
            env["WSDEMO_TRACEMALLOC"] = str(trace)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, os.path.join(HERE, "lab_process.py"), "--port", "0",
            "--max-connections", str(n + 100), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, env=env)
        lab = cls(proc)
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), T)).decode()
            if not line:
                raise RuntimeError("the lab exited before it listened")
            m = re.search(r"tap on [\d.]+:(\d+), app on 127\.0\.0\.1:(\d+)", line)
            if m:
                lab.tap_port, lab.app_port = int(m.group(1)), int(m.group(2))
            if line.startswith("Ctrl-C"):
                return lab

    async def ask(self, command: str) -> dict:
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()
        while True:
            line = (await asyncio.wait_for(self.proc.stdout.readline(), T * 4)).decode()
            if not line:
                raise RuntimeError("the lab exited")
            if line.startswith("REPORT "):
                return json.loads(line[7:])

    async def until(self, check, what: str) -> dict:
        deadline = time.monotonic() + T
        while True:
            report = await self.ask("report")
            if check(report):
                return report
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}: {report}")
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def open_websocket(port: int, source: str, gate: asyncio.Semaphore):
    async with gate:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), T)
        key = base64.b64encode(os.urandom(16))
        writer.write(b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     b"Sec-WebSocket-Version: 13\r\n\r\n" % (port, key))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T)
        if not head.startswith(b"HTTP/1.1 101 "):
            writer.transport.abort()
            raise RuntimeError(f"not upgraded: {head.splitlines()[0]!r}")
        return writer


async def measure(n: int, path: str, per_address: int, profile: int = 0, cprofile: int = 0) -> dict:
    lab = await Lab.start(n, trace=profile)
    writers = []
    try:
        port = lab.tap_port if path == "tap" else lab.app_port
        gate = asyncio.Semaphore(CONCURRENT)
        # Warm up: the first WebSockets import and build what every later one shares.
        warm = [await open_websocket(port, "127.0.0.1", gate) for _ in range(20)]
        for w in warm:
            w.transport.abort()
        await lab.until(lambda r: r["links"] == 0 and r["app_open"] == 0, "warm-up closed")
        await asyncio.sleep(0.3)
        if profile:
            await lab.ask("snapshot")
        if cprofile:
            await lab.ask("cprofile-on")
        pid = lab.proc.pid
        rss0, cpu0, t0 = rss_kib(pid), cpu_seconds(pid), time.perf_counter()
        writers = await asyncio.gather(*(open_websocket(port, source_address(i, per_address), gate)
                                         for i in range(n)))
        wall = time.perf_counter() - t0
        report = await lab.until(lambda r: r["app_open"] == n, f"{n} WebSockets in the app")
        await asyncio.sleep(0.5)  # the tap decodes a moment later (DECODE_DELAY)
        report = await lab.ask("report")
        cpu, rss = cpu_seconds(pid) - cpu0, rss_kib(pid) - rss0
        top = (await lab.ask(f"top {profile}")) if profile else None
        top = top.get("top", [{"kib": 0, "count": 0, "where": [top.get("error")]}]) if top else None
        if cprofile:
            print((await lab.ask(f"cprofile-off {cprofile}"))["text"])
        # Then every client goes at once (a class leaving, a script killed): what closing costs.
        if cprofile:
            await lab.ask("cprofile-on")
        cpu1, t1 = cpu_seconds(pid), time.perf_counter()
        for w in writers:
            w.transport.abort()
        writers = []
        await lab.until(lambda r: r["links"] == 0 and r["app_open"] == 0, "every WebSocket closed")
        close_wall, close_cpu = time.perf_counter() - t1, cpu_seconds(pid) - cpu1
        if cprofile:
            print("closing them all:\n" + (await lab.ask(f"cprofile-off {cprofile}"))["text"])
        return {"n": n, "path": path, "rss_kib": rss, "cpu": cpu, "wall": wall, "report": report,
                "top": top, "close_cpu": close_cpu, "close_wall": close_wall}
    finally:
        for w in writers:
            w.transport.abort()
        await lab.stop()


def fmt_bytes(kib_per_conn: float) -> str:
    return f"{kib_per_conn:6.1f} KiB"


async def main(counts: list[int], per_address: int, profile: int, cprofile: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 5,000 client sockets and more
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"clients: raw asyncio sockets from 127.0.x.y, {per_address} per address; "
          f"each server process fresh; RSS from /proc/PID/status, CPU utime+stime from /proc/PID/stat")
    for n in counts:
        direct = await measure(n, "direct", per_address)
        tap = await measure(n, "tap", per_address, profile, cprofile)
        d_mem, t_mem = direct["rss_kib"] / n, tap["rss_kib"] / n
        d_cpu, t_cpu = direct["cpu"] / n * 1e6, tap["cpu"] / n * 1e6
        added = t_mem - d_mem
        r = tap["report"]
        print(f"\n{n} idle WebSockets to /echo")
        print(f"                        RSS/conn      CPU/conn (server)   wall to open all")
        print(f"  direct to Tornado : {fmt_bytes(d_mem)}   {d_cpu:8.0f} us          "
              f"{direct['wall']:6.2f} s")
        print(f"  through the tap   : {fmt_bytes(t_mem)}   {t_cpu:8.0f} us          "
              f"{tap['wall']:6.2f} s")
        print(f"  ratio tap/direct  :  {t_mem / d_mem:5.2f}x       {t_cpu / d_cpu:5.2f}x"
              f"               {tap['wall'] / direct['wall']:5.2f}x")
        dc, tc = direct["close_cpu"] / n * 1e6, tap["close_cpu"] / n * 1e6
        print(f"  closing them all  : CPU/conn direct {dc:.0f} us, through the tap {tc:.0f} us "
              f"({tc / max(dc, 1e-9):.2f}x); until the server had let every one go: "
              f"{direct['close_wall']:.2f} s direct, {tap['close_wall']:.2f} s through the tap")
        print(f"  the tap adds      : {fmt_bytes(added)} per connection = {added / d_mem:.2f} x "
              f"Tornado's own ({fmt_bytes(d_mem).strip()}); goal <= 2.00x: "
              f"{'met' if added <= 2 * d_mem else 'NOT MET'}")
        print(f"  the tap's rings   : retained_bytes {r['retained_bytes']:,} of budget_bytes "
              f"{r['budget_bytes']:,} ({r['retained_bytes'] / n:,.0f} per connection; "
              f"{'within' if r['retained_bytes'] <= r['budget_bytes'] else 'OVER'} the budget), "
              f"{r['links']} links, caps: {r['max_links']} links, "
              f"{r['max_links_per_address']} per address, {r['max_connections']} in the app")
        if tap["top"]:
            print(f"  tracemalloc, tap path, biggest growth by traceback:")
            for row in tap["top"]:
                print(f"    {row['kib']:9.1f} KiB {row['count']:7d} blocks  " + " < ".join(row["where"]))
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--per-address", type=int, default=4)
    parser.add_argument("--profile", type=int, default=0, metavar="K",
                        help="also show the K biggest allocations on the tap path (tracemalloc: "
                             "slower, and its own overhead is in that run's numbers)")
    parser.add_argument("--cprofile", type=int, default=0, metavar="K",
                        help="print the K functions the server's loop spent most time in, tap path")
    args = parser.parse_args()
    asyncio.run(main(args.counts, args.per_address, args.profile, args.cprofile))
