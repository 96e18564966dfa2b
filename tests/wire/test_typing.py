"""The wire layer is type-checked strictly, and `make test` does it before the tests run."""

import importlib.util
import pathlib
import re
import subprocess
import sys
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_make_test_runs_mypy_before_pytest():
    script = (ROOT / "scripts" / "dev.sh").read_text()
    test_case = script[script.index("  test)"):]
    assert re.search(r'"\$VENV/bin/python" -m mypy \|\| die', test_case)
    assert test_case.index("-m mypy") < test_case.index("-m pytest")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert any(r.startswith("mypy") for r in pyproject["project"]["optional-dependencies"]["test"])
    config = pyproject["tool"]["mypy"]
    assert config["strict"] is True and config["files"] == ["wsdemo/wire"]


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is installed by the test extras")
def test_wire_passes_mypy_strict():
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", "wsdemo/wire"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
