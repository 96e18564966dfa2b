"""HTML for the frame table's rows and one row's detail (header fields, hex dump, masking,
message, payload as text/JSON/hex), and the per-connection summaries.

Nothing here touches ipywidgets, so all of it is testable without a browser or kernel.
Every string that came off the wire passes through :func:`esc` before it is put into
HTML: an ipywidgets ``HTML`` widget sets ``innerHTML`` unsanitized, so a chat message like
``<img src=x onerror=alert(1)>`` would otherwise run.
"""

from __future__ import annotations

import html
import json
from typing import Any, Sequence

from .. import wire
from ..wire.recording import ConnectionRecord
from .palette import ARROWS, FIELD_COLOURS, MIXED_COLOUR, SELECTED_ROW, WARN_TEXT, direction_text
from .rows import Row, fmt_size, fmt_time, fragment_note, label_text, student_name

__all__ = [
    "esc", "empty_rows_html", "rows_table_html", "bits_text", "field_table_html", "hex_dump_html",
    "masking_html", "payload_hex_html", "payload_text_html", "json_tree_html", "json_view_html",
    "message_info_html", "summary_text",
    "summary_html", "connections_table_html", "CELL", "WRAP",
]


def esc(text: object) -> str:
    """HTML-escape anything (quotes too: values also go into attributes)."""
    return html.escape(str(text), quote=True)



def empty_rows_html(total: int, direction: str = "all", kind: str = "all", text: str = "",
                    who: str = "") -> str:
    """What an empty table means: nothing on the wire yet, or filters that hide every row.
    ``who``: the connection/student filter in words ('' when it shows everyone)."""
    if total == 0:
        return ("<div class='wsdemo-empty'><i>No frames yet: rows appear here as bytes cross "
                "the wire.</i></div>")
    bits = []
    if direction != "all":
        bits.append(f"direction {direction_text(direction)}")
    if kind != "all":
        bits.append(f"kind {kind!r}")
    if text.strip():
        bits.append(f"containing {text.strip()!r}")
    if who:
        bits.append(who)
    return (f"<div class='wsdemo-empty' style='color:{WARN_TEXT}'>No rows match "
            f"{esc(', '.join(bits) or 'the filters')}: all {total} row{'s' if total != 1 else ''} "
            f"are hidden. Set Direction to All, Kind to all{', Who to everyone' if who else ''}, "
            "or clear the text to see them.</div>")



# JupyterLab's stylesheet right-aligns table cells and lets them wrap; a row of the frame
# table reads left to right, on one line. (Borders and stripes come from the page's own table
# style: a style on every cell would make a saved notebook many times bigger.)
_LEFT = "text-align:left;white-space:pre;padding:1px 6px"


def rows_table_html(rows: Sequence[Row], *, multi: bool = False, selected: int | None = None,
                    limit: int = 100) -> str:
    """The frame table as a real HTML table (for static snapshots, where no Select runs).

    The newest ``limit`` rows; the selected one is marked with ▶ as well as a colour.
    """
    shown = list(rows)[-limit:] if limit else list(rows)
    titles = ["", "#", "time"] + (["conn"] if multi else []) + ["direction", "type", "length",
                                                                "data (preview)"]
    head = "<tr>" + "".join(f"<th style='{_LEFT}'>{esc(t)}</th>" for t in titles) + "</tr>"
    body = []
    for r in shown:
        mark = r.seq == selected
        cells = ["▶" if mark else "", r.seq, fmt_time(r.t)] + (
            [f"#{r.conn_id}" if r.conn_id is not None else ""] if multi else []) + [
            direction_text(r.sender), r.label, fmt_size(r.length), r.preview + fragment_note(r)]
        style = f" style='background:{SELECTED_ROW};font-weight:bold'" if mark else ""
        body.append(f"<tr class='wsdemo-row'{style}>" + "".join(
            f"<td style='{_LEFT}'>{esc(c)}</td>" for c in cells) + "</tr>")
    more = len(rows) - len(shown)
    note = (f"<caption style='caption-side:bottom;text-align:left'>the {len(shown)} newest of "
            f"{len(rows)} rows</caption>" if more > 0 else "")
    # a line per row: a saved notebook's diff then shows the rows that changed
    return (f"<table class='wsdemo-rows-table' style='border-collapse:collapse;font-size:90%;"
            f"font-family:monospace'>{note}"
            f"{head}\n" + "\n".join(body) + "</table>")



# --------------------------------------------------------------------------- frame detail

CELL = "padding:1px 6px;border:1px solid #ccc;color:#000;"
_CELL = CELL
# Break anywhere: header values (tokens, base64, asterisks) have no spaces to break at.
WRAP = "overflow-wrap:anywhere;word-break:break-all"


