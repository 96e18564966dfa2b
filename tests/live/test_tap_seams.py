"""The tap's public seams: waiting for an event, finding a client's connection, the client
holding the tap (not the server)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from wsdemo import wire
from wsdemo.live.recording import EventTimeout

from .conftest import T


def _text(sender: str, text: str):
    return lambda e: (isinstance(e, wire.MessageEvent) and e.sender == sender
                      and e.message.text == text)


async def test_wait_for_finds_an_event_already_recorded(server):
    client = await server.connect("/echo")
    await client.send("early")
    assert await client.recv(timeout=T) == "early"
    conn = client.connection
    await asyncio.sleep(0.1)  # decoded (or pending: wait_for decodes what is pending first)
    event = await conn.wait_for(_text("server", "early"), timeout=0.01)
    assert event.message.text == "early" and event.connection is conn
    await client.close()


async def test_wait_for_waits_for_the_next_matching_event(server):
    client = await server.connect("/echo")
    conn = client.connection
    waiting = asyncio.ensure_future(conn.wait_for(_text("server", "later"), timeout=T))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await client.send("later")
    event = await waiting
    assert event.sender == "server" and event.message.text == "later"
    await client.close()


async def test_wait_for_after_an_event_skips_it_and_what_came_before(server):
    client = await server.connect("/echo")
    conn = client.connection
    await client.send("same")
    first = await conn.wait_for(_text("server", "same"), timeout=T)
    # Without ``after`` the same event answers again; with it, only a newer one does.
    assert await conn.wait_for(_text("server", "same"), timeout=T) is first
    waiting = asyncio.ensure_future(conn.wait_for(_text("server", "same"), timeout=T, after=first))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await client.send("same")
    second = await waiting
    assert second is not first and second.at >= first.at
    await client.close()


async def test_wait_for_times_out_with_a_typed_error_and_can_wait_again(server):
    client = await server.connect("/echo")
    conn = client.connection
    with pytest.raises(EventTimeout) as caught:
        await conn.wait_for(_text("server", "never sent"), timeout=0.05)
    assert isinstance(caught.value, asyncio.TimeoutError)
    assert caught.value.connection is conn and caught.value.timeout == 0.05
    await client.send("after the timeout")
    assert (await conn.wait_for(_text("server", "after the timeout"), timeout=T)).sender == "server"
    await client.close()


async def test_a_failing_predicate_fails_the_waiter_not_the_tap(server):
    client = await server.connect("/echo")
    conn = client.connection

    def broken(event):
        if isinstance(event, wire.MessageEvent):
            raise KeyError("broken predicate")
        return False

    waiting = asyncio.ensure_future(conn.wait_for(broken, timeout=T))
    await asyncio.sleep(0.05)
    await client.send("x")
    with pytest.raises(KeyError):
        await waiting
    await client.send("still relayed")
    assert await client.recv(timeout=T) == "x"
    assert await client.recv(timeout=T) == "still relayed"
    await client.close()


async def test_connection_from_finds_a_client_by_its_local_address(server):
    client = await server.connect("/echo")
    host, port = client.local_address.rsplit(":", 1)
    conn = server.tap.connection_from((host, int(port)))
    assert conn is not None and conn is client.connection
    assert server.tap.connection_from(client.local_address) is conn
    assert conn.peer == client.local_address
    assert server.tap.connection_from(("127.0.0.1", 1)) is None
    await client.close()


async def test_the_client_holds_the_tap_it_goes_through(server):
    client = await server.connect("/echo")
    assert client.tap is server.tap
    await client.close()


def test_the_client_module_does_not_import_the_server():
    code = "import sys, wsdemo.live.client; assert 'wsdemo.live.server' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
