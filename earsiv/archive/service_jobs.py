"""The use cases of bulk take-away jobs: make one from a search, follow it, fetch its result, delete it.

Part of ``ArchiveService`` (``service.py``); the jobs themselves, where their results live and
what happens to them when a server stops, are ``jobs.py``'s.  The access rules are the
search's: a job holds only what its principal may see, checked again when it runs (a grant
revoked or a tenant unlinked in between narrows it); another principal's job is "not found".
An inspector's job is one access event naming every document, recorded when it is made,
before anything is written, and the job holds exactly those documents (or fewer, never more).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from earsiv.archive.errors import Forbidden, JobExpired, JobNotReady, NotFound, TooManyJobs
from earsiv.archive.jobs import (
    JOB_KINDS,
    JobRunner,
    Outcome,
    Progress,
    check_kind,
    job_filename,
    job_label,
    new_job_id,
    query_from_json,
    query_to_json,
)
from earsiv.archive.service_types import MAX_LOGGED_EXPORT
from earsiv.errors import InvalidInput
from earsiv.indexer.jobdb import ACTIVE, JobRow
from earsiv.render.errors import PrintersBusy

if TYPE_CHECKING:
    from earsiv.archive.access import Principal
    from earsiv.archive.archive import Archive
    from earsiv.archive.disclosure import Disclosure
    from earsiv.indexer.query import SearchQuery
    from earsiv.indexer.rows import DocumentRow

__all__ = ["JobResult", "JobUseCases", "SheetWriter"]

SheetWriter = Callable[[Sequence["DocumentRow"]], bytes]
MAX_SHEET_ROWS = 100_000
BUSY_RETRIES = 3  # rounds of copies not made because every print worker was busy with others' prints  # rows of a CSV or XLSX (Excel opens 1,048,576; people read far fewer)
_MISSING = "eksik-missing.txt"


@dataclasses.dataclass(frozen=True, slots=True)
class JobResult:
    path: Path
    filename: str
    row: JobRow


class JobUseCases:
    archive: Archive
    disclosure: Disclosure
    job_runner: JobRunner | None
    sheet_writers: dict[str, SheetWriter]

    def create_job(self, who: Principal, kind: str, q: SearchQuery) -> JobRow:
        """A job of *kind* over what *q* finds within what *who* may see; queued on this server."""
        from earsiv.archive.access import query_params

        check_kind(kind)
        if self.job_runner is None:
            raise InvalidInput("take-away jobs run in `earsiv serve`; from the command line use `earsiv export`")
        cap = self.archive.config.jobs_per_principal
        asked = dataclasses.replace(q, cursor=None, limit=1000)
        scoped, grants = self.archive.access.scoped(who, asked)  # another tenant's list: Forbidden, before anything
        if self._active(who) >= cap:
            raise self._too_many(cap)
        now = dt.datetime.now(dt.UTC)
        job_id = new_job_id()
        digests = event = None
        if who.role == "inspector":
            found = self._matching(scoped)
            params = {**query_params(asked), "job": job_id, "job_kind": kind}
            params.pop("limit", None)
            event = str(self.archive.access.record(who, "export", grants, params, found))
            digests = json.dumps(found)
        row = JobRow(id=job_id, principal=who.name, kind=kind, query=query_to_json(asked), label=job_label(asked),
                     state="queued", done=0, total=None, skipped=0, node=self.job_runner.node, created_at=now,
                     heartbeat_at=now, finished_at=None, expires_at=None, size=None, sha256=None, error=None,
                     digests=digests, event=event)
        if self.archive.index.jobs.add(row, cap=cap) >= cap:
            raise self._too_many(cap)
        self.job_runner.wake()
        return row

    def jobs_of(self, who: Principal) -> list[JobRow]:
        rows = self.archive.index.jobs.of(who.name)
        if any(self._past_expiry(r) for r in rows) and self.job_runner is not None:
            self.job_runner.sweep()
        return [dataclasses.replace(r, state="expired", size=None) if self._past_expiry(r) else r for r in rows]

    def job(self, who: Principal, job_id: str) -> JobRow:
        row = self.archive.index.jobs.get(job_id) if _looks_like_id(job_id) else None
        if row is None or row.principal != who.name:
            raise NotFound(f"no job {job_id!r} of yours", name=job_id)
        return self._lazily_expired(row)

    def job_result(self, who: Principal, job_id: str) -> JobResult:
        row = self.job(who, job_id)
        if row.state == "expired":
            raise JobExpired(f"the result of job {row.id} was deleted at {row.expires_at:%Y-%m-%d %H:%M} UTC; "
                             "make the job again", name=row.id)
        if row.state != "done":
            why = f": {row.error}" if row.state == "failed" and row.error else ""
            raise JobNotReady(f"job {row.id} is {row.state}{why}", name=row.id)
        assert self.job_runner is not None  # a job is done only where a runner made it
        path = self.job_runner.result_path(row)
        if row.node != self.job_runner.node or not path.is_file():
            raise NotFound(f"the result of job {row.id} is kept by the server that made it ({row.node.split(':')[0]})",
                           name=row.id)
        return JobResult(path, job_filename(row.label, row.kind), row)

    def delete_job(self, who: Principal, job_id: str) -> None:
        """Forget the job and delete its result; a running job stops between two documents and keeps nothing."""
        row = self.job(who, job_id)
        self.archive.index.jobs.delete(row.id)
        if self.job_runner is not None and row.node == self.job_runner.node and row.state != "running":
            self.job_runner.result_path(row).unlink(missing_ok=True)

    # -- running ---------------------------------------------------------------------------
    def run_job(self, row: JobRow, out: Path, progress: Progress) -> Outcome:
        """Write *row*'s result to *out* (``JobRunner``'s work), as its principal is now allowed to see."""
        who = self._job_principal(row.principal)
        asked = query_from_json(row.query)
        scoped, _grants = self.archive.access.scoped(who, asked)
        if row.digests is not None:  # an inspector's: exactly what its event named, still within its grants
            scoped = dataclasses.replace(scoped, text=None, digests=tuple(json.loads(row.digests)))
        elif scoped.text is not None:  # full-text matches, pinned so that the index can page through them
            scoped = dataclasses.replace(scoped, text=None, digests=tuple(self._matching(scoped)))
        count = sum(1 for _ in self._rows(scoped))
        formats = JOB_KINDS[row.kind]
        if not formats:
            if count > MAX_SHEET_ROWS:
                raise InvalidInput(f"{count} documents: a sheet holds at most {MAX_SHEET_ROWS}; narrow the period")
            progress.start(count)
            rows = []
            for r in self._rows(scoped):
                rows.append(r)
                progress.step()
            out.write_bytes(self.sheet_writers[row.kind](self.disclosure.rows(who, rows, asked)))
            return Outcome(len(rows), 0)
        return self._zip(who, asked, scoped, formats, count, out, progress)

    def _zip(self, who: Principal, asked: SearchQuery, scoped: SearchQuery, formats: tuple[str, ...], count: int,
             out: Path, progress: Progress) -> Outcome:
        from earsiv.archive.export import export_bulk
        from earsiv.render.pool import shared_pool

        progress.start(count * len(formats))
        written, failed = 0, []
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for fmt in formats:
                todo, step = scoped, (lambda _n: progress.step())
                for _round in range(1 + BUSY_RETRIES):
                    summary = export_bulk(self.archive, todo, fmt, out, progress=step,
                                          print_for=self._print_for(who, asked),
                                          printers=shared_pool() if fmt != "xml" else None, owner=f"job:{who.name}",
                                          into=zf, prefix=f"{fmt}/")
                    written += summary.written
                    busy = [d for d, why in summary.failed if why.startswith(PrintersBusy.__name__)]
                    failed.extend((fmt, d, why) for d, why in summary.failed if d not in busy)
                    if not busy:
                        break
                    # Every print worker was taken by others' prints for a while: those again, later.
                    todo, step = dataclasses.replace(scoped, digests=tuple(busy)), None
                else:
                    failed.extend((fmt, d, "PrintersBusy: the print workers stayed busy") for d in busy)
            if failed:
                zf.writestr(_MISSING, "".join(f"{fmt}\t{d}\t{why}\n" for fmt, d, why in failed))
        note = None
        if failed:
            note = (f"{len(failed)} copies could not be made (listed in {_MISSING} in the ZIP): "
                    + "; ".join(f"{fmt} {d[:16]}: {why}" for fmt, d, why in failed[:5]))
        return Outcome(written, len(failed), note)

    # -- helpers ---------------------------------------------------------------------------
    def _rows(self, q: SearchQuery) -> Iterator[DocumentRow]:
        while True:
            page = self.archive.index.search(q)
            yield from page.rows
            if not page.next_cursor:
                return
            q = q.after(page.next_cursor)

    def _matching(self, scoped: SearchQuery) -> list[str]:
        """Digests of every document *scoped* finds (full text too), at most ``MAX_LOGGED_EXPORT``."""
        found: list[str] = []
        q = scoped
        while True:
            page = self.archive.search(q)
            found.extend(r.digest for r in page.rows)
            if len(found) > MAX_LOGGED_EXPORT:
                raise InvalidInput(f"more than {MAX_LOGGED_EXPORT} documents: narrow the period")
            if not page.next_cursor:
                return found
            q = q.after(page.next_cursor)

    def _active(self, who: Principal) -> int:
        return sum(1 for r in self.archive.index.jobs.of(who.name) if r.state in ACTIVE)

    @staticmethod
    def _too_many(cap: int) -> TooManyJobs:
        return TooManyJobs(f"you have {cap} jobs queued or running, as many as one may: wait for one to end, "
                           "or delete one")

    def _job_principal(self, name: str) -> Principal:
        from earsiv.archive.access import Principal

        row = self.archive.index.access.principal(name)
        if row is None or row.disabled:
            raise Forbidden(f"principal {name!r} is disabled or gone: its job is not run", name=name)
        return Principal.from_row(row)

    @staticmethod
    def _past_expiry(row: JobRow) -> bool:
        return row.state in ("done", "failed") and row.expires_at is not None and row.expires_at <= dt.datetime.now(dt.UTC)

    def _lazily_expired(self, row: JobRow) -> JobRow:
        """A finished job past its expiry answers as expired at once, not at the next sweep."""
        if not self._past_expiry(row):
            return row
        if self.job_runner is not None:
            self.job_runner.sweep()
        return dataclasses.replace(row, state="expired", size=None)


def _looks_like_id(job_id: str) -> bool:
    return len(job_id) == 32 and all(c in "0123456789abcdef" for c in job_id)
