"""The projector features (issue 15), driven through public methods on a real server's tap.

FrameInspector: pause()/resume(), filter_who() by connection or student, follow(n).
ConnectionsPanel(large=True): sorted by what students last sent.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

import pytest

import wsdemo
from wsdemo import wire
from wsdemo.ui import ConnectionsPanel, FrameInspector
from wsdemo.ui import markup, rows as ui_rows
from wsdemo.wire import recording
from wsdemo.ui.inspector import EVERYONE, MAX_FOLLOW

from tests.live.conftest import wait_until

from .conversation import HOSTILE, decode

pytestmark = pytest.mark.timeout(120)


async def _echo(client, n: int, prefix: str = "m") -> None:
    for i in range(n):
        await client.send(f"{prefix}{i}")
        assert await client.recv(timeout=10) == f"{prefix}{i}"


# --------------------------------------------------------------------------- pause

async def test_pause_freezes_the_view_while_recording_and_resume_catches_up(server):
    insp = FrameInspector(server.tap)
    client = await server.connect("/echo")
    await _echo(client, 2)
    await wait_until(lambda: insp.book.frames["server"] >= 2)
    insp.flush()
    before, counts = insp.shown_lines, insp.counts_line
    assert len(before) == 6 and before[-1].endswith("'m1'")  # request, response, 4 frames
    assert counts == "Frames: 4 frames (2 →, 2 ←)"

    insp.pause()
    assert insp.paused and insp.new_while_paused == 0
    await _echo(client, 5, "late")
    await wait_until(lambda: insp.new_while_paused == 10)   # recorded while paused...
    insp.flush()                                         # ...and a sync happens: nothing moves
    assert insp.shown_lines == before and insp.counts_line == counts
    assert repr(insp) == ("FrameInspector: 14 frames (7 →, 7 ←), showing all, "
                          "paused (10 new rows waiting)")
    # filters and selection still work on what the view holds
    insp.set_filter(direction="server")
    assert [r.preview for r in insp.visible_rows()][-2:] == ["'m0'", "'m1'"]
    assert insp.select(-1).preview == "'m1'"
    insp.set_filter(direction="all")
    assert insp.shown_lines == before

    syncs = insp.syncs
    insp.resume()
    assert not insp.paused
    assert insp.shown_lines == before  # the catch-up is a batched sync on the loop, not inline
    await wait_until(lambda: insp.syncs > syncs)
    after = insp.shown_lines
    assert after[:6] == before and len(after) == 16
    assert insp.counts_line == "Frames: 14 frames (7 →, 7 ←)"
    assert [line.split("'")[-2] for line in after[-10:]] == [
        f"late{i}" for i in range(5) for _side in ("client", "server")]
    assert insp.selected.preview == "'m1'"  # the selection survived the pause
    await client.close()
    insp.close()


async def test_resume_after_more_than_the_ring_shows_the_latest_max_rows(server):
    insp = FrameInspector(server.tap, max_rows=20)
    client = await server.connect("/echo")
    await wait_until(lambda: len(insp.rows) == 2)
    insp.pause()
    frozen = insp.shown_lines
    await _echo(client, 30)
    await wait_until(lambda: insp.new_while_paused == 60)
    insp.flush()
    assert insp.shown_lines == frozen and len(insp.rows) == 20  # the ring stays bounded
    # the frozen rows have left the ring, yet they are on screen: they can still be picked
    row = insp.select(1)
    assert row is not None and row.label == "HTTP GET" and insp.selected is row
    insp.resume()
    insp.flush()
    shown = insp.shown_lines
    assert len(shown) == 20
    assert [r.seq for r in insp.visible_rows()] == list(range(43, 63))  # 2 HTTP + 60 frames
    assert shown[-1].endswith("'m29'")
    assert insp.selected is None  # the picked row is gone from the ring now
    await client.close()
    insp.close()


# --------------------------------------------------------------------------- who

async def test_filter_by_student_or_connection(server):
    insp = FrameInspector(server.tap)
    ann = await server.connect("/chat?name=ann")
    assert (await ann.recv_json())["name"] == "ann"
    bob = await server.connect("/chat?name=bob")
    await bob.recv_json()
    guest = await server.connect("/chat")            # no name: the server calls it guest3
    assert (await guest.recv_json())["name"] == "guest3"
    ann2 = await server.connect("/cursors?name=ann")  # the same student, a second page
    echo = await server.connect("/echo")              # nobody's name
    ids = {c: c.connection.id for c in (ann, bob, guest, ann2, echo)}
    await ann.send("hi from ann")
    await bob.send("hi from bob")
    await ann2.send('{"x": 0.5, "y": 0.5}')
    await wait_until(lambda: sum(r.kind == "text" and r.sender == "client" for r in insp.rows) == 3)
    insp.flush()

    assert insp.students() == {"ann": sorted([ids[ann], ids[ann2]]), "bob": [ids[bob]],
                               "guest3": [ids[guest]]}
    assert insp.connection_names()[ids[echo]] is None
    labels = [label for label, _v in insp.who_choices()]
    assert labels[:4] == ["everyone", "ann (2 connections)", "bob (1 connection)",
                          "guest3 (1 connection)"]
    assert f"#{ids[ann2]} ann /cursors" in labels and f"#{ids[echo]} /echo" in labels

    insp.filter_who(student="ann")
    assert insp.who == "student 'ann'"
    rows = insp.visible_rows()
    assert {r.conn_id for r in rows} == {ids[ann], ids[ann2]}
    sent = [r.preview for r in rows if r.sender == "client" and r.kind == "text"]
    # (in arrival order, which the tap's per-connection decoding may swap)
    assert sorted(sent) == ["'hi from ann'", '\'{"x": 0.5, "y": 0.5}\'']  # bob's only as broadcasts
    assert len(insp.shown_lines) == len(rows)
    assert repr(insp).endswith(f"showing {len(rows)} rows: student 'ann'")

    insp.filter_who(connection=ids[bob])
    assert {r.conn_id for r in insp.visible_rows()} == {ids[bob]}
    insp.set_filter(kind="binary")  # bob sent no binary frame
    assert insp.visible_rows() == [] and insp.shown_lines == []
    assert repr(insp).endswith(f"showing 0 rows: binary, connection #{ids[bob]}")

    with pytest.raises(ValueError, match="no rows of a student named 'zoe' here; students: 'ann'"):
        insp.filter_who(student="zoe")
    with pytest.raises(ValueError, match="no rows of connection #999"):
        insp.filter_who(connection=999)
    with pytest.raises(ValueError, match="not both"):
        insp.filter_who(connection=ids[bob], student="bob")
    assert insp.who == f"connection #{ids[bob]}"  # a refused filter changes nothing

    insp.set_filter(kind="all")
    insp.filter_who()
    assert insp.who == "everyone" and insp.who_choices()[0] == ("everyone", EVERYONE)
    assert {r.conn_id for r in insp.visible_rows()} == set(ids.values())
    for c in (ann, bob, guest, ann2, echo):
        await c.close()
    insp.close()


async def test_hostile_names_are_labels_not_markup(server):
    insp = FrameInspector(server.tap)
    odd = "a\nb\x07" + "x" * 100
    c1 = await server.connect("/chat?name=" + quote(HOSTILE))
    c2 = await server.connect("/chat?name=" + quote(odd))
    await wait_until(lambda: len(insp.students()) == 2)
    insp.flush()
    labels = [label for label, _v in insp.who_choices()]
    # the Dropdown sets option text, never HTML: the name shows as typed, one line, bounded
    assert f"{HOSTILE} (1 connection)" in labels
    odd_label = next(lb for lb in labels if lb.startswith("a?b?"))
    assert odd_label == "a?b?" + "x" * 60 + "… (1 connection)"
    insp.filter_who(student=odd)
    assert {r.conn_id for r in insp.visible_rows()} == {c2.connection.id}
    # the projector panel shows names too, escaped
    panel = ConnectionsPanel(server.tap, large=True)
    assert "&lt;img src=x onerror=alert(1)&gt; · 127.0.0.1:" in panel.table_html
    assert "<img" not in panel.table_html
    for c in (c1, c2):
        await c.close()
    for w in (insp, panel):
        w.close()


def test_student_names_from_urls_and_greetings():
    assert ui_rows.name_in_target("/chat?name=Ada&token=abc") == "Ada"
    assert ui_rows.name_in_target("/chat?name=%3Cb%3E") == "<b>"
    assert ui_rows.name_in_target("/chat") is None and ui_rows.name_in_target("/chat?name=") is None
    assert ui_rows.name_in_target("//[?name=x") is None  # not a URL (urlsplit refuses it): no name
    assert ui_rows.path_of("/chat?name=Ada&token=abc") == "/chat" and ui_rows.path_of("//[?a") == "//["

    def message(text: str):
        frame, = wire.FrameDecoder().feed(wire.encode_frame(wire.Opcode.TEXT, text.encode()))
        return wire.MessageAssembler().add(frame)

    assert ui_rows.name_in_greeting(message('{"type": "join", "name": "guest4", "users": []}')) == "guest4"
    assert ui_rows.name_in_greeting(message('{"type": "hello", "id": 3, "name": "Ada"}')) == "Ada"
    assert ui_rows.name_in_greeting(message('{"type": "message", "name": "x"}')) is None
    assert ui_rows.name_in_greeting(message('{"type": "join", "name": 7}')) is None
    assert ui_rows.name_in_greeting(message("{oops")) is None


# --------------------------------------------------------------------------- follow

async def test_follow_shows_the_latest_n_and_off_shows_all(server):
    insp = FrameInspector(server.tap)
    client = await server.connect("/echo")
    await _echo(client, 10)
    await wait_until(lambda: insp.book.frames["server"] >= 10)
    insp.flush()
    everything = insp.shown_lines
    assert len(everything) == 22

    insp.follow(5)
    assert insp.following == 5 and insp.shown_lines == everything[-5:]
    assert repr(insp).endswith("showing all, following the latest 5")
    await _echo(client, 3, "new")
    await wait_until(lambda: insp.book.frames["server"] >= 13)
    insp.flush()
    assert len(insp.shown_lines) == 5 and insp.shown_lines[-1].endswith("'new2'")
    # following keeps to the filters: the latest 5 the server sent
    insp.set_filter(direction="server")
    assert [r.preview for r in insp.visible_rows()] == ["'m8'", "'m9'", "'new0'", "'new1'", "'new2'"]
    insp.set_filter(direction="all")

    for bad in (0, MAX_FOLLOW + 1, -3, 2.5, True):
        with pytest.raises(ValueError, match=f"latest 1 to {MAX_FOLLOW} rows"):
            insp.follow(bad)
    assert insp.following == 5
    insp.follow(None)
    assert insp.following is None and len(insp.shown_lines) == 28
    await client.close()
    insp.close()


# --------------------------------------------------------------------------- projector panel

async def test_large_panel_puts_the_latest_sender_on_top_and_ignores_broadcasts(server):
    a = await server.connect("/chat?name=a")
    await a.recv_json()
    b = await server.connect("/chat?name=b")
    c = await server.connect("/chat?name=c")
    await wait_until(lambda: all(x.connection.response is not None for x in (a, b, c)))
    panel = ConnectionsPanel(server.tap, large=True)
    normal = ConnectionsPanel(server.tap)
    conn = {x: x.connection for x in (a, b, c)}
    assert panel.order == "activity" and normal.order == "opened"
    assert panel.displayed() == [conn[c], conn[b], conn[a]]  # newest opening on top
    assert normal.displayed() == [conn[a], conn[b], conn[c]]

    async def say(who, text):
        before = panel.last_activity(conn[who])
        await who.send(text)
        for x in (a, b, c):  # the broadcast reaches everyone: it must not reorder them
            while (await x.recv_json(timeout=10)).get("text") != text:
                pass
        await wait_until(lambda: panel.last_activity(conn[who]) > before)
        panel.flush()

    await say(a, "first")
    assert panel.displayed() == [conn[a], conn[c], conn[b]]
    await say(b, "second")
    assert panel.displayed() == [conn[b], conn[a], conn[c]]
    # control frames (a ping, a heartbeat's pong) are not something the student said
    await c.ping(b"hb")
    await wait_until(lambda: any(isinstance(e, wire.FrameEvent) and e.frame.opcode == wire.Opcode.PONG
                             for e in conn[c].events))
    panel.flush()
    assert panel.displayed() == [conn[b], conn[a], conn[c]]
    table = panel.table_html  # the order the page shows
    assert table.index("b · ") < table.index("a · ") < table.index("c · ")
    assert normal.displayed() == [conn[a], conn[b], conn[c]]

    top2 = ConnectionsPanel(server.tap, large=True, max_rows=2)
    assert top2.displayed() == [conn[b], conn[a]]  # activity known from what was recorded
    with pytest.raises(ValueError, match="order must be one of"):
        ConnectionsPanel(server.tap, order="loudest")
    for x in (a, b, c):
        await x.close()
    for w in (panel, normal, top2):
        w.close()


def test_rows_of_some_connections_and_the_empty_message_names_who():
    events, _ = decode()
    book = ui_rows.RowBook()
    for i, e in enumerate(events):
        book.add(e, conn_id=1 if i < 6 else 2)
    rows = book.live()
    assert {r.conn_id for r in ui_rows.filter_rows(rows, conn_ids={2})} == {2}
    assert ui_rows.filter_rows(rows, conn_ids=set()) == []
    assert len(ui_rows.filter_rows(rows, conn_ids=None)) == len(rows)
    msg = markup.empty_rows_html(13, kind="close", who="student '<b>'")
    assert "kind &#x27;close&#x27;, student &#x27;&lt;b&gt;&#x27;" in msg and "Who to everyone" in msg


def test_what_counts_as_a_student_acting():
    events, _ = decode()
    acting = [ui_rows.is_student_activity(e) for e in events]
    kinds = [(e.sender, type(e).__name__, getattr(getattr(e, "frame", None), "opcode", None))
             for e, yes in zip(events, acting) if yes]
    # the request and the client's data frames (text, fragments, binary); never a ping,
    # a close, a message event, or anything the server sent
    assert kinds == [("client", "HttpRequest", None),
                     ("client", "FrameEvent", wire.Opcode.TEXT),
                     ("client", "FrameEvent", wire.Opcode.TEXT),
                     ("client", "FrameEvent", wire.Opcode.CONTINUATION),
                     ("client", "FrameEvent", wire.Opcode.BINARY)]


def _recording(*people: tuple[int, str]) -> str:
    """One recorded conversation per (connection id, student name)."""
    one = json.loads(recording.export_recording(decode()[0]))["connections"][0]
    conns = []
    for cid, name in people:
        request = bytes.fromhex(one["chunks"][0]["hex"]).replace(b"GET /chat ", f"GET /chat?name={name} ".encode())
        chunks = [dict(one["chunks"][0], hex=request.hex())] + one["chunks"][1:]
        conns.append(dict(one, id=cid, path=f"/chat?name={name}", peer="127.0.0.1:5000", chunks=chunks))
    return json.dumps({"format": recording.RECORDING_FORMAT, "version": 1, "connections": conns})


def test_filter_who_right_after_new_rows_arrive_shows_only_them():
    # No event loop: a render happens only on flush(), so the rows fed below are not
    # rendered yet when filter_who() is called (the Who options must catch up first).
    insp = FrameInspector.from_json(_recording((1, "ann"), (2, "bob")))
    assert insp.students() == {"ann": [1], "bob": [2]}
    cy, = recording.import_recording(_recording((3, "cy")))
    insp.feed(cy.events)
    insp.filter_who(student="cy")
    assert insp.shown_lines and all(" #3   " in line for line in insp.shown_lines)
    insp.filter_who(connection=1)
    assert insp.shown_lines and all(" #1   " in line for line in insp.shown_lines)
    insp.close()
