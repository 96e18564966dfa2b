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
    .venv/bin/python scripts/build_notebooks.py --html out/ 00   # static HTML pages (offline)

Building runs each notebook top to bottom in a fresh kernel with notebooks/ as
the working directory (what nbval and "Restart & Run All" do) and saves it with
its outputs, so it reads well on GitHub. Widgets are saved too: after the last
cell the builder asks the kernel for each shown widget's final view as static
HTML (the output's text/html, for GitHub and untrusted notebooks) and for the
widgets' state (the notebook's metadata, for JupyterLab and nbviewer).
Everything else in the file is kept deterministic (cell ids, metadata, execution counts 1..N) so that rebuilding
only changes outputs that really changed. This script needs nbformat and
nbclient, not jupytext.

The kernels run with ``KERNEL_ENV`` added to the environment (notebooks/conftest.py sets the
same for nbval): a notebook that serves a classroom listens on this machine only while it is
built or tested.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
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
# Widgets. A widget output is {text/plain, text/html, widget-view}; after the last cell the
# builder asks the kernel (one hidden execution, not saved as a cell) for each widget's final
# view as static HTML and for the widgets' state, which it saves in the notebook's metadata as
# JupyterLab's "Save Widget State" does. Then: JupyterLab (trusted) and nbviewer draw the saved
# widgets, GitHub and untrusted notebooks show the text/html snapshot, nbval compares text/plain.
VIEW_MIME = "application/vnd.jupyter.widget-view+json"
STATE_MIME = "application/vnd.jupyter.widget-state+json"
PROBE_MIME = "application/x-wsdemo-build+json"  # only between the kernel and this script
PROBE = """\
import IPython.display as _wsdemo_display
from wsdemo.ui.snapshot import collect as _wsdemo_collect
_wsdemo_display.display({{{mime!r}: _wsdemo_collect({ids!r})}}, raw=True)
del _wsdemo_display, _wsdemo_collect"""
# nbval compares every mimetype of an output except these; a cell with this tag is not compared.
NBVAL_IGNORE = "nbval-ignore-output"

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
    return nb


def widget_outputs(nb: nbformat.NotebookNode):
    """(cell, output) for every output that shows a widget, in notebook order."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if VIEW_MIME in out.get("data", {}):
                yield cell, out


def _refs(value) -> list[str]:
    """Model ids a widget's state refers to ("IPY_MODEL_<id>"), in a stable order."""
    if isinstance(value, str):
        return [value[len("IPY_MODEL_"):]] if value.startswith("IPY_MODEL_") else []
    if isinstance(value, dict):
        return [r for k in sorted(value) for r in _refs(value[k])]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


