"""wsdemo.backplane.local_redis: a throwaway redis-server for notebook 09 and the tests."""

import asyncio
import os
import shutil

import pytest

from wsdemo.live import backplane


async def test_local_redis_answers_then_stops_and_leaves_nothing(redis_program):
    local = await asyncio.wait_for(backplane.local_redis(), 15)
    try:
        assert local.url == f"redis://127.0.0.1:{local.port}"
        reader, writer = await asyncio.open_connection("127.0.0.1", local.port)
        writer.write(b"PING\r\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"+PONG\r\n"
        writer.close()
        assert "running" in repr(local)
    finally:
        await local.stop()
    assert not os.path.exists(local.workdir)  # its own directory is removed
    with pytest.raises(OSError):  # nobody listens there any more
        await asyncio.open_connection("127.0.0.1", local.port)


async def test_two_servers_share_a_chat_through_local_redis(redis_program, redis_package):
    import wsdemo

    async with await asyncio.wait_for(backplane.local_redis(), 15) as local:
        a = await asyncio.wait_for(wsdemo.serve(name="lr-a", backplane=local.url), 10)
        b = await asyncio.wait_for(wsdemo.serve(name="lr-b", backplane=local.url), 10)
        try:
            result = await asyncio.wait_for(backplane.measure_cross_server(a, b, n=3), 30)
            assert len(result.across) == 3
        finally:
            await a.stop()
            await b.stop()
    assert local.proc is None


def test_without_redis_server_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.delenv("WSDEMO_REDIS_SERVER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no redis-server on PATH
    with pytest.raises(backplane.RedisNotInstalled) as caught:
        backplane.LocalRedis()
    assert "apt-get install redis-server" in str(caught.value)
    assert "brew install redis" in str(caught.value)
    assert isinstance(caught.value, FileNotFoundError)


async def test_a_program_that_never_answers_ping_is_reported_and_stopped(tmp_path, monkeypatch):
    false = shutil.which("false")  # exits at once, as a redis-server that cannot start would
    monkeypatch.setenv("WSDEMO_REDIS_SERVER", false)
    local = backplane.LocalRedis()
    with pytest.raises(RuntimeError, match=f"did not start on 127.0.0.1:{local.port}"):
        await asyncio.wait_for(local.start(timeout=5), 15)
    assert local.proc is None
    await local.stop()
    assert not os.path.exists(local.workdir)


def test_wsdemo_redis_server_names_the_program(tmp_path, monkeypatch, redis_program):
    monkeypatch.setenv("WSDEMO_REDIS_SERVER", redis_program)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert backplane.LocalRedis().program == redis_program
