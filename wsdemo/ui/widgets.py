"""The widgets learners watch. They only render: every figure comes from render.py.

They talk to the live layer only through the objects they are given (a tap, a
tap Connection, a client) and never open sockets. Events arrive on the event
loop (tap callbacks); widgets collect them and re-render on a timer at most
``1 / SYNC_INTERVAL`` times a second, however fast events arrive.
"""

from __future__ import annotations

import asyncio
import collections
import html
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import ipywidgets as W

from .. import wire
from . import render as R
from . import snapshot as S

log = logging.getLogger(__name__)

SYNC_INTERVAL = 0.1  # seconds between two widget syncs at most: ~10 per second
TABLE_ROWS = 12  # lines the frame table shows at once
MAX_FOLLOW = 50  # "follow the latest N": the table grows to N lines, so N stays screen-sized
EVERYONE = ("all", None)  # the Who filter's values: this, ("student", name), ("connection", id)

_STYLE = W.HTML(
    "<style>.wsdemo-rows select, .wsdemo-rows option {font-family: monospace; font-size: 12px}"
    ".wsdemo-pane {overflow-x: auto}"
    # A widget drawn from a saved notebook (no kernel behind it) marks itself and each of its
    # parts with a broken-link icon; once, on the widget itself, says it.
    ".wsdemo-live.jupyter-widgets-disconnected .jupyter-widgets-disconnected::before {display: none}"
    "</style>")


