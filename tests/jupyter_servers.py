"""Jupyter front ends as subprocesses for browser tests, and running a notebook in the page.

One implementation for tests/ui and tests/e2e:

- ``jupyter(tmp_path, app)``: JupyterLab (``"jupyterlab"``), Notebook 7
  (``"notebook"``) or a plain ``"jupyter_server"`` (its extensions, such as
  jupyter-server-proxy, enabled) on 127.0.0.1, free port, random token, temp
  config/runtime/settings dirs (notebook windowing off, no news fetching).
- ``voila(tmp_path, notebook)``: Voilà serving one notebook on 127.0.0.1.
- ``run_all_cells(page)``: runs every cell of the notebook open in a playwright
  page (JupyterLab 4 or Notebook 7) through the app's own command, after the
  kernel is connected and idle, and waits for the last code cell's execution
  count. No clicking through menus, no retries.

Every start and stop has a deadline. Each subprocess runs in its own session; on
exit it is shut down through its API, then SIGTERM, then SIGKILL of its process
group, and any kernel left behind (found by the test's temp dir in its command
line) is killed.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

APPS = {
    # app -> (python -m module, flags that make window.jupyterapp available to run_all_cells)
    "jupyterlab": ("jupyterlab", ["--LabApp.expose_app_in_browser=True"]),
    "notebook": ("notebook", ["--JupyterNotebookApp.expose_app_in_browser=True"]),
    "jupyter_server": ("jupyter_server", []),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """A blocking GET to our own subprocess (never to a server on the test's loop)."""
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def processes_naming(marker: str) -> list[int]:
    """PIDs (not ours) whose command line contains ``marker``."""
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
    """Environment with Jupyter's config, runtime, settings and workspaces under ``tmp_path``."""
    conf, runtime, settings = tmp_path / "jconfig", tmp_path / "jruntime", tmp_path / "jsettings"
    for d in (conf / "labconfig", runtime, settings, tmp_path / "jworkspaces"):
        d.mkdir(parents=True, exist_ok=True)
    # Render every cell (JupyterLab and Notebook 7 virtualize off-screen cells by default,
    # and a virtualized cell has no text to read) and keep the front end off the network.
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
    # A developer's shell may point wsdemo at a proxy or a LAN address: tests run on loopback.
    for name in ("JUPYTERHUB_SERVICE_PREFIX", "WSDEMO_PROXY_PREFIX", "WSDEMO_CLASSROOM_HOST"):
        env.pop(name, None)
    env.update(extra)
    return env


def _stop(proc: subprocess.Popen, shutdown_url: str | None) -> None:
    if shutdown_url and proc.poll() is None:
        try:  # shuts its kernels down too
            req = urllib.request.Request(shutdown_url, method="POST")
            urllib.request.urlopen(req, timeout=5).close()
            proc.wait(timeout=15)
        except Exception:
            pass
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass


@contextmanager
def running(cmd: list[str], *, tmp_path: Path, name: str, ready_url: str, env: dict, cwd: Path,
            startup: float = 90.0, shutdown_url: str | None = None
            ) -> Iterator[tuple[subprocess.Popen, Path]]:
    """Start ``cmd``, wait until ``ready_url`` answers 200 (``tcp://host:port``: accepts a
    connection), yield ``(proc, log_path)``, and always clean up."""
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
        _stop(proc, shutdown_url)
        # A kernel runs in a session of its own; its connection file is under tmp_path.
        for pid in processes_naming(str(tmp_path).rstrip("/") + "/"):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()


@dataclass
class Jupyter:
    """A running Jupyter front end. ``info["base"]`` works too (older tests read it as a dict)."""

    app: str
    base: str            # "http://127.0.0.1:PORT/"
    port: int
    token: str
    root: Path           # the server's root_dir: put notebooks here
    log: Path
    proc: subprocess.Popen = field(repr=False)

    def __getitem__(self, key: str):
        return getattr(self, key)

    def url(self, path: str = "") -> str:
        """``base + path`` with the token (logs the browser in)."""
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path.lstrip('/')}{sep}token={self.token}"

    def notebook_url(self, name: str) -> str:
        """Where this front end opens a notebook: /lab/tree/NAME or /notebooks/NAME."""
        prefix = {"jupyterlab": "lab/tree/", "notebook": "notebooks/"}.get(self.app)
        if prefix is None:
            raise ValueError(f"{self.app} has no notebook page")
        return self.url(prefix + name)

    def kernels(self) -> list[dict]:
        return json.loads(http_get(self.url("api/kernels"))[1])


