"""An EventSource for the kernel: a server-sent events client on asyncio streams.

    client = await wsdemo.live.sse.connect(server, "/sse")     # through the tap (token added)
    event = await client.next(timeout=5)                   # a wire.ServerSentEvent
    event.data, event.last_event_id, event.wire_size
    await client.close()

It reads the stream with the wire layer (HttpReader for the HTTP response and its chunked
coding, SseDecoder for the events: the same code the tap decodes with) and behaves as the
HTML standard's EventSource does (section 9.2.3): when the stream ends it waits the
reconnection time (the stream's ``retry:``, or ``retry_ms``) and reconnects with
``Last-Event-ID``; a response that is not ``200 text/event-stream`` fails it for good
(:class:`SseRefused`). Every wait has a timeout; nothing blocks the event loop.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

from .. import wire
from ..wire.http import HttpReader
from .keepalive import close_writer

if TYPE_CHECKING:
    from .recording import Connection
    from .server import Server

#: EventSource's reconnection time before a stream sets one (HTML 9.2.3 leaves it to the
#: browser; Chromium and Firefox wait about this long).
DEFAULT_RETRY_MS = 3000


class SseClosed(Exception):
    """The stream ended and no reconnection is left (``reconnect=False`` or the budget spent)."""


class SseRefused(SseClosed):
    """The server answered something other than ``200 text/event-stream``: EventSource fails
    the connection and does not reconnect (HTML 9.2.3). ``status`` and ``body`` say what."""

    def __init__(self, status: int, reason: str, body: bytes):
        self.status, self.reason, self.body = status, reason, body
        text = body[:200].decode("utf-8", "replace").strip()
        super().__init__(f"the server answered {status} {reason}, not 200 text/event-stream"
                         + (f": {text}" if text else ""))


class SseClient:
    """Made by :func:`connect` (through a wsdemo server) or :meth:`open` (any http:// URL)."""

    def __init__(self, url: str, *, headers: dict[str, str] | None = None, last_event_id: str = "",
                 reconnect: bool = True, max_reconnects: int = 5, retry_ms: float | None = None,
                 max_event: int = wire.sse.DEFAULT_MAX_EVENT, server: "Server | None" = None):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"an event stream URL must be http://host:port/path, got {url!r}")
        self.url = url
        self.server = server
        self._host, self._port = parts.hostname, parts.port or 80
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.headers = {"Host": parts.netloc, "Accept": "text/event-stream", "Cache-Control": "no-cache"}
        self.headers.update(headers or {})
        self.last_event_id = last_event_id
        self.retry_ms = retry_ms  #: overrides the stream's reconnection time when set
        self.retry: int | None = None  #: the reconnection time (ms) the stream last set
        self.reconnect = reconnect
        self.max_reconnects = max_reconnects
        self.reconnects = 0  #: how many times the client reconnected
        self.max_event = max_event
        self.response: wire.Response | None = None  #: the current connection's response head
        self.local_addresses: list[str] = []  #: one per connection made, oldest first
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._http: HttpReader | None = None
        self._decoder: wire.SseDecoder | None = None
        self._ready: list[wire.ServerSentEvent] = []
        self._closed = False
        self.error: wire.ProtocolError | None = None  #: why the wire layer stopped reading the last stream

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._writer is not None else "reconnecting"
        return f"<SseClient {self.url} {state}, last event id {self.last_event_id!r}, {self.reconnects} reconnects>"

    @classmethod
    async def open(cls, url: str, *, timeout: float = 10.0, **kwargs: Any) -> "SseClient":
        """Connect to ``url`` and read the response head; SseRefused if it is not an event stream."""
        client = cls(url, **kwargs)
        try:
            await client._connect(time.monotonic() + timeout)
        except BaseException:
            await client.close()
            raise
        return client

    @property
    def local_address(self) -> str | None:
        return self.local_addresses[-1] if self.local_addresses else None

    @property
    def connection(self) -> "Connection | None":
        """The current connection as the tap recorded it (matched by local address)."""
        if self.server is None or self.server.tap is None or self.local_address is None:
            return None
        return self.server.tap.connection_from(self.local_address)

    # -- reading ---------------------------------------------------------------------------

    async def next(self, timeout: float = 5.0) -> wire.ServerSentEvent:
        """The next dispatched event (blocks a browser fires nothing for are skipped),
        reconnecting as EventSource does. asyncio.TimeoutError if none comes in time;
        SseClosed once the stream is over; SseRefused if a reconnection is refused."""
        deadline = time.monotonic() + timeout
        while True:
            while self._ready:
                event = self._ready.pop(0)
                if event.dispatched:
                    return event
            if self._closed:
                raise SseClosed("this client is closed")
            if self._writer is None:
                await self._reconnect(deadline)
                continue
            await self._read(deadline)

    async def next_json(self, timeout: float = 5.0) -> Any:
        import json

        return json.loads((await self.next(timeout)).data)

    async def close(self) -> None:
        """Close the connection; no reconnection follows. Safe to call twice."""
        self._closed = True
        await self._drop()

    # -- internals -------------------------------------------------------------------------

    def _left(self, deadline: float, what: str) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise asyncio.TimeoutError(f"{what} ({self.url})")
        return left

    async def _connect(self, deadline: float) -> None:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self._host, self._port), self._left(deadline, "no connection in time"))
        self._reader, self._writer = reader, writer
        host, port = writer.get_extra_info("sockname")[:2]
        self.local_addresses.append(f"{host}:{port}")
        headers = dict(self.headers)
        if self.last_event_id:  # HTML 9.2.4: only a non-empty last event ID is sent
            headers["Last-Event-ID"] = self.last_event_id
        head = f"GET {self._target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(head.encode("utf-8"))
        self._http = HttpReader(response=True)
        self._http.stream = wire.is_event_stream
        self._decoder = None
        while self.response is None or self._decoder is None:
            await self._read(deadline)
            if self._writer is None:
                why = f": {self.error}" if self.error is not None else ""
                raise SseClosed(f"the server closed the connection before answering ({self.url}){why}")

    async def _read(self, deadline: float) -> None:
        """Read once and decode; on the end of the stream drop the connection."""
        reader, http = self._reader, self._http
        if reader is None or http is None:  # dropped: nothing to read before a reconnection
            return
        data = await asyncio.wait_for(reader.read(65536), self._left(deadline, "no event in time"))
        ended = False
        if data:
            http.feed(data)
        try:
            while True:
                msg = http.eof() if not data else http.next("GET")
                if self._decoder is not None:
                    for _, piece in http.take_body():
                        self._ready += self._decoder.feed(piece)
                if msg is None:
                    break
                assert isinstance(msg, wire.Response)  # a reader of responses reads nothing else
                if self._decoder is None and http.streaming:  # the head of the event stream
                    self.response = msg
                    self._decoder = wire.SseDecoder(last_event_id=self.last_event_id, max_event=self.max_event)
                    continue
                if self._decoder is None:  # a whole response, and not an event stream
                    self._closed = True
                    await self._drop()
                    raise SseRefused(msg.status, msg.reason, msg.body)
                ended = True  # the server ended the body
                break
        except wire.ProtocolError as exc:
            ended = True  # a stream cut short (a chunk never finished): EventSource reconnects
            self.error = exc
            self._ready += getattr(exc, "events", [])  # an SseError keeps the events before it
        if self._decoder is not None:
            for event in self._ready:
                self.last_event_id = event.last_event_id
            if self._decoder.retry is not None:
                self.retry = self._decoder.retry
        if ended or not data:
            if self._decoder is not None:
                self._decoder.eof()
            await self._drop()

    async def _reconnect(self, deadline: float) -> None:
        if not self.reconnect or self.reconnects >= self.max_reconnects:
            self._closed = True
            raise SseClosed(f"the event stream ended ({self.reconnects} reconnections, "
                            f"max_reconnects={self.max_reconnects})")
        delay = (self.retry_ms if self.retry_ms is not None
                 else self.retry if self.retry is not None else DEFAULT_RETRY_MS) / 1000
        self._left(deadline - delay, f"the stream ended; reconnecting takes {delay:g} s, longer than the time left")
        await asyncio.sleep(delay)
        self.reconnects += 1
        self.response = None
        try:
            await self._connect(deadline)
        except (OSError, SseClosed) as exc:
            if isinstance(exc, SseRefused):
                raise
            await self._drop()  # a network error: the next call tries again, within the budget

    async def _drop(self) -> None:
        writer, self._writer = self._writer, None
        self._reader = None
        if writer is not None:
            await close_writer(writer)


async def connect(server: "Server", path: str = "/sse", *, timeout: float = 10.0, **kwargs: Any) -> SseClient:
    """An SseClient on ``path`` through the server's tap (the join token added in classroom mode)."""
    if not server.running:
        raise RuntimeError("the server is not running: start one with server = await wsdemo.serve()")
    if server.token and "token=" not in path:
        path = wire.with_token(path, server.token)
    return await SseClient.open(server.http_url(path), timeout=timeout, server=server, **kwargs)
