"""The package is type-checked, the wire layer strictly, and `make test` does it before the tests run."""

import importlib.util
import os
import pathlib
import re
import subprocess
import sys
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
# What `mypy --strict` turns on (mypy 1.x), set per module for the wire layer.
STRICT_FLAGS = {
    "disallow_any_generics", "disallow_subclassing_any", "disallow_untyped_calls", "disallow_untyped_defs",
    "disallow_incomplete_defs", "check_untyped_defs", "disallow_untyped_decorators", "warn_unused_ignores",
    "warn_return_any", "no_implicit_reexport", "strict_equality", "extra_checks",
}
needs_mypy = pytest.mark.skipif(importlib.util.find_spec("mypy") is None and os.environ.get("CI") != "true",
                                reason="mypy is installed by the test extras (make test)")


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_make_test_runs_mypy_before_pytest():
    script = (ROOT / "scripts" / "dev.sh").read_text()
    test_case = script[script.index("  test)"):]
    assert re.search(r'"\$VENV/bin/python" -m mypy \|\| die', test_case)
    assert test_case.index("-m mypy") < test_case.index("-m pytest")
    pyproject = _config()
    assert any(r.startswith("mypy") for r in pyproject["project"]["optional-dependencies"]["test"])
    assert pyproject["tool"]["mypy"]["files"] == ["wsdemo"]


def test_the_wire_layer_gets_every_strict_flag():
    overrides = [o for o in _config()["tool"]["mypy"]["overrides"] if "wsdemo.wire.*" in o["module"]]
    assert len(overrides) == 1
    assert {flag for flag in STRICT_FLAGS if overrides[0].get(flag) is True} == STRICT_FLAGS


@needs_mypy
def test_the_package_passes_mypy_as_configured():
    out = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr


@needs_mypy
def test_the_configured_check_is_strict_on_wire(tmp_path):
    # an untyped function in a wire module is an error under the configuration, elsewhere not
    for part in ("wsdemo", "wsdemo/wire", "wsdemo/live"):
        (tmp_path / part).mkdir(exist_ok=True)
        (tmp_path / part / "__init__.py").write_text("")
    for where, expect_error in (("wsdemo/wire/probe.py", True), ("wsdemo/live/probe.py", False)):
        (tmp_path / where).write_text("def f(x):\n    return x\n")
        out = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), where],
                             cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert ("no-untyped-def" in out.stdout) is expect_error, out.stdout
