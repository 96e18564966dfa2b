"""End-to-end fixtures: Jupyter servers (plain, Lab, Voilà) as subprocesses on 127.0.0.1,
real Chromium through playwright, screenshots kept as artifacts.

The launchers are tests/jupyter_servers.py (shared with tests/ui): each subprocess
runs in its own session with temp config/runtime dirs under the test's tmp_path,
is shut down (API, then SIGTERM, then SIGKILL of the process group) and any kernel
left behind is killed. Every wait has a deadline.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
T = 15.0  # seconds for any single step of a test

# The launchers live once in tests/jupyter_servers.py (tests/ui uses them too); these
# names stay importable from here for the e2e tests.
from jupyter_servers import free_port, http_get, jupyter, jupyter_env, running, voila  # noqa: F401,E402


async def screenshot(page, tmp_path: Path, name: str, **kw) -> Path:
    """A screenshot in the test's tmp_path, copied to $WSDEMO_ARTIFACTS when set."""
    path = tmp_path / name
    await page.screenshot(path=str(path), **kw)
    art = os.environ.get("WSDEMO_ARTIFACTS")
    if art:
        Path(art).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(art) / path.name)
    return path


@pytest.fixture
def jupyter_server(tmp_path):
    """A plain ``jupyter server`` (jupyter-server-proxy enabled) on 127.0.0.1."""
    with jupyter(tmp_path, "jupyter_server") as j:
        yield j


@pytest.fixture
def jupyterlab(tmp_path):
    with jupyter(tmp_path, "jupyterlab") as j:
        yield j
