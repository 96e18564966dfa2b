"""Rows of the frame table and the ring that holds them: one row per frame, HTTP head,
server-sent event, decode error or tap action; filters; who a connection belongs to.

Plain data and plain text (the Select widget shows rows as text): no HTML, no ipywidgets.
The HTML views of rows are in :mod:`wsdemo.ui.markup`.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any, Collection, Iterable
from urllib.parse import parse_qs, urlsplit

from .. import wire
from ..wire.events import Event
from ..wire.recording import ConnectionRecord
from .palette import direction_text

__all__ = [
    "Row", "RowBook", "make_row", "format_row", "filter_rows", "close_line", "close_text", "table_header",
    "fragment_note", "fmt_time", "fmt_size", "KIND_FILTERS", "DIRECTION_FILTERS", "DATA_KINDS",
    "CONTROL_KINDS", "frame_text", "Who", "WhoBook", "who_text", "name_in_target", "name_in_greeting", "path_of",
    "student_name", "label_text", "is_student_activity", "EVERYONE",
]

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
    event: Event
    sender: str
    kind: str                     # text/binary/continuation/ping/pong/close/http/error
    label: str                    # "TEXT", "HTTP 101", "ERROR"
    length: int                   # payload bytes (frames) or head bytes (HTTP)
    preview: str                  # one line, printable, no HTML
    t: float | None = None        # seconds since the connection opened
    conn_id: Any = None
    message: wire.Message | None = None  # the wire.Message this frame belongs to (once complete)
    fragment: tuple[int, int] | None = None   # (i, n): frame i of n in its message
    message_no: int | None = None
    whole: str | None = None      # the whole message's preview, on the last fragment of several

    @property
    def frame(self) -> wire.Frame | None:
        return self.event.frame if isinstance(self.event, wire.FrameEvent) else None

    @property
    def search_text(self) -> str:
        msg = self.message
        full = msg.text if msg is not None and msg.text is not None else self.preview
        return f"{self.label} {full} {self.preview}".lower()


# Opcodes whose payload may be text worth showing as text (as wire.Frame shows them).
_TEXTISH = (wire.Opcode.TEXT, wire.Opcode.CONTINUATION, wire.Opcode.PING, wire.Opcode.PONG)


def frame_text(frame: wire.Frame) -> str | None:
    """A frame's payload as text when it is uncompressed and reads as text (wire.looks_text)."""
    if frame.rsv1 or frame.opcode not in _TEXTISH or not wire.looks_text(frame.payload):
        return None
    return bytes(frame.payload).decode("utf-8", "replace")


def close_line(close: wire.Close) -> str:
    """A close in one line: its code's meaning (which opens with the code), then its reason."""
    return close.description + (f" — reason {close.reason!r}" if close.reason else "")


def close_text(payload: bytes) -> str:
    """A close frame's payload in one line (:func:`close_line`), whatever the payload holds."""
    if not payload:
        return "CLOSE, no status code"
    if len(payload) == 1:  # no code to read: wire.Close.parse refuses it
        return "CLOSE, invalid 1-byte payload"
    return close_line(wire.Close.parse(payload, strict=False))


