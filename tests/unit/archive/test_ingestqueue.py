"""Concurrent ingest requests share group commits and still each get exactly their own results."""

from __future__ import annotations

import hashlib
import threading

import pytest

from earsiv.archive.archive import Archive
from earsiv.archive.errors import ArchiveError
from earsiv.archive.ingestqueue import IngestQueue
from earsiv.archive.sources import expand
from tests.conftest import CORPUS

FILES = sorted((CORPUS / "efatura").glob("gib121_*.xml"))[:12]
TENANTS = ("1111111111", "2222222222", None)


def test_every_request_gets_its_own_results_in_order(tmp_path):
    arch = Archive.init(tmp_path / "home")
    q = IngestQueue(arch)
    start = threading.Barrier(len(FILES))
    answers: dict[int, list] = {}

    def request(i: int) -> None:
        sources = list(expand([FILES[i], FILES[(i + 1) % len(FILES)]]))
        start.wait()  # all at once, so rounds take several requests
        answers[i] = q.ingest(sources, TENANTS[i % len(TENANTS)])

    threads = [threading.Thread(target=request, args=(i,)) for i in range(len(FILES))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    q.close()
    for i, results in answers.items():
        expected = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (FILES[i], FILES[(i + 1) % len(FILES)])]
        assert [r.digest for r in results] == expected
        assert all(r.status in ("stored", "duplicate", "conflict") for r in results)
    # Every document is held by exactly the tenants that sent it, and is durable: a new
    # process (a fresh Archive on the same home) finds it.
    arch.close()
    with Archive.open(tmp_path / "home") as again:
        for i in range(len(FILES)):
            for p in (FILES[i], FILES[(i + 1) % len(FILES)]):
                digest = hashlib.sha256(p.read_bytes()).hexdigest()
                tenants = {h.tenant for h in again.index.access.holdings_of([digest])[digest]}
                assert (TENANTS[i % len(TENANTS)] or "") in tenants
    with pytest.raises(ArchiveError, match="closing"):
        q.ingest(list(expand([FILES[0]])))
