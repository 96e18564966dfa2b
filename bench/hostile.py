"""What crafted traffic makes the tap keep (issue 11, items 6 and 7): bytes sent against bytes
retained by the server process.

Each attack runs against a fresh live lab (``wsdemo.serve(compression=True)``) in a separate
process; the attack clients run here, on loopback. The server process reports its RSS and the
tap's own accounting (``tap.retained_bytes``, when it has one) before and after, once every
attack connection has closed and the tap has decoded everything, its CPU time, and the longest
its event loop was held up. Never asserts; stops by itself (~30 s).

    .venv/bin/python bench/hostile.py [--frames 300000] [--connections 100] [--messages 4]

- continuation flood: one text frame with FIN=0, then FRAMES empty continuation frames
  (6 bytes each, masked), then the final one.
- compressed messages: CONNECTIONS short connections, each sending MESSAGES permessage-deflate
  messages of 1,000,000 zero bytes (about 1 KB each on the wire; the server's limit is 1 MiB).
- slow bodies (item 8, CPU rather than memory): SLOW clients each send a POST body 100 bytes
  at a time with no newline; the server process's CPU time per chunk.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

MiB = 1 << 20


# -- the server process -------------------------------------------------------------------

def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def serve_and_report() -> None:
    """Run the live lab; on each line read from stdin, print one JSON report line."""
    import wsdemo

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await wsdemo.serve(compression=True, show_join=False)
        print(json.dumps({"port": server.port}), flush=True)
        done = loop.create_future()
        stall = [0.0]

        async def watch() -> None:  # the longest the loop went without running this task
            last = time.perf_counter()
            while True:
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                stall[0] = max(stall[0], now - last)
                last = now

        watcher = loop.create_task(watch())

        def report() -> None:
            tap = server.tap
            for conn in tap.connections:
                conn.flush()
            gc.collect()
            cpu = os.times()
            worst, stall[0] = stall[0], 0.0
            print(json.dumps({"rss": _rss(), "cpu": cpu.user + cpu.system, "stall": worst,
                              "retained": getattr(tap, "retained_bytes", None),
                              "budget": getattr(tap, "budget_bytes", None),
                              "open": sum(c.is_open for c in tap.connections),
                              "recorded": len(tap.connections)}), flush=True)

        def read_stdin() -> None:
            for line in sys.stdin:
                loop.call_soon_threadsafe(report)
            loop.call_soon_threadsafe(done.set_result, None)

        threading.Thread(target=read_stdin, daemon=True).start()
        await done
        watcher.cancel()
        await server.stop()

    asyncio.run(main())


class ServerProcess:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=os.environ.copy())
        self.port = json.loads(self.proc.stdout.readline())["port"]

    def report(self) -> dict:
        self.proc.stdin.write("report\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def stop(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- the attacks (clients, here) ------------------------------------------------------------

def _frame(opcode: int, payload: bytes, fin: bool, rsv1: bool = False) -> bytes:
    from wsdemo.wire import encode_frame

    return encode_frame(opcode, payload, fin=fin, rsv1=rsv1, mask_key=b"\x37\xfa\x21\x3d")


async def _handshake(port: int, path: str = "/echo", extensions: str = ""):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    ext = f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else ""
    head = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n").encode()
    writer.write(head)
    answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    assert not extensions or b"permessage-deflate" in answer.lower(), answer
    return reader, writer


async def continuation_flood(port: int, frames: int) -> int:
    reader, writer = await _handshake(port)
    sent = 0
    first = _frame(0x1, b"a", False)
    empty = _frame(0x0, b"", False)
    writer.write(first)
    sent += len(first)
    batch = 10_000
    for i in range(0, frames, batch):
        data = empty * min(batch, frames - i)
        writer.write(data)
        sent += len(data)
        await writer.drain()
    last = _frame(0x0, b"z", True) + _frame(0x8, b"\x03\xe8", True)
    writer.write(last)
    sent += len(last)
    await writer.drain()
    try:  # the echo of "az", then the server's close
        await asyncio.wait_for(reader.read(), 60)
    except asyncio.TimeoutError:
        pass
    writer.close()
    return sent


async def compressed_messages(port: int, connections: int, messages: int) -> int:
    from wsdemo.wire import FrameDecoder, compress_message

    payload = compress_message(bytes(1_000_000))  # about 1 KB
    sent = 0
    for _ in range(connections):
        reader, writer = await _handshake(port, extensions="permessage-deflate")
        frame = _frame(0x2, payload, True, rsv1=True)
        decoder = FrameDecoder(allow_rsv1=True)
        for _ in range(messages):
            writer.write(frame)
            sent += len(frame)
            got = []
            while not got:  # the server's echo, compressed too
                got = decoder.feed(await asyncio.wait_for(reader.read(65536), 10))
        close = _frame(0x8, b"\x03\xe8", True)
        writer.write(close)
        sent += len(close)
        await asyncio.wait_for(reader.read(), 10)
        writer.close()
    return sent


async def slow_bodies(port: int, clients: int, chunks: int) -> int:
    """Each client sends a POST head, then its body 100 bytes at a time, no newline in it."""
    async def one() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = b"POST /poll HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % (100 * chunks)
        writer.write(head)
        for _ in range(chunks):
            writer.write(b"x" * 100)
            await writer.drain()
            await asyncio.sleep(0.001)  # one chunk at a time, as a slow client sends
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        writer.close()
        return len(head) + 100 * chunks

    return sum(await asyncio.gather(*(one() for _ in range(clients))))


def _fmt(n) -> str:
    return "-" if n is None else f"{n / MiB:8.1f} MiB"


def run(name: str, attack, chunks: int = 0) -> None:
    server = ServerProcess()
    try:
        before = server.report()
        t0 = time.perf_counter()
        sent = asyncio.run(attack(server.port))
        took = time.perf_counter() - t0
        time.sleep(0.3)  # let the last closes reach the tap
        after = server.report()
    finally:
        server.stop()
    print(f"{name}: sent {sent / MiB:.1f} MiB in {took:.1f} s")
    print(f"  server RSS      {_fmt(before['rss'])} -> {_fmt(after['rss'])}   "
          f"(+{(after['rss'] - before['rss']) / MiB:.1f} MiB)")
    print(f"  tap keeps       {_fmt(after['retained'])} of a budget of {_fmt(after['budget'])}   "
          f"({after['open']} open / {after['recorded']} recorded connections)")
    cpu = after["cpu"] - before["cpu"]
    per = f", {cpu / chunks * 1e6:.0f} us per 100-byte chunk" if chunks else ""
    print(f"  server CPU      {cpu:.2f} s{per}; longest loop stall {after['stall'] * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=int, default=300_000)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--messages", type=int, default=4)
    parser.add_argument("--slow", type=int, default=6, help="slow-body clients")
    parser.add_argument("--chunks", type=int, default=600, help="100-byte chunks per slow body")
    args = parser.parse_args()
    if args.serve:
        serve_and_report()
        return
    run(f"continuation flood ({args.frames} empty frames in one message)",
        lambda port: continuation_flood(port, args.frames))
    run(f"compressed messages ({args.connections} connections x {args.messages} x 1 MB of zeros)",
        lambda port: compressed_messages(port, args.connections, args.messages))
    run(f"slow bodies ({args.slow} clients x {args.chunks} chunks of 100 bytes, no newline; item 8)",
        lambda port: slow_bodies(port, args.slow, args.chunks), args.slow * args.chunks)


if __name__ == "__main__":
    main()
