"""The update stream behind /ticker, /poll and /longpoll.

One feed, three ways to follow it: pushed over a WebSocket, asked for with
short polls, or waited for with long polls. Every update carries a sequence
number and the server time it was produced (``at``, time.time()), so an
experiment can measure how late each way learns about it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from typing import Callable

from ..callbacks import subscribe

MIN_INTERVAL_MS = 20
MAX_INTERVAL_MS = 60_000


class Feed:
    """A price that moves every ``interval_ms`` milliseconds."""

    def __init__(self, interval_ms: float = 1000, symbol: str = "WSD", history: int = 100):
        self.symbol = symbol
        self.seq = 0
        self.latest: dict | None = None
        self.history: deque[dict] = deque(maxlen=history)
        self._interval_ms = self._clamp(interval_ms)
        self._price = 100.0
        self._random = random.Random(6455)  # the same walk every run: outputs stay comparable
        self._subscribers: list[Callable[[dict], None]] = []
        self._waiters: set[asyncio.Future] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False
        # With a backplane (wsdemo/live/backplane.py): ``relay`` gets each update this feed makes,
        # and while ``following`` its timer rests and accept() brings the publisher's updates.
        self.relay: Callable[[dict], None] | None = None
        self.following = False

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Feed {self.symbol} every {self._interval_ms:g} ms, seq={self.seq}, {state}>"

    @staticmethod
    def _clamp(ms: float) -> float:
        ms = float(ms)
        if ms != ms:  # NaN
            raise ValueError("interval must be a number of milliseconds")
        return min(max(ms, MIN_INTERVAL_MS), MAX_INTERVAL_MS)

    @property
    def interval_ms(self) -> float:
        return self._interval_ms

    @interval_ms.setter
    def interval_ms(self, ms: float) -> None:
        # Clamped so nobody can turn the feed into a flood (or stop it forever).
        self._interval_ms = self._clamp(ms)
        self._wake.set()  # apply the new rate now, not after the old interval

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name="wsdemo feed")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            # Python 3.11's wait_for swallows a cancel that lands as its waiter completes (a rate
            # change sets _wake): the flag ends the loop even then.
            self._stopping = True
            self._wake.set()
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        for fut in list(self._waiters):
            if not fut.done():
                fut.set_result(None)  # a held long poll answers 204 instead of hanging
        self._waiters.clear()

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self._interval_ms / 1000)
                continue  # the rate changed: start a fresh interval
            except asyncio.TimeoutError:
                pass
            if not self.following:
                self.publish()

    def publish(self, **extra) -> dict:
        """Produce the next update now and hand it to every follower."""
        self._price = max(1.0, self._price + self._random.gauss(0, 0.5))
        self.seq += 1
        update = {"seq": self.seq, "at": time.time(), "symbol": self.symbol,
                  "price": round(self._price, 2), **extra}
        self._hand_out(update)
        if self.relay is not None:
            self.relay(update)
        return update

    def accept(self, update: dict) -> None:
        """An update another server's feed made (the backplane's publisher): serve it as ours.
        The walk goes on from it, so a server that takes over publishing continues it. One not
        above this feed's number is ignored: numbers never go back (``?since=`` relies on it)."""
        seq, price = int(update["seq"]), float(update["price"])
        if seq <= self.seq:
            return
        self.seq, self._price = seq, price
        self._hand_out(update)

    def _hand_out(self, update: dict) -> None:
        self.latest = update
        self.history.append(update)
        for fut in list(self._waiters):
            if not fut.done():
                fut.set_result(update)
        self._waiters.clear()
        for callback in list(self._subscribers):
            try:
                callback(update)
            except Exception:  # one broken follower must not starve the others
                import logging
                logging.getLogger("wsdemo.apps").exception("ticker subscriber failed")

    def subscribe(self, callback: Callable[[dict], None]) -> Callable[[], None]:
        return subscribe(self._subscribers, callback)

    def newer_than(self, seq: int | None) -> dict | None:
        """The latest update if it is newer than ``seq`` (None: any), else None."""
        if self.latest is None or (seq is not None and self.latest["seq"] <= seq):
            return None
        return self.latest

    async def wait(self, since: int | None, timeout: float) -> dict | None:
        """The first update newer than ``since`` (None: the next one), or None on timeout."""
        if since is not None and (news := self.newer_than(since)) is not None:
            return news
        fut = asyncio.get_running_loop().create_future()
        self._waiters.add(fut)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            return None
        finally:
            self._waiters.discard(fut)
