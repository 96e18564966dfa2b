"""/chat?name=Ada: one room; everyone gets every message, and join/leave notices.

Messages out are JSON objects with a ``type``:
``{"type": "join"|"leave", "name", "users", "at"}`` and
``{"type": "message", "name", "text", "at"}``; to the sender alone,
``{"type": "error", "text", ...}`` when a message is refused (``"code": "muted"`` when the
teacher muted this name: sent at once when muted, and for each message refused), and
``{"type": "notice", "code": "unmuted", "text"}`` when the teacher lifts it. A client may send plain text or
``{"text": ...}``. What the room receives must fit ``state.max_message_size`` once encoded
(JSON writes a control character as six bytes, so a small message can grow past it): a
message that would not is refused with ``{"type": "error", "text", "limit", "size"}``.
Names and text are kept exactly as sent: escaping is the job of whatever displays them
(the pages use textContent).
"""

from __future__ import annotations

import json
import time

from .base import BaseSocket, name_key, parse_json

MAX_NAME = 64  # characters, so one name cannot fill the screen
MUTED_TEXT = "you are muted by the teacher: your messages do not reach the room"


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
    # The JSON above, versioned: a client that offers it knows the message shapes. Clients
    # that offer nothing (a plain WebSocket) are served the same way.
    SUBPROTOCOLS = ("wsdemo.chat.v1",)

    def opened(self) -> None:
        name = self.get_query_argument("name", "") or f"guest{len(self.state.chat) + 1}"
        self.name = name[:MAX_NAME]
        if not self.claim_name(self.name):
            return
        self.state.chat[self] = self.name
        self.broadcast({"type": "join", "name": self.name, "users": self.users()})

    def handle(self, message: str | bytes) -> None:
        if self not in self.state.chat:
            return  # refused at join (a locked name), its close under way
        if isinstance(message, bytes):
            self.send(json.dumps({"type": "error", "text": "chat messages are text"}))
            return
        if name_key(self.name) in self.state.muted:
            self.send(json.dumps({"type": "error", "code": "muted", "text": MUTED_TEXT}))
            return
        text = message
        data, _ = parse_json(message)  # JSON this server cannot read is plain text, like any other
        if isinstance(data, dict) and _lone_surrogate(data.get("text")):
            self.send(json.dumps({"type": "error", "text": "text must be valid Unicode: "
                                  "a lone surrogate (\\ud800-\\udfff) cannot be sent on"}))
            return
        if isinstance(data, dict) and isinstance(data.get("text"), str):
            text = data["text"]
        # Bounded after encoding: JSON writes a control character as 6 bytes, so 400 kB in
        # (405 bytes compressed) would be 2.4 MB to every member. The bound is the one the server
        # applies to what it receives, so a client with the same limit accepts all it is sent.
        data = self.encode({"type": "message", "name": self.name, "text": text})
        limit = self.state.max_message_size
        if len(data) > limit:
            self.send(json.dumps({
                "type": "error", "limit": limit, "size": len(data),
                "text": f"message not sent: as JSON it is {len(data)} bytes, over the room's {limit}-byte "
                        f"limit (max_message_size); control characters take 6 bytes each"}))
            return
        self.send_all(data, author=self)

    def closed(self) -> None:
        if self.state.chat.pop(self, None) is not None:
            self.broadcast({"type": "leave", "name": self.name, "users": self.users()})

    def users(self) -> list[str]:
        """Everyone in the room: here and, with a backplane, on the other servers."""
        backplane = self.state.backplane
        return sorted([*self.state.chat.values(), *(backplane.remote_users() if backplane else ())])

    def broadcast(self, event: dict) -> None:
        """A notice the server makes (join, leave) to every member; its size is bounded by
        MAX_NAME and the connection cap, so it is not checked against the message limit."""
        self.send_all(self.encode(event), presence=True)

    @staticmethod
    def encode(event: dict) -> bytes:
        event["at"] = time.time()
        return json.dumps(event, ensure_ascii=False).encode()

    def send_all(self, data: bytes, *, author: "ChatSocket | None" = None,
                 presence: bool = False) -> None:
        """To every member here and, with a backplane, on the other servers (``author`` is told
        if they could not be reached; ``presence``: they learn who is in the room here)."""
        self.deliver(self.state, data)
        if self.state.backplane is not None:
            here = sorted(self.state.chat.values()) if presence else None
            self.state.backplane.relay("chat", data, author=author, users=here)

    @staticmethod
    def deliver(state, data: bytes) -> None:
        """To this server's members: encoded once for the whole room, sent as text."""
        for member in list(state.chat):
            member.send(data, binary=False)
