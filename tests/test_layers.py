"""The layers, read from the source: who may import whom (docs/design.md, "Layers").

wire imports only wire and the standard library; live never imports show, learn, ipywidgets
or graphviz; show never imports live or learn; nothing inside wsdemo imports learn; and no
module of wsdemo takes part in an import cycle. Every import counts, also one inside a
function (a lazy import hides a cycle, it does not remove it); only imports under
``if TYPE_CHECKING:`` are left out, as they never run.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "wsdemo"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(name: str) -> set[str]:
    """Every module ``name`` imports: wsdemo modules by full name, others by their top name."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(_resolve(alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else _resolve(target))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(name)
    return found


def _resolve(target: str) -> str:
    if target == "wsdemo" or target.startswith("wsdemo."):
        while target not in MODULES and "." in target:
            target = target.rpartition(".")[0]
        return target
    return target.partition(".")[0]


def layer(name: str) -> str:
    if name.startswith("wsdemo.wire"):
        return "wire"
    if name.startswith("wsdemo.live"):
        return "live"
    if name.startswith(("wsdemo.ui", "wsdemo.diagrams")):
        return "show"
    if name.startswith(("wsdemo.experiments", "wsdemo.exercises")):
        return "learn"
    return "entry"  # the package itself and the command line: they may use every layer


GRAPH = {name: _imports(name) for name in MODULES}


def _in(names: set[str], *layers: str) -> list[str]:
    return sorted(n for n in names if n.startswith("wsdemo") and layer(n) in layers)


def test_every_module_is_in_a_layer_the_rules_know():
    entries = sorted(n for n in MODULES if layer(n) == "entry")
    assert entries == ["wsdemo", "wsdemo.__main__"], entries


@pytest.mark.parametrize("name", sorted(n for n in MODULES if layer(n) == "wire"))
def test_wire_imports_only_wire_and_the_standard_library(name):
    outside = sorted(n for n in GRAPH[name]
                     if not (n.startswith("wsdemo.wire") or n in sys.stdlib_module_names or n == "__future__"))
    assert not outside, f"{name} imports {outside}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if layer(n) == "live"))
def test_live_never_imports_show_learn_or_widgets(name):
    bad = _in(GRAPH[name], "show", "learn", "entry") + sorted(GRAPH[name] & {"ipywidgets", "graphviz"})
    assert not bad, f"{name} imports {bad}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if layer(n) == "show"))
def test_show_never_imports_live_or_learn(name):
    bad = _in(GRAPH[name], "live", "learn", "entry") + sorted(GRAPH[name] & {"tornado", "socket", "ssl"})
    assert not bad, f"{name} imports {bad}"


def test_nothing_in_the_package_imports_learn():
    bad = {n: _in(GRAPH[n], "learn") for n in MODULES if layer(n) not in ("learn", "entry")}
    assert not {n: b for n, b in bad.items() if b}


def test_no_import_cycles():
    # Tarjan's strongly connected components over wsdemo's own modules; a package's
    # __init__ re-exporting its own submodules is not a cycle of ideas, so edges from a
    # submodule up to its own package are left out.
    edges = {n: {m for m in GRAPH[n] if m in MODULES and not n.startswith(m + ".")} for n in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    assert not cycles, cycles


def test_the_rules_see_real_imports():
    # the reader itself: it finds a known edge of each kind, so the tests above are not empty
    assert "wsdemo.wire" in GRAPH["wsdemo.diagrams.recorded"]
    assert "wsdemo.wire.recording" in GRAPH["wsdemo.diagrams.recorded"]
    assert "graphviz" in GRAPH["wsdemo.diagrams.base"]
    assert "wsdemo.live.tap" not in GRAPH["wsdemo.live.recording"]  # only under TYPE_CHECKING there
    assert "tornado" in set().union(*(GRAPH[n] for n in MODULES if layer(n) == "live"))
