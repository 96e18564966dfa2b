"""/echo: every message comes straight back, text as text, binary as binary."""

from __future__ import annotations

from .base import BaseSocket


class EchoSocket(BaseSocket):
    def handle(self, message: str | bytes) -> None:
        self.send(message)
