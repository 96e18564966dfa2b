"""The committed notebooks are built from notebooks/src/*.py, and still match them.

nbval (the README's test command) runs the .ipynb files; this test makes sure
those files are what their reviewed sources say, were run top to bottom (nbval
does not compare outputs of a cell that never ran), and skip nothing.
"""

from __future__ import annotations

import importlib.util
import json
import re
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
    ("# %%\nx = 1\n#\n# ## Why it differs\n# - prose\n", "markdown heading inside a code cell"),
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


# ----------------------------------------------------------------- sanitize.cfg

def sanitize(text: str) -> str:
    """Apply notebooks/sanitize.cfg exactly as nbval does (its own parser, rules in order)."""
    import re

    from nbval.plugin import get_sanitize_patterns

    rules = get_sanitize_patterns((ROOT / "notebooks" / "sanitize.cfg").read_text())
    for regex, replace in rules:
        text = re.sub(regex, replace, text)
    return text


@pytest.mark.parametrize("live, stable", [
    ("<wsdemo Server ws://127.0.0.1:43349/ (app on :40333), running>",
     "<wsdemo Server ws://127.0.0.1:PORT/ (app on :PORT), running>"),
    ("Sec-Websocket-Key: 6nH4fLY/TYdtCihoRBTsBA==", "Sec-Websocket-Key: KEY"),
    ("Sec-WebSocket-Accept: pTFMEGiAVCSDXDvP7p7uIwyECpA=", "Sec-WebSocket-Accept: KEY"),
    ("→ client PING 'are you there?' [14 bytes, masked 56f4ab32]",
     "→ client PING 'are you there?' [14 bytes, masked MASKKEY]"),
    ("Date: Thu, 26 Nov 2026 04:10:29 GMT", "Date: DATE"),
    ("Server: TornadoServer/6.6.1", "Server: TornadoServer/VERSION"),
    ("✓ dot (graphviz's drawing program) version 2.43.0 (0)", "✓ dot (graphviz's drawing program) version X"),
    ("400 GET /echo (127.0.0.1) 0.35ms", "400 GET /echo (127.0.0.1) T ms"),
    ("http://127.0.0.1:8888/chat.html?token=Ab3dEf9hIj", "http://127.0.0.1:PORT/chat.html?token=TOKEN"),
    ("<graphviz.graphs.Digraph at 0x7f12ab34cd56>", "<graphviz.graphs.Digraph at 0xADDR>"),
    ('<svg width="62pt"><g id="graph0"><text>101 Switching Protocols</text></g>\n</svg>',
     "<svg>(diagram)</svg>"),
])
def test_sanitize_replaces_live_values(live, stable):
    assert sanitize(live) == stable


def test_sanitize_masks_a_widget_snapshot_and_nothing_else():
    from wsdemo.ui import snapshot

    early = snapshot.SNAPSHOT_START + ' data-widget="FrameInspector"><b>Frames</b>: 2 frames</div>'
    final = snapshot.SNAPSHOT_START + ' data-widget="FrameInspector"><b>Frames</b>: 24 frames</div>'
    assert sanitize(early) == sanitize(final) != early
    mention = 'print(\'<div class="wsdemo-snapshot">\')'  # not a snapshot: it does not start one
    assert sanitize(mention) == mention


@pytest.mark.parametrize("teaching", [
    "base64       s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",  # the RFC's example stays exact
    "key          dGhlIHNhbXBsZSBub25jZQ==",
    "TEXT 'Hello' [5 bytes, masked 37fa213d]",  # fixed mask keys of decoded examples
    "✓ All fields right: TEXT 'Welcome' [7 bytes, masked a1b2c3d4]",
    "  bits 16-47   masking key              0x37fa213d         37fa213d",
    "   65,536          127           10 B           14 B",
    "header 81 85 37 fa 21 3d  =  10000001 10000101 00110111 11111010 00100001 00111101",
    "with, first message: at most 25% of the text",
    "client: 1 frame, 12 bytes of payload, 6 bytes of framing",
])
def test_sanitize_keeps_what_the_notebooks_teach(teaching):
    assert sanitize(teaching) == teaching


# ----------------------------------------------------------------- nbval really compares

# (notebook, text in a saved output, what to change it to): each a value the course teaches.
ALTERED = [
    ("02-open-the-handshake", "base64       s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",  # the accept computation
     "base64       s3pPLMBiTxaQ9kYGzzhZRbK+xOX="),
    ("02-open-the-handshake", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",  # the server's answer to the RFC key
     "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    ("03-decode-frames", "TEXT 'Hello' [5 bytes, masked 37fa213d]",  # the RFC's frame, decoded
     "TEXT 'Hello' [5 bytes, masked 37fa213e]"),
    ("03-decode-frames", "   65,536          127           10 B           14 B",  # the length encodings
     "   65,536          127           10 B           13 B"),
    ("03-decode-frames", "CONT 'lo' [2 bytes]              -> text 'Hello'",  # fragments reassembled
     "CONT 'lo' [2 bytes]              -> text 'Hellp'"),
    ("03-decode-frames", "with, first message: at most 25% of the text",  # a measured band
     "with, first message: at most 50% of the text"),
]


