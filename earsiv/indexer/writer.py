"""Every write to the index, inside one transaction: ``Index.transaction()`` hands out an ``IndexWriter``.

A log bundle is mirrored in the index by one writer, in one transaction: its documents,
their holdings, legal holds, principals, tokens, grants, access events, the bundle's row and
the index's mark (how many leaves it has taken in).  So a crash leaves the index with all of
a bundle or none of it, and never a document without its holding.

Writes are idempotent (a row already there stays as it is, a redefinition older than the
row is ignored), because two processes may mirror the same leaves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from earsiv.documents.metadata import SignatureReport
from earsiv.indexer.errors import IndexFailure
from earsiv.indexer.models import (
    access_events,
    audit_findings,
    document_parties,
    document_refs,
    document_text,
    documents,
    grants,
    holdings,
    index_counts,
    index_meta,
    log_bundles,
    log_checkpoints,
    principal_tenants,
    principals,
    tokens,
)
from earsiv.indexer.rows import document_values, holding_values, index_key, party_values, ref_values, signature_values
from earsiv.indexer.textsql import tsvector_literal

if TYPE_CHECKING:
    from earsiv.indexer.accessrows import AccessEventRow, GrantRow, HoldingRow, PrincipalRow, TokenRow
    from earsiv.indexer.database import Dialect
    from earsiv.indexer.records import IndexRecord

__all__ = ["META_KEY_CHARS", "IndexWriter", "meta_key"]

_IN_CHUNK = 5000  # bound parameters per IN (...) list; SQLite allows 32766 per statement
META_KEY_CHARS = index_meta.c.key.type.length


def meta_key(key: str) -> str:
    # Keys may embed values from documents ("dict/<kind>/<issuer VKN>"), and a hostile VKN is
    # kilobytes long: PostgreSQL enforces VARCHAR(200) where SQLite does not, so both store
    # the same bounded key form.
    return index_key(key, META_KEY_CHARS)  # type: ignore[return-value]


class IndexWriter:
    """The write operations of one open transaction."""

    def __init__(self, conn: sa.Connection, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect

    # -- documents ------------------------------------------------------------
    def add_documents(self, records: Sequence[IndexRecord]) -> int:
        """Index *records*; digests already indexed are left as they are.  Returns how many were new."""
        unique: dict[str, IndexRecord] = {}
        for rec in records:
            unique.setdefault(rec.digest, rec)
        if not unique:
            return 0
        present: set[str] = set()
        wanted = sorted(unique)
        for i in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[i : i + _IN_CHUNK]
            present.update(self.conn.scalars(sa.select(documents.c.digest).where(documents.c.digest.in_(chunk))))
        # Digest order makes every writer take row locks in one order: no deadlock.
        new = [unique[d] for d in wanted if d not in present]
        if not new:
            return 0
        parties, refs = [], []
        for rec in new:
            parties.extend(party_values(rec))
            refs.extend(ref_values(rec))
        d = self.dialect
        inserted = d.insert_new(self.conn, documents, [document_values(rec) for rec in new], [documents.c.digest],
                                returning=documents.c.digest)
        d.insert_new(self.conn, document_parties, parties, list(document_parties.primary_key.columns))
        d.insert_new(self.conn, document_refs, refs, list(document_refs.primary_key.columns))
        first = [holding_values(rec) for rec in new if rec.first_holding]
        d.insert_new(self.conn, holdings, first, list(holdings.primary_key.columns))
        if d.text_search:
            words = [{"digest": rec.digest, "terms": terms} for rec in new
                     if rec.text is not None and (terms := tsvector_literal(rec.text)) is not None]
            d.insert_new(self.conn, document_text, words, [document_text.c.digest])
        # Another writer may have inserted some of these meanwhile (PostgreSQL skipped them):
        # only what this transaction inserted counts.
        new = [rec for rec in new if rec.digest in (inserted or ())]
        deltas: dict[str, int] = {"documents": len(new), "bytes_original": sum(r.size for r in new),
                                  "bytes_stored": sum(r.stored_size for r in new)}
        for rec in new:
            status = rec.signature.status if rec.signature else "pending"
            for key in (f"kind/{rec.metadata.kind}", f"signature/{status}"):
                deltas[key] = deltas.get(key, 0) + 1
        self._count(deltas)
        return len(new)

    def _count(self, deltas: dict[str, int]) -> None:
        """Add *deltas* to the running totals (one row per key; an atomic increment on both databases)."""
        for key in sorted(deltas):  # one order for every writer: no deadlock
            if deltas[key]:
                self.dialect.upsert(self.conn, index_counts, {"key": meta_key(key), "value": deltas[key]},
                                    {"value": index_counts.c.value + deltas[key]})

    def set_signatures(self, items: Sequence[tuple[str, SignatureReport]]) -> None:
        if not items:
            return
        wanted = sorted({digest for digest, _report in items})
        before: dict[str, int] = {}
        for i in range(0, len(wanted), _IN_CHUNK):
            stmt = (sa.select(documents.c.signature_status, sa.func.count())
                    .where(documents.c.digest.in_(wanted[i : i + _IN_CHUNK])).group_by(documents.c.signature_status))
            for status, n in self.conn.execute(stmt):
                before[status] = before.get(status, 0) + n
        values = [{"b_digest": digest, **signature_values(report)} for digest, report in items]
        stmt = (
            documents.update()
            .where(documents.c.digest == sa.bindparam("b_digest"))
            .values({name: sa.bindparam(name) for name in signature_values(None)})
        )
        result = self.conn.execute(stmt, values)
        if self.conn.dialect.supports_sane_multi_rowcount and result.rowcount != len(items):
            raise IndexFailure(f"signature report: {len(items) - result.rowcount} of {len(items)} digests "
                               "are not in the index; nothing recorded")
        deltas = {f"signature/{status}": -n for status, n in before.items()}
        for report in dict(items).values():
            key = f"signature/{report.status if report else 'pending'}"
            deltas[key] = deltas.get(key, 0) + 1
        self._count(deltas)

    # -- holdings -------------------------------------------------------------
    def add_holdings(self, rows: Sequence[HoldingRow]) -> None:
        """Record holdings of documents already indexed; a holding already there stays as it is."""
        if not rows:
            return
        wanted = sorted({h.digest for h in rows})
        docs: dict[str, tuple[dt.date, dt.datetime]] = {}
        for i in range(0, len(wanted), _IN_CHUNK):
            stmt = (sa.select(documents.c.digest, documents.c.sort_date, documents.c.retain_until)
                    .where(documents.c.digest.in_(wanted[i : i + _IN_CHUNK])))
            docs.update((d, (day, until)) for d, day, until in self.conn.execute(stmt))
        missing = set(wanted) - set(docs)
        if missing:
            raise IndexFailure(f"holding of a document the index does not have: {min(missing)}")
        values = [
            {"digest": h.digest, "tenant": index_key(h.tenant), "log_index": h.log_index, "received_at": h.received_at,
             "retain_until": h.retain_until, "legal_hold": h.legal_hold, "source_name": h.source_name,
             "sort_date": docs[h.digest][0]}
            for h in rows
        ]
        self.dialect.insert_ignore(self.conn, holdings, values)
        # The document row shows the longest retention of its holdings; a first holding has
        # the document's own, so the ingest updates nothing here.
        for h in rows:
            if h.retain_until > docs[h.digest][1]:
                self.conn.execute(documents.update().where(documents.c.digest == h.digest,
                                                           documents.c.retain_until < h.retain_until)
                                  .values(retain_until=h.retain_until))

    def set_disposed(self, digest: str, at: dt.datetime, log_index: int) -> None:
        """Mark a document's blob disposed of (its `disposal` leaf); the first leaf wins at a replay."""
        self.conn.execute(documents.update().where(documents.c.digest == digest, documents.c.disposed_at.is_(None))
                          .values(disposed_at=at, disposal_index=log_index))

    def set_holding(self, digest: str, tenant: str | None, *, legal_hold: bool | None = None,
                    retain_until: dt.datetime | None = None) -> None:
        """Change one holding (or, tenant None, every holding) and the document row's summary of them."""
        h = holdings.c
        stmt = holdings.update().where(h.digest == digest)
        if tenant is not None:
            stmt = stmt.where(h.tenant == index_key(tenant))
        values: dict[str, Any] = {}
        if legal_hold is not None:
            values["legal_hold"] = legal_hold
        if retain_until is not None:
            values["retain_until"] = retain_until
            # Retention only grows, whatever order leaves are replayed in.
            stmt = stmt.where(h.retain_until < retain_until)
        if values:
            self.conn.execute(stmt.values(**values))
        held, until = self.conn.execute(
            sa.select(sa.func.max(sa.cast(h.legal_hold, sa.Integer)), sa.func.max(h.retain_until))
            .where(h.digest == digest)
        ).one()
        if until is None:
            raise IndexFailure("no such document in the index", name=digest)
        self.conn.execute(documents.update().where(documents.c.digest == digest).values(legal_hold=bool(held)))
        if retain_until is not None:
            self.conn.execute(documents.update().where(documents.c.digest == digest,
                                                       documents.c.retain_until < retain_until)
                              .values(retain_until=retain_until))

    # -- principals, tokens, grants, access events ------------------------------
    def put_principal(self, p: PrincipalRow) -> None:
        """Define or redefine a principal; a leaf older than the row's is ignored."""
        old = self.conn.execute(sa.select(principals.c.log_index, principals.c.created_at)
                                .where(principals.c.name == p.name)).first()
        if old is not None and old.log_index >= p.log_index:
            return
        values = {"role": p.role, "disabled": p.disabled, "log_index": p.log_index}
        if old is None:
            self.conn.execute(principals.insert().values(name=p.name, created_at=p.created_at, **values))
        else:
            self.conn.execute(principals.update().where(principals.c.name == p.name).values(**values))
        self.conn.execute(principal_tenants.delete().where(principal_tenants.c.name == p.name))
        self.dialect.insert_ignore(self.conn, principal_tenants, [{"name": p.name, "tenant": t} for t in p.tenants])

    def put_token(self, t: TokenRow) -> None:
        self.dialect.insert_ignore(self.conn, tokens, [{
            "id": t.id, "principal": t.principal, "sha256": t.sha256, "created_at": t.created_at,
            "expires_at": t.expires_at, "revoked_at": t.revoked_at, "log_index": t.log_index}])

    def revoke_token(self, token_id: str, at: dt.datetime) -> None:
        self.conn.execute(tokens.update().where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
                          .values(revoked_at=at))

    def put_grant(self, g: GrantRow) -> None:
        self.dialect.insert_ignore(self.conn, grants, [{
            "id": g.id, "inspector": g.inspector, "vkn": g.vkn, "date_from": g.date_from, "date_to": g.date_to,
            "expires_at": g.expires_at, "reference": g.reference, "created_by": g.created_by,
            "created_at": g.created_at, "revoked_at": g.revoked_at, "log_index": g.log_index}])

    def revoke_grant(self, grant_id: str, at: dt.datetime) -> None:
        self.conn.execute(grants.update().where(grants.c.id == grant_id, grants.c.revoked_at.is_(None))
                          .values(revoked_at=at))

    def add_access_events(self, rows: Sequence[AccessEventRow]) -> None:
        self.dialect.insert_ignore(self.conn, access_events, [
            {"log_index": r.log_index, "vkn": r.vkn, "principal": r.principal, "action": r.action, "at": r.at,
             "documents": r.documents} for r in rows])

    # -- audit findings and repairs ------------------------------------------------
    def add_finding(self, log_index: int, obj: str, copy: str, problem: str, at: dt.datetime) -> None:
        self.dialect.insert_ignore(self.conn, audit_findings, [
            {"log_index": log_index, "object": obj, "copy": copy, "problem": problem, "detected_at": at}])

    def close_findings(self, obj: str, copy: str, at: dt.datetime, repair_index: int) -> None:
        """A repair of this copy of *obj* closes its open findings (those the audit wrote before it)."""
        f = audit_findings.c
        self.conn.execute(audit_findings.update()
                          .where(f.object == obj, f.copy == copy, f.repaired_at.is_(None), f.log_index < repair_index)
                          .values(repaired_at=at, repair_index=repair_index))

    # -- the log's catalog and the index's own settings --------------------------
    def add_bundle(self, first: int, count: int) -> None:
        self.dialect.insert_ignore(self.conn, log_bundles, [{"first": first, "count": count}])

    def put_checkpoint(self, size: int, state: str, time: dt.datetime | None) -> None:
        """Record a checkpoint's state; it only moves forward (made → signed → stamped)."""
        if state not in ("made", "signed", "stamped"):
            raise ValueError(f"unknown checkpoint state {state!r}")
        old = self.conn.scalar(sa.select(log_checkpoints.c.state).where(log_checkpoints.c.size == size))
        order = {"made": 0, "signed": 1, "stamped": 2}
        if old is not None and order[old] >= order[state]:
            return
        self.dialect.upsert(self.conn, log_checkpoints, {"size": size, "state": state, "time": time},
                            {"state": state, "time": time})

    def drop_checkpoint(self, size: int) -> None:
        self.conn.execute(log_checkpoints.delete().where(log_checkpoints.c.size == size))

    def meta_get(self, key: str) -> str | None:
        """A setting as this transaction sees it (under its write lock on SQLite)."""
        return self.conn.scalar(sa.select(index_meta.c.value).where(index_meta.c.key == meta_key(key)))

    def meta_set(self, key: str, value: str) -> None:
        self.dialect.upsert(self.conn, index_meta, {"key": meta_key(key), "value": value}, {"value": value})