def _field_bytes(f) -> tuple[int, int]:
    """First and last byte index a field occupies."""
    return f.start_bit // 8, (f.start_bit + max(f.bit_len, 1) - 1) // 8


def bits_text(raw: bytes, start_bit: int, bit_len: int) -> str:
    """Wireshark-style bit mask for small fields, binary for up to 64 bits, else a size.

    ``1... ....`` marks a 1-bit field in byte 0; fields in the first two bytes are
    shown against both bytes so the learner sees where they sit.
    """
    end = start_bit + bit_len
    if bit_len <= 0:
        return ""
    if end <= 16 and (bit_len < 8 or start_bit % 8):
        bits = "".join(
            str((raw[i // 8] >> (7 - i % 8)) & 1) if start_bit <= i < end else "."
            for i in range(16 if end > 8 else 8)
        )
        return " ".join(bits[i:i + 4] for i in range(0, len(bits), 4))
    if bit_len <= 64 and start_bit % 8 == 0 and bit_len % 8 == 0:
        chunk = raw[start_bit // 8: end // 8]
        return " ".join(f"{b:08b}" for b in chunk)
    return f"{bit_len // 8} bytes"


def _field_value(f) -> str:
    if f.text:
        return f.text
    v = f.value
    if isinstance(v, (bytes, bytearray)):
        return wire.preview(bytes(v))
    return str(v)


def _byte_range(f) -> str:
    a, b = _field_bytes(f)
    return f"byte {a}" if a == b else f"bytes {a}–{b}"


def _size_of(f) -> str:
    if f.name == "payload":
        return f"{f.bit_len // 8} bytes"
    return f"{f.bit_len} bit{'s' if f.bit_len != 1 else ''}"


def field_table_html(frame) -> str:
    """Every field: colour swatch + name, its bits, where it sits, its value and meaning."""
    rows = []
    for f in frame.fields:
        colour = FIELD_COLOURS.get(f.name, "#eee")
        bits = bits_text(frame.raw, f.start_bit, f.bit_len) if f.name != "payload" else (
            f"{f.bit_len // 8} bytes")
        rows.append(
            f"<tr><td style='{_CELL}background:{colour}'>{esc(f.name)}</td>"
            f"<td style='{_CELL}font-family:monospace'>{esc(bits)}</td>"
            f"<td style='{_CELL}'>{esc(_byte_range(f))}, {_size_of(f)}</td>"
            f"<td style='{_CELL}'>{esc(_field_value(f))}</td></tr>")
    return ("<table class='wsdemo-fields' style='border-collapse:collapse;font-size:90%'>"
            "<caption style='text-align:left'><b>Header fields (RFC 6455 §5.2)</b></caption>"
            f"<tr><th style='{_CELL}'>field</th><th style='{_CELL}'>bits</th>"
            f"<th style='{_CELL}'>where</th><th style='{_CELL}'>value</th></tr>"
            + "".join(rows) + "</table>")


def hex_dump_html(raw: bytes, fields: Sequence = (), limit: int = 256) -> str:
    """16 bytes a line; each byte coloured by its field, named in its tooltip and the legend."""
    owners: dict[int, list[str]] = {}
    for f in fields:
        a, b = _field_bytes(f)
        for i in range(a, min(b, limit - 1) + 1):
            owners.setdefault(i, []).append(f.name)
    shown = raw[:limit]
    lines = []
    for off in range(0, len(shown), 16):
        cells, chars = [], []
        for i, b in enumerate(shown[off:off + 16], off):
            names = owners.get(i, [])
            colour = FIELD_COLOURS.get(names[0], "#fff") if len(names) == 1 else (MIXED_COLOUR if names else "#fff")
            title = ", ".join(names) or "?"
            cells.append(f"<span style='background:{colour};color:#000' title='{esc(title)}'>{b:02x}</span>")
            chars.append(esc(chr(b)) if 32 <= b < 127 else ".")
        pad = "   " * (16 - len(cells))
        lines.append(f"{off:04x}  " + " ".join(cells) + pad + "  " + "".join(chars))
    more = f"\n… {len(raw) - limit} more bytes not shown" if len(raw) > limit else ""
    legend = " ".join(
        f"<span style='background:{FIELD_COLOURS.get(f.name, '#eee')};color:#000;padding:0 4px'>"
        f"{esc(f.name)}: {esc(_byte_range(f))}</span>" for f in fields)
    if any(len(v) > 1 for v in owners.values()):
        legend += (f" <span style='background:{MIXED_COLOUR};color:#000;padding:0 4px'>"
                   "shared byte: several fields, see the bits column</span>")
    return ("<div class='wsdemo-hex'><b>Bytes on the wire</b> "
            f"({len(raw)} bytes)<pre style='line-height:1.4;margin:2px 0'>"
            + "\n".join(lines) + esc(more) + "</pre>"
            f"<div style='font-size:85%'>{legend}</div></div>")


def masking_html(frame, limit: int = 16) -> str:
    """Masked bytes as sent beside the unmasked payload: payload[i] = wire[i] XOR key[i % 4]."""
    if not frame.masked or not frame.mask_key:
        who = "server" if not frame.masked else "?"
        return (f"<div class='wsdemo-mask'><b>Masking</b>: not masked (a {who} frame: "
                "RFC 6455 §5.1 — only client-to-server frames are masked).</div>")
    key = bytes(frame.mask_key)
    wire_p, plain = bytes(frame.wire_payload), bytes(frame.payload)
    rows = []
    for i in range(min(limit, len(plain))):
        ch = chr(plain[i]) if 32 <= plain[i] < 127 else "·"
        rows.append(f"<tr><td style='{_CELL}'>{i}</td>"
                    f"<td style='{_CELL}font-family:monospace'>{wire_p[i]:02x}</td>"
                    f"<td style='{_CELL}font-family:monospace'>⊕ {key[i % 4]:02x}</td>"
                    f"<td style='{_CELL}font-family:monospace'>= {plain[i]:02x}</td>"
                    f"<td style='{_CELL}font-family:monospace'>{esc(ch)}</td></tr>")
    more = (f"<tr><td colspan=5 style='{_CELL}'>… {len(plain) - limit} more bytes</td></tr>"
            if len(plain) > limit else "")
    return ("<div class='wsdemo-mask'><b>Masking</b> (RFC 6455 §5.3): key "
            f"<code>{esc(key.hex(' '))}</code>; payload[i] = wire[i] XOR key[i mod 4]"
            "<div style='display:flex;gap:1em;flex-wrap:wrap'>"
            f"<div><i>masked, as sent</i><pre>{esc(wire_p[:64].hex(' '))}{' …' if len(wire_p) > 64 else ''}</pre></div>"
            f"<div><i>unmasked payload</i><pre>{esc(plain[:64].hex(' '))}{' …' if len(plain) > 64 else ''}</pre></div>"
            "</div>"
            "<table style='border-collapse:collapse;font-size:90%'>"
            f"<tr><th style='{_CELL}'>i</th><th style='{_CELL}'>masked</th><th style='{_CELL}'>key</th>"
            f"<th style='{_CELL}'>unmasked</th><th style='{_CELL}'>char</th></tr>"
            + "".join(rows) + more + "</table></div>")


def payload_hex_html(data: bytes, limit: int = 1024) -> str:
    lines = []
    for off in range(0, min(len(data), limit), 16):
        chunk = data[off:off + 16]
        chars = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:04x}  {chunk.hex(' '):<47}  {chars}")
    more = f"\n… {len(data) - limit} more bytes" if len(data) > limit else ""
    return f"<pre class='wsdemo-payload-hex'>{esc(chr(10).join(lines) + more) or '(empty)'}</pre>"


def payload_text_html(data: bytes, text: str | None = None, limit: int = 4096) -> str:
    if text is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return "<i>not UTF-8 text: see the hex view</i>"
    more = f"\n… {len(text) - limit} more characters" if len(text) > limit else ""
    return (f"<pre class='wsdemo-payload-text' style='white-space:pre-wrap'>"
            f"{esc(text[:limit] + more)}</pre>")


def json_tree_html(value: Any, *, max_items: int = 100, max_depth: int = 12) -> str:
    """A collapsible tree (<details>), keys and values escaped."""

    def scalar(v) -> str:
        return f"<code>{esc(json.dumps(v, ensure_ascii=False))}</code>"

    def node(key: str | None, v, depth: int) -> str:
        label = f"<b>{esc(key)}</b>: " if key is not None else ""
        if isinstance(v, (dict, list)) and depth >= max_depth:
            return f"<li>{label}<i>… nested too deep</i></li>"
        if isinstance(v, dict):
            items = list(v.items())
            kids = [node(str(k), x, depth + 1) for k, x in items[:max_items]]
            if len(items) > max_items:
                kids.append(f"<li><i>… {len(items) - max_items} more keys</i></li>")
            return (f"<li><details open><summary>{label}object {{{len(items)} keys}}</summary>"
                    f"<ul style='list-style:none;margin:0;padding-left:1.2em'>{''.join(kids)}</ul></details></li>")
        if isinstance(v, list):
            kids = [node(f"[{i}]", x, depth + 1) for i, x in enumerate(v[:max_items])]
            if len(v) > max_items:
                kids.append(f"<li><i>… {len(v) - max_items} more items</i></li>")
            return (f"<li><details open><summary>{label}array [{len(v)} items]</summary>"
                    f"<ul style='list-style:none;margin:0;padding-left:1.2em'>{''.join(kids)}</ul></details></li>")
        return f"<li>{label}{scalar(v)}</li>"

    return ("<ul class='wsdemo-json' style='list-style:none;padding-left:0;margin:0'>"
            + node(None, value, 0) + "</ul>")


def json_view_html(data: bytes, text: str | None = None) -> str:
    if text is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return "<i>not JSON: the payload is not UTF-8 text</i>"
    try:
        value = json.loads(text)
    except RecursionError:
        # Python's parser recurses once per level: 100,000 '[' exhaust the stack.
        return ("<i>nested too deeply to show as JSON (Python's JSON parser gives up past about "
                "1,000 levels); shown as text:</i>" + payload_text_html(data, text))
    except ValueError as e:
        return f"<i>not JSON: {esc(e)}</i>"
    return json_tree_html(value)


def message_info_html(row: Row) -> str:
    """Which message a frame belongs to, its fragments, and compressed vs inflated size."""
    msg = row.message
    frame = row.frame
    parts = []
    if msg is None:
        if frame is not None and not frame.fin:
            parts.append("First/middle fragment of a message still being received.")
        elif frame is not None and frame.opcode == wire.Opcode.CONTINUATION:
            parts.append("Continuation fragment; its message is not complete yet.")
        return "<div class='wsdemo-msg'>" + " ".join(esc(p) for p in parts) + "</div>" if parts else ""
    n = len(msg.frames) or 1
    i = row.fragment[0] if row.fragment else 1
    parts.append(f"Message #{row.message_no} ({msg.kind}, {len(msg.data)} bytes)"
                 + (f": frame {i} of {n} (fragmented, RFC 6455 §5.4)" if n > 1 else ": a single frame"))
    if msg.compressed:
        parts.append(f"permessage-deflate (RFC 7692): {msg.wire_size} bytes on the wire "
                     f"→ {len(msg.data)} bytes inflated")
    else:
        parts.append(f"{msg.wire_size} bytes on the wire (not compressed)")
    if msg.kind == "close":
        if msg.close_code is not None:
            parts.append(f"Close code {wire.describe_close_code(msg.close_code)}"
                         + (f"; reason {msg.close_reason!r}" if msg.close_reason else ""))
    return "<div class='wsdemo-msg'>" + "<br>".join(esc(p) for p in parts) + "</div>"


# --------------------------------------------------------------------------- summaries

def summary_text(summary: wire.Summary) -> str:
    """One line: frames, payload vs framing bytes per direction, HTTP head bytes."""
    parts = []
    for sender in ("client", "server"):
        s = summary[sender]
        total = s.payload_bytes + s.framing_bytes
        pct = f" ({100 * s.framing_bytes / total:.0f}% framing)" if total else ""
        events = (f", {s.sse_events} server-sent events ({s.sse_payload_bytes} B data + {s.sse_overhead_bytes} B overhead)"
                  if s.sse_events else "")
        parts.append(f"{ARROWS[sender]} {sender}: {s.frames} frames, {s.payload_bytes} B payload + "
                     f"{s.framing_bytes} B framing{pct}, HTTP head {s.http_head_bytes} B{events}")
    return " | ".join(parts)


def summary_html(summary: wire.Summary) -> str:
    return f"<div class='wsdemo-summary' style='font-family:monospace'>{esc(summary_text(summary))}</div>"


def _pushed_bytes(s: wire.DirectionStats) -> int:
    """Bytes after the handshake: frames, or the events of an event stream."""
    return s.payload_bytes + s.framing_bytes + s.sse_payload_bytes + s.sse_overhead_bytes


def connections_table_html(connections: Sequence[ConnectionRecord]) -> str:
    """The classroom view: who, path, open/closed, frames and bytes per direction."""
    if not connections:
        return "<div class='wsdemo-connections'><i>no connections yet</i></div>"
    head = ("<tr>" + "".join(f"<th style='{_CELL}'>{h}</th>" for h in (
        "#", "who", "path", "state", "→ frames", "→ bytes", "← frames", "← bytes")) + "</tr>")
    rows = []
    for c in connections:
        s = c.summary()
        cs, ss = s.client, s.server
        state = "● open" if c.is_open else "○ closed"
        name = student_name(c)
        who = f"{label_text(name)} · {c.peer}" if name else c.peer
        rows.append("<tr>" + "".join(f"<td style='{_CELL}'>{esc(v)}</td>" for v in (
            c.id, who, c.path or "—", state, cs.frames, _pushed_bytes(cs), ss.frames, _pushed_bytes(ss)))
            + "</tr>")
    return ("<table class='wsdemo-connections' style='border-collapse:collapse;font-size:90%'>"
            "<caption style='text-align:left'>→ client→server, ← server→client; bytes = payload + framing "
            "(and server-sent events)"
            f"</caption>{head}{''.join(rows)}</table>")


