"""The teacher's notebook (notebooks/src/teacher.py -> notebooks/teacher.ipynb).

nbval runs it like every notebook (its outputs are compared there); these tests check what
nbval cannot: that it is built and checked with the course, that a test run listens on
loopback only while a class listens on every interface, and that *Run All* a second time
during a class keeps the running server instead of failing or dropping the students.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "notebooks" / "src" / "teacher.py"

spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "scripts" / "build_notebooks.py")
build_notebooks = importlib.util.module_from_spec(spec)
sys.modules.setdefault("build_notebooks", build_notebooks)  # its dataclasses look their module up there
spec.loader.exec_module(build_notebooks)


def _cells():
    return build_notebooks.parse_source(SOURCE.read_text(encoding="utf-8"), SOURCE.name)


def test_teacher_notebook_is_built_and_checked_with_the_course_but_is_not_a_lesson_of_it():
    assert SOURCE in build_notebooks.all_sources()
    assert build_notebooks.select(["teacher"]) == [SOURCE]
    assert build_notebooks.notebook_path(SOURCE) == ROOT / "notebooks" / "teacher.ipynb"
    assert build_notebooks.short_name(SOURCE) == "teacher"
    # the course's own checks (an exercise per notebook, a row in the course map) are for 00-07
    assert SOURCE not in build_notebooks.sources()


def test_teacher_notebook_listens_where_the_environment_says_never_on_a_literal_loopback():
    code = "\n".join(c.source for c in _cells() if c.cell_type == "code")
    for loopback in ("127.0.0.1", "localhost", "::1"):
        assert loopback not in code
    assignments = {n.targets[0].id: ast.unparse(n.value) for n in ast.walk(ast.parse(code))
                   if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)}
    assert assignments["HOST"] == "os.environ.get('WSDEMO_CLASSROOM_HOST', '0.0.0.0')"
    assert assignments["PORT"] == "int(os.environ.get('WSDEMO_CLASSROOM_PORT', '8765'))"
    # no cell stops the server: Run All must never end a class
    assert ".stop(" not in code


def test_nbval_and_the_builder_run_the_notebooks_on_loopback_whatever_the_shell_exported():
    assert build_notebooks.KERNEL_ENV == {"WSDEMO_CLASSROOM_HOST": "127.0.0.1", "WSDEMO_CLASSROOM_PORT": "0"}
    # notebooks/conftest.py is what pytest loads when it collects notebooks/ for nbval; the
    # kernels nbval starts inherit this process's environment.
    env = {**os.environ, "WSDEMO_CLASSROOM_HOST": "0.0.0.0", "WSDEMO_CLASSROOM_PORT": "8765"}
    out = subprocess.run(
        [sys.executable, "-c", "import os, runpy; runpy.run_path('notebooks/conftest.py'); "
         "print(os.environ['WSDEMO_CLASSROOM_HOST'], os.environ['WSDEMO_CLASSROOM_PORT'])"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["127.0.0.1", "0"]
    # what nbval compares against: the saved join card names loopback, so a run that listened
    # anywhere else would show another address and fail
    import nbformat

    nb = nbformat.read(str(build_notebooks.notebook_path(SOURCE)), as_version=4)
    texts = [o.get("data", {}).get("text/plain", "") for c in nb.cells if c.cell_type == "code"
             for o in c.outputs]
    assert any(t.startswith("Join: http://127.0.0.1:") for t in texts), texts


@pytest.mark.timeout(120)
def test_run_all_twice_in_one_kernel_keeps_the_class_server():
    """A teacher who runs every cell again mid-class gets the same server back (its port, its
    join link, its students), not a ServerBusy error and not a new server."""
    from nbclient import NotebookClient

    import nbformat

    nb = build_notebooks.to_notebook(_cells(), SOURCE.stem)
    lesson = list(nb.cells)
    # then: what the server is, and (last) stop it, as the teacher does after class
    probe = nbformat.v4.new_code_cell(
        "import wsdemo.live.server as _s\n"
        "print(id(server), server.port, server.token, server.running, "
        "sum(1 for x in _s.running() if x.classroom))")
    stop = nbformat.v4.new_code_cell("await asyncio.wait_for(server.stop(), T)")
    nb.cells += [probe, stop]
    client = NotebookClient(nb, timeout=60, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "notebooks")}})

    def run_all_and_probe() -> list[str]:
        for index, cell in enumerate(lesson):
            client.execute_cell(cell, index)  # raises CellExecutionError on an error
        client.execute_cell(probe, len(lesson))
        return "".join(o.get("text", "") for o in probe.outputs).split()

    env = {**os.environ, **build_notebooks.KERNEL_ENV}
    with client.setup_kernel(env=env):
        first = run_all_and_probe()
        second = run_all_and_probe()
        client.execute_cell(stop, len(lesson) + 1)
    assert first[3:] == ["True", "1"], first
    assert second == first  # the same object, port and token, still running, still alone
