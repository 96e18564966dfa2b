"""The dashboard's moderation panel, driven by its own buttons, against a real classroom
server and real clients: each button does what the server's public method does."""

from __future__ import annotations

import asyncio
import json

import pytest

import wsdemo
from wsdemo.ui import ModerationPanel

pytestmark = pytest.mark.timeout(120)
T = 10.0


async def _until(condition, what: str):
    for _ in range(int(T * 100)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def _next(client, kind: str):
    while (event := json.loads(await client.recv(timeout=T)))["type"] != kind:
        pass
    return event


async def test_the_panels_actions_kick_mute_lock_and_rotate():
    srv = await asyncio.wait_for(wsdemo.serve(classroom=True, show_join=False), T)
    panel = ModerationPanel(srv)
    try:
        # Students on the join link (the join token, not the teacher's).
        eve = await srv.connect(f"/chat?name=Eve&token={srv.token}")
        bob = await srv.connect(f"/chat?name=Bob&token={srv.token}")
        await _until(lambda: (panel.flush(), len(panel.choices) == 2)[1], "two rows")
        assert repr(panel) == 'ModerationPanel: 2 open connections, 0 muted, "Teacher" locked'
        ids = {label.split()[2]: value for label, value in panel.choices}

        panel.pick(ids["Bob"])
        panel.mute()
        assert (await _next(bob, "error"))["code"] == "muted"
        assert "muted &#x27;Bob&#x27;" in panel.said_html  # escaped: names are as sent

        panel.pick(ids["Eve"])
        panel.kick("off topic")
        with pytest.raises(wsdemo.live.client.ConnectionClosed):
            while True:
                await eve.recv(timeout=T)
        assert (eve.close_code, eve.close_reason) == (1008, "removed by the teacher: off topic")
        await _until(lambda: (panel.flush(), len(panel.choices) == 1)[1], "Eve gone")
        assert repr(panel) == 'ModerationPanel: 1 open connection, 1 muted, "Teacher" locked'

        panel.keep_teacher(False)
        assert not srv.is_locked("Teacher")
        panel.keep_teacher(True)
        assert srv.is_locked("Teacher")

        old = srv.token
        panel.rotate()
        assert srv.token != old and srv.token in panel.card_html and "<svg" in panel.card_html
        with pytest.raises(wsdemo.live.client.ConnectionClosed):
            while True:
                await bob.recv(timeout=T)
        assert bob.close_code == 4001
    finally:
        panel.close()
        await asyncio.wait_for(srv.stop(), T)
    assert repr(panel) == "ModerationPanel: the server is stopped"
