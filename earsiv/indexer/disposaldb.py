"""What disposal asks the index: which documents have passed every retention with no hold.

The rule is written once, here, and asked twice: when a plan is made, and again for each batch
under the ledger's write lock just before its `disposal` leaves are appended (a hold set or a
retention extended in between takes the document out).  The store is asked too, by the caller:
its own retention is the last word (FORMAT.md §8).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa

from earsiv.indexer.models import documents, holdings
from earsiv.indexer.rows import index_key

if TYPE_CHECKING:
    from earsiv.indexer.database import Database

__all__ = ["Disposable", "DisposalIndex"]

d = documents.c
h = holdings.c


@dataclasses.dataclass(frozen=True, slots=True)
class Disposable:
    digest: str
    kind: str
    doc_id: str | None
    ettn: str | None
    issue_date: dt.date | None
    size: int
    retain_until: dt.datetime  # the longest of its holdings'
    blob_alt: str | None
    log_index: int


_COLS = (d.digest, d.kind, d.doc_id, d.ettn, d.issue_date, d.size, d.retain_until, d.blob_alt, d.log_index)


def _disposable(cutoff: dt.datetime, tenant: str | None) -> sa.ColumnElement[bool]:
    """Every holding's retention ended before *cutoff*, none is held, the blob is not disposed of yet;
    with *tenant*: every holding is that tenant's (a blob another taxpayer keeps is not its to dispose of)."""
    keeps = sa.exists().where(h.digest == d.digest, sa.or_(h.legal_hold, h.retain_until >= cutoff))
    rule = [d.disposed_at.is_(None), sa.not_(d.legal_hold), d.retain_until < cutoff, sa.not_(keeps),
            sa.exists().where(h.digest == d.digest)]
    if tenant is not None:
        rule.append(sa.not_(sa.exists().where(h.digest == d.digest, h.tenant != index_key(tenant))))
    return sa.and_(*rule)


class DisposalIndex:
    def __init__(self, db: Database) -> None:
        self._db = db

    def candidates(self, cutoff: dt.datetime, tenant: str | None, *, batch: int = 1000
                   ) -> Iterator[list[Disposable]]:
        """Batches of disposable documents in log order, one keyset page at a time (bounded memory)."""
        after = -1
        while True:
            stmt = (sa.select(*_COLS).where(_disposable(cutoff, tenant), d.log_index > after)
                    .order_by(d.log_index).limit(batch))
            with self._db.read("cannot list disposable documents") as conn:
                rows = [Disposable(*r) for r in conn.execute(stmt)]
            if not rows:
                return
            yield rows
            after = rows[-1].log_index

    def still_disposable(self, digests: Sequence[str], cutoff: dt.datetime, tenant: str | None) -> set[str]:
        """Those of *digests* the rule still lets go."""
        stmt = sa.select(d.digest).where(_disposable(cutoff, tenant), d.digest.in_(list(digests)))
        with self._db.read("cannot check disposable documents") as c:
            return set(c.scalars(stmt))

    def disposed(self, digests: Sequence[str]) -> dict[str, tuple[dt.datetime, int]]:
        """When, and by which leaf, each of *digests* that was disposed of was."""
        out: dict[str, tuple[dt.datetime, int]] = {}
        with self._db.read("cannot read disposals") as conn:
            for i in range(0, len(digests), 5000):
                stmt = (sa.select(d.digest, d.disposed_at, d.disposal_index)
                        .where(d.digest.in_(list(digests[i:i + 5000])), d.disposed_at.is_not(None)))
                out.update({r.digest: (r.disposed_at, r.disposal_index) for r in conn.execute(stmt)})
        return out
