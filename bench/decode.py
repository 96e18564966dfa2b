"""Decode speed of wsdemo.wire against wsproto, measured in the same run.

The stream: client-to-server (masked) frames mixing small JSON chat messages with binaries
of 64 KiB and 1 MiB, fed in 4 KiB chunks the way a relay receives them. Each decoder turns
it into complete frames/messages; the figure is the best of several runs.

    .venv/bin/python bench/decode.py

Goals (issue 2): ratio >= 1.0x wsproto; unmasking 1 MiB at >= 200 MB/s.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from wsproto.frame_protocol import FrameProtocol, XorMaskerSimple  # noqa: E402

from wsdemo.wire import (  # noqa: E402
    ConnectionDecoder, FrameDecoder, MessageAssembler, MessageEvent, Opcode, compute_accept, encode_frame, unmask,
)

CHUNK = 4096
ROUNDS = 15


def build_stream(seed: int = 6455) -> tuple[bytes, int]:
    rnd = random.Random(seed)
    names = ["ada", "grace", "linus", "guido", "barbara", "ken"]
    out = []
    messages = 0
    big = [rnd.randbytes(64 * 1024) for _ in range(3)] + [rnd.randbytes(1024 * 1024)]
    for i in range(3000):
        chat = {"type": "chat", "from": rnd.choice(names), "seq": i,
                "text": " ".join(rnd.choice(["hi", "hello", "websocket", "frame", "mask", "ok", "é"])
                                 for _ in range(rnd.randint(2, 12)))}
        out.append(encode_frame(Opcode.TEXT, json.dumps(chat, ensure_ascii=False), mask_key=rnd.randbytes(4)))
        messages += 1
        if i % 100 == 50:
            out.append(encode_frame(Opcode.BINARY, big[i % 3], mask_key=rnd.randbytes(4)))
            messages += 1
        if i % 1000 == 500:
            out.append(encode_frame(Opcode.BINARY, big[3], mask_key=rnd.randbytes(4)))
            messages += 1
    return b"".join(out), messages


def chunks(data: bytes) -> list[bytes]:
    return [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)]


def run_frame_decoder(parts):
    dec = FrameDecoder(max_payload=1 << 24)
    n = 0
    for p in parts:
        n += len(dec.feed(p))
    return n


def run_messages(parts):
    dec = FrameDecoder(max_payload=1 << 24, expect_masked=True)
    asm = MessageAssembler(max_size=1 << 24)
    n = 0
    for p in parts:
        for f in dec.feed(p):
            if asm.add(f) is not None:
                n += 1
    return n


HANDSHAKE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
REQUEST = (f"GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {HANDSHAKE_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
RESPONSE = (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {compute_accept(HANDSHAKE_KEY)}\r\n\r\n").encode()


def run_connection(parts):
    dec = ConnectionDecoder(max_payload=1 << 24)
    dec.feed("client", REQUEST, 0.0)
    dec.feed("server", RESPONSE, 0.0)
    n = 0
    for p in parts:
        for e in dec.feed("client", p, 0.0):
            if type(e) is MessageEvent:
                n += 1
    return n


def run_wsproto(parts):
    proto = FrameProtocol(client=False, extensions=[])
    n = 0
    for p in parts:
        proto.receive_bytes(p)
        for f in proto.received_frames():
            if f.message_finished:
                n += 1
    return n


def best(fn, parts, rounds=ROUNDS):
    times = []
    result = None
    for _ in range(rounds):
        t = time.perf_counter()
        result = fn(parts)
        times.append(time.perf_counter() - t)
    return min(times), result


def unmask_speed(n=1 << 20, rounds=30):
    data = os.urandom(n)
    key = os.urandom(4)
    t_ours = min(_timed(lambda: unmask(data, key)) for _ in range(rounds))
    t_wsproto = min(_timed(lambda: XorMaskerSimple(key).process(data)) for _ in range(rounds))
    assert bytes(XorMaskerSimple(key).process(data)) == unmask(data, key)
    return n / t_ours / 1e6, n / t_wsproto / 1e6


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    stream, n_messages = build_stream()
    parts = chunks(stream)
    mib = len(stream) / (1 << 20)
    print(f"stream: {len(stream)} bytes ({mib:.1f} MiB), {n_messages} messages "
          f"(3000 JSON chat + 64 KiB and 1 MiB binaries, all masked), {len(parts)} chunks of {CHUNK} B")
    # Rounds alternate between the decoders so that load from other processes hits them alike.
    runs = [("wsproto 1.x FrameProtocol (frames+messages)", run_wsproto),
            ("wsdemo FrameDecoder (frames)", run_frame_decoder),
            ("wsdemo FrameDecoder+MessageAssembler", run_messages),
            ("wsdemo ConnectionDecoder (events)", run_connection)]
    times = {name: [] for name, _ in runs}
    counts = {}
    for _ in range(ROUNDS):
        for name, fn in runs:
            t, counts[name] = best(fn, parts, rounds=1)
            times[name].append(t)
    rows = [(name, min(times[name]), counts[name]) for name, _ in runs]
    (_, t_ws, n_ws), (_, t_fd, n_fd), (_, t_ms, n_ms), (_, t_cd, n_cd) = rows
    for name, t, n in rows:
        print(f"  {name:<46} {t * 1000:8.1f} ms  {mib / t:7.1f} MiB/s  ({n} {'frames' if 'frames)' in name else 'messages'})")
    assert n_ws == n_ms == n_cd == n_messages, (n_ws, n_ms, n_cd, n_messages)
    print(f"ratio vs wsproto (higher is faster): FrameDecoder {t_ws / t_fd:.2f}x, "
          f"FrameDecoder+MessageAssembler {t_ws / t_ms:.2f}x, ConnectionDecoder {t_ws / t_cd:.2f}x  (goal >= 1.0x)")
    ours, theirs = unmask_speed()
    print(f"unmask 1 MiB: {ours:.0f} MB/s (goal >= 200 MB/s); wsproto's XorMaskerSimple {theirs:.0f} MB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
