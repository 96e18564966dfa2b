"""JupyterLab in Chromium runs a notebook whose inspector watches *the browser's own* page.

The notebook starts the live lab and waits (bounded) for a chat page to connect;
the test opens that page in a second tab of the same Chromium and sends a
message. The HandshakeView and FrameInspector in the notebook must then show
that page's handshake — Chromium's User-Agent and its permessage-deflate offer
— and its frames. (tests/ui/test_browser.py covers every widget with a kernel
client; this test is about a real browser page on the wire.)
"""

from __future__ import annotations

import re

import nbformat
import pytest

from jupyter_servers import run_all_cells

from .conftest import T, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

NOTEBOOK = "browser-on-the-wire.ipynb"
MESSAGE = "hi from the page"

CELLS = [
    "import asyncio\n"
    "import wsdemo\n"
    "from wsdemo import wire\n"
    "from wsdemo.ui import FrameInspector, HandshakeView\n"
    "server = await asyncio.wait_for(wsdemo.serve(), 20)\n"
    "print('PAGE', server.http_url('/chat.html?name=chromium'))",
    "everything = FrameInspector(server.tap)\neverything",
    # Wait for the browser's chat WebSocket and its first text message (bounded).
    "def is_browser_chat(c):\n"
    "    c.flush()\n"
    "    ua = c.request.headers.get('User-Agent') if c.request is not None else None\n"
    "    return bool(c.path and c.path.startswith('/chat?') and ua and 'Chrome' in ua and any(\n"
    "        isinstance(e, wire.MessageEvent) and e.sender == 'client' and e.message.kind == 'text'\n"
    "        for e in c.events))\n"
    "async def browser_connection():\n"
    "    while True:\n"
    "        for c in list(server.tap.connections):\n"
    "            if is_browser_chat(c):\n"
    "                return c\n"
    "        await asyncio.sleep(0.1)\n"
    "conn = await asyncio.wait_for(browser_connection(), 120)",
    "hv = HandshakeView(conn)\nhv",
    "insp = FrameInspector(conn)\n"
    "insp.set_filter(direction='client')  # the page's own frames: masked, as RFC 6455 asks\n"
    "insp.select('text')\n"
    "insp",
    "assert 'permessage-deflate' in conn.request.headers.get('Sec-WebSocket-Extensions')\n"
    f"assert {MESSAGE!r} in insp.selected.message.text\n"
    "print(repr(insp))\n"
    "print('BROWSER CELLS DONE')",
]


def _notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    return nb


async def test_inspector_in_jupyterlab_shows_the_browser_pages_own_handshake(
        jupyterlab, browser, tmp_path):
    import asyncio

    lab = jupyterlab
    nbformat.write(_notebook(), lab["root"] / NOTEBOOK)
    context = await browser.new_context(viewport={"width": 1400, "height": 1100})
    context.set_default_timeout(90_000)
    dialogs: list[str] = []
    run_all = None
    try:
        page = await context.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), asyncio.ensure_future(d.dismiss())))
        await page.goto(f"{lab['base']}lab/tree/{NOTEBOOK}?token={lab['token']}")
        await page.wait_for_selector(".jp-Notebook .jp-Cell")
        # Run All in the background: cell 2 waits for the chat page opened below.
        run_all = asyncio.ensure_future(run_all_cells(page, timeout=150))

        # The first cell prints the page's address; open it in a second tab and talk.
        out = page.locator(".jp-OutputArea-output", has_text="PAGE http://").first
        await out.wait_for(timeout=60_000)
        url = re.search(r"PAGE (http://\S+)", await out.text_content()).group(1)
        chat = await context.new_page()
        await chat.goto(url)
        await chat.wait_for_selector("#status[data-state='open']", timeout=T * 1000)
        await chat.fill("#text", MESSAGE)
        await chat.click("#send-button")
        await chat.locator("#log li", has_text=MESSAGE).wait_for(timeout=T * 1000)
        user_agent = await chat.evaluate("navigator.userAgent")

        await asyncio.wait_for(run_all, 160)
        await page.locator(".jp-OutputArea-output", has_text="BROWSER CELLS DONE").wait_for()
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        err_text = "\n".join(await errors.all_text_contents())
        assert "Error" not in err_text, err_text

        hs = page.locator(".wsdemo-handshake").first
        await hs.wait_for()
        hs_text = await hs.text_content()
        assert user_agent in hs_text  # Chromium's own User-Agent, read off the wire
        assert "permessage-deflate" in hs_text and "client_max_window_bits" in hs_text
        assert "offered by the client" in hs_text
        insp = page.locator(".wsdemo-inspector").last
        await insp.locator(".wsdemo-fields").wait_for()
        fields = await insp.locator(".wsdemo-fields").text_content()
        assert "MASK" in fields and "0x1 = TEXT" in fields and "masking key" in fields
        assert MESSAGE in await insp.locator(".wsdemo-payload-text").first.text_content()
        options = [o.replace("\xa0", " ") for o in
                   await insp.locator(".wsdemo-rows select option").all_text_contents()]
        assert any(MESSAGE in o for o in options), options
        # the inspector over the whole tap, created before the page came, filled in live
        everything = page.locator(".wsdemo-inspector").first
        all_options = [o.replace("\xa0", " ") for o in
                       await everything.locator(".wsdemo-rows select option").all_text_contents()]
        assert any("GET /chat?name=chromium" in o for o in all_options), all_options[:20]

        await insp.scroll_into_view_if_needed()
        await page.wait_for_timeout(300)
        await screenshot(page, tmp_path, "jupyterlab-browser-inspector.png")
        await hs.scroll_into_view_if_needed()
        await screenshot(page, tmp_path, "jupyterlab-browser-handshake.png")
        assert dialogs == [], dialogs
        await chat.close()
    finally:
        if run_all is not None and not run_all.done():
            run_all.cancel()
        await context.close()
