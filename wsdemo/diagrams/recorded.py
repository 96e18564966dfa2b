"""Sequence diagrams drawn from recorded connections (the tap's, or a recording file)."""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from .. import wire
from ..ui.palette import LIFELINE_COLOR
from ..wire.events import Event
from ..wire.recording import ConnectionRecord
from .base import Diagram
from .sequences import _LEGEND_DIRECTIONS, _Lane, _Story, _close_label, _draw_stories

_LANE_OF = {"client": 0, "server": 1}


def _elapsed(seconds: float) -> str:
    if seconds < 1:
        return f"+{seconds * 1000:.1f} ms"
    return f"+{seconds:.3f} s"


def _preview(frame) -> str:
    """A short quoted look at a text frame's payload (uncompressed, whole frames only)."""
    if frame.rsv1:
        return " (compressed)"
    if frame.opcode != wire.Opcode.TEXT:
        return ""
    return " " + wire.preview(frame.payload, True, limit=24, ellipsis_inside=True)


def _event_arrow(ev) -> tuple[str, int | None, bool] | None:
    """(label, bytes on the wire, dashed) for one event, or None when it is not an arrow.

    MessageEvents are skipped: a message is made of the frames already drawn.
    """
    if isinstance(ev, wire.HttpRequest):
        req = ev.request
        return f"{req.method} {req.target}", len(req.raw) + len(req.body or b""), False
    if isinstance(ev, wire.HttpResponse):
        res = ev.response
        return f"{res.status} {res.reason}", len(res.raw) + len(res.body or b""), False
    if isinstance(ev, wire.FrameEvent):
        f = ev.frame
        if f.opcode == wire.Opcode.CLOSE and not f.rsv1:
            name = _close_label(f.payload)
        else:
            name = wire.opcode_name(f.opcode, short=True)
        if not f.fin or f.opcode == wire.Opcode.CONTINUATION:
            name += " (fragment)" if f.opcode != wire.Opcode.CONTINUATION else (" (last)" if f.fin else "")
        return name + _preview(f), len(f.raw), False
    if isinstance(ev, wire.DecodeError):
        text = str(ev.error)
        if len(text) > 48:
            text = text[:47] + "…"
        return f"decode error at byte {ev.offset}: {text}", None, True
    return None


def _arrow_text(label: str, size: int | None) -> str:
    return label if size is None else f"{label}  {size:,} B"


def _is_frame(ev) -> bool:
    return isinstance(ev, wire.FrameEvent)


def _collapsed_note(hidden: list) -> str:
    kinds = Counter("frame" if _is_frame(ev) else "decode error" if isinstance(ev, wire.DecodeError)
                    else "HTTP message" for ev, _ in hidden)
    parts = [f"{n} more {kind}{'s' if n != 1 else ''}" for kind, n in
             sorted(kinds.items(), key=lambda kv: ("frame", "HTTP message", "decode error").index(kv[0]))]
    by = Counter(ev.sender for ev, _ in hidden)
    size = sum(a[1] or 0 for _, a in hidden)
    return (f"… {', '.join(parts)} …  ({by['client']} → server, {by['server']} → client, {size:,} B)")


def _connection_story(conn: ConnectionRecord, max_arrows: int, title: str | None) -> tuple[_Story, int]:
    arrows = []
    for ev in list(conn.events):
        a = _event_arrow(ev)
        if a is not None:
            arrows.append((ev, a))
    t0 = conn.opened_at
    if t0 is None:
        t0 = arrows[0][0].at if arrows else 0.0
    peer = conn.peer
    story = _Story(title, [_Lane(f"client\n{peer}" if peer else "client"), _Lane("server")], show_time=True)
    if len(arrows) > max_arrows:
        # Keep the start (handshake) and the end (closing handshake); fold the middle.
        head = (max_arrows + 1) // 2
        tail = max_arrows - head
        shown: list[tuple[Event, tuple[str, int | None, bool]] | None] = [
            *arrows[:head], None, *(arrows[-tail:] if tail else [])]
        hidden = arrows[head:len(arrows) - tail]
    else:
        shown, hidden = list(arrows), []
    for item in shown:
        if item is None:
            story.note(_collapsed_note(hidden), time=f"{_elapsed(hidden[0][0].at - t0)} …")
            continue
        ev, (label, size, dashed) = item
        lane = _LANE_OF.get(ev.sender, 0)
        story.send(lane, 1 - lane, _arrow_text(label, size), time=_elapsed(ev.at - t0), dashed=dashed)
    return story, len(arrows)


def _conn_title(conn: ConnectionRecord) -> str:
    cid, path = conn.id, conn.path
    head = f"connection {cid}" if cid is not None else "connection"
    return f"{head}: {path}" if path else head


def _legend_recorded(conns) -> list:
    entries = list(_LEGEND_DIRECTIONS)
    if any(isinstance(ev, wire.DecodeError) for c in conns for ev in list(c.events)):
        entries.append(("#333333", "dashed", "dashed: bytes that did not decode"))
    return entries + [(LIFELINE_COLOR, "lifeline", "lifeline: events in order, not to scale")]


def from_connection(conn: ConnectionRecord, *, max_arrows: int = 40, title: str | None = None) -> Diagram:
    """Draw a recorded connection: each HTTP head and each frame an arrow, in time order.

    ``conn`` is a ``ConnectionRecord`` (``wsdemo.wire.recording``): a tap ``Connection``
    or a ``RecordedConnection``. Labels give
    the kind, the bytes on the wire and, on the left, the time since the
    connection opened. More than ``max_arrows`` arrows fold their middle into
    one line that counts what it hides.
    """
    if max_arrows < 2:
        raise ValueError(f"max_arrows must be at least 2 (got {max_arrows})")
    story, total = _connection_story(conn, max_arrows, None)
    drawn = story.arrows
    path = conn.path or "?"
    summary = f"{path}, {drawn} arrows" + (f" of {total}" if total > drawn else "")
    return _draw_stories("from_connection", title or _conn_title(conn), [story], _legend_recorded([conn]),
                         summary=summary)


def from_connections(conns: Sequence[ConnectionRecord], *, max_arrows: int = 24, title: str | None = None) -> Diagram:
    """Several recorded connections side by side (e.g. a polling client next to a WebSocket
    client). Rows follow each connection's own order; they are not on one time scale."""
    conns = list(conns)
    if not conns:
        raise ValueError("from_connections needs at least one connection")
    if max_arrows < 2:
        raise ValueError(f"max_arrows must be at least 2 (got {max_arrows})")
    stories, parts = [], []
    for conn in conns:
        story, total = _connection_story(conn, max_arrows, _conn_title(conn))
        stories.append(story)
        parts.append(f"{conn.path or '?'} {story.arrows}" +
                     (f"/{total}" if total > story.arrows else ""))
    return _draw_stories("from_connections", title or "Side by side", stories, _legend_recorded(conns),
                         summary=f"{len(conns)} connections, arrows {', '.join(parts)}")


