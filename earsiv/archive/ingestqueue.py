"""One ingest at a time, shared by every concurrent request: a group commit across requests.

A server receives documents one request at a time, often one document per request.  Run
one by one, each document would pay a whole group commit alone (a store flush, a log
bundle and its flush, index transactions).  Here requests wait in a queue; one thread takes
every request waiting, runs them as one ``Archive.ingest`` per tenant, and hands each
request its own results.  Each result is still given only after its document is durable:
``Archive.ingest`` yields a result after the group commit that made it so.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from earsiv.archive.errors import ArchiveError
from earsiv.archive.ingest import IngestResult, Source

if TYPE_CHECKING:
    from earsiv.archive.archive import Archive

__all__ = ["IngestQueue"]

# Documents taken into one round at most; a request is never split across rounds.
MAX_ROUND_DOCUMENTS = 2048


@dataclass(slots=True)
class _Job:
    tenant: str | None
    sources: list[Source]
    done: Future = field(default_factory=Future)


class IngestQueue:
    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="earsiv-ingest", daemon=True)
        self._closed = False
        self._running = False
        self._last_busy = 0.0  # time.monotonic() when the last round ended or a request arrived
        self._thread.start()

    def idle_for(self) -> float:
        """Seconds since the last ingest request or round (0 while one runs)."""
        if not self._queue.empty() or self._running:
            return 0.0
        return time.monotonic() - self._last_busy

    def ingest(self, sources: Iterable[Source], tenant: str | None = None) -> list[IngestResult]:
        """Archive *sources* for *tenant*; return when every one of them is durable (or rejected)."""
        if self._closed:
            raise ArchiveError("the archive is closing; no more documents are taken")
        job = _Job(tenant, list(sources))
        self._last_busy = time.monotonic()
        self._queue.put(job)
        return job.done.result()

    def close(self) -> None:
        """Finish what is queued, then stop."""
        self._closed = True
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            jobs, count = [first], len(first.sources)
            while count < MAX_ROUND_DOCUMENTS:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                jobs.append(more)
                count += len(more.sources)
            self._round(jobs)

    def _round(self, jobs: list[_Job]) -> None:
        self._running = True
        try:
            self._round_inner(jobs)
        finally:
            self._running = False
            self._last_busy = time.monotonic()

    def _round_inner(self, jobs: list[_Job]) -> None:
        by_tenant: dict[str | None, list[_Job]] = {}
        for job in jobs:
            by_tenant.setdefault(job.tenant, []).append(job)
        for tenant, group in by_tenant.items():
            try:
                results = list(self.archive.ingest([s for job in group for s in job.sources], tenant=tenant))
            except BaseException as exc:  # noqa: BLE001 - handed to every waiting request, which re-raises it
                for job in group:
                    job.done.set_exception(exc)
                continue
            start = 0
            for job in group:
                job.done.set_result(results[start : start + len(job.sources)])
                start += len(job.sources)
