"""Pictures of the protocol: sequence diagrams, the frame layout, the lifecycle.

Every function returns a :class:`Diagram`, a ``graphviz.Digraph`` that a
notebook displays as SVG. Without graphviz's ``dot`` program the notebook shows
how to install it and the DOT source instead of a traceback.

Explainers (no traffic needed): :func:`letters_vs_phone_call`, :func:`polling`,
:func:`long_polling`, :func:`websocket`. Drawn from what really happened:
:func:`from_connection`, :func:`from_connections` (recorded tap connections),
:func:`frame_layout` (one frame's real bits) and :func:`lifecycle` (the state
table ``wsdemo.wire.lifecycle`` runs on). :func:`course_map` draws the course itself.

Show layer: imports graphviz and ``wsdemo.wire``, never sockets or tornado.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import graphviz

from . import wire
from .ui.palette import CLIENT_COLOR, FIELD_COLOURS, LIFELINE_COLOR, OPEN_COLOR, SERVER_COLOR, WAIT_COLOR
from .wire import lifecycle as _lifecycle
from .wire.recording import ConnectionRecord

__all__ = [
    "Diagram",
    "letters_vs_phone_call",
    "polling",
    "long_polling",
    "websocket",
    "from_connection",
    "from_connections",
    "frame_layout",
    "lifecycle",
    "course_map",
    "COURSE",
    "CourseStep",
    "INSTALL_HELP",
    "CLIENT_COLOR",
    "SERVER_COLOR",
]

FONT = "Helvetica"
TITLE_SIZE = "28"
LABEL_SIZE = "20"
SMALL_SIZE = "16"

INSTALL_HELP = (
    "Graphviz's `dot` program is not installed, so this diagram cannot be drawn.\n"
    "Install it with one of:\n"
    "  conda install -c conda-forge graphviz\n"
    "  sudo apt-get install graphviz\n"
    "  brew install graphviz\n"
    "then run this cell again. The diagram's DOT source follows."
)


class Diagram(graphviz.Digraph):
    """A ``graphviz.Digraph`` that explains itself when ``dot`` is missing.

    ``.source``, ``.pipe()`` and ``.render()`` work as usual (``pipe`` still
    raises ``graphviz.ExecutableNotFound`` without ``dot``); only the notebook
    display falls back to a message with the install commands and the source.
    """

    kind: str = "diagram"
    summary: str = ""

    def __repr__(self) -> str:
        # Stable across runs and graphviz versions: notebooks compare it (nbval).
        return f"<diagram {self.kind}: {self.summary}>" if self.summary else f"<diagram {self.kind}>"

    def copy(self):
        new = super().copy()
        new.kind, new.summary = self.kind, self.summary
        return new

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        try:
            bundle = super()._repr_mimebundle_(include, exclude, **kwargs)
        except graphviz.ExecutableNotFound:
            return self._fallback_bundle(INSTALL_HELP)
        except graphviz.CalledProcessError as exc:
            stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else str(exc.stderr)
            return self._fallback_bundle(f"Graphviz's `dot` failed on this diagram:\n{stderr.strip()}\n"
                                         "The diagram's DOT source follows.")
        bundle.setdefault("text/plain", repr(self))
        return bundle

    def _fallback_bundle(self, message: str) -> dict:
        plain = f"{self!r}\n{message}\n\n{self.source}"
        page = (
            '<div class="wsdemo-diagram-fallback" style="border:2px solid #D55E00;padding:8px">'
            f"<p><b>{html.escape(repr(self))}</b></p>"
            f"<pre style=\"white-space:pre-wrap\">{html.escape(message)}</pre>"
            "<details open><summary>DOT source</summary>"
            f"<pre>{html.escape(self.source)}</pre></details></div>"
        )
        return {"text/html": page, "text/plain": plain}


def _new(kind: str, title: str | None = None, **graph_attr) -> Diagram:
    d = Diagram(name=kind)
    d.kind = kind
    d.attr("graph", fontname=FONT, fontsize=TITLE_SIZE, bgcolor="white", pad="0.3", **graph_attr)
    if title:
        d.attr("graph", label=title, labelloc="t", labeljust="c")
    d.attr("node", fontname=FONT, fontsize=LABEL_SIZE)
    d.attr("edge", fontname=FONT, fontsize=LABEL_SIZE)
    return d


def _esc(text: str) -> str:
    """Text for an ordinary DOT label: backslashes and <> taken literally."""
    return graphviz.escape(text)


def _h(text: str) -> str:
    """Text for an HTML-like label."""
    return html.escape(text, quote=True)


# ---------------------------------------------------------------- sequences


@dataclass
class _Row:
    time: str = ""
    src: int | None = None  # lane index
    dst: int | None = None
    label: str = ""
    color: str = ""
    dashed: bool = False
    note: str = ""  # text between the lanes when there is no arrow


@dataclass
class _Lane:
    title: str
    spans: list = field(default_factory=list)  # (first_row, last_row, colour)


@dataclass
class _Story:
    """One set of lifelines (e.g. browser + server) and its rows, top to bottom."""

    title: str | None
    lanes: list[_Lane]
    rows: list[_Row] = field(default_factory=list)
    show_time: bool = False

    def send(self, src: int, dst: int, label: str, *, time: str = "", dashed: bool = False,
             color: str | None = None) -> int:
        if color is None:
            # Lane 0 is always the client: arrows to the right come from it.
            color = CLIENT_COLOR if dst > src else SERVER_COLOR
        self.rows.append(_Row(time, src, dst, label, color, dashed))
        return len(self.rows) - 1

    def note(self, text: str, *, time: str = "") -> int:
        self.rows.append(_Row(time, note=text))
        return len(self.rows) - 1

    def span(self, lane: int, first: int, last: int, color: str = OPEN_COLOR) -> None:
        """Thicken a lifeline from row *first* to row *last*: held request, open line."""
        self.lanes[lane].spans.append((first, last, color))

    @property
    def arrows(self) -> int:
        return sum(1 for r in self.rows if r.src is not None)


def _lane_span(lane: _Lane, row: int) -> str | None:
    for first, last, color in lane.spans:
        if first <= row < last:
            return color
    return None


def _draw_stories(kind: str, title: str | None, stories: Sequence[_Story], legend: Iterable[tuple[str, str, str]],
                  summary: str | None = None) -> Diagram:
    """Lay stories side by side as sequence diagrams.

    Each lane is a column of invisible points chained by heavy dashed edges
    (the lifeline); every row is a ``rank=same`` group, so row *i* of every
    story lines up. Arrows are flat edges within a row, always written
    left -> right (``dir=back`` for right-to-left) so they never fight the
    column order.
    """
    d = _new(kind, title, newrank="true", nodesep="0.6", ranksep="0.45", splines="line", compound="true")
    n_rows = max((len(s.rows) for s in stories), default=0)
    bottoms: list[str] = []
    for si, story in enumerate(stories):
        p = f"s{si}_"
        with d.subgraph(name=f"cluster_{si}") as c:
            c.attr(label=story.title or "", fontsize="24", style="rounded" if story.title else "invis",
                   color="#BBBBBB", penwidth="1.5", margin="16")
            # notes use a smaller font than arrow labels
            widest = max((r.label or r.note[: int(len(r.note) * 0.8)] for r in story.rows), key=len, default="")
            cols = (["t"] if story.show_time else []) + [f"l{i}" for i in range(len(story.lanes))]
            # header row
            with c.subgraph() as r:
                r.attr(rank="same")
                if story.show_time:
                    r.node(p + "t_h", "elapsed", shape="plaintext", fontsize=SMALL_SIZE, fontcolor="#333333")
                for i, lane in enumerate(story.lanes):
                    r.node(f"{p}l{i}_h", lane.title, shape="box", style="filled,rounded,bold", fillcolor="#F0F0F0",
                           color="#333333", penwidth="2", margin="0.2,0.1")
                for a, b in zip(cols, cols[1:]):
                    # Flat invisible edges fix the left-to-right column order.
                    if a == "t":
                        r.edge(f"{p}{a}_h", f"{p}{b}_h", style="invis")
                    else:
                        # An invisible copy of the widest label sets the lane spacing for
                        # every row; otherwise a wide row pushes its own points apart and
                        # the lifelines bend.
                        r.edge(f"{p}{a}_h", f"{p}{b}_h", label=_esc(widest), color="transparent",
                               fontcolor="transparent", arrowhead="none")
            for ri, row in enumerate(story.rows):
                with c.subgraph() as r:
                    r.attr(rank="same")
                    if story.show_time:
                        r.node(f"{p}t_{ri}", _esc(row.time), shape="plaintext", fontsize=SMALL_SIZE,
                               fontcolor="#333333", height="0.3")
                    for i in range(len(story.lanes)):
                        r.node(f"{p}l{i}_{ri}", "", shape="point", width="0.02", height="0.02", color=LIFELINE_COLOR)
                    if row.src is not None:
                        a, b = sorted((row.src, row.dst))
                        r.edge(f"{p}l{a}_{ri}", f"{p}l{b}_{ri}", label=_esc(row.label), color=row.color,
                               fontcolor=row.color, penwidth="3", arrowsize="1.1",
                               style="dashed" if row.dashed else "solid",
                               dir="forward" if row.dst > row.src else "back")
                    elif row.note:
                        r.edge(f"{p}l0_{ri}", f"{p}l{len(story.lanes) - 1}_{ri}", label=_esc(row.note),
                               color="transparent", arrowhead="none", fontcolor="#333333", fontsize=SMALL_SIZE)
                    else:
                        r.edge(f"{p}l0_{ri}", f"{p}l{len(story.lanes) - 1}_{ri}", style="invis")
            # lifelines (and the invisible time column) run down the rows
            for col in cols:
                names = [f"{p}{col}_h"] + [f"{p}{col}_{ri}" for ri in range(len(story.rows))]
                for ri, (a, b) in enumerate(zip(names, names[1:])):
                    if col == "t":
                        c.edge(a, b, style="invis", weight="100")
                        continue
                    lane = story.lanes[int(col[1:])]
                    held = _lane_span(lane, ri - 1) if ri > 0 else None
                    if held:
                        # Unlabelled on purpose: a label beside a lifeline bends it; the
                        # legend and the note rows say what the bar means.
                        c.edge(a, b, arrowhead="none", color=held, penwidth="9", weight="100")
                    else:
                        c.edge(a, b, arrowhead="none", style="dashed", color=LIFELINE_COLOR, penwidth="1.5",
                               weight="100")
            # pad shorter stories so every lifeline ends on the same row
            for col in cols:
                last = f"{p}{col}_{len(story.rows) - 1}" if story.rows else f"{p}{col}_h"
                for ri in range(len(story.rows), n_rows):
                    nxt = f"{p}{col}_pad_{ri}"
                    c.node(nxt, "", shape="point", style="invis", width="0.01")
                    c.edge(last, nxt, style="invis", weight="100")
                    last = nxt
                if col != "t":  # the legend centres under the lanes, not the time column
                    bottoms.append(last)
    d.node("legend", _legend_html(legend), shape="plaintext", margin="0")
    for b in bottoms:
        d.edge(b, "legend", style="invis")
    arrows = sum(s.arrows for s in stories)
    d.summary = summary or f"{arrows} arrows"
    return d


def _legend_html(entries: Iterable[tuple[str, str, str]]) -> str:
    """entries: (colour, style 'solid'|'thick'|'dashed'|'lifeline', text); two per line."""
    cells = []
    for color, style, text in entries:
        if style == "thick":
            bar = f'<td bgcolor="{color}" width="12" height="30" fixedsize="true"></td><td width="38"></td>'
        elif style == "lifeline":
            bar = f'<td width="50" colspan="2"><font color="{color}"><b>⋮</b></font></td>'
        elif style == "dashed":
            bar = f'<td width="50" colspan="2"><font color="{color}">- - ▶</font></td>'
        else:
            bar = f'<td width="50" colspan="2"><font color="{color}"><b>——▶</b></font></td>'
        cells.append(f'{bar}<td align="left"><font color="{color}">{_h(text)}</font></td>')
    rows = "".join(f"<tr>{''.join(cells[i:i + 2])}</tr>" for i in range(0, len(cells), 2))
    return ('<<table border="1" color="#BBBBBB" cellborder="0" cellspacing="2" cellpadding="5">'
            f"{rows}</table>>")


_LEGEND_DIRECTIONS = [
    (CLIENT_COLOR, "solid", "client → server"),
    (SERVER_COLOR, "solid", "server → client"),
]
_LEGEND_TIME = [(LIFELINE_COLOR, "lifeline", "lifeline: time runs downward")]


def _frame_size(opcode: "wire.Opcode", payload: bytes, *, client: bool) -> int:
    """Bytes on the wire for one frame, counted by the real encoder."""
    return len(wire.encode_frame(opcode, payload, mask_key=b"\x00\x00\x00\x00" if client else None))


def _close_label(payload: bytes) -> str:
    """CLOSE and the code a close frame carries, whatever it is (none for an empty payload)."""
    if len(payload) < 2:
        return "CLOSE"
    return f"CLOSE {wire.Close.parse(payload, strict=False).code}"


def _ws_label(opcode, payload: bytes, *, client: bool, text: str | None = None) -> str:
    name = _close_label(payload) if opcode == wire.Opcode.CLOSE else wire.opcode_name(opcode)
    shown = f" {text}" if text else ""
    return f"{name}{shown}  ({_frame_size(opcode, payload, client=client)} B)"


# Representative HTTP/1.1 heads: what a browser and a server really send, with
# cookies kept short. Sizes in the explainers are len() of these bytes.
_POLL_REQUEST = (
    b"GET /news?since=1712 HTTP/1.1\r\nHost: example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36\r\n"
    b"Accept: application/json\r\nAccept-Language: en-GB,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\n"
    b"Referer: https://example.com/dashboard\r\nCookie: session=3f9a1c0d2e7b4a6f8c1d; theme=dark; tz=Europe/Paris\r\n"
    b"Connection: keep-alive\r\nCache-Control: no-cache\r\n\r\n"
)
_POLL_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nDate: Mon, 01 Jul 2024 09:00:00 GMT\r\nServer: TornadoServer/6.6\r\n"
    b"Content-Type: application/json; charset=UTF-8\r\nContent-Length: 2\r\nCache-Control: no-store\r\n"
    b"Etag: \"bf21a9e8fbc5a3846fb05b4fa0859e0917b2202f\"\r\n\r\n"
)
_UPGRADE_REQUEST = (
    b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Origin: https://example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36\r\n"
    b"Cookie: session=3f9a1c0d2e7b4a6f8c1d; theme=dark; tz=Europe/Paris\r\n\r\n"
)
_UPGRADE_RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
)


def _http(label: str, head: bytes, body: bytes = b"") -> str:
    return f"{label}  ({len(head) + len(body)} B)"


def letters_vs_phone_call() -> Diagram:
    """HTTP as letters (every question a new sealed envelope) next to a WebSocket phone call."""
    letters = _Story("HTTP: posting letters", [_Lane("Browser"), _Lane("Server")])
    for i, (ask, answer) in enumerate([("GET /inbox", "200 OK: 1 letter"), ("GET /inbox", "200 OK: nothing new"),
                                       ("GET /inbox", "200 OK: 1 letter")]):
        letters.send(0, 1, _http(ask, _POLL_REQUEST))
        letters.send(1, 0, _http(answer, _POLL_RESPONSE, b"[]"))
        if i < 2:
            letters.note("every new question: the whole ritual again")
    call = _Story("WebSocket: a phone call", [_Lane("Browser"), _Lane("Server")])
    call.send(0, 1, _http("GET /chat  Upgrade: websocket", _UPGRADE_REQUEST))
    opened = call.send(1, 0, _http("101 Switching Protocols", _UPGRADE_RESPONSE))
    O = wire.Opcode
    call.send(1, 0, _ws_label(O.TEXT, b"hi, it's me!", client=False, text="'hi, it's me!'"))
    call.send(0, 1, _ws_label(O.TEXT, b"hello", client=True, text="'hello'"))
    call.send(1, 0, _ws_label(O.TEXT, b"news: 3 new", client=False, text="'news: 3 new'"))
    call.send(1, 0, _ws_label(O.TEXT, b"news: 4 new", client=False, text="'news: 4 new'"))
    call.send(0, 1, _ws_label(O.TEXT, b"thanks", client=True, text="'thanks'"))
    call.send(0, 1, _ws_label(O.CLOSE, wire.Close(wire.CloseCode.NORMAL_CLOSURE).serialize(), client=True))
    closed = call.send(1, 0, _ws_label(O.CLOSE, wire.Close(wire.CloseCode.NORMAL_CLOSURE).serialize(), client=False))
    call.span(0, opened, closed)
    call.span(1, opened, closed)
    return _draw_stories("letters_vs_phone_call", "Letters or a phone call?", [letters, call],
                         _LEGEND_DIRECTIONS + [(OPEN_COLOR, "thick", "connection stays open")] + _LEGEND_TIME)


def polling() -> Diagram:
    """Polling: "anything new?" every 2 seconds, each time with a full set of headers."""
    s = _Story(None, [_Lane("Browser"), _Lane("Server")], show_time=True)
    s.send(0, 1, _http("GET /news", _POLL_REQUEST), time="0 s")
    s.send(1, 0, _http("200 OK  []  nothing new", _POLL_RESPONSE, b"[]"))
    s.send(0, 1, _http("GET /news", _POLL_REQUEST), time="2 s")
    news = s.send(1, 0, _http("200 OK  []  nothing new", _POLL_RESPONSE, b"[]"))
    s.note("news arrives at the server: it cannot tell the browser", time="2.5 s")
    got = s.send(0, 1, _http("GET /news", _POLL_REQUEST), time="4 s")
    s.span(1, news + 1, got, WAIT_COLOR)
    s.send(1, 0, _http("200 OK  [1 item]  late by 1.5 s", _POLL_RESPONSE, b"[" + b"x" * 40 + b"]"))
    s.send(0, 1, _http("GET /news", _POLL_REQUEST), time="6 s")
    s.send(1, 0, _http("200 OK  []  nothing new", _POLL_RESPONSE, b"[]"))
    return _draw_stories("polling", "Polling: \"anything new?\" every 2 seconds", [s],
                         _LEGEND_DIRECTIONS + [(WAIT_COLOR, "thick", "news waiting for a poll")] + _LEGEND_TIME)


def long_polling() -> Diagram:
    """Long polling: the server holds each request until there is news, then the browser asks again."""
    s = _Story(None, [_Lane("Browser"), _Lane("Server")], show_time=True)
    a = s.send(0, 1, _http("GET /news  (wait for news)", _POLL_REQUEST), time="0 s")
    s.note("… the server holds the request …", time="")
    b = s.send(1, 0, _http("200 OK  [1 item]  news!", _POLL_RESPONSE, b"[" + b"x" * 40 + b"]"), time="7 s")
    s.span(1, a, b, WAIT_COLOR)
    c = s.send(0, 1, _http("GET /news  (again, all headers)", _POLL_REQUEST), time="7 s")
    s.note("… held until the next news or a timeout …", time="")
    d = s.send(1, 0, _http("200 OK  []  timeout, nothing new", _POLL_RESPONSE, b"[]"), time="37 s")
    s.span(1, c, d, WAIT_COLOR)
    e = s.send(0, 1, _http("GET /news  (again)", _POLL_REQUEST), time="37 s")
    f = s.send(1, 0, _http("200 OK  [1 item]", _POLL_RESPONSE, b"[" + b"x" * 40 + b"]"), time="38 s")
    s.span(1, e, f, WAIT_COLOR)
    s.note("news that comes while no request is held must wait for the next one")
    return _draw_stories("long_polling", "Long polling: the server holds the request until there is news", [s],
                         _LEGEND_DIRECTIONS + [(WAIT_COLOR, "thick", "request held by the server")] + _LEGEND_TIME)


def websocket() -> Diagram:
    """A WebSocket: one handshake, then small frames both ways; the server speaks first."""
    O = wire.Opcode
    s = _Story(None, [_Lane("Browser"), _Lane("Server")], show_time=True)
    s.send(0, 1, _http("GET /chat  Upgrade: websocket", _UPGRADE_REQUEST), time="0 s")
    opened = s.send(1, 0, _http("101 Switching Protocols", _UPGRADE_RESPONSE), time="0.01 s")
    s.send(1, 0, _ws_label(O.TEXT, b'{"price": 101.5}', client=False, text="price 101.5"), time="0.4 s")
    s.send(1, 0, _ws_label(O.TEXT, b'{"price": 101.7}', client=False, text="price 101.7"), time="0.9 s")
    s.send(0, 1, _ws_label(O.TEXT, b'{"buy": 10}', client=True, text="buy 10"), time="1.1 s")
    s.send(1, 0, _ws_label(O.TEXT, b'{"price": 101.6}', client=False, text="price 101.6"), time="1.1 s")
    s.send(1, 0, _ws_label(O.TEXT, b'{"bought": 10}', client=False, text="bought 10"), time="1.2 s")
    s.send(1, 0, _ws_label(O.PING, b"", client=False), time="30 s")
    s.send(0, 1, _ws_label(O.PONG, b"", client=True), time="30 s")
    s.send(0, 1, _ws_label(O.CLOSE, wire.Close(wire.CloseCode.NORMAL_CLOSURE).serialize(), client=True), time="42 s")
    closed = s.send(1, 0, _ws_label(O.CLOSE, wire.Close(wire.CloseCode.NORMAL_CLOSURE).serialize(), client=False), time="42 s")
    s.span(0, opened, closed)
    s.span(1, opened, closed)
    return _draw_stories("websocket", "WebSocket: one handshake, then frames both ways", [s],
                         _LEGEND_DIRECTIONS + [(OPEN_COLOR, "thick", "connection open")] + _LEGEND_TIME)


# ---------------------------------------------------------------- recorded traffic

_LANE_OF = {"client": 0, "server": 1}


def _elapsed(seconds: float) -> str:
    if seconds < 1:
        return f"+{seconds * 1000:.1f} ms"
    return f"+{seconds:.3f} s"


def _preview(frame) -> str:
    """A short quoted look at a text frame's payload (uncompressed, whole frames only)."""
    if frame.rsv1:
        return " (compressed)"
    if frame.opcode != wire.Opcode.TEXT:
        return ""
    return " " + wire.preview(frame.payload, True, limit=24, ellipsis_inside=True)


