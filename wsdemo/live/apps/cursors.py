"""/cursors?name=Ada: send ``{"x": 0.5, "y": 0.25}`` (fractions of the canvas).

Moves are coalesced per tick, as game and shared-editor servers do: at most
``state.cursor_tick_hz`` times a second (20 by default) every member gets one frame,
``{"type": "moves", "tick": n, "moves": [{"id", "name", "x", "y"}, ...]}``, carrying the
latest position of every cursor that moved since the last tick (its own too: the same
frame goes to everyone, encoded once; a page skips its own id). ``tick`` counts up by one
per frame sent. A client moving faster than the tick only has its latest position sent on:
per-move fan-out would cost members x moves frames, the square of the class. Besides,
``{"type": "hello", "id", "name"}`` to a new member and ``{"type": "leave", "id"}`` to
everyone when a member goes.
"""

from __future__ import annotations

import asyncio
import json
import math

from .base import AppState, BaseSocket, parse_json


class CursorsSocket(BaseSocket):
    def opened(self) -> None:
        self.id = self.state.next_cursor_id
        self.state.next_cursor_id += 1
        self.name = self.get_query_argument("name", "")[:64] or f"#{self.id}"
        if not self.claim_name(self.name):
            return
        self.state.cursors[self] = self.id
        self.send(json.dumps({"type": "hello", "id": self.id, "name": self.name}))

    def handle(self, message: str | bytes) -> None:
        if self not in self.state.cursors:
            return  # refused at join (a locked name), its close under way
        data, _ = parse_json(message)
        try:
            x, y = float(data["x"]), float(data["y"])
            if not (math.isfinite(x) and math.isfinite(y)):
                raise ValueError
        except (ValueError, TypeError, KeyError, OverflowError):  # 10**400 does not fit a float
            self.send(json.dumps({"type": "error", "text": 'send {"x": number, "y": number}'}))
            return
        state = self.state
        # Replaces this mover's earlier position of the same tick (the dict keeps its first slot).
        state.cursor_moves[self.id] = {"id": self.id, "name": self.name,
                                       "x": min(max(x, 0.0), 1.0), "y": min(max(y, 0.0), 1.0)}
        if state.cursor_timer is None:
            _schedule_tick(state)

    def closed(self) -> None:
        state = self.state
        if state.cursors.pop(self, None) is not None:
            state.cursor_moves.pop(self.id, None)  # a pending move must not bring the cursor back
            _share(state, {"type": "leave", "id": self.id})

    @staticmethod
    def deliver(state: AppState, data: str | bytes) -> None:
        """To every member of this server, encoded once; the backplane brings other servers'
        ticks and leaves here as they are (wsdemo/live/backplane.py)."""
        if isinstance(data, str):
            data = data.encode()
        for member in list(state.cursors):
            member.send(data, binary=False)


def _share(state: AppState, event: dict) -> None:
    """One frame for this server's members and, with a backplane, the other servers'."""
    text = json.dumps(event, ensure_ascii=False)
    CursorsSocket.deliver(state, text)
    if state.backplane is not None:
        state.backplane.relay("cursors", text)


def _schedule_tick(state: AppState) -> None:
    """The next tick, on a fixed grid (multiples of the period), so ticks keep their rate
    whatever the moment of the first move; none while nobody moves."""
    loop = asyncio.get_running_loop()
    period = 1 / state.cursor_tick_hz
    due = (loop.time() // period + 1) * period
    state.cursor_timer = loop.call_at(due, _tick, state)


def _tick(state: AppState) -> None:
    state.cursor_timer = None
    moves, state.cursor_moves = state.cursor_moves, {}
    if not moves or not state.cursors:
        return
    state.cursor_tick += 1
    _share(state, {"type": "moves", "tick": state.cursor_tick, "moves": list(moves.values())})
