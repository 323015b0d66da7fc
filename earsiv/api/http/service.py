"""What the routes call: one archive, one ingest lock, one background worker.

The archive's unit of work (blob → log leaf → index) is not safe to run twice
at once, so every ingest goes through ``ArchiveService.ingest``, which holds
``_ingest_lock`` for the whole unit.  Reads (search, show, original, verify,
evidence, status) take no lock: the store is write-once, the log guards its
own state, and the index has its own transactions.

Background work (a checkpoint every few seconds while documents arrive, and
signature inspection of newly archived documents) runs in one daemon thread.
"""

from __future__ import annotations

import io
import logging
import tempfile
import threading
import zipfile
from collections.abc import Iterable
from pathlib import Path

from ...archive.archive import Archive, Status
from ...archive.errors import ArchiveError, VerificationError
from ...archive.evidence import Finding, verify_all, write_evidence
from ...archive.ingest import IngestResult, Source
from ...indexer.errors import IndexerError
from ...indexer.query import SearchPage, SearchQuery
from ...indexer.rows import DocumentRow
from .problems import NotFound

__all__ = ["ArchiveService"]

log = logging.getLogger("earsiv.http")


class _Worker(threading.Thread):
    def __init__(self, arch: Archive, interval: float) -> None:
        super().__init__(name="earsiv-background", daemon=True)
        self.arch = arch
        self.interval = interval
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            # A TSA outage or a busy index must not kill the worker: the next
            # round tries again, and `status` shows what is pending.
            try:
                self.arch.checkpoint()
            except (ArchiveError, IndexerError) as exc:
                log.warning("background checkpoint failed: %s", exc)
            try:
                self.arch.inspect_pending()
            except (ArchiveError, IndexerError) as exc:
                log.warning("background signature inspection failed: %s", exc)


class ArchiveService:
    def __init__(self, arch: Archive) -> None:
        self.archive = arch
        self._ingest_lock = threading.Lock()
        self._worker = _Worker(arch, arch.config.checkpoint_interval)

    @classmethod
    def open(cls, home: Path) -> ArchiveService:
        return cls(Archive.open(home))

    def start(self) -> None:
        self._worker.start()

    def close(self) -> None:
        self._worker.stop.set()
        self._worker.join(timeout=30)
        with self._ingest_lock:
            self.archive.close()

    # -- writing ---------------------------------------------------------
    def ingest(self, sources: Iterable[Source], tenant: str | None = None) -> list[IngestResult]:
        with self._ingest_lock:
            return list(self.archive.ingest(sources, tenant=tenant))

    # -- reading ---------------------------------------------------------
    def document(self, digest: str) -> DocumentRow:
        row = self.archive.index.get(digest)
        if row is None:
            raise NotFound(f"no document with digest {digest} in this archive", digest=digest)
        return row

    def original(self, digest: str) -> tuple[DocumentRow, bytes]:
        row = self.document(digest)
        try:
            return row, self.archive.original(row.digest)
        except VerificationError as exc:
            if exc.name is not None:
                raise
            # The blob codec does not know which document it decodes; say it.
            raise VerificationError(exc.detail, name=row.digest) from exc

    def search(self, q: SearchQuery) -> SearchPage:
        return self.archive.index.search(q)

    def verify(self, digest: str) -> list[Finding]:
        row = self.document(digest)
        _checked, findings = verify_all(self.archive, [row.digest])
        return findings

    def evidence_zip(self, digest: str) -> tuple[str, bytes]:
        """The evidence directory of ``write_evidence`` as a ZIP: (top folder name, bytes)."""
        row = self.document(digest)
        folder = f"evidence-{row.digest[:16]}"
        buf = io.BytesIO()
        with tempfile.TemporaryDirectory(prefix="earsiv-evidence-") as tmp:
            write_evidence(self.archive, row.digest, Path(tmp))
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                for p in sorted(Path(tmp).iterdir()):
                    zf.write(p, f"{folder}/{p.name}")
        return folder, buf.getvalue()

    def status(self) -> Status:
        return self.archive.status()
