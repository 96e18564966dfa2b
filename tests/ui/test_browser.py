"""Every widget in JupyterLab in Chromium: rendered, live, and the hostile text inert.

JupyterLab runs as a subprocess on 127.0.0.1 (free port, random token, temp
config/runtime/settings dirs, notebook windowing off); playwright drives
Debian's chromium. The fixture always shuts JupyterLab and its kernels down.
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
from pathlib import Path

import nbformat
import pytest

from conftest import CHROMIUM_ARGS  # tests/conftest.py (tests/ is on sys.path)
from .demo_notebook import HOSTILE, build

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

NOTEBOOK = "ui-demo.ipynb"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 2.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:  # the test talks to its own JupyterLab
        return r.status, r.read()


def _our_processes(marker: str) -> list[int]:
    """PIDs whose command line names our unique temp dir: JupyterLab and the kernels it started."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd and int(d.name) != os.getpid():
            pids.append(int(d.name))
    return pids


@pytest.fixture
def jupyterlab(tmp_path):
    root, conf, runtime = tmp_path / "root", tmp_path / "config", tmp_path / "runtime"
    settings, workspaces = tmp_path / "settings", tmp_path / "workspaces"
    for d in (root, conf / "labconfig", runtime, workspaces):
        d.mkdir(parents=True)
    nbformat.write(build(), root / NOTEBOOK)
    # Off-screen cells are virtualized by default; render them all so the page can be read.
    tracker = settings / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    notif = settings / "@jupyterlab" / "apputils-extension"
    notif.mkdir(parents=True)
    (notif / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    (conf / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(conf), JUPYTER_RUNTIME_DIR=str(runtime),
               JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(workspaces),
               IPYTHONDIR=str(tmp_path / "ipython"), PYTHONUNBUFFERED="1")
    log = open(tmp_path / "jupyterlab.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--port={port}", "--allow-root",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False",
         f"--ServerApp.root_dir={root}", "--ServerApp.disable_check_xsrf=False"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited ({proc.returncode}):\n"
                                   + (tmp_path / "jupyterlab.log").read_text(errors="replace")[-3000:])
            try:
                if _get(f"{base}/api/status?token={token}")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("JupyterLab did not start within 90 s")
            time.sleep(0.3)
        yield {"base": base, "token": token, "tmp": tmp_path}
    finally:
        try:  # shuts every kernel down, then the server exits by itself
            req = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
            urllib.request.urlopen(req, timeout=5).close()
            proc.wait(timeout=20)
        except Exception:
            pass
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        for pid in _our_processes(str(tmp_path)):  # a kernel left behind (its own session)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()


def _wait_kernel_idle(lab, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kernels = json.loads(_get(f"{lab['base']}/api/kernels?token={lab['token']}")[1])
        if kernels and all(k["execution_state"] == "idle" for k in kernels):
            return
        time.sleep(0.3)
    raise AssertionError("the notebook's kernel did not become idle")


def test_widgets_render_in_jupyterlab(jupyterlab, chromium_path, tmp_path):
    from playwright.sync_api import sync_playwright

    lab = jupyterlab
    shot = tmp_path / "jupyterlab-widgets.png"
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(f"{lab['base']}/lab/tree/{NOTEBOOK}?token={lab['token']}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            _wait_kernel_idle(lab)
            # the kernel indicator in the page must say idle too, or Run All is dropped
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle'], "
                                   "[data-status='idle']", timeout=60_000)
            for attempt in range(3):
                page.locator(".jp-Notebook .jp-Cell").first.click()
                page.locator(".lm-MenuBar-item", has_text="Run").first.click()
                page.get_by_role("menuitem", name="Run All Cells").first.click(timeout=15_000)
                try:  # started: the first cell got an execution count
                    page.wait_for_function(
                        "() => [...document.querySelectorAll('.jp-InputArea-prompt')]"
                        ".some(e => /\\[(\\d+|\\*)\\]/.test(e.textContent))", timeout=15_000)
                    break
                except Exception:
                    page.screenshot(path=str(tmp_path / f"run-all-attempt-{attempt}.png"))
            else:
                raise AssertionError("Run All Cells did not start the notebook")
            # the last cell prints this once every widget exists and the checks passed
            page.wait_for_function(
                "() => [...document.querySelectorAll('.jp-OutputArea-output')]"
                ".some(e => e.textContent.includes('ALL CELLS DONE'))", timeout=120_000)
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            err_text = "\n".join(errors.all_text_contents())
            assert "Error" not in err_text, err_text
            page.wait_for_selector(".wsdemo-inspector .wsdemo-fields", timeout=30_000)

            hs = page.locator(".wsdemo-handshake").text_content()
            assert "Upgrade: websocket" in hs and "Sec-WebSocket-Accept" in hs
            assert "Sec-Websocket-Key" in hs or "Sec-WebSocket-Key" in hs
            assert "✓ matches" in hs
            # one click opens a header's explanation
            key_header = page.locator(".wsdemo-handshake details.wsdemo-header",
                                      has_text="Sec-WebSocket-Version").first
            key_header.locator("summary").click()
            assert key_header.get_attribute("open") is not None
            assert "must be 13" in key_header.text_content()

            insp = page.locator(".wsdemo-inspector")
            fields = insp.locator(".wsdemo-fields").text_content()
            for name in ("FIN", "RSV1", "opcode", "MASK", "payload length", "payload"):
                assert name in fields
            assert "0x1 = TEXT" in fields
            # the hostile chat text: visible literally, nothing created or run
            assert HOSTILE in insp.locator(".wsdemo-payload-text").first.text_content()
            assert HOSTILE in page.locator(".wsdemo-composer").text_content()
            # ipywidgets' Select shows spaces as no-break spaces
            options = [o.replace("\xa0", " ")
                       for o in insp.locator(".wsdemo-rows select option").all_text_contents()]
            assert any(HOSTILE in o for o in options), options
            assert page.locator("img[src='x']").count() == 0
            assert page.locator(".jp-OutputArea img").count() == 0
            panel = page.locator(".wsdemo-connections").first.text_content()
            assert "/chat?name=ann" in panel and "● open" in panel

            insp.scroll_into_view_if_needed()
            page.wait_for_timeout(500)
            page.screenshot(path=str(shot))
            # a second, of the handshake view
            page.locator(".wsdemo-handshake").scroll_into_view_if_needed()
            page.screenshot(path=str(tmp_path / "jupyterlab-handshake.png"))
            assert dialogs == [], dialogs
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    art = os.environ.get("WSDEMO_ARTIFACTS")
    if art:
        Path(art).mkdir(parents=True, exist_ok=True)
        for f in ("jupyterlab-widgets.png", "jupyterlab-handshake.png"):
            shutil.copy(tmp_path / f, Path(art) / f)
