"""/chat?name=Ada: one room; everyone gets every message, and join/leave notices.

Messages out are JSON objects with a ``type``:
``{"type": "join"|"leave", "name", "users", "at"}`` and
``{"type": "message", "name", "text", "at"}``. A client may send plain text or
``{"text": ...}``. Names and text are kept exactly as sent: escaping is the job
of whatever displays them (the pages use textContent).
"""

from __future__ import annotations

import json
import time

from .base import BaseSocket, parse_json

MAX_NAME = 64  # characters, so one name cannot fill the screen


def _lone_surrogate(value) -> bool:
    """"\\ud800" is valid JSON, but no UTF-8 can carry it on to the room."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class ChatSocket(BaseSocket):
    def opened(self) -> None:
        name = self.get_query_argument("name", "") or f"guest{len(self.state.chat) + 1}"
        self.name = name[:MAX_NAME]
        self.state.chat[self] = self.name
        self.broadcast({"type": "join", "name": self.name, "users": self.users()})

    def handle(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            self.send(json.dumps({"type": "error", "text": "chat messages are text"}))
            return
        text = message
        data, _ = parse_json(message)  # JSON this server cannot read is plain text, like any other
        if isinstance(data, dict) and _lone_surrogate(data.get("text")):
            self.send(json.dumps({"type": "error", "text": "text must be valid Unicode: "
                                  "a lone surrogate (\\ud800-\\udfff) cannot be sent on"}))
            return
        if isinstance(data, dict) and isinstance(data.get("text"), str):
            text = data["text"]
        self.broadcast({"type": "message", "name": self.name, "text": text})

    def closed(self) -> None:
        if self.state.chat.pop(self, None) is not None:
            self.broadcast({"type": "leave", "name": self.name, "users": self.users()})

    def users(self) -> list[str]:
        return sorted(self.state.chat.values())

    def broadcast(self, event: dict) -> None:
        event["at"] = time.time()
        text = json.dumps(event, ensure_ascii=False)
        for member in list(self.state.chat):
            member.send(text)
