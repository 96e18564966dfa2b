"""Subprotocol negotiation (RFC 6455 sections 1.9, 4.1, 4.2.2) with real clients: the server
selects the first offer the endpoint speaks, in the client's order, or none; never one that
was not offered. /chat speaks wsdemo.chat.v1 and still serves clients that offer nothing."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from wsdemo import wire
from wsdemo.live.apps.base import BaseSocket
from wsdemo.live.client import Client, SubprotocolMismatch

from .conftest import T, Raw, handshake

CHAT = "wsdemo.chat.v1"


def test_the_first_offer_the_endpoint_speaks_in_the_clients_order_is_selected():
    assert wire.select_subprotocol(["x", "b", "a"], ["a", "b"]) == "b"
    assert wire.select_subprotocol(["a", "b"], ["b", "a"]) == "a"
    assert wire.select_subprotocol(["x"], ["a"]) is None
    assert wire.select_subprotocol([], ["a"]) is None
    assert wire.select_subprotocol(["A"], ["a"]) is None  # compared exactly, as browsers do


def test_subprotocol_names_must_be_tokens():
    assert wire.subprotocol_problem(CHAT) is None
    for bad in ["", "a b", "a,b", "chat/1", "x=y", "é", 3]:
        assert wire.subprotocol_problem(bad), bad
    with pytest.raises(ValueError, match="not a token"):
        type("Bad", (BaseSocket,), {"SUBPROTOCOLS": ("ok", "not ok")})


async def test_websockets_gets_chat_v1_selected_from_its_offers(server):
    async with websockets.connect(server.url("/chat?name=ws"), subprotocols=["nope", CHAT],
                                  open_timeout=T) as ws:
        assert ws.subprotocol == CHAT
        joined = json.loads(await asyncio.wait_for(ws.recv(), T))
        assert joined["type"] == "join"
    conn = server.tap.connections[-1]
    assert conn.request.headers.get("Sec-WebSocket-Protocol") == f"nope, {CHAT}"
    assert conn.response.headers.get("Sec-WebSocket-Protocol") == CHAT


async def test_an_unknown_offer_is_not_selected_and_the_connection_goes_on(server):
    async with websockets.connect(server.url("/chat?name=odd"), subprotocols=["wsdemo.chat.v9"],
                                  open_timeout=T) as ws:
        assert ws.subprotocol is None  # the server selected none
        assert json.loads(await asyncio.wait_for(ws.recv(), T))["type"] == "join"
    assert "Sec-WebSocket-Protocol" not in server.tap.connections[-1].response.headers


async def test_a_client_offering_nothing_gets_no_subprotocol_and_chats(server):
    client = await server.connect("/chat?name=plain")
    assert client.subprotocol is None
    assert json.loads(await client.recv(timeout=T))["type"] == "join"
    assert "Sec-WebSocket-Protocol" not in client.connection.response.headers
    await client.close()


async def test_an_endpoint_that_speaks_none_selects_none(server):
    client = await server.connect("/echo", subprotocols=[CHAT])
    assert client.subprotocol is None
    await client.send("still echoes")
    assert await client.recv(timeout=T) == "still echoes"
    await client.close()


async def test_wsdemo_client_offers_and_exposes_the_selection(server):
    client = await server.connect("/chat?name=k", subprotocols=["x.other", CHAT])
    assert client.subprotocol == CHAT
    assert client.connection.request.headers.get("Sec-WebSocket-Protocol") == f"x.other,{CHAT}"
    await client.close()


async def test_offers_split_over_two_header_lines_are_read_in_order(server):
    raw = await Raw.open(server.port)
    await raw.send(handshake("/chat?name=raw", extra=f"Sec-WebSocket-Protocol: a.b\r\n"
                                                     f"Sec-WebSocket-Protocol: {CHAT}, c\r\n"))
    head = wire.parse_response(await raw.read_head())
    assert head.status == 101
    assert head.headers.get_all("Sec-WebSocket-Protocol") == [CHAT]
    await raw.close()


@pytest.mark.parametrize("offer", [["a b"], ["x,y"], [""], ["dup", "dup"], "wsdemo.chat.v1"])
async def test_wsdemo_client_refuses_bad_offers_before_dialling(server, offer):
    with pytest.raises(ValueError):
        await server.connect("/chat", subprotocols=offer)
    assert not server.tap.connections  # nothing went out


async def _answering_with(protocol: str):
    """A raw server that completes the handshake selecting ``protocol``, whatever was offered."""
    async def handle(reader, writer):
        head = wire.parse_request(await reader.readuntil(b"\r\n\r\n"))
        accept = wire.compute_accept(head.headers.get("Sec-WebSocket-Key"))
        writer.write((f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {protocol}\r\n\r\n").encode())
        await writer.drain()
        await reader.read()  # until the client hangs up
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def test_a_server_selecting_what_was_not_offered_fails_the_connection():
    # RFC 6455 section 4.1: the client MUST fail the connection. Tornado's client alone accepts it.
    evil = await _answering_with("evil.v1")
    port = evil.sockets[0].getsockname()[1]
    try:
        with pytest.raises(SubprotocolMismatch) as info:
            await Client.open(None, f"ws://127.0.0.1:{port}/", subprotocols=[CHAT], timeout=T)
        assert (info.value.offered, info.value.selected) == ((CHAT,), "evil.v1")
    finally:
        evil.close()
        await evil.wait_closed()


@pytest.mark.browser
async def test_chromium_fails_the_connection_when_it_offered_and_none_was_selected(server, browser):
    # The Fetch standard ("establish a WebSocket connection"): if protocols is not empty and the
    # response has no Sec-WebSocket-Protocol, fail the WebSocket connection. RFC 6455 alone allows
    # the server to select none; the browser does not go on without one.
    page = await browser.new_page()
    await page.goto(server.http_url("/chat.html"))
    script = """async ([url, protocols]) => await new Promise((done) => {
        const ws = new WebSocket(url, protocols);
        let opened = false, errored = false;
        ws.onopen = () => { opened = true; ws.close(1000); };
        ws.onerror = () => { errored = true; };
        ws.onclose = (e) => done({opened, errored, code: e.code, protocol: ws.protocol});
    })"""
    chosen = await asyncio.wait_for(page.evaluate(script, [server.url("/chat?name=c1"), [CHAT]]), T)
    assert chosen == {"opened": True, "errored": False, "code": 1000, "protocol": CHAT}
    refused = await asyncio.wait_for(page.evaluate(script, [server.url("/chat?name=c2"), ["wsdemo.chat.v9"]]), T)
    assert refused == {"opened": False, "errored": True, "code": 1006, "protocol": ""}
    # The server did answer 101, without the header: the browser is the one that refused.
    conn = await _tap_connection_offering(server, "wsdemo.chat.v9")
    assert conn.response.status == 101 and "Sec-WebSocket-Protocol" not in conn.response.headers


async def _tap_connection_offering(server, name: str):
    for _ in range(int(T / 0.01)):
        for conn in server.tap.connections:
            if conn.request is not None and conn.response is not None and \
                    name in wire.offered_subprotocols(conn.request.headers):
                return conn
        await asyncio.sleep(0.01)
    raise AssertionError(f"no recorded connection offering {name}")


@pytest.mark.browser
async def test_the_chat_page_offers_chat_v1_and_the_server_selects_it(server, browser):
    page = await browser.new_page()
    await page.goto(server.http_url("/chat.html?name=page"))
    await page.wait_for_selector("#status[data-state='open']", timeout=T * 1000)
    conn = await _tap_connection_offering(server, CHAT)
    assert conn.response.headers.get("Sec-WebSocket-Protocol") == CHAT