def _rename(value, ids: dict[str, str]):
    if isinstance(value, str) and value.startswith("IPY_MODEL_"):
        return "IPY_MODEL_" + ids.get(value[len("IPY_MODEL_"):], value[len("IPY_MODEL_"):])
    if isinstance(value, dict):
        return {k: _rename(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename(v, ids) for v in value]
    return value


def stable_ids(view_ids: list[str], state: dict, stem: str) -> dict[str, str]:
    """Random model id -> an id fixed by the notebook and the widget's place in it.

    Widgets are numbered in the order a reader meets them (outputs top to bottom, then each
    widget's children depth first), so a rebuild keeps every id and the diff shows only the
    values that changed. The ids keep the 32-hex-digit shape of the ids ipywidgets makes.
    """
    order: list[str] = []

    def visit(mid: str) -> None:
        if mid in state and mid not in order:
            order.append(mid)
            for ref in _refs(state[mid].get("state", {})):
                visit(ref)

    for mid in view_ids:
        visit(mid)
    order += [mid for mid in state if mid not in order]  # e.g. links between widgets
    return {mid: hashlib.sha256(f"wsdemo/{stem}/widget/{n}".encode()).hexdigest()[:32]
            for n, mid in enumerate(order, start=1)}


def save_widgets(nb: nbformat.NotebookNode, found: dict, stem: str) -> list[str]:
    """Put the final snapshots into the widget outputs and the widgets' state into the metadata.

    ``found`` is what wsdemo.ui.snapshot.collect returned in the kernel. Returns notes about
    widgets that could not get a snapshot.
    """
    snapshots, state = found.get("snapshots", {}), found.get("state", {})
    outputs = list(widget_outputs(nb))
    ids = stable_ids([out.data[VIEW_MIME]["model_id"] for _c, out in outputs], state, stem)
    notes = []
    for cell, out in outputs:
        mid = out.data[VIEW_MIME]["model_id"]
        if mid not in state:  # closed before the end: JupyterLab would say "model not found"
            del out.data[VIEW_MIME]
            continue
        out.data[VIEW_MIME] = dict(out.data[VIEW_MIME], model_id=ids[mid])
        # nbval compares text/html too: only replace one the kernel sends itself (wsdemo's
        # widgets send a snapshot, which sanitize.cfg masks), or in a cell nbval ignores.
        if "text/html" in out.data or NBVAL_IGNORE in cell.metadata.get("tags", []):
            out.data["text/html"] = snapshots[mid]
        else:
            notes.append(f"cell {cell.id}: {out.data.get('text/plain', '')[:60]!r} has no snapshot "
                         f"(a plain ipywidget in a cell nbval compares)")
    if state:
        nb.metadata["widgets"] = {STATE_MIME: {
            "version_major": 2, "version_minor": 0,
            "state": {ids[mid]: _rename(s, ids) for mid, s in state.items()}}}
    return notes


async def _execute(client, nb: nbformat.NotebookNode) -> dict:
    """Run every cell (as NotebookClient.execute does), then the hidden probe; its answer."""
    client.reset_execution_trackers()
    async with client.async_setup_kernel():
        for index, cell in enumerate(nb.cells):
            await client.async_execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
        view_ids = list(dict.fromkeys(out.data[VIEW_MIME]["model_id"] for _c, out in widget_outputs(nb)))
        if not view_ids:
            return {}
        probe = nbformat.v4.new_code_cell(PROBE.format(mime=PROBE_MIME, ids=view_ids))
        nb.cells.append(probe)  # nbclient files a cell's outputs by its index
        try:
            await client.async_execute_cell(probe, len(nb.cells) - 1, store_history=False)
        finally:
            nb.cells.pop()
        for out in probe.outputs:
            if PROBE_MIME in out.get("data", {}):
                return out.data[PROBE_MIME]
        raise RuntimeError(f"the kernel did not answer the widget probe: {probe.outputs}")


def build(src: Path, timeout: int, out: Path | None = None) -> float:
    """Run ``src`` in a fresh kernel and write the notebook (to ``out``, by default its .ipynb)."""
    from nbclient import NotebookClient
    os.environ.update(KERNEL_ENV)  # the kernel inherits it, as under nbval (notebooks/conftest.py)

    name = str(src.relative_to(ROOT)) if src.is_relative_to(ROOT) else str(src)
    cells = parse_source(src.read_text(encoding="utf-8"), name)
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
    # raises CellExecutionError (with the traceback) if a cell fails
    found = asyncio.run(_execute(client, nb))
    elapsed = time.perf_counter() - started
    nb = normalize(nb, cells, src.stem)
    for note in save_widgets(nb, found, src.stem):
        print(f"  note: {note}", flush=True)
    nbformat.validate(nb)
    out = notebook_path(src) if out is None else out
    nbformat.write(nb, str(out))
    return elapsed


# nbconvert draws a widget from its saved state with a script it loads from a CDN (what
# nbviewer shows); a static page for offline reading prefers the saved snapshot instead.
STATIC_HTML_PRIORITY = ["text/html", VIEW_MIME, "text/markdown", "image/svg+xml",
                        "text/vnd.mermaid", "text/latex", "image/png", "image/jpeg", "text/plain"]


def export_html(notebook: Path, out: Path) -> Path:
    """A static HTML page of a built notebook, widgets drawn as their saved snapshots."""
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    config = Config()
    config.NbConvertBase.display_data_priority = STATIC_HTML_PRIORITY
    body, _resources = HTMLExporter(config=config).from_filename(str(notebook))
    out.write_text(body, encoding="utf-8")
    return out


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
    saved = nb.metadata.get("widgets", {}).get(STATE_MIME, {}).get("state", {})
    for cell, out in widget_outputs(nb):
        if out.data[VIEW_MIME].get("model_id") not in saved:
            problems.append(f"{name} cell {cell.id}: a widget whose state is not saved "
                            "(JupyterLab would show 'model not found')")
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
    parser.add_argument("--html", metavar="DIR", type=Path,
                        help="no build: write a static HTML page of each chosen .ipynb to DIR "
                             "(widgets shown as their saved snapshots, readable offline)")
    args = parser.parse_args(argv)
    chosen = select(args.names)
    if args.html:
        args.html.mkdir(parents=True, exist_ok=True)
        for src in chosen:
            print(export_html(notebook_path(src), args.html / (src.stem + ".html")))
        return 0
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
