"""Bulk take-away as jobs: a ZIP of PDFs, originals or both, a CSV or an XLSX of a result list.

A job is a row of the index database (``indexer/jobdb.py``), so that it outlives the request
that made it, a page reload and a restart, and every serve node of one PostgreSQL index sees
it.  Its result is a file under the home, ``HOME/jobs/<id>.<ext>``: not in the store, where
nothing can be deleted before its retention ends (invariant 2), while a result is a copy
made for someone, to be deleted when it expires.  It is written as ``<id>.part``, made
durable, then renamed, so a result that exists is whole.

The serve process that accepted a job runs it (its ``node``: host and home), in a
:class:`JobRunner` of ``[jobs] workers`` threads; prints go through the process's shared
print pool as the job's owner, which takes at most its share of the print workers, so a job
never holds up another request's print, nor an ingest (which takes no print worker).

A job never stays "running" when nobody runs it: a serve process that starts fails the jobs
its node left running (it crashed or was killed); a node that stops touching its running
jobs for ``SILENT`` is taken as gone by any other, which fails them too.  A failed job says
why; the person makes it again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from earsiv.archive.stores.local import fsync_dir
from earsiv.errors import EarsivError, InvalidInput

if TYPE_CHECKING:
    from earsiv.indexer.jobdb import JobIndex, JobRow
    from earsiv.indexer.query import SearchQuery

__all__ = ["EXTENSIONS", "JOB_KINDS", "SILENT", "JobCancelled", "JobRunner", "JobStopped", "Outcome", "job_filename", "job_label",
           "new_job_id", "node_name", "query_from_json", "query_to_json"]

log = logging.getLogger("earsiv.jobs")

# kind -> the formats of a ZIP's folders (none: a sheet)
JOB_KINDS: dict[str, tuple[str, ...]] = {"zip-pdf": ("pdf",), "zip-xml": ("xml",), "zip-both": ("xml", "pdf"),
                                         "csv": (), "xlsx": ()}
EXTENSIONS = {"zip-pdf": "zip", "zip-xml": "zip", "zip-both": "zip", "csv": "csv", "xlsx": "xlsx"}
SILENT = dt.timedelta(minutes=5)  # a running job its node has not touched this long: the node is gone
TOUCH_EVERY = 30.0  # seconds between a runner's touches of its running jobs (and sweeps of expired ones)
FORGET_AFTER = dt.timedelta(days=30)
ORPHAN_AGE = 60.0  # seconds: a result file whose job is unknown is deleted once it is this old  # an expired job's row is kept this long, so its list says it expired
INTERRUPTED = ("interrupted: the server stopped while this job ran (a restart or a crash); nothing of it was kept, "
               "make it again")
GONE = "interrupted: the server that ran this job stopped answering; nothing of it was kept, make it again"

# SearchQuery fields a job keeps (what was asked; never the scope the access rules add)
_QUERY_FIELDS = ("vkn", "date_from", "date_to", "kind", "profile", "type_code", "doc_id", "ettn", "amount_min",
                 "amount_max", "tenant", "signature_status", "text", "signature_trust", "signer_relation", "supplier",
                 "customer")
_DATES = ("date_from", "date_to")
_AMOUNTS = ("amount_min", "amount_max")


def query_to_json(q: SearchQuery) -> str:
    out = {}
    for name in _QUERY_FIELDS:
        value = getattr(q, name)
        if value is not None:
            out[name] = value.isoformat() if name in _DATES else str(value) if name in _AMOUNTS else value
    return json.dumps(out, sort_keys=True, ensure_ascii=False)


def query_from_json(text: str) -> SearchQuery:
    from earsiv.indexer.query import SearchQuery

    raw = json.loads(text)
    fields = {k: dt.date.fromisoformat(v) if k in _DATES else Decimal(v) if k in _AMOUNTS else v
              for k, v in raw.items() if k in _QUERY_FIELDS}
    return SearchQuery(**fields, limit=1000)


def job_label(q: SearchQuery) -> str:
    """The period and the taxpayer a job's list is of, for its result's file name: ``2025-11-01_2025-11-30_1111111111``."""
    if q.date_from is None and q.date_to is None:
        period = "tum-tarihler"
    else:
        period = f"{q.date_from.isoformat() if q.date_from else 'ilk'}_{q.date_to.isoformat() if q.date_to else 'son'}"
    whose = q.tenant or q.supplier or q.customer or q.vkn
    return "_".join(p for p in (period, whose) if p)


def job_filename(label: str, kind: str) -> str:
    return f"belgeler_{label}_{kind}.{EXTENSIONS[kind]}"


def new_job_id() -> str:
    return secrets.token_hex(16)


def node_name(home: Path) -> str:
    """This serve process's name among the nodes of one index: its host and its home."""
    return f"{socket.gethostname()}:{home}"[:200]