def test_nbval_fails_when_a_teaching_output_changes(tmp_path):
    """Copies of real notebooks whose saved outputs were altered in a value the course teaches
    must fail nbval with sanitize.cfg, cell by cell; the cells left alone must still pass."""
    import nbformat

    expected_failures = set()
    for stem in sorted({a[0] for a in ALTERED}):
        nb = nbformat.read(str(ROOT / "notebooks" / f"{stem}.ipynb"), as_version=4)
        code_cells = [c for c in nb.cells if c.cell_type == "code"]
        for _, old, new in (a for a in ALTERED if a[0] == stem):
            hits = []
            for index, cell in enumerate(code_cells):
                for out in cell.outputs:
                    if out.output_type == "stream" and old in out.text:
                        out.text = out.text.replace(old, new)
                        hits.append(index)
            assert len(hits) == 1, f"{stem}: expected {old!r} in exactly one saved output, found {hits}"
            expected_failures.add(f"{stem}.ipynb::Cell {hits[0]}")
        nbformat.write(nb, str(tmp_path / f"{stem}.ipynb"))
    out = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path), "--nbval", "--nbval-sanitize-with",
         str(ROOT / "notebooks" / "sanitize.cfg"), "-p", "no:cacheprovider", "-q", "-rf", "--color=no"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300)
    import re

    failed = set(re.findall(r"^FAILED \S*/([\w-]+\.ipynb::Cell \d+)", out.stdout, re.M))
    assert out.returncode == 1, out.stdout[-3000:]
    assert failed == expected_failures, out.stdout[-3000:]
    assert f"{len(expected_failures)} failed" in out.stdout


# ----------------------------------------------------------------- exercises and solutions

def _names(tree, ctx) -> set[str]:
    import ast

    out = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)}
    for n in ast.walk(tree):
        if ctx is ast.Store and isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
        if ctx is ast.Store and isinstance(n, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in n.names)
        if ctx is ast.Store and isinstance(n, ast.arg):
            out.add(n.arg)
    return out


@pytest.mark.parametrize("src", build_notebooks.sources(), ids=lambda p: p.stem[:2])
def test_every_exercise_has_a_check_and_a_solution_that_fits_the_notebook(src):
    """Each "On your own" cell leaves a placeholder (`name = None  # your turn: ...`) and calls an
    exercises.check_*; the markdown after it points to a solution that exists, assigns that
    very name, and reads only names the notebook defined before (so pasting it works)."""
    import ast
    import builtins
    import re

    from wsdemo import exercises

    cells = build_notebooks.parse_source(src.read_text(encoding="utf-8"), src.name)
    found = 0
    for i, cell in enumerate(cells):
        m = re.search(r"^(\w+) = .*# your turn", cell.source, re.M)
        if cell.cell_type != "code" or not m:
            continue
        found += 1
        placeholder = m.group(1)
        # a check that provokes the live lab is awaited, inside asyncio.wait_for like every await
        assert re.search(r"\bok = (await asyncio\.wait_for\()?exercises\.check_\w+\(" + placeholder + r"\b",
                         cell.source), cell.source
        after = next(c for c in cells[i + 1:] if c.cell_type == "markdown")
        pointer = re.search(r'Stuck\? `exercises\.solution\("(\w+)"\)`', after.source)
        assert pointer, f"{src.name}:{cell.line}: no 'Stuck? exercises.solution(...)' after the exercise"
        code = exercises.SOLUTIONS[pointer.group(1)]
        tree = ast.parse(code)
        assert placeholder in _names(tree, ast.Store), \
            f"solution {pointer.group(1)!r} does not define {placeholder!r}, the name the check reads"
        defined = set(dir(builtins)) | {"display"}
        for earlier in cells[:i + 1]:  # the exercise cell itself may set inputs (key = ...)
            if earlier.cell_type == "code":
                defined |= _names(ast.parse(earlier.source), ast.Store)
        free = _names(tree, ast.Load) - _names(tree, ast.Store) - defined
        assert not free, f"solution {pointer.group(1)!r} reads {sorted(free)}, which {src.name} never defines"
    assert found, f"{src.name} has no 'On your own' exercise"


# ----------------------------------------------------------------- widgets saved (issue 15)

TINY = '''\
# %%
import ipywidgets as W
from wsdemo import wire
from wsdemo.ui import FrameInspector

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
dec = wire.ConnectionDecoder()
events = dec.feed("client", ("GET /chat HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\n"
                             "Connection: Upgrade\\r\\nSec-WebSocket-Key: " + KEY +
                             "\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n").encode(), at=1.0)
events += dec.feed("server", ("HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\n"
                              "Connection: Upgrade\\r\\nSec-WebSocket-Accept: " + wire.compute_accept(KEY) +
                              "\\r\\n\\r\\n").encode(), at=1.1)
inspector = FrameInspector(events)
inspector

# %% tags=["nbval-ignore-output"]
board = W.HTML("waiting")
display(board)

# %%
gone = W.HTML("closed before the end")
display(gone)
gone.close()

# %%
W.Label("a plain widget in a compared cell")

# %%
# later updates: the saved views are the final ones
inspector.feed(dec.feed("server", wire.encode_frame(wire.Opcode.TEXT, "late <img src=x onerror=alert(1)>".encode()),
                        at=1.2))
board.value = "<b>final</b>"
'''