def _event_arrow(ev) -> tuple[str, int | None, bool] | None:
    """(label, bytes on the wire, dashed) for one event, or None when it is not an arrow.

    MessageEvents are skipped: a message is made of the frames already drawn.
    """
    if isinstance(ev, wire.HttpRequest):
        r = ev.request
        return f"{r.method} {r.target}", len(r.raw) + len(r.body or b""), False
    if isinstance(ev, wire.HttpResponse):
        r = ev.response
        return f"{r.status} {r.reason}", len(r.raw) + len(r.body or b""), False
    if isinstance(ev, wire.FrameEvent):
        f = ev.frame
        if f.opcode == wire.Opcode.CLOSE and not f.rsv1:
            name = _close_label(f.payload)
        else:
            name = wire.opcode_name(f.opcode, short=True)
        if not f.fin or f.opcode == wire.Opcode.CONTINUATION:
            name += " (fragment)" if f.opcode != wire.Opcode.CONTINUATION else (" (last)" if f.fin else "")
        return name + _preview(f), len(f.raw), False
    if isinstance(ev, wire.DecodeError):
        text = str(ev.error)
        if len(text) > 48:
            text = text[:47] + "…"
        return f"decode error at byte {ev.offset}: {text}", None, True
    return None


def _arrow_text(label: str, size: int | None) -> str:
    return label if size is None else f"{label}  {size:,} B"


