"""Real Chromium pages against the live lab: ten chat pages at once, the cursors and
ticker pages, each showing its connection state."""

from __future__ import annotations

import asyncio
import json
import urllib.parse

import pytest

import wsdemo
from wsdemo import wire

from .conftest import T, free_port, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
PAGES = 10


@pytest.fixture
async def server():
    srv = await asyncio.wait_for(wsdemo.serve(ticker_interval_ms=100), T)
    yield srv
    await asyncio.wait_for(srv.stop(), T)


async def test_ten_chat_pages_each_get_every_message(server, browser, tmp_path):
    context = await browser.new_context(viewport={"width": 480, "height": 800})
    context.set_default_timeout(T * 1000)
    try:
        pages = []
        for i in range(PAGES):
            page = await context.new_page()
            await page.goto(server.http_url(f"/chat.html?name=page{i}"))
            pages.append(page)
        await asyncio.gather(*(p.wait_for_selector("#status[data-state='open']") for p in pages))
        # Everyone is in the room before anyone talks (join notices arrive in order).
        await asyncio.gather(*(p.wait_for_function(
            f"() => document.getElementById('users').textContent.split(', ').length === {PAGES}")
            for p in pages))

        async def say(i, page):
            await page.fill("#text", f"hello <i>{i}</i> from page{i}")
            await page.press("#text", "Enter")  # the form submits on Enter, as on a phone

        await asyncio.gather(*(say(i, p) for i, p in enumerate(pages)))
        expected = sorted(f"page{i}: hello <i>{i}</i> from page{i}" for i in range(PAGES))
        for page in pages:
            await page.wait_for_function(
                "(n) => [...document.querySelectorAll('#log li')]"
                ".filter(li => li.querySelector('.name')).length >= n", arg=PAGES)
            lines = await page.locator("#log li:has(.name)").all_text_contents()
            assert sorted(lines) == expected
            assert await page.locator("#log i").count() == 0  # text, not markup
        shot = await screenshot(pages[3], tmp_path, "chat-ten-pages.png")
        assert shot.stat().st_size > 5_000

        # The tap decoded every page's handshake and message.
        chats = [c for c in server.tap.connections if c.path and c.path.startswith("/chat?name=page")]
        assert len(chats) == PAGES
        for conn in chats:
            conn.flush()
            assert "Chrome" in conn.request.headers.get("User-Agent")
            said = [json.loads(e.message.text) for e in conn.events if isinstance(e, wire.MessageEvent)
                    and e.sender == "client" and e.message.kind == "text"]
            i = conn.path.split("page")[1]
            assert said == [{"text": f"hello <i>{i}</i> from page{i}"}]
            got = [e for e in conn.events if isinstance(e, wire.MessageEvent)
                   and e.sender == "server" and '"type": "message"' in (e.message.text or "")]
            assert len(got) == PAGES

        # One page leaves: its status says closed with the code, the others see it go.
        await pages[0].evaluate("ws.close(1000, 'bye')")
        await pages[0].wait_for_selector("#status[data-state='closed']")
        # the close event carries the code and reason the server answered with
        assert (await pages[0].text_content("#status")).startswith("closed with code 1000")
        await pages[1].locator("#log li", has_text="page0 left").wait_for()
    finally:
        await context.close()


