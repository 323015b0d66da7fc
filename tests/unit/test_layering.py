"""Dependencies point one way (api → archive → {render, indexer} → documents), no module imports
another that imports it back, and every module says what it exports."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "earsiv"
FORBIDDEN = {
    "documents": ("indexer", "render", "archive", "api"),
    "indexer": ("render", "archive", "api"),
    "render": ("indexer", "archive", "api"),
    "archive": ("api",),
    "api": (),
}


def modules():
    for path in sorted(PKG.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        rel = path.relative_to(PKG.parent).with_suffix("")
        yield path, ".".join(rel.parts).removesuffix(".__init__")


def _imports(path: Path, modname: str) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = set()
    package = modname if path.name == "__init__.py" else modname.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                out.add(".".join(base + ([node.module] if node.module else [])))
            else:
                out.add(node.module or "")
    return out


@pytest.mark.parametrize("path,modname", list(modules()), ids=lambda v: str(v) if isinstance(v, str) else "")
def test_dependencies_point_one_way(path, modname):
    parts = modname.split(".")
    if len(parts) < 2 or parts[1] not in FORBIDDEN:
        return
    for imported in _imports(path, modname):
        for bad in FORBIDDEN[parts[1]]:
            assert not imported.startswith(f"earsiv.{bad}"), f"{modname} imports {imported}"


@pytest.mark.parametrize("path,modname", list(modules()), ids=lambda v: str(v) if isinstance(v, str) else "")
def test_every_module_declares_all_and_its_names_exist(path, modname):
    mod = importlib.import_module(modname)
    names = getattr(mod, "__all__", None)
    assert names is not None, f"{modname} has no __all__"
    missing = [n for n in names if not hasattr(mod, n)]
    assert not missing, f"{modname}.__all__ names missing attributes: {missing}"


KNOWN_CYCLES: tuple[frozenset[str], ...] = ()  # none: keep it that way


def _project_imports(path: Path, modname: str, known: set[str]) -> set[str]:
    """The project's modules *modname* imports: at the top, in functions, or for type checking only.

    ``from earsiv.x import y`` counts as importing ``earsiv.x.y`` when that is a module, else ``earsiv.x``.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    package = modname if path.name == "__init__.py" else modname.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for a in node.names:
                if f"{module}.{a.name}" in known:
                    out.add(f"{module}.{a.name}")
                elif module in known:
                    out.add(module)
    out.discard(modname)
    return out


def import_cycles() -> list[frozenset[str]]:
    """Strongly connected groups of more than one module in the project's import graph (Tarjan)."""
    paths = {name: path for path, name in modules()}
    graph = {name: _project_imports(path, name, set(paths)) for name, path in paths.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(frozenset(group))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph)))
    try:
        for v in sorted(graph):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return found


def test_no_module_imports_one_that_imports_it_back():
    new = [sorted(c) for c in import_cycles() if not any(c <= known for known in KNOWN_CYCLES)]
    assert new == [], f"import cycles (type-only imports count): {new}"


def test_the_cycle_finder_finds_a_type_only_cycle(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from earsiv.b import B\n")
    b.write_text("def f():\n    from earsiv.a import A\n")
    known = {"earsiv.a", "earsiv.b"}
    assert _project_imports(a, "earsiv.a", known) == {"earsiv.b"}
    assert _project_imports(b, "earsiv.b", known) == {"earsiv.a"}
