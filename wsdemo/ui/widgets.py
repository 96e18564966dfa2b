"""The widgets learners watch, wired to what they show: HandshakeView, Composer,
ConnectionSummary and ConnectionsPanel (FrameInspector is in :mod:`wsdemo.ui.inspector`).

Wiring only: every figure and every piece of HTML comes from :mod:`wsdemo.ui.markup`,
:mod:`wsdemo.ui.handshake` and :mod:`wsdemo.ui.compose`. Sources are read through the
protocols of :mod:`wsdemo.wire.recording`; see :mod:`wsdemo.ui.base` for the batching.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import ipywidgets as W

from .. import wire
from ..wire.events import Event
from ..wire.recording import ConnectionRecord, EventSource, Handshake, LiveConnection
from . import compose as C
from . import handshake as H
from . import markup as M
from .base import STYLE, Live, subscribe
from .compose import SendResult
from .palette import ERROR_TEXT, OK_TEXT, direction_text
from .rows import close_line, is_student_activity

__all__ = ["HandshakeView", "Composer", "SendResult", "ConnectionSummary", "ConnectionsPanel", "summary_line"]


def _is_pong(event: Event) -> bool:
    return isinstance(event, wire.FrameEvent) and event.frame.opcode == wire.Opcode.PONG


# --------------------------------------------------------------------------- HandshakeView

class HandshakeView(Live):
    """The opening handshake of one connection, read from the wire.

    Request and response side by side (each WebSocket header explained on one
    click), Sec-WebSocket-Accept recomputed step by step from the real key with
    ✓/✗, the problems ``check_handshake`` finds in red, extensions offered and
    accepted. ``connection`` is a Handshake (``.request`` and ``.response``): a tap
    Connection, a RecordedConnection, or a wire ConnectionDecoder.
    """

    def __init__(self, connection: Handshake):
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
        super().__init__([STYLE, self._title,
                          W.HBox([self._req, self._resp], layout=W.Layout(width="100%")),
                          self._accept, self._problems, self._ext, self._subprotocol, self._refresh])
        self.add_class("wsdemo-handshake")
        self.problems: list = []
        self._render()
        if self.connection.response is None:
            unsub = subscribe(connection, self._on_event)
            if unsub:
                self._unsubs.append(unsub)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, (wire.HttpRequest, wire.HttpResponse)):
            self._batcher.poke()

    def refresh(self) -> None:
        self.flush()

    @property
    def request(self) -> wire.Request | None:
        return self.connection.request

    @property
    def response(self) -> wire.Response | None:
        return self.connection.response

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
        record = self.connection if isinstance(self.connection, ConnectionRecord) else None
        cid = record.id if record is not None else None
        path = (record.path if record is not None else None) or (req.target if req is not None else "")
        self._title.value = ("<b>Opening handshake</b>"
                             + (f" of connection #{M.esc(cid)}" if cid is not None else "")
                             + (f" <code>{M.esc(path)}</code>" if path else ""))
        self.problems = list(wire.check_handshake(req, resp)) if req is not None else []
        with self.hold_sync():
            self._req.value = H.headers_html(req, "request")
            self._resp.value = H.headers_html(resp, "response")
            self._accept.value = H.accept_html(req, resp)
            self._problems.value = (H.problems_html(self.problems) if req is not None
                                    else "<i>waiting for the request</i>")
            self._ext.value = H.extensions_html(req, resp) if req is not None else ""
            self._subprotocol.value = H.subprotocols_html(req, resp)

    @property
    def accept_html(self) -> str:
        """Sec-WebSocket-Accept recomputed step by step, ✓/✗ against the server's."""
        return self._accept.value

    @property
    def problems_html(self) -> str:
        """The problems ``wire.check_handshake`` found, or that it found none."""
        return self._problems.value

    @property
    def extensions_html(self) -> str:
        """Extensions offered by the client and accepted by the server."""
        return self._ext.value

    @property
    def subprotocols_html(self) -> str:
        """The subprotocol negotiation in words (``handshake.subprotocol_lines``)."""
        return self._subprotocol.value

    @property
    def text(self) -> str:
        """What the view shows, as plain text (for checks and nbval)."""
        req, resp = self.request, self.response
        lines = []
        if req is not None:
            lines += [H.head_line(req)] + [f"{n}: {v}" for n, v in req.headers]
        if resp is not None:
            lines += ["", H.head_line(resp)] + [f"{n}: {v}" for n, v in resp.headers]
        ok = self.accept_ok()
        lines.append(f"Sec-WebSocket-Accept: {'✓ matches' if ok else '✗ wrong or missing' if ok is False else 'not known yet'}")
        lines += [f"✗ Problem: {p}" for p in self.problems]
        lines += H.subprotocol_lines(req, resp)
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