async def test_cursors_page_moves_for_everyone_with_mouse_touch_and_keys(server, browser, tmp_path):
    context = await browser.new_context(viewport={"width": 400, "height": 700}, has_touch=True)
    context.set_default_timeout(T * 1000)
    try:
        watcher = await server.connect("/cursors?name=kernel")
        hello = json.loads(await watcher.recv(timeout=T))
        assert hello["type"] == "hello"
        page = await context.new_page()
        await page.goto(server.http_url("/cursors.html?name=phone"))
        await page.wait_for_selector("#status[data-state='open']")
        box = await page.locator("#canvas").bounding_box()

        async def next_move():
            # The phone's latest position in the next tick that carries one.
            while True:
                event = json.loads(await watcher.recv(timeout=T))
                moves = [m for m in event.get("moves", ()) if m["name"] == "phone"]
                if event["type"] == "moves" and moves:
                    return moves[-1]

        await page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.75)
        move = await next_move()
        assert move["name"] == "phone" and abs(move["x"] - 0.25) < 0.02 and abs(move["y"] - 0.75) < 0.02
        # A finger on a phone: a touch at the centre.
        await page.touchscreen.tap(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        move = await next_move()
        assert abs(move["x"] - 0.5) < 0.02 and abs(move["y"] - 0.5) < 0.02
        # The keyboard: focus the canvas and press the right arrow.
        await page.focus("#canvas")
        await page.keyboard.press("ArrowRight")
        move = await next_move()
        assert abs(move["x"] - 0.52) < 0.02

        await watcher.send_json({"x": 0.8, "y": 0.2})
        await page.locator("#log li", has_text="kernel is here").wait_for()
        await screenshot(page, tmp_path, "cursors.png")
        await watcher.close()
        await page.locator("#log li", has_text="kernel left").wait_for()
    finally:
        await context.close()


async def test_ticker_page_shows_pushed_prices_and_a_closed_state(server, browser, tmp_path):
    page = await browser.new_page()
    page.set_default_timeout(T * 1000)
    try:
        await page.goto(server.http_url("/ticker.html"))
        await page.wait_for_selector("#status[data-state='open']")
        await page.wait_for_function("() => document.querySelectorAll('#log li').length >= 3")
        seq = int(await page.text_content("#seq"))
        assert seq >= 3 and float(await page.text_content("#price")) > 0
        await screenshot(page, tmp_path, "ticker.png")
        await server.stop()  # the server going away is a close the page must show
        await page.wait_for_selector("#status[data-state='closed']")
        assert "1001" in await page.text_content("#status")
    finally:
        await page.close()


async def test_sse_page_shows_ticks_and_resumes_with_last_event_id(browser, tmp_path):
    server = await asyncio.wait_for(wsdemo.serve(ticker_interval_ms=100, classroom=True, show_join=False), T)
    page = await browser.new_page()
    page.set_default_timeout(T * 1000)
    try:
        await page.goto(server.join_url("/sse.html?retry=50"))  # the token comes with the link
        await page.wait_for_selector("#status[data-state='open']")
        await page.wait_for_function("() => document.querySelectorAll('#log li').length >= 3")
        # read together: a new update may land between two separate reads
        seq, price, last_id = await page.evaluate(
            "() => ['seq', 'price', 'last-id'].map(id => document.getElementById(id).textContent)")
        assert int(seq) >= 3 and float(price) > 0 and last_id == seq
        await screenshot(page, tmp_path, "sse.png")
        # Every update the page gets from here on (the log shows only the last 20).
        await page.evaluate(_WATCH_SEQ_JS)
        await page.wait_for_function("() => window.seen.length >= 2")
        # The server ends the stream: the page opens a new one, saying where it was.
        for stream in list(server.app_state.streams):
            stream.end("going away for a moment")
        await page.wait_for_function("() => document.getElementById('reconnects').textContent === '1'")
        assert await page.text_content("#attempts") == "1"
        before = await page.evaluate("() => window.seen.length")
        await page.wait_for_function(f"() => window.seen.length >= {before + 5}")
        shown = await page.evaluate("() => window.seen")
        assert shown == list(range(shown[0], shown[0] + len(shown)))  # no gap, no duplicate
        asked = _sse_requests(server)
        assert len(asked) == 2 and all("token=*" in r.target for r in asked)
        assert "since" not in _query(asked[0]) and "Last-Event-ID" not in asked[0].headers
        # A new EventSource cannot send Last-Event-ID: the page says where it was with ?since=.
        resumed = int(_query(asked[1])["since"][0])
        assert resumed in shown and resumed + 1 in shown
        assert sum(isinstance(e, wire.SseEvent) for c in server.tap.connections for e in c.events) > 10
        # Text, never markup: an update's fields are shown as sent.
        server.app_state.feed.symbol = "<i>X</i>"
        await page.wait_for_function("() => document.getElementById('symbol').textContent === '<i>X</i>'")
        assert await page.locator("#symbol i").count() == 0
        await server.stop()  # the page keeps retrying: it says so
        await page.wait_for_selector("#status[data-state='reconnecting']")
        assert "attempt 1: " in await page.text_content("#status")
    finally:
        await page.close()
        await asyncio.wait_for(server.stop(), T)


# Every sequence number the page shows, in order (#seq changes once per update; the log
# keeps only the last 20).
_WATCH_SEQ_JS = """() => {
  window.seen = [];
  new MutationObserver((records) => { for (const r of records) for (const n of r.addedNodes)
    window.seen.push(Number(n.textContent)); }).observe(document.getElementById('seq'), {childList: true});
}"""


def _sse_requests(server) -> list:
    """The requests for /sse the tap saw, in order (a browser may send several on one connection)."""
    return [e.request for c in server.tap.connections for e in c.events
            if isinstance(e, wire.HttpRequest) and e.request.target.split("?")[0] == "/sse"]


def _query(request) -> dict:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(request.target).query)


