"""What the Composer sends: its input checks and the record of one send.

Plain functions (no ipywidgets): ``encode`` turns what a learner typed into what the client
sends, or a ValueError / ``wire.ProtocolError`` saying what is wrong, before anything goes out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .. import wire
from .palette import ARROWS

__all__ = ["KINDS", "encode", "SendResult"]

KINDS = ("text", "json", "binary", "ping", "close")
def encode(kind: str, value: Any) -> tuple[str | bytes, str]:
    """(what to send, a description) for a kind; ValueError (or wire.BytesTextError for
    binary that is not hex) with the reason if invalid. A close is checked by wire.Close."""
    if kind == "text":
        return str(value), f"TEXT {wire.preview(b'', str(value))}"
    if kind == "json":
        if isinstance(value, str):
            try:
                obj = json.loads(value)
            except ValueError as e:
                raise ValueError(f"not valid JSON: {e}") from None
        else:
            obj = value
        text = json.dumps(obj, ensure_ascii=False)
        return text, f"TEXT (JSON) {wire.preview(b'', text)}"
    if kind == "binary":
        data = bytes(value) if isinstance(value, (bytes, bytearray)) else wire.parse_bytes_text(str(value))
        return data, f"BINARY {wire.preview(data)} [{len(data)} bytes]"
    if kind == "ping":
        data = value if isinstance(value, bytes) else str(value).encode()
        if len(data) > 125:
            raise ValueError("a ping payload is at most 125 bytes (RFC 6455 §5.5)")
        return data, f"PING {wire.preview(data, True)}"
    raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")


@dataclass
class SendResult:
    """What one send did: what went out, the reply, and the frames seen on the wire."""

    kind: str
    sent: str
    reply: Any = None
    frames: list = field(default_factory=list)   # FrameEvents, both directions
    error: str | None = None
    went_out: bool = False  # the client wrote it (False: refused before sending, see error)

    @property
    def reply_label(self) -> str:
        return {"ping": "pong", "close": "server's close"}.get(self.kind, "reply")

    def reply_text(self, limit: int = 120) -> str:
        """The reply as one printable line: quoted text, or hex for binary data."""
        r = self.reply
        if isinstance(r, (bytes, bytearray)):
            data = bytes(r)  # a pong echoes the ping's data, often a short word: show it as typed
            if self.kind == "binary" or not data or not wire.looks_text(data):
                return wire.preview(data) or "(empty)"
            return wire.preview(data, True, limit)
        if self.kind == "close":
            return str(r)
        return wire.preview(b"", str(r), limit)

    def __str__(self) -> str:
        lines = [f"→ {self.sent}"]
        if self.error:
            lines.append(f"✗ {self.error}")
        if self.reply is not None:
            lines.append(f"← {self.reply_label} {self.reply_text()}")
        lines += [f"  {ARROWS.get(e.sender, '?')} {e.frame}" for e in self.frames]
        return "\n".join(lines)
