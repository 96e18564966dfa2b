"""wsdemo.diagrams: every picture renders, says what it should, and degrades without dot.

Recorded connections here are real recordings of bytes: handshake heads and
encode_frame output fed through wsdemo.wire.ConnectionDecoder, as the tap does.
"""

from __future__ import annotations

import asyncio
import html
import re
import subprocess
import sys
from pathlib import Path

import graphviz
import pytest

from wsdemo import diagrams
from wsdemo.ui import markup
from wsdemo.ui.palette import FIELD_COLOURS
from wsdemo.wire import ConnectionDecoder, Frame, FrameEvent, Opcode, compute_accept, encode_frame
from wsdemo.wire.lifecycle import TRANSITIONS, State
from wsdemo.wire.recording import RecordedConnection

ROOT = Path(__file__).resolve().parent.parent
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
MASK = bytes.fromhex("37fa213d")

EXPLAINERS = [diagrams.letters_vs_phone_call, diagrams.polling, diagrams.long_polling, diagrams.websocket,
              diagrams.lifecycle]


class Recording(RecordedConnection):
    """A recorded connection (a ConnectionRecord, as the diagrams read), fed here byte by byte."""

    def __init__(self, path: str = "/echo", opened_at: float = 1000.0):
        super().__init__(path=path, opened_at=opened_at)
        self.decoder = ConnectionDecoder(connection=self)  # its events name this record
        self.t = opened_at

    def feed(self, sender: str, data: bytes, dt: float = 0.001) -> None:
        self.t += dt
        self.events.extend(self.decoder.feed(sender, data, at=self.t))


