"""The notebook the kernel and browser tests run: every widget, live, on a real server."""

from __future__ import annotations

import nbformat

from wsdemo.ui import export_recording

from .conversation import decode

# A real conversation decoded from bytes (see conversation.py), as its JSON export.
RECORDING = export_recording(decode()[0])

# Built from character codes so the page's code editor never contains the literal:
# whatever shows it in the browser came from the wire, through a widget.
HOSTILE_SRC = "''.join(map(chr, [60, 105, 109, 103, 32, 115, 114, 99, 61, 120, 32, 111, 110, 101, 114, " \
              "114, 111, 114, 61, 97, 108, 101, 114, 116, 40, 49, 41, 62]))"
HOSTILE = "<img src=x onerror=alert(1)>"
assert eval(HOSTILE_SRC) == HOSTILE  # noqa: S307 - a constant expression of ours

CELLS = [
    # 0
    "import asyncio\n"
    "import wsdemo\n"
    "from wsdemo.ui import HandshakeView, FrameInspector, Composer, ConnectionsPanel, ConnectionSummary\n"
    f"HOSTILE = {HOSTILE_SRC}\n"
    "server = await asyncio.wait_for(wsdemo.serve(), 20)",
    # 1: a chat client; the server greets it with a join notice first
    # a browser-length User-Agent and a long cookie: the handshake view must wrap them
    "UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) ' \\\n"
    "     'Chrome/131.0.0.0 Safari/537.36 wsdemo-test/1.0 (+https://example.org/a/very/long/path)'\n"
    "COOKIE = 'session=' + 'x' * 160\n"
    "client = await asyncio.wait_for(server.connect('/chat?name=ann', headers={'User-Agent': UA, "
    "'Cookie': COOKIE}), 20)\n"
    "join = await client.recv(timeout=10)\n"
    "conn = client.connection\n"
    "await asyncio.sleep(0.2)",
    # 2
    "hv = HandshakeView(conn)\nhv",
    # 3: the hostile chat message goes out through the composer; the broadcast comes back
    "comp = Composer(client)\n"
    "result = await comp.send('text', HOSTILE, timeout=10)\n"
    "ping = await comp.send('ping', 'hb', timeout=10)\n"
    "comp",
    # 4
    "insp = FrameInspector(conn)\n"
    "await asyncio.sleep(0.3)\n"
    "insp.select('text')\n"
    "insp",
    # 5
    "panel = ConnectionsPanel(server.tap)\npanel",
    # 6
    "ConnectionSummary(conn)",
    # 7: the projector view
    "big = ConnectionsPanel(server.tap, large=True)\nbig",
    # 8: JSON, binary and close with code + reason through a second composer, on /echo
    "echo = await asyncio.wait_for(server.connect('/echo'), 20)\n"
    "c2 = Composer(echo)\n"
    "await c2.send('json', '{\"a\": [1, 2]}', timeout=10)\n"
    "await c2.send('binary', '01 02 ff', timeout=10)\n"
    "await c2.send('binary', '01 2', timeout=10)  # refused: odd number of hex digits\n"
    "await c2.send('close', code=4000, reason='done', timeout=10)\n"
    "c2",
    # 9-12: a recorded conversation (fragments, ping between them, deflate, JSON, close) loaded
    # back from its JSON export; each inspector shows one kind of frame in detail
    "RECORDING = " + repr(RECORDING) + "\n"
    "frag = FrameInspector.from_json(RECORDING)\nfrag.select(7)  # continuation: fragment 2 of 2\nfrag",
    "deflated = FrameInspector.from_json(RECORDING)\ndeflated.select(9)\ndeflated",
    "as_json = FrameInspector.from_json(RECORDING)\nas_json.select(11)\nas_json",
    "closing = FrameInspector.from_json(RECORDING)\nclosing.select(12)\nclosing",
    # 13: plain-text checks of the state, so the kernel test can read them
    "assert result.error is None and HOSTILE in result.reply, result\n"
    "assert hv.accept_ok() is True\n"
    "row = insp.selected\n"
    "assert row is not None and HOSTILE in row.message.text\n"
    "assert '<img' not in insp.detail_html and '&lt;img' in insp.payload_html['text']\n"
    "assert 'x' * 160 not in hv.text and '*' * 167 in hv.text  # the cookie, redacted\n"
    "assert frag.selected.kind == 'continuation' and frag.selected.fragment == (2, 2)\n"
    "assert deflated.selected.frame.rsv1 and closing.selected.kind == 'close'\n"
    "assert [r.error is None for r in c2.results] == [True, True, False, True]\n"
    "print(repr(hv)); print(repr(insp)); print(repr(comp)); print(repr(panel))\n"
    "print('ALL CELLS DONE')",
]


def build(extra_last: str | None = None) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    if extra_last:
        nb.cells.append(nbformat.v4.new_code_cell(extra_last))
    return nb