def _is_frame(ev) -> bool:
    return isinstance(ev, wire.FrameEvent)


def _collapsed_note(hidden: list) -> str:
    kinds = Counter("frame" if _is_frame(ev) else "decode error" if isinstance(ev, wire.DecodeError)
                    else "HTTP message" for ev, _ in hidden)
    parts = [f"{n} more {kind}{'s' if n != 1 else ''}" for kind, n in
             sorted(kinds.items(), key=lambda kv: ("frame", "HTTP message", "decode error").index(kv[0]))]
    by = Counter(ev.sender for ev, _ in hidden)
    size = sum(a[1] or 0 for _, a in hidden)
    return (f"… {', '.join(parts)} …  ({by['client']} → server, {by['server']} → client, {size:,} B)")


def _connection_story(conn: ConnectionRecord, max_arrows: int, title: str | None) -> tuple[_Story, int]:
    arrows = []
    for ev in list(conn.events):
        a = _event_arrow(ev)
        if a is not None:
            arrows.append((ev, a))
    t0 = conn.opened_at
    if t0 is None:
        t0 = arrows[0][0].at if arrows else 0.0
    peer = conn.peer
    story = _Story(title, [_Lane(f"client\n{peer}" if peer else "client"), _Lane("server")], show_time=True)
    if len(arrows) > max_arrows:
        # Keep the start (handshake) and the end (closing handshake); fold the middle.
        head = (max_arrows + 1) // 2
        tail = max_arrows - head
        shown = arrows[:head] + [None] + (arrows[-tail:] if tail else [])
        hidden = arrows[head:len(arrows) - tail]
    else:
        shown, hidden = arrows, []
    for item in shown:
        if item is None:
            story.note(_collapsed_note(hidden), time=f"{_elapsed(hidden[0][0].at - t0)} …")
            continue
        ev, (label, size, dashed) = item
        lane = _LANE_OF.get(ev.sender, 0)
        story.send(lane, 1 - lane, _arrow_text(label, size), time=_elapsed(ev.at - t0), dashed=dashed)
    return story, len(arrows)


