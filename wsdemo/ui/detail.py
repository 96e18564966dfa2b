"""The detail pane of one row: what the FrameInspector shows below its table for a frame,
an HTTP head, a server-sent event, a decode error or what the tap did; and the bytes and
text its payload views (text, JSON, hex) show."""

from __future__ import annotations

from .. import wire
from .handshake import headers_html
from .markup import CELL, WRAP, esc, field_table_html, hex_dump_html, masking_html, message_info_html
from .palette import DIRECTION_LABELS, ERROR_TEXT, direction_text
from .rows import Row, close_text, fmt_time, frame_text

__all__ = ["frame_detail_html", "sse_detail_html", "payload_of"]

_CELL = CELL


def frame_detail_html(row: Row) -> str:
    """The detail pane for one row: header, fields, hex dump, masking, message."""
    ev = row.event
    head = (f"<div><b>#{row.seq}</b> {esc(direction_text(row.sender))} "
            f"({esc(DIRECTION_LABELS.get(row.sender, row.sender))}) "
            f"{esc(fmt_time(row.t))}</div>")
    frame = row.frame
    if frame is not None:
        body = [f"<div><code>{esc(str(frame))}</code></div>",
                field_table_html(frame), hex_dump_html(bytes(frame.raw), frame.fields),
                masking_html(frame), message_info_html(row)]
        if frame.opcode == wire.Opcode.CLOSE:
            body.append(f"<div><b>Close</b>: {esc(close_text(bytes(frame.payload)))}</div>")
        return head + "".join(body)
    if isinstance(ev, wire.HttpRequest):
        return head + headers_html(ev.request, "request")
    if isinstance(ev, wire.HttpResponse):
        return head + headers_html(ev.response, "response")
    if isinstance(ev, (wire.SseEvent, wire.SseEnd)):
        return head + sse_detail_html(ev)
    if isinstance(ev, wire.DecodeError):
        return head + (f"<div style='color:{ERROR_TEXT}'><b>✗ Decode error</b> at byte {int(ev.offset)} "
                       f"of the {esc(ev.sender)} stream: {esc(ev.error)}</div>")
    if isinstance(ev, wire.TapEvent):
        return head + (f"<div><b>✂ {esc(ev.kind.value)}</b>: {esc(ev.text)} (the tap did this; "
                       "neither end sent it)</div>")
    return head


def sse_detail_html(ev) -> str:
    """A server-sent event: its lines with their bytes, what the chunk framing added, the bytes."""
    if isinstance(ev, wire.SseEnd):
        cut = f"; {int(ev.discarded)} B of an unfinished event are discarded" if ev.discarded else ""
        return (f"<div>End of the event stream: {int(ev.wire_size)} B (the last chunk){esc(cut)}</div>"
                + hex_dump_html(bytes(ev.raw)))
    e = ev.event
    rows = "".join(
        f"<tr><td style='{_CELL}'>{esc(f.kind)}{' (ignored)' if f.ignored else ''}</td>"
        f"<td style='{_CELL}'>{int(f.size)} B</td><td style='{_CELL};{WRAP}'>{esc(repr(f.value)[:200])}</td></tr>"
        for f in e.fields)
    what = (f"event <b>{esc(e.type)}</b>, lastEventId {esc(repr(e.last_event_id))}" if e.dispatched
            else "no data line: a browser fires no event for this block")
    return (f"<div>Server-sent {what}. {int(ev.wire_size)} B on the wire: {int(e.payload_size)} B of data, "
            f"{int(e.overhead)} B of field names, ids and line ends, {int(ev.framing_size)} B of chunk framing."
            f"</div><table style='border-collapse:collapse;font-size:90%'><tr><th style='{_CELL}'>line</th>"
            f"<th style='{_CELL}'>bytes</th><th style='{_CELL}'>value</th></tr>{rows}</table>"
            + hex_dump_html(bytes(ev.raw)))


def payload_of(row: Row) -> tuple[bytes, str | None]:
    """The bytes (inflated, whole message when known) and text to show in payload views."""
    msg = row.message
    if msg is not None and msg.kind in ("text", "binary"):
        return bytes(msg.data), msg.text
    frame = row.frame
    if frame is not None:
        return bytes(frame.payload), frame_text(frame)
    ev = row.event
    if isinstance(ev, wire.HttpRequest):
        return bytes(ev.request.raw) + bytes(ev.request.body or b""), None
    if isinstance(ev, wire.HttpResponse):
        return bytes(ev.response.raw) + bytes(ev.response.body or b""), None
    if isinstance(ev, wire.SseEvent):
        return ev.event.data.encode("utf-8", "replace"), ev.event.data
    return b"", None


