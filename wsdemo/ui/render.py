"""Plain functions behind the widgets: rows, filters, hex dumps, JSON trees, recordings.

Nothing here touches ipywidgets, so all of it is testable without a browser or
kernel. Every string that came off the wire passes through :func:`esc` before it
is put into HTML: an ipywidgets ``HTML`` widget sets ``innerHTML`` unsanitized,
so a chat message like ``<img src=x onerror=alert(1)>`` would otherwise run.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import math
import reprlib
from dataclasses import dataclass
from typing import Any, Collection, Iterable, Sequence
from urllib.parse import parse_qs, urlsplit

from .. import wire
from ..wire.redact import SECRET_HEADERS as _REDACTED  # the headers wire.redact masks with '*'

__all__ = [
    "esc", "Row", "RowBook", "make_row", "format_row", "filter_rows", "preview",
    "direction_text", "table_header", "KIND_FILTERS", "DIRECTION_FILTERS",
    "bits_text", "field_table_html", "hex_dump_html", "masking_html", "payload_hex_html",
    "payload_text_html", "json_tree_html", "close_info", "message_info_html",
    "frame_detail_html", "HEADER_HELP", "headers_html", "accept_html", "problems_html",
    "parse_extensions", "extensions_html", "subprotocol_lines", "subprotocols_html", "summary_text", "summary_html",
    "connections_table_html", "export_recording", "import_recording", "RecordedConnection",
    "RECORDING_FORMAT", "empty_rows_html", "parse_hex", "check_close", "MAX_CLOSE_REASON",
    "name_in_target", "name_in_greeting", "path_of", "student_name", "label_text", "is_student_activity",
    "rows_table_html",
]


def esc(text: object) -> str:
    """HTML-escape anything (quotes too: values also go into attributes)."""
    return html.escape(str(text), quote=True)


# --------------------------------------------------------------------------- directions

ARROWS = {"client": "→", "server": "←", "tap": "✂"}
DIRECTION_LABELS = {"client": "client→server", "server": "server→client", "tap": "the tap itself"}


def direction_text(sender: str) -> str:
    """'→ client' / '← server': an arrow and a word, so colour is never the only signal."""
    return f"{ARROWS.get(sender, '?')} {sender}"


# --------------------------------------------------------------------------- rows

DATA_KINDS = ("text", "binary", "continuation")
CONTROL_KINDS = ("ping", "pong", "close")
# Filter name -> the row kinds it keeps (None: everything).
KIND_FILTERS: dict[str, tuple[str, ...] | None] = {
    "all": None,
    "data": DATA_KINDS,
    "control": CONTROL_KINDS,
    "text": ("text",),
    "binary": ("binary",),
    "continuation": ("continuation",),
    "ping/pong": ("ping", "pong"),
    "close": ("close",),
    "http": ("http",),
    "server-sent events": ("sse",),
    "errors": ("error",),
    "tap": ("tap",),  # what the tap did (an idle cut, a failed TLS handshake): wire.TapEvent
}
DIRECTION_FILTERS = ("all", "client", "server")


@dataclass(eq=False)
class Row:
    """One line of the frame table: a frame, an HTTP head or a decode error."""

    seq: int                      # arrival number, from 1, never reused
    event: Any
    sender: str
    kind: str                     # text/binary/continuation/ping/pong/close/http/error
    label: str                    # "TEXT", "HTTP 101", "ERROR"
    length: int                   # payload bytes (frames) or head bytes (HTTP)
    preview: str                  # one line, printable, no HTML
    t: float | None = None        # seconds since the connection opened
    conn_id: Any = None
    message: Any = None           # the wire.Message this frame belongs to (once complete)
    fragment: tuple[int, int] | None = None   # (i, n): frame i of n in its message
    message_no: int | None = None
    whole: str | None = None      # the whole message's preview, on the last fragment of several

    @property
    def frame(self):
        return getattr(self.event, "frame", None)

    @property
    def search_text(self) -> str:
        msg = self.message
        full = msg.text if msg is not None and getattr(msg, "text", None) is not None else self.preview
        return f"{self.label} {full} {self.preview}".lower()


def preview(data: bytes, text: str | None = None, limit: int = 72) -> str:
    """A single printable line: quoted text (escapes for control characters) or hex."""
    if text is not None:
        cut = text[:limit]
        out = repr(cut)
        return out + ("…" if len(text) > limit else "")
    if not data:
        return ""
    shown = data[: min(limit // 3, 16)]
    return shown.hex(" ") + (" …" if len(data) > len(shown) else "")


def _opcode_name(opcode: int) -> str:
    try:
        return wire.Opcode(opcode).name
    except ValueError:
        return f"0x{int(opcode):X}"


def _frame_text(frame) -> str | None:
    """Text of a frame's payload when it is plain (uncompressed) text."""
    if frame.rsv1:
        return None
    if frame.opcode in (wire.Opcode.TEXT, wire.Opcode.CONTINUATION):
        try:
            return bytes(frame.payload).decode("utf-8")
        except UnicodeDecodeError:
            return None if frame.opcode == wire.Opcode.CONTINUATION else bytes(frame.payload).decode(
                "utf-8", "replace")
    if frame.opcode in (wire.Opcode.PING, wire.Opcode.PONG) and frame.payload:
        try:  # ping data is often a short printable word; show it so when it is
            text = bytes(frame.payload).decode("utf-8")
        except UnicodeDecodeError:
            return None
        return text if text.isprintable() else None
    return None


