"""The plain functions behind the widgets, on events decoded from real bytes."""

from __future__ import annotations

import json
import re

import pytest

from wsdemo import wire
from wsdemo.ui import compose, detail, handshake, markup, rows as ui_rows
from wsdemo.wire import recording

from .conversation import ACCEPT, HOSTILE, KEY, MASK, decode


@pytest.fixture
def events():
    return decode()[0]


@pytest.fixture
def book(events):
    b = ui_rows.RowBook(500)
    for e in events:
        b.add(e, t0=1000.0)
    return b


def frame_rows(book):
    return [r for r in book.live() if r.frame is not None]


def test_rows_cover_frames_http_and_count_each_direction(book):
    rows = book.live()
    assert [r.kind for r in rows][:2] == ["http", "http"]
    assert rows[0].label == "HTTP GET" and rows[1].label == "HTTP 101"
    frames = frame_rows(book)
    assert [r.kind for r in frames] == ["text", "text", "text", "ping", "continuation", "pong", "text",
                                        "binary", "text", "close", "close"]
    assert book.frames == {"client": 6, "server": 5}
    assert [r.sender for r in frames][:2] == ["client", "server"]
    # time since the connection opened, from each event's .at
    assert frames[0].t == pytest.approx(0.5)


def test_format_row_is_plain_text_with_arrow_and_word(book):
    first, second = frame_rows(book)[:2]
    line = ui_rows.format_row(first)
    assert "→ client" in line and "TEXT" in line and "'Hello'" in line and "5 B" in line
    assert "+0.500s" in line
    assert "← server" in ui_rows.format_row(second)


def test_fragments_are_grouped_into_their_message(book):
    frames = frame_rows(book)
    first, ping, cont = frames[2], frames[3], frames[4]
    assert first.message is cont.message is not None
    assert first.message.text == "Hello"
    assert (first.fragment, cont.fragment) == ((1, 2), (2, 2))
    assert first.message_no == cont.message_no
    assert "frame 1/2" in ui_rows.format_row(first)
    # each fragment shows its own payload; the last names the whole message
    assert (first.preview, cont.preview) == ("'Hel'", "'lo'")
    assert ui_rows.format_row(cont).endswith("[msg 4, frame 2/2 → message 'Hello']")
    assert ui_rows.format_row(first).endswith("[msg 4, frame 1/2]")
    assert ping.fragment == (1, 1) and ping.message.kind == "ping"
    info = markup.message_info_html(first)
    assert "frame 1 of 2" in info and "fragmented" in info


def test_deflated_message_shows_compressed_and_inflated_sizes(book):
    row = frame_rows(book)[6]
    assert row.frame.rsv1
    assert row.message.text == "Hello"
    assert row.preview == "'Hello'"            # the inflated text, not the compressed bytes
    info = markup.message_info_html(row)
    assert "permessage-deflate" in info and "→ 5 bytes inflated" in info
    assert f"{row.message.wire_size} bytes on the wire" in info


def test_close_codes_have_meanings(book):
    close = frame_rows(book)[9]
    assert close.kind == "close"
    assert close.preview == "1000 Normal Closure: the purpose of the connection was fulfilled — reason 'bye'"
    assert "Close code 1000 Normal Closure" in markup.message_info_html(close)
    assert ui_rows.close_text(b"\x03\xe8") == wire.describe_close_code(1000)
    assert ui_rows.close_text(b"\x03\xe8bye") == wire.describe_close_code(1000) + " — reason 'bye'"
    assert "private" in ui_rows.close_text((4001).to_bytes(2, "big"))
    assert ui_rows.close_text(b"") == "CLOSE, no status code"
    assert "invalid" in ui_rows.close_text(b"\x03")


