"""/poll and /longpoll: the same feed as /ticker, the letter-style way.

``GET /poll?since=SEQ`` answers at once: the latest update (200, JSON) if it
is newer than SEQ, else 204. ``GET /longpoll?since=SEQ&timeout=S`` holds the
request until there is news or S seconds pass (204). Without ``since``, /poll
gives the latest update and /longpoll waits for the next one.
"""

from __future__ import annotations

import json

import tornado.web

from .base import Guarded

MAX_HOLD = 60.0  # seconds a long poll may be held


class _FeedHandler(Guarded, tornado.web.RequestHandler):
    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")  # every poll must reach the server

    def compute_etag(self) -> None:
        return None  # no 304s: each poll is a full answer, as the lesson counts bytes

    def since(self) -> int | None:
        raw = self.get_query_argument("since", None)
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            raise tornado.web.HTTPError(400, reason="since must be an integer sequence number")

    def answer(self, update: dict | None) -> None:
        if update is None:
            self.set_status(204)
            self.finish()
        else:
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(update))


class PollHandler(_FeedHandler):
    def get(self) -> None:
        self.answer(self.state.feed.newer_than(self.since()))


class LongPollHandler(_FeedHandler):
    async def get(self) -> None:
        try:
            timeout = min(max(float(self.get_query_argument("timeout", "20")), 0.0), MAX_HOLD)
        except ValueError:
            raise tornado.web.HTTPError(400, reason="timeout must be a number of seconds")
        update = await self.state.feed.wait(self.since(), timeout)
        if self.request.connection.stream.closed():  # the client gave up while we held it
            return
        self.answer(update)
