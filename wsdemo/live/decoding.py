"""When the tap decodes what it relayed: one queue and one timer for all its connections.

A connection's first undecoded chunk puts it at the back of the queue; the queue's one timer
waits DECODE_DELAY, and longer while chunks keep arriving (up to MAX_DEFER for the oldest),
then the connections take turns, TURN_BUDGET events a pass of the loop between them, until
the queue is empty. A timer per connection cost a TimerHandle for nearly every chunk under a
class's load (a tick brings every member one chunk, and each was a batch of its own): 2-3 us
of the tap's ~4 us per chunk relayed in a fan-out (recording.py has the constants and why).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING

from .recording import DECODE_DELAY, MAX_DEFER, TURN_BUDGET

if TYPE_CHECKING:
    from .recording import Connection
    from .tap import Tap


class DecodeQueue:
    """The tap's connections with chunks noted and not decoded yet, in the order they came due.
    A connection's ``_due`` says it is in ``due``; while ``due`` is not empty, ``timer`` (wait
    for a quiet moment) or ``soon`` (turns in the next pass) is set."""

    __slots__ = ("tap", "due", "timer", "soon")

    def __init__(self, tap: "Tap"):
        self.tap = tap
        self.due: deque[Connection] = deque()
        self.timer: asyncio.TimerHandle | None = None
        self.soon: asyncio.Handle | None = None

    def add(self, conn: "Connection") -> None:
        """``conn`` has chunks to decode: into the queue, unless it is there already."""
        if conn._due:
            return
        conn._due = True
        self.due.append(conn)
        if self.timer is None and self.soon is None:
            self.timer = self.tap._loop.call_later(DECODE_DELAY, self._when_quiet)

    def hurry(self) -> None:
        """A connection holds too much undecoded: turns from the next pass on, quiet or not."""
        if self.soon is None:
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            self.soon = self.tap._loop.call_soon(self._turns)

    def _when_quiet(self) -> None:
        self.timer = None
        due = self.due
        while due and not due[0]._pending:  # decoded on demand meanwhile (someone read events)
            due.popleft()._due = False
        if not due:
            return
        now = time.time()
        waited = now - due[0]._pending[0][1]
        if now - self.tap._last_chunk_at < DECODE_DELAY / 2 and waited < MAX_DEFER:
            # Busy: look again after as long as the oldest has waited (2, 4, 8... ms), not
            # every DECODE_DELAY: under a class's load the tap is never quiet.
            again = min(max(waited, DECODE_DELAY), MAX_DEFER - waited)
            self.timer = self.tap._loop.call_later(again, self._when_quiet)
            return
        self._turns()

    def _turns(self) -> None:
        """This pass's turns: connections in order, TURN_BUDGET events together (a turn may
        finish the slice of a chunk it is in); the rest in the next pass, after the loop has
        polled the sockets, so a burst to decode never holds up the relay."""
        self.soon = None
        due = self.due
        spent = 0
        while due and spent < TURN_BUDGET:
            conn = due.popleft()
            conn._due = False
            if not conn._pending:
                continue
            more, made = conn._decode_pending(TURN_BUDGET - spent)
            spent += made or 1
            if more and not conn._due:
                conn._due = True
                due.append(conn)
        if due and self.soon is None:
            if self.timer is not None:  # (armed by a chunk noted during these turns)
                self.timer.cancel()
                self.timer = None
            self.soon = self.tap._loop.call_soon(self._turns)

    def cancel(self) -> None:
        """The tap stopped (its connections were decoded in full)."""
        for handle in (self.timer, self.soon):
            if handle is not None:
                handle.cancel()
        self.timer = self.soon = None
        for conn in self.due:
            conn._due = False
        self.due.clear()
