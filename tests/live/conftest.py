"""Fixtures for the live lab tests: a real server on 127.0.0.1, stopped after each test."""

from __future__ import annotations

import asyncio
import base64
import os
import struct

import pytest

import wsdemo
from wsdemo import wire

T = 10.0  # seconds any single await may take before the test fails


@pytest.fixture
async def server():
    srv = await asyncio.wait_for(wsdemo.serve(ticker_interval_ms=50), T)
    yield srv
    await asyncio.wait_for(srv.stop(), T)


async def wait_for_event(conn, predicate, timeout: float = T):
    """The first event of ``conn`` matching ``predicate`` (Connection.wait_for), or a failure
    that shows the last events recorded."""
    try:
        return await conn.wait_for(predicate, timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"no matching event on {conn!r}: {[str(e) for e in conn.events][-10:]}") from None


async def wait_until(condition, timeout: float = T, what: str = "condition"):
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def messages(conn, sender=None, kind=None):
    conn.flush()
    return [e.message for e in conn.events
            if isinstance(e, wire.MessageEvent) and (sender is None or e.sender == sender)
            and (kind is None or e.message.kind == kind)]


def conn_for_port(server, local_port: int):
    """The tap's connection of a loopback client whose local port is ``local_port``."""
    conn = server.tap.connection_from(("127.0.0.1", local_port))
    if conn is None:
        raise AssertionError(f"the tap has no connection from port {local_port}")
    return conn


# -- raw sockets: hand-built bytes for malformed input ----------------------

def handshake(path: str = "/echo", *, extra: str = "", key: str | None = None,
              version: str = "13", host: str = "127.0.0.1") -> bytes:
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade"]
    if key:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version:
        lines.append(f"Sec-WebSocket-Version: {version}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


class Raw:
    """A plain TCP client for sending bytes no well-behaved client would."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.local_port = writer.get_extra_info("sockname")[1]

    @classmethod
    async def open(cls, port: int) -> "Raw":
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), T)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), T)

    async def read_head(self) -> bytes:
        return await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), T)

    async def read_all(self, timeout: float = T) -> bytes:
        """Everything until the server closes the connection."""
        return await asyncio.wait_for(self.reader.read(), timeout)

    async def close(self) -> None:
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), T)
        except (ConnectionError, asyncio.TimeoutError):
            pass


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False,
                 masked: bool = True) -> bytes:
    """A client frame built with the wire layer's own encoder (fixed mask key)."""
    return wire.encode_frame(opcode, payload, fin=fin, rsv1=rsv1,
                             mask_key=b"\x37\xfa\x21\x3d" if masked else None)


def close_code_of(data: bytes) -> int:
    """The close code of the single server Close frame in ``data`` (decoded by the wire layer)."""
    frames = wire.FrameDecoder().feed(data)
    closes = [f for f in frames if f.opcode == wire.Opcode.CLOSE]
    assert closes, f"no Close frame in {data!r}"
    return struct.unpack(">H", closes[0].payload[:2])[0]