class Batcher:
    """Calls ``render`` soon after ``poke()``, never more than once per ``interval``.

    On a running loop it schedules a timer (call_later), so a burst of thousands of
    events costs one render per interval. Without a loop (plain scripts) it renders
    at most once per interval and leaves the rest to an explicit ``flush()``.
    """

    def __init__(self, render: Callable[[], None], interval: float = SYNC_INTERVAL):
        self._render = render
        self.interval = interval
        self._handle: asyncio.TimerHandle | None = None
        self._last = float("-inf")
        self.syncs = 0        # how many renders happened: tests check the rate with it
        self.pokes = 0
        self.dirty = False

    def poke(self) -> None:
        self.pokes += 1
        self.dirty = True
        if self._handle is not None:
            return
        now = time.monotonic()
        delay = max(0.0, self._last + self.interval - now)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if delay == 0.0:
                self.flush()
            return
        self._handle = loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._handle = None
        try:
            self.flush()
        except Exception:  # a render bug must not kill the loop's timer machinery
            log.exception("wsdemo widget render failed")

    def flush(self) -> None:
        """Render now (if anything changed) and cancel a pending timer."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if not self.dirty:
            return
        self.dirty = False
        self._last = time.monotonic()
        self.syncs += 1
        self._render()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def _is_tap(obj) -> bool:
    return hasattr(obj, "subscribe") and hasattr(obj, "connections")


def _subscribe(source, callback: Callable[[Any], None]) -> Callable[[], None] | None:
    """Subscribe to new events of a tap or of one tap Connection; None if it is static."""
    if _is_tap(source):
        return source.subscribe(callback)
    sub = getattr(source, "subscribe", None)
    if callable(sub):  # a Connection that can be subscribed to directly
        return sub(callback)
    tap = getattr(source, "tap", None)
    if tap is not None and hasattr(tap, "subscribe"):
        def only_mine(event, _conn=source):
            if getattr(event, "connection", None) is _conn:
                callback(event)
        return tap.subscribe(only_mine)
    return None


class _Live(W.VBox):
    """Common plumbing: a batcher, an unsubscribe list, and a readable text/plain repr."""

    def __init__(self, children=(), **kw):
        super().__init__(children=children, **kw)
        self.add_class("wsdemo-live")
        self._unsubs: list[Callable[[], None]] = []
        self._batcher = Batcher(self._render)

    @property
    def syncs(self) -> int:
        return self._batcher.syncs

    def flush(self) -> None:
        """Render pending updates now (notebooks call it before reading the repr or text)."""
        self._batcher.dirty = True
        self._batcher.flush()

    def close(self) -> None:
        if not hasattr(self, "_unsubs"):  # a constructor refused its arguments (ipywidgets'
            return                        # __del__ still calls close): nothing was set up
        for unsub in self._unsubs:
            try:
                unsub()
            except Exception:
                log.exception("unsubscribe failed")
        self._unsubs.clear()
        self._batcher.cancel()
        super().close()

    def _render(self) -> None:  # pragma: no cover - overridden
        pass

    def snapshot_html(self) -> str:
        """The current view as static HTML (see wsdemo.ui.snapshot)."""
        return S.snapshot_html(self, self._snapshot_parts())

    def _snapshot_parts(self) -> dict[int, str]:
        return {}

    def _repr_mimebundle_(self, **kwargs):
        # ipywidgets cuts text/plain at 110 characters; ours is short and complete.
        data = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = repr(self)
        # What a saved notebook shows where the widget cannot run (GitHub, an untrusted
        # notebook); the notebook builder replaces it with the view after the last cell.
        data["text/html"] = S.snapshot_of(self)
        return data


# --------------------------------------------------------------------------- HandshakeView

class HandshakeView(_Live):
    """The opening handshake of one connection, read from the wire.

    Request and response side by side (each WebSocket header explained on one
    click), Sec-WebSocket-Accept recomputed step by step from the real key with
    ✓/✗, the problems ``check_handshake`` finds in red, extensions offered and
    accepted. ``connection`` is anything with ``.request`` and ``.response``: a tap
    Connection, a RecordedConnection, or a wire ConnectionDecoder.
    """

    def __init__(self, connection):
        self.connection = connection
        self._title = W.HTML()
        # flex items may not shrink below their content by default: min_width 0 lets long
        # header values wrap inside their half instead of pushing into the other one.
        self._req = W.HTML(layout=W.Layout(flex="1 1 0%", min_width="0", margin="0 12px 0 0"))
        self._resp = W.HTML(layout=W.Layout(flex="1 1 0%", min_width="0"))
        self._accept = W.HTML()
        self._problems = W.HTML()
        self._ext = W.HTML()
        self._subprotocol = W.HTML()
        self._refresh = W.Button(description="Refresh", tooltip="read the handshake again",
                                 icon="refresh")
        self._refresh.on_click(lambda _b: self.refresh())
        super().__init__([_STYLE, self._title,
                          W.HBox([self._req, self._resp], layout=W.Layout(width="100%")),
                          self._accept, self._problems, self._ext, self._subprotocol, self._refresh])
        self.add_class("wsdemo-handshake")
        self.problems: list = []
        self._render()
        if self.connection.response is None:
            unsub = _subscribe(connection, self._on_event)
            if unsub:
                self._unsubs.append(unsub)

    def _on_event(self, event) -> None:
        if isinstance(event, (wire.HttpRequest, wire.HttpResponse)):
            self._batcher.poke()

    def refresh(self) -> None:
        self.flush()

    @property
    def request(self):
        return getattr(self.connection, "request", None)

    @property
    def response(self):
        return getattr(self.connection, "response", None)

    def accept_ok(self) -> bool | None:
        """True/False: the server's Sec-WebSocket-Accept is right/wrong; None: cannot tell yet."""
        req, resp = self.request, self.response
        if req is None or resp is None:
            return None
        key = req.headers.get("Sec-WebSocket-Key")
        sent = resp.headers.get("Sec-WebSocket-Accept")
        if key is None or sent is None:
            return False
        try:
            return wire.compute_accept(key) == sent.strip()
        except wire.ProtocolError:
            return False

    def _render(self) -> None:
        req, resp = self.request, self.response
        cid = getattr(self.connection, "id", None)
        path = getattr(self.connection, "path", None) or (req.target if req is not None else "")
        self._title.value = (f"<b>Opening handshake</b>"
                             + (f" of connection #{R.esc(cid)}" if cid is not None else "")
                             + (f" <code>{R.esc(path)}</code>" if path else ""))
        self.problems = list(wire.check_handshake(req, resp)) if req is not None else []
        with self.hold_sync():
            self._req.value = R.headers_html(req, "request")
            self._resp.value = R.headers_html(resp, "response")
            self._accept.value = R.accept_html(req, resp)
            self._problems.value = (R.problems_html(self.problems) if req is not None
                                    else "<i>waiting for the request</i>")
            self._ext.value = R.extensions_html(req, resp) if req is not None else ""
            self._subprotocol.value = R.subprotocols_html(req, resp)

    @property
    def text(self) -> str:
        """What the view shows, as plain text (for checks and nbval)."""
        req, resp = self.request, self.response
        lines = []
        if req is not None:
            lines += [R._head_lines(req)] + [f"{n}: {v}" for n, v in req.headers]
        if resp is not None:
            lines += ["", R._head_lines(resp)] + [f"{n}: {v}" for n, v in resp.headers]
        ok = self.accept_ok()
        lines.append(f"Sec-WebSocket-Accept: {'✓ matches' if ok else '✗ wrong or missing' if ok is False else 'not known yet'}")
        lines += [f"✗ Problem: {p}" for p in self.problems]
        lines += R.subprotocol_lines(req, resp)
        return "\n".join(lines)

    def __repr__(self) -> str:
        req, resp = self.request, self.response
        if req is None:
            return "HandshakeView: waiting for the handshake"
        ok = self.accept_ok()
        mark = {True: "✓", False: "✗", None: "?"}[ok]
        status = f"{resp.status} {resp.reason}" if resp is not None else "no response yet"
        n = len(self.problems)
        return (f"HandshakeView: {req.method} {req.target} → {status}, accept {mark}, "
                f"{n} problem{'s' if n != 1 else ''}")


# --------------------------------------------------------------------------- FrameInspector

