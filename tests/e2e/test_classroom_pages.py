"""The teacher's actions from a student's real Chromium page: a kick, a rotated token, the
name "Teacher" and a mute each say why on the page, and the page does not come back on its
own; a server restarted on the same port is rejoined without a reload."""

from __future__ import annotations

import asyncio
import socket

import pytest

import wsdemo

from .conftest import T

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _student(context, srv, page_name: str):
    page = await context.new_page()
    await page.goto(srv.join_url(page_name))
    await page.wait_for_selector("#status[data-state='open']")
    return page


async def _stays_closed(page, srv, ms: int = 1500) -> None:
    """The page waits (past the first reconnection delay) and opens nothing new."""
    opened = len(srv.tap.connections)
    await page.wait_for_timeout(ms)
    assert await page.get_attribute("#status", "data-state") == "closed"
    assert [c for c in srv.tap.connections[opened:] if c.path and "token=" in c.path] == []


async def test_a_student_page_says_why_it_was_kicked_rotated_refused_or_muted(browser):
    srv = await asyncio.wait_for(wsdemo.serve(classroom=True, show_join=False), T)
    context = await browser.new_context(viewport={"width": 360, "height": 640}, is_mobile=True)
    context.set_default_timeout(T * 1000)
    try:
        # Kicked: 1008 and the teacher's reason, and no reconnection.
        kicked = await _student(context, srv, "/chat.html?name=Eve")
        assert srv.kick("Eve", "please stop") == 1
        await kicked.wait_for_selector("#status[data-state='closed']")
        assert await kicked.text_content("#status") == (
            "closed with code 1008 (removed by the teacher: please stop)")
        await _stays_closed(kicked, srv)

        # Muted: the student's own page says so; the room never sees the line.
        muted = await _student(context, srv, "/chat.html?name=Bob")
        other = await _student(context, srv, "/chat.html?name=Ada")
        srv.mute("Bob")
        await muted.locator("#log li", has_text="muted by the teacher").wait_for()
        await muted.fill("#text", "hello?")
        await muted.press("#text", "Enter")
        await other.fill("#text", "from ada")
        await other.press("#text", "Enter")
        await other.locator("#log li", has_text="Ada: from ada").wait_for()
        assert await other.locator("#log li", has_text="hello?").count() == 0
        assert await muted.get_attribute("#status", "data-state") == "open"

        # The name "Teacher" from a student's link: refused, saying why.
        impostor = await context.new_page()
        await impostor.goto(srv.join_url("/chat.html?name=Teacher"))
        await impostor.wait_for_selector("#status[data-state='closed']")
        assert await impostor.text_content("#status") == (
            "closed with code 1008 (the name 'Teacher' is kept for the teacher; rejoin with another name)")
        # ...and from the teacher's own link, accepted.
        teacher = await context.new_page()
        await teacher.goto(srv.teacher_url("/chat.html?name=Teacher"))
        await teacher.wait_for_selector("#status[data-state='open']")

        # A new token: every student page (chat, cursors, ticker) says to rejoin, and stays.
        cursors = await _student(context, srv, "/cursors.html")
        ticker = await _student(context, srv, "/ticker.html")
        srv.rotate_token()
        for page in (muted, other, cursors, ticker):
            await page.wait_for_selector("#status[data-state='closed']")
            assert await page.text_content("#status") == (
                "closed with code 4001 (the join token changed; rejoin with the new link)")
        await _stays_closed(ticker, srv)
        assert await teacher.get_attribute("#status", "data-state") == "open"
        # The old link, opened again, is refused and the page says what to do.
        stale = await context.new_page()
        await stale.goto(srv.join_url("/chat.html?name=Late").replace(srv.token, "x" * len(srv.token)))
        assert "join token is required" in await stale.text_content("body")
    finally:
        await context.close()
        await asyncio.wait_for(srv.stop(), T)


async def test_pages_rejoin_a_server_restarted_on_the_same_port_without_a_reload(browser):
    port = free_port()
    token = "fixed-token-for-the-class"
    srv = await asyncio.wait_for(wsdemo.serve(port=port, classroom=True, token=token,
                                              show_join=False, ticker_interval_ms=100), T)
    context = await browser.new_context(viewport={"width": 360, "height": 640}, is_mobile=True)
    context.set_default_timeout(T * 1000)
    try:
        chat = await _student(context, srv, "/chat.html?name=Ada")
        ticker = await _student(context, srv, "/ticker.html")
        cursors = await _student(context, srv, "/cursors.html")
        await chat.evaluate("window.wsdemoLoaded = true")  # gone if the page reloads
        await asyncio.wait_for(srv.stop(), T)
        for page in (chat, ticker, cursors):
            await page.wait_for_selector("#status[data-state='closed']")
            assert "trying again" in await page.text_content("#status")
        await chat.wait_for_timeout(1500)  # at least one try fails while the server is down
        srv = await asyncio.wait_for(wsdemo.serve(port=port, classroom=True, token=token,
                                                  show_join=False, ticker_interval_ms=100), T)
        for page in (chat, ticker, cursors):
            await page.wait_for_selector("#status[data-state='open']", timeout=45_000)
        assert await chat.evaluate("window.wsdemoLoaded") is True
        await chat.fill("#text", "back again")
        await chat.press("#text", "Enter")
        await chat.locator("#log li", has_text="Ada: back again").wait_for()
        seq = await ticker.text_content("#seq")
        await ticker.wait_for_function("(s) => document.getElementById('seq').textContent !== s", arg=seq)

        # A restart with a new token: the page learns its link is refused, and says so.
        await asyncio.wait_for(srv.stop(), T)
        srv = await asyncio.wait_for(wsdemo.serve(port=port, classroom=True, show_join=False), T)
        await chat.wait_for_function(
            "() => document.getElementById('status').textContent.includes('the join link was refused')",
            timeout=45_000)
        assert await chat.get_attribute("#status", "data-state") == "closed"
    finally:
        await context.close()
        await asyncio.wait_for(srv.stop(), T)


async def test_a_page_that_closes_its_own_socket_does_not_come_back(browser):
    srv = await asyncio.wait_for(wsdemo.serve(), T)
    page = await browser.new_page()
    page.set_default_timeout(T * 1000)
    try:
        await page.goto(srv.http_url("/chat.html?name=Ada"))
        await page.wait_for_selector("#status[data-state='open']")
        await page.evaluate("ws.close(1000, 'leaving')")
        await page.wait_for_selector("#status[data-state='closed']")
        await page.wait_for_timeout(1500)
        assert await page.text_content("#status") == "closed with code 1000 (normal closure)"
        assert len([c for c in srv.tap.connections if c.path and c.path.startswith("/chat?")]) == 1
    finally:
        await page.close()
        await asyncio.wait_for(srv.stop(), T)
