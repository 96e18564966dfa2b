"""Backpressure on the live lab: what the server does with a client that never reads.

Every byte the server sends waits somewhere until the client reads it: in the client's socket
buffer, on the path, then in the server's own socket buffer, and finally in Tornado's write
buffer, which grows without limit. The lab closes a WebSocket client with 1008 once more than
``server.app_state.send_backlog`` bytes wait for it in Tornado (apps/base.py
``BaseSocket.send``); each such close is kept in ``server.app_state.backpressure_log`` (a
``Backlogged``: when, the endpoint, the bytes that waited, the limit, the reason sent).

``await provoke(server)`` makes it happen: a raw client that asks /echo for big echoes and
never reads them. In a browser the same pressure shows the other way round: ``ws.send()``
never blocks, and ``ws.bufferedAmount`` is what the page has sent that the line has not taken
yet (assets/backpressure.html, with ``server.tap.network = wsdemo.Network(up_kbps=200)``).
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import wire
from .apps.base import Backlogged, peer_port
from .keepalive import close_writer
from .recording import EventTimeout

if TYPE_CHECKING:
    from .recording import Connection
    from .server import Server

# The client's receive buffer: small, so the pressure reaches the server sooner (the kernel
# rounds it up to its minimum).
CLIENT_RCVBUF = 4096
MAX_MESSAGE = 1 << 20  # bytes: provoke() sends no bigger message than this


@dataclass
class Provoked:
    """What ``provoke()`` saw. ``sent``: bytes of messages the client sent before the server
    gave up; ``record``: the server's own account (``buffered`` bytes waited, over ``limit``);
    ``close_code``/``close_reason``: the Close frame the tap recorded once the client read
    again; ``connection``: the tap's record of it all."""

    sent: int
    record: Backlogged
    close_code: int | None
    close_reason: str | None
    connection: "Connection | None"

    @property
    def buffered(self) -> int:
        return self.record.buffered

    @property
    def limit(self) -> int:
        return self.record.limit

    def __str__(self) -> str:
        return (f"the client sent {self.sent:,} bytes of messages and read none of the echoes; "
                f"when {self.buffered:,} bytes waited in the server for it (the limit is "
                f"{self.limit:,}), the server closed it with {self.close_code} "
                f"({self.close_reason})")


async def provoke(server: "Server", *, message_size: int = 64 * 1024,
                  max_bytes: int = 256 << 20, timeout: float = 30.0) -> Provoked:
    """Open a raw client on ``/echo`` through the tap that sends ``message_size``-byte binary
    messages and never reads the echoes, until the server closes it for not reading; then
    read what it was owed, so the tap records the Close. Gives up (RuntimeError, saying how
    much was sent) after ``max_bytes`` sent or ``timeout`` seconds."""
    if not 1 <= message_size <= min(MAX_MESSAGE, server.app_state.max_message_size):
        raise ValueError(f"message_size must be from 1 to {min(MAX_MESSAGE, server.app_state.max_message_size)} "
                         f"bytes (the server's max_message_size), got {message_size!r}")
    if not server.running:
        raise RuntimeError("this server is stopped; start one with await wsdemo.serve()")
    return await asyncio.wait_for(_provoke(server, message_size, max_bytes), timeout)


async def _provoke(server: "Server", message_size: int, max_bytes: int) -> Provoked:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CLIENT_RCVBUF)  # before connect: the window
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    except BaseException:
        sock.close()
        raise
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        return await _talk(server, reader, writer, message_size, max_bytes)
    finally:
        await close_writer(writer)


async def _talk(server, reader, writer, message_size: int, max_bytes: int) -> Provoked:
    path = "/echo"
    token = server.teacher_token or server.token
    path = wire.with_token(path, token)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = wire.parse_response(await reader.readuntil(b"\r\n\r\n"))
    if head.status != 101:
        raise RuntimeError(f"/echo refused the client: HTTP {head.status}")
    conn = server.tap.connection_from(writer.get_extra_info("sockname"))
    state = server.app_state
    log = state.backpressure_log
    seen = set(map(id, log))
    handler = next((h for h in list(state.sockets)
                    if conn is not None and peer_port(h.request) == conn.upstream_port), None)
    frame = wire.encode_frame(wire.Opcode.BINARY, os.urandom(message_size), mask_key=os.urandom(4))
    sent = 0
    record = None
    while record is None:
        if sent >= max_bytes:
            raise RuntimeError(f"sent {sent:,} bytes and the server still buffers for this client "
                               f"(send_backlog is {server.app_state.send_backlog:,})")
        writer.write(frame)
        await writer.drain()
        sent += message_size
        await asyncio.sleep(0)  # the server's turn: it echoes, and may give up on us
        record = next((r for r in log if id(r) not in seen
                       and (conn is None or r.peer_port == conn.upstream_port)), None)
        if record is None and handler is not None and (
                handler.ws_connection is None or handler.ws_connection.is_closing()):
            why = (f" (classroom mode: at most {state.rate_limit:g} messages per second; "
                   "try a bigger message_size)" if state.classroom else "")
            raise RuntimeError(f"the server closed the client for another reason than not "
                               f"reading, after {sent:,} bytes{why}")
    # The client reads again: the echoes that fitted, then the server's Close.
    decoder = wire.FrameDecoder()
    close = None
    while close is None:
        data = await reader.read(1 << 18)
        if not data:
            break
        close = next((f for f in decoder.feed(data) if f.opcode == wire.Opcode.CLOSE), None)
    if close is not None:  # answer it, as a client should
        writer.write(wire.encode_frame(wire.Opcode.CLOSE, close.payload[:2], mask_key=os.urandom(4)))
        try:
            await writer.drain()
        except ConnectionError:
            pass
    code = reason = None
    if conn is not None:
        try:  # the tap decodes in turns: wait for its record of the Close
            event = await conn.wait_for(_server_close, timeout=2.0)
        except EventTimeout:
            pass
        else:
            code, reason = event.message.close_code, event.message.close_reason
    return Provoked(sent, record, code, reason, conn)


def _server_close(event: object) -> bool:
    return (isinstance(event, wire.MessageEvent) and event.sender == "server"
            and event.message.kind == "close")
