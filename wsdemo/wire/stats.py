"""Byte and message counts per direction, from a list of events. Lessons and widgets use
this instead of recounting, so every view agrees."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from .events import DecodeError, Event, FrameEvent, HttpRequest, HttpResponse, MessageEvent, SseEnd, SseEvent
from .frames import Frame
from .messages import Message


@dataclass
class DirectionStats:
    frames: int = 0
    messages: int = 0
    payload_bytes: int = 0  #: frame payloads as sent (compressed if they were)
    framing_bytes: int = 0  #: frame headers: the cost of WebSocket framing
    http_head_bytes: int = 0
    http_body_bytes: int = 0  #: bodies as sent (chunk framing included)
    http_messages: int = 0
    data_bytes: int = 0  #: message data after inflating (what the application got)
    errors: int = 0
    sse_events: int = 0  #: server-sent event blocks (text/event-stream bodies)
    sse_payload_bytes: int = 0  #: their data values: what the application wanted to say
    #: everything else in an event stream: field names, ids, line ends, comments, chunk framing
    sse_overhead_bytes: int = 0

    def add_frame(self, frame: Frame) -> None:
        """Count one frame: the one place a frame's bytes are split into framing and payload."""
        self.frames += 1
        self.framing_bytes += len(frame.header)
        self.payload_bytes += frame.payload_len

    def add_message(self, message: Message) -> None:
        """Count one message and the data the application got from it."""
        self.messages += 1
        self.data_bytes += len(message.data)

    @property
    def wire_bytes(self) -> int:
        """Every byte counted: frames, HTTP heads and bodies, event streams."""
        return (self.payload_bytes + self.framing_bytes + self.http_head_bytes + self.http_body_bytes
                + self.sse_payload_bytes + self.sse_overhead_bytes)

    def __str__(self) -> str:
        parts = []
        if self.http_messages:
            parts.append(f"{self.http_messages} HTTP message{'s' if self.http_messages != 1 else ''} "
                         f"({self.http_head_bytes} B heads + {self.http_body_bytes} B bodies)")
        parts.append(f"{self.frames} frame{'s' if self.frames != 1 else ''} "
                     f"({self.framing_bytes} B headers + {self.payload_bytes} B payload)")
        parts.append(f"{self.messages} message{'s' if self.messages != 1 else ''}")
        if self.sse_events or self.sse_overhead_bytes:
            parts.append(f"{self.sse_events} server-sent event{'s' if self.sse_events != 1 else ''} "
                         f"({self.sse_overhead_bytes} B overhead + {self.sse_payload_bytes} B data)")
        if self.errors:
            parts.append(f"{self.errors} error{'s' if self.errors != 1 else ''}")
        return ", ".join(parts) + f"; {self.wire_bytes} B total"


@dataclass
class Summary:
    client: DirectionStats = field(default_factory=DirectionStats)
    server: DirectionStats = field(default_factory=DirectionStats)

    def __getitem__(self, sender: str) -> DirectionStats:
        if sender == "client":
            return self.client
        if sender == "server":
            return self.server
        raise KeyError(sender)

    @property
    def wire_bytes(self) -> int:
        return self.client.wire_bytes + self.server.wire_bytes

    def add(self, event: Event) -> None:
        """Count one more event (for running totals); the tap's own events count nothing."""
        sender = event.sender
        if sender not in ("client", "server"):
            return
        s = self[sender]
        if isinstance(event, FrameEvent):
            s.add_frame(event.frame)
        elif isinstance(event, MessageEvent):
            s.add_message(event.message)
        elif isinstance(event, HttpRequest):
            s.http_messages += 1
            s.http_head_bytes += len(event.request.raw)
            s.http_body_bytes += event.request.body_wire_size
        elif isinstance(event, HttpResponse):
            s.http_messages += 1
            s.http_head_bytes += len(event.response.raw)
            s.http_body_bytes += event.response.body_wire_size
        elif isinstance(event, SseEvent):
            s.sse_events += 1
            s.sse_payload_bytes += event.event.payload_size
            s.sse_overhead_bytes += event.wire_size - event.event.payload_size
        elif isinstance(event, SseEnd):
            s.sse_overhead_bytes += event.wire_size
        elif isinstance(event, DecodeError):
            s.errors += 1

    def __str__(self) -> str:
        return f"client: {self.client}\nserver: {self.server}"


def summarize(events: Iterable[Event]) -> Summary:
    """Count frames, messages and bytes per direction ("client", "server")."""
    summary = Summary()
    for event in events:
        summary.add(event)
    return summary
