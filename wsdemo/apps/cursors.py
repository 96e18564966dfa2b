"""/cursors?name=Ada: send ``{"x": 0.5, "y": 0.25}`` (fractions of the canvas);
everyone else gets ``{"type": "move", "id", "name", "x", "y"}`` and
``{"type": "leave", "id"}``. A stand-in for games and shared editors.
"""

from __future__ import annotations

import json
import math

from .base import BaseSocket, parse_json


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
        move = {"type": "move", "id": self.id, "name": self.name,
                "x": min(max(x, 0.0), 1.0), "y": min(max(y, 0.0), 1.0)}
        self.to_others(move)

    def closed(self) -> None:
        if self.state.cursors.pop(self, None) is not None:
            self.to_others({"type": "leave", "id": self.id})

    def to_others(self, event: dict) -> None:
        text = json.dumps(event, ensure_ascii=False)
        self.deliver(self.state, text, exclude=self)
        if self.state.backplane is not None:  # the other servers' members (wsdemo/backplane.py)
            self.state.backplane.relay("cursors", text)

    @staticmethod
    def deliver(state, text: str, exclude=None) -> None:
        """To this server's members (but ``exclude``); the backplane brings other servers' here."""
        for member in list(state.cursors):
            if member is not exclude:
                member.send(text)
