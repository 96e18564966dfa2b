"""The conda/Binder route (environment.yml) and pip route (pyproject.toml) stay in step,
and the set-up entry points do what the README says."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# pip name -> conda-forge name, where they differ
CONDA_NAME = {"graphviz": "python-graphviz", "redis": "redis-py"}
# pulled in by "wsdemo[lab]" inside the test extra
SELF_REFERENCE = re.compile(r"^wsdemo\[")


def _name_and_spec(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    assert m, req
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"])
    for extra in data["project"]["optional-dependencies"].values():
        reqs += [r for r in extra if not SELF_REFERENCE.match(r)]
    return dict(_name_and_spec(r) for r in reqs)


def environment_requirements() -> dict[str, str]:
    deps: dict[str, str] = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"^  - ([A-Za-z0-9_.\-]+)(\S*)\s*$", line)
        if m:
            deps[m.group(1).lower()] = m.group(2)
    return deps


def test_environment_yml_lists_every_pyproject_requirement_with_the_same_bounds():
    env = environment_requirements()
    missing, different = [], []
    for name, spec in pyproject_requirements().items():
        conda = CONDA_NAME.get(name, name)
        if conda not in env:
            missing.append(conda)
        elif env[conda] != spec:
            different.append(f"{conda}: environment.yml {env[conda]!r} vs pyproject {spec!r}")
    assert not missing, f"environment.yml lacks {missing}"
    assert not different, different


def test_environment_yml_installs_wsdemo_itself_with_pip():
    # A local pip requirement also makes repo2docker (Binder) copy the repository first.
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^  - pip:\n      - -e \.$", text, re.M)


def test_environment_yml_has_the_programs_pip_cannot_install():
    env = environment_requirements()
    assert "graphviz" in env, "the dot program comes from conda-forge's graphviz"
    # conda-forge's "redis" is an old copy of the Python client; the server is redis-server.
    assert "redis-server" in env and "redis" not in env
    assert "python" in env and "pip" in env


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make lab" in readme
    assert re.search(r"^  exec make test$", ci, re.M)
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test:\n\t@scripts/dev.sh test$", makefile, re.M)
    assert re.search(r"^exec scripts/dev.sh test", ci, re.M)


def test_setup_script_is_valid_bash_and_refuses_unknown_commands():
    script = ROOT / "scripts" / "dev.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    out = subprocess.run(["bash", str(script), "nonsense"], capture_output=True, text=True)
    assert out.returncode == 2 and "usage" in out.stderr


def test_wire_layer_imports_no_io_or_ui():
    # DESIGN.md: the wire layer is sans-IO.
    forbidden = re.compile(r"^\s*(from|import)\s+(tornado|asyncio|ipywidgets|graphviz|socket)\b", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "wsdemo" / "wire").rglob("*.py")
                 if forbidden.search(p.read_text())]
    assert not offenders
    code = "import sys, wsdemo.wire; bad = {'tornado', 'asyncio', 'ipywidgets', 'graphviz', 'socket'} & set(sys.modules); print(sorted(bad))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"importing wsdemo.wire pulled in {out.strip()}"