def make_row(seq: int, event: Event, *, t0: float | None = None,
             conn_id: Any = None) -> Row | None:
    """A table row for a frame, HTTP head or decode error; None for other events."""
    sender, at = event.sender, event.at
    t = (at - t0) if (at is not None and t0 is not None) else None
    if isinstance(event, wire.FrameEvent):
        f = event.frame
        name = wire.opcode_name(f.opcode)
        kind = name.lower() if name.lower() in DATA_KINDS + CONTROL_KINDS else "binary"
        label = name + ("" if f.fin else " …")
        if f.opcode == wire.Opcode.CLOSE:
            pv = close_text(bytes(f.payload))
        elif f.rsv1:
            pv = f"(compressed, {len(f.payload)} B)"
        else:
            pv = wire.preview(bytes(f.payload), frame_text(f))
        return Row(seq, event, sender, kind, label, len(f.payload), pv, t, conn_id)
    if isinstance(event, wire.HttpRequest):
        req = event.request
        return Row(seq, event, sender, "http", f"HTTP {req.method}", len(req.raw),
                   wire.preview(b"", f"{req.method} {req.target}"), t, conn_id)
    if isinstance(event, wire.HttpResponse):
        resp = event.response
        return Row(seq, event, sender, "http", f"HTTP {resp.status}", len(resp.raw),
                   wire.preview(b"", f"{resp.status} {resp.reason}"), t, conn_id)
    if isinstance(event, wire.SseEvent):
        e = event.event
        label = f"SSE {e.type}" if e.dispatched else "SSE no data"
        # repr() keeps the line printable whatever the server sent (control characters escaped)
        id_ = f"id {e.id[:20]!r} " if e.id is not None else ""
        text = wire.preview(b"", e.data) if e.dispatched else "(a browser fires nothing)"
        return Row(seq, event, sender, "sse", label, event.wire_size,
                   f"{id_}{text} [{e.size_text()}; chunk framing {event.framing_size} B]", t, conn_id)
    if isinstance(event, wire.SseEnd):
        cut = f", {event.discarded} B of an unfinished event discarded" if event.discarded else ""
        return Row(seq, event, sender, "sse", "SSE end", event.wire_size,
                   f"end of the event stream{cut}", t, conn_id)
    if isinstance(event, wire.DecodeError):
        return Row(seq, event, sender, "error", "ERROR", 0,
                   wire.preview(b"", f"at byte {event.offset}: {event.error}", limit=80), t, conn_id)
    if isinstance(event, wire.TapEvent):
        return Row(seq, event, sender, "tap", "TAP", 0,
                   wire.preview(b"", f"{event.kind.value}: {event.text}", limit=80), t, conn_id)
    return None


def fmt_time(t: float | None) -> str:
    return "" if t is None else f"+{t:.3f}s"


def fmt_size(n: int) -> str:
    return f"{n} B"


def table_header(multi: bool = False) -> str:
    """Column titles lined up with :func:`format_row` (DevTools' table has titles too)."""
    conn = f"{'conn':<5}" if multi else ""
    return (f"{'#':>5} {'time':>9} {conn}{'direction':<9} {'type':<12} {'length':>9}  "
            "data (preview)")


def format_row(row: Row) -> str:
    """Fixed-width plain text (no HTML): the Select widget shows it as text."""
    conn = f"{'#' + str(row.conn_id):<4} " if row.conn_id is not None else ""
    return (f"{row.seq:>5} {fmt_time(row.t):>9} {conn}{direction_text(row.sender):<9} "
            f"{row.label:<12} {fmt_size(row.length):>9}  {row.preview}{fragment_note(row)}")


def fragment_note(row: Row) -> str:
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


def name_in_greeting(message: wire.Message) -> str | None:
    """The name in the server's first message on /chat (``join``) or /cursors (``hello``):
    the name the server gave a student who sent none (``guest3``)."""
    text = message.text
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


def student_name(connection: ConnectionRecord) -> str | None:
    """Who a connection belongs to in a classroom: the ``?name=`` of its URL, else the name
    in the server's greeting (the first server message, read from what is still recorded)."""
    name = name_in_target(connection.path)
    if name is not None:
        return name
    # The greeting follows the handshake at once: a few events in, or never (no scan of a
    # whole ring on every render of a projector panel).
    for event in itertools.islice(connection.events, GREETING_WITHIN):
        if isinstance(event, wire.MessageEvent) and event.sender == "server" \
                and event.message.kind == "text":
            return name_in_greeting(event.message)  # only the first: later ones name others
    return None


def is_student_activity(event: Event) -> bool:
    """True for what a student does: the opening request, or a data frame they send.
    Control frames are left out: a pong answers the server's heartbeat, which reaches
    every connection at once and says nothing about who is active."""
    if event.sender != "client":
        return False
    if isinstance(event, wire.HttpRequest):
        return True
    if isinstance(event, wire.FrameEvent):
        return event.frame.opcode in (wire.Opcode.TEXT, wire.Opcode.BINARY, wire.Opcode.CONTINUATION)
    return False


# --------------------------------------------------------------------------- who

EVERYONE = ("all", None)  # the Who filter's values: this, ("student", name), ("connection", id)


@dataclass
class Who:
    """What is known of one connection: for the Who filter."""

    path: str | None = None
    name: str | None = None   # the student's name (?name= in the URL, or the server's greeting)
    greeted: bool = False     # the first server text message was read for a name