@dataclass
class _Who:
    """What the inspector knows of one connection: for the Who filter."""

    path: str | None = None
    name: str | None = None   # the student's name (?name= in the URL, or the server's greeting)
    greeted: bool = False     # the first server text message was read for a name


class FrameInspector(_Live):
    """A live table of frames (DevTools' Messages panel) with Wireshark-depth detail.

    ``source``: a tap (all connections), a tap Connection (one), a RecordedConnection,
    or a list of events. Rows live in a ring of ``max_rows``.

    For a projector: ``pause()`` freezes the view while frames keep being recorded
    (``resume()`` catches up), ``filter_who()`` shows one connection or one student's
    connections (a tap only), and ``follow(n)`` keeps the latest ``n`` rows in view.
    """

    def __init__(self, source, *, max_rows: int = 500):
        self.source = source
        self.book = R.RowBook(max_rows)
        self._multi = _is_tap(source)
        self._selected: int | None = None
        self._updating = False
        self._paused = False
        self._frozen: list[R.Row] | None = None  # the rows the view shows while paused
        self._pause_seq = 0                       # book.seq when the view froze
        self._refilter = False                    # a filter changed: re-render even while paused
        self._follow: int | None = None
        self._whos: dict[Any, _Who] = {}          # conn id -> path and student name

        self._counts = W.HTML()
        self._direction = W.ToggleButtons(
            options=[("All", "all"), ("→ client", "client"), ("← server", "server")],
            value="all", description="Direction", tooltips=["both directions", "client to server",
                                                            "server to client"],
            style={"button_width": "auto"})
        self._kind = W.Dropdown(options=list(R.KIND_FILTERS), value="all", description="Kind")
        self._text = W.Text(value="", placeholder="text in the payload", description="Contains")
        self._table = W.Select(options=[], rows=TABLE_ROWS, layout=W.Layout(width="100%"),
                               description="", disabled=False)
        self._table.add_class("wsdemo-rows")
        # Column titles, in the table's monospace font and lined up with its rows.
        self._header = W.HTML(f"<pre class='wsdemo-rows-head' style='margin:0 0 0 3px;font-size:12px;"
                              f"font-weight:bold'>{R.esc(R.table_header(self._multi))}</pre>")
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
        self._export_btn.on_click(lambda _b: self._export_clicked())
        self._upload.observe(self._on_upload, names="value")

        super().__init__([
            _STYLE, self._counts,
            W.HBox([self._direction, self._kind, self._text], layout=W.Layout(flex_flow="row wrap")),
            W.HBox([self._who, self._pause_btn, self._follow_box, self._follow_n,
                    W.HTML("rows"), self._pause_note], layout=W.Layout(flex_flow="row wrap")),
            self._header, self._table, self._empty, self._detail, self._views, self._summary,
            W.HBox([self._export_btn, self._upload, self._export_link]),
        ])
        self.add_class("wsdemo-inspector")
        self._load_initial(source)
        unsub = _subscribe(source, self._on_event) if not isinstance(source, (list, tuple)) else None
        if unsub:
            self._unsubs.append(unsub)
        self.flush()

    # -- feeding
    def _load_initial(self, source) -> None:
        if isinstance(source, (list, tuple)):
            for e in source:
                self._add(e)
        elif self._multi:
            for conn in list(source.connections):
                # the ring may have dropped the request: its recorded path names it
                self._whos[conn.id] = _Who(path=conn.path, name=R.name_in_target(conn.path))
                for e in list(conn.events):
                    self._add(e, conn)
        elif hasattr(source, "events"):
            for e in list(source.events):
                self._add(e, source)

    def _add(self, event, conn=None) -> None:
        conn = conn if conn is not None else getattr(event, "connection", None)
        t0 = getattr(conn, "opened_at", None) if conn is not None else None
        if t0 is None:
            t0 = self._t0_fallback(event)
        conn_id = getattr(conn, "id", None) if self._multi else None
        if conn_id is not None:
            self._note_who(conn_id, event)
        self.book.add(event, t0=t0, conn_id=conn_id)

    def _note_who(self, conn_id, event) -> None:
        who = self._whos.get(conn_id)
        if who is None:
            who = self._whos[conn_id] = _Who()
        if isinstance(event, wire.HttpRequest):
            if who.path is None:  # a keep-alive connection's later requests name nobody new
                who.path = event.request.target
                who.name = who.name or R.name_in_target(who.path)
        elif (not who.greeted and isinstance(event, wire.MessageEvent) and event.sender == "server"
              and event.message.kind == "text"):
            who.greeted = True
            who.name = who.name or R.name_in_greeting(event.message)

    def _t0_fallback(self, event):
        if not hasattr(self, "_first_at"):
            self._first_at = getattr(event, "at", None)
        return self._first_at

    def _on_event(self, event) -> None:
        """Tap callback: cheap bookkeeping now, rendering later (batched)."""
        self._add(event)
        self._batcher.poke()

    def feed(self, events) -> None:
        """Add events by hand (e.g. decoded offline) and schedule a render."""
        for e in events:
            self._add(e)
        self._batcher.poke()

    # -- state
    @property
    def rows(self) -> list[R.Row]:
        return self.book.live()

    def visible_rows(self) -> list[R.Row]:
        """The rows the table shows: the filters applied, to what the view holds (the rows
        as they were at pause() while paused), the latest N only when following."""
        rows = R.filter_rows(self._base_rows(), self._direction.value, self._kind.value,
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

    def _base_rows(self) -> list[R.Row]:
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
        ids = self._ids_in_view()
        out: dict[str, list[int]] = {}
        for cid, who in self._whos.items():
            if who.name is not None and cid in ids:
                out.setdefault(who.name, []).append(cid)
        return {name: sorted(cids) for name, cids in sorted(out.items())}

    def connection_names(self) -> dict[int, str | None]:
        """Each connection with rows in the view, and its student's name (None: unknown)."""
        ids = self._ids_in_view()
        return {cid: who.name for cid, who in sorted(self._whos.items()) if cid in ids}

    @property
    def who(self) -> str:
        """The Who filter in words: 'everyone', 'connection #3' or "student 'ann'"."""
        kind, value = self._who.value
        if kind == "connection":
            return f"connection #{value}"
        if kind == "student":
            return f"student {value!r}"
        return "everyone"

    def filter_who(self, *, connection: int | None = None, student: str | None = None) -> None:
        """Show one connection (its tap id), or every connection of one student (their
        name), or with neither, everyone. ValueError for one the view has no rows of."""
        if connection is not None and student is not None:
            raise ValueError("filter by a connection or by a student, not both")
        if connection is not None:
            if connection not in self.connection_names():
                raise ValueError(f"no rows of connection #{connection} here; connections shown: "
                                 f"{', '.join(f'#{c}' for c in self.connection_names()) or 'none'}")
            value = ("connection", connection)
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
        kind, value = self._who.value
        if kind == "connection":
            return {value}
        if kind == "student":
            return {cid for cid, who in self._whos.items() if who.name == value}
        return None

    def who_choices(self) -> list[tuple[str, tuple]]:
        """The Who dropdown's entries as (label, value): ``EVERYONE``, then
        ("student", name) for each named student, then ("connection", id)."""
        return list(self._who.options)

    def _who_options(self, keep=EVERYONE) -> list[tuple[str, tuple]]:
        opts = [("everyone", EVERYONE)]
        for name, cids in self.students().items():
            opts.append((f"{R.label_text(name)} ({len(cids)} connection{'s' if len(cids) != 1 else ''})",
                         ("student", name)))
        for cid, name in self.connection_names().items():
            path = R.path_of(self._whos[cid].path)  # no query: names, join tokens
            opts.append((f"#{cid} " + (f"{R.label_text(name)} " if name else "")
                         + R.label_text(path, 40), ("connection", cid)))
        if all(v != keep for _l, v in opts):  # the filter in use stays, even with no rows left
            opts.append((f"({keep[0]} {R.label_text(str(keep[1]))})", keep))
        return opts

    def _sync_who(self, keep=None) -> None:
        if not self._multi:
            return
        keep = self._who.value if keep is None else keep
        opts = self._who_options(keep)
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
            self._whos = {cid: w for cid, w in self._whos.items() if cid in ids}

    def _reset_who(self) -> None:
        self._whos = {}
        self._updating = True
        try:
            self._who.options = [("everyone", EVERYONE)]
            self._who.value = EVERYONE
        finally:
            self._updating = False
        self._who.layout.display = "" if self._multi else "none"

    def set_filter(self, direction: str | None = None, kind: str | None = None,
                   text: str | None = None) -> None:
        """Direction ('all'/'client'/'server'), kind (R.KIND_FILTERS), text in the payload;
        None leaves one as it is. For one connection or student, see filter_who()."""
        if direction is not None:
            self._direction.value = direction
        if kind is not None:
            self._kind.value = kind
        if text is not None:
            self._text.value = text

    def select(self, which: int | str | None = -1) -> R.Row | None:
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
    def selected(self) -> R.Row | None:
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
        opts = [(R.format_row(r), r.seq) for r in rows]
        self._updating = True
        try:
            with self._table.hold_sync():
                self._table.options = opts
                keep = self._selected if any(v == self._selected for _l, v in opts) else None
                self._table.value = keep
        finally:
            self._updating = False

    def _show(self, row: R.Row | None) -> None:
        with self.hold_sync():
            if row is None:
                self._detail.value = "<i>Pick a row to see its bytes.</i>"
                self._as_text.value = self._as_json.value = self._as_hex.value = ""
                return
            self._detail.value = R.frame_detail_html(row)
            data, text = R.payload_of(row)
            self._as_text.value = R.payload_text_html(data, text)
            self._as_json.value = R.json_view_html(data, text)
            self._as_hex.value = R.payload_hex_html(data)

    def _render(self) -> None:
        refilter, self._refilter = self._refilter, False
        if self._paused and not refilter:  # frozen: only the note of what is waiting changes
            self._pause_note.value = self._pause_text()
            return
        rows = self.visible_rows()
        with self.hold_sync():
            if not self._paused:
                self._counts.value = f"<b>Frames</b>: {R.esc(self._count_text())}"
                self._sync_who()
            self._sync_table(rows)
            who = "" if self._who.value == EVERYONE else self.who
            self._empty.value = "" if rows else R.empty_rows_html(
                len(self._base_rows()), self._direction.value, self._kind.value, self._text.value, who)
            sel = self.selected
            if sel is not None and sel.message is not None and self._detail.value.find("Message #") < 0:
                self._show(sel)  # its message completed since it was shown
            if not self._multi and hasattr(self.source, "events"):
                try:
                    self._summary.value = R.summary_html(R._conn_summary(self.source))
                except (TypeError, AttributeError):
                    self._summary.value = ""

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
            bits.append(f"{R.ARROWS[d]} {d}")
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
            text += f"; selected #{row.seq} {R.ARROWS.get(row.sender, '?')} {what}"
        return text

    def _snapshot_parts(self) -> dict[int, str]:
        # a real table instead of the Select's lines (the table has its own column titles)
        table = R.rows_table_html(self.visible_rows(), multi=self._multi, selected=self._selected,
                                  limit=S.MAX_ROWS)
        return {id(self._header): "", id(self._table): table}

    # -- recordings
    def export_json(self, indent: int | None = None) -> str:
        """A JSON recording (see render.export_recording) of what this inspector watches."""
        src = self.source
        if isinstance(src, (list, tuple)):
            return R.export_recording(list(src), indent=indent)
        return R.export_recording(src, indent=indent)

    def _export_clicked(self) -> None:
        text = self.export_json()
        self._export_link.value = (
            f"<a download='wsdemo-recording.json' href='data:application/json;base64,"
            f"{R.recording_to_base64(text)}'>⬇ save wsdemo-recording.json</a> ({len(text)} bytes)")

    @classmethod
    def from_json(cls, text: str | bytes, *, max_rows: int = 500) -> "FrameInspector":
        """An inspector over a saved recording (offline: no server needed)."""
        conns = R.import_recording(text)
        if len(conns) == 1:
            return cls(conns[0], max_rows=max_rows)
        return cls(_Recorded(conns), max_rows=max_rows)

    def _on_upload(self, change) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0]
        try:
            conns = R.import_recording(bytes(item["content"]))
        except ValueError as e:
            self._export_link.value = f"<span style='color:#b00020'>✗ not a valid recording: {R.esc(e)}</span>"
            return
        # Checked and decoded: only now stop watching the old source.
        for unsub in self._unsubs:
            unsub()
        self._unsubs.clear()
        self.source = conns[0] if len(conns) == 1 else _Recorded(conns)
        self._multi = _is_tap(self.source)
        self._header.value = (f"<pre class='wsdemo-rows-head' style='margin:0 0 0 3px;font-size:12px;"
                              f"font-weight:bold'>{R.esc(R.table_header(self._multi))}</pre>")
        self.book = R.RowBook(self.book.max_rows)
        self._selected = None
        self.resume()  # a new source: nothing of the old one stays frozen
        self._reset_who()
        if hasattr(self, "_first_at"):
            del self._first_at  # times count from the new source's first event, not the old one's
        self._load_initial(self.source)
        self._export_link.value = f"Loaded {R.esc(item.get('name', 'recording'))}: {len(conns)} connection(s)"
        self._show(None)
        self.flush()


