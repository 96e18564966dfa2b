"""The committed notebooks are built from notebooks/src/*.py, and still match them.

nbval (the README's test command) runs the .ipynb files; this test makes sure
those files are what their reviewed sources say, were run top to bottom (nbval
does not compare outputs of a cell that never ran), and skip nothing.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "build_notebooks.py"

spec = importlib.util.spec_from_file_location("build_notebooks", SCRIPT)
build_notebooks = importlib.util.module_from_spec(spec)
sys.modules["build_notebooks"] = build_notebooks  # dataclasses look their module up there
spec.loader.exec_module(build_notebooks)


def test_every_notebook_matches_its_source():
    out = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_readme_links_only_notebooks_that_exist_or_are_planned_with_a_source():
    readme = (ROOT / "README.md").read_text()
    for src in build_notebooks.sources():
        assert f"notebooks/{src.stem}.ipynb" in readme, f"README's course map lacks {src.stem}"


def test_parser_reads_code_markdown_tags_and_metadata():
    text = (
        "# A note before the first cell is dropped.\n"
        "\n"
        "# %% [markdown]\n"
        "# # Title\n"
        "#\n"
        "# Some *text*.\n"
        "\n"
        "# %%\n"
        "x = 1\n"
        "\n"
        "\n"
        "# %% tags=[\"nbval-ignore-output\"]\n"
        "print(x)  # a comment stays\n"
        "# %% jupyter={\"source_hidden\": true} tags=[\"solution\"]\n"
        "solution()\n"
    )
    cells = build_notebooks.parse_source(text)
    assert [(c.cell_type, c.source, c.metadata) for c in cells] == [
        ("markdown", "# Title\n\nSome *text*.", {}),
        ("code", "x = 1", {}),
        ("code", "print(x)  # a comment stays", {"tags": ["nbval-ignore-output"]}),
        ("code", "solution()", {"jupyter": {"source_hidden": True}, "tags": ["solution"]}),
    ]


@pytest.mark.parametrize("text, complaint", [
    ("# %% tags=[\"nbval-skip\"]\nx = 1\n", "skip"),
    ("# %% tags=nbval\nx = 1\n", "not JSON"),
    ("# %% [markdown]\nno hash here\n", "must start with '# '"),
    ("x = 1\n# %%\ny = 2\n", "before the first"),
    ("# %%\n\n# %%\nx = 1\n", "empty cell"),
    ("# just a note\n", "no cells"),
])
def test_parser_rejects_malformed_sources_with_a_clear_message(text, complaint):
    with pytest.raises(build_notebooks.SourceError, match=complaint):
        build_notebooks.parse_source(text)


def test_check_reports_a_notebook_edited_by_hand(tmp_path, monkeypatch):
    src_dir = tmp_path / "src"
    src_dir.mkdir()
    src = src_dir / "99-try-it.py"
    src.write_text("# %% [markdown]\n# Hi\n\n# %%\n1 + 1\n")
    monkeypatch.setattr(build_notebooks, "ROOT", tmp_path)
    monkeypatch.setattr(build_notebooks, "NB_DIR", tmp_path)
    monkeypatch.setattr(build_notebooks, "SRC_DIR", src_dir)
    assert "missing" in build_notebooks.check(src)[0]

    cells = build_notebooks.parse_source(src.read_text())
    nb = build_notebooks.to_notebook(cells, src.stem)
    nb.cells[1].execution_count = 1
    import nbformat
    nbformat.write(nb, str(tmp_path / "99-try-it.ipynb"))
    assert build_notebooks.check(src) == []

    nb.cells[1].source = "1 + 2"
    nb.cells[1].execution_count = None
    nbformat.write(nb, str(tmp_path / "99-try-it.ipynb"))
    problems = "\n".join(build_notebooks.check(src))
    assert "source differs" in problems and "execution_count None" in problems
