"""Sequence diagrams: the story drawer, and the explainers (letters, polling, long polling, a WebSocket)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from .. import wire
from ..ui.palette import CLIENT_COLOR, LIFELINE_COLOR, OPEN_COLOR, SERVER_COLOR, WAIT_COLOR
from .base import Diagram, SMALL_SIZE, _esc, _h, _new


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
                    if row.src is not None and row.dst is not None:
                        left, right = sorted((row.src, row.dst))
                        r.edge(f"{p}l{left}_{ri}", f"{p}l{right}_{ri}", label=_esc(row.label), color=row.color,
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


