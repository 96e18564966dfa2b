"""Static snapshots of the widgets (issue 15): what a saved notebook shows where widgets
cannot run (GitHub, an untrusted notebook, a static HTML export).

The snapshot is the view as plain HTML: the frame table as a real table, the handshake,
the connections; every value off the wire escaped, so a classmate's hostile name or
message is text, never markup, also in a real browser.
"""

from __future__ import annotations

import re

import ipywidgets as W
import pytest

from wsdemo import wire
from wsdemo.ui import ConnectionsPanel, FrameInspector, HandshakeView, RecordedConnection, Recording
from wsdemo.ui import snapshot as S

from .conversation import HOSTILE, KEY, decode

pytestmark = pytest.mark.timeout(120)

HOSTILE_NAME = "<script>window.pwned = 'script'</script>"
HOSTILE_IMG = "<img src=x onerror=\"window.pwned = 'img'\">"


def _rows(html: str) -> list[str]:
    """The text of each row of a snapshot's frame table, cells joined by '|'."""
    rows = re.findall(r"<tr class='wsdemo-row'[^>]*>(.*?)</tr>", html, re.S)
    return ["|".join(re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)) for r in rows]


def _hostile() -> tuple[list, wire.ConnectionDecoder]:
    """A handshake and a message carrying a classmate's hostile name, decoded from bytes."""
    dec = wire.ConnectionDecoder()
    req = ("GET /chat?name=%3Cscript%3E HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
           f"Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
           f"User-Agent: {HOSTILE_NAME}\r\nX-Name: {HOSTILE_IMG}\r\n\r\n")
    events = dec.feed("client", req.encode(), at=1.0)
    resp = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {wire.compute_accept(KEY)}\r\n\r\n")
    events += dec.feed("server", resp.encode(), at=1.1)
    events += dec.feed("server", wire.encode_frame(wire.Opcode.TEXT, (HOSTILE_IMG + HOSTILE).encode()),
                       at=1.2)
    return events, dec


def test_inspector_snapshot_is_the_frame_table_with_the_selected_frame():
    events, _dec = decode()
    insp = FrameInspector(events)
    row = insp.select("close")
    html = insp.snapshot_html()
    assert html.startswith(S.SNAPSHOT_START)
    rows = _rows(html)
    assert len(rows) == len(insp.visible_rows()) == 13  # 2 HTTP heads + 11 frames
    assert rows[2].split("|")[1:6] == ["3", "+0.500s", "→ client", "TEXT", "5 B"]
    assert "&#x27;Hello&#x27;" in rows[2]
    assert "[msg 4, frame 2/2 → message &#x27;Hello&#x27;]" in rows[6]  # the fragment, reassembled
    marked = [r for r in rows if r.startswith("▶")]
    assert len(marked) == 1 and marked[0].split("|")[1] == str(row.seq)
    assert "wsdemo-fields" in html  # the selected frame's fields, as the live detail pane
    assert "Frames</b>: 11 frames (6 →, 5 ←)" in html

    insp.set_filter(direction="server")
    rows = _rows(insp.snapshot_html())
    assert rows and all("← server" in r for r in rows)
    assert len(rows) == len(insp.visible_rows())


