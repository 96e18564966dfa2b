"""A class of N students against the lab, from another process: through the tap and direct.

The lab runs in a child process, on its own asyncio loop as in a kernel (``wsdemo.serve()``
plus a probe: a callback due every 50 ms, whose lateness is what a widget or a cell would
feel on that loop). This process drives the students with raw sockets: each keeps a /chat
and a /cursors connection, moves its cursor at 30 Hz and says a chat line every 5 s.
Every payload is stamped (chat: in the text; cursors: x carries the send time, y the
sequence number, both fractions the server passes on), so latency is send to receipt on
one clock. Receipt is when the frame's last byte reached the student's socket (the kernel's
SO_TIMESTAMPNS): what a student on their own machine would see. One process here reads for
all N students, and a tick brings it N frames of N cursors to parse, so when it read a line
can be milliseconds later, for reasons that are not the lab's; that is printed too ("read
here"). For chat, also how long a line took to its first member and to its last (the
fan-out). Cursors are coalesced per tick by the server, so a cursor's "lost" means its
last position did not arrive; chat must arrive whole.

For each N (10, 30, 50 by default), the same N students run through the tap and straight to
Tornado, one after the other on the same server, in rounds (3 by default) that alternate which
goes first, each once the lab is idle again (a class that left is still being recorded for a
moment); the tap's cost is the ratio of the two, each path's rounds pooled. A p99 from one
20-second run is a handful of chat lines (a line reaches all N at once), and on a shared
2-core machine the direct run's own p99 moved between 2.2 and 5.1 ms from one minute to the
next; each round's p99 is printed too.
Prints p50/p99 latency, lost, order, the server process's CPU share, the probe's lateness,
and the load average (the machine may be shared). Never asserts; stops by itself and kills
its child on exit.

    .venv/bin/python bench/classroom.py [--students 10 30 50] [--seconds 10] [--rounds 3] [--tick-hz 20]
                                        [--ring-size 1000]  (serve()'s ring_size)
                                        [--profile FILE]  (cProfile the lab, print its top)
                                        [--cli]  (the lab as `python -m wsdemo serve`, no probe)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import random
import re
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
from typing import NamedTuple

from chat import GcPauses  # bench/chat.py, next to this file

PROBE_MS = 50
CURSOR_HZ = 30
CHAT_EVERY = 5.0


# ---------------------------------------------------------------- the lab (child process)

async def _child(tick_hz: float | None, ring_size: int) -> None:
    import wsdemo

    options = {"ring_size": ring_size} if tick_hz is None else {"cursor_tick_hz": tick_hz, "ring_size": ring_size}
    server = await wsdemo.serve(max_connections=1000, max_links_per_address=1000, **options)
    print(f"wsdemo live lab: tap on 127.0.0.1:{server.port}, app on 127.0.0.1:{server.direct_port}",
          flush=True)
    pauses = GcPauses()
    gc.callbacks.append(pauses)
    loop = asyncio.get_running_loop()
    late: list[float] = []
    due = loop.time() + PROBE_MS / 1000
    last_report = time.time()

    def probe() -> None:
        nonlocal due, last_report
        now = loop.time()
        late.append((now - due) * 1000)
        due = now + PROBE_MS / 1000
        loop.call_at(due, probe)
        if time.time() - last_report >= 1:
            last_report = time.time()
            print(f"probe {last_report:.3f} " + ",".join(f"{v:.1f}" for v in late), flush=True)
            print(f"gc {last_report:.3f} {pauses.count} {pauses.total * 1000:.1f} {pauses.longest * 1000:.1f}",
                  flush=True)
            late.clear()
            if os.environ.get("BENCH_COUNT_OBJECTS"):
                print(f"objects {len(gc.get_objects())}", file=sys.stderr, flush=True)

    loop.call_at(due, probe)
    await asyncio.Event().wait()


def child_main(tick_hz: float | None, ring_size: int, profile: str | None) -> None:
    def run() -> None:
        try:
            asyncio.run(_child(tick_hz, ring_size))
        except KeyboardInterrupt:
            pass

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as Ctrl-C does
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
        try:
            run()
        finally:
            prof.disable()
            prof.dump_stats(profile)
    else:
        run()


# ---------------------------------------------------------------- a raw-socket student

def _frame(text: str) -> bytes:
    """A masked text frame (the mask makes every client frame legal)."""
    payload = text.encode()
    n = len(payload)
    key = os.urandom(4)
    head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n))
    repeated = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")
    return head + key + masked


# The kernel's arrival time of received bytes (Linux, asm-generic/socket.h; SCM_TIMESTAMPNS
# is the same number): a struct timespec with each chunk read by recvmsg.
SO_TIMESTAMPNS = 35
_ANCILLARY = socket.CMSG_SPACE(16)


class Link:
    """One WebSocket on a raw non-blocking socket: handshake, send text, yield received texts,
    each with the time its last byte reached this machine's socket (SO_TIMESTAMPNS). That is
    when a student on their own machine would have it; reading it here may come later, while
    this one process is busy with the other students' frames (``texts`` gives both)."""

    def __init__(self, sock: socket.socket, rest: bytes):
        self.sock = sock
        self.buffer = rest
        self.stamp = time.time()  # the arrival time of the newest bytes in buffer
        self.ended = False
        self.out = b""  # what the socket would not take yet
        self.loop = asyncio.get_running_loop()
        self.wake: asyncio.Future | None = None
        self.loop.add_reader(sock.fileno(), self._readable)

    @classmethod
    async def open(cls, port: int, path: str) -> "Link":
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        await loop.sock_sendall(sock, (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                                       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                       f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            data = await loop.sock_recv(sock, 1 << 16)
            if not data:
                raise RuntimeError("the lab closed the connection during the handshake")
            head += data
        head, rest = head.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"handshake refused: {head[:80]!r}")
        return cls(sock, rest)

    def _readable(self) -> None:
        try:
            data, ancillary, _, _ = self.sock.recvmsg(1 << 16, _ANCILLARY)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data, ancillary = b"", []
        if data:
            self.buffer += data
            self.stamp = time.time()
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    sec, nsec = struct.unpack("qq", value[:16])
                    self.stamp = sec + nsec / 1e9
        else:
            self.ended = True
            self.loop.remove_reader(self.sock.fileno())
        if self.wake is not None and not self.wake.done():
            self.wake.set_result(None)

    def send(self, text: str) -> None:
        frame = _frame(text)
        if self.out:
            self.out += frame
            return
        try:
            sent = self.sock.send(frame)
        except BlockingIOError:
            sent = 0
        except OSError:
            return
        if sent < len(frame):
            self.out = frame[sent:]
            self.loop.add_writer(self.sock.fileno(), self._writable)

    def _writable(self) -> None:
        try:
            sent = self.sock.send(self.out)
        except BlockingIOError:
            return
        except OSError:
            sent = len(self.out)
        self.out = self.out[sent:]
        if not self.out:
            self.loop.remove_writer(self.sock.fileno())

    async def texts(self):
        """(text, arrival) for each received text message (unfragmented, as the lab sends
        them), until the end; arrival is the time.time() its last byte reached the socket."""
        while True:
            buf = self.buffer
            i = 0
            while True:
                if len(buf) - i < 2:
                    break
                b1 = buf[i + 1] & 0x7F
                start = i + 2
                if b1 == 126:
                    if len(buf) - i < 4:
                        break
                    b1 = struct.unpack_from("!H", buf, i + 2)[0]
                    start = i + 4
                elif b1 == 127:
                    if len(buf) - i < 10:
                        break
                    b1 = struct.unpack_from("!Q", buf, i + 2)[0]
                    start = i + 10
                end = start + b1
                if end > len(buf):
                    break
                if buf[i] & 0x0F == 1:
                    yield buf[start:end], self.stamp
                elif buf[i] & 0x0F == 8:
                    return
                i = end
            self.buffer = self.buffer[i:]
            if self.ended:
                return
            self.wake = self.loop.create_future()
            await self.wake

    def close(self) -> None:
        if not self.ended:
            self.loop.remove_reader(self.sock.fileno())
        if self.out:
            self.loop.remove_writer(self.sock.fileno())
        self.sock.close()


# ---------------------------------------------------------------- one run of N students

async def run_class(port: int, n: int, seconds: float) -> dict:
    tag = f"r{random.randrange(1 << 30)}"
    chat_lat: list[float] = []  # send to arrival at the receiver's socket
    chat_read: list[float] = []  # send to this process reading it
    per_line: dict[tuple[int, int], list[float]] = {}  # (sender, seq) -> each member's latency
    cursor_lat: list[float] = []
    chat_got: dict[int, dict[int, list[int]]] = {i: {} for i in range(n)}
    cursor_last: dict[int, dict[int, float]] = {i: {} for i in range(n)}  # receiver -> name -> last y
    cursor_order = [True]
    sent_chat = [0] * n
    last_y: dict[int, float] = {}
    frames_in = [0]
    links: list[Link] = []
    names = {f"{tag}s{i}": i for i in range(n)}

    async def read_chat(me: int, link: Link) -> None:
        got = chat_got[me]
        async for raw, arrival in link.texts():
            frames_in[0] += 1
            event = json.loads(raw)
            if event.get("type") != "message":
                continue
            try:
                body = json.loads(event["text"])
            except ValueError:
                continue
            if body.get("tag") != tag:
                continue
            lag = arrival - body["t"]
            chat_lat.append(lag)
            chat_read.append(time.time() - body["t"])
            per_line.setdefault((body["from"], body["seq"]), []).append(lag)
            got.setdefault(body["from"], []).append(body["seq"])

    async def read_cursors(me: int, link: Link) -> None:
        last = cursor_last[me]
        async for raw, arrival in link.texts():
            frames_in[0] += 1
            event = json.loads(raw)
            kind = event.get("type")
            moves = event["moves"] if kind == "moves" else [event] if kind == "move" else ()
            now = arrival
            for move in moves:
                sender = names.get(move.get("name"))
                if sender is None:
                    continue
                y = move["y"]
                if y < last.get(sender, -1.0):
                    cursor_order[0] = False
                last[sender] = y
                lag = (now % 1000) - move["x"] * 1000  # x: the send time, modulo 1000 s
                cursor_lat.append(lag + 1000 if lag < -500 else lag)

    links_by_student = []
    for i in range(n):
        chat = await Link.open(port, f"/chat?name={tag}s{i}")
        cur = await Link.open(port, f"/cursors?name={tag}s{i}")
        links += [chat, cur]
        links_by_student.append((chat, cur))
    readers = [asyncio.create_task(read_chat(i, c)) for i, (c, _) in enumerate(links_by_student)]
    readers += [asyncio.create_task(read_cursors(i, k)) for i, (_, k) in enumerate(links_by_student)]
    await asyncio.sleep(0.5)  # the join notices go by

    stop_at = time.monotonic() + seconds

    async def student(i: int, chat: Link, cur: Link) -> None:
        await asyncio.sleep(random.uniform(0, 1 / CURSOR_HZ))
        next_chat = time.monotonic() + random.uniform(0, CHAT_EVERY)
        seq = 0
        period = 1 / CURSOR_HZ
        due = time.monotonic()
        while time.monotonic() < stop_at:
            seq += 1
            y = seq / 1e6
            cur.send(json.dumps({"x": (time.time() % 1000) / 1000, "y": y}))
            last_y[i] = y
            if time.monotonic() >= next_chat:
                chat.send(json.dumps({"text": json.dumps(
                    {"tag": tag, "from": i, "seq": sent_chat[i], "t": time.time()})}))
                sent_chat[i] += 1
                next_chat += CHAT_EVERY
            due += period
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    await asyncio.gather(*(student(i, c, k) for i, (c, k) in enumerate(links_by_student)))
    await asyncio.sleep(1.5)  # the last ticks and messages arrive
    for link in links:
        link.close()
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)

    chat_expected = sum(sent_chat) * n
    chat_delivered = sum(len(s) for got in chat_got.values() for s in got.values())
    chat_order = all(s == sorted(s) for got in chat_got.values() for s in got.values())
    # A cursor is lost at a receiver when that mover's last position never arrived there.
    cursor_lost = sum(1 for me in range(n) for sender, y in last_y.items()
                      if sender != me and cursor_last[me].get(sender) != y)
    # Where a fan-out's time goes: the first member's latency, and the last one's.
    return {"chat_lat": chat_lat, "chat_read": chat_read, "cursor_lat": cursor_lat,
            "chat_first": [min(v) for v in per_line.values()],
            "chat_last": [max(v) for v in per_line.values()],
            "chat_lost": chat_expected - chat_delivered, "chat_expected": chat_expected,
            "chat_order": chat_order, "cursor_lost": cursor_lost,
            "cursor_order": cursor_order[0], "frames_in": frames_in[0]}