class WhoBook:
    """Who each connection is (its path, its student's name), read from its events as they
    come, so the ring dropping a request does not make its student anonymous."""

    def __init__(self) -> None:
        self.by_id: dict[Any, Who] = {}

    def __len__(self) -> int:
        return len(self.by_id)

    def know(self, conn_id: Any, path: str | None) -> None:
        """A connection whose recorded path is known (the ring may have dropped its request)."""
        self.by_id[conn_id] = Who(path=path, name=name_in_target(path))

    def note(self, conn_id: Any, event: Event) -> None:
        who = self.by_id.get(conn_id)
        if who is None:
            who = self.by_id[conn_id] = Who()
        if isinstance(event, wire.HttpRequest):
            if who.path is None:  # a keep-alive connection's later requests name nobody new
                who.path = event.request.target
                who.name = who.name or name_in_target(who.path)
        elif (not who.greeted and isinstance(event, wire.MessageEvent) and event.sender == "server"
              and event.message.kind == "text"):
            who.greeted = True
            who.name = who.name or name_in_greeting(event.message)

    def students(self, ids: Collection) -> dict[str, list]:
        """Each student's name and their connections' ids, among ``ids``."""
        out: dict[str, list] = {}
        for cid, who in self.by_id.items():
            if who.name is not None and cid in ids:
                out.setdefault(who.name, []).append(cid)
        return {name: sorted(cids) for name, cids in sorted(out.items())}

    def names(self, ids: Collection) -> dict[Any, str | None]:
        """Each connection among ``ids`` and its student's name (None: unknown)."""
        return {cid: who.name for cid, who in sorted(self.by_id.items()) if cid in ids}

    def ids(self, value: tuple) -> set | None:
        """The connection ids a Who value keeps; None for everyone."""
        kind, what = value
        if kind == "connection":
            return {what}
        if kind == "student":
            return {cid for cid, who in self.by_id.items() if who.name == what}
        return None

    def options(self, ids: Collection, keep: tuple = EVERYONE) -> list[tuple[str, tuple]]:
        """The Who choices as (label, value): everyone, each named student, each connection;
        ``keep`` (the filter in use) stays even with no rows left."""
        opts: list[tuple[str, tuple]] = [("everyone", EVERYONE)]
        for name, cids in self.students(ids).items():
            opts.append((f"{label_text(name)} ({len(cids)} connection{'s' if len(cids) != 1 else ''})",
                         ("student", name)))
        for cid, known in self.names(ids).items():
            path = path_of(self.by_id[cid].path)  # no query: names, join tokens
            opts.append((f"#{cid} " + (f"{label_text(known)} " if known else "")
                         + label_text(path, 40), ("connection", cid)))
        if all(v != keep for _l, v in opts):
            opts.append((f"({keep[0]} {label_text(str(keep[1]))})", keep))
        return opts

    def keep_only(self, ids: Collection) -> None:
        """Forget connections not among ``ids`` (long out of the ring)."""
        self.by_id = {cid: w for cid, w in self.by_id.items() if cid in ids}


def who_text(value: tuple) -> str:
    """A Who value in words: 'everyone', 'connection #3' or "student 'ann'"."""
    kind, what = value
    if kind == "connection":
        return f"connection #{what}"
    if kind == "student":
        return f"student {what!r}"
    return "everyone"


# --------------------------------------------------------------------------- the ring


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
        frames = list(msg.frames)
        rows: list[Row | None] = [self._by_frame.get(id(f)) for f in frames]
        pending = self._open.get((conn_id, event.sender), [])
        if frames and not all(rows) and msg.kind in ("text", "binary"):
            # Frames were copied by the decoder: fall back to the last n data frames.
            rows = list(pending[-len(frames):]) if len(pending) >= len(frames) else rows
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
                whole = wire.preview(bytes(msg.data), msg.text)
                compressed = msg.compressed
                if n == 1:
                    r.preview = whole  # inflated text when compressed: the bytes are unreadable
                else:
                    # each fragment shows its own bytes; the last one names the whole message
                    if compressed:  # continuation frames of a deflated message carry RSV1=0
                        r.preview = f"(compressed, {r.length} B)"
                    if i == n:
                        r.whole = whole
            if msg.kind == "close":
                r.preview = close_text(bytes(msg.data))
