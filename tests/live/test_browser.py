"""Real Chromium opens the chat page served through the tap and talks to a kernel-side client."""

from __future__ import annotations

import json

import pytest

from wsdemo import wire

from .conftest import T, wait_for_event

pytestmark = pytest.mark.browser


async def test_chromium_chat_page_talks_to_a_kernel_client(server, browser):
    kernel = await server.connect("/chat?name=kernel")
    assert json.loads(await kernel.recv(timeout=T))["type"] == "join"
    page = await browser.new_page()
    page.set_default_timeout(T * 1000)
    await page.goto(server.http_url("/chat.html?name=") + "%3Cb%3Ebrowser%3C%2Fb%3E")
    await page.wait_for_selector("#status[data-state='open']")
    joined = json.loads(await kernel.recv(timeout=T))
    assert (joined["type"], joined["name"]) == ("join", "<b>browser</b>")

    await page.fill("#text", "hello from <i>Chromium</i>")
    await page.click("#send-button")
    said = json.loads(await kernel.recv(timeout=T))
    assert (said["name"], said["text"]) == ("<b>browser</b>", "hello from <i>Chromium</i>")

    await kernel.send_json({"text": "<img src=x onerror=alert(1)> from the kernel"})
    own = json.loads(await kernel.recv(timeout=T))  # the room includes the sender
    assert (own["name"], own["text"]) == ("kernel", "<img src=x onerror=alert(1)> from the kernel")
    item = page.locator("#log li", has_text="from the kernel")
    await item.wait_for()
    # Shown as text, not markup.
    assert await item.text_content() == "kernel: <img src=x onerror=alert(1)> from the kernel"
    assert await page.locator("#log img").count() == 0
    assert await page.locator("#log b").count() == 0

    ws_conns = [c for c in server.tap.connections if c.path and c.path.startswith("/chat?name=%3Cb")]
    assert len(ws_conns) == 1
    conn = ws_conns[0]
    request = conn.request
    assert "Chrome" in request.headers.get("User-Agent")
    assert "permessage-deflate" in request.headers.get("Sec-WebSocket-Extensions")
    assert request.headers.get("Origin") == f"http://127.0.0.1:{server.port}"
    sent = await wait_for_event(conn, lambda e: isinstance(e, wire.MessageEvent)
                                and e.sender == "client" and e.message.kind == "text")
    assert json.loads(sent.message.text) == {"text": "hello from <i>Chromium</i>"}
    assert sent.message.frames[0].masked
    await page.close()
    left = json.loads(await kernel.recv(timeout=T))
    assert (left["type"], left["name"]) == ("leave", "<b>browser</b>")
    await kernel.close()
