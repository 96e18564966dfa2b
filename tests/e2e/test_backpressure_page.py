"""bufferedAmount in a real Chromium: behind a 200 kbps upload line (the tap's network
conditions) a page that keeps sending sees ws.bufferedAmount grow, and once it stops, drain
back to 0 as the line takes the bytes. assets/backpressure.html lists every sample as text."""

from __future__ import annotations

import asyncio
import re

import pytest

import wsdemo

from .conftest import T

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

HIGH_KIB = 256
DRAIN_MS = 180_000  # at 25 kB/s, the tap's 1 MiB and the kernel's buffers: about a minute here


async def test_buffered_amount_grows_behind_a_slow_line_then_drains_to_zero(browser):
    srv = await asyncio.wait_for(wsdemo.serve(name="backpressure-page"), T)
    page = await browser.new_page()
    page.set_default_timeout(T * 1000)
    try:
        await page.goto(srv.http_url("/backpressure.html?every=250"))  # 150 s of samples kept
        await page.wait_for_selector("#fill-button:not([disabled])")
        srv.tap.network = wsdemo.Network(up_kbps=200)
        await page.fill("#high", str(HIGH_KIB))
        await page.fill("#most", "64")
        await page.click("#fill-button")
        await page.wait_for_selector("#phase[data-phase='draining']", timeout=60_000)
        # The page stopped because bufferedAmount reached the mark, not at its 64 MiB cap...
        assert await page.text_content("#phase") == "draining"
        peak = int(await page.text_content("#peak"))
        assert peak >= HIGH_KIB * 1024
        sent = int(await page.text_content("#sent"))
        assert sent < 64 << 20
        # ...while the tap holds bytes back for the slow line.
        assert srv.tap.held > 0

        await page.wait_for_selector("#phase[data-phase='drained']", timeout=DRAIN_MS)
        assert await page.text_content("#buffered") == "0"
        samples = await page.locator("#samples li").all_text_contents()
        values = [int(re.fullmatch(r"\d+\.\d s: (\d+) bytes", s).group(1)) for s in samples]
        assert max(values) == peak and values[-1] == 0
        # Once the page stopped sending, the buffer only went down.
        top = values.index(peak)
        assert all(a >= b for a, b in zip(values[top:], values[top + 1:]))
    finally:
        await page.close()
        await asyncio.wait_for(srv.stop(), T)
