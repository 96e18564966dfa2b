"""Every widget in a real browser: JupyterLab 4 and Notebook 7 in Chromium.

The front end runs as a subprocess on 127.0.0.1 (tests/jupyter_servers.py: free
port, random token, temp dirs, windowing off, always shut down); playwright
drives Debian's chromium and runs the notebook with the app's own Run All
command. The page must show the headers, a decoded frame's fields and the
hostile chat text as text, and run nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from jupyter_servers import jupyter, run_all_cells

from .demo_notebook import HOSTILE, RECORDING, build
from .projector_notebook import build as projector_notebook

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

NOTEBOOK = "ui-demo.ipynb"


@pytest.fixture(params=["jupyterlab", "notebook"], ids=["jupyterlab4", "notebook7"])
def front_end(request, tmp_path):
    with jupyter(tmp_path, request.param) as j:
        nbformat.write(build(), j.root / NOTEBOOK)
        yield j


def _keep(tmp_path: Path, *names: str) -> None:
    art = os.environ.get("WSDEMO_ARTIFACTS")
    if art:
        Path(art).mkdir(parents=True, exist_ok=True)
        for n in names:
            shutil.copy(tmp_path / n, Path(art) / n)


async def _options(locator) -> list[str]:
    # ipywidgets' Select shows spaces as no-break spaces
    return [o.replace("\xa0", " ") for o in await locator.locator("select option").all_text_contents()]


async def test_every_widget_renders_in_the_browser(front_end, browser, tmp_path):
    app = front_end.app
    dialogs: list[str] = []
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    page.on("dialog", lambda d: (dialogs.append(d.message), asyncio.ensure_future(d.dismiss())))
    try:
        await page.goto(front_end.notebook_url(NOTEBOOK))
        await page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
        counts = await run_all_cells(page, timeout=150)
        assert len(counts) == len(build().cells)
        out = page.locator(".jp-OutputArea-output", has_text="ALL CELLS DONE")
        await out.wait_for()
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        err_text = "\n".join(await errors.all_text_contents())
        assert "Error" not in err_text, err_text
        await page.locator(".wsdemo-inspector .wsdemo-fields").first.wait_for()

        hs = page.locator(".wsdemo-handshake").first
        hs_text = await hs.text_content()
        assert "Upgrade: websocket" in hs_text and "Sec-WebSocket-Accept" in hs_text
        assert "Sec-Websocket-Key" in hs_text or "Sec-WebSocket-Key" in hs_text
        assert "✓ matches" in hs_text
        # one click opens a header's explanation
        version = hs.locator("details.wsdemo-header", has_text="Sec-WebSocket-Version").first
        await version.locator("summary").click()
        assert await version.get_attribute("open") is not None
        assert "must be 13" in await version.text_content()
        # a long header value wraps inside its column instead of running into the next one
        req_box = await hs.locator(".wsdemo-request").bounding_box()
        for value in await hs.locator(".wsdemo-request .wsdemo-hval").all():
            box = await value.bounding_box()
            assert box["x"] + box["width"] <= req_box["x"] + req_box["width"] + 1, (box, req_box)

        insp = page.locator(".wsdemo-inspector").first
        fields = await insp.locator(".wsdemo-fields").text_content()
        for name in ("FIN", "RSV1", "opcode", "MASK", "payload length", "payload"):
            assert name in fields
        assert "0x1 = TEXT" in fields
        # the hostile chat text: visible literally, nothing created or run
        assert HOSTILE in await insp.locator(".wsdemo-payload-text").first.text_content()
        assert HOSTILE in await page.locator(".wsdemo-composer").first.text_content()
        assert any(HOSTILE in o for o in await _options(insp.locator(".wsdemo-rows")))
        assert await page.locator("img[src='x']").count() == 0
        assert await page.locator(".jp-OutputArea img").count() == 0
        panel = await page.locator(".wsdemo-connections").first.text_content()
        assert "/chat?name=ann" in panel and "● open" in panel
        # the filters work in the page: a text nobody sent leaves a clear message
        await insp.locator("input[placeholder='text in the payload']").fill("no such text")
        await insp.locator(".wsdemo-empty").wait_for()
        assert "No rows match" in await insp.locator(".wsdemo-empty").text_content()
        await insp.locator("input[placeholder='text in the payload']").fill("")

        # the projector view: the same table, in big type
        big = page.locator(".wsdemo-connections.wsdemo-large")
        assert "/chat?name=ann" in await big.text_content()
        assert await big.locator("table").evaluate("t => parseFloat(getComputedStyle(t).fontSize)") >= 20
        # JSON, binary and close through the second composer; a refused hex says why
        c2 = page.locator(".wsdemo-composer").nth(1)
        c2_text = await c2.text_content()
        assert "4000: private use" in c2_text and "'done'" in c2_text
        assert "odd number of hex digits" in c2_text and "01 02 ff" in c2_text

        # recorded conversation, loaded back from its JSON export
        frag, deflated, as_json, closing = (page.locator(".wsdemo-inspector").nth(i) for i in (1, 2, 3, 4))
        assert any("[msg 4, frame 2/2 → message 'Hello']" in o for o in await _options(frag))
        frag_text = await frag.text_content()
        assert "frame 2 of 2" in frag_text and "payload[i] = wire[i] XOR key[i mod 4]" in frag_text
        assert "permessage-deflate (RFC 7692)" in await deflated.text_content()
        assert "bytes inflated" in await deflated.text_content()
        await as_json.get_by_role("tab", name="as JSON").click()
        tree = as_json.locator(".wsdemo-json")
        await tree.wait_for()
        assert "object {3 keys}" in await tree.text_content() and HOSTILE in await tree.text_content()
        assert "Close code 1000 Normal Closure" in await closing.text_content()

        # export makes a download link; loading a recording file replaces what is shown
        await insp.get_by_role("button", name="Export JSON").click()
        link = insp.locator("a[download='wsdemo-recording.json']")
        await link.wait_for()
        assert (await link.get_attribute("href")).startswith("data:application/json;base64,")
        rec_file = tmp_path / "recording.json"
        rec_file.write_text(RECORDING)
        loader = page.locator(".wsdemo-inspector").nth(4)  # 'closing': loads the same again
        async with page.expect_file_chooser() as chooser:  # the widget's own file dialog
            await loader.get_by_role("button", name="Load recording").click()
        await (await chooser.value).set_files(str(rec_file))
        await loader.get_by_text("Loaded recording.json: 1 connection(s)").wait_for()

        shots = [f"{app}-widgets.png", f"{app}-handshake.png", f"{app}-composer.png",
                 f"{app}-fragment.png", f"{app}-deflate-json.png", f"{app}-close-panel.png"]
        for name, target in zip(shots, (insp, hs, page.locator(".wsdemo-composer").first, frag,
                                        as_json, closing)):
            await target.scroll_into_view_if_needed()
            await page.wait_for_timeout(300)
            await page.screenshot(path=str(tmp_path / name))
        for name, target in ((f"{app}-large-panel.png", big), (f"{app}-table.png", insp)):
            await target.evaluate("e => e.scrollIntoView({block: 'start'})")  # its top: titles, filters
            await page.wait_for_timeout(300)
            await page.screenshot(path=str(tmp_path / name))
            shots.append(name)
        assert dialogs == [], dialogs
    finally:
        await page.close()
    assert (tmp_path / shots[0]).stat().st_size > 10_000
    _keep(tmp_path, *shots)


# --------------------------------------------------------------------------- projector

PROJECTOR = "projector.ipynb"


@pytest.fixture
def lab(tmp_path):
    with jupyter(tmp_path, "jupyterlab") as j:
        nbformat.write(projector_notebook(), j.root / PROJECTOR)
        yield j


async def _until_options(rows, pred, what: str, timeout: float = 30.0) -> list[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        opts = await _options(rows)
        if pred(opts):
            return opts
        if loop.time() > deadline:
            raise AssertionError(f"{what}: the table shows {opts}")
        await asyncio.sleep(0.1)


async def _chat(ws, text: str) -> None:
    """Say something in the chat and wait for the room's copy (everyone got it)."""
    await ws.send(text)
    while json.loads(await asyncio.wait_for(ws.recv(), 10)).get("text") != text:
        pass


