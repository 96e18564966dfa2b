"""Behind a real jupyter-server-proxy (as on Binder or a JupyterHub).

A Jupyter server runs as a subprocess on 127.0.0.1 with jupyter-server-proxy;
the live lab runs in this test's event loop. Chromium logs in to Jupyter (the
token becomes a login cookie), opens ``{base_url}proxy/PORT/chat.html`` and
chats with a kernel-side client. The proxy forwards the Jupyter cookie to us:
the tap must redact it everywhere (events, stored chunks, reprs).
"""

from __future__ import annotations

import asyncio
import json

import pytest

import wsdemo
from wsdemo import wire
from wsdemo.live import proxy

from .conftest import T, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


@pytest.fixture
async def server():
    srv = await asyncio.wait_for(wsdemo.serve(), T)
    yield srv
    await asyncio.wait_for(srv.stop(), T)


async def test_chat_page_through_jupyter_server_proxy(jupyter_server, server, browser, tmp_path,
                                                      monkeypatch):
    jp = jupyter_server
    monkeypatch.setattr(proxy.settings, "prefix", "/")  # the Jupyter server's base_url
    page_path = server.browser_url("/chat.html")
    assert page_path == f"/proxy/{server.port}/chat.html"

    published = []  # what widgets get, as it happens
    server.tap.subscribe(published.append)
    kernel = await server.connect("/chat?name=kernel")
    assert json.loads(await kernel.recv(timeout=T))["type"] == "join"

    context = await browser.new_context()
    context.set_default_timeout(T * 1000)
    try:
        page = await context.new_page()
        # Log in the way a learner's browser is logged in: the token once, then a cookie.
        resp = await page.goto(f"{jp['base']}login?next=%2Fapi%2Fstatus")
        assert resp.ok
        await page.fill("input[name='password']", jp["token"])
        await page.click("#login_submit")
        await page.wait_for_url("**/api/status")
        cookies = {c["name"]: c["value"] for c in await context.cookies()}
        login = [v for n, v in cookies.items() if n.startswith("username-")]
        login_name = next((n for n in cookies if n.startswith("username-")), "")
        assert login, f"no Jupyter login cookie in {list(cookies)}"
        secrets_ = [v for v in cookies.values() if len(v) >= 8]
        assert any(len(s) >= 20 for s in secrets_)

        url = jp["base"].rstrip("/") + page_path + "?name=through-proxy"
        await page.goto(url)
        await page.wait_for_selector("#status[data-state='open']")
        joined = json.loads(await kernel.recv(timeout=T))
        assert (joined["type"], joined["name"]) == ("join", "through-proxy")

        await page.fill("#text", "hello through the proxy")
        await page.click("#send-button")
        said = json.loads(await kernel.recv(timeout=T))
        assert (said["name"], said["text"]) == ("through-proxy", "hello through the proxy")
        await kernel.send_json({"text": "and back from the kernel"})
        await page.locator("#log li", has_text="and back from the kernel").wait_for()
        await screenshot(page, tmp_path, "chat-through-jupyter-server-proxy.png")
        # The page built its WebSocket URL relative to itself: under the proxy prefix.
        ws_url = await page.evaluate("ws.url")
        assert ws_url.startswith(f"ws://127.0.0.1:{jp['port']}/proxy/{server.port}/chat?")
    finally:
        await context.close()
    await kernel.close()

    # What the tap recorded: the proxy forwarded the browser's cookie, redacted at once.
    await asyncio.sleep(0.05)
    conns = list(server.tap.connections)
    with_cookie = []
    for conn in conns:
        conn.flush()
        if conn.request is not None and conn.request.headers.get("Cookie") is not None:
            with_cookie.append(conn)
    paths = sorted((c.path or "").split("?")[0] for c in with_cookie)
    assert "/chat" in paths and "/chat.html" in paths, paths  # the page and its WebSocket
    cookie_header = "; ".join(f"{n}={v}" for n, v in cookies.items())
    for conn in with_cookie:
        value = conn.request.headers.get("Cookie")
        assert value and set(value) == {"*"}, value
        # Masked, but the browser's own cookies were what the proxy forwarded (same length).
        assert len(value) >= len(f"{login_name}={login[0]}"), (len(value), len(cookie_header))
        assert "Chrome" in conn.request.headers.get("User-Agent")  # the browser's, forwarded
    chat = next(c for c in with_cookie if c.path.startswith("/chat?"))
    text = [e.message.text for e in chat.events if isinstance(e, wire.MessageEvent)
            and e.sender == "client" and e.message.kind == "text"]
    assert json.loads(text[0]) == {"text": "hello through the proxy"}

    # Everything a learner can display or save: reprs, events (also as published live),
    # stored chunks, the exported recording, and the handshake widget's rendered HTML.
    from wsdemo.ui import HandshakeView, export_recording

    exported = export_recording(server.tap)
    assert "chat.html" in exported
    for secret in secrets_:
        assert secret not in exported, "cookie value in the exported recording"
        assert not any(secret in repr(e) or secret in str(e) for e in published)
        assert not any(secret.encode() in e.request.raw for e in published
                       if isinstance(e, wire.HttpRequest))
    assert any(isinstance(e, wire.HttpRequest) and e.request.headers.get("Cookie") for e in published)
    for conn in with_cookie:
        view = HandshakeView(conn)
        def texts(widget):
            if isinstance(getattr(widget, "value", None), str):
                yield widget.value
            for child in getattr(widget, "children", ()):
                yield from texts(child)

        html = " ".join(texts(view))
        assert "Cookie" in html
        assert not any(secret in html for secret in secrets_), "cookie value in HandshakeView"
        view.close()
    for conn in conns:
        seen = [repr(conn), repr(conn.request), repr(conn.response)]
        seen += [repr(e) for e in conn.events]
        seen += [str(e) for e in conn.events]
        blobs = [bytes(data) for _, _, data in conn.chunks]
        for e in conn.events:
            if isinstance(e, wire.HttpRequest):
                blobs.append(bytes(e.request.raw))
                seen += [f"{n}: {v}" for n, v in e.request.headers]
        for secret in secrets_:
            assert not any(secret in s for s in seen), f"cookie value leaked on {conn!r}"
            assert not any(secret.encode() in b for b in blobs), f"cookie bytes stored on {conn!r}"
