"""Dependencies point one way (api → archive → {render, indexer} → documents), and every module says what it exports."""

from __future__ import annotations

import ast
import importlib
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
