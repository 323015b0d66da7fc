"""What the compliance reports ask the index: one issuer's numbers, one taxpayer's ledgers, responses.

Each question is answered in SQL (window functions and aggregates, both back-ends), so a
series of a million invoices costs one range scan of ``(supplier_key, series, year, sequence, …)``
and returns only what is worth showing: one row per gap, per duplicate, per series.  The
rules about what the rows mean (what is late, what is missing) are ``archive/reports.py``'s.

*windows* are the issue-date periods the caller may see, inclusive: one for an admin or a
tenant's principal (the asked period), one per grant for an inspector.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from earsiv.indexer.models import document_parties, document_refs, documents

if TYPE_CHECKING:
    from earsiv.indexer.database import Database

__all__ = ["FAMILIES", "ReportIndex", "Window", "as_date"]

Window = tuple[dt.date, dt.date]

# Numbering families (L11): one continuous sequence per series and year within a family.  e-Fatura
# and e-Arşiv invoices are one family: an issuer that shares a series between them numbers it once.
FAMILIES = {
    "e-fatura": "invoice", "e-arsiv": "invoice", "e-smm": "e-smm", "e-mm": "e-mm",
    "e-irsaliye": "e-irsaliye", "irsaliye-yaniti": "irsaliye-yaniti",
}
_LIST_MAX = 10_000  # rows of one kind of finding a report lists in full (it counts them all)

d = documents.c


def _in_windows(column: sa.ColumnElement[Any], windows: Sequence[Window]) -> sa.ColumnElement[bool]:
    return sa.or_(*(column.between(a, b) for a, b in windows)) if windows else sa.false()


@dataclasses.dataclass(frozen=True, slots=True)
class DocRef:
    """A document as a report lists it."""

    digest: str
    kind: str
    doc_id: str | None
    ettn: str | None
    issue_date: dt.date | None

    def to_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "kind": self.kind, "id": self.doc_id, "ettn": self.ettn,
                "issue_date": self.issue_date.isoformat() if self.issue_date else None}


_DOC_COLS = (d.digest, d.kind, d.doc_id, d.ettn, d.issue_date)


def as_date(v: Any) -> dt.date | None:
    """A raw date value of either back-end as a date."""
    return dt.date.fromisoformat(v[:10]) if isinstance(v, str) else v


def _doc(r: Any) -> DocRef:
    return DocRef(r.digest, r.kind, r.doc_id, r.ettn, r.issue_date)


class ReportIndex:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- serial continuity (L11) -----------------------------------------------------
    # One pass over one issuer's numbers in the order of the index (supplier_key, series, year,
    # sequence, issue_date, kind): a range scan of that index alone, no sort, no read of the
    # table, streamed.  The report's arithmetic is done by the caller as the rows go by: SQLite's
    # window functions took twice as long as that loop for the same answer (bench/reports.py).
    def numbers(self, vkn: str, windows: Sequence[Window]) -> Iterator[Sequence[tuple[Any, ...]]]:
        """Batches of raw (kind, series, year, sequence, issue_date) of *vkn*'s numbered documents, in number
        order per series and year.  Values are the driver's: dates are ISO text on SQLite, ``date`` on
        PostgreSQL (both compare in date order; ``as_date`` makes either a date)."""
        stmt = (sa.select(d.kind, d.series, d.year, d.sequence, d.issue_date).where(d.supplier_key == vkn, d.kind.in_(list(FAMILIES)),
                                      _in_windows(d.issue_date, windows), d.series.is_not(None))
                .order_by(d.supplier_key, d.series, d.year, d.sequence, d.issue_date))
        # One transaction, so one consistent view (and PostgreSQL's server-side cursor needs one).
        with self._db.snapshot("cannot read the serial report") as conn:
            yield from self._db.dialect.scan(conn, stmt, 20_000)

    def numbered(self, vkn: str, windows: Sequence[Window], family: str, series: str, year: int, sequence: int,
                 issue_date: dt.date | None = None) -> list[DocRef]:
        """The documents of one number (and date), oldest first."""
        kinds = [k for k, f in FAMILIES.items() if f == family]
        where = [d.supplier_key == vkn, d.kind.in_(kinds), _in_windows(d.issue_date, windows),
                 d.series == series, d.year == year, d.sequence == sequence]
        if issue_date is not None:
            where.append(d.issue_date == issue_date)
        with self._db.read("cannot read the serial report") as conn:
            return [_doc(r) for r in conn.execute(sa.select(*_DOC_COLS).where(*where).order_by(d.issue_date, d.digest))]

    def off_pattern(self, vkn: str, windows: Sequence[Window]) -> tuple[int, list[DocRef]]:
        """Numbered documents of *vkn* whose ID is not ``^[A-Z0-9]{3}20[0-9]{2}[0-9]{9}$`` (archived, flagged)."""
        where = sa.and_(d.supplier_key == vkn, d.kind.in_(list(FAMILIES)), _in_windows(d.issue_date, windows),
                        d.series.is_(None))
        with self._db.read("cannot read the serial report") as conn:
            n = conn.scalar(sa.select(sa.func.count()).select_from(documents).where(where))
            rows = conn.execute(sa.select(*_DOC_COLS).where(where).order_by(d.issue_date, d.digest).limit(_LIST_MAX))
            return n or 0, [_doc(r) for r in rows]

    # -- e-Defter (L4) ------------------------------------------------------------------
    def edefter(self, vkn: str, windows: Sequence[Window]) -> list[dict[str, Any]]:
        """Every ledger and berat of *vkn* whose period starts in *windows*."""
        stmt = (sa.select(d.digest, d.kind, d.edefter_ledger_type, d.edefter_period_start, d.edefter_period_end,
                          d.edefter_control_number, d.edefter_seal, d.edefter_gib_approved, d.received_at, d.flags)
                .where(d.edefter_vkn == vkn, d.kind.in_(["yevmiye", "kebir", "berat"]),
                       _in_windows(d.edefter_period_start, windows))
                .order_by(d.edefter_period_start, d.kind, d.received_at, d.digest))
        with self._db.read("cannot read the e-Defter report") as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    # -- responses (L12, L13) -----------------------------------------------------------
    def answered(self, vkn: str, windows: Sequence[Window], kind: str, *, profile: str | None = None
                 ) -> Iterable[dict[str, Any]]:
        """Documents of *kind* naming *vkn* as a party (issued in *windows*), in date order."""
        named = sa.select(document_parties.c.digest).where(
            document_parties.c.party_id == vkn,
            document_parties.c.role.in_(["supplier", "customer", "despatch-supplier", "delivery-customer"]))
        where = [d.kind == kind, _in_windows(d.issue_date, windows), d.digest.in_(named)]
        if profile is not None:
            where.append(sa.func.upper(d.profile) == profile)
        stmt = (sa.select(*_DOC_COLS, d.ettn_key, d.profile, d.despatch_date, d.supplier_id, d.customer_id)
                .where(*where).order_by(d.issue_date, d.digest))
        with self._db.read("cannot read the responses report") as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def responses_to(self, kind: str, ref_type: str, ettns: Sequence[str], ids: Sequence[str]
                     ) -> list[dict[str, Any]]:
        """Documents of *kind* whose *ref_type* reference names one of *ettns* or *ids*."""
        r = document_refs.c
        out: list[dict[str, Any]] = []
        with self._db.read("cannot read the responses report") as conn:
            for col, values in ((r.ref_ettn, list(ettns)), (r.ref_id, list(ids))):
                for i in range(0, len(values), 5000):
                    stmt = (sa.select(*_DOC_COLS, d.type_code, r.ref_id, r.ref_ettn)
                            .join(document_refs, document_refs.c.digest == d.digest)
                            .where(d.kind == kind, r.ref_type == ref_type, col.in_(values[i:i + 5000])))
                    out.extend(dict(x._mapping) for x in conn.execute(stmt))
        return out

    def response_refs(self, digests: Sequence[str], ref_type: str) -> list[dict[str, Any]]:
        """The *ref_type* references of *digests*."""
        r = document_refs.c
        out: list[dict[str, Any]] = []
        with self._db.read("cannot read the responses report") as conn:
            for i in range(0, len(digests), 5000):
                stmt = (sa.select(r.digest, r.ref_id, r.ref_ettn)
                        .where(r.digest.in_(digests[i:i + 5000]), r.ref_type == ref_type)
                        .order_by(r.digest, r.position))
                out.extend(dict(x._mapping) for x in conn.execute(stmt))
        return out

    def referenced(self, kinds: Sequence[str], ettns: Sequence[str], ids: Sequence[str]) -> tuple[set[str], set[str]]:
        """Which of *ettns* (lower-case) and *ids* name a document of *kinds* in the archive."""
        found_e: set[str] = set()
        found_i: set[str] = set()
        with self._db.read("cannot read the responses report") as conn:
            for col, values, found in ((d.ettn_key, list(ettns), found_e), (d.doc_id, list(ids), found_i)):
                for i in range(0, len(values), 5000):
                    stmt = sa.select(col).where(d.kind.in_(list(kinds)), col.in_(values[i:i + 5000]))
                    found.update(conn.scalars(stmt))
        return found_e, found_i
