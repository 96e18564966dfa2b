"""A client that never reads: the server closes it with 1008 past send_backlog, says in the
close reason how much waited, and keeps a record the notebook can read."""

from __future__ import annotations

import asyncio
import re

import pytest

import wsdemo
from wsdemo.live import backpressure

from .conftest import T


async def test_provoke_shows_what_was_buffered_when_the_server_gave_up(server):
    server.app_state.send_backlog = 256 * 1024
    result = await backpressure.provoke(server, message_size=32 * 1024, timeout=60)
    record = result.record
    assert list(server.app_state.backpressure_log) == [record]
    assert record.path == "/echo" and record.limit == 256 * 1024
    assert record.buffered > record.limit
    assert result.sent > record.buffered  # the rest was in socket buffers on the way
    # The client learns it in the Close frame, as the tap recorded it: the code and the bytes.
    assert result.close_code == 1008
    assert result.close_reason == record.reason
    assert re.fullmatch(r"not reading: (\d+) bytes waiting, over the limit of 256 KiB \(send_backlog\)",
                        result.close_reason).group(1) == str(record.buffered)
    assert result.connection is not None and record.peer_port == result.connection.upstream_port
    assert f"{record.buffered:,} bytes waited" in str(result)
    # Everyone else is still served.
    client = await server.connect("/echo")
    await client.send("still here")
    assert await client.recv(timeout=T) == "still here"
    await client.close()


async def test_the_log_is_bounded_and_each_client_has_its_own_record():
    server = await asyncio.wait_for(wsdemo.serve(name="bp-log"), T)
    try:
        server.app_state.send_backlog = 256 * 1024
        first = await backpressure.provoke(server, timeout=60)
        second = await backpressure.provoke(server, timeout=60)
        assert list(server.app_state.backpressure_log) == [first.record, second.record]
        assert first.record.peer_port != second.record.peer_port
        assert server.app_state.backpressure_log.maxlen == 100
    finally:
        await asyncio.wait_for(server.stop(), T)


async def test_provoke_refuses_a_message_bigger_than_the_server_takes(server):
    with pytest.raises(ValueError, match="message_size must be from 1 to"):
        await backpressure.provoke(server, message_size=(1 << 20) + 1)
    assert not server.app_state.backpressure_log


async def test_provoke_says_when_the_server_closed_the_client_for_another_reason():
    # Classroom mode limits messages per second: that close comes first, and provoke says so
    # rather than pushing bytes at a closed connection.
    server = await asyncio.wait_for(wsdemo.serve(classroom=True, show_join=False, name="bp-room"), T)
    try:
        with pytest.raises(RuntimeError, match="another reason than not reading.*messages per second"):
            await backpressure.provoke(server, message_size=1024, timeout=60)
        assert not server.app_state.backpressure_log
    finally:
        await asyncio.wait_for(server.stop(), T)
