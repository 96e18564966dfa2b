"""/cursors coalesces moves per tick (issue 13): at most one frame per tick for each member,
carrying the latest position of every cursor that moved since the last tick."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

import wsdemo

from .conftest import T

MOVERS, MOVES = 4, 60


@pytest.fixture
async def ticking():
    # 5 ticks a second: a burst of moves sent back to back lands in a few ticks, not in one
    # frame per move.
    srv = await asyncio.wait_for(wsdemo.serve(cursor_tick_hz=5), T)
    yield srv
    await asyncio.wait_for(srv.stop(), T)


async def _join(server, name):
    client = await server.connect(f"/cursors?name={name}")
    hello = json.loads(await client.recv(timeout=T))
    assert hello["type"] == "hello"
    return client, hello["id"]


async def _frames_until(client, done) -> list[dict]:
    """Every frame ``client`` receives, until ``done(frames)``."""
    frames: list[dict] = []
    while not done(frames):
        frames.append(json.loads(await client.recv(timeout=T)))
    return frames


async def test_fast_movers_reach_everyone_once_per_tick_with_their_last_position(ticking):
    movers = [await _join(ticking, f"m{i}") for i in range(MOVERS)]
    watcher, _ = await _join(ticking, "watcher")
    last = {}
    for step in range(MOVES):  # every mover sends MOVES positions, as fast as it can
        for i, (client, cid) in enumerate(movers):
            last[cid] = {"x": step / MOVES, "y": i / MOVERS}
            await client.send_json(last[cid])

    def arrived(frames):
        latest = {}
        for frame in frames:
            for move in frame.get("moves", ()):
                latest[move["id"]] = {"x": move["x"], "y": move["y"]}
        return latest == last

    for client in [watcher] + [c for c, _ in movers]:  # movers get the same frames (theirs too)
        frames = await _frames_until(client, arrived)
        assert {f["type"] for f in frames} == {"moves"}
        ticks = [f["tick"] for f in frames]
        assert ticks == sorted(set(ticks)), ticks  # one frame per tick, ticks increasing
        for frame in frames:  # a mover appears once per tick: its latest position then
            ids = [m["id"] for m in frame["moves"]]
            assert len(ids) == len(set(ids))
            assert all(set(m) == {"id", "name", "x", "y"} for m in frame["moves"])
        # Coalesced: far fewer frames than the moves sent (one a move would be MOVERS * MOVES).
        assert len(frames) < MOVERS * MOVES / 4, len(frames)
    for client, _ in movers:
        await client.close()
    await watcher.close()


async def test_a_move_waiting_for_its_tick_does_not_bring_back_a_cursor_that_left(ticking):
    leaver, leaver_id = await _join(ticking, "leaver")
    stayer, _ = await _join(ticking, "stayer")
    mover, mover_id = await _join(ticking, "mover")
    await leaver.send_json({"x": 0.1, "y": 0.1})
    await leaver.close()  # before its tick, most likely; the leave must still be the last word
    frames = await _frames_until(stayer, lambda f: f and f[-1] == {"type": "leave", "id": leaver_id})
    await mover.send_json({"x": 0.9, "y": 0.9})  # a later tick, after the leave
    later = await _frames_until(stayer, lambda f: any(
        m["id"] == mover_id for frame in f for m in frame.get("moves", ())))
    assert all(m["id"] != leaver_id for frame in later for m in frame.get("moves", ())), (frames, later)
    await stayer.close()
    await mover.close()


@pytest.mark.parametrize("value", [0, -1, 101, float("nan"), "20", True])
async def test_the_tick_rate_is_checked(value):
    with pytest.raises(ValueError, match="cursor_tick_hz must be .* from 1 to 100"):
        await wsdemo.serve(cursor_tick_hz=value)


async def test_the_tick_rate_can_change_live_within_its_range(ticking):
    ticking.app_state.cursor_tick_hz = 50
    with pytest.raises(ValueError, match="from 1 to 100"):
        ticking.app_state.cursor_tick_hz = 1000
    assert ticking.app_state.cursor_tick_hz == 50
    a, _ = await _join(ticking, "a")
    await a.send_json({"x": 0.5, "y": 0.5})
    frame = json.loads(await a.recv(timeout=T))
    assert frame["type"] == "moves" and frame["moves"][0]["x"] == 0.5
    await a.close()


async def test_the_serve_command_takes_the_tick_rate_and_checks_it():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsdemo", "serve", "--cursor-tick-hz", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), T * 3)
    assert proc.returncode == 2
    assert "cursor_tick_hz must be a number from 1 to 100 ticks per second, got 0.0" in err.decode()
    assert "Traceback" not in err.decode()
