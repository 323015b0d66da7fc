"""What a long-running process (``earsiv serve``) adds to an archive: one ingest queue, one worker.

The archive's unit of work (blob → log leaf → index) is not safe to run twice at once, so a
server's every ingest goes through one ``IngestQueue``, which runs the requests waiting
together as one group commit.  Reads take no lock: the store is write-once, the log guards
its own state, and the index has its own transactions.

Background work (a checkpoint every few seconds while documents arrive, signature
inspection of newly archived documents, full-text indexing, and the store's scheduled
self-test) runs in one daemon thread; the audit (``audit.py``) in another, paced.  The self-test also runs once at start, before
anything is served (``stores.schedule``).  A command (``earsiv ingest``) has none of this:
it finishes its own pending work before it returns (``ArchiveService.inspect_signatures``,
``catch_up_text``).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from earsiv.archive.audit import Audit, AuditBusy, Budget
from earsiv.archive.ingestqueue import IngestQueue
from earsiv.archive.stores.schedule import SelfTestSchedule
from earsiv.errors import EarsivError

if TYPE_CHECKING:
    from earsiv.archive.archive import Archive
    from earsiv.archive.ingest import IngestResult, Source

__all__ = ["AuditPace", "Background"]

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

    RENEW_EVERY = 86400.0  # seconds: time stamps are renewed half a year ahead, so daily is plenty
    RENEW_FIRST = 60.0

    def run(self) -> None:
        next_renewal = time.monotonic() + self.RENEW_FIRST
        while not self.stop.wait(self.interval):
            if time.monotonic() >= next_renewal:
                next_renewal = time.monotonic() + self._renew()
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

    def _renew(self) -> float:
        """Renew the stamps that expire within 180 days; the seconds until the next try."""
        try:
            done = self.arch.renew_stamps()
        except EarsivError as exc:
            log.warning("renewing time stamps failed: %s (tried again in an hour)", exc)
            return 3600.0
        if done["renewal"] is not None:
            log.info("renewed the time stamps of %d checkpoints (renewal %d)", done["checkpoints"], done["renewal"])
        for made in done.get("hash_trees", []):
            log.info("renewed the %s stamps of %d hash-tree renewals (stamp renewal %d)", made["hash"], made["runs"],
                     made["stamp_renewal"])
        if "second" in done:
            log.info("renewed the second TSA's time stamps of %d checkpoints (renewal %d)",
                     done["second"]["checkpoints"], done["second"]["renewal"])
        return self.RENEW_EVERY

    def _fulltext(self) -> None:
        self.arch.text.catch_up(limit=FULLTEXT_BUSY_BATCH)
        # Bounded batches, so a stop request or a new upload is never kept waiting long.
        while (not self.stop.is_set() and self.ingest.idle_for() >= IDLE_SECONDS
               and self.arch.text.catch_up(limit=FULLTEXT_IDLE_BATCH)):
            pass


class AuditPace(threading.Thread):
    """The audit, a step at a time, so that a pass takes about the configured period.

    A step reads for at most ``SLICE`` seconds; the pause after it is long enough both to
    spread the rest of the pass over the time left (ending a tenth of the period early) and
    to keep the audit at or under ``MAX_SHARE`` of one core.  A finished pass is followed by
    the next once its period has passed since it began.  Another auditor on the home (an
    ``earsiv audit`` command) makes it skip a round.
    """

    SLICE = 1.0
    MAX_SHARE = 0.10
    MAX_PAUSE = 3600.0  # a small archive is audited more often than its period asks, never less
    FIRST_DELAY = 30.0  # after start: the server answers first

    def __init__(self, arch: Archive, period_days: float) -> None:
        super().__init__(name="earsiv-audit", daemon=True)
        self.audit = Audit.of_home(arch)
        self.period = dt.timedelta(days=period_days)
        self.stop = threading.Event()
        self.busy_seconds = 0.0  # what the steps took, for tests and status
        self.steps = 0

    def run(self) -> None:
        delay = self.FIRST_DELAY
        while not self.stop.wait(delay):
            try:
                delay = self.step()
            except AuditBusy:
                delay = 60.0
            except EarsivError as exc:
                log.warning("background audit step failed: %s", exc)
                delay = 300.0

    def step(self) -> float:
        """One step; the seconds to wait before the next."""
        started = time.monotonic()
        before = self.audit.load_state()
        report = self.audit.step(Budget(seconds=self.SLICE))
        took = time.monotonic() - started
        self.busy_seconds += took
        self.steps += 1
        for f in report.findings:
            log.warning("audit: %s%s: %s", f.subject, f" ({f.copy})" if f.copy else "", f.problem)
        share = took * (1 / self.MAX_SHARE - 1)
        now = dt.datetime.now(dt.UTC)
        if report.pass_started is None:  # nothing checkpointed yet
            return max(share, 60.0)
        if report.pass_finished:
            return max(share, (report.pass_started + self.period - now).total_seconds())
        done = report.position - (before.position if before is not None else 0)
        left = (report.pass_started + self.period * 0.9 - now).total_seconds()
        remaining = report.end - report.position
        if done <= 0 or left <= 0 or remaining <= 0:
            return share
        pace = left / remaining * done - took  # this step's share of the time left
        return min(max(share, pace), max(share, self.MAX_PAUSE))


class Background:
    """The ingest queue, the store's self-test schedule and the worker thread of one open archive."""

    def __init__(self, arch: Archive) -> None:
        self.queue = IngestQueue(arch)
        self.self_tests = SelfTestSchedule(arch.store, arch.config.self_test_hours)
        self._worker = _Worker(arch, arch.config.checkpoint_interval, self.queue, self.self_tests)
        self.audit = AuditPace(arch, arch.config.audit_days) if arch.config.audit_days else None

    def start(self) -> None:
        """Self-test the store (a bucket that fails raises here: nothing is served), then start the workers."""
        self.self_tests.start()
        self._worker.start()
        if self.audit is not None:
            self.audit.start()

    def close(self) -> None:
        """Stop the workers; finish what the queue accepted."""
        self._worker.stop.set()
        if self.audit is not None:
            self.audit.stop.set()
        for worker in (self._worker, self.audit):
            if worker is not None and worker.is_alive():
                worker.join(timeout=30)
        self.queue.close()

    def ingest(self, sources: Iterable[Source], tenant: str | None) -> list[IngestResult]:
        """Archive *sources* in the next group commit; refused while the store's last self-test failed."""
        self.self_tests.check_writes()
        return self.queue.ingest(sources, tenant)
