"""/ticker: the server speaks first. Every update of the shared feed is pushed,
unasked, as JSON ``{"seq", "at", "symbol", "price"}``.

``/ticker?interval=500`` sets the feed's rate in ms (the same feed /poll and
/longpoll serve; outside classroom mode only, where the teacher sets it with
``server.app_state.ticker_interval_ms``).
"""

from __future__ import annotations

import json

from .base import BaseSocket


class TickerSocket(BaseSocket):
    def opened(self) -> None:
        feed = self.state.feed
        interval = self.get_query_argument("interval", None)
        if interval is not None and not self.state.classroom:
            try:
                feed.interval_ms = float(interval)
            except ValueError:
                self.close(1003, "interval must be a number of milliseconds")
                return
        self._unsubscribe = feed.subscribe(self.push)
        if feed.latest is not None:
            self.push(feed.latest)  # something to show at once

    def push(self, update: dict) -> None:
        self.send(json.dumps(update))

    def handle(self, message: str | bytes) -> None:
        pass  # the ticker only talks; what clients say is ignored

    def closed(self) -> None:
        unsubscribe = getattr(self, "_unsubscribe", None)
        if unsubscribe:
            unsubscribe()