class _Recorded:
    """Several recorded connections, looking like a tap that never changes."""

    def __init__(self, connections):
        self.connections = list(connections)

    def subscribe(self, callback):
        return lambda: None


# --------------------------------------------------------------------------- Composer

@dataclass
class SendResult:
    """What one send did: what went out, the reply, and the frames seen on the wire."""

    kind: str
    sent: str
    reply: Any = None
    frames: list = field(default_factory=list)   # FrameEvents, both directions
    error: str | None = None

    @property
    def reply_label(self) -> str:
        return {"ping": "pong", "close": "server's close"}.get(self.kind, "reply")

    def reply_text(self, limit: int = 120) -> str:
        """The reply as one printable line: quoted text, or hex for binary data."""
        r = self.reply
        if isinstance(r, (bytes, bytearray)):
            try:  # a pong echoes the ping's data, often a short word: show it as typed
                text = bytes(r).decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is not None and not text.isprintable():
                text = None
            if self.kind == "binary" or text is None or not r:
                return R.preview(bytes(r)) or "(empty)"
            return R.preview(b"", text, limit)
        if self.kind == "close":
            return str(r)
        return R.preview(b"", str(r), limit)

    def __str__(self) -> str:
        lines = [f"→ {self.sent}"]
        if self.error:
            lines.append(f"✗ {self.error}")
        if self.reply is not None:
            lines.append(f"← {self.reply_label} {self.reply_text()}")
        lines += [f"  {R.ARROWS.get(e.sender, '?')} {e.frame}" for e in self.frames]
        return "\n".join(lines)


