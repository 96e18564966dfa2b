"""A room of 32 real clients (the websockets library) against classroom mode.

The limits of the live lab hold while one client misbehaves: the join token,
the per-connection rate limit, the connection cap, the message size limit, and
hostile text kept exactly as sent. Everyone else keeps being served. Also the
join card (URL with the LAN address and token, an offline QR code) and the
proxy-aware links.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.parse

import pytest
import websockets
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

import wsdemo
from wsdemo import wire
from wsdemo.live import classroom, proxy

T = 15.0
ROOM = 32
HOSTILE = "<img src=x onerror=alert(1)> & </li><script>alert(2)</script>"


@pytest.fixture
async def room_server():
    srv = await asyncio.wait_for(wsdemo.serve(
        classroom=True, max_connections=ROOM + 2, max_message_size=4096, rate_limit=20,
        ticker_interval_ms=200), T)
    yield srv
    await asyncio.wait_for(srv.stop(), T)


def _name(i: int) -> str:
    return f"<b>s{i:02d}</b>"


async def _open(srv, path: str, **kw):
    # max_queue=None: a client that is not reading right now still takes in what
    # the room broadcasts, so it never stalls on its own backlog.
    return await asyncio.wait_for(connect(srv.url(path), open_timeout=T, max_size=None,
                                          max_queue=None, compression=None, **kw), T)


async def _status_of_refusal(srv, path: str) -> int:
    with pytest.raises(InvalidStatus) as info:
        ws = await _open(srv, path)
        await ws.close()
    return info.value.response.status_code


async def _collect(ws, want: set[str]) -> dict[str, str]:
    """Chat messages from the named senders in ``want`` (other traffic is skipped)."""
    got: dict[str, str] = {}
    while not want <= set(got):
        event = json.loads(await asyncio.wait_for(ws.recv(), T))
        if event["type"] == "message" and event["name"] in want:
            got[event["name"]] = event["text"]
    return got


async def test_thirty_two_clients_and_one_who_misbehaves(room_server):
    srv = room_server
    token = srv.token
    names = {_name(i) for i in range(ROOM)}

    # The join token: none, or a wrong one, gets 403; the server keeps running.
    assert await _status_of_refusal(srv, "/chat?name=x") == 403
    assert await _status_of_refusal(srv, "/chat?name=x&token=not-the-token") == 403

    room = []
    for i in range(ROOM):
        q = urllib.parse.urlencode({"name": _name(i), "token": token})
        room.append(await _open(srv, f"/chat?{q}"))
    flooder = await _open(srv, f"/chat?name=flood&token={token}")
    bulky = await _open(srv, f"/echo?token={token}")
    # The cap: 34 WebSockets are open; the next one gets 503.
    assert len(srv.app_state.sockets) == ROOM + 2
    assert await _status_of_refusal(srv, f"/echo?token={token}") == 503

    async def drain(ws):
        # Read what the room broadcasts, or the client stops reading and never sees the Close.
        try:
            async for _ in ws:
                pass
        except ConnectionClosed:
            pass

    async def flood():
        reader = asyncio.ensure_future(drain(flooder))
        sent = 0
        try:
            for n in range(400):
                await flooder.send(json.dumps({"text": f"flood {n}"}))
                sent += 1
        except ConnectionClosed:
            pass
        await asyncio.wait_for(reader, T)
        return sent

    async def too_big():
        await bulky.send("x" * 5000)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(bulky.recv(), T)

    async def everyone_talks():
        for i, ws in enumerate(room):
            await ws.send(json.dumps({"text": f"{HOSTILE} from {i}"}))
        return await asyncio.gather(*(_collect(ws, names) for ws in room))

    sent, _, received = await asyncio.gather(flood(), too_big(), everyone_talks())

    # The misbehaving clients were stopped with the codes that say why.
    assert flooder.close_code == 1008, (flooder.close_code, flooder.close_reason)
    assert "rate limit" in flooder.close_reason
    assert bulky.close_code == 1009
    # Every other client got every message, each exactly as sent.
    for got in received:
        assert got == {_name(i): f"{HOSTILE} from {i}" for i in range(ROOM)}
    assert sorted(srv.app_state.chat.values()) == sorted(names)
    # ...and is still served after the incidents.
    await room[0].send(json.dumps({"text": "still here"}))
    for ws in room:
        while True:
            event = json.loads(await asyncio.wait_for(ws.recv(), T))
            if event.get("text") == "still here":
                break

    # The tap decoded it all: the rate-limit close, the size close, the hostile text.
    await asyncio.sleep(0.05)
    by_path = {}
    for conn in srv.tap.connections:
        conn.flush()
        by_path.setdefault((conn.path or "").split("?")[0], []).append(conn)
    flood_conn = next(c for c in by_path["/chat"] if "name=flood" in c.path)
    closes = [e.message for e in flood_conn.events if isinstance(e, wire.MessageEvent)
              and e.sender == "server" and e.message.kind == "close"]
    assert closes and closes[0].close_code == 1008
    bulky_conn = next(c for c in by_path["/echo"] if c.response is not None and c.response.status == 101)
    closes = [e.message for e in bulky_conn.events if isinstance(e, wire.MessageEvent)
              and e.sender == "server" and e.message.kind == "close"]
    assert closes and closes[0].close_code == 1009
    refused = [c.response.status for c in srv.tap.connections if c.response is not None]
    assert refused.count(403) == 2 and refused.count(503) == 1
    s05 = next(c for c in by_path["/chat"] if urllib.parse.quote(_name(5)) in c.path
               or urllib.parse.quote_plus(_name(5)) in c.path)
    said = [json.loads(e.message.text) for e in s05.events if isinstance(e, wire.MessageEvent)
            and e.sender == "client" and e.message.kind == "text"]
    assert {"text": f"{HOSTILE} from 5"} in said

    await asyncio.wait_for(asyncio.gather(*(ws.close() for ws in room)), T)


async def test_join_card_has_the_token_the_lan_address_and_a_qr_code(room_server, monkeypatch):
    srv = room_server
    monkeypatch.setenv("WSDEMO_JOIN_HOST", "192.168.7.42")  # what the teacher can force
    srv.host = "0.0.0.0"  # as if bound for the room (the test itself listens on loopback)
    card = srv.join_card()
    assert card.url == f"http://192.168.7.42:{srv.port}/chat.html?token={srv.token}"
    assert card.reachable_from_room
    bundle = card._repr_mimebundle_()
    # The first line is the link; the other addresses of this machine may follow.
    assert bundle["text/plain"].splitlines()[0] == f"Join: {card.url}"
    html = bundle["text/html"]
    assert "<svg" in html and "</svg>" in html and card.url.replace("&", "&amp;") in html
    assert "http" not in html.split("<svg", 1)[1].split("</svg>", 1)[0].replace(
        "http://www.w3.org", "")  # the QR code is drawn, not fetched
    shown = srv._repr_mimebundle_()
    assert f"Join: {card.url}" in shown["text/plain"] and "<svg" in shown["text/html"]

    srv.host = "127.0.0.1"
    local = srv.join_card()
    assert local.url.startswith(f"http://127.0.0.1:{srv.port}/chat.html?token=")
    assert not local.reachable_from_room and "host='0.0.0.0'" in str(local)


def test_lan_address_is_found_locally_or_falls_back_to_loopback(monkeypatch):
    monkeypatch.delenv("WSDEMO_JOIN_HOST", raising=False)
    addr = classroom.lan_address()
    assert re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", addr)
    candidates = [a for a in classroom.interface_addresses() if classroom._rank(a) is not None]
    assert addr == (min(candidates, key=lambda a: (classroom._rank(a), candidates.index(a)))
                    if candidates else "127.0.0.1")
    assert classroom._rank("127.0.0.1") is None and classroom._rank("169.254.1.1") is None
    assert classroom._rank("10.1.2.3") == 0 and classroom._rank("8.8.8.8") == 1


async def test_links_follow_the_notebook_proxy(room_server, monkeypatch):
    srv = room_server
    for var in (proxy.ENV_PREFIX, proxy.ENV_HUB):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(proxy.settings, "prefix", None)
    assert srv.browser_url("/chat.html") == srv.http_url("/chat.html")
    monkeypatch.setenv(proxy.ENV_HUB, "/user/ann/")
    assert srv.browser_url("/chat.html") == f"/user/ann/proxy/{srv.port}/chat.html"
    card = srv.join_card()
    assert card.proxied and card.url == f"/user/ann/proxy/{srv.port}/chat.html?token={srv.token}"
    monkeypatch.setenv(proxy.ENV_PREFIX, "off")  # an explicit setting beats JupyterHub's
    assert srv.browser_url("/") == srv.http_url("/")
    monkeypatch.setattr(proxy.settings, "prefix", "/lab-base")
    assert srv.browser_url("/ticker.html") == f"/lab-base/proxy/{srv.port}/ticker.html"
    assert proxy.proxied_path(8888, "chat", base_url="/") == "/proxy/8888/chat"
