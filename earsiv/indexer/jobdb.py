"""Bulk take-away jobs in the index database (``models.jobs``), so that every serve node sees them.

Not derived from the log, like ``web_sessions``: ``Index.dump`` leaves the table out and a
reindex empties it (a job then answers 404; its result file is swept as an orphan).  The rules
(kinds, caps, expiry, what a crashed node's jobs become) are ``archive/jobs.py``'s; this
module only keeps rows, each change one statement or one transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from earsiv.indexer.models import jobs

if TYPE_CHECKING:
    from earsiv.indexer.database import Database

__all__ = ["ACTIVE", "JobIndex", "JobRow"]

ACTIVE = ("queued", "running")


@dataclass(frozen=True, slots=True)
class JobRow:
    id: str
    principal: str
    kind: str
    query: str
    label: str
    state: str
    done: int
    total: int | None
    skipped: int
    node: str
    created_at: dt.datetime
    heartbeat_at: dt.datetime
    finished_at: dt.datetime | None
    expires_at: dt.datetime | None
    size: int | None
    sha256: str | None
    error: str | None
    digests: str | None
    event: str | None


_COLUMNS = [jobs.c[f] for f in JobRow.__slots__]


class JobIndex:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, row: JobRow, *, cap: int) -> int:
        """Keep *row* unless its principal has *cap* jobs queued or running; how many it had before."""
        with self._db.write("cannot keep a job") as conn:
            active = conn.scalar(sa.select(sa.func.count()).select_from(jobs).where(
                jobs.c.principal == row.principal, jobs.c.state.in_(ACTIVE))) or 0
            if active < cap:
                conn.execute(sa.insert(jobs).values(**{f: getattr(row, f) for f in JobRow.__slots__}))
        return int(active)

    def get(self, job_id: str) -> JobRow | None:
        with self._db.read("cannot read a job") as conn:
            row = conn.execute(sa.select(*_COLUMNS).where(jobs.c.id == job_id)).first()
        return JobRow(*row) if row is not None else None

    def of(self, principal: str, limit: int = 100) -> list[JobRow]:
        """*principal*'s jobs, newest first."""
        stmt = (sa.select(*_COLUMNS).where(jobs.c.principal == principal)
                .order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit))
        with self._db.read("cannot list jobs") as conn:
            return [JobRow(*r) for r in conn.execute(stmt)]

    def claim(self, node: str, now: dt.datetime) -> JobRow | None:
        """The oldest job queued on *node*, now running; None when there is none."""
        stmt = (sa.select(jobs.c.id).where(jobs.c.state == "queued", jobs.c.node == node)
                .order_by(jobs.c.created_at, jobs.c.id).limit(1))
        with self._db.write("cannot take a job") as conn:
            job_id = conn.scalar(stmt)
            if job_id is None:
                return None
            took = conn.execute(sa.update(jobs).where(jobs.c.id == job_id, jobs.c.state == "queued")
                                .values(state="running", heartbeat_at=now)).rowcount
        return self.get(job_id) if took == 1 else None

    def progress(self, job_id: str, done: int, total: int | None, skipped: int, now: dt.datetime) -> bool:
        """Note how far a running job got; False when it is no longer running (deleted, or failed by a sweep)."""
        with self._db.write("cannot note a job's progress") as conn:
            return conn.execute(sa.update(jobs).where(jobs.c.id == job_id, jobs.c.state == "running").values(
                done=done, total=total, skipped=skipped, heartbeat_at=now)).rowcount == 1

    def finish(self, job_id: str, *, size: int, sha256: str, done: int, skipped: int, error: str | None,
               now: dt.datetime, expires_at: dt.datetime) -> bool:
        with self._db.write("cannot finish a job") as conn:
            return conn.execute(sa.update(jobs).where(jobs.c.id == job_id, jobs.c.state == "running").values(
                state="done", size=size, sha256=sha256, done=done, total=done, skipped=skipped, error=error,
                heartbeat_at=now, finished_at=now, expires_at=expires_at)).rowcount == 1

    def fail(self, job_id: str, error: str, now: dt.datetime, expires_at: dt.datetime) -> None:
        with self._db.write("cannot note a job's failure") as conn:
            conn.execute(sa.update(jobs).where(jobs.c.id == job_id, jobs.c.state.in_(ACTIVE)).values(
                state="failed", error=error, heartbeat_at=now, finished_at=now, expires_at=expires_at))

    def fail_running(self, error: str, now: dt.datetime, expires_at: dt.datetime, *, node: str | None = None,
                     silent_since: dt.datetime | None = None) -> int:
        """Fail the jobs running on *node* (it restarted), or silent since *silent_since* (their node is gone)."""
        where = [jobs.c.state == "running"]
        if node is not None:
            where.append(jobs.c.node == node)
        if silent_since is not None:
            where.append(jobs.c.heartbeat_at < silent_since)
        with self._db.write("cannot fail interrupted jobs") as conn:
            return conn.execute(sa.update(jobs).where(*where).values(
                state="failed", error=error, finished_at=now, expires_at=expires_at)).rowcount

    def touch(self, node: str, now: dt.datetime) -> None:
        """*node* is alive: its running jobs are not silent."""
        with self._db.write("cannot touch running jobs") as conn:
            conn.execute(sa.update(jobs).where(jobs.c.state == "running", jobs.c.node == node).values(heartbeat_at=now))

    def expire(self, now: dt.datetime, node: str) -> list[str]:
        """Mark finished jobs past their expiry as expired; the ids of those whose result was on *node*."""
        due = sa.and_(jobs.c.state.in_(("done", "failed")), jobs.c.expires_at <= now)
        with self._db.write("cannot expire jobs") as conn:
            mine = list(conn.scalars(sa.select(jobs.c.id).where(due, jobs.c.node == node)))
            conn.execute(sa.update(jobs).where(due).values(state="expired", size=None))
        return mine

    def forget(self, before: dt.datetime) -> int:
        """Delete the rows of jobs that expired before *before*."""
        with self._db.write("cannot forget old jobs") as conn:
            return conn.execute(sa.delete(jobs).where(jobs.c.state == "expired", jobs.c.expires_at < before)).rowcount

    def delete(self, job_id: str) -> bool:
        with self._db.write("cannot delete a job") as conn:
            return conn.execute(sa.delete(jobs).where(jobs.c.id == job_id)).rowcount == 1

    def ids_on(self, node: str) -> set[str]:
        """Every job id of *node* that may still have a result file (not expired)."""
        with self._db.read("cannot list jobs") as conn:
            return set(conn.scalars(sa.select(jobs.c.id).where(jobs.c.node == node, jobs.c.state != "expired")))