def test_filters(book):
    rows = book.live()
    assert len(ui_rows.filter_rows(rows)) == len(rows)
    client = ui_rows.filter_rows(rows, direction="client")
    assert client and all(r.sender == "client" for r in client)
    control = ui_rows.filter_rows(rows, kind="control")
    assert [r.kind for r in control] == ["ping", "pong", "close", "close"]
    data = ui_rows.filter_rows(rows, kind="data")
    assert {r.kind for r in data} == {"text", "binary", "continuation"}
    assert [r.kind for r in ui_rows.filter_rows(rows, kind="http")] == ["http", "http"]
    # text filter looks into the message text (case-insensitive), also for fragments
    hits = ui_rows.filter_rows(rows, text="HELLO")
    assert len(hits) >= 4
    assert ui_rows.filter_rows(rows, direction="server", text="onerror")[0].kind == "text"
    with pytest.raises(ValueError, match="direction"):
        ui_rows.filter_rows(rows, direction="up")
    with pytest.raises(ValueError, match="kind"):
        ui_rows.filter_rows(rows, kind="nope")


def test_bits_text_marks_each_header_field(events):
    frame = next(e.frame for e in events if isinstance(e, wire.FrameEvent))
    f = {x.name: x for x in frame.fields}
    raw = frame.raw  # 81 85 37 fa 21 3d ...
    assert markup.bits_text(raw, f["FIN"].start_bit, 1) == "1..."[:4] + " ...."
    assert markup.bits_text(raw, f["opcode"].start_bit, 4) == ".... 0001"
    assert markup.bits_text(raw, f["MASK"].start_bit, 1) == ".... .... 1... ...."
    assert markup.bits_text(raw, f["payload length"].start_bit, 7) == ".... .... .000 0101"
    assert markup.bits_text(raw, f["masking key"].start_bit, 32) == "00110111 11111010 00100001 00111101"


def test_field_table_and_hex_dump_label_every_field(events):
    big = [e.frame for e in events if isinstance(e, wire.FrameEvent)][7]   # 256-byte binary
    names = [f.name for f in big.fields]
    assert names == ["FIN", "RSV1", "RSV2", "RSV3", "opcode", "MASK", "payload length",
                     "extended payload length", "masking key", "payload"]
    table = markup.field_table_html(big)
    for n in names:
        assert f">{n}<" in table
    assert "0000 0001 0000 0000" not in table  # extended length is shown as whole bytes
    assert "00000001 00000000" in table        # 256 in 16 bits
    dump = markup.hex_dump_html(big.raw, big.fields, limit=64)
    assert "title='masking key'" in dump and "title='extended payload length'" in dump
    assert "title='FIN, RSV1, RSV2, RSV3, opcode'" in dump   # byte 0 is shared
    assert "more bytes not shown" in dump
    # every byte shown once: 64 spans
    assert len(re.findall(r"<span style='background:[^']*;color:#000' title=", dump)) == 64


def test_masking_side_by_side(events):
    frame = next(e.frame for e in events if isinstance(e, wire.FrameEvent))
    html = markup.masking_html(frame)
    masked = bytes(a ^ MASK[i % 4] for i, a in enumerate(b"Hello"))
    assert masked.hex(" ") in html and b"Hello".hex(" ") in html
    assert MASK.hex(" ") in html
    server = [e.frame for e in events if isinstance(e, wire.FrameEvent)][1]
    assert "not masked" in markup.masking_html(server)


def test_hostile_text_is_escaped_everywhere(events):
    book = ui_rows.RowBook()
    for e in events:
        book.add(e)
    row = next(r for r in book.live() if r.message is not None and HOSTILE in (r.message.text or ""))
    data, text = detail.payload_of(row)
    produced = [detail.frame_detail_html(row), markup.payload_text_html(data, text), markup.json_view_html(data, text),
                markup.payload_hex_html(data), markup.hex_dump_html(row.frame.raw, row.frame.fields)]
    for html in produced:
        assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in markup.payload_text_html(data, text)
    assert "&lt;img src=x onerror=alert(1)&gt;" in markup.json_view_html(data, text)
    # the plain-text table row carries it as text (Select options are not HTML)
    assert HOSTILE in ui_rows.format_row(row)


def test_json_tree_nests_and_escapes():
    html = markup.json_tree_html({"a<b": [1, {"x": "</ul><script>"}], "n": None})
    assert "<script>" not in html and "&lt;/ul&gt;&lt;script&gt;" in html
    assert "a&lt;b" in html and "array [2 items]" in html and "object {2 keys}" in html
    assert html.count("<details") == 3
    assert "not JSON" in markup.json_view_html(b"{nope")
    assert "not UTF-8" in markup.json_view_html(b"\xff\xfe")