async def test_pause_filter_and_follow_on_the_projector(lab, browser, tmp_path):
    from websockets.asyncio.client import connect

    dialogs: list[str] = []
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    page.on("dialog", lambda d: (dialogs.append(d.message), asyncio.ensure_future(d.dismiss())))
    try:
        await page.goto(lab.notebook_url(PROJECTOR))
        await page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
        await run_all_cells(page, timeout=150)
        ready = page.locator(".jp-OutputArea-output", has_text="READY")
        await ready.wait_for()
        url = re.search(r"URL=(\S+)", await ready.text_content()).group(1)
        insp = page.locator(".wsdemo-inspector").first
        rows = insp.locator(".wsdemo-rows")
        before = await _until_options(rows, lambda o: any("'hello from ann'" in x for x in o),
                                      "ann's message")

        # pause; a student outside the kernel talks; the table does not move
        await insp.get_by_role("button", name="Pause").click()
        note = insp.locator(".wsdemo-paused")
        await note.wait_for()
        async with connect(url + "?name=cat", ping_interval=None) as cat:  # no pings of its own
            await asyncio.wait_for(cat.recv(), 10)  # the room's join notice
            for i in range(5):
                await _chat(cat, f"while paused {i}")
            # cat's connection: GET, 101, its join, 5 sent, 5 back; ann and odd: 6 each
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while "Paused: 25 new rows" not in (text := await note.text_content()):
                assert loop.time() < deadline, text
                await asyncio.sleep(0.1)
            assert await _options(rows) == before
            await page.screenshot(path=str(tmp_path / "projector-paused.png"))

            # resume: everything recorded meanwhile shows up
            await insp.get_by_role("button", name="Resume").click()
            after = await _until_options(rows, lambda o: len(o) == len(before) + 25, "the catch-up")
            assert after[:len(before)] == before
            assert any("'while paused 4'" in x for x in after)
            assert await note.count() == 0

            # the Who filter: names from the chat, markup shown as text; one student's rows
            who = insp.get_by_label("Who")
            values = await who.locator("option").evaluate_all("os => os.map(o => o.value)")
            assert f"{HOSTILE} (1 connection)" in values, values
            cat_id = next(m.group(1) for v in values if (m := re.fullmatch(r"#(\d+) cat /chat", v)))
            await who.select_option(value="cat (1 connection)")
            only_cat = await _until_options(rows, lambda o: len(o) == 13, "cat's 13 rows")
            assert {re.search(r" #(\d+) ", line).group(1) for line in only_cat} == {cat_id}
            await page.screenshot(path=str(tmp_path / "projector-filtered.png"))

            # follow the latest 5: the table is 5 lines tall, the newest always in view
            await insp.get_by_label("follow the latest").check()
            count = insp.locator("input[type='number']")
            await count.fill("5")
            await count.press("Enter")
            await _until_options(rows, lambda o: o == only_cat[-5:], "the latest 5")
            for i in range(3):
                await _chat(cat, f"followed {i}")
            latest = await _until_options(rows, lambda o: '"text": "followed 2"' in o[-1], "the newest row")
            assert len(latest) == 5
            select = rows.locator("select")
            assert await select.get_attribute("size") == "5"
            assert await select.evaluate("s => s.scrollHeight <= s.clientHeight + 1")

            # the projector panel: who spoke last is on top, under their name
            big = page.locator(".wsdemo-connections.wsdemo-large")
            first = big.locator("tr").nth(1)
            loop_end = loop.time() + 30
            while "cat · " not in (await first.text_content()):
                assert loop.time() < loop_end, await big.text_content()
                await asyncio.sleep(0.1)
            assert HOSTILE in await big.text_content()
        assert await page.locator("img[src='x']").count() == 0
        assert dialogs == [], dialogs
    finally:
        await page.close()
    _keep(tmp_path, "projector-paused.png", "projector-filtered.png")
