"""Index tables of the access model: holdings, principals, tokens, grants, access events.

Every row here mirrors a log leaf (FORMAT.md), so these tables are derived
like the rest of the index: ``Index.reset`` empties them and a replay of the
log fills them again.  Writes are idempotent and ordered by log index, so two
processes catching up the same leaves leave what one would have.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from earsiv.indexer.errors import IndexFailure
from earsiv.indexer.models import access_events, documents, grants, holdings, principal_tenants, principals, tokens
from earsiv.indexer.rows import index_key

if TYPE_CHECKING:
    from earsiv.indexer.db import Index

__all__ = ["AccessEventRow", "AccessIndex", "GrantRow", "HoldingRow", "PrincipalRow", "TokenRow"]

_IN_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class HoldingRow:
    digest: str
    tenant: str  # "" = held without a tenant
    log_index: int
    received_at: dt.datetime
    retain_until: dt.datetime
    legal_hold: bool
    source_name: str | None


@dataclass(frozen=True, slots=True)
class PrincipalRow:
    name: str
    role: str
    tenants: tuple[str, ...]
    disabled: bool
    created_at: dt.datetime
    log_index: int


@dataclass(frozen=True, slots=True)
class TokenRow:
    id: str
    principal: str
    sha256: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    log_index: int


@dataclass(frozen=True, slots=True)
class GrantRow:
    id: str
    inspector: str
    vkn: str
    date_from: dt.date
    date_to: dt.date
    expires_at: dt.datetime
    reference: str
    created_by: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    log_index: int

    def active(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


@dataclass(frozen=True, slots=True)
class AccessEventRow:
    log_index: int
    vkn: str
    principal: str
    action: str
    at: dt.datetime
    documents: int


class AccessIndex:
    """The access tables of one ``Index`` (its engines, transactions and error edge)."""

    def __init__(self, index: Index) -> None:
        self._ix = index

    def _insert_ignore(self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self._ix._pg:
            key = list(table.primary_key.columns)
            conn.execute(postgresql.insert(table).on_conflict_do_nothing(index_elements=key), rows)
        else:
            conn.execute(table.insert().prefix_with("OR IGNORE"), rows)

    # -- holdings ---------------------------------------------------------
    def add_holdings(self, rows: Sequence[HoldingRow]) -> None:
        """Record later holdings of documents already indexed; a holding already there stays as it is."""
        if not rows:
            return
        values = [
            {"digest": h.digest, "tenant": index_key(h.tenant), "log_index": h.log_index, "received_at": h.received_at,
             "retain_until": h.retain_until, "legal_hold": h.legal_hold, "source_name": h.source_name}
            for h in rows
        ]
        with self._ix._edge(f"cannot record {len(rows)} holdings"), self._ix._writer.begin() as conn:
            docs = {d: (day, until) for d, day, until in conn.execute(
                sa.select(documents.c.digest, documents.c.sort_date, documents.c.retain_until)
                .where(documents.c.digest.in_(sorted({h.digest for h in rows}))))}
            missing = {h.digest for h in rows} - set(docs)
            if missing:
                raise IndexFailure(f"holding of a document the index does not have: {min(missing)}")
            for v in values:
                v["sort_date"] = docs[v["digest"]][0]
            self._insert_ignore(conn, holdings, values)
            # The document row shows the longest retention of its holdings; a first
            # holding has the document's own, so the ingest updates nothing here.
            for h in rows:
                if h.retain_until > docs[h.digest][1]:
                    conn.execute(documents.update().where(documents.c.digest == h.digest,
                                                          documents.c.retain_until < h.retain_until)
                                 .values(retain_until=h.retain_until))

    def holdings_of(self, digests: Iterable[str], tenants: Iterable[str] | None = None) -> dict[str, list[HoldingRow]]:
        """digest -> its holdings (only those of *tenants* if given), oldest first."""
        wanted = sorted(set(digests))
        out: dict[str, list[HoldingRow]] = {}
        h = holdings.c
        with self._ix._edge("cannot read holdings"), self._ix._reader.connect() as conn:
            for i in range(0, len(wanted), _IN_CHUNK):
                stmt = sa.select(h.digest, h.tenant, h.log_index, h.received_at, h.retain_until, h.legal_hold,
                                 h.source_name).where(h.digest.in_(wanted[i : i + _IN_CHUNK]))
                if tenants is not None:
                    stmt = stmt.where(h.tenant.in_(sorted({index_key(t) for t in tenants})))
                for row in conn.execute(stmt.order_by(h.digest, h.log_index)):
                    out.setdefault(row.digest, []).append(HoldingRow(*row))
        return out

    def set_holding(self, digest: str, tenant: str | None, *, legal_hold: bool | None = None,
                    retain_until: dt.datetime | None = None) -> None:
        """Change one holding (or, tenant None, every holding) and the document row's summary of them."""
        h = holdings.c
        with self._ix._edge(f"cannot update holdings of {digest}"), self._ix._writer.begin() as conn:
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
                conn.execute(stmt.values(**values))
            held, until = conn.execute(
                sa.select(sa.func.max(sa.cast(h.legal_hold, sa.Integer)), sa.func.max(h.retain_until))
                .where(h.digest == digest)
            ).one()
            if until is None:
                raise IndexFailure("no such document in the index", name=digest)
            doc = {"legal_hold": bool(held)}
            result = conn.execute(documents.update().where(documents.c.digest == digest).values(**doc))
            if result.rowcount == 0:
                raise IndexFailure("no such document in the index", name=digest)
            if retain_until is not None:
                conn.execute(documents.update().where(documents.c.digest == digest,
                                                      documents.c.retain_until < retain_until)
                             .values(retain_until=retain_until))

    # -- principals and tokens ----------------------------------------------
    def put_principal(self, p: PrincipalRow) -> None:
        """Define or redefine a principal; a leaf older than the row's is ignored."""
        with self._ix._edge(f"cannot record principal {p.name!r}"), self._ix._writer.begin() as conn:
            old = conn.execute(sa.select(principals.c.log_index, principals.c.created_at)
                               .where(principals.c.name == p.name)).first()
            if old is not None and old.log_index >= p.log_index:
                return
            values = {"role": p.role, "disabled": p.disabled, "log_index": p.log_index}
            if old is None:
                conn.execute(principals.insert().values(name=p.name, created_at=p.created_at, **values))
            else:
                conn.execute(principals.update().where(principals.c.name == p.name).values(**values))
            conn.execute(principal_tenants.delete().where(principal_tenants.c.name == p.name))
            self._insert_ignore(conn, principal_tenants, [{"name": p.name, "tenant": t} for t in p.tenants])

    def principal(self, name: str) -> PrincipalRow | None:
        rows = self._principals(principals.c.name == name)
        return rows[0] if rows else None

    def principals(self) -> list[PrincipalRow]:
        return self._principals(sa.true())

    def _principals(self, where: Any) -> list[PrincipalRow]:
        with self._ix._edge("cannot read principals"), self._ix._reader.connect() as conn:
            rows = conn.execute(sa.select(principals).where(where).order_by(principals.c.name)).all()
            links: dict[str, list[str]] = {}
            names = [r.name for r in rows]
            if names:
                stmt = sa.select(principal_tenants).where(principal_tenants.c.name.in_(names))
                for link in conn.execute(stmt.order_by(principal_tenants.c.tenant)):
                    links.setdefault(link.name, []).append(link.tenant)
        return [PrincipalRow(r.name, r.role, tuple(links.get(r.name, ())), r.disabled, r.created_at, r.log_index)
                for r in rows]

    def put_token(self, t: TokenRow) -> None:
        with self._ix._edge(f"cannot record token {t.id}"), self._ix._writer.begin() as conn:
            self._insert_ignore(conn, tokens, [{
                "id": t.id, "principal": t.principal, "sha256": t.sha256, "created_at": t.created_at,
                "expires_at": t.expires_at, "revoked_at": t.revoked_at, "log_index": t.log_index}])

    def revoke_token(self, token_id: str, at: dt.datetime) -> None:
        with self._ix._edge(f"cannot revoke token {token_id}"), self._ix._writer.begin() as conn:
            conn.execute(tokens.update().where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
                         .values(revoked_at=at))

    def token(self, token_id: str) -> TokenRow | None:
        rows = self._tokens(tokens.c.id == token_id)
        return rows[0] if rows else None

    def tokens(self, principal: str | None = None) -> list[TokenRow]:
        return self._tokens(sa.true() if principal is None else tokens.c.principal == principal)

    def _tokens(self, where: Any) -> list[TokenRow]:
        with self._ix._edge("cannot read tokens"), self._ix._reader.connect() as conn:
            rows = conn.execute(sa.select(tokens).where(where).order_by(tokens.c.log_index)).all()
        return [TokenRow(r.id, r.principal, r.sha256, r.created_at, r.expires_at, r.revoked_at, r.log_index)
                for r in rows]

    # -- grants -------------------------------------------------------------
    def put_grant(self, g: GrantRow) -> None:
        with self._ix._edge(f"cannot record grant {g.id}"), self._ix._writer.begin() as conn:
            self._insert_ignore(conn, grants, [{
                "id": g.id, "inspector": g.inspector, "vkn": g.vkn, "date_from": g.date_from, "date_to": g.date_to,
                "expires_at": g.expires_at, "reference": g.reference, "created_by": g.created_by,
                "created_at": g.created_at, "revoked_at": g.revoked_at, "log_index": g.log_index}])

    def revoke_grant(self, grant_id: str, at: dt.datetime) -> None:
        with self._ix._edge(f"cannot revoke grant {grant_id}"), self._ix._writer.begin() as conn:
            conn.execute(grants.update().where(grants.c.id == grant_id, grants.c.revoked_at.is_(None))
                         .values(revoked_at=at))

    def grant(self, grant_id: str) -> GrantRow | None:
        rows = self.grants(grant_id=grant_id)
        return rows[0] if rows else None

    def grants(self, *, inspector: str | None = None, vkn: str | None = None, grant_id: str | None = None) -> list[GrantRow]:
        g = grants.c
        filters = ((g.inspector, inspector), (g.vkn, vkn), (g.id, grant_id))
        stmt = sa.select(grants).where(*[col == value for col, value in filters if value is not None])
        with self._ix._edge("cannot read grants"), self._ix._reader.connect() as conn:
            rows = conn.execute(stmt.order_by(g.log_index)).all()
        return [GrantRow(r.id, r.inspector, r.vkn, r.date_from, r.date_to, r.expires_at, r.reference, r.created_by,
                         r.created_at, r.revoked_at, r.log_index) for r in rows]

    # -- access events --------------------------------------------------------
    def add_access_events(self, rows: Sequence[AccessEventRow]) -> None:
        with self._ix._edge("cannot record access events"), self._ix._writer.begin() as conn:
            self._insert_ignore(conn, access_events, [
                {"log_index": r.log_index, "vkn": r.vkn, "principal": r.principal, "action": r.action, "at": r.at,
                 "documents": r.documents} for r in rows])

    def access_events(self, *, vkn: str | None = None, principal: str | None = None,
                      vkns: Iterable[str] | None = None, after: int | None = None, limit: int = 1000) -> list[AccessEventRow]:
        """Events oldest first, after log index *after*; *vkns* restricts to those taxpayers."""
        a = access_events.c
        stmt = sa.select(a.log_index, a.vkn, a.principal, a.action, a.at, a.documents)
        if vkn is not None:
            stmt = stmt.where(a.vkn == vkn)
        if vkns is not None:
            stmt = stmt.where(a.vkn.in_(sorted(set(vkns))))
        if principal is not None:
            stmt = stmt.where(a.principal == principal)
        if after is not None:
            stmt = stmt.where(a.log_index > after)
        stmt = stmt.order_by(a.log_index, a.vkn).limit(limit)
        with self._ix._edge("cannot read access events"), self._ix._reader.connect() as conn:
            return [AccessEventRow(*r) for r in conn.execute(stmt)]
