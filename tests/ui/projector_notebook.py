"""The notebook the projector browser test runs: a tap inspector and the large panel, live.

Two students are in the chat from the kernel (one named with markup); the test adds a third
from outside the kernel, as a phone in the room would, through the server's public URL.
"""

from __future__ import annotations

import nbformat

from .demo_notebook import HOSTILE_SRC

CELLS = [
    "import asyncio\n"
    "from urllib.parse import quote\n"
    "import wsdemo\n"
    "from wsdemo.ui import ConnectionsPanel, FrameInspector\n"
    f"HOSTILE = {HOSTILE_SRC}\n"
    "server = await asyncio.wait_for(wsdemo.serve(), 20)\n"
    "ann = await asyncio.wait_for(server.connect('/chat?name=ann'), 20)\n"
    "odd = await asyncio.wait_for(server.connect('/chat?name=' + quote(HOSTILE)), 20)\n"
    "await ann.send('hello from ann')\n"
    "await asyncio.sleep(0.3)",
    "insp = FrameInspector(server.tap)\ninsp",
    "big = ConnectionsPanel(server.tap, large=True)\nbig",
    "print('URL=' + server.url('/chat') + ' READY')",
]


def build() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    return nb
