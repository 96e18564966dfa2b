"""``python -m wsdemo serve``: a readable log, real traffic, Ctrl-C stops it cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys

import pytest
import websockets

from .conftest import T


@contextlib.asynccontextmanager
async def serve_command(*args: str):
    """``python -m wsdemo serve ARGS`` as a subprocess: (process, its banner lines up to "Ctrl-C")."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsdemo", "serve", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        lines = []
        while not lines or not lines[-1].startswith("Ctrl-C"):
            line = await asyncio.wait_for(proc.stdout.readline(), T * 3)
            assert line, f"serve exited early: {lines} {await proc.stderr.read()}"
            lines.append(line.decode().rstrip())
        yield proc, lines
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_serve_command_logs_connections_and_stops_on_ctrl_c():
    async with serve_command() as (proc, lines):
        echo = next(m.group(0) for l in lines if (m := re.search(r"ws://127\.0\.0\.1:\d+/echo", l)))
        assert any("/chat.html" in l for l in lines)
        async with websockets.connect(echo, open_timeout=T) as ws:
            await ws.send("from outside")
            assert await asyncio.wait_for(ws.recv(), T) == "from outside"
        logged = []
        while not any("closed" in l for l in logged):
            logged.append((await asyncio.wait_for(proc.stdout.readline(), T)).decode())
        assert re.search(r"\d\d:\d\d:\d\d wsdemo.connections: #1 closed 127\.0\.0\.1:\d+ /echo "
                         r"after \d+\.\d s: WebSocket, close 1000 / 1000, \d+ bytes in", "".join(logged))
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), T) == 0
        rest = (await proc.stdout.read()).decode()
        assert "stopped." in rest


async def test_refused_handshakes_log_at_info_so_notebook_cells_stay_clean(server, caplog):
    # A refused handshake is part of the lessons; it must not reach a cell as a stray warning.
    import logging

    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", server.port), 5)
    writer.write(b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Version: 13\r\n\r\n")  # no key: 400
    with caplog.at_level(logging.DEBUG):
        status = await asyncio.wait_for(reader.readline(), 5)
        await asyncio.sleep(0.05)
    writer.close()
    assert status.startswith(b"HTTP/1.1 400")
    refused = [r for r in caplog.records if r.name == "wsdemo.access" and " 400 " in f" {r.getMessage()} "]
    assert refused and all(r.levelno == logging.INFO for r in refused)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "400" in r.getMessage()]


async def test_classroom_serve_logs_refusals_and_masks_the_token():
    async with serve_command("--classroom") as (proc, lines):
        token = next(l.split(": ", 1)[1] for l in lines if l.startswith("join token: "))
        join = next(l for l in lines if l.startswith("Join: http://"))
        assert join.endswith(f"/chat.html?token={token}")  # the banner shows the token...
        echo = next(m.group(0) for l in lines if (m := re.search(r"ws://127\.0\.0\.1:\d+/echo", l)))
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with websockets.connect(echo, open_timeout=T):
                pass
        assert refused.value.response.status_code == 403
        async with websockets.connect(f"{echo}?token={token}", open_timeout=T) as ws:
            await ws.send("in")
            assert await asyncio.wait_for(ws.recv(), T) == "in"
        logged = []
        while sum("closed" in l for l in logged) < 2:
            logged.append((await asyncio.wait_for(proc.stdout.readline(), T)).decode())
        text = "".join(logged)
        assert re.search(r"wsdemo.access: 403 GET /echo \(127\.0\.0\.1\)", text), text
        assert re.search(r"#1 closed .* /echo after \d+\.\d s: HTTP 403", text), text
        assert f"/echo?token={'*' * len(token)} after" in text
        assert token not in text  # ...the log never does
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), T) == 0


async def test_serve_command_sets_the_apps_connection_cap():
    # --max-connections raises (or lowers) AppState's cap on open WebSockets; past it, a 503
    # that names the cap. (bench/connections.py opens thousands through the serve command.)
    async with serve_command("--max-connections", "2") as (proc, lines):
        echo = next(m.group(0) for l in lines if (m := re.search(r"ws://127\.0\.0\.1:\d+/echo", l)))
        async with websockets.connect(echo, open_timeout=T), websockets.connect(echo, open_timeout=T):
            with pytest.raises(websockets.InvalidStatus) as refused:
                await websockets.connect(echo, open_timeout=T)
            assert refused.value.response.status_code == 503
            assert b"the cap is 2" in refused.value.response.body
        proc.terminate()
        await asyncio.wait_for(proc.wait(), T)


async def test_serve_command_refuses_a_connection_cap_out_of_range():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsdemo", "serve", "--max-connections", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), T * 3)
    assert proc.returncode == 2
    assert "max_connections must be an integer from 1 to 100,000, got 0" in err.decode()
    assert "Traceback" not in err.decode()


def test_serve_command_sets_its_start_up_objects_aside_from_full_collections():
    # run_forever owns its process: once the lab is up it freezes what is alive (modules,
    # classes, the server), so full GC passes under load walk only what came later.
    import subprocess

    code = ("import gc, os, signal, threading, time\n"
            "from wsdemo.live.serving import run_forever\n"
            "def watch():\n"
            "    end = time.monotonic() + 20\n"
            "    while not gc.get_freeze_count() and time.monotonic() < end:\n"
            "        time.sleep(0.05)\n"
            "    print('frozen', gc.get_freeze_count(), flush=True)\n"
            "    os.kill(os.getpid(), signal.SIGINT)\n"
            "threading.Thread(target=watch, daemon=True).start()\n"
            "raise SystemExit(run_forever(port=0))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (line,) = [l for l in done.stdout.splitlines() if l.startswith("frozen ")]
    assert int(line.split()[1]) > 10_000  # modules, classes, functions: not a handful


async def test_serve_in_a_kernel_leaves_the_collector_alone(server):
    # serve() runs in the learner's process: freezing there would keep their garbage forever.
    import gc

    assert gc.get_freeze_count() == 0
