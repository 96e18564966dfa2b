"""Numbers a client puts in a URL are checked at the edge: finite, in range, or a 400 naming the
range (issue 11 item 3). ``min(max(nan, 0), 60)`` is NaN, and a NaN timeout handed to asyncio
sits in the event loop's timer heap and breaks the order of every timer on the loop."""

from __future__ import annotations

import json
import logging

import pytest

from wsdemo import wire

from .conftest import T, Raw, handshake

TIMEOUT = b"timeout must be a number of seconds from 0 to 60"
SINCE = b"since must be a whole number from 0 to 9007199254740992"
INTERVAL = b"interval must be a number of milliseconds from 20 to 60000"


async def get(server, target: str) -> tuple[wire.Response, bytes]:
    raw = await Raw.open(server.port)
    await raw.send(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    answer = await raw.read_all()
    await raw.close()
    response = wire.parse_response(answer)
    return response, response.body


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "-1", "60.5", "61", "1e400", "", "1_0",
                                   "%D9%A3", "0x10", "20s"])
async def test_longpoll_refuses_a_timeout_that_is_not_0_to_60_seconds(server, value):
    response, body = await get(server, f"/longpoll?timeout={value}")
    assert response.status == 400, (value, response, body)
    assert TIMEOUT in body or TIMEOUT.decode() in response.reason


@pytest.mark.parametrize("value", ["0", "0.05", "1e-2", "60"])
async def test_longpoll_takes_a_timeout_in_range(server, value):
    news = server.app_state.feed.seq + 1000  # nothing that new: a finite timeout ends the wait
    response, _ = await get(server, f"/longpoll?timeout={value}&since={news}" if value != "60"
                            else "/longpoll?timeout=60")
    assert response.status in (200, 204)


@pytest.mark.parametrize("path", ["/poll", "/longpoll"])
@pytest.mark.parametrize("value", ["-1", "1.5", "abc", "1e3", "nan", "%2B5", "9007199254740993",
                                   "9" * 5000])
async def test_since_must_be_a_whole_number_in_range(server, path, value):
    response, body = await get(server, f"{path}?since={value}&timeout=0")
    assert response.status == 400, (value, response)
    assert SINCE in body


async def test_since_in_range_still_works(server):
    response, body = await get(server, "/poll?since=0")
    while response.status == 204:  # the feed has not published yet
        response, body = await get(server, "/poll?since=0")
    assert response.status == 200 and json.loads(body)["seq"] >= 1
    response, _ = await get(server, "/poll?since=9007199254740992")
    assert response.status == 204


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "5", "19.9", "60001", "-20", "abc", "1e400"])
async def test_ticker_refuses_an_interval_out_of_range_before_the_handshake(server, value):
    before = server.app_state.ticker_interval_ms
    raw = await Raw.open(server.port)
    await raw.send(handshake(f"/ticker?interval={value}"))
    head = wire.parse_response(await raw.read_head())
    assert head.status == 400, (value, head)
    assert INTERVAL in await raw.reader.readexactly(int(head.headers["Content-Length"]))
    await raw.close()
    assert server.app_state.ticker_interval_ms == before


async def test_ticker_takes_an_interval_in_range(server):
    client = await server.connect("/ticker?interval=20")
    json.loads(await client.recv(timeout=T))
    assert server.app_state.ticker_interval_ms == 20
    await client.close()


async def test_a_cursor_too_big_for_a_float_gets_an_error_not_a_server_error(server, caplog):
    caplog.set_level(logging.INFO)
    mover = await server.connect("/cursors")
    assert json.loads(await mover.recv(timeout=T))["type"] == "hello"
    await mover.send('{"x": 1' + "0" * 400 + ', "y": 0}')  # an integer JSON has, no float can hold
    reply = json.loads(await mover.recv(timeout=T))
    assert reply["type"] == "error"
    await mover.send('{"x": 0.5, "y": 0.5}')  # still connected
    await mover.close()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
