"""``head_of_line``: a big message queued ahead of a ping delays the pong, measured on a raw
WebSocket through the tap under a slow link."""

from __future__ import annotations

import asyncio
import html
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import wire
from ..live.keepalive import open_websocket
from ..live.network import Network
from .tables import Table, network_label

if TYPE_CHECKING:
    from ..live.recording import Connection
    from ..live.server import Server


@dataclass(frozen=True)
class TimelineEntry:
    """One frame as the tap saw it: ``sent`` when its last byte reached the tap from its
    sender, ``delivered`` when the tap handed that byte on under the network conditions
    (the delivery stamp of its chunk; ``sent`` when nothing held it). Seconds from the start."""

    sender: str
    what: str
    size: int  #: bytes on the wire: header + payload
    sent: float
    delivered: float


@dataclass
class HeadOfLine:
    """What ``head_of_line`` measured. ``pongs``: {which ping: seconds from writing the ping
    to reading its pong, at the client}; ``echo_done``: seconds from the start until the
    client had the echo's last byte; ``serialization_s``: the echo's bytes at the down rate
    (size × 8 / down_kbps), what a queued message adds ahead of anything behind it."""

    size: int
    fragment: int | None
    network: str
    serialization_s: float
    pongs: dict[str, float]
    echo_done: float
    timeline: list[TimelineEntry] = field(repr=False)

    def table(self) -> Table:
        rows = [[f"{e.sent:.3f} s", f"{e.delivered:.3f} s", e.sender, e.what, f"{e.size:,} B"] for e in self.timeline]
        return Table(["reached the tap", "delivered", "from", "frame", "size"], rows,
                     title=f"{self.size:,} B echoed under {self.network}"
                           + (f", sent in {self.fragment:,}-byte fragments" if self.fragment else ", one frame"))

    def __repr__(self) -> str:
        pongs = "; ".join(f"pong for the ping {k}: {v:.2f} s" for k, v in self.pongs.items())
        return (f"<head of line: {self.size:,} B under {self.network}"
                f"{f' in {self.fragment:,}-byte fragments' if self.fragment else ' in one frame'}; {pongs}; "
                f"echo complete at {self.echo_done:.2f} s (its bytes alone take {self.serialization_s:.2f} s)>")

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(repr(self))}</p>" + self.table()._repr_html_()


def _timeline(conn: "Connection", start: float, network: Network) -> list[TimelineEntry]:
    """Frames of ``conn`` with the tap's arrival and delivery times of each one's last byte.

    The tap stamps a held chunk's delivery by its last byte; a frame that ends earlier in a
    chunk went out that many bytes sooner at the link's rate (the tap delivers a chunk in
    slices at that rate: wsdemo/live/network.py), never before the chunk arrived."""
    delivered = {(d.sender, d.at): d.delivered_at for d in conn.deliveries}
    ends: dict[str, list[tuple[int, float]]] = {"client": [], "server": []}
    totals = {"client": 0, "server": 0}
    for sender, at, data in conn.chunks:
        if data:
            totals[sender] += len(data)
            ends[sender].append((totals[sender], at))
    out = []
    for e in conn.events:
        if not isinstance(e, wire.FrameEvent):
            continue
        f = e.frame
        end = e.offset + f.size
        stop, at = next(((stop, t) for stop, t in ends[e.sender] if stop >= end), (end, e.at))
        out_at = delivered.get((e.sender, at), at)
        rate = network.bytes_per_second(e.sender)
        if rate is not None and out_at > at:
            out_at = max(at, out_at - (stop - end) / rate)
        what = wire.opcode_name(f.opcode).lower() + ("" if f.fin else " (not final)")
        if f.opcode in (wire.Opcode.PING, wire.Opcode.PONG):
            what += f" {wire.preview(f.payload, text=True)}"
        out.append(TimelineEntry(e.sender, what, f.size, at - start, out_at - start))
    return out