async def test_sse_page_comes_back_after_a_restart_with_backoff_and_no_duplicate(browser):
    port = free_port()
    srv = await asyncio.wait_for(wsdemo.serve(port=port, ticker_interval_ms=100), T)
    page = await browser.new_page()
    page.set_default_timeout(T * 1000)
    try:
        await page.goto(srv.http_url("/sse.html"))
        await page.wait_for_selector("#status[data-state='open']")
        await page.evaluate("window.wsdemoLoaded = true")  # gone if the page reloads
        await page.evaluate(_WATCH_SEQ_JS)
        await page.wait_for_function("() => window.seen.length >= 3")
        old_feed = srv.app_state.feed
        await asyncio.wait_for(srv.stop(), T)  # ends the stream cleanly: the page must come back
        await page.wait_for_selector("#status[data-state='reconnecting']")
        assert "trying again in" in await page.text_content("#status")
        # At least one try fails while the server is down (the status names the next attempt).
        await page.wait_for_function("() => Number(document.getElementById('attempts').textContent) >= 2",
                                     timeout=45_000)
        srv = await asyncio.wait_for(wsdemo.serve(port=port, ticker_interval_ms=100), T)
        # The restarted server goes on with the old numbering, as one taking over a feed does
        # (Feed.accept): so ?since= can resume exactly where the page was.
        for update in old_feed.history:
            srv.app_state.feed.accept(update)
        await page.wait_for_selector("#status[data-state='open']", timeout=45_000)
        assert await page.evaluate("window.wsdemoLoaded") is True
        assert await page.text_content("#reconnects") == "1"
        before = await page.evaluate("() => window.seen.length")
        await page.wait_for_function(f"() => window.seen.length >= {before + 3}")
        shown = await page.evaluate("() => window.seen")
        assert shown == list(range(shown[0], shown[0] + len(shown)))  # no gap, no duplicate
        asked = _sse_requests(srv)  # the new server's tap: the request that came back
        assert len(asked) == 1 and int(_query(asked[0])["since"][0]) in shown
    finally:
        await page.close()
        await asyncio.wait_for(srv.stop(), T)


@pytest.mark.parametrize("how", ["bad-query", "token-changed"])
async def test_sse_page_never_retries_a_refused_stream(browser, how):
    port = free_port()
    srv = await asyncio.wait_for(wsdemo.serve(port=port, classroom=True, token="fixed-token-for-the-class",
                                              show_join=False, ticker_interval_ms=100), T)
    page = await browser.new_page()
    page.set_default_timeout(T * 1000)
    try:
        if how == "bad-query":  # /sse answers 400 (interval out of range) before ever opening
            await page.goto(srv.join_url("/sse.html?interval=1"))
            expected = "the server refused the stream"
        else:  # open, then the server restarts with another token: the link is refused (403)
            await page.goto(srv.join_url("/sse.html"))
            await page.wait_for_selector("#status[data-state='open']")
            await asyncio.wait_for(srv.stop(), T)
            srv = await asyncio.wait_for(wsdemo.serve(port=port, classroom=True, show_join=False), T)
            expected = "the join link was refused"
        await page.wait_for_selector("#status[data-state='refused']", timeout=45_000)
        assert expected in await page.text_content("#status")
        tries = await page.text_content("#attempts")
        asked = len(_sse_requests(srv))
        assert asked == 1 or how == "token-changed"  # tries while the server was down reach no tap
        await page.wait_for_timeout(2500)  # past the wait before a first retry (at most 1.2 s)
        assert len(_sse_requests(srv)) == asked
        assert await page.text_content("#attempts") == tries
        assert await page.get_attribute("#status", "data-state") == "refused"
        if how == "bad-query":
            assert tries == "0" and await page.text_content("#reconnects") == "0"
    finally:
        await page.close()
        await asyncio.wait_for(srv.stop(), T)


