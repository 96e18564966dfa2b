"""What TLS costs on the wire: bytes per echoed message with and without TLS, and the bytes of
opening a connection, all counted by the tap (Connection.bytes, Connection.tls).

For each payload size, one `websockets` client (no compression) echoes N text messages in
lockstep (one message in flight, so each is one TLS record per direction, as in a chat),
through a plain server and a serve(tls=True) one. Per message and direction: the WebSocket
frame (payload + frame header) and, under TLS, what the records add. Opening: the TCP
handshake (three segments without payload: the tap cannot see them), the TLS handshake
(tap-counted), the WebSocket upgrade (decoded heads). Never asserts.

    .venv/bin/python bench/tls.py [-n 50] [--sizes 16,125,1024,16000,20000] [--tls12]
"""

from __future__ import annotations

import argparse
import asyncio
import ssl

import websockets

import wsdemo


def _counts(conn) -> tuple[int, int, int, int]:
    conn.flush()
    wire = conn.tls.wire_bytes if conn.tls is not None else conn.bytes
    return wire["client"], wire["server"], conn.bytes["client"], conn.bytes["server"]


async def _echo(server, size: int, n: int, ctx: ssl.SSLContext | None):
    payload = "x" * size
    async with websockets.connect(server.url("/echo"), ssl=ctx, compression=None,
                                  open_timeout=10, max_size=None) as ws:
        port = ws.transport.get_extra_info("sockname")[1]
        await ws.send("warm-up")  # the handshake is over on both sides (TLS 1.3 tickets too)
        await asyncio.wait_for(ws.recv(), 10)
        conn = next(c for c in server.tap.connections if c.peer.endswith(f":{port}"))
        before = _counts(conn)
        for _ in range(n):
            await ws.send(payload)
            await asyncio.wait_for(ws.recv(), 10)
        after = _counts(conn)
    per = [(a - b) / n for a, b in zip(after, before)]
    return conn, per


async def main(n: int, sizes: list[int], tls12: bool) -> None:
    plain = await wsdemo.serve(name="bench-plain")
    tls = await wsdemo.serve(tls=True, name="bench-tls")
    ctx = tls.ssl_context()
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        print(f"{n} echoed text messages per size, lockstep; bytes per message, per direction")
        print(f"{'payload':>8} | {'ws frame c->s':>13} {'s->c':>6} | {'TLS wire c->s':>13} {'s->c':>6} | "
              f"{'TLS adds c->s':>13} {'s->c':>6}")
        conn = None
        for size in sizes:
            _, p = await _echo(plain, size, n, None)
            conn, t = await _echo(tls, size, n, ctx)
            print(f"{size:>8} | {p[2]:>13.1f} {p[3]:>6.1f} | {t[0]:>13.1f} {t[1]:>6.1f} | "
                  f"{t[0] - t[2]:>13.1f} {t[1] - t[3]:>6.1f}")
        info = conn.tls
        request, response = conn.request, conn.response
        print(f"\nopening one connection ({info.version}, {info.cipher}):")
        print("  TCP handshake      : 3 segments, 0 payload bytes (SYN, SYN-ACK, ACK; not seen by the tap)")
        print(f"  TLS handshake      : {info.handshake_bytes['client']} B client -> server, "
              f"{info.handshake_bytes['server']} B server -> client (a one-certificate chain)")
        print(f"  WebSocket upgrade  : {len(request.raw)} B request head, {len(response.raw)} B response head")
    finally:
        await tls.stop()
        await plain.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50)
    parser.add_argument("--sizes", default="16,125,1024,16000,20000")
    parser.add_argument("--tls12", action="store_true", help="the client offers TLS 1.2 at most")
    args = parser.parse_args()
    asyncio.run(main(args.n, [int(s) for s in args.sizes.split(",")], args.tls12))