# ---------------------------------------------------------------- measuring around a run

def cpu_seconds(pid: int) -> float:
    try:
        import psutil

        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    except ImportError:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def settled(pid: int, idle: float = 0.05, most: float = 15.0) -> None:
    """Wait until the lab is (nearly) idle, or ``most`` seconds: a class that left is still
    being recorded for a moment (the tap decodes and logs each closed connection), and that
    work must not fall into the next run, whichever path it takes."""
    started = time.monotonic()
    while time.monotonic() - started < most:
        before = cpu_seconds(pid)
        await asyncio.sleep(0.5)
        if cpu_seconds(pid) - before < idle * 0.5:
            return


def pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return float("nan")
    return statistics.quantiles(values, n=100)[q - 1] * 1000


class Lab:
    def __init__(self, args):
        if args.cli:
            cmd = [sys.executable, "-m", "wsdemo", "serve", "--max-links-per-address", "1000"]
            cmd += ["--cursor-tick-hz", str(args.tick_hz)] if args.tick_hz else []
        else:
            cmd = [sys.executable, os.path.abspath(__file__), "--child",
                   "--tick-hz", str(args.tick_hz), "--ring-size", str(args.ring_size)] + (["--profile", args.profile] if args.profile else [])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=None if os.environ.get("BENCH_COUNT_OBJECTS") else subprocess.DEVNULL, text=True)
        self.probe: list[tuple[float, list[float]]] = []
        self.gc: list[tuple[float, int, float, float]] = []  # the child's running totals
        for line in self.proc.stdout:
            m = re.search(r"tap on [^:]+:(\d+), app on [^:]+:(\d+)", line)
            if m:
                self.tap_port, self.direct_port = int(m[1]), int(m[2])
                break
        else:
            raise RuntimeError("the lab did not start")

    async def follow(self) -> None:
        """Collect the probe's lines (the child prints one a second)."""
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, self.proc.stdout.readline)
            if not line:
                return
            if line.startswith("probe "):
                _, at, values = line.split(" ", 2)
                self.probe.append((float(at), [float(v) for v in values.split(",") if v.strip()]))
            elif line.startswith("gc "):
                _, at, count, total, longest = line.split()
                self.gc.append((float(at), int(count), float(total), float(longest)))

    def lateness(self, start: float, end: float) -> list[float]:
        return [v for at, vs in self.probe if start <= at <= end + 1 for v in vs]

    def gc_pauses(self, start: float, end: float) -> str:
        """Full GC passes in the lab during [start, end]: count, total ms, longest ms."""
        inside = [g for g in self.gc if start <= g[0] <= end + 1]
        before = [g for g in self.gc if g[0] < start]
        if not inside:
            return "gc n/a"
        c0, t0 = (before[-1][1], before[-1][2]) if before else (0, 0.0)
        longest = max(g[3] for g in inside)  # the child's longest so far, all runs
        return f"gc2 {inside[-1][1] - c0} passes {inside[-1][2] - t0:.0f} ms (longest so far {longest:.0f})"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Run(NamedTuple):
    """One path's run (or its rounds pooled): what format_row prints, and how long it took."""

    result: dict
    cpu: float  # the server process's share of a core
    mine: float  # this (the students') process's share
    load: float
    late: list[float]  # the probe's lateness, ms
    wall: float