def make_row(seq: int, event, *, t0: float | None = None, conn_id=None) -> Row | None:
    """A table row for a frame, HTTP head or decode error; None for other events."""
    sender = getattr(event, "sender", "?")
    at = getattr(event, "at", None)
    t = (at - t0) if (at is not None and t0 is not None) else None
    if isinstance(event, wire.FrameEvent):
        f = event.frame
        name = _opcode_name(f.opcode)
        kind = name.lower() if name.lower() in DATA_KINDS + CONTROL_KINDS else "binary"
        label = name + ("" if f.fin else " …")
        if f.opcode == wire.Opcode.CLOSE:
            info = close_info(bytes(f.payload))
            pv = info["summary"]
        elif f.rsv1:
            pv = f"(compressed, {len(f.payload)} B)"
        else:
            pv = preview(bytes(f.payload), _frame_text(f))
        return Row(seq, event, sender, kind, label, len(f.payload), pv, t, conn_id)
    if isinstance(event, wire.HttpRequest):
        r = event.request
        return Row(seq, event, sender, "http", f"HTTP {r.method}", len(r.raw),
                   preview(b"", f"{r.method} {r.target}"), t, conn_id)
    if isinstance(event, wire.HttpResponse):
        r = event.response
        return Row(seq, event, sender, "http", f"HTTP {r.status}", len(r.raw),
                   preview(b"", f"{r.status} {r.reason}"), t, conn_id)
    if isinstance(event, wire.SseEvent):
        e = event.event
        label = f"SSE {e.type}" if e.dispatched else "SSE no data"
        # repr() keeps the line printable whatever the server sent (control characters escaped)
        id_ = f"id {e.id[:20]!r} " if e.id is not None else ""
        text = preview(b"", e.data) if e.dispatched else "(a browser fires nothing)"
        return Row(seq, event, sender, "sse", label, event.wire_size,
                   f"{id_}{text} [{e.size_text()}; chunk framing {event.framing_size} B]", t, conn_id)
    if isinstance(event, wire.SseEnd):
        cut = f", {event.discarded} B of an unfinished event discarded" if event.discarded else ""
        return Row(seq, event, sender, "sse", "SSE end", event.wire_size,
                   f"end of the event stream{cut}", t, conn_id)
    if isinstance(event, wire.DecodeError):
        return Row(seq, event, sender, "error", "ERROR", 0,
                   preview(b"", f"at byte {event.offset}: {event.error}", limit=80), t, conn_id)
    if isinstance(event, wire.TapEvent):
        return Row(seq, event, sender, "tap", "TAP", 0,
                   preview(b"", f"{event.kind.value}: {event.text}", limit=80), t, conn_id)
    return None


def _fmt_time(t: float | None) -> str:
    return "" if t is None else f"+{t:.3f}s"


def _fmt_size(n: int) -> str:
    return f"{n} B"


def table_header(multi: bool = False) -> str:
    """Column titles lined up with :func:`format_row` (DevTools' table has titles too)."""
    conn = f"{'conn':<5}" if multi else ""
    return (f"{'#':>5} {'time':>9} {conn}{'direction':<9} {'type':<12} {'length':>9}  "
            "data (preview)")


def format_row(row: Row) -> str:
    """Fixed-width plain text (no HTML): the Select widget shows it as text."""
    conn = f"{'#' + str(row.conn_id):<4} " if row.conn_id is not None else ""
    return (f"{row.seq:>5} {_fmt_time(row.t):>9} {conn}{direction_text(row.sender):<9} "
            f"{row.label:<12} {_fmt_size(row.length):>9}  {row.preview}{_fragment_note(row)}")


def _fragment_note(row: Row) -> str:
    """'  [msg 3, frame 2/2 → message 'Hello']' for a frame of a fragmented message, else ''."""
    if not (row.fragment and row.fragment[1] > 1):
        return ""
    note = f"  [msg {row.message_no}, frame {row.fragment[0]}/{row.fragment[1]}"
    return note + (f" → message {row.whole}]" if row.whole is not None else "]")


def filter_rows(rows: Iterable[Row], direction: str = "all", kind: str = "all",
                text: str = "", conn_ids: Collection | None = None) -> list[Row]:
    """Rows matching a direction ('all'/'client'/'server'), a kind filter, a text and,
    when ``conn_ids`` is given, one of those connections."""
    if direction not in DIRECTION_FILTERS:
        raise ValueError(f"direction must be one of {DIRECTION_FILTERS}, not {direction!r}")
    if kind not in KIND_FILTERS:
        raise ValueError(f"kind must be one of {tuple(KIND_FILTERS)}, not {kind!r}")
    kinds = KIND_FILTERS[kind]
    needle = text.strip().lower()
    out = []
    for r in rows:
        if direction != "all" and r.sender != direction:
            continue
        if kinds is not None and r.kind not in kinds:
            continue
        if needle and needle not in r.search_text:
            continue
        if conn_ids is not None and r.conn_id not in conn_ids:
            continue
        out.append(r)
    return out


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
    return (f"<div class='wsdemo-empty' style='color:#8a4b00'>No rows match "
            f"{esc(', '.join(bits) or 'the filters')}: all {total} row{'s' if total != 1 else ''} "
            f"are hidden. Set Direction to All, Kind to all{', Who to everyone' if who else ''}, "
            "or clear the text to see them.</div>")


# --------------------------------------------------------------------------- students

GREETING_WITHIN = 8  # events: request, response, the greeting's frame(s) and message
NAME_SHOWN = 64  # characters of a name shown in a label: one name must not fill the screen


