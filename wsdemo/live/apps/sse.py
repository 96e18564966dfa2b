"""/sse: the same feed as /ticker, /poll and /longpoll, as server-sent events (HTML section 9.2).

``GET /sse`` answers ``200 text/event-stream`` and keeps the response open: a ``retry:``
line first, then every update of the feed as one event, ``id: SEQ`` and ``data: JSON``
(the JSON /ticker pushes). Without a position the latest update comes at once, as on /ticker.

Resuming (HTML 9.2.4): a reconnecting client sends ``Last-Event-ID: SEQ`` (EventSource does
it by itself); ``?since=SEQ`` does the same on a first connection, where EventSource cannot
set headers (the header wins when both are sent). The server resends every update after SEQ
that the feed still keeps (``feed.history``, the same updates /poll answers from), then goes
on live: no gap, no duplicate. When updates after SEQ are no longer kept, an event of type
``gap`` says so first, as JSON ``{"after", "missed", "first_kept", "kept"}``; when SEQ is
ahead of the feed (the server restarted), an event of type ``reset`` says so
(``{"last_event_id", "seq"}``) and the stream starts again from the latest update.

Numbers (a 400 naming the range otherwise, apps/params.py): ``since`` and ``Last-Event-ID``
(whole numbers from 0 to MAX_SEQ), ``retry`` (whole ms, 0 to MAX_RETRY_MS, default
DEFAULT_RETRY_MS: how long EventSource waits before reconnecting), ``interval`` (ms, as on
/ticker: sets the feed's rate, outside classroom mode only).

A stream silent for KEEPALIVE_S seconds gets a comment line, for proxies that cut idle lines.

A client that stops reading: its bytes wait in Tornado's buffer. Past ``state.send_backlog``
bytes waiting (the limit WebSockets have), the server closes the connection: an event stream
has no close code, so the first comment of every stream names the limit, and the access log
says when it was applied. EventSource then reconnects with Last-Event-ID and resumes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Callable

from tornado.http1connection import HTTP1Connection

from ...wire import encode_sse
from .base import record_backlog
from .feed import MAX_INTERVAL_MS, MIN_INTERVAL_MS
from .params import number_argument, whole_argument, whole_number
from .poll import MAX_SEQ, _FeedHandler

DEFAULT_RETRY_MS = 3000
MAX_RETRY_MS = 60_000
#: A stream silent this long gets a comment line (``:``), so that proxies which cut idle
#: connections (nginx after 60 s by default) keep it open; the feed may tick once a minute.
KEEPALIVE_S = 15.0


class SseHandler(_FeedHandler):
    def initialize(self, state) -> None:
        super().initialize(state)
        self._backlog = 0  # bytes handed to Tornado and not yet written to the socket
        self._writes = 0
        self._gone: asyncio.Future | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def _last_event_id(self) -> int | None:
        """The Last-Event-ID header as a sequence number (HTML 9.2.4); empty means none."""
        raw = (self.request.headers.get("Last-Event-ID") or "").strip()
        if not raw:  # browsers never send it empty; a client that does has no position
            return None
        return whole_number("Last-Event-ID", raw, low=0, high=MAX_SEQ)

    async def get(self) -> None:
        state = self.state
        feed = state.feed
        since = whole_argument(self, "since", None, low=0, high=MAX_SEQ)
        last = self._last_event_id()
        if last is not None:  # a reconnection: the header wins over the URL's since
            since = last
        retry = whole_argument(self, "retry", DEFAULT_RETRY_MS, low=0, high=MAX_RETRY_MS)
        interval = number_argument(self, "interval", None, low=MIN_INTERVAL_MS, high=MAX_INTERVAL_MS,
                                   unit="milliseconds")
        if state.open_connections >= state.max_connections:
            self.refuse(503, f"too many connections (the cap is {state.max_connections})", Retry_After="5")
            return
        if interval is not None and not state.classroom:
            feed.interval_ms = interval
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("X-Accel-Buffering", "no")  # reverse proxies: pass each event on at once
        connection = self.request.connection
        if isinstance(connection, HTTP1Connection):  # what Tornado's HTTP server makes
            # ...and TCP too: no event waits for a delayed ACK (see BaseSocket.open).
            connection.stream.set_nodelay(True)
        self._gone = asyncio.get_running_loop().create_future()
        state.streams.add(self)
        try:
            limit = state.send_backlog
            self._send(encode_sse(retry=retry, comment=f"wsdemo feed; a reader more than {limit // 1024} KiB "
                                                        f"behind is disconnected"))
            for block in self._catch_up(since):
                self._send(block)
            self._unsubscribe = feed.subscribe(self.push)
            while not self._gone.done():
                written = self._writes
                try:
                    await asyncio.wait_for(asyncio.shield(self._gone), KEEPALIVE_S)
                except asyncio.TimeoutError:
                    if self._writes == written:  # nothing went out for a whole interval
                        self._send(b":\n\n")
        finally:
            state.streams.discard(self)
            if self._unsubscribe is not None:
                self._unsubscribe()

    def _catch_up(self, since: int | None) -> list[bytes]:
        """What a client at ``since`` is owed from the feed's history (HTML 9.2.4)."""
        feed = self.state.feed
        if since is None:
            return [self._event(feed.latest)] if feed.latest is not None else []
        if since > feed.seq:
            reset = {"last_event_id": since, "seq": feed.seq}
            out = [encode_sse(json.dumps(reset), event="reset")]
            return out + ([self._event(feed.latest)] if feed.latest is not None else [])
        kept = [u for u in feed.history if u["seq"] > since]
        first = kept[0]["seq"] if kept else feed.seq + 1
        out = []
        if first > since + 1:
            gap = {"after": since, "missed": first - since - 1, "first_kept": kept[0]["seq"] if kept else None,
                   "kept": len(feed.history)}
            out.append(encode_sse(json.dumps(gap), event="gap"))
        return out + [self._event(u) for u in kept]

    @staticmethod
    def _event(update: dict) -> bytes:
        return encode_sse(json.dumps(update), id=update["seq"])

    def push(self, update: dict) -> None:
        self._send(self._event(update))

    def _send(self, block: bytes) -> None:
        """Write and flush one block; close the connection of a reader too far behind."""
        if self._gone is None or self._gone.done():
            return
        self.write(block)
        self._writes += 1
        size = len(block)
        self._backlog += size
        self.flush().add_done_callback(lambda fut: self._written(size, fut))
        if self._backlog > self.state.send_backlog:
            record_backlog(self, self.state, self._backlog)  # the notebook's record, as for WebSockets
            self._stop()
            connection = self.request.connection
            if isinstance(connection, HTTP1Connection):  # what Tornado's HTTP server makes
                connection.close()

    def _written(self, size: int, fut) -> None:
        self._backlog -= size
        if not fut.cancelled():
            fut.exception()  # a client that left is not an error (and not "never retrieved")

    def _stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._gone is not None and not self._gone.done():
            self._gone.set_result(None)

    def end(self, why: str) -> None:
        """End the stream cleanly (a last comment, then the last chunk): the server is stopping."""
        if self._gone is None or self._gone.done():
            return
        self._send(encode_sse(comment=why))
        self._stop()

    def on_connection_close(self) -> None:
        self._stop()  # the client left
