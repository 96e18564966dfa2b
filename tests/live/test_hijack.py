"""The Origin check against cross-site WebSocket hijacking, without a browser: raw handshakes
that carry the classroom's join-token cookie, as a browser would send it for any page."""

from __future__ import annotations

import asyncio

import pytest

import wsdemo
from wsdemo import wire
from wsdemo.live import hijack

from .conftest import T, Raw, handshake


async def _answer(srv, origin: str, cookie: str | None) -> bytes:
    extra = f"Origin: {origin}\r\n" + (f"Cookie: {cookie}\r\n" if cookie else "")
    raw = await Raw.open(srv.port)
    try:
        await raw.send(handshake("/chat?name=mallory", extra=extra, host=f"127.0.0.1:{srv.port}"))
        head = await raw.read_head()
        response = wire.parse_response(head)
        if response.status != 101:  # the refusal's text, which says why
            length = int(response.headers.get("Content-Length", "0"))
            head += await asyncio.wait_for(raw.reader.readexactly(length), T)
        return head
    finally:
        await raw.close()


async def test_a_foreign_origin_is_refused_even_with_a_valid_cookie():
    srv = await asyncio.wait_for(wsdemo.serve(classroom=True, show_join=False), T)
    try:
        cookie = f"wsdemo_token={srv.token}"
        own = srv.http_url("/").rstrip("/")
        other = f"http://127.0.0.1:{srv.port + 1 if srv.port < 65535 else srv.port - 1}"
        # The cookie is what lets the lab's own pages in...
        assert (await _answer(srv, own, cookie)).startswith(b"HTTP/1.1 101")
        # ...and the same cookie from a page of another port is refused, saying why.
        refused = await _answer(srv, other, cookie)
        assert refused.startswith(b"HTTP/1.1 403")
        assert f"Origin '{other}' is not this server's".encode() in refused
        assert (await _answer(srv, "null", cookie)).startswith(b"HTTP/1.1 403")  # file://, sandbox
    finally:
        await asyncio.wait_for(srv.stop(), T)


async def test_without_the_origin_check_the_cookie_alone_admits_any_origin():
    srv = await asyncio.wait_for(wsdemo.serve(classroom=True, show_join=False, check_origin=False,
                                              name="throwaway"), T)
    try:
        assert not srv.app_state.check_origin and "Origin check OFF" in repr(srv)
        assert (await _answer(srv, "http://evil.example", f"wsdemo_token={srv.token}")).startswith(
            b"HTTP/1.1 101")
        # The join token is still required: the check off does not open the room to strangers.
        assert (await _answer(srv, "http://evil.example", None)).startswith(b"HTTP/1.1 403")
    finally:
        await asyncio.wait_for(srv.stop(), T)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", ""])
async def test_the_origin_check_stays_on_off_loopback(host):
    with pytest.raises(ValueError, match="check_origin=False is for a throwaway server on a loopback"):
        await wsdemo.serve(host=host, check_origin=False, name="never-started")


async def test_the_attacker_page_is_served_on_another_loopback_port_and_stops():
    srv = await asyncio.wait_for(wsdemo.serve(name="lab-for-page"), T)
    try:
        page = await hijack.start_attacker_page(srv, "/chat?name=</script><b>")
        assert page.port != srv.port and page.url == f"http://127.0.0.1:{page.port}/"
        raw = await Raw.open(page.port)
        await raw.send(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{page.port}\r\nConnection: close\r\n\r\n".encode())
        body = (await raw.read_all()).decode()
        await raw.close()
        assert body.startswith("HTTP/1.1 200") and "new WebSocket(TARGET)" in body
        assert "</script><b>" not in body  # the target is a JS string, not markup
        with pytest.raises(ValueError, match="without a token"):
            await hijack.start_attacker_page(srv, "/chat?token=x")
        with pytest.raises(ValueError, match="host must be"):
            await hijack.start_attacker_page(srv, host="0.0.0.0")
        await page.stop()
        await page.stop()  # twice is fine
        with pytest.raises(OSError):
            await asyncio.wait_for(asyncio.open_connection("127.0.0.1", page.port), T)
        assert srv.companions == []
    finally:
        await asyncio.wait_for(srv.stop(), T)
    assert len(hijack.WAYS_TO_AUTHENTICATE) == 3 and hijack.DEFENCES
