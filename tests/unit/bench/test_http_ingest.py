"""bench/http_ingest.py's request plan: every generated file is sent once, in order, in requests of the batch size."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _load():
    spec = importlib.util.spec_from_file_location("bench_http_ingest", ROOT / "bench" / "http_ingest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


http_ingest = _load()


@pytest.mark.parametrize(("n", "size"), [(0, 20), (1, 1), (7, 1), (40, 20), (41, 20), (19, 20)])
def test_chunks_send_every_file_once_in_order(n, size):
    files = [Path(f"{i:04d}.xml") for i in range(n)]
    requests = http_ingest.chunks(files, size)
    assert [p for r in requests for p in r] == files
    assert all(1 <= len(r) <= size for r in requests)
    assert all(len(r) == size for r in requests[:-1])  # only the last request may be short
    assert len(requests) == -(-n // size)


def test_chunks_refuse_an_empty_batch():
    with pytest.raises(ValueError, match="at least 1"):
        http_ingest.chunks([Path("a.xml")], 0)
