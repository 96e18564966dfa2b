"""Shared test helpers.

Tests that need ``dot``, Chromium or ``redis-server`` skip on a learner's machine without them,
saying why, but fail in CI (CI=true), where they must run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = os.environ.get("WSDEMO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def _need(ok: bool, what: str, install: str) -> None:
    if ok:
        return
    msg = f"{what} is not installed ({install})"
    if IN_CI:
        pytest.fail(f"CI must run this test, but {msg}", pytrace=False)
    pytest.skip(msg)


@pytest.fixture
def need_dot():
    _need(shutil.which("dot") is not None, "graphviz's dot", "apt-get install graphviz")


@pytest.fixture
def need_certutil():
    _need(shutil.which("certutil") is not None, "NSS's certutil", "apt-get install libnss3-tools")


@pytest.fixture
def chromium_path():
    _need(os.path.exists(CHROMIUM), "Chromium", "apt-get install chromium")
    return CHROMIUM


CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]


@pytest.fixture
async def browser(chromium_path):
    """Debian's Chromium under playwright (no browser download), closed after the test."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


REDIS_SERVER = os.environ.get("WSDEMO_REDIS_SERVER") or shutil.which("redis-server")


class RedisServer:
    """A real redis-server of the test's own on a free loopback port, nothing saved to disk.
    ``kill()`` and ``start()`` again (same port) stand in for an outage."""

    def __init__(self, workdir):
        self.workdir = workdir
        with socket.socket() as s:  # a free port; redis-server binds it again at once
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    async def start(self, timeout: float = 10.0) -> None:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:  # ready when it answers PING
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.write(b"PING\r\n")
                answer = await asyncio.wait_for(reader.readline(), 2)
                writer.close()
                if answer.startswith(b"+PONG"):
                    return
            except (OSError, asyncio.TimeoutError):
                pass
            if self.proc.poll() is not None or asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
async def redis_server(tmp_path):
    """A running redis-server (skips off CI without one, fails in CI), stopped after the test."""
    _need(REDIS_SERVER is not None and os.path.exists(REDIS_SERVER), "redis-server",
          "apt-get install redis-server")
    try:
        import redis  # noqa: F401
    except ImportError:
        _need(False, "the redis package", "pip install 'wsdemo[scale]'")
    server = RedisServer(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        server.kill()
