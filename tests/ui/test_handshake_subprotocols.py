"""HandshakeView explains subprotocol negotiation: the offers, the selection (or "none
selected"), and what a client does next — read from a real handshake through the tap."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

import wsdemo
from wsdemo import wire
from wsdemo.ui import HandshakeView
from wsdemo.ui import handshake

pytestmark = pytest.mark.timeout(120)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def _pair(offer: str | None, selected: str | None):
    req = ("GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
           + (f"Sec-WebSocket-Protocol: {offer}\r\n" if offer is not None else "") + "\r\n")
    resp = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {wire.compute_accept(KEY)}\r\n"
            + (f"Sec-WebSocket-Protocol: {selected}\r\n" if selected is not None else "") + "\r\n")
    return SimpleNamespace(request=wire.parse_request(req.encode()), response=wire.parse_response(resp.encode()))


def test_selected_offer_is_shown_with_the_offers_in_order():
    hv = HandshakeView(_pair("x.v2, wsdemo.chat.v1", "wsdemo.chat.v1"))
    assert "Subprotocols offered (client's order of preference): x.v2, wsdemo.chat.v1" in hv.text
    assert "Subprotocol selected: wsdemo.chat.v1 ✓" in hv.text
    assert "wsdemo.chat.v1" in hv.subprotocols_html


def test_none_selected_says_what_a_browser_does_next():
    text = HandshakeView(_pair("wsdemo.chat.v9", None)).text
    assert "Subprotocol selected: none selected" in text
    assert "a browser that offered subprotocols fails the connection" in text


def test_a_selection_that_was_not_offered_is_flagged():
    hv = HandshakeView(_pair("a.v1", "evil.v1"))
    assert "✗ not one of the offers: the client MUST fail the connection" in hv.text
    assert any(p.section == "4.1" for p in hv.problems)


def test_nothing_offered_nothing_selected():
    assert handshake.subprotocol_lines(_pair(None, None).request, _pair(None, None).response) == [
        "Subprotocols offered (client's order of preference): none", "Subprotocol selected: none selected"]


async def test_handshake_view_of_a_live_chat_connection():
    srv = await wsdemo.serve()
    try:
        client = await srv.connect("/chat?name=hv", subprotocols=["nope.v1", "wsdemo.chat.v1"])
        conn = client.connection
        for _ in range(500):
            if conn.response is not None:
                break
            await asyncio.sleep(0.01)
        text = HandshakeView(conn).text
        assert "Subprotocols offered (client's order of preference): nope.v1, wsdemo.chat.v1" in text
        assert "Subprotocol selected: wsdemo.chat.v1 ✓" in text
        await client.close()
    finally:
        await srv.stop()


def test_a_hostile_offer_is_shown_as_text():
    hv = HandshakeView(_pair("<img src=x onerror=alert(1)>", None))
    assert "<img" not in hv.subprotocols_html and "&lt;img src=x onerror=alert(1)&gt;" in hv.subprotocols_html