def check_kind(kind: str) -> str:
    if kind not in JOB_KINDS:
        raise InvalidInput(f"unknown job kind {kind!r}; kinds: {', '.join(JOB_KINDS)}")
    return kind


class JobCancelled(Exception):
    """The job's row was deleted (or failed by a sweep) while it ran: stop, keep nothing."""


class JobStopped(Exception):
    """The server is stopping: the job ends as interrupted."""


@dataclass(frozen=True, slots=True)
class Outcome:
    done: int  # documents (or rows) in the result
    skipped: int  # documents that could not be put in (each named in *note*)
    note: str | None = None


class Progress:
    """What a running job tells its row: how far it got, at most once a second, and whether it should go on."""

    def __init__(self, jobs: JobIndex, job_id: str, now: Callable[[], dt.datetime],
                 stopping: Callable[[], bool] = lambda: False, every: float = 1.0) -> None:
        self.jobs, self.job_id, self.now, self.stopping, self.every = jobs, job_id, now, stopping, every
        self.done = self.skipped = 0
        self.total: int | None = None
        self._last = 0.0

    def start(self, total: int) -> None:
        self.total = total
        self._write(force=True)

    def step(self, skipped: bool = False) -> None:
        from earsiv.archive import faults

        self.done += 1
        self.skipped += int(skipped)
        faults.point("jobs.after-document")
        if self.stopping():
            raise JobStopped(self.job_id)
        self._write()

    def _write(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every and self.done != self.total:
            return
        self._last = now
        if not self.jobs.progress(self.job_id, self.done, self.total, self.skipped, self.now()):
            raise JobCancelled(self.job_id)


Work = Callable[["JobRow", Path, Progress], Outcome]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class JobRunner:
    """Runs this node's queued jobs, ``workers`` at a time, and sweeps expired results.

    *work(row, out, progress)* writes the result of one job to *out* (``ArchiveService.run_job``).
    A job's row is written (its progress, and whether it is still wanted) at most every
    *progress_every* seconds: a write per document would cost a ZIP of originals more than its bytes.
    """

    def __init__(self, jobs: JobIndex, folder: Path, node: str, work: Work, *, workers: int = 1,
                 keep: dt.timedelta = dt.timedelta(hours=24), now: Callable[[], dt.datetime] = _now,
                 progress_every: float = 1.0) -> None:
        self.jobs, self.folder, self.node, self.work = jobs, folder, node, work
        self.keep, self.now, self.progress_every = keep, now, progress_every
        self._wake = threading.Condition()
        self._stop = False
        self._queued = 0  # wakes not yet answered by a look for a job
        self._threads = [threading.Thread(target=self._loop, name=f"earsiv-job-{i}", daemon=True) for i in range(workers)]
        self._sweeper = threading.Thread(target=self._sweep_loop, name="earsiv-job-sweep", daemon=True)

    def start(self) -> None:
        """Fail what this node left running (it stopped mid-job), sweep, then take jobs."""
        self.folder.mkdir(parents=True, exist_ok=True)
        now = self.now()
        failed = self.jobs.fail_running(INTERRUPTED, now, now + self.keep, node=self.node)
        if failed:
            log.warning("%d take-away jobs were running when this server last stopped: failed, to be made again", failed)
        for part in self.folder.glob("*.part"):
            part.unlink(missing_ok=True)
        self.sweep()
        for t in (*self._threads, self._sweeper):
            t.start()

    def close(self) -> None:
        """Stop taking jobs; a job running now ends as failed by the next start (or by another node)."""
        with self._wake:
            self._stop = True
            self._wake.notify_all()
        for t in (*self._threads, self._sweeper):
            if t.is_alive():
                t.join(timeout=30)  # a job stops at its next document; the prints under way end first

    @property
    def stopping(self) -> bool:
        return self._stop

    def wake(self) -> None:
        """A job was queued: a free worker takes it now rather than at its next look."""
        with self._wake:
            self._queued += 1
            self._wake.notify()

    def result_path(self, row: JobRow) -> Path:
        return self.folder / f"{row.id}.{EXTENSIONS[row.kind]}"

    # -- the workers -------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._wake:
                if self._stop:
                    return
                self._queued = 0
            try:
                row = self.jobs.claim(self.node, self.now())
            except EarsivError as exc:
                log.warning("cannot take a job: %s", exc)
                row = None
            if row is None:
                with self._wake:
                    if not self._stop and not self._queued:
                        self._wake.wait(timeout=2.0)
                continue
            try:
                self._run(row)
            except Exception:  # a bug must not end the worker: the job stays running until a restart fails it
                log.exception("take-away job %s: the runner failed", row.id)

    def _run(self, row: JobRow) -> None:
        out = self.result_path(row)
        part = out.with_suffix(".part")
        progress = Progress(self.jobs, row.id, self.now, lambda: self.stopping, self.progress_every)
        try:
            outcome = self.work(row, part, progress)
            digest, size = _durable(part)
            part.replace(out)
            fsync_dir(self.folder)
        except JobCancelled:
            part.unlink(missing_ok=True)
            return
        except JobStopped:
            part.unlink(missing_ok=True)
            with contextlib.suppress(EarsivError):
                self.jobs.fail(row.id, INTERRUPTED, self.now(), self.now() + self.keep)
            return
        except Exception as exc:  # whatever went wrong is the job's answer, and the worker goes on
            part.unlink(missing_ok=True)
            why = str(exc) if isinstance(exc, EarsivError) else f"{exc.__class__.__name__}: {exc}"
            if not isinstance(exc, EarsivError):
                log.exception("take-away job %s failed", row.id)
            with contextlib.suppress(EarsivError):
                self.jobs.fail(row.id, why, self.now(), self.now() + self.keep)
            return
        now = self.now()
        try:
            finished = self.jobs.finish(row.id, size=size, sha256=digest, done=outcome.done, skipped=outcome.skipped,
                                        error=outcome.note, now=now, expires_at=now + self.keep)
        except EarsivError as exc:
            out.unlink(missing_ok=True)
            with contextlib.suppress(EarsivError):
                self.jobs.fail(row.id, f"the result was made but could not be recorded: {exc}", now, now + self.keep)
            return
        if not finished:
            out.unlink(missing_ok=True)  # deleted while its last bytes were written

    # -- expiry and the silence of other nodes ---------------------------------------------
    def _sweep_loop(self) -> None:
        while True:
            with self._wake:
                if self._stop:
                    return
                self._wake.wait(timeout=TOUCH_EVERY)
                if self._stop:
                    return
            try:
                self.sweep()
            except EarsivError as exc:
                log.warning("take-away job sweep failed: %s", exc)

    def sweep(self) -> None:
        """Touch this node's running jobs; fail those of silent nodes; delete expired and orphaned results."""
        self.folder.mkdir(parents=True, exist_ok=True)
        now = self.now()
        self.jobs.touch(self.node, now)
        self.jobs.fail_running(GONE, now, now + self.keep, silent_since=now - SILENT)
        for job_id in self.jobs.expire(now, self.node):
            for path in self.folder.glob(f"{job_id}.*"):
                path.unlink(missing_ok=True)
        self.jobs.forget(now - FORGET_AFTER)
        keep = self.jobs.ids_on(self.node)
        settled = time.time() - ORPHAN_AGE  # a file newer than that may be of a job made since keep was read
        for path in self.folder.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if path.suffix != ".part" and path.stem not in keep and path.stat().st_mtime < settled:
                    path.unlink()  # its job was deleted, forgotten, or emptied by a reindex


def _durable(path: Path) -> tuple[str, int]:
    """sha256 and size of *path*, once its bytes are on disk."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
        os.fsync(f.fileno())
    return h.hexdigest(), size