def pooled(runs: list[Run]) -> Run:
    """One path's rounds as one run: latencies pooled, counts summed, CPU shares and load
    averaged over the time they took."""
    merged: dict = {}
    for key in ("chat_lat", "chat_read", "cursor_lat", "chat_first", "chat_last"):
        merged[key] = [v for r in runs for v in r.result[key]]
    for key in ("chat_lost", "chat_expected", "cursor_lost", "frames_in"):
        merged[key] = sum(r.result[key] for r in runs)
    for key in ("chat_order", "cursor_order"):
        merged[key] = all(r.result[key] for r in runs)
    wall = sum(r.wall for r in runs)
    return Run(merged, sum(r.cpu * r.wall for r in runs) / wall, sum(r.mine * r.wall for r in runs) / wall,
               sum(r.load * r.wall for r in runs) / wall, [v for r in runs for v in r.late], wall)


async def main(args) -> None:
    lab = Lab(args)
    follower = asyncio.ensure_future(lab.follow())
    runs: dict[tuple[int, str], list[Run]] = {}
    try:
        for n in args.students:
            for round_ in range(args.rounds):
                # Tap and direct take turns, each round starting with the other, so that what
                # drifts on this machine meanwhile weighs on both alike.
                paths = [("tap", lab.tap_port), ("direct", lab.direct_port)]
                for path, port in paths if round_ % 2 == 0 else paths[::-1]:
                    await settled(lab.proc.pid)
                    load = os.getloadavg()[0]
                    cpu0, wall0, mine0 = cpu_seconds(lab.proc.pid), time.time(), time.process_time()
                    result = await asyncio.wait_for(run_class(port, n, args.seconds), args.seconds + 60)
                    wall = time.time() - wall0
                    cpu = (cpu_seconds(lab.proc.pid) - cpu0) / wall
                    mine = (time.process_time() - mine0) / wall
                    late = lab.lateness(wall0, wall0 + wall)
                    runs.setdefault((n, path), []).append(Run(result, cpu, mine, load, late, wall))
                    print(f"round {round_ + 1}: " + format_row(n, path, result, cpu, mine, load, late)
                          + " | " + lab.gc_pauses(wall0, wall0 + wall), flush=True)
    finally:
        lab.stop()
        follower.cancel()
    by = {key: pooled(value) for key, value in runs.items()}
    print()
    print(f"all {args.rounds} rounds together ({args.rounds} x {args.seconds:g} s a path):")
    for n in args.students:
        for path in ("tap", "direct"):
            print(format_row(n, path, *by[(n, path)][:5]))
    print()
    print(f"tap cost (tap/direct, same run, all rounds together), tick {args.tick_hz:g} Hz:")
    for n in args.students:
        t, d = by[(n, "tap")], by[(n, "direct")]
        tr, dr = t.result, d.result
        print(f"  {n:3d} students: chat p99 {ratio(pct(tr['chat_lat'], 99), pct(dr['chat_lat'], 99))} "
              f"(read here {ratio(pct(tr['chat_read'], 99), pct(dr['chat_read'], 99))}), "
              f"chat p50 {ratio(pct(tr['chat_lat'], 50), pct(dr['chat_lat'], 50))}, "
              f"cursor p99 {ratio(pct(tr['cursor_lat'], 99), pct(dr['cursor_lat'], 99))}, "
              f"server CPU {ratio(t.cpu, d.cpu)}")
        tap_p99 = [pct(r.result["chat_lat"], 99) for r in runs[(n, "tap")]]
        direct_p99 = [pct(r.result["chat_lat"], 99) for r in runs[(n, "direct")]]
        print(f"       chat p99 in each round: tap {' '.join(f'{v:.1f}' for v in tap_p99)}, "
              f"direct {' '.join(f'{v:.1f}' for v in direct_p99)} ms")
    if args.profile:
        import pstats

        print(f"\nprofile of the lab ({args.profile}), top 25 by own time:")
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(25)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def format_row(n, path, r, cpu, mine, load, late) -> str:
    lq = (f"probe late p50 {pct([v / 1000 for v in late], 50):.1f} p99 {pct([v / 1000 for v in late], 99):.1f}"
          f" max {max(late):.1f} ms" if late else "probe n/a")
    return (f"{n:3d} students {path:6s}: chat p50 {pct(r['chat_lat'], 50):6.1f} p99 {pct(r['chat_lat'], 99):7.1f} ms "
            f"lost {r['chat_lost']}/{r['chat_expected']} order {'kept' if r['chat_order'] else 'BROKEN'} "
            f"(a line's first member p50 {pct(r['chat_first'], 50):.1f}, last p50 {pct(r['chat_last'], 50):.1f} ms; "
            f"read here p99 {pct(r['chat_read'], 99):.1f} ms) | "
            f"cursor p50 {pct(r['cursor_lat'], 50):6.1f} p99 {pct(r['cursor_lat'], 99):7.1f} ms "
            f"last-lost {r['cursor_lost']} order {'kept' if r['cursor_order'] else 'BROKEN'} | "
            f"frames in {r['frames_in']} | server CPU {cpu:4.0%} (students {mine:4.0%}) | {lq} | load {load:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="+", default=[10, 30, 50])
    parser.add_argument("--seconds", type=float, default=10, help="how long each round runs a path")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of tap then direct (alternating which goes first); a p99 "
                             "over one short run is a handful of lines, and this machine drifts")
    parser.add_argument("--tick-hz", type=float, default=20)
    parser.add_argument("--ring-size", type=int, default=1000,
                        help="the tap's ring_size (events kept per connection): what full GC passes walk")
    parser.add_argument("--profile", metavar="FILE")
    parser.add_argument("--cli", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.child:
        child_main(args.tick_hz or None, args.ring_size, args.profile)
    else:
        asyncio.run(main(args))
