#!/usr/bin/env python
"""Build the course notebooks from their plain sources, and check they match.

The notebooks are written as plain Python files in jupytext's "percent" format,
``notebooks/src/NN-verb-title.py`` for the course and ``notebooks/src/teacher.py`` for the
teacher's lesson plan, so they review and diff like code:

    # %% [markdown]
    # # A title
    # Some *markdown*: every line starts with "# " (or is a lone "#").

    # %%
    import wsdemo

    # %% tags=["nbval-ignore-output"]
    server = await wsdemo.serve()

    # %% jupyter={"source_hidden": true}
    exercises.solution("accept")

A cell header is ``# %%``, then optionally ``[markdown]``, then ``key=JSON``
pairs that become the cell's metadata (``tags=[...]``, ``jupyter={...}``).
Comment lines before the first header are a note for the reader and are dropped.

    .venv/bin/python scripts/build_notebooks.py            # build and run every notebook
    .venv/bin/python scripts/build_notebooks.py 03 teacher # only those (by number or name)
    .venv/bin/python scripts/build_notebooks.py --check    # sources and .ipynb agree? (no kernel)

Building runs each notebook top to bottom in a fresh kernel with notebooks/ as
the working directory (what nbval and "Restart & Run All" do) and saves it with
its outputs, so it reads well on GitHub. Everything else in the file is kept
deterministic (cell ids, metadata, execution counts 1..N) so that rebuilding
only changes outputs that really changed. This script needs nbformat and
nbclient, not jupytext.

The kernels run with ``KERNEL_ENV`` added to the environment (notebooks/conftest.py sets the
same for nbval): a notebook that serves a classroom listens on this machine only while it is
built or tested.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
SRC_DIR = NB_DIR / "src"

HEADER = re.compile(r"^# %%(?P<rest>.*)$")
# Tags that would hide a cell from nbval: the course never skips a cell.
FORBIDDEN_TAGS = {"nbval-skip", "skip-execution"}
# Output mimetypes that only carry random ids (widget model ids); nbval skips them
# anyway, and their state is not saved, so keeping them would only add noise.
DROPPED_MIMETYPES = {"application/vnd.jupyter.widget-view+json"}

# A classroom notebook (teacher.ipynb) reads its address and port from these; a real class
# listens on every interface, a build or a test run on loopback only, on a free port.
KERNEL_ENV = {"WSDEMO_CLASSROOM_HOST": "127.0.0.1", "WSDEMO_CLASSROOM_PORT": "0"}

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
# No version numbers here: they would change with every machine that rebuilds.
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}


class SourceError(ValueError):
    """A notebook source file that does not follow the format above."""


@dataclass
class Cell:
    cell_type: str  # "code" or "markdown"
    source: str
    metadata: dict = field(default_factory=dict)
    line: int = 0  # line of its header in the source file, for messages


def _parse_header(rest: str, where: str) -> tuple[str, dict]:
    rest = rest.strip()
    cell_type = "code"
    if rest.startswith("[markdown]"):
        cell_type, rest = "markdown", rest[len("[markdown]"):].strip()
    metadata: dict = {}
    decoder = json.JSONDecoder()
    while rest:
        m = re.match(r"([A-Za-z_][\w.-]*)=", rest)
        if not m:
            raise SourceError(f"{where}: expected key=JSON after '# %%', got {rest!r}")
        try:
            value, end = decoder.raw_decode(rest, m.end())
        except json.JSONDecodeError as exc:
            raise SourceError(f"{where}: the value of {m.group(1)!r} is not JSON ({exc.msg})") from None
        metadata[m.group(1)] = value
        rest = rest[end:].strip()
    tags = metadata.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise SourceError(f"{where}: tags must be a JSON list of strings")
    bad = FORBIDDEN_TAGS.intersection(tags)
    if bad:
        raise SourceError(f"{where}: tag {sorted(bad)} would skip the cell; the course runs every cell")
    return cell_type, metadata


def _trim(lines: list[str]) -> str:
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def parse_source(text: str, name: str = "<source>") -> list[Cell]:
    """Cells of a percent-format source, in order."""
    cells: list[Cell] = []
    current: Cell | None = None
    body: list[str] = []

    def finish() -> None:
        if current is None:
            return
        if current.cell_type == "markdown":
            md = []
            for i, line in enumerate(body, start=current.line + 1):
                if line == "#" or not line.strip():
                    md.append("")
                elif line.startswith("# "):
                    md.append(line[2:])
                else:
                    raise SourceError(f"{name}:{i}: a markdown line must start with '# ' (got {line!r})")
            current.source = _trim(md)
        else:
            for i, line in enumerate(body, start=current.line + 1):
                # prose that lost its '# %% [markdown]' header would show as comments in code
                if re.match(r"# {0,3}#{1,6} \S", line):
                    raise SourceError(f"{name}:{i}: a markdown heading inside a code cell "
                                      f"(is a '# %% [markdown]' header missing?): {line!r}")
            current.source = _trim(body)
        if not current.source:
            raise SourceError(f"{name}:{current.line}: empty cell")
        cells.append(current)

    for number, line in enumerate(text.splitlines(), start=1):
        m = HEADER.match(line)
        if m:
            finish()
            cell_type, metadata = _parse_header(m.group("rest"), f"{name}:{number}")
            current, body = Cell(cell_type, "", metadata, number), []
        elif current is None:
            if line.strip() and not line.startswith("#"):
                raise SourceError(f"{name}:{number}: code before the first '# %%' header")
        else:
            body.append(line)
    finish()
    if not cells:
        raise SourceError(f"{name}: no cells")
    return cells


def sources() -> list[Path]:
    """The course notebooks' sources (NN-verb-title.py): the README's course map, exercises."""
    return sorted(SRC_DIR.glob("[0-9][0-9]-*.py"))


# Built and checked like the course, but not part of it (no number, no exercises).
GUIDES = ("teacher",)


def all_sources() -> list[Path]:
    """Every source the builder builds and checks: the course, then the guides."""
    return sources() + [p for p in (SRC_DIR / f"{stem}.py" for stem in GUIDES) if p.exists()]


def short_name(src: Path) -> str:
    """How to name a source on the command line: its number, or a guide's stem."""
    return src.stem[:2] if src.stem[:2].isdigit() else src.stem