def test_handshake_html_explains_headers_and_checks_accept(events):
    dec = decode()[1]
    req, resp = dec.request, dec.response
    left = handshake.headers_html(req, "request")
    assert ("<details class='wsdemo-header'><summary><code style='white-space:normal'>"
            "<b>Sec-WebSocket-Key</b>") in left
    # values wrap anywhere (a User-Agent or a redacted cookie has no spaces to break at)
    assert f"<span class='wsdemo-hval' style='{markup.WRAP}'>{KEY}</span>" in left
    assert "word-break:break-all" in markup.WRAP and "overflow-wrap:anywhere" in markup.WRAP
    # the redacted cookie says it was redacted, and how long it was
    shown = handshake.headers_html(wire.redact(events[0]).request, "request")
    assert "secret-value" not in shown
    # a long redacted value is shortened on screen; its true length is said in words
    assert "*" * 12 + "…" in shown and "*" * len("session=secret-value") not in shown
    assert f"(redacted by wsdemo: {len('session=secret-value')} characters)" in shown
    assert "RFC 6455 §1.3, §4.1 item 7" in left
    acc = handshake.accept_html(req, resp)
    assert "✓ matches" in acc and ACCEPT in acc and KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" in acc
    bad_dec = decode(accept="AAAAAAAAAAAAAAAAAAAAAAAAAAA=")[1]
    bad = handshake.accept_html(bad_dec.request, bad_dec.response)
    assert "✗ does not match" in bad and ACCEPT in bad
    problems = wire.check_handshake(bad_dec.request, bad_dec.response)
    ph = handshake.problems_html(problems)
    assert "color:#b00020" in ph and "✗ Problem:" in ph and "4.2.2" in ph
    assert "✓ No handshake problems" in handshake.problems_html([])
    ext = handshake.extensions_html(req, resp)
    assert "client_max_window_bits" in ext and ext.count("permessage-deflate") == 2


def test_cookie_is_redacted_in_what_is_shown_and_exported(events):
    req = next(e for e in events if isinstance(e, wire.HttpRequest))
    text = recording.export_recording(events)
    assert "secret-value".encode().hex() not in text
    shown = handshake.headers_html(wire.redact(req).request, "request")
    assert "secret-value" not in shown


def test_summary_line_uses_wire_summarize(events):
    s = wire.summarize(events)
    line = markup.summary_text(s)
    c = s["client"]
    assert f"→ client: {c.frames} frames, {c.payload_bytes} B payload + {c.framing_bytes} B framing" in line
    assert f"HTTP head {c.http_head_bytes} B" in line and "← server:" in line
    assert c.frames == 6 and c.framing_bytes == 6 * 6 + 2  # 2+4 each; the 256-byte one has +2


def test_export_then_import_decodes_the_same_frames(events):
    text = recording.export_recording(events, indent=1)
    data = json.loads(text)
    assert data["format"] == "wsdemo-recording" and data["version"] == 1
    [conn] = recording.import_recording(text)
    frames_in = [e.frame for e in events if isinstance(e, wire.FrameEvent)]
    frames_out = [e.frame for e in conn.events if isinstance(e, wire.FrameEvent)]
    assert frames_out == frames_in
    texts = [e.message.text for e in conn.events if isinstance(e, wire.MessageEvent)]
    assert "Hello" in texts and any(HOSTILE in (t or "") for t in texts)
    assert [e.at for e in conn.events if isinstance(e, wire.FrameEvent)] == \
        [e.at for e in events if isinstance(e, wire.FrameEvent)]
    assert conn.response.status == 101 and conn.request.target == "/chat"
    assert str(conn.summary()) == str(wire.summarize(
        [e for e in events if not isinstance(e, wire.HttpRequest)] + [wire.redact(events[0])]))


@pytest.mark.parametrize("bad, message", [
    ("nope", "not JSON"),
    ("[]", "not a wsdemo recording"),
    ('{"format": "wsdemo-recording", "version": 9, "connections": []}', "unsupported recording version 9"),
    ('{"format": "wsdemo-recording", "version": 1, "connections": [{"chunks": [{"sender": "me"}]}]}',
     "chunk 0: 'sender'"),
    ('{"format": "wsdemo-recording", "version": 1, "connections": [{"chunks": '
     '[{"sender": "client", "hex": "zz"}]}]}', "not hexadecimal"),
])
def test_import_rejects_bad_input_clearly(bad, message):
    with pytest.raises(ValueError, match=message):
        recording.import_recording(bad)


