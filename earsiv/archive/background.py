"""What a long-running process (``earsiv serve``) adds to an archive: one ingest queue, one worker.

The archive's unit of work (blob → log leaf → index) is not safe to run twice at once, so a
server's every ingest goes through one ``IngestQueue``, which runs the requests waiting
together as one group commit.  Reads take no lock: the store is write-once, the log guards
its own state, and the index has its own transactions.

Background work (a checkpoint every few seconds while documents arrive, signature
inspection of newly archived documents, full-text indexing, and the store's scheduled
self-test) runs in one daemon thread.  The self-test also runs once at start, before
anything is served (``stores.schedule``).  A command (``earsiv ingest``) has none of this:
it finishes its own pending work before it returns (``ArchiveService.inspect_signatures``,
``catch_up_text``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from earsiv.archive.ingestqueue import IngestQueue
from earsiv.archive.stores.schedule import SelfTestSchedule
from earsiv.errors import EarsivError

if TYPE_CHECKING:
    from earsiv.archive.archive import Archive
    from earsiv.archive.ingest import IngestResult, Source

__all__ = ["Background"]

log = logging.getLogger("earsiv.background")

# The ingest hands its documents to the full-text index itself (textsearch.EmbeddedText.take);
# what is left for the worker is what another process appended or a crash left, read and
# parsed again (GIL-bound): one small batch per round while documents arrive, the rest
# once the ingest has been idle a moment.
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
            self.self_tests.run_if_due()  # never raises: a failure refuses ingests, see Background.ingest
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


class Background:
    """The ingest queue, the store's self-test schedule and the worker thread of one open archive."""

    def __init__(self, arch: Archive) -> None:
        self.queue = IngestQueue(arch)
        self.self_tests = SelfTestSchedule(arch.store, arch.config.self_test_hours)
        self._worker = _Worker(arch, arch.config.checkpoint_interval, self.queue, self.self_tests)

    def start(self) -> None:
        """Self-test the store (a bucket that fails raises here: nothing is served), then start the worker."""
        self.self_tests.start()
        self._worker.start()

    def close(self) -> None:
        """Stop the worker; finish what the queue accepted."""
        self._worker.stop.set()
        if self._worker.is_alive():
            self._worker.join(timeout=30)
        self.queue.close()

    def ingest(self, sources: Iterable[Source], tenant: str | None) -> list[IngestResult]:
        """Archive *sources* in the next group commit; refused while the store's last self-test failed."""
        self.self_tests.check_writes()
        return self.queue.ingest(sources, tenant)