def notebook_path(src: Path) -> Path:
    return NB_DIR / (src.stem + ".ipynb")


def to_notebook(cells: list[Cell], stem: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": json.loads(json.dumps(LANGUAGE_INFO))}
    for i, c in enumerate(cells):
        make = nbformat.v4.new_code_cell if c.cell_type == "code" else nbformat.v4.new_markdown_cell
        cell = make(source=c.source, metadata=json.loads(json.dumps(c.metadata)))
        cell.id = f"{stem[:2]}-{i:03d}"  # stable, so rebuilding does not churn ids
        nb.cells.append(cell)
    return nb


def normalize(nb: nbformat.NotebookNode, cells: list[Cell], stem: str) -> nbformat.NotebookNode:
    """Put back the deterministic parts nbclient may have touched."""
    nb.metadata = to_notebook(cells, stem).metadata
    for i, (cell, src) in enumerate(zip(nb.cells, cells)):
        cell.id = f"{stem[:2]}-{i:03d}"
        cell.metadata = json.loads(json.dumps(src.metadata))
        for out in cell.get("outputs", []):
            data = out.get("data")
            if data is not None:
                for mime in DROPPED_MIMETYPES & set(data):
                    del data[mime]
    return nb


def build(src: Path, timeout: int) -> float:
    from nbclient import NotebookClient
    os.environ.update(KERNEL_ENV)  # the kernel inherits it, as under nbval (notebooks/conftest.py)

    cells = parse_source(src.read_text(encoding="utf-8"), str(src.relative_to(ROOT)))
    nb = to_notebook(cells, src.stem)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=KERNELSPEC["name"],
        resources={"metadata": {"path": str(NB_DIR)}},
        record_timing=False,
        store_widget_state=False,
    )
    started = time.perf_counter()
    client.execute()  # raises CellExecutionError (with the traceback) if a cell fails
    elapsed = time.perf_counter() - started
    nb = normalize(nb, cells, src.stem)
    nbformat.validate(nb)
    out = notebook_path(src)
    nbformat.write(nb, str(out))
    return elapsed


