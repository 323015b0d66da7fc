"""Index tables of the access model: holdings, principals, tokens, grants, access events.

Every row here mirrors a log leaf (FORMAT.md), so these tables are derived
like the rest of the index: ``Index.reset`` empties them and a replay of the
log fills them again.  The reads are here; the writes are ``writer.IndexWriter``'s
(idempotent and ordered by log index, so two processes catching up the same
leaves leave what one would have), and the single-write methods below are
conveniences that open one transaction each.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from earsiv.indexer.accessrows import AccessEventRow, GrantRow, HoldingRow, PrincipalRow, TokenRow
from earsiv.indexer.models import access_events, grants, holdings, principal_tenants, principals, tokens
from earsiv.indexer.rows import index_key

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from earsiv.indexer.database import Database
    from earsiv.indexer.writer import IndexWriter

__all__ = ["AccessEventRow", "AccessIndex", "GrantRow", "HoldingRow", "PrincipalRow", "TokenRow"]

_IN_CHUNK = 5000


class AccessIndex:
    """The access tables of one index: reads, and one-transaction conveniences for writes."""

    def __init__(self, db: Database, transaction: Callable[[str], AbstractContextManager[IndexWriter]]) -> None:
        self._db = db
        self._transaction = transaction

    # -- holdings ---------------------------------------------------------
    def holdings_of(self, digests: Iterable[str], tenants: Iterable[str] | None = None) -> dict[str, list[HoldingRow]]:
        """digest -> its holdings (only those of *tenants* if given), oldest first."""
        wanted = sorted(set(digests))
        out: dict[str, list[HoldingRow]] = {}
        h = holdings.c
        with self._db.read("cannot read holdings") as conn:
            for i in range(0, len(wanted), _IN_CHUNK):
                stmt = sa.select(h.digest, h.tenant, h.log_index, h.received_at, h.retain_until, h.legal_hold,
                                 h.source_name).where(h.digest.in_(wanted[i : i + _IN_CHUNK]))
                if tenants is not None:
                    stmt = stmt.where(h.tenant.in_(sorted({index_key(t) for t in tenants})))
                for row in conn.execute(stmt.order_by(h.digest, h.log_index)):
                    out.setdefault(row.digest, []).append(HoldingRow(*row))
        return out

    # -- principals and tokens ----------------------------------------------
    def principal(self, name: str) -> PrincipalRow | None:
        rows = self._principals(principals.c.name == name)
        return rows[0] if rows else None

    def principals(self) -> list[PrincipalRow]:
        return self._principals(sa.true())

    def _principals(self, where: Any) -> list[PrincipalRow]:
        with self._db.read("cannot read principals") as conn:
            rows = conn.execute(sa.select(principals).where(where).order_by(principals.c.name)).all()
            links: dict[str, list[str]] = {}
            names = [r.name for r in rows]
            if names:
                stmt = sa.select(principal_tenants).where(principal_tenants.c.name.in_(names))
                for link in conn.execute(stmt.order_by(principal_tenants.c.tenant)):
                    links.setdefault(link.name, []).append(link.tenant)
        return [PrincipalRow(r.name, r.role, tuple(links.get(r.name, ())), r.disabled, r.created_at, r.log_index)
                for r in rows]

    def token(self, token_id: str) -> TokenRow | None:
        rows = self._tokens(tokens.c.id == token_id)
        return rows[0] if rows else None

    def tokens(self, principal: str | None = None) -> list[TokenRow]:
        return self._tokens(sa.true() if principal is None else tokens.c.principal == principal)

    def _tokens(self, where: Any) -> list[TokenRow]:
        with self._db.read("cannot read tokens") as conn:
            rows = conn.execute(sa.select(tokens).where(where).order_by(tokens.c.log_index)).all()
        return [TokenRow(r.id, r.principal, r.sha256, r.created_at, r.expires_at, r.revoked_at, r.log_index)
                for r in rows]

    # -- grants -------------------------------------------------------------
    def grant(self, grant_id: str) -> GrantRow | None:
        rows = self.grants(grant_id=grant_id)
        return rows[0] if rows else None

    def grants(self, *, inspector: str | None = None, vkn: str | None = None, grant_id: str | None = None) -> list[GrantRow]:
        g = grants.c
        filters = ((g.inspector, inspector), (g.vkn, vkn), (g.id, grant_id))
        stmt = sa.select(grants).where(*[col == value for col, value in filters if value is not None])
        with self._db.read("cannot read grants") as conn:
            rows = conn.execute(stmt.order_by(g.log_index)).all()
        return [GrantRow(r.id, r.inspector, r.vkn, r.date_from, r.date_to, r.expires_at, r.reference, r.created_by,
                         r.created_at, r.revoked_at, r.log_index) for r in rows]

    # -- access events --------------------------------------------------------
    def access_events(self, *, vkn: str | None = None, principal: str | None = None,
                      vkns: Iterable[str] | None = None, after: int | None = None, limit: int = 1000,
                      since: dt.datetime | None = None, before: dt.datetime | None = None) -> list[AccessEventRow]:
        """Events oldest first, after log index *after*; *vkns* restricts to those taxpayers, *since* and
        *before* to events made at or after, and before, those times."""
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
        if since is not None:
            stmt = stmt.where(a.at >= since)
        if before is not None:
            stmt = stmt.where(a.at < before)
        stmt = stmt.order_by(a.log_index, a.vkn).limit(limit)
        with self._db.read("cannot read access events") as conn:
            return [AccessEventRow(*r) for r in conn.execute(stmt)]

    # -- writes: one transaction each (the ledger mirrors whole bundles through Index.transaction)
    def add_holdings(self, rows: Sequence[HoldingRow]) -> None:
        with self._transaction(f"cannot record {len(rows)} holdings") as w:
            w.add_holdings(rows)

    def set_holding(self, digest: str, tenant: str | None, *, legal_hold: bool | None = None,
                    retain_until: dt.datetime | None = None) -> None:
        with self._transaction(f"cannot update holdings of {digest}") as w:
            w.set_holding(digest, tenant, legal_hold=legal_hold, retain_until=retain_until)

    def put_principal(self, p: PrincipalRow) -> None:
        with self._transaction(f"cannot record principal {p.name!r}") as w:
            w.put_principal(p)

    def put_token(self, t: TokenRow) -> None:
        with self._transaction(f"cannot record token {t.id}") as w:
            w.put_token(t)

    def revoke_token(self, token_id: str, at: dt.datetime) -> None:
        with self._transaction(f"cannot revoke token {token_id}") as w:
            w.revoke_token(token_id, at)

    def put_grant(self, g: GrantRow) -> None:
        with self._transaction(f"cannot record grant {g.id}") as w:
            w.put_grant(g)

    def revoke_grant(self, grant_id: str, at: dt.datetime) -> None:
        with self._transaction(f"cannot revoke grant {grant_id}") as w:
            w.revoke_grant(grant_id, at)

    def add_access_events(self, rows: Sequence[AccessEventRow]) -> None:
        with self._transaction("cannot record access events") as w:
            w.add_access_events(rows)