def handshake(rec: Recording, path: str = "/echo") -> None:
    rec.feed("client", (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:8888\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    rec.feed("server", ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Accept: {compute_accept(KEY)}\r\n\r\n").encode())


def echo_connection(n_messages: int) -> Recording:
    rec = Recording()
    handshake(rec)
    for i in range(n_messages):
        text = f"hello {i}".encode()
        rec.feed("client", encode_frame(Opcode.TEXT, text, mask_key=MASK))
        rec.feed("server", encode_frame(Opcode.TEXT, text))
    rec.feed("client", encode_frame(Opcode.PING, b"", mask_key=MASK))
    rec.feed("server", encode_frame(Opcode.PONG, b""))
    rec.feed("client", encode_frame(Opcode.CLOSE, (1000).to_bytes(2, "big"), mask_key=MASK))
    rec.feed("server", encode_frame(Opcode.CLOSE, (1000).to_bytes(2, "big")))
    return rec


def polling_connection(n_polls: int) -> Recording:
    rec = Recording(path="/poll")
    for i in range(n_polls):
        rec.feed("client", b"GET /poll?since=%d HTTP/1.1\r\nHost: 127.0.0.1:8888\r\n\r\n" % i, dt=1.0)
        rec.feed("server", b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]")
    return rec


def svg_of(d: graphviz.Digraph) -> str:
    # SVG escapes quotes and ampersands, and dot writes a second space as a no-break
    # space; compare against the plain text.
    return html.unescape(d.pipe(format="svg", encoding="utf-8")).replace("\xa0", " ")


@pytest.mark.parametrize("make", EXPLAINERS, ids=lambda f: f.__name__)
def test_explainers_render_to_svg_with_legend(need_dot, make):
    d = make()
    assert isinstance(d, graphviz.Digraph)
    svg = svg_of(d)
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    assert repr(d).startswith(f"<diagram {make.__name__}: ")
    if make is not diagrams.lifecycle:
        assert "client → server" in svg and "server → client" in svg  # the legend
        # one colour per direction, in every sequence diagram
        assert diagrams.CLIENT_COLOR.lower() in svg.lower() and diagrams.SERVER_COLOR.lower() in svg.lower()


def test_websocket_explainer_labels(need_dot):
    svg = svg_of(diagrams.websocket())
    assert "101 Switching Protocols" in svg
    for name in ("TEXT", "PING", "PONG", "CLOSE 1000"):
        assert name in svg
    # sizes are counted by the real encoder: an empty server PING is 2 bytes, a masked PONG 6
    assert "PING  (2 B)" in svg and "PONG  (6 B)" in svg
    assert repr(diagrams.websocket()) == "<diagram websocket: 11 arrows>"
    # one handshake, then the server speaks first: the arrows in drawing order, by direction
    d = diagrams.websocket()
    arrows = re.findall(r'label="([^"]+)".*?dir=(forward|back)', d.source)
    kinds = [(label.split("  (")[0].split()[0], "→" if way == "forward" else "←") for label, way in arrows]
    assert kinds[:3] == [("GET", "→"), ("101", "←"), ("TEXT", "←")], kinds
    assert sum(k == ("GET", "→") for k in kinds) == 1  # a single HTTP request in the whole story
    assert {way for k, way in kinds if k == "TEXT"} == {"→", "←"}  # frames both ways


def test_polling_explainers_name_the_cost(need_dot):
    svg = svg_of(diagrams.polling())
    assert re.search(r"GET /news  \(\d{3} B\)", svg)
    svg = svg_of(diagrams.long_polling())
    assert "held" in svg
    both = svg_of(diagrams.letters_vs_phone_call())
    assert "HTTP: posting letters" in both and "WebSocket: a phone call" in both


def test_lifecycle_is_drawn_from_the_transition_table(need_dot):
    d = diagrams.lifecycle()
    svg = svg_of(d)
    for state in State:
        assert state.name in svg
    for t in TRANSITIONS:
        assert t.trigger.value in svg
    # every (source, target) pair of the table is one edge in the DOT source
    pairs = {(t.source.name, t.target.name) for t in TRANSITIONS}
    edges = set(re.findall(r"^\s*(\w+) -> (\w+)", d.source, re.M)) - {("start", State.CONNECTING.name)}
    assert edges == pairs
    assert repr(d) == f"<diagram lifecycle: {len(State)} states, {len(TRANSITIONS)} transitions>"


def test_course_map_follows_the_notebooks(need_dot):
    d = diagrams.course_map()
    svg = svg_of(d)
    sources = sorted((ROOT / "notebooks" / "src").glob("[0-9][0-9]-*.py"))
    assert repr(d) == f"<diagram course_map: {len(sources)} notebooks>"
    # one step per notebook source, in order, named as the notebook's first heading names it
    assert [s.stem for s in diagrams.COURSE] == [p.stem for p in sources]
    for step, src in zip(diagrams.COURSE, sources):
        heading = re.search(r"^# # (\d\d) · (.+)$", src.read_text(encoding="utf-8"), re.M)
        assert heading and heading.groups() == (step.number, step.title), (src.name, heading)
        for text in (step.number, step.title, step.idea, "the essay: " + step.claim):
            assert text in svg, text
    # a path: each notebook leads to the next, and nowhere else
    edges = re.findall(r"^\s*(nb\d\d) -> (nb\d\d)", d.source, re.M)
    assert edges == [(f"nb{a.number}", f"nb{b.number}") for a, b in zip(diagrams.COURSE, diagrams.COURSE[1:])]


def _bits(data: bytes) -> list[str]:
    return [str((b >> (7 - i)) & 1) for b in data for i in range(8)]


@pytest.mark.parametrize("payload,mask", [(b"Hello", MASK), (b"Hello", None), (bytes(range(200)), MASK),
                                          (bytes(70000), None)], ids=["masked", "unmasked", "len16", "len64"])
def test_frame_layout_shows_the_real_bits(need_dot, payload, mask):
    frame = Frame.build(Opcode.TEXT if payload == b"Hello" else Opcode.BINARY, payload, mask_key=mask)
    d = diagrams.frame_layout(frame)
    # Every bit cell, in order, is the frame's real bit: the header, then up to 8 payload bytes as sent.
    shown = re.findall(r"<b>([01])</b>", d.source)
    expected = _bits(frame.raw[: len(frame.header) + min(8, len(frame.payload))])
    assert shown == expected
    svg = svg_of(d)
    for f in frame.fields:
        assert f.name in svg or "<br/>".join(f.name) in d.source
    assert "0x1 = TEXT" in svg if payload == b"Hello" else "0x2 = BINARY" in svg
    if mask:
        assert "masking key" in svg and mask.hex() in svg
        assert "7f → 48 'H'" in svg if payload == b"Hello" else True
    if len(payload) > 8:
        assert f"… {len(payload) - 8:,} more payload bytes …" in svg
    assert f"{len(frame.raw)} bytes" in repr(d)


def test_frame_layout_and_the_frame_inspector_colour_each_field_alike():
    """One palette: a field has the same colour in the diagram and in the inspector's field table."""
    frame = Frame.build(Opcode.BINARY, bytes(300), mask_key=MASK)  # every field, 16-bit length too
    layout = diagrams.frame_layout(frame).source
    table = markup.field_table_html(frame)
    for f in frame.fields:
        colour = FIELD_COLOURS[f.name]
        assert f'bgcolor="{colour}"' in layout, f.name
        assert f"background:{colour}'>{f.name}</td>" in table, f.name


def test_from_connection_draws_a_recorded_connection(need_dot):
    rec = echo_connection(3)
    d = diagrams.from_connection(rec)
    svg = svg_of(d)
    assert "GET /echo" in svg and "101 Switching Protocols" in svg
    assert "TEXT 'hello 0'  13 B" in svg  # 2 header + 4 mask + 7 payload, as the client sent it
    assert "TEXT 'hello 0'  9 B" in svg  # the server's unmasked echo
    assert "PING  6 B" in svg and "PONG  2 B" in svg
    assert "CLOSE 1000  8 B" in svg and "CLOSE 1000  4 B" in svg
    assert "+0.0 ms" not in svg and "+1.0 ms" in svg  # elapsed since opened_at
    assert repr(d) == "<diagram from_connection: /echo, 12 arrows>"


def test_from_connection_collapses_hundreds_of_frames(need_dot):
    rec = echo_connection(150)  # 2 heads + 300 text frames + ping/pong + 2 closes
    total = 2 + 300 + 4
    d = diagrams.from_connection(rec, max_arrows=30)
    svg = svg_of(d)
    hidden = total - 30
    frames_hidden = hidden  # the heads are at the start, so every hidden arrow is a frame
    assert f"… {frames_hidden} more frames …" in svg
    assert f"({hidden // 2} → server, {hidden // 2} → client," in svg
    assert "101 Switching Protocols" in svg and "CLOSE 1000" in svg  # start and end stay
    assert repr(d) == f"<diagram from_connection: /echo, 30 arrows of {total}>"
    assert svg.count("TEXT '") == 30 - 2 - 4


def test_from_connection_marks_decode_errors(need_dot):
    rec = Recording()
    handshake(rec)
    rec.feed("client", encode_frame(Opcode.TEXT, b"hi"))  # a client frame without a mask: not allowed
    d = diagrams.from_connection(rec)
    assert re.search(r"decode error at byte \d+: ", svg_of(d))
    assert re.search(r'label="decode error[^\]]*style=dashed', d.source)
    assert "bytes that did not decode" in svg_of(d)  # the legend names it only when it occurs
    assert "did not decode" not in svg_of(diagrams.from_connection(echo_connection(1)))


def test_from_connections_side_by_side(need_dot):
    poll, ws = polling_connection(20), echo_connection(20)
    d = diagrams.from_connections([poll, ws], max_arrows=12)
    svg = svg_of(d)
    assert "connection: /poll" in svg and "connection: /echo" in svg
    assert "GET /poll?since=0" in svg and "200 OK" in svg and "101 Switching Protocols" in svg
    assert "… 28 more HTTP messages …" in svg
    assert repr(d) == "<diagram from_connections: 2 connections, arrows /poll 12/40, /echo 12/46>"
    with pytest.raises(ValueError, match="at least one"):
        diagrams.from_connections([])


def test_display_with_dot_gives_svg_and_a_stable_text(need_dot):
    d = diagrams.websocket()
    bundle = d._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml")
    assert bundle["text/plain"] == "<diagram websocket: 11 arrows>"
    copy = d.copy()
    assert repr(copy) == repr(d) and copy.source == d.source


def test_without_dot_the_notebook_shows_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: graphviz cannot find dot
    d = diagrams.from_connection(echo_connection(2))
    with pytest.raises(graphviz.ExecutableNotFound):
        d.pipe(format="svg")  # the object stays an honest graphviz object
    from IPython.core.formatters import DisplayFormatter

    data, _ = DisplayFormatter().format(d)  # what a notebook does to display it
    for text in (data["text/plain"], html.unescape(data["text/html"])):
        assert "conda install -c conda-forge graphviz" in text
        assert "apt-get install graphviz" in text
        assert "brew install graphviz" in text
        assert "101 Switching Protocols" in text  # inside the DOT source
    assert d.source in data["text/plain"]
    assert data["text/plain"].startswith("<diagram from_connection: /echo, 10 arrows>")
    assert "image/svg+xml" not in data


def _run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "render_diagrams.py"), *args],
                          capture_output=True, text=True, timeout=120)


