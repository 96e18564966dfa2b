"""Shared test helpers.

Tests that need ``dot``, Chromium or ``redis-server`` skip on a learner's machine without them,
saying why, but fail in CI (CI=true), where they must run.
"""

from __future__ import annotations

import asyncio
import os
import shutil

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


@pytest.fixture
def redis_program():
    """The redis-server program (skips off CI without one, fails in CI)."""
    from wsdemo.live.backplane import INSTALL_REDIS, find_redis_server

    program = find_redis_server()
    _need(program is not None, "redis-server", INSTALL_REDIS)
    return program


@pytest.fixture
def redis_package():
    try:
        import redis  # noqa: F401
    except ImportError:
        _need(False, "the redis package", "pip install 'wsdemo[scale]'")


@pytest.fixture
async def redis_server(redis_program, redis_package, tmp_path):
    """A running redis-server (wsdemo.live.backplane.LocalRedis; skips off CI without one, fails in
    CI), stopped after the test. ``kill()`` and ``start()`` again (same port): an outage."""
    from wsdemo.live.backplane import LocalRedis

    server = LocalRedis(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        server.kill()
