"""Every public function, class and method of the package has a numpydoc docstring: a
summary, and a ``Parameters`` section naming each of its parameters."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "siting"
# typer turns a command's docstring into its --help text; its options carry their own help
EXEMPT_MODULES = {"cli.py", "__main__.py"}
# methods whose signature a library fixes (PuLP's solver hooks)
EXEMPT_NAMES = {"buildSolverModel", "callSolver"}


def _public(tree: ast.Module):
    """(qualified name, node) of every public function, class and method."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            yield node.name, node
            if isinstance(node, ast.ClassDef):
                for sub in node.body:
                    if isinstance(sub, ast.FunctionDef) and not sub.name.startswith("_"):
                        yield f"{node.name}.{sub.name}", sub


def _params(node: ast.FunctionDef) -> list[str]:
    args = node.args
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    names += [f"**{args.kwarg.arg}"] if args.kwarg else []
    return [n for n in names if n not in ("self", "cls")]


def _is_property(node: ast.FunctionDef) -> bool:
    return any(ast.unparse(d) in ("property", "cached_property", "functools.cached_property")
               or ast.unparse(d).endswith(".setter") for d in node.decorator_list)


def _problems(path: Path) -> list[str]:
    out = []
    for name, node in _public(ast.parse(path.read_text(encoding="utf-8"))):
        if name.split(".")[-1] in EXEMPT_NAMES:
            continue
        doc = ast.get_docstring(node)
        if not doc:
            out.append(f"{name}: no docstring")
            continue
        if not isinstance(node, ast.FunctionDef) or _is_property(node):
            continue
        params = _params(node)
        if not params:
            continue
        if not re.search(r"^Parameters\n-{3,}", doc, flags=re.M):
            out.append(f"{name}: no 'Parameters' section for {', '.join(params)}")
            continue
        section = doc.split("Parameters", 1)[1]
        listed = set(re.findall(r"^\**(\w+)(?:\s*[:,]|\s*$)", section, flags=re.M))
        missing = [p for p in params if p.lstrip("*") not in listed]
        if missing:
            out.append(f"{name}: 'Parameters' does not describe {', '.join(missing)}")
    return out


FILES = sorted(p for p in PKG.rglob("*.py") if p.name not in EXEMPT_MODULES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_public_api_has_numpydoc_docstrings(path):
    problems = _problems(path)
    assert not problems, f"{path.relative_to(PKG)}:\n  " + "\n  ".join(problems)