def test_assets_match_the_code(need_dot):
    r = _run_script("--check")
    assert r.returncode == 0, r.stderr


def test_assets_check_notices_a_stale_file(need_dot, tmp_path):
    assert _run_script("--assets", str(tmp_path)).returncode == 0
    assert _run_script("--check", "--assets", str(tmp_path)).returncode == 0
    svg = tmp_path / "websocket.svg"
    text = svg.read_text()
    assert "Generated by graphviz" not in text and "<!-- wsdemo: graphviz " in text
    # a drawing that changed in the code: its DOT hash no longer matches
    sha = re.search(r"dot-sha256 ([0-9a-f]{64})", text).group(1)
    svg.write_text(text.replace(sha, "0" * 64))
    r = _run_script("--check", "--assets", str(tmp_path))
    assert r.returncode == 1 and "websocket.svg is stale" in r.stderr
    # a hand-edited SVG from the same DOT source and graphviz version
    svg.write_text(text.replace("101 Switching Protocols", "102 Processing"))
    r = _run_script("--check", "--assets", str(tmp_path))
    assert r.returncode == 1 and "differs from what graphviz" in r.stderr
    (tmp_path / "polling.svg").unlink()
    assert "polling.svg is missing" in _run_script("--check", "--assets", str(tmp_path)).stderr