def label_text(text: str, limit: int = NAME_SHOWN) -> str:
    """One printable line for a label (a dropdown option, a table cell): control and
    other unprintable characters become '?', and at most ``limit`` characters stay."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in text[:limit])
    return clean + ("…" if len(text) > limit else "")


def path_of(target: str | None) -> str:
    """A request target without its query ('/chat?name=Ada&token=…' -> '/chat')."""
    if not target:
        return ""
    try:
        return urlsplit(target).path
    except ValueError:  # e.g. '//[' : not a URL a page asked for; show it as it came
        return target.split("?", 1)[0]


def name_in_target(target: str | None) -> str | None:
    """The student's name a page puts in its URL (``/chat?name=Ada``, ``/cursors?name=Ada``)."""
    if not target or "?" not in target:
        return None
    try:
        values = parse_qs(urlsplit(target).query).get("name")
    except ValueError:
        return None
    return values[0] if values and values[0] else None


def name_in_greeting(message) -> str | None:
    """The name in the server's first message on /chat (``join``) or /cursors (``hello``):
    the name the server gave a student who sent none (``guest3``)."""
    text = getattr(message, "text", None)
    if not text or not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("type") in ("join", "hello"):
        name = data.get("name")
        return name if isinstance(name, str) and name else None
    return None


def student_name(connection) -> str | None:
    """Who a connection belongs to in a classroom: the ``?name=`` of its URL, else the name
    in the server's greeting (the first server message, read from what is still recorded)."""
    name = name_in_target(getattr(connection, "path", None))
    if name is not None:
        return name
    # The greeting follows the handshake at once: a few events in, or never (no scan of a
    # whole ring on every render of a projector panel).
    for event in itertools.islice(getattr(connection, "events", ()), GREETING_WITHIN):
        if isinstance(event, wire.MessageEvent) and event.sender == "server" \
                and event.message.kind == "text":
            return name_in_greeting(event.message)  # only the first: later ones name others
    return None


def is_student_activity(event) -> bool:
    """True for what a student does: the opening request, or a data frame they send.
    Control frames are left out: a pong answers the server's heartbeat, which reaches
    every connection at once and says nothing about who is active."""
    if getattr(event, "sender", None) != "client":
        return False
    if isinstance(event, wire.HttpRequest):
        return True
    if isinstance(event, wire.FrameEvent):
        return event.frame.opcode in (wire.Opcode.TEXT, wire.Opcode.BINARY, wire.Opcode.CONTINUATION)
    return False


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
        cells = ["▶" if mark else "", r.seq, _fmt_time(r.t)] + (
            [f"#{r.conn_id}" if r.conn_id is not None else ""] if multi else []) + [
            direction_text(r.sender), r.label, _fmt_size(r.length), r.preview + _fragment_note(r)]
        style = " style='background:#fff3c4;font-weight:bold'" if mark else ""
        body.append(f"<tr class='wsdemo-row'{style}>" + "".join(
            f"<td style='{_LEFT}'>{esc(c)}</td>" for c in cells) + "</tr>")
    more = len(rows) - len(shown)
    note = (f"<caption style='caption-side:bottom;text-align:left'>the {len(shown)} newest of "
            f"{len(rows)} rows</caption>" if more > 0 else "")
    # a line per row: a saved notebook's diff then shows the rows that changed
    return (f"<table class='wsdemo-rows-table' style='border-collapse:collapse;font-size:90%;"
            f"font-family:monospace'>{note}"
            f"{head}\n" + "\n".join(body) + "</table>")


def parse_hex(text: str) -> bytes:
    """Bytes typed as hex ('01 02 ff', '0x01,0x02', '01:02'); ValueError saying what is wrong."""
    cleaned = text.replace(",", " ").replace(":", " ").replace("\n", " ")
    tokens = [t[2:] if t.lower().startswith("0x") else t for t in cleaned.split()]
    digits = "".join(tokens)
    for i, ch in enumerate(digits):
        if ch not in "0123456789abcdefABCDEF":
            raise ValueError(f"binary payload must be hex digits (0-9, a-f), e.g. '01 02 ff': "
                             f"{ch!r} is not a hex digit (digit {i + 1})")
    for t in tokens:
        if len(t) % 2:
            raise ValueError(f"binary payload: {t!r} has an odd number of hex digits; a byte is "
                             f"two digits, e.g. '0{t[-1]}' not '{t[-1]}'")
    return bytes.fromhex(digits)


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


class RowBook:
    """A ring of rows (oldest dropped) that groups frames into their messages.

    Counts (frames per direction) cover every frame ever added, not only the ring.
    """

    def __init__(self, max_rows: int = 500):
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        self.max_rows = max_rows
        self.rows: list[Row] = []
        self._start = 0                      # index of the oldest live row in self.rows
        self._by_frame: dict[int, Row] = {}  # id(frame) -> row, for rows still in the ring
        self._open: dict[Any, list[Row]] = {}  # (conn, sender) -> data frames awaiting their message
        self.seq = 0
        self.frames = {"client": 0, "server": 0}
        self.messages = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self.rows) - self._start

    def live(self) -> list[Row]:
        return self.rows[self._start:]

    def add(self, event, *, t0: float | None = None, conn_id=None) -> Row | None:
        if isinstance(event, wire.MessageEvent):
            self._attach(event, conn_id)
            return None
        self.seq += 1
        row = make_row(self.seq, event, t0=t0, conn_id=conn_id)
        if row is None:
            self.seq -= 1
            return None
        if row.frame is not None:
            self.frames[row.sender] = self.frames.get(row.sender, 0) + 1
            self._by_frame[id(row.frame)] = row
            if row.kind in DATA_KINDS:
                self._open.setdefault((conn_id, row.sender), []).append(row)
        self.rows.append(row)
        if len(self) > self.max_rows:
            old = self.rows[self._start]
            self._start += 1
            self.dropped += 1
            if old.frame is not None:
                self._by_frame.pop(id(old.frame), None)
            # Compact now and then: amortized O(1), memory stays bounded.
            if self._start > self.max_rows:
                del self.rows[: self._start]
                self._start = 0
        return row

    def _attach(self, event, conn_id) -> None:
        msg = event.message
        self.messages += 1
        frames = list(getattr(msg, "frames", []) or [])
        rows = [self._by_frame.get(id(f)) for f in frames]
        pending = self._open.get((conn_id, event.sender), [])
        if frames and not all(rows) and msg.kind in ("text", "binary"):
            # Frames were copied by the decoder: fall back to the last n data frames.
            rows = pending[-len(frames):] if len(pending) >= len(frames) else rows
        if msg.kind in ("text", "binary"):
            self._open[(conn_id, event.sender)] = []
        n = len(frames) or 1
        for i, r in enumerate(rows, 1):
            if r is None:
                continue
            r.message = msg
            r.message_no = self.messages
            r.fragment = (i, n)
            if msg.kind in ("text", "binary"):
                whole = preview(bytes(msg.data), msg.text)
                compressed = bool(getattr(frames[0], "rsv1", False)) if frames else False
                if n == 1:
                    r.preview = whole  # inflated text when compressed: the bytes are unreadable
                else:
                    # each fragment shows its own bytes; the last one names the whole message
                    if compressed:  # continuation frames of a deflated message carry RSV1=0
                        r.preview = f"(compressed, {r.length} B)"
                    if i == n:
                        r.whole = whole
            if msg.kind == "close":
                r.preview = close_info(bytes(msg.data))["summary"]


