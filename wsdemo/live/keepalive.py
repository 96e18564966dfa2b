"""Clients on plain asyncio streams, for measuring the wire without a library in between.

- ``KeepAliveClient``: HTTP/1.1 that keeps one TCP connection open for every request (as a
  browser does), so each request costs only its own bytes.
- ``open_websocket``: a WebSocket opened by hand (the Upgrade request, the 101 answer); its
  frames are the caller's to write and read, broken ones included.
- ``close_writer``: close an ``asyncio.StreamWriter`` without waiting forever for the peer.

Answers are parsed by the wire layer (``HttpReader``, ``parse_response``), the code the tap
uses. Every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
import urllib.parse
from dataclasses import dataclass

from .. import wire
from ..wire.http import HttpReader

__all__ = ["KeepAliveClient", "RawWebSocket", "UpgradeRefused", "close_writer", "open_websocket"]


async def close_writer(writer: asyncio.StreamWriter, timeout: float = 2.0) -> None:
    """Close ``writer`` and wait up to ``timeout`` seconds for the transport to finish; a
    peer that never acknowledges, or a connection already reset, is not an error here."""
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), timeout)
    except (asyncio.TimeoutError, OSError):
        pass


def _split(url: str) -> tuple[str, int, str, str]:
    """Host, port, the Host header's value and the request target (path and query) of ``url``."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"a URL with a host and a port is needed, got {url!r}")
    target = parts.path or "/"
    return parts.hostname, parts.port, parts.netloc, target + (f"?{parts.query}" if parts.query else "")


def _local_address(writer: asyncio.StreamWriter) -> str:
    host, port = writer.get_extra_info("sockname")[:2]
    return f"{host}:{port}"


class KeepAliveClient:
    """A small HTTP/1.1 client on asyncio streams that keeps one TCP connection open
    for every request (as a browser does), so each poll costs only its own bytes."""

    def __init__(self, url: str, *, headers: dict[str, str] | None = None):
        """``url``: the server to talk to (http://host:port/; its path is not used)."""
        self.host, self.port, netloc, _ = _split(url)
        self.headers = {"Host": netloc, "User-Agent": "wsdemo", "Accept": "application/json"}
        self.headers.update(headers or {})
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._http = HttpReader(response=True)
        self._local: str | None = None

    def __repr__(self) -> str:
        state = "open" if self._writer is not None else "closed"
        return f"<KeepAliveClient http://{self.host}:{self.port} {state}>"

    async def connect(self, timeout: float) -> None:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), timeout)
        self._reader, self._writer = reader, writer
        self._local = _local_address(writer)

    @property
    def local_address(self) -> str:
        """"host:port" of this end: the peer the tap records for this client."""
        if self._local is None:
            raise RuntimeError("not connected: call connect() first")
        return self._local

    async def get(self, target: str, timeout: float) -> wire.Response:
        """Send ``GET target`` and return the whole response (head and body)."""
        if self._writer is None or self._reader is None:
            raise RuntimeError("not connected: call connect() first")
        head = f"GET {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in self.headers.items()) + "\r\n"
        self._writer.write(head.encode("latin-1"))
        deadline = time.monotonic() + timeout
        await asyncio.wait_for(self._writer.drain(), timeout)
        while True:
            response = self._http.next("GET")
            if response is not None:
                assert isinstance(response, wire.Response)  # a reader of responses reads nothing else
                return response
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError(f"no complete answer to GET {target} within {timeout:g} s")
            data = await asyncio.wait_for(self._reader.read(65536), left)
            if not data:
                raise ConnectionError(f"the server closed the connection before answering GET {target}")
            self._http.feed(data)

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            await close_writer(writer)


class UpgradeRefused(RuntimeError):
    """The server answered a WebSocket Upgrade with something other than 101."""

    def __init__(self, response: wire.Response):
        super().__init__(f"the server refused the WebSocket: {response.status} {response.reason}")
        self.response = response

    @property
    def status(self) -> int:
        return self.response.status


@dataclass
class RawWebSocket:
    """A WebSocket opened by ``open_websocket``: the streams, the server's 101 answer, and this
    end's address (the peer the tap records). Nothing here frames or unframes."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    response: wire.Response
    local_address: str

    async def close(self, timeout: float = 2.0) -> None:
        await close_writer(self.writer, timeout)


async def open_websocket(url: str, *, timeout: float) -> RawWebSocket:
    """Connect to ``url``'s host and port and send a WebSocket Upgrade for its path and query
    (the join token included when the server asks for one); return once the server answered
    101. ``UpgradeRefused`` for any other status; the connection is closed then. Plain TCP
    whatever the scheme says: this is for the lab's tap on loopback."""
    host, port, netloc, target = _split(url)
    deadline = time.monotonic() + timeout

    def left() -> float:
        return max(0.0, deadline - time.monotonic())

    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), left())
    try:
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        writer.write((f"GET {target} HTTP/1.1\r\nHost: {netloc}\r\n"
                      f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      f"Sec-WebSocket-Version: 13\r\n\r\n").encode("latin-1"))
        # readuntil stops at the empty line: frames the server sends at once stay in the reader
        response = wire.parse_response(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), left()))
        if response.status != 101:
            raise UpgradeRefused(response)
        return RawWebSocket(reader, writer, response, _local_address(writer))
    except BaseException:
        writer.close()  # not awaited: this may be a cancellation
        raise
