"""Write the README list of bad-input kinds from the tests (static parsing, nothing imported).

Sources, in every ``tests/test_bad_input*.py`` file (sorted by name):

* module-level tables named ``*_CASES``: a list whose items are tuples (or
  ``pytest.param(...)`` calls) starting with two string literals, ``(id, description, …)``;
  test functions named in a module-level ``NOT_KINDS = ("test_…", …)`` are left out;
  items written as ``*[...]`` comprehensions are listed through their string template
  (the ``id`` and description of a generated family are shown as written);
* test functions (``def test_…``, also methods of ``Test…`` classes) with a docstring and
  not parametrized over a ``*_CASES`` table: the docstring's first line is the description,
  the function name (without ``test_``) the id; ``pytest.param(..., id="x")`` ids of a
  parametrize decorator and its literal ``ids=[...]`` are appended in brackets.

The list replaces the text between ``<!-- bad-input-kinds:start -->`` and
``<!-- bad-input-kinds:end -->`` in README.md. ``--check`` only compares and exits 1
when the README is out of date.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- bad-input-kinds:start -->", "<!-- bad-input-kinds:end -->"


def _text(node) -> str | None:
    """A string literal, or an f-string shown with its placeholders as ``{…}``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{" + ast.unparse(v.value) + "}"
                       for v in node.values)
    return None


def _table_items(node) -> list[tuple[str, str]]:
    out = []
    for item in node.elts if isinstance(node, (ast.List, ast.Tuple)) else []:
        if isinstance(item, ast.Starred):  # *[(f"id-{x}", f"desc {x}", …) for x in (…)]
            comp = item.value
            if isinstance(comp, ast.ListComp):
                values = _loop_values(comp)
                for got in _table_items(ast.List(elts=[comp.elt])):
                    out.append((f"{got[0]} ({', '.join(values)})" if values else got[0], got[1]))
            continue
        args = item.elts if isinstance(item, ast.Tuple) else \
            item.args if isinstance(item, ast.Call) else []
        if len(args) >= 2 and _text(args[0]) is not None and _text(args[1]) is not None:
            out.append((_text(args[0]), " ".join(_text(args[1]).split())))
    return out


def _loop_values(comp: ast.ListComp) -> list[str]:
    gen = comp.generators[0]
    if isinstance(gen.iter, (ast.Tuple, ast.List)):
        return [str(e.value) for e in gen.iter.elts if isinstance(e, ast.Constant)]
    return []


def _param_ids(func: ast.FunctionDef) -> tuple[list[str], bool]:
    """Parametrize ids of a test function, and whether it runs over a ``*_CASES`` table."""
    ids, over_table = [], False
    for dec in func.decorator_list:
        if not (isinstance(dec, ast.Call) and ast.unparse(dec.func).endswith("parametrize")):
            continue
        values = dec.args[1] if len(dec.args) > 1 else None
        if isinstance(values, ast.Name) and values.id.endswith("_CASES"):
            over_table = True
        for kw in dec.keywords:
            if kw.arg == "ids" and isinstance(kw.value, (ast.List, ast.Tuple)):
                ids += [t for t in map(_text, kw.value.elts) if t]
        for item in values.elts if isinstance(values, (ast.List, ast.Tuple)) else []:
            if isinstance(item, ast.Call) and ast.unparse(item.func).endswith("param"):
                ids += [t for kw in item.keywords if kw.arg == "id" and (t := _text(kw.value))]
    return ids, over_table


def kinds(path: Path) -> list[tuple[str, str]]:
    """``(id, description)`` of every kind one test file covers."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id.endswith("_CASES") for t in targets):
                out += _table_items(node.value)
    skip = set()
    for node in tree.body:  # NOT_KINDS = ("test_…", …): tests of the layer, not input kinds
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "NOT_KINDS"
                                                for t in node.targets):
            skip = {t for t in map(_text, getattr(node.value, "elts", [])) if t}
    funcs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name.startswith("Test")):
        funcs += [n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for func in funcs:
        doc = ast.get_docstring(func)
        if not func.name.startswith("test_") or not doc or func.name in skip:
            continue
        ids, over_table = _param_ids(func)
        if over_table:
            continue
        line = " ".join(doc.strip().splitlines()[0].split())
        out.append((func.name.removeprefix("test_"),
                    line + (f" [{', '.join(ids)}]" if ids else "")))
    return out


def render(root: Path = ROOT) -> str:
    files = sorted((root / "tests").glob("test_bad_input*.py"))
    lines = [START, "", "<!-- generated by scripts/bad_input_kinds.py from "
             + ", ".join(f"tests/{p.name}" for p in files) + "; do not edit by hand -->", ""]
    n = 0
    for path in files:
        found = kinds(path)
        if not found:
            continue
        lines.append(f"From `tests/{path.name}` ({len(found)}):")
        lines.append("")
        for kid, desc in found:
            lines.append(f"- {desc} (`{kid}`)")
        lines.append("")
        n += len(found)
    lines.append(f"{n} kinds in all.")
    lines.append("")
    lines.append(END)
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"README.md lacks the markers {START} / {END}", file=sys.stderr)
        return 1
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = head + render() + tail
    if "--check" in argv:
        if new != text:
            print("README.md's list of bad-input kinds is out of date: "
                  "run python scripts/bad_input_kinds.py", file=sys.stderr)
            return 1
        return 0
    if new != text:
        readme.write_text(new, encoding="utf-8")
        print("README.md: list of bad-input kinds rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