def test_a_decode_error_keeps_its_kind_through_a_recording():
    dec = wire.ConnectionDecoder()
    from .conversation import request_bytes, response_bytes
    events = dec.feed("client", request_bytes(None)) + dec.feed("server", response_bytes(extensions=None))
    events += dec.feed("server", b"\x8f\x00")  # reserved opcode: a decode error
    error = next(e for e in events if isinstance(e, wire.DecodeError))
    assert error.kind is not wire.ErrorKind.UNSPECIFIED
    [again] = recording.import_recording(recording.export_recording(events))
    copy = next(e for e in again.events if isinstance(e, wire.DecodeError))
    assert (copy.kind, copy.fatal, copy.status, copy.error) == (error.kind, error.fatal, error.status, error.error)


def test_ring_keeps_the_newest_rows_and_counts_all():
    book = ui_rows.RowBook(max_rows=10)
    dec = wire.ConnectionDecoder()
    from .conversation import request_bytes, response_bytes
    dec.feed("client", request_bytes(None))
    dec.feed("server", response_bytes(extensions=None))
    for i in range(50):
        for e in dec.feed("server", wire.encode_frame(wire.Opcode.TEXT, f"m{i}".encode())):
            book.add(e)
    assert len(book) == 10 and book.frames["server"] == 50 and book.dropped == 40
    assert [r.preview for r in book.live()][-1] == "'m49'"
    assert book.live()[0].seq == 41
    assert len(book.rows) <= 2 * 10 + 1 and len(book._by_frame) == 10


@pytest.mark.parametrize("typed, expected", [
    ("01 02 ff", b"\x01\x02\xff"), ("0x01,0x02", b"\x01\x02"), ("de:ad:BE:EF", b"\xde\xad\xbe\xef"),
    ("0102ff", b"\x01\x02\xff"), ("", b""),
])
def test_binary_payloads_read_the_usual_hex_spellings(typed, expected):
    data, said = compose.encode("binary", typed)
    assert data == expected and said.startswith("BINARY ") and f"[{len(expected)} bytes]" in said


@pytest.mark.parametrize("typed, message", [
    ("01 zz", "'z' at position 2 is not a hex digit"),
    ("01 2 ff", "an odd number of hex digits (5)"),
    ("hello", "'h' at position 0 is not a hex digit"),
])
def test_binary_payloads_that_are_not_hex_say_what_is_wrong(typed, message):
    with pytest.raises(wire.BytesTextError) as e:
        compose.encode("binary", typed)
    assert message in str(e.value)


def test_empty_table_says_why(book):
    assert "No frames yet" in markup.empty_rows_html(0)
    msg = markup.empty_rows_html(13, "server", "ping/pong", " nope ")
    assert "No rows match direction ← server, kind &#x27;ping/pong&#x27;, containing &#x27;nope&#x27;" in msg
    assert "all 13 rows are hidden" in msg
    assert "&lt;b&gt;" in markup.empty_rows_html(3, text="<b>")


def test_table_header_lines_up_with_rows(book):
    row = frame_rows(book)[0]
    for multi in (False, True):
        row.conn_id = 7 if multi else None
        head, line = ui_rows.table_header(multi), ui_rows.format_row(row)
        # each title ends where its column ends (right-aligned) or starts (left-aligned)
        assert head.index("time") + 4 == line.index("s ") + 1
        assert head.index("direction") == line.index("→ client")
        assert head.index("type") == line.index("TEXT")
        assert head.index("length") + 6 == line.index(" B ") + 2
        assert head.index("data") == line.index("'Hello'")