class Composer(_Live):
    """Send text, JSON, binary (hex), ping or close through the in-kernel client."""

    KINDS = ("text", "json", "binary", "ping", "close")

    def __init__(self, client, *, reply_timeout: float = 2.0, keep: int = 20):
        self.client = client
        self.reply_timeout = reply_timeout
        self.results: collections.deque[SendResult] = collections.deque(maxlen=keep)
        self.sent_count = collections.Counter()
        self.replies = 0
        self.refused = 0  # sends rejected before anything went out (bad hex, JSON, close code)
        self._kind = W.Dropdown(options=[("Text", "text"), ("JSON", "json"), ("Binary (hex)", "binary"),
                                         ("Ping", "ping"), ("Close", "close")],
                                value="text", description="Send")
        self._body = W.Textarea(value="", placeholder="message text", description="Payload",
                                layout=W.Layout(width="100%"))
        self._code = W.BoundedIntText(value=1000, min=0, max=65535, description="Close code")
        self._reason = W.Text(value="", description="Reason",
                              placeholder=f"close reason (UTF-8, at most {R.MAX_CLOSE_REASON} bytes)")
        self._code_help = W.HTML()
        self._code.observe(lambda _c: self._sync_form(), names="value")
        self._wait = W.Checkbox(value=True, description="wait for a reply", indent=False)
        self._send_btn = W.Button(description="Send", button_style="primary", icon="paper-plane",
                              tooltip="send through the in-kernel client")
        self._status = W.HTML()
        self._log = W.HTML()
        self._send_btn.on_click(lambda _b: self._clicked())
        self._kind.observe(lambda _c: self._sync_form(), names="value")
        self._close_row = W.VBox([W.HBox([self._code, self._reason]), self._code_help])
        super().__init__([_STYLE, W.HTML("<b>Composer</b>: send through the in-kernel client"),
                          self._kind, self._body, self._close_row,
                          W.HBox([self._send_btn, self._wait, self._status]), self._log])
        self.add_class("wsdemo-composer")
        self._sync_form()
        self._tasks: set[asyncio.Task] = set()

    def _sync_form(self) -> None:
        kind = self._kind.value
        self._close_row.layout.display = "" if kind == "close" else "none"
        self._body.layout.display = "none" if kind == "close" else ""
        self._code_help.value = (f"<span style='font-size:90%'>"
                                 f"{R.esc(wire.describe_close_code(self._code.value))}</span>")
        self._body.placeholder = {
            "text": "message text", "json": '{"type": "hello"}', "binary": "hex bytes, e.g. 01 02 ff",
            "ping": "optional ping payload (text, up to 125 bytes)", "close": "(not used)"}[kind]

    def _clicked(self) -> None:
        kind, body = self._kind.value, self._body.value
        self._status.value = "<i>sending…</i>"
        coro = self.send(kind, body, code=self._code.value, reason=self._reason.value,
                         reply=self._wait.value)
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:
            coro.close()
            self._status.value = "<span style='color:#b00020'>✗ no running event loop</span>"
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    def encode(kind: str, value: Any) -> tuple[str | bytes, str]:
        """(what to send, a description) for a kind; ValueError with the reason if invalid."""
        if kind == "text":
            return str(value), f"TEXT {R.preview(b'', str(value))}"
        if kind == "json":
            if isinstance(value, str):
                try:
                    obj = json.loads(value)
                except ValueError as e:
                    raise ValueError(f"not valid JSON: {e}") from None
            else:
                obj = value
            text = json.dumps(obj, ensure_ascii=False)
            return text, f"TEXT (JSON) {R.preview(b'', text)}"
        if kind == "binary":
            if isinstance(value, (bytes, bytearray)):
                data = bytes(value)
            else:
                data = R.parse_hex(str(value))
            return data, f"BINARY {R.preview(data)} [{len(data)} bytes]"
        if kind == "ping":
            data = value if isinstance(value, bytes) else str(value).encode()
            if len(data) > 125:
                raise ValueError("a ping payload is at most 125 bytes (RFC 6455 §5.5)")
            return data, f"PING {R.preview(data, data.decode('utf-8', 'replace'))}"
        raise ValueError(f"kind must be one of {Composer.KINDS}, not {kind!r}")

    def _conn_events(self) -> list:
        conn = getattr(self.client, "connection", None)
        if conn is None:
            return []
        flush = getattr(conn, "flush", None)
        if callable(flush):
            flush()  # the tap decodes once per loop turn; see everything relayed so far
        return list(conn.events)

    async def send(self, kind: str, value: Any = "", *, code: int = 1000, reason: str = "",
                   reply: bool = True, timeout: float | None = None) -> SendResult:
        """Send one message (or ping/close) and wait for its reply; returns a SendResult."""
        timeout = self.reply_timeout if timeout is None else timeout
        before = self._conn_events()
        marker = before[-1] if before else None
        result = SendResult(kind, f"{kind.upper()} (not sent)")
        went_out = False  # set once the client has written the frame
        try:
            if kind == "close":
                R.check_close(code, reason)
                result.sent = f"CLOSE {wire.describe_close_code(code)}" + (
                    f" — reason {reason!r}" if reason else "")
                went_out = True
                await asyncio.wait_for(self.client.close(code, reason), timeout + 1)
                got = getattr(self.client, "close_code", None)
                if got is not None:  # the server's close frame: its code (explained) and reason
                    why = getattr(self.client, "close_reason", "") or ""
                    result.reply = wire.describe_close_code(got) + (f" — reason {why!r}" if why else "")
            else:
                payload, result.sent = self.encode(kind, value)
                went_out = True  # client.ping/send write before they wait
                if kind == "ping":
                    # the client's ping waits for the pong and returns its data
                    result.reply = await asyncio.wait_for(self.client.ping(payload), timeout + 1)
                    await self._wait_for(marker, lambda e: isinstance(e, wire.FrameEvent)
                                         and e.frame.opcode == wire.Opcode.PONG, timeout)
                else:
                    await asyncio.wait_for(self.client.send(payload), timeout)
                    if reply:
                        result.reply = await self.client.recv(timeout=timeout)
        except (ValueError, wire.ProtocolError) as e:
            result.error = str(e)
        except asyncio.TimeoutError:
            result.error = f"no reply within {timeout:g} s"
        except Exception as e:  # connection closed, etc.: show it, keep the widget alive
            result.error = f"{type(e).__name__}: {e}"
        await asyncio.sleep(0)
        result.frames = [e for e in self._new_events(marker) if isinstance(e, wire.FrameEvent)]
        if went_out:
            self.sent_count[kind] += 1
        else:
            self.refused += 1
        if result.reply is not None:
            self.replies += 1
        self.results.append(result)
        self._batcher.poke()
        self.flush()
        return result

    def _new_events(self, marker) -> list:
        events = self._conn_events()
        if marker is None:
            return events
        for i in range(len(events) - 1, -1, -1):
            if events[i] is marker:
                return events[i + 1:]
        return events  # the marker left the ring: everything is new

    async def _wait_for(self, marker, pred, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(pred(e) for e in self._new_events(marker)):
                return
            await asyncio.sleep(0.02)
        raise asyncio.TimeoutError

    def _entry_html(self, r: SendResult) -> str:
        parts = [f"<div><b>→ sent</b> <code>{R.esc(r.sent)}</code></div>"]
        if r.error:
            parts.append(f"<div style='color:#b00020'>✗ {R.esc(r.error)}</div>")
        if r.reply is not None:
            parts.append(f"<div><b>← {R.esc(r.reply_label)}</b> <code>{R.esc(r.reply_text())}</code></div>")
        if r.frames:
            items = "".join(
                f"<li>{R.esc(R.direction_text(e.sender))}: <code>{R.esc(str(e.frame))}</code>, "
                f"{len(e.frame.raw)} bytes on the wire ({len(e.frame.header)} header + "
                f"{len(e.frame.wire_payload)} payload)</li>" for e in r.frames)
            parts.append(f"<div>frames on the wire:<ul style='margin:0'>{items}</ul></div>")
        return "<div style='border-top:1px solid #ccc;padding:2px 0'>" + "".join(parts) + "</div>"

    def _render(self) -> None:
        last = self.results[-1] if self.results else None
        with self.hold_sync():
            self._log.value = "".join(self._entry_html(r) for r in reversed(self.results))
            if last is None:
                self._status.value = ""
            elif last.error and last.sent.endswith("(not sent)"):
                self._status.value = "<span style='color:#b00020'>✗ not sent: see why below</span>"
            elif last.error:
                self._status.value = "<span style='color:#b00020'>✗ failed</span>"
            else:
                self._status.value = "<span style='color:#006400'>✓ sent</span>"

    def __repr__(self) -> str:
        total = sum(self.sent_count.values())
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.sent_count.items()))
        text = f"Composer: {total} sent" + (f" ({kinds})" if kinds else "") + f", {self.replies} repl{'y' if self.replies == 1 else 'ies'}"
        if self.refused:
            text += f", {self.refused} refused"
        if self.results:
            last = self.results[-1]
            text += f", last: {last.sent}" + (f" ✗ {last.error}" if last.error else "")
        return text


