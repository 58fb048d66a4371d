"""molpt's modules import one way: no import cycle, and every import points down the layers

    foundation ← featurize ← (data, nn) ← objectives ← train ← published ← (benchmark, predict)
    ← public faces (molpt/__init__.py, api, sklearn) ← cli ← __main__

The graph is read statically (``ast``) from every ``molpt/**/*.py``, so it also sees imports
made inside functions (they still close a circle: the function runs one day) and type-only
imports.  ``from X import Y`` is an edge to the module ``X.Y`` when ``Y`` is a submodule, else
to ``X``; importing ``a.b.c`` also runs the package files ``a`` and ``a.b``, so those are
edges too (except packages that enclose the importer, which are already running).

``python tests/test_imports.py`` prints the cycles and the layer violations.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "molpt"

#: (tier name, units, units independent of each other).  A unit is a top-level module or
#: subpackage of molpt (``<root>`` is ``molpt/__init__.py``).  A module may import from lower
#: tiers, from its own unit, and from its own tier unless the tier's units are independent.
TIERS: list[tuple[str, frozenset[str], bool]] = [
    ("foundation", frozenset({"_version", "allocator", "registry", "utils", "plotting"}),
     False),
    ("featurize", frozenset({"featurize"}), True),
    ("data | nn", frozenset({"data", "nn"}), True),
    ("objectives", frozenset({"objectives"}), True),
    ("train", frozenset({"train"}), True),
    ("published", frozenset({"published"}), True),
    ("benchmark | predict", frozenset({"benchmark", "predict"}), True),
    # the public faces may use each other (molpt.load is molpt.api.load)
    ("public faces", frozenset({"<root>", "api", "sklearn"}), False),
    ("cli", frozenset({"cli"}), True),
    ("__main__", frozenset({"__main__"}), True),
]  # fmt: skip


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    where: str  # file:line of the import statement

    def __str__(self) -> str:
        return f"{self.importer} -> {self.imported}  ({self.where})"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules_of(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under the package folder ``root``."""
    return {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def import_graph(root: Path) -> dict[str, list[Edge]]:
    """Each module's imports of modules of the same package (see the module docstring)."""
    mods = modules_of(root)
    top = root.name

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, list[Edge]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        running = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        running |= {name} if path.name == "__init__.py" else set()
        targets: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            found: list[str | None] = []
            if isinstance(node, ast.Import):
                found = [known(a.name) for a in node.names if a.name.split(".")[0] == top]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1]
                                    + ([node.module] if node.module else []))  # fmt: skip
                else:
                    base = node.module or ""
                if base.split(".")[0] != top:
                    continue
                found = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else known(base)
                         for a in node.names]  # fmt: skip
            for target in found:
                if target is None or target == name:
                    continue
                targets.setdefault(target, node.lineno)
                parts = target.split(".")
                for i in range(1, len(parts)):  # the package files the import runs
                    pkg = ".".join(parts[:i])
                    if pkg not in running and pkg in mods:
                        targets.setdefault(pkg, node.lineno)
        rel = path.relative_to(root.parent).as_posix()
        graph[name] = [Edge(name, t, f"{rel}:{line}") for t, line in sorted(targets.items())]
    return graph


def cycles(graph: dict[str, list[Edge]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for e in graph.get(v, []):
            w = e.imported
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for v in sorted(graph):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return sorted(out)


def describe_cycles(graph: dict[str, list[Edge]], comps: Iterable[list[str]]) -> str:
    lines = []
    for comp in comps:
        members = set(comp)
        lines.append(f"cycle of {len(comp)} modules: {', '.join(comp)}")
        lines += [f"    {e}" for m in comp for e in graph[m] if e.imported in members]
    return "\n".join(lines)


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<root>"


def tier_of(u: str) -> int | None:
    return next((i for i, (_, units, _) in enumerate(TIERS) if u in units), None)


def layer_violations(graph: dict[str, list[Edge]]) -> list[str]:
    """Imports that point up the tiers or sideways between independent units."""
    out = []
    for edges in graph.values():
        for e in edges:
            a, b = unit(e.importer), unit(e.imported)
            ta, tb = tier_of(a), tier_of(b)
            if a == b:
                continue
            if ta is None or tb is None:
                missing = a if ta is None else b
                out.append(f"{e}: molpt.{missing} has no tier; add it to TIERS in "
                           "tests/test_imports.py")  # fmt: skip
            elif tb > ta:
                out.append(f"{e}: {TIERS[ta][0]} must not import {TIERS[tb][0]} (upward)")
            elif tb == ta and TIERS[ta][2]:
                out.append(f"{e}: {a} and {b} are independent units of one tier")
    return sorted(set(out))


GRAPH = import_graph(PACKAGE)


def test_no_import_cycle():
    found = cycles(GRAPH)
    assert not found, "import cycles in molpt/:\n" + describe_cycles(GRAPH, found)


def test_every_import_points_down_the_layers():
    bad = layer_violations(GRAPH)
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def _importers_of(target_unit: str) -> set[str]:
    return {e.importer for edges in GRAPH.values() for e in edges
            if unit(e.imported) == target_unit and unit(e.importer) != target_unit}  # fmt: skip


@pytest.mark.parametrize(
    "lower, upper",
    [("train", "benchmark"), ("train", "cli"), ("train", "predict"), ("train", "published"),
     ("data", "nn"), ("nn", "data"), ("benchmark", "predict"), ("predict", "benchmark"),
     ("featurize", "data"), ("objectives", "train"), ("published", "benchmark")],
)  # fmt: skip
def test_named_directions(lower, upper):
    bad = [str(e) for edges in GRAPH.values() for e in edges
           if unit(e.importer) == lower and unit(e.imported) == upper]  # fmt: skip
    assert not bad, f"molpt.{lower} must not import molpt.{upper}:\n" + "\n".join(bad)


def test_only_the_command_line_imports_it():
    assert _importers_of("cli") <= {"molpt.__main__"}, sorted(_importers_of("cli"))


def test_the_graph_sees_lazy_relative_and_package_imports(tmp_path):
    """The analyser itself, on a tiny package: a function-local import, ``from pkg import
    submodule``, a relative import and the package file an import runs are all edges."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from pkg.sub.b import B\n")
    (pkg / "a.py").write_text("def f():\n    from pkg.sub import b\n    return b\n")
    (pkg / "sub" / "b.py").write_text("from ..c import C\nB = 1\n")
    (pkg / "c.py").write_text("import pkg.a\nC = 1\n")
    graph = import_graph(pkg)
    edges = {(e.importer, e.imported) for es in graph.values() for e in es}
    assert {("pkg.a", "pkg.sub.b"), ("pkg.a", "pkg.sub"), ("pkg.sub.b", "pkg.c"),
            ("pkg.c", "pkg.a"), ("pkg.sub", "pkg.sub.b")} == edges  # fmt: skip
    assert cycles(graph) == [["pkg.a", "pkg.c", "pkg.sub", "pkg.sub.b"]]
    assert "pkg.c -> pkg.a" in describe_cycles(graph, cycles(graph))


if __name__ == "__main__":
    print(describe_cycles(GRAPH, cycles(GRAPH)) or "no import cycle")
    print("\n".join(layer_violations(GRAPH)) or "no layer violation")