def test_wire_text_is_escaped_in_every_html_piece():
    """Hostile bytes in every place the wire can put text: target, header names and values,
    key, extensions, close reason, ping data, decode errors; nothing comes out as a tag."""
    bad, svg = "<img src=x onerror=alert(1)>", "<svg/onload=alert(1)>"  # svg: no spaces (a target)
    dec = wire.ConnectionDecoder()
    events = dec.feed("client", (
        f"GET /chat?{svg} HTTP/1.1\r\nHost: {svg}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {bad}\r\nSec-WebSocket-Version: 13\r\nX-Note: {bad}\r\n"
        f"Sec-WebSocket-Extensions: x-{svg}\r\n\r\n").encode(), at=1.0)
    events += dec.feed("server", (
        f"HTTP/1.1 101 {bad}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {bad}\r\n\r\n").encode(), at=1.1)
    events += dec.feed("client", wire.encode_frame(wire.Opcode.PING, bad[:20].encode(), mask_key=MASK), at=1.2)
    events += dec.feed("client", wire.encode_frame(wire.Opcode.CLOSE, b"\x0f\xa0" + bad.encode(),
                                                   mask_key=MASK), at=1.3)
    events += dec.feed("server", b"\x8f\x00", at=1.4)  # reserved opcode: a decode error
    book = ui_rows.RowBook()
    for e in events:
        book.add(e, t0=1.0)
    pieces = [handshake.headers_html(dec.request, "request"), handshake.headers_html(dec.response, "response"),
              handshake.accept_html(dec.request, dec.response), handshake.extensions_html(dec.request, dec.response),
              handshake.problems_html(wire.check_handshake(dec.request, dec.response)),
              markup.empty_rows_html(3, text=bad), markup.summary_html(wire.summarize(events))]
    for row in book.live():
        data, text = detail.payload_of(row)
        pieces += [detail.frame_detail_html(row), markup.payload_text_html(data, text), markup.json_view_html(data, text),
                   markup.payload_hex_html(data), markup.message_info_html(row)]
    assert any(r.kind == "error" for r in book.live()), [r.kind for r in book.live()]
    assert dec.request is not None and dec.response is not None
    assert sum("&lt;img" in p or "&lt;svg" in p for p in pieces) >= 8
    for p in pieces:
        assert "<img" not in p and "<svg" not in p and "alert(1)>" not in p, p


# Where RFC 6455 speaks of each handshake header (read off the RFC's text): the header help
# may cite only these sections for it.
_RFC6455_SECTIONS = {
    "host": {"4.1", "4.2.1"},
    "upgrade": {"4.1", "4.2.1", "4.2.2", "11.2"},
    "connection": {"4.1", "4.2.1", "4.2.2"},
    "sec-websocket-key": {"1.3", "4.1", "4.2.1", "4.2.2", "11.3.1"},
    "sec-websocket-version": {"4.1", "4.2.1", "4.4", "11.3.5"},
    "sec-websocket-accept": {"1.3", "4.1", "4.2.2", "11.3.3"},
    "sec-websocket-protocol": {"1.9", "4.1", "4.2.2", "11.3.4"},
    "sec-websocket-extensions": {"4.1", "9.1", "11.3.2"},
    "origin": {"1.3", "4.1", "4.2.1", "10.2"},
    "cookie": {"4.1"},
}


def test_header_help_cites_the_rfc_6455_sections_that_define_each_header():
    for name, (_, where) in handshake.HEADER_HELP.items():
        rfc6455 = [part for part in where.split("; ") if part.startswith("RFC 6455 ")]
        cited = set(re.findall(r"§(\d+(?:\.\d+)*)", " ".join(rfc6455)))
        assert cited <= _RFC6455_SECTIONS.get(name, set()), (name, where)
    # the key is introduced in section 1.3 and required in 4.1; 10.3 is about masking
    assert "§1.3" in handshake.HEADER_HELP["sec-websocket-key"][1]


def test_what_the_tap_did_is_a_row_of_its_own():
    event = wire.TapEvent("tap", 10.5, wire.TapAction.IDLE_CUT, "cut by the tap after 60 s idle <b>")
    row = ui_rows.make_row(7, event, t0=10.0)
    assert (row.kind, row.label, row.sender) == ("tap", "TAP", "tap")
    assert "cut after idling: cut by the tap after 60 s idle" in row.preview
    assert "✂ tap" in ui_rows.format_row(row)
    pane = detail.frame_detail_html(row)
    assert "&lt;b&gt;" in pane and "<b>✂ cut after idling</b>" in pane
    assert ui_rows.KIND_FILTERS["tap"] == ("tap",)