# --------------------------------------------------------------------------- connections

def summary_line(connection) -> str:
    """The measured overhead of one connection, one line (wire.summarize underneath)."""
    cid = getattr(connection, "id", None)
    path = getattr(connection, "path", None)
    prefix = (f"#{cid} " if cid is not None else "") + (f"{path} " if path else "")
    return prefix + R.summary_text(R._conn_summary(connection))


class ConnectionSummary(_Live):
    """The per-connection summary line as a widget, kept current (batched)."""

    def __init__(self, connection):
        self.connection = connection
        self._html = W.HTML()
        super().__init__([self._html])
        unsub = _subscribe(connection, lambda _e: self._batcher.poke())
        if unsub:
            self._unsubs.append(unsub)
        self.flush()

    def _render(self) -> None:
        self._html.value = (f"<div class='wsdemo-summary' style='font-family:monospace'>"
                            f"{R.esc(summary_line(self.connection))}</div>")

    def __repr__(self) -> str:
        return f"ConnectionSummary {summary_line(self.connection)}"


ORDERS = ("opened", "activity")


class ConnectionsPanel(_Live):
    """Every connection the tap saw: who, path, open/closed, frames and bytes each way.

    ``large=True`` is the projector mode: big text, sorted by activity (below), and only
    the first ``max_rows`` connections (all of them when None).

    ``order``: "opened" (oldest first) or "activity": the connection whose student most
    recently *sent* something first (a data frame, or the opening request). What the
    server sends is left out: a chat broadcast or a heartbeat reaches every connection
    at once and would shuffle the whole table. Quiet connections keep their places, so
    only the one that just spoke moves; the table is re-sorted once per sync (at most
    ``1 / SYNC_INTERVAL`` a second), never per frame. Default: "activity" when large.
    """

    def __init__(self, tap, *, large: bool = False, max_rows: int | None = None,
                 order: str | None = None):
        order = order if order is not None else ("activity" if large else "opened")
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
        self.tap = tap
        self.large = large
        self.max_rows = max_rows
        self.order = order
        self._activity: dict[Any, float] = {}  # conn id -> when its student last sent something
        self._shown: list = []                  # the connections as last rendered, in order
        for conn in list(tap.connections):      # those already there: from what they recorded
            for event in reversed(list(conn.events)):
                if R.is_student_activity(event):
                    self._activity[conn.id] = event.at
                    break
        self._table = W.HTML()
        self._lines = W.HTML()
        super().__init__([_STYLE, W.HTML("<b>Connections</b> (the classroom view" + (
                              "; whoever sent something last is on top" if order == "activity"
                              else "") + ")"),
                          self._table, self._lines])
        self.add_class("wsdemo-connections")
        if large:
            self.add_class("wsdemo-large")
        self._unsubs.append(tap.subscribe(self._on_event))
        sub_c = getattr(tap, "subscribe_connections", None)
        if callable(sub_c):
            self._unsubs.append(sub_c(lambda _c: self._batcher.poke()))
        self.flush()

    @property
    def connections(self) -> list:
        return list(self.tap.connections)

    def _on_event(self, event) -> None:
        conn = getattr(event, "connection", None)
        if conn is not None and R.is_student_activity(event):
            self._activity[conn.id] = event.at
        self._batcher.poke()

    def last_activity(self, connection) -> float:
        """When the connection's student last sent something (time.time() seconds): a data
        frame, else the opening (``opened_at``)."""
        at = self._activity.get(getattr(connection, "id", None))
        if at is not None:
            return at
        return getattr(connection, "opened_at", None) or 0.0

    def sorted_connections(self) -> list:
        """The connections in the panel's order (see ``order``), cut to ``max_rows``."""
        conns = self.connections
        if self.order == "activity":
            # stable: equal times keep the tap's order (oldest first)
            conns = sorted(conns, key=self.last_activity, reverse=True)
            return conns if self.max_rows is None else conns[:self.max_rows]
        return conns if self.max_rows is None else conns[-self.max_rows:]

    @property
    def table_html(self) -> str:
        """The table as the page shows it (HTML, every value escaped)."""
        return self._table.value

    def displayed(self) -> list:
        """The connections the table shows, top to bottom, as of the last sync."""
        return list(self._shown)

    def _render(self) -> None:
        conns = self.sorted_connections()
        self._shown = conns
        live = {c.id for c in self.connections}
        if len(self._activity) > len(live):  # connections the tap forgot
            self._activity = {cid: at for cid, at in self._activity.items() if cid in live}
        with self.hold_sync():
            table = R.connections_table_html(conns)
            if self.large:  # readable from the back of the room
                table = f"<div style='font-size:200%;line-height:1.3'>{table}</div>"
            self._table.value = table
            self._lines.value = "" if self.large else "".join(
                f"<div class='wsdemo-summary' style='font-family:monospace;font-size:85%'>"
                f"{R.esc(summary_line(c))}</div>" for c in conns)

    def __repr__(self) -> str:
        conns = self.connections
        n_open = sum(1 for c in conns if getattr(c, "is_open", False))
        return (f"ConnectionsPanel: {len(conns)} connection{'s' if len(conns) != 1 else ''} "
                f"({n_open} open, {len(conns) - n_open} closed)")
