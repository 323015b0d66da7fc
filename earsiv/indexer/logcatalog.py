"""Where the log's objects are: the bundle that holds a leaf, the checkpoints and their states.

One indexed lookup each, so that no request or command lists the store or reads the whole
log.  The rows are written by ``IndexWriter.add_bundle`` (in the transaction that mirrors the
bundle) and ``IndexWriter.put_checkpoint``; they are derived like every row of the index.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

import sqlalchemy as sa

from earsiv.indexer.models import log_bundles, log_checkpoints

if TYPE_CHECKING:
    from earsiv.indexer.database import Database

__all__ = ["CheckpointRow", "LogCatalog"]


@dataclasses.dataclass(frozen=True, slots=True)
class CheckpointRow:
    size: int
    state: str  # made, signed, stamped
    time: dt.datetime | None


class LogCatalog:
    def __init__(self, db: Database) -> None:
        self._db = db

    def bundle_containing(self, index: int) -> tuple[int, int] | None:
        """(first, count) of the mirrored bundle that holds leaf *index*, or None."""
        b = log_bundles.c
        stmt = sa.select(b.first, b.count).where(b.first <= index).order_by(b.first.desc()).limit(1)
        with self._db.read(f"cannot find the bundle of leaf {index}") as conn:
            row = conn.execute(stmt).first()
        if row is None or row.first + row.count <= index:
            return None
        return int(row.first), int(row.count)

    def latest_checkpoint(self, *, stamped: bool = False, covering: int | None = None) -> CheckpointRow | None:
        """The newest signed (or *stamped*) checkpoint; with *covering*, the newest that includes that leaf."""
        c = log_checkpoints.c
        states = ("stamped",) if stamped else ("signed", "stamped")
        stmt = sa.select(c.size, c.state, c.time).where(c.state.in_(states))
        if covering is not None:
            stmt = stmt.where(c.size > covering)
        stmt = stmt.order_by(c.size.desc()).limit(1)
        with self._db.read("cannot find the latest checkpoint") as conn:
            row = conn.execute(stmt).first()
        return None if row is None else CheckpointRow(int(row.size), row.state, row.time)

    def first_stamped_after(self, index: int) -> CheckpointRow | None:
        """The oldest stamped checkpoint that includes leaf *index* (a package proves each document by it)."""
        c = log_checkpoints.c
        stmt = (sa.select(c.size, c.state, c.time).where(c.state == "stamped", c.size > index)
                .order_by(c.size).limit(1))
        with self._db.read("cannot find a checkpoint") as conn:
            row = conn.execute(stmt).first()
        return None if row is None else CheckpointRow(int(row.size), row.state, row.time)

    def checkpoint(self, size: int) -> CheckpointRow | None:
        c = log_checkpoints.c
        with self._db.read(f"cannot read checkpoint {size}") as conn:
            row = conn.execute(sa.select(c.size, c.state, c.time).where(c.size == size)).first()
        return None if row is None else CheckpointRow(int(row.size), row.state, row.time)

    def checkpoints_between(self, lo: int, hi: int, *, before: int | None = None, limit: int = 1000) -> list[CheckpointRow]:
        """Checkpoints (any state) with ``lo < size <= hi``, smallest first; *before*: newest first below it."""
        c = log_checkpoints.c
        stmt = sa.select(c.size, c.state, c.time).where(c.size > lo, c.size <= hi)
        stmt = stmt.order_by(c.size.desc() if before is not None else c.size).limit(limit)
        if before is not None:
            stmt = stmt.where(c.size < before)
        with self._db.read("cannot list checkpoints") as conn:
            return [CheckpointRow(int(r.size), r.state, r.time) for r in conn.execute(stmt)]

    def unfinished(self, limit: int = 100) -> list[CheckpointRow]:
        """Checkpoints not yet stamped (made or signed), oldest first."""
        c = log_checkpoints.c
        stmt = (sa.select(c.size, c.state, c.time).where(c.state.in_(("made", "signed")))
                .order_by(c.size).limit(limit))
        with self._db.read("cannot list unfinished checkpoints") as conn:
            return [CheckpointRow(int(r.size), r.state, r.time) for r in conn.execute(stmt)]

    def count_unstamped(self) -> int:
        c = log_checkpoints.c
        with self._db.read("cannot count unstamped checkpoints") as conn:
            return int(conn.scalar(sa.select(sa.func.count()).where(c.state == "signed")) or 0)

    def is_empty(self) -> bool:
        with self._db.read("cannot read the log catalog") as conn:
            return conn.scalar(sa.select(log_bundles.c.first).limit(1)) is None