def check(src: Path) -> list[str]:
    """Problems that make an .ipynb disagree with its source (empty when they agree)."""
    rel = src.relative_to(ROOT)
    try:
        cells = parse_source(src.read_text(encoding="utf-8"), str(rel))
    except SourceError as exc:
        return [str(exc)]
    path = notebook_path(src)
    if not path.exists():
        return [f"{path.relative_to(ROOT)} is missing: run scripts/build_notebooks.py {short_name(src)}"]
    nb = nbformat.read(str(path), as_version=4)
    name = path.relative_to(ROOT)
    problems = []
    if len(nb.cells) != len(cells):
        problems.append(f"{name}: {len(nb.cells)} cells, but {rel} has {len(cells)}")
    count = 0
    for i, (cell, want) in enumerate(zip(nb.cells, cells)):
        where = f"{name} cell {i} (from {rel}:{want.line})"
        if cell.cell_type != want.cell_type:
            problems.append(f"{where}: is {cell.cell_type}, source says {want.cell_type}")
            continue
        if cell.source != want.source:
            problems.append(f"{where}: source differs from {rel}")
        if dict(cell.metadata) != want.metadata:
            problems.append(f"{where}: metadata {dict(cell.metadata)} != {want.metadata}")
        if cell.cell_type == "code":
            count += 1
            # nbval does not compare the outputs of a cell that was never run.
            if cell.execution_count != count:
                problems.append(f"{where}: execution_count {cell.execution_count}, expected {count} "
                                "(a fresh top-to-bottom run)")
            errors = [o for o in cell.outputs if o.output_type == "error"]
            if errors:
                problems.append(f"{where}: saved with an error output ({errors[0].get('ename')})")
    if nb.metadata.get("kernelspec") != KERNELSPEC:
        problems.append(f"{name}: kernelspec {nb.metadata.get('kernelspec')} != {KERNELSPEC}")
    if problems:
        problems.append(f"  -> rebuild: .venv/bin/python scripts/build_notebooks.py {short_name(src)}")
    return problems


def orphans() -> list[str]:
    """Course notebooks that have no source to be built from."""
    stems = {s.stem for s in sources()}
    return [f"{p.relative_to(ROOT)} has no source notebooks/src/{p.stem}.py"
            for p in sorted(NB_DIR.glob("[0-9][0-9]-*.ipynb")) if p.stem not in stems]


def select(names: list[str]) -> list[Path]:
    known = all_sources()
    if not names:
        return known
    chosen = []
    for n in names:
        stem = Path(n).stem
        found = [s for s in known if s.stem == stem or s.stem.startswith(stem + "-") or s.stem[:2] == stem]
        if not found:
            raise SystemExit(f"no notebook source matches {n!r} in {SRC_DIR.relative_to(ROOT)}")
        chosen += [s for s in found if s not in chosen]
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="notebooks to build (number, stem or path); default all")
    parser.add_argument("--check", action="store_true", help="only check that each .ipynb matches its source")
    parser.add_argument("--timeout", type=int, default=60, help="seconds per cell (default 60)")
    args = parser.parse_args(argv)
    chosen = select(args.names)
    if args.check:
        problems = [p for src in chosen for p in check(src)]
        if not args.names:
            problems += orphans()
        for p in problems:
            print(p)
        if not problems:
            print(f"{len(chosen)} notebook(s) match their sources")
        return 1 if problems else 0
    total = 0.0
    for src in chosen:
        print(f"building {notebook_path(src).relative_to(ROOT)} ...", flush=True)
        elapsed = build(src, args.timeout)
        total += elapsed
        print(f"  ran in {elapsed:.1f} s", flush=True)
    print(f"{len(chosen)} notebook(s) built; execution took {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
