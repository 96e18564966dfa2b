"""The classroom dashboard: built from its source, and rendered by Voilà as a live page.

Voilà runs as a subprocess on 127.0.0.1 (free port, token, temp Jupyter dirs).
Chromium opens the dashboard; the test reads the join URL off the page (its
port and token), then a student joins with the join link in a second Chromium
page and a websockets client joins too: their connections and frames must
appear on the dashboard while it is open.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import urllib.parse

import pytest
from websockets.asyncio.client import connect

import jupyter_servers

from .conftest import ROOT, T, screenshot

NOTEBOOK = ROOT / "notebooks" / "classroom-dashboard.ipynb"
SOURCE = ROOT / "notebooks" / "classroom-dashboard.py"


def _build_notebooks():
    spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "scripts" / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_notebooks", module)
    spec.loader.exec_module(module)
    return module


def test_dashboard_notebook_matches_its_source():
    problems = _build_notebooks().check(SOURCE)
    assert problems == [], "\n".join(problems)


@pytest.fixture
def voila(tmp_path):
    # tests/jupyter_servers.py: loopback, free port, token, temp Jupyter dirs, always stopped
    with jupyter_servers.voila(tmp_path, NOTEBOOK) as v:
        yield v


@pytest.mark.browser
@pytest.mark.timeout(180)
async def test_voila_dashboard_renders_and_updates_live(voila, browser, tmp_path):
    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(60_000)
    try:
        page = await context.new_page()
        await page.goto(f"{voila['base']}?token={voila['token']}")
        join = page.locator(".wsdemo-join-url")
        await join.wait_for()
        url = (await join.text_content()).strip()
        m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/chat\.html\?token=([\w-]+)", url)
        assert m, url
        port, token = int(m.group(1)), m.group(2)
        assert await page.locator(".wsdemo-join-qr svg").count() == 1
        panel = page.locator(".wsdemo-connections.wsdemo-large")
        await panel.wait_for()
        await page.locator(".wsdemo-inspector").wait_for()
        context.set_default_timeout(T * 1000)

        # A student opens the join link (a real browser), and says something.
        student = await context.new_page()
        await student.goto(url + "&name=Ada")
        await student.wait_for_selector("#status[data-state='open']")
        await student.fill("#text", "hello, projector")
        await student.click("#send-button")
        await student.locator("#log li", has_text="hello, projector").wait_for()
        # Another joins with a plain WebSocket client (no token: refused; with it: in).
        q = urllib.parse.urlencode({"name": "Grace", "token": token})
        async with connect(f"ws://127.0.0.1:{port}/chat?{q}", open_timeout=T, compression=None) as ws:
            await ws.send(json.dumps({"text": "frames appear live"}))
            while json.loads(await ws.recv()).get("text") != "frames appear live":
                pass

            # The dashboard shows both connections and the frames, while it stays open.
            await panel.locator("td", has_text="name=Ada").first.wait_for()
            await panel.locator("td", has_text="name=Grace").first.wait_for()
            options = page.locator(".wsdemo-inspector .wsdemo-rows select option")
            # (ipywidgets' Select shows spaces as no-break spaces)
            await page.wait_for_function(
                "() => [...document.querySelectorAll('.wsdemo-inspector .wsdemo-rows option')]"
                ".some(o => o.textContent.replace(/\\u00a0/g, ' ').includes('frames appear live'))")
            texts = " ".join(await options.all_text_contents()).replace("\xa0", " ")
            assert "hello, projector" in texts
            # Voilà scrolls inside its own container: a tall viewport shows the whole dashboard.
            await page.set_viewport_size({"width": 1280, "height": 2000})
            await page.wait_for_timeout(300)
            shot = await screenshot(page, tmp_path, "classroom-dashboard.png")
            assert shot.stat().st_size > 10_000
        # Grace leaves: the panel shows it, live.
        await panel.locator("tr", has_text="name=Grace").filter(has_text="closed").wait_for()
        await student.close()
    finally:
        await context.close()
