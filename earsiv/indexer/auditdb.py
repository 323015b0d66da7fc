"""What the audit found, as the index keeps it: open findings, their deadlines, the repairs.

Rows come from the log's ``audit-finding`` and ``repair`` leaves (``mirror.py``); the last
finished pass is an index setting (``audit/last-pass``) from the ``audit-pass`` leaves.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from earsiv.indexer.models import audit_findings, documents, holdings

if TYPE_CHECKING:
    from earsiv.indexer.database import Database

__all__ = ["NOTICE_DAYS", "AuditIndex", "FindingRow"]

NOTICE_DAYS = 15  # L9: the Administration is told of damage within 15 days of finding it


@dataclasses.dataclass(frozen=True, slots=True)
class FindingRow:
    log_index: int
    object: str
    copy: str
    problem: str
    detected_at: dt.datetime
    repaired_at: dt.datetime | None
    repair_index: int | None

    @property
    def deadline(self) -> dt.datetime:
        """When the notice to the Administration is due (LAW.md L9)."""
        return self.detected_at + dt.timedelta(days=NOTICE_DAYS)

    def to_json(self) -> dict[str, Any]:
        return {"finding": self.log_index, "object": self.object, "copy": self.copy, "problem": self.problem,
                "detected_at": self.detected_at.isoformat(), "notice_due": self.deadline.isoformat(),
                "repaired_at": self.repaired_at.isoformat() if self.repaired_at else None,
                "repair_leaf": self.repair_index}


class AuditIndex:
    def __init__(self, db: Database, meta_get) -> None:
        self._db = db
        self._meta_get = meta_get

    def findings(self, *, open_only: bool = False, since: dt.datetime | None = None,
                 limit: int | None = None) -> list[FindingRow]:
        """Findings in log order: the open ones, or every one detected since *since*."""
        f = audit_findings.c
        stmt = sa.select(audit_findings).order_by(f.log_index)
        if open_only:
            stmt = stmt.where(f.repaired_at.is_(None))
        if since is not None:
            stmt = stmt.where(f.detected_at >= since)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._db.read("cannot read the audit's findings") as conn:
            return [FindingRow(**row._mapping) for row in conn.execute(stmt)]

    def open_keys(self, objects: list[str]) -> set[tuple[str, str]]:
        """(object, copy) of the open findings among *objects*: what the audit need not report again."""
        if not objects:
            return set()
        f = audit_findings.c
        stmt = sa.select(f.object, f.copy).where(f.repaired_at.is_(None), f.object.in_(sorted(set(objects))))
        with self._db.read("cannot read the audit's findings") as conn:
            return {(r.object, r.copy) for r in conn.execute(stmt)}

    def documents_using(self, dict_digest: str, limit: int = 100_000) -> list[str]:
        """The documents whose blobs need dictionary *dict_digest* to be read."""
        d = documents.c
        stmt = sa.select(d.digest).where(d.dict_digest == dict_digest).order_by(d.log_index).limit(limit)
        with self._db.read("cannot list a dictionary's documents") as conn:
            return list(conn.scalars(stmt))

    def documents_logged_in(self, first: int, end: int) -> list[str]:
        """The documents whose leaf, or one of whose holdings' leaves, is among leaves first..end-1."""
        d, h = documents.c, holdings.c
        stmt = sa.union(sa.select(d.digest).where(d.log_index >= first, d.log_index < end),
                        sa.select(h.digest).where(h.log_index >= first, h.log_index < end))
        with self._db.read("cannot list the documents of a log bundle") as conn:
            return sorted(conn.scalars(stmt))

    def summary(self) -> dict[str, Any]:
        """Open findings, the earliest notice deadline among them, and the last finished pass."""
        f = audit_findings.c
        stmt = sa.select(sa.func.count(), sa.func.min(f.detected_at)).where(f.repaired_at.is_(None))
        with self._db.read("cannot read the audit's findings") as conn:
            count, first = conn.execute(stmt).one()
        if first is not None and first.tzinfo is None:
            first = first.replace(tzinfo=dt.UTC)
        raw = self._meta_get("audit/last-pass")
        return {"open_findings": int(count or 0),
                "notice_due": (first + dt.timedelta(days=NOTICE_DAYS)).isoformat() if first else None,
                "last_full_pass": json.loads(raw) if raw else None}
