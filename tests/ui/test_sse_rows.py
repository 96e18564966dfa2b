"""Server-sent events in the show layer: rows, detail, summary and recordings, offline from
decoded bytes; an event type the UI does not know is left out, never a crash."""

from __future__ import annotations

from wsdemo import wire
from wsdemo.ui import FrameInspector
from wsdemo.ui import detail, markup, rows as ui_rows
from wsdemo.wire import recording

REQ = b"GET /sse HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
HOSTILE = "<img src=x onerror=alert(1)>"


def chunk(block: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(block), block)


def sse_events():
    dec = wire.ConnectionDecoder()
    events = dec.feed("client", REQ)
    body = (chunk(wire.encode_sse(retry=3000, comment="hello")) + chunk(wire.encode_sse(HOSTILE, id="<b>1</b>"))
            + chunk(wire.encode_sse('{"seq": 2}', id=2, event="tick")) + b"0\r\n\r\n")
    events += dec.feed("server", HEAD + body)
    return events


def test_sse_rows_show_type_id_and_byte_costs():
    book = ui_rows.RowBook()
    rows = [r for e in sse_events() if (r := book.add(e)) is not None]
    assert [r.label for r in rows] == ["HTTP GET", "HTTP 200", "SSE no data", "SSE message", "SSE tick", "SSE end"]
    msg = rows[3]
    assert msg.kind == "sse" and msg.length == msg.event.wire_size
    assert "id '<b>1</b>'" in ui_rows.format_row(msg) and "chunk framing" in ui_rows.format_row(msg)
    assert [r.label for r in ui_rows.filter_rows(rows, kind="server-sent events")] == [r.label for r in rows[2:]]


def test_sse_detail_is_escaped_and_names_every_cost():
    book = ui_rows.RowBook()
    rows = [r for e in sse_events() if (r := book.add(e)) is not None]
    html = detail.frame_detail_html(rows[3])
    assert "<img" not in html and "&lt;img src=x" in html and "<b>1</b>" not in html
    ev = rows[3].event
    assert f"{ev.event.payload_size} B of data" in html and f"{ev.framing_size} B of chunk framing" in html
    assert detail.payload_of(rows[3]) == (HOSTILE.encode(), HOSTILE)
    assert "the last chunk" in detail.frame_detail_html(rows[-1])


def test_summary_and_recording_keep_sse():
    events = sse_events()
    line = markup.summary_text(wire.summarize(events))
    assert "2 server-sent events" not in line and "3 server-sent events" in line
    (again,) = recording.import_recording(recording.export_recording(events))
    assert [type(e) for e in again.events] == [type(e) for e in events]
    assert wire.summarize(again.events).wire_bytes == wire.summarize(events).wire_bytes


def test_inspector_and_panel_take_sse_and_unknown_events():
    class Unknown:  # an event type from a newer wire layer
        sender, at = "server", 0.0

    events = sse_events() + [Unknown()]
    insp = FrameInspector(events)
    assert len(insp.rows) == len(events) - 1  # the unknown one is left out
    row = insp.select(-1)
    assert row is not None and row.label == "SSE end"
    insp.set_filter(kind="server-sent events")
    assert len(insp.visible_rows()) == 4
    insp.feed([Unknown()])
    insp.flush()
    (conn,) = recording.import_recording(recording.export_recording(sse_events()))
    s = conn.summary().server
    pushed = s.sse_payload_bytes + s.sse_overhead_bytes
    assert pushed > 0 and f">{pushed}</td>" in markup.connections_table_html([conn])
