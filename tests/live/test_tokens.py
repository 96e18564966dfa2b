"""The join token never leaves the tap unmasked (issue 11): not in DecodeError text, stored
chunks or events, not in the tap's log, not in Tornado's own warning lines, and not when its
name is percent-encoded (Tornado decodes ``?%74oken=``, so the server takes it as the token)."""

from __future__ import annotations

import asyncio
import logging

import pytest

import wsdemo
from wsdemo import wire

from .conftest import T, Raw, conn_for_port, handshake, wait_for_event, wait_until


@pytest.fixture
async def classroom():
    server = await asyncio.wait_for(wsdemo.serve(classroom=True, show_join=False), T)
    yield server
    await asyncio.wait_for(server.stop(), T)


def nothing_shows(conn, token: str) -> None:
    conn.flush()
    assert token.encode() not in b"".join(d for _, _, d in conn.chunks)
    for event in conn.events:
        assert token not in repr(event) and token not in str(event)
        assert token not in (getattr(event, "error", "") or "")
    assert token not in repr(conn) and token not in (conn.path or "")


@pytest.mark.parametrize("name", ["%74oken", "t%6Fken", "%74%6f%6b%65%6e"])
async def test_a_percent_encoded_token_name_is_the_token_and_is_masked(classroom, name):
    token = classroom.token
    raw = await Raw.open(classroom.port)
    await raw.send(handshake(f"/echo?{name}={token}"))
    assert (await raw.read_head()).startswith(b"HTTP/1.1 101")  # Tornado took it as the token
    conn = conn_for_port(classroom, raw.local_port)
    await wait_for_event(conn, lambda e: isinstance(e, wire.HttpResponse))
    nothing_shows(conn, token)
    assert conn.path == f"/echo?{name}={'*' * len(token)}"
    await raw.close()


async def test_a_decode_error_quoting_the_request_line_is_masked_everywhere(classroom, caplog):
    token = classroom.token
    raw = await Raw.open(classroom.port)
    with caplog.at_level(logging.DEBUG):
        await raw.send(f"GET /chat?name=x&%74oken={token} HTTP/1.1 extra\r\nHost: x\r\n\r\n".encode())
        answer = await raw.read_all()
        conn = conn_for_port(classroom, raw.local_port)
        err = await wait_for_event(conn, lambda e: isinstance(e, wire.DecodeError))
        await raw.close()
        await wait_until(lambda: not conn.is_open, what="the tap saw it close")
    # Tornado answers 400; the tap may add why (its log line quotes the decoder's reason)
    assert answer.startswith(b"HTTP/1.1 400 ") and token.encode() not in answer
    assert "request line" in err.error and "%74oken=" in err.error
    nothing_shows(conn, token)
    assert not [r for r in caplog.records if token in r.getMessage()]


async def test_tornados_own_warnings_are_masked(caplog):
    # Tornado logs a refused argument with the raw URI (tornado.general), token and all.
    server = await asyncio.wait_for(wsdemo.serve(), T)
    try:
        secret = "SECRET1234567890"
        raw = await Raw.open(server.port)
        with caplog.at_level(logging.DEBUG):
            await raw.send(f"GET /poll?since=%FF&t%6Fken={secret} HTTP/1.1\r\n"
                           f"Host: 127.0.0.1:{server.port}\r\n\r\n".encode())
            assert (await raw.read_head()).startswith(b"HTTP/1.1 400")
            for name in ("tornado.access", "tornado.application", "tornado.general", "wsdemo.tap"):
                logging.getLogger(name).warning("test %s", f"/x?token={secret}")
        await raw.close()
        tornado_lines = [r.getMessage() for r in caplog.records if r.name == "tornado.general"]
        assert any("Invalid unicode" in line and "t%6Fken=****" in line for line in tornado_lines)
        assert len([r for r in caplog.records if r.getMessage() == f"test /x?token={'*' * len(secret)}"]) == 4
        assert not [r for r in caplog.records if secret in r.getMessage()]
    finally:
        await asyncio.wait_for(server.stop(), T)


async def test_the_log_mask_is_installed_once():
    for _ in range(2):
        server = await asyncio.wait_for(wsdemo.serve(), T)
        await asyncio.wait_for(server.stop(), T)
    for name in ("tornado.access", "tornado.general", "tornado.application", "wsdemo.tap"):
        assert len(logging.getLogger(name).filters) == 1
