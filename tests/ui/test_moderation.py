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


async def test_the_panels_buttons_kick_mute_lock_and_rotate():
    srv = await asyncio.wait_for(wsdemo.serve(classroom=True, show_join=False), T)
    panel = ModerationPanel(srv)
    try:
        # Students on the join link (the join token, not the teacher's).
        eve = await srv.connect(f"/chat?name=Eve&token={srv.token}")
        bob = await srv.connect(f"/chat?name=Bob&token={srv.token}")
        await _until(lambda: (panel.flush(), len(panel._who.options) == 2)[1], "two rows")
        assert repr(panel) == 'ModerationPanel: 2 open connections, 0 muted, "Teacher" locked'
        ids = {label.split()[2]: value for label, value in panel._who.options}

        panel._who.value = ids["Bob"]
        panel._mute.click()
        assert (await _next(bob, "error"))["code"] == "muted"
        assert "muted &#x27;Bob&#x27;" in panel._said.value  # escaped: names are as sent

        panel._who.value = ids["Eve"]
        panel._reason.value = "off topic"
        panel._kick.click()
        with pytest.raises(wsdemo.live.client.ConnectionClosed):
            while True:
                await eve.recv(timeout=T)
        assert (eve.close_code, eve.close_reason) == (1008, "removed by the teacher: off topic")
        await _until(lambda: (panel.flush(), len(panel._who.options) == 1)[1], "Eve gone")
        assert repr(panel) == 'ModerationPanel: 1 open connection, 1 muted, "Teacher" locked'

        panel._lock.value = False
        assert not srv.is_locked("Teacher")
        panel._lock.value = True
        assert srv.is_locked("Teacher")

        old = srv.token
        panel._rotate.click()
        assert srv.token != old and srv.token in panel._card.value and "<svg" in panel._card.value
        with pytest.raises(wsdemo.live.client.ConnectionClosed):
            while True:
                await bob.recv(timeout=T)
        assert bob.close_code == 4001
    finally:
        panel.close()
        await asyncio.wait_for(srv.stop(), T)
    assert repr(panel) == "ModerationPanel: the server is stopped"
