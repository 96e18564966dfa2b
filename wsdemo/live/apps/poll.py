"""/poll and /longpoll: the same feed as /ticker, the letter-style way.

``GET /poll?since=SEQ`` answers at once: the latest update (200, JSON) if it
is newer than SEQ, else 204. ``GET /longpoll?since=SEQ&timeout=S`` holds the
request until there is news or S seconds pass (204). Without ``since``, /poll
gives the latest update and /longpoll waits for the next one. ``since`` is a whole
number from 0 to 2**53, ``timeout`` a number of seconds from 0 to 60 (default 20);
anything else is a 400 that names the range.
"""

from __future__ import annotations

import json

import tornado.web
from tornado.http1connection import HTTP1Connection

from .base import Guarded
from .params import number_argument, whole_argument

MAX_HOLD = 60  # seconds a long poll may be held
MAX_SEQ = 2**53  # sequence numbers stay exact in JSON (and JavaScript) up to here


class _FeedHandler(Guarded, tornado.web.RequestHandler):
    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")  # every poll must reach the server

    def compute_etag(self) -> None:
        return None  # no 304s: each poll is a full answer, as the lesson counts bytes

    def since(self) -> int | None:
        return whole_argument(self, "since", None, low=0, high=MAX_SEQ)

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
        timeout = number_argument(self, "timeout", 20.0, low=0, high=MAX_HOLD, unit="seconds")
        update = await self.state.feed.wait(self.since(), timeout)
        connection = self.request.connection
        if isinstance(connection, HTTP1Connection) and connection.stream.closed():
            return  # the client gave up while we held it
        self.answer(update)
