"""The package's shape: imports run one way (config → io → stages → models/solvers →
pipeline → report → compare/cli), no cycles, no module over 600 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

PKG = Path(__file__).resolve().parents[1] / "siting"
MAX_LINES = 600
# the layer of each top-level part of the package; a module may import its own layer or below
LAYERS = {
    "errors": 0, "_version": 0, "config": 1, "io": 2,
    "network": 3, "_dijkstra": 3, "access": 3, "buildings": 3, "demand": 3, "sites": 3,
    "inputs": 3, "models.instance": 3, "models": 4, "solvers": 4, "results": 5, "pipeline": 5,
    "report": 6,
    "compare": 7, "batch": 7, "cli": 7, "__main__": 7, "__init__": 7,
}
# models.instance is the hand-over: the stages build the Instance the models read
# upward imports allowed, each a lazy import inside a convenience method:
# RunResult.write()/.map()/._repr_html_() hand the run to the report package
UPWARD = {("siting.results", "siting.report.write"), ("siting.results", "siting.report.tables")}


def _module(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """siting modules imported by a file (at any depth, ``if TYPE_CHECKING:`` blocks left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for b in node.body for n in ast.walk(b)}
    me = _module(path)
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            # `from siting import network` imports the module siting.network
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                     else node.module for a in node.names]
        for name in names:
            if name.startswith("siting"):
                while name not in modules and "." in name:
                    name = name.rsplit(".", 1)[0]
                if name in modules and name != me:
                    found.add(name)
    return found


def _graph() -> nx.DiGraph:
    files = sorted(PKG.rglob("*.py"))
    modules = {_module(f) for f in files}
    g = nx.DiGraph()
    for f in files:
        for dep in _imports(f, modules):
            g.add_edge(_module(f), dep)
    return g


def _layer(module: str) -> int:
    parts = module.split(".")[1:]
    for k in range(len(parts), 0, -1):  # the most specific entry
        if ".".join(parts[:k]) in LAYERS:
            return LAYERS[".".join(parts[:k])]
    return LAYERS["__init__"]


def test_no_import_cycles():
    g = _graph()
    # a package importing its own submodules (re-exports) is not a cycle of the code
    g.remove_edges_from([(a, b) for a, b in list(g.edges) if b.startswith(a + ".")])
    cycles = [c for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_imports_run_one_way():
    bad = [(a, b) for a, b in _graph().edges
           if _layer(b) > _layer(a) and (a, b) not in UPWARD]
    assert not bad, "imports against the flow config → io → stages → models → pipeline → " \
        f"report → cli: {bad}"


def test_every_part_has_a_layer():
    parts = {p.stem if p.is_file() else p.name for p in PKG.iterdir()
             if (p.suffix == ".py" or (p / "__init__.py").exists())}
    missing = parts - set(LAYERS)
    assert not missing, f"give these a layer in LAYERS: {missing}"


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(PKG)))
def test_module_size(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{path.name} has {n} lines; split it (limit {MAX_LINES})"


def test_class_size():
    big = []
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 300:
                big.append(f"{path.relative_to(PKG)}:{node.name} "
                           f"({node.end_lineno - node.lineno + 1} lines)")
    assert not big, f"classes over 300 lines: {big}"