# Contrast ratio per WCAG 2.x, computed in the page from the rendered colours.
_CONTRAST_JS = """(el) => {
  const rgb = (s) => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => { const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  let bgEl = el, bg = getComputedStyle(el).backgroundColor;
  while (bg === "rgba(0, 0, 0, 0)" && bgEl.parentElement) { bgEl = bgEl.parentElement; bg = getComputedStyle(bgEl).backgroundColor; }
  if (bg === "rgba(0, 0, 0, 0)") bg = "rgb(255, 255, 255)";
  const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(rgb(bg))];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


@pytest.mark.parametrize("page_name", ["chat.html?name=a11y", "cursors.html", "ticker.html", "sse.html",
                                       "backpressure.html"])
async def test_pages_are_labelled_phone_sized_and_readable(server, browser, page_name):
    context = await browser.new_context(viewport={"width": 360, "height": 640}, is_mobile=True,
                                        has_touch=True)
    try:
        page = await context.new_page()
        page.set_default_timeout(T * 1000)
        await page.goto(server.http_url("/" + page_name))
        assert "width=device-width" in await page.get_attribute("meta[name=viewport]", "content")
        status = page.get_by_role("status")
        await expect_text(status, "open")
        # Every control has an accessible name (a label, aria-label or its text).
        unnamed = await page.evaluate("""() => [...document.querySelectorAll('input, button, canvas[tabindex]')]
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
            .map(e => e.id)""")
        assert unnamed == []
        # Nothing wider than a phone, and text with enough contrast (WCAG AA: 4.5).
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360
        for sel in ["h1", "#status", "p", "#log li"]:
            for el in await page.locator(sel).element_handles():
                assert await el.evaluate(_CONTRAST_JS) >= 4.5, sel
    finally:
        await context.close()


async def expect_text(locator, text: str) -> None:
    from playwright.async_api import expect

    await expect(locator).to_have_text(text, timeout=T * 1000)


async def test_chat_rejoin_stays_open_and_a_refused_page_says_why(browser):
    # Rejoining closes the old socket; its late close event must not mark the new one closed.
    srv = await asyncio.wait_for(wsdemo.serve(max_connections=2, ticker_interval_ms=40), T)
    context = await browser.new_context(viewport={"width": 360, "height": 640}, is_mobile=True)
    context.set_default_timeout(T * 1000)
    try:
        page = await context.new_page()
        await page.goto(srv.http_url("/chat.html?name=Ada"))
        await page.wait_for_selector("#status[data-state='open']")
        await page.fill("#name", "Ada2")
        await page.click("#join-button")
        await page.locator("#log li", has_text="Ada2 joined").wait_for()
        for _ in range(int(T * 20)):  # the server saw the old socket go...
            if sorted(srv.app_state.chat.values()) == ["Ada2"]:
                break
            await asyncio.sleep(0.05)
        assert sorted(srv.app_state.chat.values()) == ["Ada2"]
        await page.wait_for_timeout(200)  # ...and the page got its close event
        assert await page.get_attribute("#status", "data-state") == "open"
        assert not await page.is_disabled("#text")
        await page.fill("#text", "after the rejoin")
        await page.press("#text", "Enter")
        await page.locator("#log li", has_text="Ada2: after the rejoin").wait_for()
        assert await page.evaluate("window.scrollY") == 0  # new lines never scroll the page
        await page.close()
        # The ticker's list runs below the fold on a phone: new prices must not pull the page
        # down while someone reads the price at the top.
        ticker = await context.new_page()
        await ticker.goto(srv.http_url("/ticker.html"))
        await ticker.wait_for_function("() => document.querySelectorAll('#log li').length >= 15")
        assert await ticker.evaluate("window.scrollY") == 0
        log_box = await ticker.evaluate("(() => { const l = document.getElementById('log');"
                                        " return [l.scrollTop, l.scrollHeight, l.clientHeight]; })()")
        assert log_box[1] <= log_box[2] or log_box[0] > 0  # the list follows its newest line
        await ticker.close()

        # The room is full (the cap is 2): the browser gets 503, reported as 1006 with a hint.
        for _ in range(int(T * 20)):  # the pages' sockets are gone
            if not srv.app_state.sockets:
                break
            await asyncio.sleep(0.05)
        others = [await srv.connect("/echo") for _ in range(2)]
        full = await context.new_page()
        await full.goto(srv.http_url("/chat.html?name=late"))
        await full.wait_for_selector("#status[data-state='closed']")
        assert await full.text_content("#status") == (
            "closed with code 1006 (no close frame: refused or connection lost; is the link complete?)")
        for other in others:
            await other.close()
    finally:
        await context.close()
        await asyncio.wait_for(srv.stop(), T)
