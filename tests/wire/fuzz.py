"""Structure-aware fuzzing of the wire layer (run by hand, not collected by pytest):

    .venv/bin/python tests/wire/fuzz.py --seconds 180 [--seed N]

Starts from real conversations (a browser-like handshake with permessage-deflate and context
takeover, frames encoded by the `websockets` library, plain HTTP keep-alive with chunked bodies),
mutates them (bit flips, byte changes, insertions, deletions, duplicated or swapped spans, length
fields set to extremes), cuts the streams at random points and checks the contracts:

- ConnectionDecoder never raises and never reports an "internal decoder error"; every
  DecodeError offset lies inside what was fed; ``received`` counts every byte;
- FrameDecoder and MessageAssembler raise nothing but ProtocolError;
- the same bytes cut differently give the same events.

Any failure is printed with a reproducer (seed and case number) and the script exits 1.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from websockets.extensions.permessage_deflate import PerMessageDeflate  # noqa: E402
from websockets.frames import Close, Frame as WsFrame, Opcode as WsOpcode  # noqa: E402

from wsdemo.wire import (  # noqa: E402
    ConnectionDecoder, DecodeError, FrameDecoder, MessageAssembler, ProtocolError, compute_accept,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def head(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def conversations() -> list[tuple[str, bytes, bytes, dict]]:
    """(name, client bytes, server bytes, decoder options for FrameDecoder/MessageAssembler)."""
    out = []
    req = head(["GET /chat HTTP/1.1", "Host: 127.0.0.1:8888", "Upgrade: websocket", "Connection: Upgrade",
                f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13",
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"])
    for nct, bits in ((False, 15), (True, 15), (False, 10)):
        params = "permessage-deflate" + ("; client_no_context_takeover; server_no_context_takeover" if nct else "")
        if bits != 15:
            params += f"; server_max_window_bits={bits}; client_max_window_bits={bits}"
        res = head(["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
                    f"Sec-WebSocket-Accept: {compute_accept(KEY)}", f"Sec-WebSocket-Extensions: {params}"])
        client_ext = PerMessageDeflate(nct, nct, bits, bits)
        server_ext = PerMessageDeflate(nct, nct, bits, bits)
        texts = ['{"type":"chat","text":"hello hello hello"}', '{"type":"chat","text":"hello again again"}',
                 "é" * 50, "x" * 3000]
        client = req + b"".join(WsFrame(WsOpcode.TEXT, t.encode()).serialize(mask=True, extensions=[client_ext])
                                for t in texts)
        client += WsFrame(WsOpcode.PING, b"ping").serialize(mask=True, extensions=[client_ext])
        client += WsFrame(WsOpcode.BINARY, bytes(range(256)) * 300, fin=False).serialize(
            mask=True, extensions=[client_ext])
        client += WsFrame(WsOpcode.CONT, b"tail").serialize(mask=True, extensions=[client_ext])
        client += WsFrame(WsOpcode.CLOSE, Close(1000, "bye").serialize()).serialize(mask=True, extensions=[])
        server = res + b"".join(WsFrame(WsOpcode.TEXT, t.encode()).serialize(mask=False, extensions=[server_ext])
                                for t in reversed(texts))
        server += WsFrame(WsOpcode.PONG, b"ping").serialize(mask=False, extensions=[])
        server += WsFrame(WsOpcode.CLOSE, Close(1000, "").serialize()).serialize(mask=False, extensions=[])
        out.append((f"deflate nct={nct} bits={bits}", client, server,
                    {"deflate": True, "nct": nct, "bits": bits, "skip": (len(req), len(res))}))
    plain_res = head(["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
                      f"Sec-WebSocket-Accept: {compute_accept(KEY)}"])
    client = req + b"".join(WsFrame(op, data, fin=fin).serialize(mask=True, extensions=[]) for op, data, fin in [
        (WsOpcode.TEXT, "Hé".encode(), False), (WsOpcode.PING, b"", True), (WsOpcode.CONT, b"llo", True),
        (WsOpcode.BINARY, b"\x00" * 70000, True), (WsOpcode.CLOSE, b"\x0f\xa0", True)])
    server = plain_res + b"".join(WsFrame(op, data).serialize(mask=False, extensions=[]) for op, data in [
        (WsOpcode.TEXT, b"welcome"), (WsOpcode.BINARY, b"\x01" * 300), (WsOpcode.CLOSE, b"\x03\xe8")])
    out.append(("plain", client, server, {"deflate": False, "nct": False, "bits": 15,
                                          "skip": (len(req), len(plain_res))}))
    client = (b"\r\nGET /poll HTTP/1.1\r\nHost: x\r\n\r\n"
              b"POST /send HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\r\n"
              b"POST /send HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n"
              b"0\r\nX-T: 1\r\n\r\nHEAD / HTTP/1.1\r\n\r\n")
    server = (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]HTTP/1.1 100 Continue\r\n\r\n"
              b"HTTP/1.1 204 No Content\r\n\r\n"
              b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"
              b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
              b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
    out.append(("keep-alive", client, server, None))
    return out


def mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        if not b:
            b += bytes([rng.randrange(256)])
        i = rng.randrange(len(b))
        kind = rng.randrange(9)
        if kind == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif kind == 1:
            b[i] = rng.randrange(256)
        elif kind == 2:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
        elif kind == 3:
            del b[i:i + rng.randrange(1, 40)]
        elif kind == 4:  # duplicate a span (a repeated frame or header line)
            j = min(len(b), i + rng.randrange(1, 200))
            b[j:j] = b[i:j]
        elif kind == 5:  # extreme length byte: 126/127 or the 64-bit length's top bytes
            b[i] = rng.choice((0x7E, 0x7F, 0xFE, 0xFF, 0x80, 0x00))
        elif kind == 6:
            b[i:i] = rng.choice((b"\r\n", b"\n", b"\r", b"\r\n\r\n", b":", b" ", b",", b"\x00", b"\x16\x03"))
        elif kind == 7:  # swap two spans
            j = rng.randrange(len(b))
            a, c = sorted((i, j))
            n = rng.randrange(1, 30)
            if c + n <= len(b) and a + n <= c:
                b[a:a + n], b[c:c + n] = b[c:c + n], b[a:a + n]
        else:
            del b[i:]
    return bytes(b)


def cuts(data: bytes, rng: random.Random) -> list[bytes]:
    if not data:
        return []
    points = sorted({rng.randrange(len(data) + 1) for _ in range(rng.randrange(0, 12))})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:]) if b > a]


def run_connection(client_chunks, server_chunks, rng: random.Random | None):
    dec = ConnectionDecoder(max_payload=1 << 17, max_head=4096)
    events = []
    c, s = list(client_chunks), list(server_chunks)
    if rng is None:  # client first, then server: the order a request/response exchange has
        order = [True] * len(c) + [False] * len(s)
    else:  # interleaved, client chunks before server chunks only on average
        order = [True] * len(c) + [False] * len(s)
        rng.shuffle(order)
    for who in order:
        events += dec.feed("client" if who else "server", (c if who else s).pop(0), at=0.0)
    events += dec.eof("client", at=0.0) + dec.eof("server", at=0.0)
    return dec, events


def check_connection(client: bytes, server: bytes, rng: random.Random) -> str | None:
    dec, events = run_connection(cuts(client, rng), cuts(server, rng), rng)
    for e in events:
        if isinstance(e, DecodeError):
            if "internal decoder error" in e.error:
                return f"internal error: {e.error}"
            if not 0 <= e.offset <= dec.received[e.sender]:
                return f"offset {e.offset} outside 0..{dec.received[e.sender]}: {e}"
    if dec.received != {"client": len(client), "server": len(server)}:
        return f"received {dec.received} != {len(client)}, {len(server)}"
    return None


def check_frames(data: bytes, opts: dict, masked: bool) -> str | None:
    dec = FrameDecoder(max_payload=1 << 17, allow_rsv1=opts["deflate"], expect_masked=masked)
    asm = MessageAssembler(deflate=opts["deflate"], no_context_takeover=opts["nct"], window_bits=opts["bits"],
                           max_size=1 << 17)
    try:
        try:
            frames = dec.feed(data)
        except ProtocolError as e:
            frames = e.frames
        for f in frames:
            try:
                asm.add(f)
            except ProtocolError:
                pass
        try:
            dec.eof()
        except ProtocolError:
            pass
    except Exception as e:  # noqa: BLE001 - the point is to catch anything else
        return f"{type(e).__name__}: {e}"
    return None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    convs = conversations()
    stop = time.monotonic() + args.seconds
    n = failures = 0
    while time.monotonic() < stop:
        n += 1
        name, client, server, opts = convs[rng.randrange(len(convs))]
        which = rng.randrange(3)
        c = mutate(client, rng) if which != 1 else client
        s = mutate(server, rng) if which != 0 else server
        problem = check_connection(c, s, rng)
        if problem is None and opts is not None:
            skip_c, skip_s = opts["skip"]
            problem = check_frames(c[skip_c:], opts, True) or check_frames(s[skip_s:], opts, False)
        if problem is None and n % 10 == 0:
            # determinism: the same bytes, cut two ways and fed client-first, give the same events
            a = run_connection(cuts(c, rng), cuts(s, rng), None)[1]
            b = run_connection([c] if c else [], [s] if s else [], None)[1]
            key = lambda evs: [(type(e).__name__, e.sender, getattr(e, "error", None)) for e in evs]  # noqa: E731
            if key(a) != key(b):
                problem = f"chunking changed the events:\n  {key(a)[:6]}\n  {key(b)[:6]}"
        if problem:
            failures += 1
            print(f"FAIL seed={seed} case={n} conversation={name!r}: {problem}")
            print(f"  client={c[:200]!r}\n  server={s[:200]!r}")
            if failures >= 5:
                break
    print(f"fuzz: {n} mutated conversations in {args.seconds:.0f} s, seed {seed}, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