# --------------------------------------------------------------------------- frame detail

FIELD_COLOURS = {
    "FIN": "#ffd6a5", "RSV1": "#fdffb6", "RSV2": "#fdffb6", "RSV3": "#fdffb6",
    "opcode": "#caffbf", "MASK": "#9bf6ff", "payload length": "#a0c4ff",
    "extended payload length": "#bdb2ff", "masking key": "#ffc6ff", "payload": "#e9ecef",
}
_MIXED = "#ffe8cc"
_CELL = "padding:1px 6px;border:1px solid #ccc;color:#000;"


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
    text = getattr(f, "text", None)
    if text:
        return str(text)
    v = f.value
    if isinstance(v, (bytes, bytearray)):
        return preview(bytes(v), None)
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
            colour = FIELD_COLOURS.get(names[0], "#fff") if len(names) == 1 else (_MIXED if names else "#fff")
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
        legend += (f" <span style='background:{_MIXED};color:#000;padding:0 4px'>"
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


def close_info(payload: bytes) -> dict:
    """Code, reason, meaning and a one-line summary of a close frame's payload (§5.5.1)."""
    if not payload:
        return {"code": None, "reason": "", "meaning": "no status code (received as 1005)",
                "summary": "CLOSE, no status code"}
    if len(payload) == 1:
        return {"code": None, "reason": "", "meaning": "invalid: a 1-byte close payload",
                "summary": "CLOSE, invalid 1-byte payload"}
    code = int.from_bytes(payload[:2], "big")
    reason = payload[2:].decode("utf-8", "replace")
    meaning = wire.describe_close_code(code)
    summary = meaning + (f" — reason {reason!r}" if reason else "")  # meaning opens with the code
    return {"code": code, "reason": reason, "meaning": meaning, "summary": summary}


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
    n = len(getattr(msg, "frames", []) or []) or 1
    i = row.fragment[0] if row.fragment else 1
    parts.append(f"Message #{row.message_no} ({msg.kind}, {len(msg.data)} bytes)"
                 + (f": frame {i} of {n} (fragmented, RFC 6455 §5.4)" if n > 1 else ": a single frame"))
    wire_size = getattr(msg, "wire_size", None)
    compressed = any(getattr(f, "rsv1", False) for f in getattr(msg, "frames", []) or [])
    if compressed:
        parts.append(f"permessage-deflate (RFC 7692): {wire_size} bytes on the wire "
                     f"→ {len(msg.data)} bytes inflated")
    elif wire_size is not None:
        parts.append(f"{wire_size} bytes on the wire (not compressed)")
    if msg.kind == "close":
        code = getattr(msg, "close_code", None)
        if code is not None:
            parts.append(f"Close code {wire.describe_close_code(code)}"
                         + (f"; reason {msg.close_reason!r}" if getattr(msg, "close_reason", "") else ""))
    return "<div class='wsdemo-msg'>" + "<br>".join(esc(p) for p in parts) + "</div>"


def frame_detail_html(row: Row) -> str:
    """The detail pane for one row: header, fields, hex dump, masking, message."""
    ev = row.event
    head = (f"<div><b>#{row.seq}</b> {esc(direction_text(row.sender))} "
            f"({esc(DIRECTION_LABELS.get(row.sender, row.sender))}) "
            f"{esc(_fmt_time(row.t))}</div>")
    frame = row.frame
    if frame is not None:
        body = [f"<div><code>{esc(str(frame))}</code></div>",
                field_table_html(frame), hex_dump_html(bytes(frame.raw), frame.fields),
                masking_html(frame), message_info_html(row)]
        if frame.opcode == wire.Opcode.CLOSE:
            info = close_info(bytes(frame.payload))
            body.append(f"<div><b>Close</b>: {esc(info['summary'])}</div>")
        return head + "".join(body)
    if isinstance(ev, wire.HttpRequest):
        return head + headers_html(ev.request, "request")
    if isinstance(ev, wire.HttpResponse):
        return head + headers_html(ev.response, "response")
    if isinstance(ev, (wire.SseEvent, wire.SseEnd)):
        return head + sse_detail_html(ev)
    if isinstance(ev, wire.DecodeError):
        return head + (f"<div style='color:#b00020'><b>✗ Decode error</b> at byte {int(ev.offset)} "
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
        f"<td style='{_CELL}'>{int(f.size)} B</td><td style='{_CELL};{_WRAP}'>{esc(repr(f.value)[:200])}</td></tr>"
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
        return bytes(frame.payload), _frame_text(frame)
    ev = row.event
    if isinstance(ev, wire.HttpRequest):
        return bytes(ev.request.raw) + bytes(ev.request.body or b""), None
    if isinstance(ev, wire.HttpResponse):
        return bytes(ev.response.raw) + bytes(ev.response.body or b""), None
    if isinstance(ev, wire.SseEvent):
        return ev.event.data.encode("utf-8", "replace"), ev.event.data
    return b"", None


# --------------------------------------------------------------------------- handshake

# Lower-case header name -> (explanation, where it is specified).
HEADER_HELP: dict[str, tuple[str, str]] = {
    "host": ("The server the client wants; required in every HTTP/1.1 request and in the opening handshake.",
             "RFC 6455 §4.1 item 4; RFC 9110 §7.2"),
    "upgrade": ("Asks to switch this TCP connection from HTTP to another protocol; must contain "
                "'websocket' (case-insensitive) in both the request and the 101 response.",
                "RFC 6455 §4.1 item 5, §4.2.2; RFC 9110 §7.8"),
    "connection": ("Must include the token 'Upgrade', so proxies know the Upgrade header is hop-by-hop "
                   "and meant for this connection.", "RFC 6455 §4.1 item 6, §4.2.2"),
    "sec-websocket-key": ("16 random bytes, base64-encoded, fresh for every handshake. The server proves it "
                          "understood WebSocket by hashing it with a fixed GUID (see Sec-WebSocket-Accept). "
                          "It is not a security token.", "RFC 6455 §1.3, §4.1 item 7, §4.2.1 item 5"),
    "sec-websocket-version": ("The protocol version; must be 13. A server that speaks another version answers "
                              "426 with the versions it supports.", "RFC 6455 §4.1 item 9, §4.4"),
    "sec-websocket-accept": ("base64(SHA-1(Sec-WebSocket-Key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')). "
                             "The client checks it; a wrong value means the connection must fail.",
                             "RFC 6455 §4.2.2 item 5.4, §1.3"),
    "sec-websocket-protocol": ("Subprotocols (application protocols such as 'chat' or 'graphql-ws'): the client "
                               "lists those it speaks, the server picks at most one.",
                               "RFC 6455 §4.1 item 10, §11.3.4"),
    "sec-websocket-extensions": ("Extensions offered by the client (with parameters) and those the server "
                                 "accepted, e.g. permessage-deflate for compression.",
                                 "RFC 6455 §9.1, §11.3.2; RFC 7692"),
    "origin": ("The page's origin, sent by browsers. The server can refuse origins it does not trust: "
               "WebSockets are not covered by the same-origin policy.", "RFC 6455 §4.1 item 8, §10.2; RFC 6454"),
    "cookie": ("Cookies the browser sends with the handshake, as with any request; wsdemo replaces the value "
               "with * before showing it.", "RFC 6265; RFC 6455 §4.1"),
    "authorization": ("Credentials; wsdemo replaces the value with * before showing it.", "RFC 9110 §11.6.2"),
    "user-agent": ("The client software. Not part of the WebSocket handshake rules.", "RFC 9110 §10.1.5"),
}


# Break anywhere: header values (tokens, base64, asterisks) have no spaces to break at.
_WRAP = "overflow-wrap:anywhere;word-break:break-all"


def _head_lines(msg) -> str:
    first = bytes(msg.raw).split(b"\r\n", 1)[0].decode("latin-1")
    return first


def headers_html(msg, side: str) -> str:
    """Start line and headers; WebSocket headers open an explanation on one click."""
    if msg is None:
        return f"<div class='wsdemo-{side}'><i>no {esc(side)} seen yet</i></div>"
    rows = []
    for name, value in msg.headers:
        help_ = HEADER_HELP.get(name.lower())
        note = ""
        if name.lower() in _REDACTED and value and set(value) == {"*"}:
            note = f" <i style='font-size:85%'>(redacted by wsdemo: {len(value)} characters)</i>"
            # The stars keep byte counts true on the wire; on screen a few say it (a login
            # cookie would otherwise fill the column with rows of stars).
            value = value if len(value) <= 16 else "*" * 12 + "…"
        # Long values (User-Agent, a redacted cookie) wrap inside their column.
        line = (f"<code style='white-space:normal'><b>{esc(name)}</b>: "
                f"<span class='wsdemo-hval' style='{_WRAP}'>{esc(value)}</span></code>{note}")
        if help_:
            rows.append(
                f"<details class='wsdemo-header'><summary>{line} <span style='font-size:80%;opacity:.75'>(explain)</span>"
                f"</summary><div style='margin:0 0 4px 1.5em;font-size:90%'>{esc(help_[0])} "
                f"<i>({esc(help_[1])})</i></div></details>")
        else:
            rows.append(f"<div style='margin-left:1.1em'>{line}</div>")
    title = "Request (client → server)" if side == "request" else "Response (server → client)"
    return (f"<div class='wsdemo-{side}' style='overflow-wrap:anywhere;min-width:0'><b>{esc(title)}</b>, "
            f"{len(msg.raw)} bytes of head"
            f"<div><code style='white-space:normal;{_WRAP}'>{esc(_head_lines(msg))}</code></div>"
            + "".join(rows) + "</div>")


def _step_parts(step) -> tuple[str, str]:
    """(name, value) from a step of explain_accept, whatever shape it has."""
    if isinstance(step, (tuple, list)) and len(step) >= 2:
        return str(step[0]), str(step[1])
    if isinstance(step, dict):
        name = step.get("name") or step.get("step") or step.get("label") or ""
        value = step.get("value") or step.get("result") or step.get("text") or ""
        return str(name), str(value)
    for n_attr, v_attr in (("name", "value"), ("label", "value"), ("step", "value"), ("name", "text")):
        if hasattr(step, n_attr) and hasattr(step, v_attr):
            return str(getattr(step, n_attr)), str(getattr(step, v_attr))
    return "", str(step)


def accept_html(request, response) -> str:
    """Sec-WebSocket-Accept computed step by step from the real key, ✓/✗ against the server's."""
    if request is None:
        return "<div class='wsdemo-accept'><i>no request seen yet</i></div>"
    key = request.headers.get("Sec-WebSocket-Key")
    if key is None:
        return ("<div class='wsdemo-accept' style='color:#b00020'>✗ The request has no "
                "Sec-WebSocket-Key header (RFC 6455 §4.1 item 7).</div>")
    try:
        steps = wire.explain_accept(key)
        expected = wire.compute_accept(key)
    except wire.ProtocolError as e:
        return f"<div class='wsdemo-accept' style='color:#b00020'>✗ {esc(e)}</div>"
    items = "".join(
        f"<li>{esc(n)}{': ' if n else ''}<code style='word-break:break-all'>{esc(v)}</code></li>"
        for n, v in map(_step_parts, steps))
    sent = response.headers.get("Sec-WebSocket-Accept") if response is not None else None
    if response is None:
        verdict = "<div><i>no response yet to compare with</i></div>"
    elif sent is None:
        verdict = ("<div style='color:#b00020'><b>✗ missing</b>: the response has no "
                   "Sec-WebSocket-Accept header</div>")
    elif sent.strip() == expected:
        verdict = (f"<div style='color:#006400'><b>✓ matches</b> what the server sent: "
                   f"<code>{esc(sent)}</code></div>")
    else:
        verdict = (f"<div style='color:#b00020'><b>✗ does not match</b>: the server sent "
                   f"<code>{esc(sent)}</code>, expected <code>{esc(expected)}</code></div>")
    return ("<div class='wsdemo-accept'><b>Sec-WebSocket-Accept, step by step</b> (RFC 6455 §4.2.2)"
            f"<ol>{items}</ol>{verdict}</div>")


def problems_html(problems: Sequence) -> str:
    if not problems:
        return ("<div class='wsdemo-problems' style='color:#006400'>✓ No handshake problems found "
                "(checked against RFC 6455 §4.1–4.2).</div>")
    items = "".join(f"<li>✗ Problem: {esc(p)}</li>" for p in problems)
    return (f"<div class='wsdemo-problems' style='color:#b00020'><b>✗ {len(problems)} handshake "
            f"problem{'s' if len(problems) != 1 else ''}</b><ul>{items}</ul></div>")


def parse_extensions(values: Iterable[str]) -> list[tuple[str, list[str]]]:
    """[(name, ['param=value', ...]), ...] using the wire layer's RFC 6455 §9.1 parser."""
    from ..wire.handshake import parse_extensions as _parse

    return [(name, [p if v is None else f"{p}={v}" for p, v in params])
            for name, params in _parse(list(values))]


def extensions_html(request, response) -> str:
    try:
        offered = parse_extensions(request.headers.get_all("Sec-WebSocket-Extensions")) if request else []
        accepted = parse_extensions(response.headers.get_all("Sec-WebSocket-Extensions")) if response else []
    except wire.ProtocolError as e:
        return f"<div class='wsdemo-extensions' style='color:#b00020'>✗ {esc(e)}</div>"

    def fmt(exts):
        if not exts:
            return "<div>none</div>"
        return "<ul>" + "".join(
            f"<li><code>{esc(n)}</code>" + (f" <code>{esc('; '.join(p))}</code>" if p else "") + "</li>"
            for n, p in exts) + "</ul>"

    names_acc = {n for n, _ in accepted}
    declined = [n for n, _ in offered if n not in names_acc]
    note = (f"<div>Offered but not accepted: {esc(', '.join(dict.fromkeys(declined)))}</div>"
            if declined and response is not None else "")
    return ("<div class='wsdemo-extensions'><b>Extensions</b> (RFC 6455 §9)"
            "<div style='display:flex;gap:2em'>"
            f"<div><div><i>offered by the client</i></div>{fmt(offered)}</div>"
            f"<div><div><i>accepted by the server</i></div>{fmt(accepted)}</div></div>{note}</div>")


def subprotocol_lines(request, response) -> list[str]:
    """The subprotocol negotiation in plain words: what was offered, what was selected,
    and what each kind of client does next (RFC 6455 sections 1.9, 4.1, 4.2.2)."""
    if request is None:
        return []
    offered = wire.offered_subprotocols(request.headers)
    lines = [f"Subprotocols offered (client's order of preference): {', '.join(offered) if offered else 'none'}"]
    if response is None:
        return lines + ["Subprotocol selected: not known yet"]
    if response.status != 101:
        return lines + [f"Subprotocol selected: none (the server answered {response.status}, not 101)"]
    selected = [t.strip() for v in response.headers.get_all("Sec-WebSocket-Protocol") for t in v.split(",")]
    if not selected:
        lines.append("Subprotocol selected: none selected")
        if offered:
            lines.append("The server spoke none of the offers; RFC 6455 lets it select none (section 4.2.2). "
                         "What happens next is the client's choice: a browser that offered subprotocols fails "
                         "the connection (the Fetch standard: error, then close with code 1006, protocol \"\"); "
                         "the websockets library and wsdemo's client go on without one.")
        return lines
    if len(selected) > 1 or selected[0] not in offered:
        return lines + [f"Subprotocol selected: {', '.join(selected)} ✗ not one of the offers: the client MUST "
                        "fail the connection (RFC 6455 section 4.1)"]
    return lines + [f"Subprotocol selected: {selected[0]} ✓ (the first offer this server speaks)"]


def subprotocols_html(request, response) -> str:
    lines = subprotocol_lines(request, response)
    if not lines:
        return ""
    return ("<div class='wsdemo-subprotocols'><b>Subprotocol</b> (RFC 6455 §1.9)"
            + "".join(f"<div>{esc(line)}</div>" for line in lines) + "</div>")


# --------------------------------------------------------------------------- summaries

def _stats(summary, sender: str):
    for getter in (lambda: summary[sender], lambda: getattr(summary, sender),
                   lambda: summary.directions[sender]):
        try:
            s = getter()
        except (KeyError, AttributeError, TypeError):
            continue
        if s is not None:
            return s
    raise TypeError(f"cannot find {sender!r} stats in {summary!r}")


def summary_text(summary) -> str:
    """One line: frames, payload vs framing bytes per direction, HTTP head bytes."""
    parts = []
    for sender in ("client", "server"):
        s = _stats(summary, sender)
        total = s.payload_bytes + s.framing_bytes
        pct = f" ({100 * s.framing_bytes / total:.0f}% framing)" if total else ""
        sse = getattr(s, "sse_events", 0)
        events = (f", {sse} server-sent events ({s.sse_payload_bytes} B data + {s.sse_overhead_bytes} B overhead)"
                  if sse else "")
        parts.append(f"{ARROWS[sender]} {sender}: {s.frames} frames, {s.payload_bytes} B payload + "
                     f"{s.framing_bytes} B framing{pct}, HTTP head {s.http_head_bytes} B{events}")
    return " | ".join(parts)


def summary_html(summary) -> str:
    return f"<div class='wsdemo-summary' style='font-family:monospace'>{esc(summary_text(summary))}</div>"


def _conn_summary(conn):
    if hasattr(conn, "summary"):
        return conn.summary()
    return wire.summarize(list(conn.events))


def _pushed_bytes(s) -> int:
    """Bytes after the handshake: frames, or the events of an event stream."""
    return (s.payload_bytes + s.framing_bytes + getattr(s, "sse_payload_bytes", 0)
            + getattr(s, "sse_overhead_bytes", 0))


def connections_table_html(connections: Sequence) -> str:
    """The classroom view: who, path, open/closed, frames and bytes per direction."""
    if not connections:
        return "<div class='wsdemo-connections'><i>no connections yet</i></div>"
    head = ("<tr>" + "".join(f"<th style='{_CELL}'>{h}</th>" for h in (
        "#", "who", "path", "state", "→ frames", "→ bytes", "← frames", "← bytes")) + "</tr>")
    rows = []
    for c in connections:
        s = _conn_summary(c)
        cs, ss = _stats(s, "client"), _stats(s, "server")
        state = "● open" if getattr(c, "is_open", False) else "○ closed"
        name = student_name(c)
        who = f"{label_text(name)} · {c.peer}" if name else c.peer
        rows.append("<tr>" + "".join(f"<td style='{_CELL}'>{esc(v)}</td>" for v in (
            c.id, who, c.path or "—", state, cs.frames, _pushed_bytes(cs), ss.frames, _pushed_bytes(ss)))
            + "</tr>")
    return ("<table class='wsdemo-connections' style='border-collapse:collapse;font-size:90%'>"
            "<caption style='text-align:left'>→ client→server, ← server→client; bytes = payload + framing "
            "(and server-sent events)"
            f"</caption>{head}{''.join(rows)}</table>")


# --------------------------------------------------------------------------- recordings

RECORDING_FORMAT = "wsdemo-recording"
RECORDING_VERSION = 1


def _redacted(event):
    if isinstance(event, (wire.HttpRequest, wire.HttpResponse)):
        return wire.redact(event)
    return event


def _event_chunk(event) -> dict | None:
    """The bytes an event came from, so a fresh ConnectionDecoder can decode it again."""
    event = _redacted(event)
    if isinstance(event, wire.HttpRequest):
        data = bytes(event.request.raw) + bytes(event.request.body or b"")
    elif isinstance(event, wire.HttpResponse):
        data = bytes(event.response.raw) + bytes(event.response.body or b"")
    elif isinstance(event, wire.FrameEvent):
        data = bytes(event.frame.raw)
    elif isinstance(event, (wire.SseEvent, wire.SseEnd)):
        data = bytes(event.raw)  # the body bytes as sent, chunk framing included: they decode again
    elif isinstance(event, wire.DecodeError):
        return {"sender": event.sender, "at": event.at, "error": str(event.error),
                "offset": int(event.offset)}
    else:
        return None  # messages are rebuilt from their frames
    return {"sender": event.sender, "at": event.at, "hex": data.hex()}


def _connection_record(conn=None, events=None) -> dict:
    events = list(conn.events) if events is None else list(events)
    chunks = [c for c in map(_event_chunk, events) if c is not None]
    # A ring may have dropped the handshake: put it back from the connection's own copy,
    # so the recording decodes (and its deflate settings are known) offline.
    if conn is not None:
        have = {type(e) for e in events}
        pre = []
        for attr, cls, sender in (("request", wire.HttpRequest, "client"),
                                  ("response", wire.HttpResponse, "server")):
            msg = getattr(conn, attr, None)
            if msg is not None and cls not in have:
                raw = wire.redact_head(bytes(msg.raw)) + bytes(getattr(msg, "body", b"") or b"")
                pre.append({"sender": sender, "at": getattr(conn, "opened_at", None), "hex": raw.hex()})
        chunks = pre + chunks
    rec = {"chunks": chunks}
    if conn is not None:
        for key in ("id", "peer", "path", "opened_at", "closed_at"):
            rec[key] = getattr(conn, key, None)
    return rec


def export_recording(source, *, indent: int | None = None) -> str:
    """JSON for a tap (all its connections), a Connection, or a list of events."""
    if hasattr(source, "connections"):
        conns = [_connection_record(c) for c in source.connections]
    elif hasattr(source, "events"):
        conns = [_connection_record(source)]
    else:
        conns = [_connection_record(None, source)]
    return json.dumps({"format": RECORDING_FORMAT, "version": RECORDING_VERSION,
                       "connections": conns}, indent=indent)


class RecordedConnection:
    """A connection loaded from a recording: the same attributes a tap Connection has."""

    is_open = False

    def __init__(self, id=None, peer=None, path=None, opened_at=None, closed_at=None,
                 events=(), decoder=None):
        self.id, self.peer, self.path = id, peer, path
        self.opened_at, self.closed_at = opened_at, closed_at
        self.events = list(events)
        self.decoder = decoder
        self.request = next((e.request for e in self.events if isinstance(e, wire.HttpRequest)), None)
        self.response = next((e.response for e in self.events if isinstance(e, wire.HttpResponse)), None)
        for e in self.events:
            e.connection = self

    def summary(self):
        return wire.summarize(self.events)

    def __repr__(self) -> str:
        return f"RecordedConnection(#{self.id} {self.path or ''}, {len(self.events)} events)"


MAX_RECORDED_TIME = 1e12  # seconds (about 31,700 years): bigger "times" are hostile, not clocks
MAX_RECORDED_OFFSET = 2 ** 53  # bytes: as far as a float counts exactly


def _shown(value: Any) -> str:
    return reprlib.repr(value)


def _time_field(value: Any, where: str, name: str) -> float | None:
    """A time in seconds, or None; ValueError for text, booleans, NaN, infinities, huge numbers."""
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not abs(value) <= MAX_RECORDED_TIME):  # NaN fails this too
        raise ValueError(f"{where}: {name!r} must be a time in seconds (a finite number up to "
                         f"{MAX_RECORDED_TIME:g}), not {_shown(value)}")
    return float(value)


def _text_field(value: Any, where: str, name: str, *, numbers: bool = False) -> Any:
    if value is None or isinstance(value, str) or (numbers and type(value) is int):
        return value
    kind = "a number or a string" if numbers else "a string"
    raise ValueError(f"{where}: {name!r} must be {kind}, not {_shown(value)}")


def import_recording(text: str | bytes) -> list[RecordedConnection]:
    """Decode a recording made by :func:`export_recording` again, from its bytes.

    Every field is checked before anything is decoded (types, hex, sender names, times
    finite and at most MAX_RECORDED_TIME): a bad file raises ValueError naming the connection,
    chunk and field that is wrong.
    """
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError("recording is not JSON we can read: nested too deeply") from None
    except ValueError as e:
        raise ValueError(f"recording is not JSON: {e}") from None
    if not isinstance(data, dict) or data.get("format") != RECORDING_FORMAT:
        raise ValueError(f"not a wsdemo recording (expected format {RECORDING_FORMAT!r})")
    version = data.get("version")
    if type(version) is not int or version != RECORDING_VERSION:
        raise ValueError(f"unsupported recording version {_shown(version)} "
                         f"(this wsdemo reads version {RECORDING_VERSION})")
    conns = data.get("connections")
    if not isinstance(conns, list):
        raise ValueError("recording has no 'connections' list")
    out = []
    for n, rec in enumerate(conns):
        if not isinstance(rec, dict) or not isinstance(rec.get("chunks"), list):
            raise ValueError(f"connection {n}: no 'chunks' list")
        where = f"connection {n}"
        ident = _text_field(rec.get("id"), where, "id", numbers=True)
        peer = _text_field(rec.get("peer"), where, "peer")
        path = _text_field(rec.get("path"), where, "path")
        opened = _time_field(rec.get("opened_at"), where, "opened_at")
        closed = _time_field(rec.get("closed_at"), where, "closed_at")
        dec = wire.ConnectionDecoder()
        events = []
        for i, ch in enumerate(rec["chunks"]):
            where = f"connection {n}, chunk {i}"
            if not isinstance(ch, dict) or not any(ch.get("sender") == s for s in ("client", "server")):
                raise ValueError(f"{where}: 'sender' must be 'client' or 'server'")
            sender = ch["sender"]
            at = _time_field(ch.get("at"), where, "at")
            if "hex" in ch:
                if not isinstance(ch["hex"], str):
                    raise ValueError(f"{where}: 'hex' must be a string of hex digits, not {_shown(ch['hex'])}")
                try:
                    data_b = bytes.fromhex(ch["hex"])
                except ValueError:
                    raise ValueError(f"{where}: 'hex' is not hexadecimal") from None
                events.extend(dec.feed(sender, data_b, at=at))
            elif "error" in ch:
                error = _text_field(ch["error"], where, "error")
                offset = ch.get("offset", 0)
                if type(offset) is not int or not 0 <= offset <= MAX_RECORDED_OFFSET:
                    raise ValueError(f"{where}: 'offset' must be a whole number of bytes "
                                     f"(0 to 2**53), not {_shown(offset)}")
                events.append(wire.DecodeError(sender, at, str(error), offset))
            else:
                raise ValueError(f"{where}: needs 'hex' or 'error'")
        out.append(RecordedConnection(ident, peer, path, opened, closed, events, dec))
    return out


def recording_to_base64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