def _conn_title(conn: ConnectionRecord) -> str:
    cid, path = conn.id, conn.path
    head = f"connection {cid}" if cid is not None else "connection"
    return f"{head}: {path}" if path else head


def _legend_recorded(conns) -> list:
    entries = list(_LEGEND_DIRECTIONS)
    if any(isinstance(ev, wire.DecodeError) for c in conns for ev in list(c.events)):
        entries.append(("#333333", "dashed", "dashed: bytes that did not decode"))
    return entries + [(LIFELINE_COLOR, "lifeline", "lifeline: events in order, not to scale")]


def from_connection(conn: ConnectionRecord, *, max_arrows: int = 40, title: str | None = None) -> Diagram:
    """Draw a recorded connection: each HTTP head and each frame an arrow, in time order.

    ``conn`` is a ``ConnectionRecord`` (``wsdemo.wire.recording``): a tap ``Connection``
    or a ``RecordedConnection``. Labels give
    the kind, the bytes on the wire and, on the left, the time since the
    connection opened. More than ``max_arrows`` arrows fold their middle into
    one line that counts what it hides.
    """
    if max_arrows < 2:
        raise ValueError(f"max_arrows must be at least 2 (got {max_arrows})")
    story, total = _connection_story(conn, max_arrows, None)
    drawn = story.arrows
    path = conn.path or "?"
    summary = f"{path}, {drawn} arrows" + (f" of {total}" if total > drawn else "")
    return _draw_stories("from_connection", title or _conn_title(conn), [story], _legend_recorded([conn]),
                         summary=summary)


