"""FrameInspector: DevTools' Messages panel with Wireshark's depth, over the tap, one
connection, a recording or a list of events. Wiring only: rows come from
:mod:`wsdemo.ui.rows`, every piece of HTML from :mod:`wsdemo.ui.markup`."""

from __future__ import annotations

import base64
import html
import re
from typing import Any, Iterable

import ipywidgets as W

from ..wire.events import Event
from ..wire.recording import ConnectionRecord, EventSource, Recording, export_recording, import_recording
from . import markup as M
from .detail import frame_detail_html, payload_of
from . import snapshot as S
from .base import STYLE, Live, subscribe
from .palette import ARROWS, ERROR_TEXT
from .rows import EVERYONE, KIND_FILTERS, Row, RowBook, WhoBook, filter_rows, format_row, table_header, who_text

__all__ = ["FrameInspector", "TABLE_ROWS", "MAX_FOLLOW", "EVERYONE"]

TABLE_ROWS = 12  # lines the frame table shows at once
MAX_FOLLOW = 50  # "follow the latest N": the table grows to N lines, so N stays screen-sized


class FrameInspector(Live):
    """A live table of frames (DevTools' Messages panel) with Wireshark-depth detail.

    ``source``: an EventSource (the tap: all connections; a Recording), a ConnectionRecord
    (a tap Connection, a RecordedConnection), or a list of events. Rows live in a ring of
    ``max_rows``.

    For a projector: ``pause()`` freezes the view while frames keep being recorded
    (``resume()`` catches up), ``filter_who()`` shows one connection or one student's
    connections (a tap only), and ``follow(n)`` keeps the latest ``n`` rows in view.
    """

    def __init__(self, source: EventSource | ConnectionRecord | Iterable[Event], *, max_rows: int = 500):
        self.source = source
        self.book = RowBook(max_rows)
        self._multi = isinstance(source, EventSource)
        self._selected: int | None = None
        self._updating = False
        self._paused = False
        self._frozen: list[Row] | None = None  # the rows the view shows while paused
        self._pause_seq = 0                       # book.seq when the view froze
        self._refilter = False                    # a filter changed: re-render even while paused
        self._follow: int | None = None
        self._whos = WhoBook()                    # conn id -> path and student name
        self._first_at: float | None = None      # t0 for events of no known connection
        self._detail_has_message = False          # the detail shown names the row's message

        self._counts = W.HTML()
        self._direction = W.ToggleButtons(
            options=[("All", "all"), ("→ client", "client"), ("← server", "server")],
            value="all", description="Direction", tooltips=["both directions", "client to server",
                                                            "server to client"],
            style={"button_width": "auto"})
        self._kind = W.Dropdown(options=list(KIND_FILTERS), value="all", description="Kind")
        self._text = W.Text(value="", placeholder="text in the payload", description="Contains")
        self._table = W.Select(options=[], rows=TABLE_ROWS, layout=W.Layout(width="100%"),
                               description="", disabled=False)
        self._table.add_class("wsdemo-rows")
        # Column titles, in the table's monospace font and lined up with its rows.
        self._header = W.HTML(f"<pre class='wsdemo-rows-head' style='margin:0 0 0 3px;font-size:12px;"
                              f"font-weight:bold'>{M.esc(table_header(self._multi))}</pre>")
        self._empty = W.HTML()
        self._detail = W.HTML("<i>Pick a row to see its bytes.</i>", layout=W.Layout(width="100%"))
        self._detail.add_class("wsdemo-pane")
        self._as_text, self._as_json, self._as_hex = W.HTML(), W.HTML(), W.HTML()
        self._views = W.Tab([self._as_text, self._as_json, self._as_hex],
                            titles=("Payload as text", "as JSON", "as hex"))
        self._export_btn = W.Button(description="Export JSON", icon="download",
                                    tooltip="make a JSON recording of these connections")
        self._export_link = W.HTML()
        self._upload = W.FileUpload(accept=".json,application/json", multiple=False,
                                    description="Load recording")
        self._summary = W.HTML()
        self._who = W.Dropdown(options=[("everyone", EVERYONE)], value=EVERYONE, description="Who",
                               tooltip="one student (all their connections) or one connection")
        self._who.layout.display = "" if self._multi else "none"
        self._pause_btn = W.ToggleButton(value=False, description="Pause", icon="pause",
                                         tooltip="freeze the table; frames keep being recorded")
        self._pause_note = W.HTML()
        self._follow_box = W.Checkbox(value=False, description="follow the latest", indent=False,
                                      layout=W.Layout(width="auto"))
        self._follow_n = W.BoundedIntText(value=TABLE_ROWS, min=1, max=MAX_FOLLOW, description="",
                                          layout=W.Layout(width="5em"))
        self._pause_btn.observe(self._on_pause_btn, names="value")
        for w in (self._follow_box, self._follow_n):
            w.observe(self._on_follow_ui, names="value")
        for w in (self._direction, self._kind, self._text, self._who):
            w.observe(self._on_filter, names="value")
        self._table.observe(self._on_pick, names="value")
        self._export_btn.on_click(lambda _b: self.export_link())
        self._upload.observe(self._on_upload, names="value")

        super().__init__([
            STYLE, self._counts,
            W.HBox([self._direction, self._kind, self._text], layout=W.Layout(flex_flow="row wrap")),
            W.HBox([self._who, self._pause_btn, self._follow_box, self._follow_n,
                    W.HTML("rows"), self._pause_note], layout=W.Layout(flex_flow="row wrap")),
            self._header, self._table, self._empty, self._detail, self._views, self._summary,
            W.HBox([self._export_btn, self._upload, self._export_link]),
        ])
        self.add_class("wsdemo-inspector")
        self._load_initial(self.source)
        unsub = subscribe(self.source, self._on_event)
        if unsub:
            self._unsubs.append(unsub)
        self.flush()

    # -- feeding
    def _load_initial(self, source: EventSource | ConnectionRecord | Iterable[Event]) -> None:
        if isinstance(source, EventSource):
            for conn in list(source.connections):
                # the ring may have dropped the request: its recorded path names it
                self._whos.know(conn.id, conn.path)
                for e in list(conn.events):
                    self._add(e, conn)
        elif isinstance(source, ConnectionRecord):
            for e in list(source.events):
                self._add(e, source)
        else:
            for e in source:
                self._add(e)

    def _add(self, event: Event, conn: ConnectionRecord | None = None) -> None:
        if not isinstance(event, Event):  # an event type from a newer wire layer: no row for it
            return
        if conn is None and isinstance(event.connection, ConnectionRecord):
            conn = event.connection
        t0 = conn.opened_at if conn is not None else None
        if t0 is None:
            if self._first_at is None:
                self._first_at = event.at
            t0 = self._first_at
        conn_id = conn.id if self._multi and conn is not None else None
        if conn_id is not None:
            self._whos.note(conn_id, event)
        self.book.add(event, t0=t0, conn_id=conn_id)

    def _on_event(self, event: Event) -> None:
        """Tap callback: cheap bookkeeping now, rendering later (batched)."""
        self._add(event)
        self._batcher.poke()

    def feed(self, events: Iterable[Event]) -> None:
        """Add events by hand (e.g. decoded offline) and schedule a render."""
        for e in events:
            self._add(e)
        self._batcher.poke()

    # -- what the page shows (read-only; tests and notebooks check these)
    @property
    def table(self) -> W.Select:
        """The frame table: its options are the shown lines (``shown_lines``), its value the
        selected row's seq; setting the value is what a click on a line does."""
        return self._table

    @property
    def upload(self) -> W.FileUpload:
        """The "Load recording" button (a browser sets its value to the file picked)."""
        return self._upload

    @property
    def detail_html(self) -> str:
        """The detail pane of the selected row (header fields, bytes, masking, message)."""
        return self._detail.value

    @property
    def payload_html(self) -> dict[str, str]:
        """The selected row's payload as the three tabs show it: "text", "json" and "hex"."""
        return {"text": self._as_text.value, "json": self._as_json.value, "hex": self._as_hex.value}

    @property
    def empty_html(self) -> str:
        """Why the table is empty ('' when it is not): nothing yet, or filters hiding every row."""
        return self._empty.value

    @property
    def summary_html(self) -> str:
        """The summary line under one connection's table ('' for a tap or a list of events)."""
        return self._summary.value

    @property
    def recording_note_html(self) -> str:
        """Beside the recording buttons: the download link, what was loaded, or why not."""
        return self._export_link.value

    # -- state
    @property
    def rows(self) -> list[Row]:
        return self.book.live()

    def visible_rows(self) -> list[Row]:
        """The rows the table shows: the filters applied, to what the view holds (the rows
        as they were at pause() while paused), the latest N only when following."""
        rows = filter_rows(self._base_rows(), self._direction.value, self._kind.value,
                             self._text.value, self._who_ids())
        return rows[-self._follow:] if self._follow else rows

    @property
    def counts_line(self) -> str:
        """The line above the table as the page shows it ('Frames: 14 frames (7 →, 7 ←)')."""
        return html.unescape(re.sub(r"<[^>]*>", "", self._counts.value))

    @property
    def shown_lines(self) -> list[str]:
        """The table's lines as the page has them (plain text, in order)."""
        return [label for label, _seq in self._table.options]

    def _base_rows(self) -> list[Row]:
        return self._frozen if self._frozen is not None else self.book.live()

    # -- pause
    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def new_while_paused(self) -> int:
        """Rows recorded since pause() that the view does not show yet (0 when not paused)."""
        return self.book.seq - self._pause_seq if self._paused else 0

    def pause(self) -> None:
        """Freeze the view: frames keep being recorded (in the ring of ``max_rows``), the
        table, counts and detail stay as they are; filters and selection still work on
        what is shown. ``resume()`` catches up."""
        if self._paused:
            return
        self.flush()  # the view shows everything up to now, then freezes
        self._frozen = self.book.live()
        self._pause_seq = self.book.seq
        self._paused = True
        self._pause_btn.value = True
        self._pause_btn.description, self._pause_btn.icon = "Resume", "play"
        self._pause_note.value = self._pause_text()

    def resume(self) -> None:
        """Unfreeze: the view catches up with every row recorded meanwhile (the latest
        ``max_rows``) at the next sync, batched like any other update."""
        if not self._paused:
            return
        self._paused = False
        self._frozen = None
        self._pause_btn.value = False
        self._pause_btn.description, self._pause_btn.icon = "Pause", "pause"
        self._pause_note.value = ""
        self._batcher.poke()

    def _on_pause_btn(self, change) -> None:
        self.pause() if change["new"] else self.resume()

    def _pause_text(self) -> str:
        n = self.new_while_paused
        kept = f" (the latest {self.book.max_rows} will show)" if n > self.book.max_rows else ""
        return (f"<span class='wsdemo-paused' style='color:#8a4b00'><b>Paused</b>: {n} new "
                f"row{'s' if n != 1 else ''} since{kept}; Resume to see them</span>")

    # -- follow
    @property
    def following(self) -> int | None:
        """N when the table follows the latest N rows; None when it does not."""
        return self._follow

    def follow(self, latest: int | None = TABLE_ROWS) -> None:
        """Show only the latest ``latest`` rows, newest at the bottom, the table that many
        lines tall so the newest is always in view; None: show every row in the ring and
        never move it (scroll and select freely)."""
        if latest is not None and not (isinstance(latest, int) and not isinstance(latest, bool)
                                       and 1 <= latest <= MAX_FOLLOW):
            raise ValueError(f"follow shows the latest 1 to {MAX_FOLLOW} rows (MAX_FOLLOW), "
                             f"not {latest!r}; None turns following off")
        self._follow = latest
        self._updating = True
        try:
            self._follow_box.value = latest is not None
            if latest is not None:
                self._follow_n.value = latest
        finally:
            self._updating = False
        self._table.rows = latest or TABLE_ROWS
        self._refilter = True
        self.flush()

    def _on_follow_ui(self, _change) -> None:
        if not self._updating:
            self.follow(self._follow_n.value if self._follow_box.value else None)

    # -- who
    def students(self) -> dict[str, list[int]]:
        """Each student's name and their connections' ids (those with rows in the view)."""
        return self._whos.students(self._ids_in_view())

    def connection_names(self) -> dict[int, str | None]:
        """Each connection with rows in the view, and its student's name (None: unknown)."""
        return self._whos.names(self._ids_in_view())

    @property
    def who(self) -> str:
        """The Who filter in words: 'everyone', 'connection #3' or "student 'ann'"."""
        return who_text(self._who.value)

    def filter_who(self, *, connection: int | None = None, student: str | None = None) -> None:
        """Show one connection (its tap id), or every connection of one student (their
        name), or with neither, everyone. ValueError for one the view has no rows of."""
        if connection is not None and student is not None:
            raise ValueError("filter by a connection or by a student, not both")
        if connection is not None:
            if connection not in self.connection_names():
                raise ValueError(f"no rows of connection #{connection} here; connections shown: "
                                 f"{', '.join(f'#{c}' for c in self.connection_names()) or 'none'}")
            value: tuple[str, Any] = ("connection", connection)
        elif student is not None:
            if student not in self.students():
                raise ValueError(f"no rows of a student named {student!r} here; students: "
                                 f"{', '.join(map(repr, self.students())) or 'none'}")
            value = ("student", student)
        else:
            value = EVERYONE
        # _sync_who may set the value silently (with new options): render here, not by observer
        self._sync_who(keep=value)
        self._updating = True
        try:
            self._who.value = value
        finally:
            self._updating = False
        self._refilter = True
        self.flush()

    def _ids_in_view(self) -> set:
        return {r.conn_id for r in self._base_rows()}

    def _who_ids(self) -> set | None:
        return self._whos.ids(self._who.value)

    def who_choices(self) -> list[tuple[str, tuple]]:
        """The Who dropdown's entries as (label, value): ``EVERYONE``, then
        ("student", name) for each named student, then ("connection", id)."""
        return list(self._who.options)

    def _sync_who(self, keep=None) -> None:
        if not self._multi:
            return
        keep = self._who.value if keep is None else keep
        opts = self._whos.options(self._ids_in_view(), keep)
        if list(self._who.options) == opts:
            return
        # setting options resets the value: put it back without a re-render
        self._updating = True
        try:
            self._who.options = opts
            self._who.value = keep
        finally:
            self._updating = False
        if len(self._whos) > 2 * self.book.max_rows:  # forget connections long out of the ring
            ids = self._ids_in_view() | {r.conn_id for r in self.book.live()}
            self._whos.keep_only(ids)

    def _reset_who(self) -> None:
        self._whos = WhoBook()
        self._updating = True
        try:
            self._who.options = [("everyone", EVERYONE)]
            self._who.value = EVERYONE
        finally:
            self._updating = False
        self._who.layout.display = "" if self._multi else "none"

    def set_filter(self, direction: str | None = None, kind: str | None = None,
                   text: str | None = None) -> None:
        """Direction ('all'/'client'/'server'), kind (rows.KIND_FILTERS), text in the payload;
        None leaves one as it is. For one connection or student, see filter_who()."""
        if direction is not None:
            self._direction.value = direction
        if kind is not None:
            self._kind.value = kind
        if text is not None:
            self._text.value = text

    def select(self, which: int | str | None = -1) -> Row | None:
        """Show one row's detail: a seq number, -1 for the newest visible row, or a
        kind such as 'text' (the newest row of that kind)."""
        self.flush()
        rows = self.visible_rows()
        row = None
        if isinstance(which, str):
            row = next((r for r in reversed(rows) if r.kind == which), None)
        elif which == -1:
            row = rows[-1] if rows else None
        elif which is not None:
            row = next((r for r in rows if r.seq == which), None)
        self._selected = row.seq if row else None
        self._sync_table(rows)
        self._show(row)
        return row

    @property
    def selected(self) -> Row | None:
        if self._selected is None:
            return None
        # while paused, a row the ring has dropped since is still on screen, and pickable
        return next((r for r in self._base_rows() if r.seq == self._selected), None)

    # -- rendering
    def _on_filter(self, _change) -> None:
        if self._updating:
            return
        self._refilter = True
        self.flush()

    def _on_pick(self, change) -> None:
        if self._updating:
            return
        self._selected = change["new"]
        self._show(self.selected)

    def _sync_table(self, rows) -> None:
        opts = [(format_row(r), r.seq) for r in rows]
        self._updating = True
        try:
            with self._table.hold_sync():
                self._table.options = opts
                keep = self._selected if any(v == self._selected for _l, v in opts) else None
                self._table.value = keep
        finally:
            self._updating = False

    def _show(self, row: Row | None) -> None:
        self._detail_has_message = row is not None and row.message is not None
        with self.hold_sync():
            if row is None:
                self._detail.value = "<i>Pick a row to see its bytes.</i>"
                self._as_text.value = self._as_json.value = self._as_hex.value = ""
                return
            self._detail.value = frame_detail_html(row)
            data, text = payload_of(row)
            self._as_text.value = M.payload_text_html(data, text)
            self._as_json.value = M.json_view_html(data, text)
            self._as_hex.value = M.payload_hex_html(data)

    def _render(self) -> None:
        refilter, self._refilter = self._refilter, False
        if self._paused and not refilter:  # frozen: only the note of what is waiting changes
            self._pause_note.value = self._pause_text()
            return
        rows = self.visible_rows()
        with self.hold_sync():
            if not self._paused:
                self._counts.value = f"<b>Frames</b>: {M.esc(self._count_text())}"
                self._sync_who()
            self._sync_table(rows)
            who = "" if self._who.value == EVERYONE else self.who
            self._empty.value = "" if rows else M.empty_rows_html(
                len(self._base_rows()), self._direction.value, self._kind.value, self._text.value, who)
            sel = self.selected
            if sel is not None and sel.message is not None and not self._detail_has_message:
                self._show(sel)  # its message completed since it was shown
            if isinstance(self.source, ConnectionRecord):
                self._summary.value = M.summary_html(self.source.summary())

    def _count_text(self) -> str:
        c, s = self.book.frames.get("client", 0), self.book.frames.get("server", 0)
        text = f"{c + s} frames ({c} →, {s} ←)"
        if self.book.dropped:
            text += f", last {self.book.max_rows} rows kept"
        return text

    def _filter_text(self) -> str:
        d, k, t = self._direction.value, self._kind.value, self._text.value.strip()
        extra = ""
        if self._follow:
            extra += f", following the latest {self._follow}"
        if self._paused:
            extra += f", paused ({self.new_while_paused} new rows waiting)"
        if d == "all" and k == "all" and not t and self._who.value == EVERYONE:
            return "showing all" + extra
        bits = []
        if d != "all":
            bits.append(f"{ARROWS[d]} {d}")
        if k != "all":
            bits.append(k)
        if t:
            bits.append(f"containing {t!r}")
        if self._who.value != EVERYONE:
            bits.append(self.who)
        return f"showing {len(self.visible_rows())} rows: " + ", ".join(bits) + extra

    def __repr__(self) -> str:
        text = f"FrameInspector: {self._count_text()}, {self._filter_text()}"
        row = self.selected
        if row is not None:
            what = str(row.frame) if row.frame is not None else f"{row.label} {row.preview}"
            text += f"; selected #{row.seq} {ARROWS.get(row.sender, '?')} {what}"
        return text

    def _snapshot_parts(self) -> dict[int, str]:
        # a real table instead of the Select's lines (the table has its own column titles)
        table = M.rows_table_html(self.visible_rows(), multi=self._multi, selected=self._selected,
                                  limit=S.MAX_ROWS)
        return {id(self._header): "", id(self._table): table}

    # -- recordings
    def export_json(self, indent: int | None = None) -> str:
        """A JSON recording (see wire.recording.export_recording) of what this inspector watches."""
        return export_recording(self.source, indent=indent)

    def export_link(self) -> str:
        """Make the download link for a recording (what Export JSON does); returns its HTML."""
        text = self.export_json()
        data = base64.b64encode(text.encode()).decode()
        self._export_link.value = (
            f"<a download='wsdemo-recording.json' href='data:application/json;base64,"
            f"{data}'>⬇ save wsdemo-recording.json</a> ({len(text)} bytes)")
        return self._export_link.value

    @classmethod
    def from_json(cls, text: str | bytes, *, max_rows: int = 500) -> "FrameInspector":
        """An inspector over a saved recording (offline: no server needed)."""
        conns = import_recording(text)
        return cls(conns[0] if len(conns) == 1 else Recording(conns), max_rows=max_rows)

    def _on_upload(self, change) -> None:
        files = change["new"]
        if files:
            self.load_recording(bytes(files[0]["content"]), files[0].get("name", "recording"))

    def load_recording(self, content: str | bytes, name: str = "recording") -> bool:
        """Show a recording instead of the current source (what Load recording does with a
        file); False, and the reason beside the buttons, when it is not a valid recording."""
        try:
            conns = import_recording(content)
        except ValueError as e:
            self._export_link.value = f"<span style='color:{ERROR_TEXT}'>✗ not a valid recording: {M.esc(e)}</span>"
            return False
        # Checked and decoded: only now stop watching the old source.
        self._unsubscribe()
        self.source = conns[0] if len(conns) == 1 else Recording(conns)
        self._multi = isinstance(self.source, EventSource)
        self._header.value = (f"<pre class='wsdemo-rows-head' style='margin:0 0 0 3px;font-size:12px;"
                              f"font-weight:bold'>{M.esc(table_header(self._multi))}</pre>")
        self.book = RowBook(self.book.max_rows)
        self._selected = None
        self.resume()  # a new source: nothing of the old one stays frozen
        self._reset_who()
        self._first_at = None  # times count from the new source's first event, not the old one's
        self._load_initial(self.source)
        self._export_link.value = f"Loaded {M.esc(name)}: {len(conns)} connection(s)"
        self._show(None)
        self.flush()
        return True
