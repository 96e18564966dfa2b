"""Fixtures for the widget tests that watch a live lab."""

from __future__ import annotations

import asyncio

import pytest

import wsdemo


@pytest.fixture
async def server():
    srv = await wsdemo.serve(ring_size=2000)
    try:
        yield srv
    finally:
        await asyncio.wait_for(srv.stop(), 10)
