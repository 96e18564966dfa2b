"""Widget state, without a browser: offline on decoded bytes, and live on a real server."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

import pytest

import wsdemo
from wsdemo import wire
from wsdemo.ui import (
    Composer, ConnectionsPanel, ConnectionSummary, FrameInspector, HandshakeView, summary_line,
)
from wsdemo.ui import render as R

from .conversation import ACCEPT, HOSTILE, decode, request_bytes, response_bytes

pytestmark = pytest.mark.timeout(120)


# --------------------------------------------------------------------------- offline

def test_handshake_view_from_a_decoder():
    _, dec = decode()
    view = HandshakeView(dec)
    assert repr(view) == "HandshakeView: GET /chat → 101 Switching Protocols, accept ✓, 0 problems"
    assert view.accept_ok() is True
    assert "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" in view.text
    assert "✓ matches" in view._accept.value
    assert view._repr_mimebundle_()["text/plain"] == repr(view)


def test_handshake_view_shows_a_wrong_accept_in_red():
    _, dec = decode(accept="AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    view = HandshakeView(dec)
    assert view.accept_ok() is False
    assert repr(view).endswith("accept ✗, 1 problem")
    assert "color:#b00020" in view._problems.value and "Sec-WebSocket-Accept" in view._problems.value
    assert f"expected <code>{ACCEPT}</code>" in view._accept.value


def test_inspector_offline_table_filters_and_detail():
    events, _ = decode()
    insp = FrameInspector(events)
    assert repr(insp) == "FrameInspector: 11 frames (6 →, 5 ←), showing all"
    labels = insp._table._options_labels
    assert len(labels) == 13 and "HTTP GET" in labels[0]
    insp.set_filter(direction="server", kind="control")
    assert repr(insp) == "FrameInspector: 11 frames (6 →, 5 ←), showing 2 rows: ← server, control"
    assert len(insp._table._options_labels) == 2
    assert insp._empty.value == ""
    insp.set_filter(text="nobody sent this")
    assert insp._table._options_labels == () or list(insp._table._options_labels) == []
    assert "No rows match direction ← server, kind &#x27;control&#x27;" in insp._empty.value
    assert "all 13 rows are hidden" in insp._empty.value
    insp.set_filter(direction="all", kind="all", text="onerror")
    assert insp._empty.value == ""
    row = insp.select(-1)
    assert row is not None and HOSTILE in row.message.text
    # detail pane: fields with bits, escaped payload in every view
    for name in ("FIN", "RSV1", "opcode", "MASK", "payload length", "payload"):
        assert f">{name}<" in insp._detail.value
    for html in (insp._detail.value, insp._as_text.value, insp._as_json.value):
        assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in insp._as_text.value
    assert "<details open>" in insp._as_json.value
    # picking a row in the table (what a click does) shows that row
    insp.set_filter(text="")
    first_text = next(r for r in insp.visible_rows() if r.kind == "text")
    insp._table.value = first_text.seq
    assert insp.selected is first_text and "Masking</b> (RFC 6455 §5.3)" in insp._detail.value


def test_inspector_export_and_load_back():
    events, _ = decode()
    insp = FrameInspector(events)
    text = insp.export_json()
    again = FrameInspector.from_json(text)
    assert repr(again) == repr(insp)
    assert [R.format_row(r) for r in again.rows] == [R.format_row(r) for r in insp.rows]
    insp._export_clicked()
    assert "data:application/json;base64," in insp._export_link.value
    # the upload button path (FileUpload value) loads it and says what it loaded
    insp._on_upload({"new": ({"name": "rec.json", "content": memoryview(text.encode())},)})
    assert "Loaded rec.json: 1 connection(s)" in insp._export_link.value
    insp._on_upload({"new": ({"name": "bad.json", "content": memoryview(b"{}")},)})
    assert "✗ not a valid recording: not a wsdemo recording" in insp._export_link.value


def _burst_events(n: int):
    dec = wire.ConnectionDecoder()
    dec.feed("client", request_bytes(None))
    dec.feed("server", response_bytes(extensions=None))
    out = []
    for i in range(n):
        out += dec.feed("server", wire.encode_frame(wire.Opcode.TEXT, f"tick {i}".encode()))
    return out


async def test_burst_of_5000_is_batched_ring_bounded_and_memory_flat(monkeypatch):
    events = _burst_events(25_000)
    insp = FrameInspector([], max_rows=500)
    syncs0 = insp.syncs
    formatted = []  # rows formatted for the page: the work a sync does
    real_format = R.format_row
    monkeypatch.setattr(R, "format_row", lambda row: formatted.append(row.seq) or real_format(row))
    # 5,000 events arriving in one go (as tap callbacks on the loop): no render yet
    for e in events[:10_000]:
        insp._on_event(e)
    assert insp.syncs == syncs0 and len(insp.rows) == 500
    await asyncio.sleep(0.25)  # the timer fires once for the whole burst
    assert insp.syncs == syncs0 + 1
    assert len(insp._table._options_labels) == 500
    # the loop stays free: a sync formats the ring's 500 rows, not the 5,000 frames that came
    assert len(formatted) == 500 and min(formatted) > 4_500
    assert insp.book.frames["server"] == 5_000 and "'tick 4999'" in insp._table._options_labels[-1]
    # memory: 20,000 more frames through the same widget do not grow it
    gc.collect()
    tracemalloc.start()
    for e in events[10_000:15_000]:
        insp._on_event(e)
    insp.flush()
    gc.collect()
    after_5k = tracemalloc.get_traced_memory()[0]
    for e in events[15_000:]:
        insp._on_event(e)
    insp.flush()
    gc.collect()
    after_15k = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert after_15k < after_5k * 1.2 + 200_000, (after_5k, after_15k)
    assert len(insp.book.rows) <= 1001
    insp.close()


async def test_batcher_limits_syncs_per_interval_however_fast_events_come():
    events = _burst_events(3_000)
    insp = FrameInspector([])
    start_syncs = insp.syncs
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for i in range(0, 3_000, 30):  # 100 bursts, one per loop turn-ish
        for e in events[i:i + 30]:
            insp._on_event(e)
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.15)
    elapsed = loop.time() - t0
    syncs = insp.syncs - start_syncs
    # at most one sync per 0.1 s interval (plus the trailing one)
    assert 1 <= syncs <= elapsed / 0.1 + 2, (syncs, elapsed)
    assert insp._batcher.pokes >= 100
    insp.close()


# --------------------------------------------------------------------------- live

async def _until(pred, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_live_widgets_on_a_real_server(server):
    tap_insp = FrameInspector(server.tap)
    panel = ConnectionsPanel(server.tap)
    client = await server.connect("/echo")
    conn = client.connection
    await _until(lambda: conn.response is not None)
    hv = HandshakeView(conn)
    assert repr(hv) == "HandshakeView: GET /echo → 101 Switching Protocols, accept ✓, 0 problems"
    # Tornado's client spells it Sec-Websocket-Key: shown as sent
    assert "Sec-Websocket-Key" in hv.text
    insp = FrameInspector(conn)
    comp = Composer(client)
    summary = ConnectionSummary(conn)

    r = await comp.send("text", HOSTILE)
    assert r.error is None and r.reply == HOSTILE
    assert [e.sender for e in r.frames] == ["client", "server"]
    assert r.frames[0].frame.masked and not r.frames[1].frame.masked
    assert "&lt;img" in comp._log.value and "<img" not in comp._log.value
    r = await comp.send("json", '{"a": [1, 2]}')
    assert r.reply == '{"a": [1, 2]}'
    r = await comp.send("binary", "01 02 ff")
    assert r.reply == b"\x01\x02\xff"
    r = await comp.send("ping", "hb")
    assert r.error is None and [e.frame.opcode for e in r.frames] == [wire.Opcode.PING, wire.Opcode.PONG]
    assert r.reply == b"hb" and str(r).splitlines()[1] == "← pong 'hb'"  # the pong's data, as typed
    assert "<b>← pong</b> <code>&#x27;hb&#x27;</code>" in comp._log.value
    r = await comp.send("json", "{oops")
    assert r.error == "not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    assert r.frames == []
    assert repr(comp).startswith("Composer: 4 sent (1 binary, 1 json, 1 ping, 1 text), 4 replies, "
                                 "1 refused, last: JSON (not sent) ✗ not valid JSON")
    assert "✗ not sent" in comp._status.value
    # bad close requests are refused before anything goes out; the connection stays open
    r = await comp.send("close", code=1005)
    assert r.error.startswith("close code 1005 No Status Received") and "not allowed" in r.error
    assert r.frames == [] and r.sent == "CLOSE (not sent)"
    r = await comp.send("close", code=1000, reason="é" * 62)
    assert r.error.startswith("close reason is 124 bytes of UTF-8; at most 123 fit")
    assert r.frames == [] and conn.is_open
    assert repr(comp).startswith("Composer: 4 sent (1 binary, 1 json, 1 ping, 1 text), 4 replies, 3 refused")

    await _until(lambda: insp.book.frames["server"] >= 4)
    await asyncio.sleep(0.2)
    assert repr(insp) == "FrameInspector: 8 frames (4 →, 4 ←), showing all"
    assert insp.syncs >= 2  # updated live, through the tap
    row = insp.select("binary")                      # the newest: the server's echo, unmasked
    assert row.sender == "server" and "masking key" not in insp._detail.value
    insp.set_filter(direction="client")
    row = insp.select("binary")
    assert row.length == 3 and "masking key" in insp._detail.value
    insp.set_filter(direction="all")
    assert any("'" + HOSTILE + "'" in label for label in insp._table._options_labels)
    assert "→ client: 4 frames" in insp._summary.value

    r = await comp.send("close", code=4000, reason="done")
    assert r.error is None
    # the echo server answers with the same code: said once, with its meaning
    assert str(r).splitlines()[1] == ("← server's close 4000: private use, agreed between the "
                                      "application's endpoints")
    assert any(e.frame.opcode == wire.Opcode.CLOSE for e in r.frames)
    await _until(lambda: not conn.is_open)
    await asyncio.sleep(0.25)
    assert repr(panel) == "ConnectionsPanel: 1 connection (0 open, 1 closed)"
    assert "○ closed" in panel._table.value and "/echo" in panel._table.value
    line = summary_line(conn)
    assert line.startswith("#1 /echo → client: 5 frames")
    assert repr(summary) == f"ConnectionSummary {line}"
    assert repr(tap_insp).startswith("FrameInspector: 10 frames (5 →, 5 ←)")
    assert "#1   → client" in tap_insp._table._options_labels[-2]
    close_row = tap_insp.select("close")
    assert "4000" in close_row.preview and "private use" in tap_insp._detail.value
    for w in (tap_insp, panel, hv, insp, comp, summary):
        w.close()
    assert server.tap.subscriber_count == 0


async def test_live_burst_keeps_loop_responsive(server):
    insp = FrameInspector(server.tap, max_rows=500)
    client = await server.connect("/echo")
    ticks = 0

    async def heartbeat():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    hb = asyncio.create_task(heartbeat())
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    try:
        for i in range(2_500):
            await client.send(f"m{i}")
        for _ in range(2_500):
            await client.recv(timeout=10)
        await _until(lambda: insp.book.frames["server"] >= 2_500, timeout=20)
        await asyncio.sleep(0.15)
    finally:
        hb.cancel()
    elapsed = loop.time() - t0
    assert insp.book.frames == {"client": 2_500, "server": 2_500}
    assert len(insp.rows) == 500 and len(insp._table._options_labels) == 500
    assert insp.syncs <= elapsed / 0.1 + 3, (insp.syncs, elapsed)
    assert ticks >= 3  # other tasks kept running during the burst
    await client.close()
    insp.close()


async def test_composer_button_and_deflate_on_a_real_server():
    srv = await wsdemo.serve(compression=True)
    try:
        client = await srv.connect("/echo", compression=True)
        conn = client.connection
        await _until(lambda: conn.response is not None)
        hv = HandshakeView(conn)
        assert "permessage-deflate" in hv._ext.value.split("accepted by the server")[1]
        comp = Composer(client)
        insp = FrameInspector(conn)
        # what a click on Send does: a task on the running loop
        comp._kind.value = "text"
        comp._body.value = "hello " * 50
        comp._send_btn.click()
        await _until(lambda: len(comp.results) == 1)
        assert comp.results[0].reply == "hello " * 50
        assert "✓ sent" in comp._status.value
        await asyncio.sleep(0.2)
        row = insp.select("text")
        assert row.frame.rsv1 and row.message.text == "hello " * 50
        assert "permessage-deflate (RFC 7692)" in insp._detail.value
        assert f"→ {len('hello ' * 50)} bytes inflated" in insp._detail.value
        assert row.message.wire_size < 300
        # the close form: code, reason and what the code means; no payload box
        comp._kind.value = "close"
        assert comp._body.layout.display == "none" and comp._close_row.layout.display == ""
        assert "1000 Normal Closure" in comp._code_help.value
        comp._code.value = 1006
        assert "not allowed in a close frame" in comp._code_help.value
        comp._kind.value = "binary"
        assert comp._body.layout.display == "" and comp._close_row.layout.display == "none"
        comp._body.value = "zz"
        comp._send_btn.click()
        await _until(lambda: len(comp.results) == 2)
        assert comp.results[1].error.startswith("binary payload must be hex")
        assert "✗ not sent: see why below" in comp._status.value
        assert "&#x27;z&#x27; is not a hex digit" in comp._log.value
        await client.close()
        for w in (hv, comp, insp):
            w.close()
    finally:
        await asyncio.wait_for(srv.stop(), 10)