async def test_from_connection_draws_a_live_tap_connection(need_dot):
    """A real server, a real client through the tap: its recorded connection drawn as it happened."""
    import wsdemo

    server = await asyncio.wait_for(wsdemo.serve(host="127.0.0.1", port=0), 10)
    try:
        client = await asyncio.wait_for(server.connect("/echo"), 10)
        for text in ("one", "two", "three"):
            await asyncio.wait_for(client.send(text), 5)
            assert await client.recv(timeout=5) == text
        await asyncio.wait_for(client.close(1000), 5)
        conn = client.connection
        # the tap relays the closing handshake: wait until it has recorded the server's CLOSE too
        await conn.wait_for(lambda ev: isinstance(ev, FrameEvent) and ev.sender == "server"
                            and ev.frame.opcode == Opcode.CLOSE, 5)
        d = diagrams.from_connection(conn)
        svg = svg_of(d)
    finally:
        await asyncio.wait_for(server.stop(), 10)
    assert "GET /echo" in svg and "101 Switching Protocols" in svg
    for text in ("one", "two", "three"):
        assert f"TEXT '{text}'  {2 + 4 + len(text)} B" in svg  # masked, from the client
        assert f"TEXT '{text}'  {2 + len(text)} B" in svg  # the echo
    assert "CLOSE 1000  8 B" in svg and "CLOSE 1000  4 B" in svg
    assert repr(d).startswith("<diagram from_connection: /echo, 10 arrows")
