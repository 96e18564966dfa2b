#!/usr/bin/env python3
"""How long from_connection takes on a recorded connection of hundreds of frames.

Prints the time to build and render (dot -> SVG) from_connection over a real
recording (handshake + 600 frames fed through ConnectionDecoder), next to the
time for the small fixed websocket() explainer measured in the same run, and
their ratio. Target from issue 5: under a second for hundreds of frames.

    .venv/bin/python bench/diagrams.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wsdemo import diagrams  # noqa: E402
from wsdemo.wire import ConnectionDecoder, Opcode, compute_accept, encode_frame  # noqa: E402

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
MASK = bytes.fromhex("37fa213d")
FRAMES = 600
REPEAT = 5


class Recording:
    def __init__(self):
        self.path, self.opened_at, self.events = "/echo", 0.0, []
        self._dec, self._t = ConnectionDecoder(), 0.0

    def feed(self, sender, data):
        self._t += 0.001
        self.events.extend(self._dec.feed(sender, data, at=self._t))


def recording() -> Recording:
    rec = Recording()
    rec.feed("client", (f"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    rec.feed("server", ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Accept: {compute_accept(KEY)}\r\n\r\n").encode())
    for i in range(FRAMES // 2):
        rec.feed("client", encode_frame(Opcode.TEXT, f"message {i}".encode(), mask_key=MASK))
        rec.feed("server", encode_frame(Opcode.TEXT, f"message {i}".encode()))
    return rec


def best(fn) -> float:
    times = []
    for _ in range(REPEAT):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    rec = recording()
    n = sum(1 for ev in rec.events if type(ev).__name__ in ("FrameEvent", "HttpRequest", "HttpResponse"))
    build = best(lambda: diagrams.from_connection(rec))
    full = best(lambda: diagrams.from_connection(rec).pipe(format="svg"))
    ref = best(lambda: diagrams.websocket().pipe(format="svg"))
    print(f"from_connection over {n} events: build {build * 1000:.1f} ms, build + dot SVG {full * 1000:.1f} ms "
          f"(best of {REPEAT})")
    print(f"reference websocket() explainer + dot SVG: {ref * 1000:.1f} ms")
    print(f"ratio from_connection / reference: {full / ref:.2f}; under one second: {'yes' if full < 1 else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