def test_snapshot_keeps_the_newest_rows_of_a_long_table():
    dec = wire.ConnectionDecoder()
    events = []
    for data in (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: " + KEY.encode() + b"\r\nSec-WebSocket-Version: 13\r\n\r\n",):
        events += dec.feed("client", data, at=0.0)
    events += dec.feed("server", (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                  f"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                                  f"{wire.compute_accept(KEY)}\r\n\r\n").encode(), at=0.1)
    for i in range(S.MAX_ROWS + 30):
        events += dec.feed("server", wire.encode_frame(wire.Opcode.TEXT, f"n{i}".encode()), at=1.0 + i)
    html = FrameInspector(events).snapshot_html()
    rows = _rows(html)
    assert len(rows) == S.MAX_ROWS
    assert "n129" in rows[-1] and f"the {S.MAX_ROWS} newest of {S.MAX_ROWS + 32} rows" in html


def test_every_widget_output_carries_its_snapshot_as_text_html():
    events, dec = decode()
    for widget in (FrameInspector(events), HandshakeView(dec)):
        bundle = widget._repr_mimebundle_()
        assert bundle["text/plain"] == repr(widget)
        assert bundle["text/html"] == widget.snapshot_html()
        assert "application/vnd.jupyter.widget-view+json" in bundle


def test_hostile_values_are_escaped_in_every_snapshot():
    events, dec = _hostile()
    inspector, handshake = FrameInspector(events), HandshakeView(dec)
    inspector.select("text")
    for w in (inspector, handshake):
        html = w.snapshot_html()
        assert "<script" not in html and "<img" not in html, type(w).__name__
    assert "&lt;img src=x onerror=" in inspector.snapshot_html()
    assert "&lt;script&gt;window.pwned" in handshake.snapshot_html()

    # generic widgets: values escaped, HTML widgets kept (their markup is built escaped)
    box = W.VBox([W.HTML("<b>kept</b>"), W.Text(value=HOSTILE_NAME, description="name"),
                  W.Select(options=[HOSTILE_IMG, "ok"], value="ok"),
                  W.Dropdown(options=[HOSTILE_IMG], description="pick"),
                  W.Tab([W.Label(HOSTILE_NAME)], titles=(HOSTILE_IMG,)),
                  W.Button(description=HOSTILE_NAME), W.Checkbox(value=True, description=HOSTILE_IMG)])
    html = S.snapshot_html(box)
    assert "<b>kept</b>" in html
    assert "<script" not in html and "<img" not in html
    assert html.count("&lt;script&gt;") == 2 and html.count("&lt;img") == 4


def test_connections_panel_snapshot_is_its_table():
    tap = Recording([RecordedConnection(1, "127.0.0.1:5", "/chat?name=" + HOSTILE_NAME),
                     RecordedConnection(2, "127.0.0.1:6", "/echo")])
    html = ConnectionsPanel(tap).snapshot_html()
    assert "<table class='wsdemo-connections'" in html and html.count("<tr>") == 3
    assert "&lt;script&gt;" in html and "<script" not in html


async def test_no_script_runs_when_a_browser_shows_a_snapshot(browser):
    """Chromium parses the snapshots of widgets fed hostile names: no script, no handler runs."""
    events, dec = _hostile()
    inspector = FrameInspector(events)
    inspector.select("text")
    html = HandshakeView(dec).snapshot_html() + inspector.snapshot_html()
    page = await browser.new_page()
    await page.set_content(f"<html><body>{html}</body></html>")
    await page.wait_for_timeout(200)  # an onerror handler would have run by now
    assert await page.evaluate("window.pwned === undefined")
    assert await page.locator("script").count() == 0 and await page.locator("img").count() == 0
    body = await page.locator("body").text_content()
    assert HOSTILE_NAME in body and HOSTILE_IMG in body  # shown as text, exactly
    assert await page.locator("tr.wsdemo-row").count() == 3


def test_a_snapshot_that_cannot_be_drawn_falls_back_to_the_repr(caplog):
    """A drawing bug never reaches the cell as a traceback, and the output keeps its text/html."""
    events, _dec = decode()
    insp = FrameInspector(events)

    def broken():
        raise RuntimeError("drawing bug")

    insp.snapshot_html = broken
    bundle = insp._repr_mimebundle_()
    assert bundle["text/html"].startswith(S.SNAPSHOT_START)
    assert "FrameInspector: 11 frames" in bundle["text/html"]
    assert "could not draw a snapshot of FrameInspector" in caplog.text
    assert S.collect([insp.model_id])["snapshots"][insp.model_id] == bundle["text/html"]
