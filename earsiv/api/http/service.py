"""What the routes call: one archive, one ingest queue, one background worker.

The archive's unit of work (blob → log leaf → index) is not safe to run twice
at once, so every ingest goes through ``ArchiveService.ingest`` into one
``IngestQueue``, which runs the requests waiting together as one group
commit.  Reads (search, show, original, verify, evidence, status) take no
lock: the store is write-once, the log guards its own state, and the index
has its own transactions.

Background work (a checkpoint every few seconds while documents arrive,
signature inspection of newly archived documents, full-text indexing, and the
store's scheduled self-test) runs in one daemon thread.  The self-test also
runs once at start, before anything is served (``stores.schedule``).
"""

from __future__ import annotations

import io
import logging
import tempfile
import threading
import zipfile
from collections.abc import Iterable
from pathlib import Path

from earsiv.archive.access import Principal
from earsiv.archive.archive import Archive, Status
from earsiv.archive.audit import Finding, verify_all
from earsiv.archive.errors import VerificationError
from earsiv.archive.evidence import write_evidence
from earsiv.archive.ingest import IngestResult, Source
from earsiv.archive.ingestqueue import IngestQueue
from earsiv.archive.stores.schedule import SelfTestSchedule
from earsiv.errors import EarsivError
from earsiv.indexer.accessdb import HoldingRow
from earsiv.indexer.query import SearchPage, SearchQuery
from earsiv.indexer.rows import DocumentRow

__all__ = ["ArchiveService"]

log = logging.getLogger("earsiv.http")


# Full-text indexing holds the GIL for most of its work (parsing, whoosh), so while
# documents arrive it takes one small batch per round and leaves the rest for when the
# ingest has been idle a moment: the archive's throughput first, the lag (shown in
# `status`) made up in the pauses.
FULLTEXT_BUSY_BATCH = 64
FULLTEXT_IDLE_BATCH = 512
IDLE_SECONDS = 1.0


class _Worker(threading.Thread):
    def __init__(self, arch: Archive, interval: float, ingest: IngestQueue, self_tests: SelfTestSchedule) -> None:
        super().__init__(name="earsiv-background", daemon=True)
        self.arch = arch
        self.interval = interval
        self.ingest = ingest
        self.self_tests = self_tests
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            self.self_tests.run_if_due()  # never raises: a failure refuses ingests, see ArchiveService.ingest
            # A TSA outage or a busy index must not kill the worker: the next
            # round tries again, and `status` shows what is pending.
            try:
                self.arch.checkpoint()
            except EarsivError as exc:
                log.warning("background checkpoint failed: %s", exc)
            try:
                self.arch.inspect_pending()
            except EarsivError as exc:
                log.warning("background signature inspection failed: %s", exc)
            try:
                self._fulltext()
            except EarsivError as exc:
                log.warning("background full-text indexing failed: %s", exc)

    def _fulltext(self) -> None:
        self.arch.text.catch_up(limit=FULLTEXT_BUSY_BATCH)
        # Bounded batches, so a stop request or a new upload is never kept waiting long.
        while (not self.stop.is_set() and self.ingest.idle_for() >= IDLE_SECONDS
               and self.arch.text.catch_up(limit=FULLTEXT_IDLE_BATCH)):
            pass


class ArchiveService:
    def __init__(self, arch: Archive) -> None:
        self.archive = arch
        self._ingest = IngestQueue(arch)
        self.self_tests = SelfTestSchedule(arch.store, arch.config.self_test_hours)
        self._worker = _Worker(arch, arch.config.checkpoint_interval, self._ingest, self.self_tests)

    @classmethod
    def open(cls, home: Path) -> ArchiveService:
        return cls(Archive.open(home))

    def start(self) -> None:
        """Self-test the store (a bucket that fails stops the start here), then start the background work."""
        try:
            self.self_tests.start()
        except BaseException:
            self._ingest.close()
            self.archive.close()
            raise
        self._worker.start()

    def close(self) -> None:
        self._worker.stop.set()
        if self._worker.is_alive():
            self._worker.join(timeout=30)
        self._ingest.close()  # what was accepted is finished first
        self.archive.close()

    # -- writing ---------------------------------------------------------
    def ingest(self, who: Principal, sources: Iterable[Source], tenant: str | None = None) -> list[IngestResult]:
        tenant = self.archive.access.ingest_tenant(who, tenant)
        self.self_tests.check_writes()
        return self._ingest.ingest(sources, tenant)

    def legal_hold(self, who: Principal, digest: str, on: bool, reason: str, tenant: str | None) -> int:
        self.archive.access.require(who, "admin", what="put or lift legal holds")
        return self.archive.set_legal_hold(digest, on, reason, tenant=tenant)

    # -- reading ---------------------------------------------------------
    # Each read of a document goes through the access rules: a document the
    # caller may not see is "not found", and an inspector's every look is an
    # access event in the log before anything is sent (the int returned).
    def document(self, who: Principal, digest: str, action: str = "view") -> tuple[DocumentRow, int | None]:
        return self.archive.access.document(who, digest, action)

    def own_holding(self, who: Principal, row: DocumentRow) -> HoldingRow | None:
        return self.archive.access.own_holding(who, row)

    def holdings(self, who: Principal, digests: Iterable[str]) -> dict[str, list[HoldingRow]]:
        tenants = self.archive.access.visible_tenants(who)
        if tenants is not None and not tenants:
            return {}
        return self.archive.index.access.holdings_of(digests, tenants)

    def original(self, who: Principal, digest: str) -> tuple[DocumentRow, bytes, int | None]:
        row, event = self.document(who, digest, "original")
        try:
            return row, self.archive.original(row.digest), event
        except VerificationError as exc:
            if exc.name is not None:
                raise
            # The blob codec does not know which document it decodes; say it.
            raise VerificationError(exc.detail, name=row.digest) from exc

    def search(self, who: Principal, q: SearchQuery) -> tuple[SearchPage, int | None]:
        return self.archive.access.search(who, q)

    def verify(self, who: Principal, digest: str) -> tuple[list[Finding], int | None]:
        row, event = self.document(who, digest, "verify")
        _checked, findings = verify_all(self.archive, [row.digest])
        return findings, event

    def evidence_zip(self, who: Principal, digest: str) -> tuple[str, bytes, int | None]:
        """The evidence directory of ``write_evidence`` as a ZIP: (top folder name, bytes, access event)."""
        row, event = self.document(who, digest, "evidence")
        own = self.own_holding(who, row)
        folder = f"evidence-{row.digest[:16]}"
        buf = io.BytesIO()
        with tempfile.TemporaryDirectory(prefix="earsiv-evidence-") as tmp:
            write_evidence(self.archive, row.digest, Path(tmp), own.log_index if own else None)
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                for p in sorted(Path(tmp).iterdir()):
                    zf.write(p, f"{folder}/{p.name}")
        return folder, buf.getvalue(), event

    def status(self, who: Principal) -> Status:
        self.archive.access.require(who, "admin", what="read the archive's status")
        return self.archive.status()
