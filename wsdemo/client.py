"""The in-kernel client: a real WebSocket client (Tornado's) that goes through the tap.

Everything is ``await``-ed on the kernel's own event loop, so the server in
the same kernel keeps running while a cell waits for an answer.
"""

from __future__ import annotations

import asyncio
import json
import ssl as _ssl
from typing import TYPE_CHECKING, Any

import tornado.httpclient
import tornado.websocket

if TYPE_CHECKING:
    from .server import Server
    from .tap import Connection


class ConnectionClosed(Exception):
    """Raised by ``recv()`` once the connection is closed; says how it closed."""

    def __init__(self, code: int | None, reason: str | None):
        self.code, self.reason = code, reason
        how = f"code {code}" if code is not None else "no close code"
        super().__init__(f"the WebSocket is closed ({how}{': ' + reason if reason else ''})")


class Client:
    """Made by ``await server.connect(path)``."""

    def __init__(self, server: "Server", ws: tornado.websocket.WebSocketClientConnection, url: str):
        self.server = server
        self.url = url
        self._ws = ws
        self._local = ws.protocol.stream.socket.getsockname()[:2]
        self._connection: Connection | None = None
        self._pongs: asyncio.Queue[bytes] = asyncio.Queue()
        self._ended = False  # read_message has returned None: nothing more will come

    def __repr__(self) -> str:
        state = "open" if self.is_open else f"closed ({self.close_code})"
        return f"<Client {self.url} {state}>"

    @classmethod
    async def open(cls, server: "Server", url: str, *, compression: bool = False,
                   headers: dict[str, str] | None = None, timeout: float = 10.0,
                   max_message_size: int = 64 << 20, ssl: _ssl.SSLContext | None = None) -> "Client":
        # ``ssl``: the context a wss:// URL is checked with (server.ssl_context() trusts the lab's CA)
        request = tornado.httpclient.HTTPRequest(url, headers=headers or {}, ssl_options=ssl,
                                                 connect_timeout=timeout, request_timeout=timeout)
        ws = await asyncio.wait_for(tornado.websocket.websocket_connect(
            request, compression_options={} if compression else None,
            max_message_size=max_message_size), timeout)
        client = cls(server, ws, url)
        # Tornado reports pongs to the connection's on_pong hook, if any.
        ws.on_pong = lambda data: client._pongs.put_nowait(data)  # type: ignore[attr-defined]
        return client

    @property
    def is_open(self) -> bool:
        return self._ws.protocol is not None and not self._ws.protocol.is_closing()

    @property
    def close_code(self) -> int | None:
        return self._ws.close_code

    @property
    def close_reason(self) -> str | None:
        return self._ws.close_reason

    @property
    def local_address(self) -> str:
        return f"{self._local[0]}:{self._local[1]}"

    @property
    def connection(self) -> "Connection | None":
        """This client's connection as the tap recorded it (matched by local port)."""
        if self._connection is None:
            for conn in reversed(self.server.tap.connections):
                if conn.peer == self.local_address:
                    self._connection = conn
                    break
        return self._connection

    async def send(self, message: str | bytes) -> None:
        await self._ws.write_message(message, binary=isinstance(message, (bytes, bytearray)))

    async def send_json(self, obj: Any) -> None:
        await self.send(json.dumps(obj))

    async def recv(self, timeout: float = 5.0) -> str | bytes:
        """The next message; asyncio.TimeoutError if none comes in time, ConnectionClosed once closed."""
        if not self._ended:
            message = await asyncio.wait_for(self._ws.read_message(), timeout)
            if message is not None:
                return message
            self._ended = True
        raise ConnectionClosed(self.close_code, self.close_reason)

    async def recv_json(self, timeout: float = 5.0) -> Any:
        return json.loads(await self.recv(timeout))

    async def ping(self, data: bytes = b"", timeout: float = 5.0) -> bytes:
        """Send a ping and wait for its pong; returns the pong's data."""
        self._ws.ping(data)
        return await asyncio.wait_for(self._pongs.get(), timeout)

    async def close(self, code: int = 1000, reason: str = "", timeout: float = 5.0) -> None:
        """Send a Close frame and wait (up to ``timeout``) for the server's. Safe to call twice."""
        if self._ended or self._ws.protocol is None:
            return
        self._ws.close(code, reason or None)
        # read_message resolves to None once the server's Close has arrived;
        # messages still in flight are dropped.
        try:
            while await asyncio.wait_for(self._ws.read_message(), timeout) is not None:
                pass
        except asyncio.TimeoutError:
            self._ws.protocol and self._ws.protocol._abort()  # the server never answered
        self._ended = True