async def head_of_line(server: "Server", size: int = 100_000, *,
                       network: "Network | str | None" = Network(down_kbps=1000),
                       fragment: int | None = None, timeout: float | None = None) -> HeadOfLine:
    """Measure head-of-line blocking: a big message queued before a ping delays the pong.

    A raw WebSocket client on ``/echo`` (through the tap; its connection alone gets
    ``network``, default 1000 kbps down) sends ``size`` bytes in one binary message, then a
    ping. The server echoes the message, then answers the ping: the pong travels behind
    the echo's bytes on the one TCP stream, so it waits about size × 8 / down_kbps
    (2 MB at 1000 kbps: 16 s; 100 kB: 0.8 s).

    ``fragment``: the client sends its message in frames of this many bytes and writes a
    ping *between* the first two fragments, then another after the last. A control frame
    may go between fragments (RFC 6455, section 5.4), and only because the sender put it
    there: the server gets that ping before the message is complete and its pong comes back
    at once. The ping after the message still waits: the server's echo (Tornado sends it
    as one frame) is queued bytes ahead of the pong on the same TCP stream, and fragmenting
    would not change that either, since bytes already handed to TCP are delivered in order.

    Bounded: ``timeout`` (default: twice the expected time plus 10 s) for the whole run.
    Returns a ``HeadOfLine`` with the pong delays and the tap's timeline of the frames.
    """
    limit = server.app_state.max_message_size
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= limit:
        raise ValueError(f"size must be a whole number of bytes from 1 to the server's max_message_size "
                         f"({limit:,}), got {size!r}")
    if fragment is not None and (not isinstance(fragment, int) or isinstance(fragment, bool)
                                 or not 1 <= fragment < size):
        raise ValueError(f"fragment must be None or a whole number of bytes from 1 to size - 1, got {fragment!r}")
    net = Network.of(network)
    tap = server.tap
    if tap is None or not server.running:
        raise RuntimeError("the server is not running: start one with server = await wsdemo.serve()")
    rate = net.bytes_per_second("server")
    serialization = 0.0 if rate is None else (size + 10) / rate  # the echo: payload and its frame header
    if timeout is None:
        timeout = 10 + 2 * (serialization + 4 * net.latency_ms / 1000 + (size / (net.bytes_per_second("client") or 1e9)))
    deadline = time.monotonic() + timeout

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise asyncio.TimeoutError(f"head_of_line did not finish within {timeout:g} s under {net}")
        return remaining

    ws = await open_websocket(wire.with_token(server.url("/echo"), server.token), timeout=left())
    reader, writer = ws.reader, ws.writer
    try:
        conn = tap.connection_from(ws.local_address)
        if conn is None:
            raise RuntimeError(f"the tap recorded no connection from {ws.local_address}")
        tap.set_network(conn, net)

        def frame(opcode, payload, fin=True) -> bytes:
            return wire.encode_frame(opcode, payload, fin=fin, mask_key=os.urandom(4))

        data = os.urandom(size)
        sent: dict[str, float] = {}
        start = time.time()
        if fragment is None:
            writer.write(frame(wire.Opcode.BINARY, data))
        else:
            pieces = [data[i:i + fragment] for i in range(0, size, fragment)]
            writer.write(frame(wire.Opcode.BINARY, pieces[0], fin=False))
            writer.write(frame(wire.Opcode.PING, b"between fragments"))
            sent["between fragments"] = time.time()
            for i, piece in enumerate(pieces[1:], 1):
                writer.write(frame(wire.Opcode.CONTINUATION, piece, fin=i == len(pieces) - 1))
        writer.write(frame(wire.Opcode.PING, b"after the message"))
        sent["after the message"] = time.time()
        await asyncio.wait_for(writer.drain(), left())

        decoder = wire.FrameDecoder(max_payload=size + 1)
        pongs: dict[str, float] = {}
        echoed = 0
        echo_done = None
        while len(pongs) < len(sent) or echo_done is None:
            chunk = await asyncio.wait_for(reader.read(1 << 16), left())
            now = time.time()
            if not chunk:
                raise ConnectionError("the server closed the connection during head_of_line")
            for f in decoder.feed(chunk):
                if f.opcode == wire.Opcode.PONG:
                    which = f.payload.decode("ascii", "replace")
                    if which in sent:
                        pongs[which] = now - sent[which]
                elif f.opcode in (wire.Opcode.BINARY, wire.Opcode.CONTINUATION):
                    echoed += f.payload_len
                    if f.fin and echoed >= size:
                        echo_done = now - start
        writer.write(frame(wire.Opcode.CLOSE, wire.Close(wire.CloseCode.NORMAL_CLOSURE).serialize()))
        try:
            await asyncio.wait_for(writer.drain(), left())
        except (ConnectionError, asyncio.TimeoutError):
            pass
        # the order the pings were sent in, which is the order a reader expects
        ordered = {k: pongs[k] for k in sent}
        return HeadOfLine(size, fragment, network_label(net), serialization, ordered, echo_done,
                          _timeline(conn, start, net))
    finally:
        await ws.close()

