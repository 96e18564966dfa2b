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
from .rows import preview

__all__ = ["KINDS", "encode", "check_close", "MAX_CLOSE_REASON", "SendResult"]

KINDS = ("text", "json", "binary", "ping", "close")
MAX_CLOSE_REASON = 123  # 125-byte control payload minus the 2-byte code (RFC 6455 §5.5, §5.5.1)


def check_close(code: int, reason: str = "") -> None:
    """ValueError unless ``code`` may be sent in a close frame and ``reason`` fits."""
    from ..wire.frames import close_code_allowed

    if not close_code_allowed(int(code)):
        raise ValueError(f"close code {wire.describe_close_code(int(code))} — a close frame may "
                         "carry 1000–1003, 1007–1014 or 3000–4999 (RFC 6455 §7.4 and the IANA registry, §11.7)")
    n = len(reason.encode("utf-8"))
    if n > MAX_CLOSE_REASON:
        raise ValueError(f"close reason is {n} bytes of UTF-8; at most {MAX_CLOSE_REASON} fit "
                         "(a control frame carries 125 bytes, 2 of them the code: RFC 6455 §5.5)")


def encode(kind: str, value: Any) -> tuple[str | bytes, str]:
    """(what to send, a description) for a kind; ValueError (or wire.BytesTextError for
    binary that is not hex) with the reason if invalid."""
    if kind == "text":
        return str(value), f"TEXT {preview(b'', str(value))}"
    if kind == "json":
        if isinstance(value, str):
            try:
                obj = json.loads(value)
            except ValueError as e:
                raise ValueError(f"not valid JSON: {e}") from None
        else:
            obj = value
        text = json.dumps(obj, ensure_ascii=False)
        return text, f"TEXT (JSON) {preview(b'', text)}"
    if kind == "binary":
        data = bytes(value) if isinstance(value, (bytes, bytearray)) else wire.parse_bytes_text(str(value))
        return data, f"BINARY {preview(data)} [{len(data)} bytes]"
    if kind == "ping":
        data = value if isinstance(value, bytes) else str(value).encode()
        if len(data) > 125:
            raise ValueError("a ping payload is at most 125 bytes (RFC 6455 §5.5)")
        return data, f"PING {preview(data, data.decode('utf-8', 'replace'))}"
    raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")


@dataclass
class SendResult:
    """What one send did: what went out, the reply, and the frames seen on the wire."""

    kind: str
    sent: str
    reply: Any = None
    frames: list = field(default_factory=list)   # FrameEvents, both directions
    error: str | None = None

    @property
    def reply_label(self) -> str:
        return {"ping": "pong", "close": "server's close"}.get(self.kind, "reply")

    def reply_text(self, limit: int = 120) -> str:
        """The reply as one printable line: quoted text, or hex for binary data."""
        r = self.reply
        if isinstance(r, (bytes, bytearray)):
            try:  # a pong echoes the ping's data, often a short word: show it as typed
                text: str | None = bytes(r).decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is not None and not text.isprintable():
                text = None
            if self.kind == "binary" or text is None or not r:
                return preview(bytes(r)) or "(empty)"
            return preview(b"", text, limit)
        if self.kind == "close":
            return str(r)
        return preview(b"", str(r), limit)

    def __str__(self) -> str:
        lines = [f"→ {self.sent}"]
        if self.error:
            lines.append(f"✗ {self.error}")
        if self.reply is not None:
            lines.append(f"← {self.reply_label} {self.reply_text()}")
        lines += [f"  {ARROWS.get(e.sender, '?')} {e.frame}" for e in self.frames]
        return "\n".join(lines)