# --------------------------------------------------------------------------- Composer


class Composer(Live):
    """Send text, JSON, binary (hex), ping or close through the in-kernel client."""

    KINDS = C.KINDS

    def __init__(self, client, *, reply_timeout: float = 2.0, keep: int = 20):
        self.client = client
        self.reply_timeout = reply_timeout
        self.results: collections.deque[SendResult] = collections.deque(maxlen=keep)
        self.sent_count: collections.Counter[str] = collections.Counter()
        self.replies = 0
        self.refused = 0  # sends rejected before anything went out (bad hex, JSON, close code)
        self._kind = W.Dropdown(options=[("Text", "text"), ("JSON", "json"), ("Binary (hex)", "binary"),
                                         ("Ping", "ping"), ("Close", "close")],
                                value="text", description="Send")
        self._body = W.Textarea(value="", placeholder="message text", description="Payload",
                                layout=W.Layout(width="100%"))
        self._code = W.BoundedIntText(value=1000, min=0, max=65535, description="Close code")
        self._reason = W.Text(value="", description="Reason",
                              placeholder=f"close reason (UTF-8, at most {wire.MAX_CLOSE_REASON} bytes)")
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
        super().__init__([STYLE, W.HTML("<b>Composer</b>: send through the in-kernel client"),
                          self._kind, self._body, self._close_row,
                          W.HBox([self._send_btn, self._wait, self._status]), self._log])
        self.add_class("wsdemo-composer")
        self._sync_form()
        self._tasks: set[asyncio.Task] = set()

    # -- the form a learner fills in (setting these is what typing and clicking do)
    @property
    def kind_picker(self) -> W.Dropdown:
        """What to send: one of ``KINDS``."""
        return self._kind

    @property
    def body_input(self) -> W.Textarea:
        """The payload: text, JSON, hex bytes or ping data (hidden for a close)."""
        return self._body

    @property
    def close_fields(self) -> W.VBox:
        """The close code, reason and the code's meaning (shown for a close only)."""
        return self._close_row

    @property
    def code_input(self) -> W.BoundedIntText:
        return self._code

    @property
    def reason_input(self) -> W.Text:
        return self._reason

    @property
    def send_button(self) -> W.Button:
        return self._send_btn

    # -- what the page shows (read-only)
    @property
    def code_help_html(self) -> str:
        """What the close code in the form means (and whether a close frame may carry it)."""
        return self._code_help.value

    @property
    def status_html(self) -> str:
        """✓ sent, ✗ not sent or ✗ failed, for the latest send."""
        return self._status.value

    @property
    def log_html(self) -> str:
        """Every send kept (newest first): what went out, the reply, the frames on the wire."""
        return self._log.value

    def _sync_form(self) -> None:
        kind = self._kind.value
        self._close_row.layout.display = "" if kind == "close" else "none"
        self._body.layout.display = "none" if kind == "close" else ""
        self._code_help.value = (f"<span style='font-size:90%'>"
                                 f"{M.esc(wire.describe_close_code(self._code.value))}</span>")
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
            self._status.value = f"<span style='color:{ERROR_TEXT}'>✗ no running event loop</span>"
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    encode = staticmethod(C.encode)

    def _conn_events(self) -> list[Event]:
        conn: LiveConnection | None = self.client.connection
        return [] if conn is None else list(conn.events)  # reading events decodes what is pending

    async def send(self, kind: str, value: Any = "", *, code: int = 1000, reason: str = "",
                   reply: bool = True, timeout: float | None = None) -> SendResult:
        """Send one message (or ping/close) and wait for its reply; returns a SendResult."""
        timeout = self.reply_timeout if timeout is None else timeout
        before = self._conn_events()
        marker = before[-1] if before else None
        result = SendResult(kind, f"{kind.upper()} (not sent)")
        try:
            if kind == "close":
                close = wire.Close(code, reason)
                close.check()
                result.sent = f"CLOSE {close_line(close)}"
                result.went_out = True
                await asyncio.wait_for(self.client.close(code, reason), timeout + 1)
                got = self.client.close_code
                if got is not None:  # the server's close frame: its code (explained) and reason
                    result.reply = close_line(wire.Close(got, self.client.close_reason or ""))
            else:
                payload, result.sent = self.encode(kind, value)
                result.went_out = True  # client.ping/send write before they wait
                if kind == "ping":
                    # the client's ping waits for the pong and returns its data
                    result.reply = await asyncio.wait_for(self.client.ping(payload), timeout + 1)
                    conn: LiveConnection | None = self.client.connection
                    if conn is not None:  # the pong's frame in the recording too, for result.frames
                        await conn.wait_for(_is_pong, timeout, after=marker)
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
        if result.went_out:
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

    def _entry_html(self, r: SendResult) -> str:
        parts = [f"<div><b>→ sent</b> <code>{M.esc(r.sent)}</code></div>"]
        if r.error:
            parts.append(f"<div style='color:{ERROR_TEXT}'>✗ {M.esc(r.error)}</div>")
        if r.reply is not None:
            parts.append(f"<div><b>← {M.esc(r.reply_label)}</b> <code>{M.esc(r.reply_text())}</code></div>")
        if r.frames:
            items = "".join(
                f"<li>{M.esc(direction_text(e.sender))}: <code>{M.esc(str(e.frame))}</code>, "
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
            elif last.error and not last.went_out:
                self._status.value = f"<span style='color:{ERROR_TEXT}'>✗ not sent: see why below</span>"
            elif last.error:
                self._status.value = f"<span style='color:{ERROR_TEXT}'>✗ failed</span>"
            else:
                self._status.value = f"<span style='color:{OK_TEXT}'>✓ sent</span>"

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

def summary_line(connection: ConnectionRecord) -> str:
    """The measured overhead of one connection, one line (wire.summarize underneath)."""
    cid, path = connection.id, connection.path
    prefix = (f"#{cid} " if cid is not None else "") + (f"{path} " if path else "")
    return prefix + M.summary_text(connection.summary())


class ConnectionSummary(Live):
    """The per-connection summary line as a widget, kept current (batched)."""

    def __init__(self, connection: ConnectionRecord):
        self.connection = connection
        self._html = W.HTML()
        super().__init__([self._html])
        unsub = subscribe(connection, lambda _e: self._batcher.poke())
        if unsub:
            self._unsubs.append(unsub)
        self.flush()

    def _render(self) -> None:
        self._html.value = (f"<div class='wsdemo-summary' style='font-family:monospace'>"
                            f"{M.esc(summary_line(self.connection))}</div>")

    def __repr__(self) -> str:
        return f"ConnectionSummary {summary_line(self.connection)}"


ORDERS = ("opened", "activity")


class ConnectionsPanel(Live):
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

    def __init__(self, tap: EventSource, *, large: bool = False, max_rows: int | None = None,
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
                if is_student_activity(event):
                    self._activity[conn.id] = event.at
                    break
        self._table = W.HTML()
        self._lines = W.HTML()
        super().__init__([STYLE, W.HTML("<b>Connections</b> (the classroom view" + (
                              "; whoever sent something last is on top" if order == "activity"
                              else "") + ")"),
                          self._table, self._lines])
        self.add_class("wsdemo-connections")
        if large:
            self.add_class("wsdemo-large")
        self._unsubs.append(tap.subscribe(self._on_event))
        self._unsubs.append(tap.subscribe_connections(lambda _c: self._batcher.poke()))
        self.flush()

    @property
    def connections(self) -> list[ConnectionRecord]:
        return list(self.tap.connections)

    def _on_event(self, event: Event) -> None:
        conn = event.connection
        if isinstance(conn, ConnectionRecord) and is_student_activity(event):
            self._activity[conn.id] = event.at
        self._batcher.poke()

    def last_activity(self, connection: ConnectionRecord) -> float:
        """When the connection's student last sent something (time.time() seconds): a data
        frame, else the opening (``opened_at``)."""
        at = self._activity.get(connection.id)
        if at is not None:
            return at
        return connection.opened_at or 0.0

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
            table = M.connections_table_html(conns)
            if self.large:  # readable from the back of the room
                table = f"<div style='font-size:200%;line-height:1.3'>{table}</div>"
            self._table.value = table
            self._lines.value = "" if self.large else "".join(
                f"<div class='wsdemo-summary' style='font-family:monospace;font-size:85%'>"
                f"{M.esc(summary_line(c))}</div>" for c in conns)

    def __repr__(self) -> str:
        conns = self.connections
        n_open = sum(1 for c in conns if c.is_open)
        return (f"ConnectionsPanel: {len(conns)} connection{'s' if len(conns) != 1 else ''} "
                f"({n_open} open, {len(conns) - n_open} closed)")
