"""Every widget in a real kernel (ipykernel through nbclient), on a live server."""

from __future__ import annotations

import pytest
from nbclient import NotebookClient

from .demo_notebook import build

pytestmark = pytest.mark.timeout(180)


def _text(cell) -> str:
    out = []
    for o in cell.outputs:
        if o.output_type == "stream":
            out.append(o.text)
        elif o.output_type in ("execute_result", "display_data"):
            out.append(o.data.get("text/plain", ""))
        elif o.output_type == "error":
            out.append("\n".join(o.traceback))
    return "".join(out)


def test_every_widget_in_a_real_kernel(tmp_path):
    nb = build(extra_last="await asyncio.wait_for(server.stop(), 10)\nprint('stopped')")
    client = NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    texts = [_text(c) for c in nb.cells]
    for c in nb.cells:
        assert not any(o.output_type == "error" for o in c.outputs), _text(c)
    # every widget cell shows its text/plain repr and a widget view
    for i in (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12):
        kinds = [o.output_type for o in nb.cells[i].outputs]
        assert "execute_result" in kinds, (i, kinds)
        data = nb.cells[i].outputs[-1].data
        assert "application/vnd.jupyter.widget-view+json" in data
    assert texts[2] == "HandshakeView: GET /chat?name=ann → 101 Switching Protocols, accept ✓, 0 problems"
    assert texts[3].startswith("Composer: 2 sent (1 ping, 1 text), 2 replies, last: PING 'hb'")
    # join + our broadcast from the server, our text, the ping and its pong
    assert texts[4].startswith("FrameInspector: 5 frames (2 →, 3 ←), showing all; "
                               "selected #5 ← TEXT '{\"type\": \"message\"")
    assert texts[5] == "ConnectionsPanel: 1 connection (1 open, 0 closed)"
    assert texts[6].startswith("ConnectionSummary #1 /chat?name=ann → client: 2 frames")
    assert texts[7] == "ConnectionsPanel: 1 connection (1 open, 0 closed)"
    assert texts[8] == ("Composer: 3 sent (1 binary, 1 close, 1 json), 3 replies, 1 refused, last: CLOSE "
                        "4000: private use, agreed between the application's endpoints — reason 'done'")
    recorded = "FrameInspector: 11 frames (6 →, 5 ←), showing all; selected "
    assert texts[9] == recorded + "#7 → CONT 'lo' [2 bytes, masked 37fa213d]"
    assert texts[10].startswith(recorded + "#9 ← TEXT") and "rsv1" in texts[10].lower()
    assert texts[11].startswith(recorded + "#11 ← TEXT '{\"user\": \"ann\"")
    assert texts[12].startswith(recorded + "#12 → CLOSE")
    assert "ALL CELLS DONE" in texts[13], texts[13]
    assert "stopped" in texts[14]