def _built(tmp_path, name: str) -> "nbformat.NotebookNode":
    import nbformat

    src = tmp_path / "99-tiny.py"
    src.write_text(TINY)
    out = tmp_path / name
    build_notebooks.build(src, 60, out=out)
    return nbformat.read(str(out), as_version=4)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """TINY built once (each build runs a kernel)."""
    return _built(tmp_path_factory.mktemp("tiny"), "99-tiny.ipynb")


def _view_outputs(nb):
    return [(c, o) for c, o in build_notebooks.widget_outputs(nb)]


def test_builder_saves_widget_state_and_the_final_view_of_each_widget(tiny):
    import nbformat

    nb = tiny
    nbformat.validate(nb)
    state = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    views = _view_outputs(nb)
    # the closed widget keeps its text only; the others point at a saved model
    assert [c.id for c, _o in views] == ["99-000", "99-001", "99-003"]
    assert all(o.data[build_notebooks.VIEW_MIME]["model_id"] in state for _c, o in views)
    for model in state.values():  # every child a saved widget refers to is saved too
        for ref in build_notebooks._refs(model["state"]):
            assert ref in state, ref
    assert state[views[0][1].data[build_notebooks.VIEW_MIME]["model_id"]]["model_name"] == "VBoxModel"

    inspector = views[0][1].data
    assert inspector["text/plain"] == "FrameInspector: 0 frames (0 →, 0 ←), showing all"  # at display
    html = inspector["text/html"]  # after the last cell
    assert html.startswith('<div class="wsdemo-snapshot"') and "1 frames (0 →, 1 ←)" in html
    assert html.count("<tr class='wsdemo-row'") == 3 and "late &lt;img src=x" in html
    assert "<img" not in html
    assert views[1][1].data["text/html"].count("<b>final</b>") == 1  # the board, filled later
    assert "text/html" not in views[2][1].data  # nbval would compare it: the kernel sends none
    closed = nb.cells[2].outputs[0].data
    assert set(closed) == {"text/plain"}


def test_builder_keeps_widget_ids_from_one_build_to_the_next(tiny, tmp_path):
    first, second = tiny, _built(tmp_path, "b.ipynb")

    def ids(nb):
        return ([o.data[build_notebooks.VIEW_MIME]["model_id"] for _c, o in _view_outputs(nb)],
                sorted(nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]))

    assert ids(first) == ids(second)
    assert ids(first)[0][0] == build_notebooks.stable_ids(["x"], {"x": {}}, "99-tiny")["x"]
    # the whole saved state is the same, so a rebuild's diff shows only what really changed
    assert first.metadata.widgets == second.metadata.widgets


def test_nbval_compares_text_plain_of_widgets_and_masks_their_snapshots(tiny, tmp_path):
    """The saved snapshot (final view) differs from the one the kernel sends at display time;
    sanitize.cfg masks both, so nbval passes, and compares the widget's text/plain still."""
    import nbformat

    nb = tiny
    nbformat.write(nb, str(tmp_path / "99-tiny.ipynb"))
    cfg = (ROOT / "notebooks" / "sanitize.cfg").read_text()
    without = re.sub(r"\[widget snapshots\]\nregex: .*\nreplace: .*\n", "", cfg)
    assert without != cfg
    (tmp_path / "without.cfg").write_text(without)
    altered = nbformat.from_dict(json.loads(json.dumps(nb)))
    view = altered.cells[0].outputs[0].data
    view["text/plain"] = view["text/plain"].replace("0 frames", "9 frames")
    (tmp_path / "altered").mkdir()
    nbformat.write(altered, str(tmp_path / "altered" / "99-tiny.ipynb"))

    def nbval(path, cfg_path):
        out = subprocess.run(
            [sys.executable, "-m", "pytest", str(path), "--nbval", "--nbval-sanitize-with", str(cfg_path),
             "-p", "no:cacheprovider", "-q", "-rf", "--color=no"],
            capture_output=True, text=True, cwd=tmp_path, timeout=300)
        return out.returncode, re.findall(r"^FAILED \S*::(Cell \d+)", out.stdout, re.M), out.stdout

    code, failed, log = nbval(tmp_path / "99-tiny.ipynb", ROOT / "notebooks" / "sanitize.cfg")
    assert code == 0, log[-3000:]
    code, failed, log = nbval(tmp_path / "99-tiny.ipynb", tmp_path / "without.cfg")
    assert failed == ["Cell 0"], log[-3000:]  # the snapshots differ: masked by the rule only
    code, failed, log = nbval(tmp_path / "altered" / "99-tiny.ipynb", ROOT / "notebooks" / "sanitize.cfg")
    assert failed == ["Cell 0"], log[-3000:]  # a widget's text/plain is still compared