def from_connections(conns: Sequence[ConnectionRecord], *, max_arrows: int = 24, title: str | None = None) -> Diagram:
    """Several recorded connections side by side (e.g. a polling client next to a WebSocket
    client). Rows follow each connection's own order; they are not on one time scale."""
    conns = list(conns)
    if not conns:
        raise ValueError("from_connections needs at least one connection")
    if max_arrows < 2:
        raise ValueError(f"max_arrows must be at least 2 (got {max_arrows})")
    stories, parts = [], []
    for conn in conns:
        story, total = _connection_story(conn, max_arrows, _conn_title(conn))
        stories.append(story)
        parts.append(f"{conn.path or '?'} {story.arrows}" +
                     (f"/{total}" if total > story.arrows else ""))
    return _draw_stories("from_connections", title or "Side by side", stories, _legend_recorded(conns),
                         summary=f"{len(conns)} connections, arrows {', '.join(parts)}")


# ---------------------------------------------------------------- frame layout

_PAYLOAD_BYTES_SHOWN = 8


def _bit(raw: bytes, i: int) -> str:
    return str((raw[i // 8] >> (7 - i % 8)) & 1)


def frame_layout(frame) -> Diagram:
    """RFC 6455 section 5.2's figure, 32 bits a row, filled with this frame's real bits.

    Each field is labelled with its name and value (``Frame.fields``); payload bytes are
    shown one by one (the first 8, as sent on the wire and, when masked, unmasked).
    """
    raw = bytes(frame.raw)
    fields = list(frame.fields)
    header_bits = len(frame.header) * 8
    # Split each field into pieces that fit in 32-bit rows; the payload gets a piece per byte.
    pieces: list[tuple[int, int, str, str, str]] = []  # (start, length, colour, label, field name)
    for f in fields:
        color = FIELD_COLOURS.get(f.name, "#FFFFFF")  # as the FrameInspector colours it
        if f.name == "payload":
            n = min(len(frame.payload), _PAYLOAD_BYTES_SHOWN)
            for i in range(n):
                wire_byte = raw[len(frame.header) + i]
                plain = frame.payload[i]
                ch = f" {chr(plain)!r}" if 32 <= plain < 127 else ""
                label = (f"byte {i}: {wire_byte:02x} → {plain:02x}{ch}" if frame.masked
                         else f"byte {i}: {plain:02x}{ch}")
                pieces.append((f.start_bit + 8 * i, 8, color, _h(label), f.name))
            continue
        start, left = f.start_bit, f.bit_len
        first = True
        while left > 0:
            room = 32 - start % 32
            n = min(room, left)
            if f.bit_len == 1:
                label = "<br/>".join(_h(c) for c in f.name)  # stacked letters, as in the RFC
                pieces.append((start, n, color, label, f.name))
            else:
                # name and value on two lines keep the bit columns about equally wide
                label = f"{_h(f.name)}<br/>{_h(f.text)}" if first else f"{_h(f.name)}<br/>(continued)"
                pieces.append((start, n, color, label, f.name))
            first = False
            start += n
            left -= n
    end_bit = header_bits + 8 * min(len(frame.payload), _PAYLOAD_BYTES_SHOWN)
    n_rows = math.ceil(end_bit / 32) if end_bit else 1
    cell_w = 30
    out = ['<<table border="0" cellborder="1" cellspacing="0" cellpadding="4" color="#333333">']
    out.append(f'<tr><td colspan="33" border="0"><font point-size="{TITLE_SIZE}">{_h(str(frame))}</font></td></tr>')
    out.append('<tr><td border="0"></td>' + "".join(
        f'<td border="0" width="{cell_w}"><font point-size="{SMALL_SIZE}" color="#555555">{i}</font></td>'
        for i in range(32)) + "</tr>")
    for r in range(n_rows):
        lo, hi = 32 * r, min(32 * r + 32, end_bit)
        row_pieces = [p for p in pieces if lo <= p[0] < hi]
        labels = [f'<td rowspan="2" border="0" align="right"><font point-size="{SMALL_SIZE}" color="#555555">'
                  f"byte {4 * r}</font></td>"]
        bits = []
        for start, n, color, label, name in row_pieces:
            size = SMALL_SIZE if n < 8 or name == "payload" else LABEL_SIZE
            labels.append(f'<td colspan="{n}" bgcolor="{color}"><font point-size="{size}">{label}</font></td>')
            bits.extend(f'<td bgcolor="{color}" width="{cell_w}"><b>{_bit(raw, i)}</b></td>'
                        for i in range(start, start + n))
        if hi - lo < 32:
            labels.append(f'<td colspan="{32 - (hi - lo)}" rowspan="2" border="0"></td>')
        out.append("<tr>" + "".join(labels) + "</tr>")
        out.append("<tr>" + "".join(bits) + "</tr>")
    hidden = len(frame.payload) - _PAYLOAD_BYTES_SHOWN
    if hidden > 0:
        out.append(f'<tr><td border="0"></td><td colspan="32" bgcolor="{FIELD_COLOURS["payload"]}">'
                   f"… {hidden:,} more payload bytes …</td></tr>")
    payload_field = next((f for f in fields if f.name == "payload"), None)
    if payload_field is not None:
        out.append(f'<tr><td border="0"></td><td colspan="32" border="0" align="left">'
                   f"payload: {_h(payload_field.text)}</td></tr>")
    out.append("</table>>")
    d = _new("frame_layout")
    d.node("frame", "".join(out), shape="plaintext", margin="0")
    d.summary = f"{frame}, {len(fields)} fields, {len(raw)} bytes"
    return d


# ---------------------------------------------------------------- lifecycle

_STATE_COLORS = {"CONNECTING": "#FFF3B8", "OPEN": "#CCEBE0", "CLOSING": "#F9DCC8", "CLOSED": "#E8E8E8"}


def lifecycle() -> Diagram:
    """CONNECTING → OPEN → CLOSING → CLOSED, drawn from ``wsdemo.wire.lifecycle.TRANSITIONS``:
    the same table ``ConnectionDecoder`` steps through, so the figure follows the code."""
    table = _lifecycle.TRANSITIONS
    d = _new("lifecycle", "WebSocket connection states", rankdir="LR", nodesep="0.8", ranksep="1.2")
    states = list(_lifecycle.State)
    for st in states:
        final = st.name == "CLOSED"
        # group= keeps the states on one straight line; the final state gets a double border.
        d.node(st.name, st.name, shape="box", peripheries="2" if final else "1", group="states",
               style="filled,rounded,bold",
               fillcolor=_STATE_COLORS.get(st.name, "#FFFFFF"), color="#333333", penwidth="2",
               fontsize="22", margin="0.25,0.15")
    d.node("start", "", shape="circle", style="filled", fillcolor="black", width="0.25", group="states")
    d.edge("start", states[0].name, penwidth="2")
    # One edge per (source, target); its label lists every trigger in table order.
    grouped: dict[tuple, list[str]] = {}
    for t in table:
        grouped.setdefault((t.source.name, t.target.name), []).append(t.trigger.value)
    order = [st.name for st in states]
    for (src, dst), triggers in grouped.items():
        # Steps to the next state in State's order form the straight main line.
        main = order.index(dst) == order.index(src) + 1
        d.edge(src, dst, label=_esc("\n".join(triggers)), penwidth="2.5", color="#333333", fontsize=LABEL_SIZE,
               weight="10" if main else "1")
    d.summary = f"{len(states)} states, {len(table)} transitions"
    return d


# ---------------------------------------------------------------- course map


@dataclass(frozen=True)
class CourseStep:
    """One notebook of the course: its file, its one idea, and the essay's claim it checks."""

    number: str  #: "00" .. "08"
    title: str  #: as in the notebook's first heading
    stem: str  #: notebooks/<stem>.ipynb
    idea: str
    claim: str


#: The course, in order. tests/test_diagrams.py checks each stem and title against notebooks/src.
COURSE = (
    CourseStep("00", "Start here", "00-start-here",
               "a real server in your notebook; a tap decodes every byte",
               "WebSockets changed how the web talks"),
    CourseStep("01", "Compare letters and phone calls", "01-compare-letters-and-phone-calls",
               "every question pays its headers again; polling fakes a live line",
               "HTTP works like letters; polling asks \"anything new?\""),
    CourseStep("02", "Open the handshake", "02-open-the-handshake",
               "one HTTP request, one 101 answer, and the line stays open",
               "a handshake upgrades the connection"),
    CourseStep("03", "Decode frames", "03-decode-frames",
               "a frame's header, bit by bit: 2 to 14 bytes",
               "just a few bytes of overhead, not bulky headers"),
    CourseStep("04", "Talk both ways", "04-talk-both-ways",
               "the server pushes unasked; both sides send at once",
               "the server speaks first; full duplex"),
    CourseStep("05", "Build real-time apps", "05-build-realtime-apps",
               "one change, pushed to everyone at once",
               "chat, games, dashboards and collaboration"),
    CourseStep("06", "Measure polling vs WebSockets", "06-measure-polling-vs-websockets",
               "bytes and latency per update, projected to 100,000 clients",
               "polling's cost, multiplied by many users"),
    CourseStep("07", "Build your own server", "07-build-your-own-server",
               "a WebSocket server in 40 lines on the wire layer",
               "the web learned to talk and listen at once"),
    CourseStep("08", "Leave localhost", "08-leave-localhost",
               "TLS, subprotocols, idle proxies, reconnects, slow readers, the Origin check",
               "millions of users: the live line must survive the real internet"),
    CourseStep("09", "Serve millions", "09-serve-millions",
               "what a connection and a frame cost; machines for a million users",
               "polling's cost, multiplied across millions of users"),
)

_CLAIM_COLOR = "#6A3D9A"  # dark purple: the essay's words, apart from the two direction colours
_MAP_TEXT_WIDTH = 560  # points: wider than every line, so every box has the same width and the text aligns


def course_map() -> Diagram:
    """The notebooks as a path: each with its one idea and the essay claim it checks."""
    d = _new("course_map", "The course: each notebook checks one claim on your own bytes",
             rankdir="TB", nodesep="0.3", ranksep="0.25")
    d.attr("edge", color="#333333", penwidth="2.5", arrowsize="1.1")
    previous = None
    for step in COURSE:
        label = (
            '<<table border="0" cellborder="0" cellspacing="0" cellpadding="3">'
            f'<tr><td rowspan="3" valign="middle" width="70"><font point-size="{TITLE_SIZE}" color="{CLIENT_COLOR}">'
            f"<b>{_h(step.number)}</b></font></td>"
            f'<td align="left" width="{_MAP_TEXT_WIDTH}"><b>{_h(step.title)}</b></td></tr>'
            f'<tr><td align="left"><font point-size="{SMALL_SIZE}">{_h(step.idea)}</font></td></tr>'
            f'<tr><td align="left"><font point-size="{SMALL_SIZE}" color="{_CLAIM_COLOR}">'
            f"<i>the essay: {_h(step.claim)}</i></font></td></tr></table>>"
        )
        name = f"nb{step.number}"
        d.node(name, label, shape="box", style="rounded,filled", fillcolor="#F7F7F7", color="#333333",
               penwidth="2", margin="0.2,0.08", group="course")
        if previous is not None:
            d.edge(previous, name, weight="10")
        previous = name
    d.summary = f"{len(COURSE)} notebooks"
    return d
