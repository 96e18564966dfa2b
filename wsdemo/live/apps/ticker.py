"""/ticker: the server speaks first. Every update of the shared feed is pushed,
unasked, as JSON ``{"seq", "at", "symbol", "price"}``.

``/ticker?interval=500`` sets the feed's rate in ms (the same feed /poll and
/longpoll serve; outside classroom mode only, where the teacher sets it with
``server.app_state.ticker_interval_ms``). An interval that is not a number from
20 to 60000 is refused with 400 before the handshake, in either mode.
"""

from __future__ import annotations

import json
from typing import Any

from .base import BaseSocket
from .feed import MAX_INTERVAL_MS, MIN_INTERVAL_MS
from .params import number_argument


class TickerSocket(BaseSocket):
    async def get(self, *args: Any, **kwargs: Any) -> None:
        self._interval = number_argument(self, "interval", None, low=MIN_INTERVAL_MS,
                                         high=MAX_INTERVAL_MS, unit="milliseconds")
        await super().get(*args, **kwargs)

    def opened(self) -> None:
        feed = self.state.feed
        if self._interval is not None and not self.state.classroom:
            feed.interval_ms = self._interval
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
