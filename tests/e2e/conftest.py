"""End-to-end fixtures: Jupyter servers (plain, Lab, Voilà) as subprocesses on 127.0.0.1,
real Chromium through playwright, screenshots kept as artifacts.

Every subprocess runs in its own session with temp config/runtime dirs under the
test's tmp_path; the finalizer shuts it down (API, then SIGTERM, then SIGKILL of
the process group) and kills any kernel left behind (found by that tmp_path in its
command line). Every wait has a deadline.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
T = 15.0  # seconds for any single step of a test


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """A blocking GET to our own subprocess (never to a server on the test's loop)."""
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


async def screenshot(page, tmp_path: Path, name: str, **kw) -> Path:
    """A screenshot in the test's tmp_path, copied to $WSDEMO_ARTIFACTS when set."""
    path = tmp_path / name
    await page.screenshot(path=str(path), **kw)
    art = os.environ.get("WSDEMO_ARTIFACTS")
    if art:
        Path(art).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(art) / path.name)
    return path


def _processes_naming(marker: str) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd:
            pids.append(int(d.name))
    return pids


def jupyter_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    conf, runtime, settings = tmp_path / "jconfig", tmp_path / "jruntime", tmp_path / "jsettings"
    for d in (conf / "labconfig", runtime, settings, tmp_path / "jworkspaces"):
        d.mkdir(parents=True, exist_ok=True)
    # Render every notebook cell (no windowing) and keep JupyterLab off the network.
    tracker = settings / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True, exist_ok=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    notif = settings / "@jupyterlab" / "apputils-extension"
    notif.mkdir(parents=True, exist_ok=True)
    (notif / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    (conf / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(conf), JUPYTER_RUNTIME_DIR=str(runtime),
               JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "jworkspaces"),
               IPYTHONDIR=str(tmp_path / "ipython"), PYTHONUNBUFFERED="1")
    env.pop("JUPYTERHUB_SERVICE_PREFIX", None)
    env.pop("WSDEMO_PROXY_PREFIX", None)
    env.update(extra)
    return env


@contextmanager
def running(cmd: list[str], *, tmp_path: Path, name: str, ready_url: str, env: dict, cwd: Path,
            startup: float = 90.0, shutdown_url: str | None = None):
    """Start ``cmd``, wait until ``ready_url`` answers 200, and always clean up."""
    log_path = tmp_path / f"{name}.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + startup
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({proc.returncode}):\n"
                                   + log_path.read_text(errors="replace")[-3000:])
            try:
                if ready_url.startswith("tcp://"):  # listening is enough (GET / would run a notebook)
                    host, port = ready_url[6:].rsplit(":", 1)
                    socket.create_connection((host, int(port)), timeout=1).close()
                    break
                if http_get(ready_url)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start within {startup:g} s:\n"
                                   + log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.25)
        yield proc, log_path
    finally:
        if shutdown_url:
            try:  # shuts its kernels down too
                req = urllib.request.Request(shutdown_url, method="POST")
                urllib.request.urlopen(req, timeout=5).close()
                proc.wait(timeout=15)
            except Exception:
                pass
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        for pid in _processes_naming(str(tmp_path)):  # a kernel in a session of its own
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()


def _jupyter(tmp_path: Path, app: str, extra_args: list[str] = ()):
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    port, token = free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", app, "--ip=127.0.0.1", f"--port={port}", "--allow-root",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           "--ServerApp.open_browser=False", f"--ServerApp.root_dir={root}", *extra_args]
    base = f"http://127.0.0.1:{port}/"
    ctx = running(cmd, tmp_path=tmp_path, name=app.replace(".", "_"), env=jupyter_env(tmp_path),
                  cwd=root, ready_url=f"{base}api/status?token={token}",
                  shutdown_url=f"{base}api/shutdown?token={token}")
    return ctx, {"base": base, "port": port, "token": token, "root": root}


@pytest.fixture
def jupyter_server(tmp_path):
    """A plain ``jupyter server`` (jupyter-server-proxy enabled) on 127.0.0.1."""
    ctx, info = _jupyter(tmp_path, "jupyter_server")
    with ctx as (proc, log):
        info["log"] = log
        yield info


@pytest.fixture
def jupyterlab(tmp_path):
    ctx, info = _jupyter(tmp_path, "jupyterlab")
    with ctx as (proc, log):
        info["log"] = log
        yield info


@pytest.fixture
async def browser(chromium_path):
    from playwright.async_api import async_playwright

    from conftest import CHROMIUM_ARGS  # tests/conftest.py

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()
