"""Every everyday operation costs the same store calls on a small and on a grown archive.

An archive lives for ten years and only grows: no operation a request or a command takes may
read the whole log or every document.  Counted, not timed: each operation runs on a
50-document and on a 500-document archive (the same documents of interest in both) through
a store that counts every call, and the counts must agree to within one call of each kind
(a new tile level or bundle boundary).  The measured table is printed with ``-s``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from earsiv.archive import archive as archive_module
from earsiv.archive.access import Principal
from earsiv.archive.archive import Archive
from earsiv.archive.audit import verify_all
from earsiv.archive.evidence import leaf_evidence, write_evidence
from earsiv.archive.ingest import Source
from earsiv.archive.log.entries import TokenRevokeEntry
from earsiv.archive.package.build import PackageRequest, build_package
from earsiv.indexer.query import SearchQuery
from tests.helpers.counting_store import CountingStore, Measured
from tests.helpers.synthetic import SUPPLIERS, invoices

UTC = dt.UTC
AUDITED = SUPPLIERS[2]  # 20 documents in January 2025, in both archives: what inspectors and packages look at
SMALL, GROWN = 50, 500


def _grow(home: Path, total: int) -> None:
    Archive.init(home).close()
    with Archive.open(home) as arch:
        docs = invoices(0, 20, supplier=AUDITED, start=dt.date(2025, 1, 1))
        list(arch.ingest([Source(n, d) for n, d in docs], tenant=AUDITED))
        arch.access.add_principal("acme", "integrator", [AUDITED], by="test")
        arch.access.add_principal("ayse", "inspector", by="test")
        arch.access.add_grant("ayse", AUDITED, dt.date(2025, 1, 1), dt.date(2025, 1, 31),
                              dt.datetime(2099, 1, 1, tzinfo=UTC), "VDK 2026/1", by="test")
    for first in range(20, total, 100):  # later documents of another issuer, in several commands
        with Archive.open(home) as arch:
            batch = invoices(first, min(100, total - first), start=dt.date(2025, 3, 1))
            list(arch.ingest([Source(n, d) for n, d in batch], tenant=SUPPLIERS[0]))
            arch.access.search(Principal("ayse", "inspector"), SearchQuery(vkn=AUDITED))  # years of looks


class _Home:
    """Opens the archive at *home* as a command would, through a counting store."""

    def __init__(self, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.home = home
        self.stores: list[CountingStore] = []
        real = archive_module.open_store

        def counting(url, **kwargs):
            self.stores.append(CountingStore(real(url, **kwargs)))
            return self.stores[-1]

        monkeypatch.setattr(archive_module, "open_store", counting)
        self.next = 10_000
        self.inner: dict[str, Measured] = {}  # what an operation measured of itself

    @staticmethod
    def event() -> TokenRevokeEntry:
        return TokenRevokeEntry("0" * 16, dt.datetime.now(UTC), "test")

    def new_docs(self, count: int) -> list[Source]:
        docs = invoices(self.next, count, start=dt.date(2025, 6, 1))
        self.next += count
        return [Source(n, d) for n, d in docs]

    def measure(self, op: Callable[[Archive, _Home], object]) -> Measured:
        arch = Archive.open(self.home)
        store = self.stores[-1]
        try:
            with store.measure() as m:
                op(arch, self)
        finally:
            arch.close()
        return m

    def measure_open(self) -> Measured:
        arch = Archive.open(self.home)
        m = Measured()
        for method, keys in self.stores[-1].keys.items():
            for key in keys:
                m.add(method, [key])
        arch.close()
        return m

    def measure_close(self) -> Measured:
        """Closing after a change: the final checkpoint, signed and stamped."""
        arch = Archive.open(self.home)
        list(arch.ingest(self.new_docs(1), tenant=SUPPLIERS[0]))
        # The full-text index reads the leaves it was not handed (the other operations' events)
        # when it next catches up, here or at close, as its thread's timing has it: here, so that
        # what is measured is the close (its checkpoint), the same on every run.
        arch.text.catch_up()
        with self.stores[-1].measure() as m:
            arch.close()
        return m


def _old(arch: Archive) -> str:
    return arch.index.search(SearchQuery(vkn=AUDITED, limit=1)).rows[0].digest


def _newest(arch: Archive) -> str:
    return arch.index.search(SearchQuery(vkn=SUPPLIERS[0], limit=1)).rows[0].digest


def _checkpoint(arch: Archive, h: _Home) -> None:
    arch.ledger.append_entry(h.event())  # something new to checkpoint
    store = arch.store
    with store.measure() as m:  # type: ignore[attr-defined]
        assert arch.checkpoint() is not None
    h.inner["checkpoint"] = m


def _package(arch: Archive, h: _Home) -> None:
    req = PackageRequest(vkn=AUDITED, date_from=dt.date(2025, 1, 1), date_to=dt.date(2025, 1, 31))
    result = build_package(arch, req, h.home.parent / "p.zip")
    assert result.documents == 20


def _access_log(arch: Archive, h: _Home) -> None:
    events = arch.access.access_log(Principal("root", "admin"), vkn=AUDITED, limit=1000)
    leaf_evidence(arch, events[-1].log_index)


OPERATIONS: dict[str, Callable[[Archive, _Home], object]] = {
    "ingest 1": lambda arch, h: list(arch.ingest(h.new_docs(1), tenant=SUPPLIERS[0])),
    "ingest 20": lambda arch, h: list(arch.ingest(h.new_docs(20), tenant=SUPPLIERS[0])),
    "show": lambda arch, h: (arch.index.get(_old(arch)), arch.index.access.holdings_of([_old(arch)])),
    "get": lambda arch, h: arch.original(_old(arch)),
    "evidence (old)": lambda arch, h: write_evidence(arch, _old(arch), h.home.parent / "ev-old"),
    "evidence (new)": lambda arch, h: write_evidence(arch, _newest(arch), h.home.parent / "ev-new"),
    "verify one": lambda arch, h: verify_all(arch, [_old(arch)]),
    "search": lambda arch, h: arch.search(SearchQuery(vkn=AUDITED)),
    "inspector search": lambda arch, h: arch.access.search(Principal("ayse", "inspector"), SearchQuery(vkn=AUDITED)),
    "legal hold": lambda arch, h: arch.set_legal_hold(_old(arch), True, "test"),
    "token create": lambda arch, h: arch.access.create_token("acme", by="test"),
    "access log": _access_log,
    "package of 20": _package,
    "checkpoint": _checkpoint,
    "status": lambda arch, h: arch.status(),
}


@pytest.fixture(scope="module")
def grown(tmp_path_factory) -> dict[int, Path]:
    homes = {}
    for total in (SMALL, GROWN):
        home = tmp_path_factory.mktemp(f"grown{total}") / "home"
        _grow(home, total)
        homes[total] = home
    return homes


@pytest.mark.slow
def test_every_operation_costs_the_same_store_calls_on_a_grown_archive(grown, monkeypatch, capsys):
    table: dict[str, dict[int, Measured]] = {}
    for total, home in grown.items():
        h = _Home(home, monkeypatch)
        table.setdefault("open", {})[total] = h.measure_open()
        for name, op in OPERATIONS.items():
            table.setdefault(name, {})[total] = h.inner.pop(name, None) or h.measure(op)
            if name in h.inner:
                table[name][total] = h.inner.pop(name)
        table.setdefault("close after a change", {})[total] = h.measure_close()
    with capsys.disabled():
        print(f"\nstore calls per operation, {SMALL} and {GROWN} documents:")
        for name, by_size in table.items():
            print(f"  {name:<22} {dict(by_size[SMALL].calls)}  |  {dict(by_size[GROWN].calls)}")
    for name, by_size in table.items():
        small, big = by_size[SMALL].calls, by_size[GROWN].calls
        # The one listing allowed: the archive's few TSA certificates, once per process.
        assert set(by_size[GROWN].keys.get("list", [])) <= {"keys/tsa-"}, (name, by_size[GROWN].keys["list"])
        for method in set(small) | set(big):
            assert abs(small.get(method, 0) - big.get(method, 0)) <= 1, (name, method, dict(small), dict(big))
