"""Cross-site WebSocket hijacking in a real Chromium: a victim who joined the class (the join
link set the wsdemo_token cookie) visits a page of another origin (wsdemo.live.hijack's attacker
page, another loopback port). The browser sends the lab's cookie with that page's handshake;
the lab's Origin check is what refuses it. With the check off (a throwaway loopback server)
the page reads the room's chat and speaks in it."""

from __future__ import annotations

import asyncio

import pytest

import wsdemo
from wsdemo.live import hijack

from .conftest import T

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

SECRET = "the exam is on Friday"


async def _victim_joins(context, srv):
    """The victim opens the join link (the cookie is set) and chats; a classmate reads."""
    victim = await context.new_page()
    await victim.goto(srv.join_url("/chat.html?name=victim"))
    await victim.wait_for_selector("#status[data-state='open']")
    return victim


async def _say(page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")
    await page.locator("#log li", has_text=text).wait_for()


async def _lab(**kw):
    return await asyncio.wait_for(wsdemo.serve(classroom=True, show_join=False, **kw), T)


async def test_origin_check_refuses_the_other_origin_though_the_cookie_was_sent(browser):
    srv = await _lab()
    context = await browser.new_context()
    context.set_default_timeout(T * 1000)
    try:
        victim = await _victim_joins(context, srv)
        cookies = await context.cookies(srv.http_url("/"))
        assert [(c["name"], c["sameSite"], c["httpOnly"]) for c in cookies] == [
            ("wsdemo_token", "Strict", True)]
        page = await hijack.start_attacker_page(srv)
        assert page.origin != srv.http_url("/").rstrip("/")  # another port: another origin
        attacker = await context.new_page()
        await attacker.goto(page.url)
        await attacker.wait_for_selector("#status[data-state='refused']")
        await _say(victim, SECRET)
        await attacker.wait_for_timeout(300)  # anything that leaked would have arrived by now
        assert await attacker.locator("#log li").count() == 0

        # What the lab saw: the page's Origin, the cookie (127.0.0.1:other is the same site,
        # so SameSite=Strict does not hold it back), and its 403 naming the rule.
        (attempt,) = page.attempts()
        assert attempt.request.headers.get("Cookie")  # sent (its value masked by the tap)
        assert "token=" not in attempt.request.target
        assert attempt.response.status == 403
        assert f"Origin '{page.origin}' is not this server's" in _body(attempt)
        assert "mallory" not in srv.app_state.chat.values()
    finally:
        await context.close()
        await asyncio.wait_for(srv.stop(), T)
    assert page._http is None  # the attacker page stopped with the lab


async def test_without_the_origin_check_the_other_origin_reads_and_speaks_as_the_victim(browser):
    srv = await _lab(check_origin=False, name="throwaway")
    context = await browser.new_context()
    context.set_default_timeout(T * 1000)
    try:
        victim = await _victim_joins(context, srv)
        page = await hijack.start_attacker_page(srv, say="sent by the attacker page")
        attacker = await context.new_page()
        await attacker.goto(page.url)
        await attacker.wait_for_selector("#status[data-state='open']")
        # The victim's cookie admitted it: no token in its URL.
        (attempt,) = page.attempts()
        assert attempt.response.status == 101 and attempt.request.headers.get("Cookie")
        assert "token=" not in attempt.request.target
        await _say(victim, SECRET)
        await attacker.locator("#log li", has_text=SECRET).wait_for()
        await victim.locator("#log li", has_text="mallory: sent by the attacker page").wait_for()
    finally:
        await context.close()
        await asyncio.wait_for(srv.stop(), T)


async def test_localhost_is_another_site_so_the_strict_cookie_stays_home(browser):
    srv = await _lab(check_origin=False, name="throwaway")
    context = await browser.new_context()
    context.set_default_timeout(T * 1000)
    try:
        await _victim_joins(context, srv)
        page = await hijack.start_attacker_page(srv, host="localhost")
        attacker = await context.new_page()
        await attacker.goto(page.url)
        await attacker.wait_for_selector("#status[data-state='refused']")
        (attempt,) = page.attempts()
        assert attempt.request.headers.get("Cookie") is None
        assert attempt.response.status == 403
        assert "join token is required" in _body(attempt)
    finally:
        await context.close()
        await asyncio.wait_for(srv.stop(), T)


def _body(conn) -> str:
    """The text of the lab's refusal as the tap recorded it (after the head)."""
    data = b"".join(d for sender, _, d in conn.chunks if sender == "server")
    return data.partition(b"\r\n\r\n")[2].decode("utf-8", "replace")


async def test_the_teachers_cookie_lets_the_other_origin_speak_as_teacher(browser):
    # What a cookie unlocks is what it is worth: the teacher's link sets the teacher's token,
    # the only one that may use the name "Teacher".
    srv = await _lab(check_origin=False, name="throwaway")
    context = await browser.new_context()
    context.set_default_timeout(T * 1000)
    try:
        teacher = await context.new_page()
        await teacher.goto(srv.teacher_url("/chat.html?name=Ada"))
        await teacher.wait_for_selector("#status[data-state='open']")
        page = await hijack.start_attacker_page(srv, "/chat?name=Teacher", say="the exam is cancelled")
        attacker = await context.new_page()
        await attacker.goto(page.url)
        await attacker.wait_for_selector("#status[data-state='open']")
        await teacher.locator("#log li", has_text="Teacher: the exam is cancelled").wait_for()
        assert "Teacher" in srv.app_state.chat.values()
        # The same page with the Origin check on: refused before the name is looked at.
        lab = await _lab(name="checked")
        try:
            await teacher.goto(lab.teacher_url("/chat.html?name=Ada"))
            await teacher.wait_for_selector("#status[data-state='open']")
            checked = await hijack.start_attacker_page(lab, "/chat?name=Teacher")
            await attacker.goto(checked.url)
            await attacker.wait_for_selector("#status[data-state='refused']")
            assert [a.response.status for a in checked.attempts()] == [403]
            assert "Teacher" not in lab.app_state.chat.values()
        finally:
            await asyncio.wait_for(lab.stop(), T)
    finally:
        await context.close()
        await asyncio.wait_for(srv.stop(), T)