@contextmanager
def jupyter(tmp_path: Path, app: str = "jupyterlab", extra_args: list[str] = (),
            startup: float = 90.0) -> Iterator[Jupyter]:
    """JupyterLab, Notebook 7 or a plain Jupyter server on 127.0.0.1 (see the module doc)."""
    module, flags = APPS[app]
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    port, token = free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", module, "--ip=127.0.0.1", f"--port={port}", "--allow-root",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           "--ServerApp.open_browser=False", f"--ServerApp.root_dir={root}", *flags, *extra_args]
    base = f"http://127.0.0.1:{port}/"
    with running(cmd, tmp_path=tmp_path, name=app, env=jupyter_env(tmp_path), cwd=root,
                 ready_url=f"{base}api/status?token={token}", startup=startup,
                 shutdown_url=f"{base}api/shutdown?token={token}") as (proc, log):
        yield Jupyter(app, base, port, token, root, log, proc)


@contextmanager
def voila(tmp_path: Path, notebook: Path, extra_args: list[str] = (),
          startup: float = 90.0) -> Iterator[dict]:
    """Voilà serving ``notebook`` on 127.0.0.1; yields {"base", "port", "token", "log"}."""
    port, token = free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}",
           "--Voila.ip=127.0.0.1", "--Voila.port_retries=0", f"--Voila.token={token}", *extra_args]
    # Voilà runs the notebook on GET /, so "ready" is: the port accepts connections.
    with running(cmd, tmp_path=tmp_path, name="voila", env=jupyter_env(tmp_path),
                 cwd=Path(notebook).parent, ready_url=f"tcp://127.0.0.1:{port}",
                 startup=startup) as (proc, log):
        yield {"base": f"http://127.0.0.1:{port}/", "port": port, "token": token, "log": log,
               "proc": proc}


# --------------------------------------------------------------------------- in the page

# The open notebook panel of a JupyterLab 4 / Notebook 7 page (window.jupyterapp is
# exposed by the flags in APPS).
_PANEL = """
const app = window.jupyterapp;
let panel = null;
if (app && app.shell) {
  const cur = app.shell.currentWidget;
  if (cur && cur.content && cur.sessionContext) { panel = cur; }
  else if (app.shell.widgets) {
    for (const w of app.shell.widgets('main')) { if (w.content && w.sessionContext) { panel = w; break; } }
  }
}
"""

_KERNEL_READY = "() => {" + _PANEL + """
  if (!panel || !panel.context.isReady) return false;
  const k = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!k && k.connectionStatus === 'connected' && k.status === 'idle';
}"""

_START = "async () => {" + _PANEL + """
  app.shell.activateById(panel.id);
  const state = window.__wsdemoRunAll = {done: false, ok: null, error: null};
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  cells.forEach(c => c.model.executionCount = null);   // so 'done' cannot be a stale count
  app.commands.execute('notebook:run-all-cells')
    .then(ok => { state.ok = ok; state.done = true; },
          e => { state.error = String(e); state.done = true; });
  return cells.length;
}"""

_FINISHED = "() => {" + _PANEL + """
  const s = window.__wsdemoRunAll;
  if (!s || !s.done) return false;
  const k = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !k || k.status === 'idle';
}"""

_RESULT = "() => {" + _PANEL + """
  const s = window.__wsdemoRunAll;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  const counts = cells.map(c => c.model.executionCount);
  const errors = [];
  cells.forEach((c, i) => {
    const outs = c.model.outputs;
    for (let j = 0; j < outs.length; j++) {
      const o = outs.get(j);
      if (o.type === 'error') errors.push(`cell ${i}: ${o.toJSON().ename}: ${o.toJSON().evalue}`);
    }
  });
  return {ok: s.ok, error: s.error, counts, errors};
}"""


async def run_all_cells(page, *, timeout: float = 120.0) -> list[int]:
    """Run every cell of the notebook open in ``page`` and wait until the last has run.

    Waits (bounded) for the notebook's kernel to be connected and idle, runs the
    app's own ``notebook:run-all-cells`` command (what Run ▸ Run All Cells does),
    then waits for that command to finish, the kernel to be idle and every code
    cell to have an execution count. Raises AssertionError naming the cell that
    failed. Returns the execution counts.
    """
    ms = timeout * 1000
    await page.wait_for_function("() => !!(window.jupyterapp && window.jupyterapp.shell)", timeout=ms)
    await page.wait_for_function(_KERNEL_READY, timeout=ms)
    await page.evaluate(_START)
    await page.wait_for_function(_FINISHED, timeout=ms, polling=200)
    result = await page.evaluate(_RESULT)
    if result["errors"] or result["error"] or not result["ok"]:
        raise AssertionError(f"Run All Cells failed: {result}")
    if any(c is None for c in result["counts"]):
        raise AssertionError(f"some cells did not run: execution counts {result['counts']}")
    return result["counts"]
