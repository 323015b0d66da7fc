"""Realistic invoice streams for tests: ``bench/synth.py`` (per-issuer streams from the corpus's real
signed invoices, with new IDs, ETTNs, dates, parties and amounts), loaded as a module.

Tests that must exercise dictionaries (documents of one issuer sharing most of their bytes)
use these; tests that only need many unique documents fast use ``synthetic.py``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["bench_synth", "write_stream"]

ROOT = Path(__file__).resolve().parents[2]


def bench_synth() -> ModuleType:
    name = "bench_synth"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "synth.py")
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules[name]


def write_stream(out: Path, start: int, count: int, *, issuers: int = 3, seed: int = 7) -> list[Path]:
    """Documents *start* .. *start*+*count*-1 of one stream, written to *out*; their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for doc in bench_synth().Stream(issuers=issuers, seed=seed).docs(start, count):
        path = out / doc.name
        path.write_bytes(doc.data)
        paths.append(path)
    return paths
