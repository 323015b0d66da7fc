"""Who may see and do what: principals, tokens, inspector grants, and the access log.

Roles (LAW.md, "Who uses it"):

    admin       operates the archive: principals, tokens, grants, legal holds; sees everything
    integrator  archives for its linked tenants; reads their holdings and what is in their name
    accountant  reads and exports what an integrator reads; never archives
    inspector   reads, and only what its unexpired grants cover: for a grant (VKN, period), the
                documents in which the VKN is an inspectable party (supplier, customer, despatch
                supplier, delivery customer, ledger owner) and whose issue date is in the period

A tenant is a taxpayer (VKN/TCKN).  A tenant-linked principal sees the documents its tenants
hold (see "Holding" in FORMAT.md), and the documents in its tenants' name: those that name one
of them as an inspectable party, which an inspector with a grant for that taxpayer could be
shown.  So nothing is shown to an inspector in a taxpayer's name that the taxpayer cannot see
itself (a document another tenant archived naming it, say); it sees such a document without
its holdings or evidence, flagged (``disclosure.py``).

Every request an inspector makes is an access event: log leaves appended, durably, before the
answer leaves, one per taxpayer whose grants the request used, each naming the principal, that
taxpayer's grants, the parameters and every document shown under them.  Each taxpayer can then
prove what was shown in its name, and read nothing of what was shown in another's, and the
inspector what was received (``access_log``).

Principals, tokens and grants are log leaves too, so the index rows that authenticate a request
are derived and rebuilt with the rest (invariant 5).  A token is shown once: only its sha256 is
kept, in the leaf and in the index.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from earsiv.archive.errors import Conflict, DocumentNotFound, Forbidden, NotFound, Unauthenticated
from earsiv.archive.ledger import Batch
from earsiv.archive.log.entries import (
    ACTIONS,
    ROLES,
    AccessEntry,
    Entry,
    GrantEntry,
    GrantRevokeEntry,
    PrincipalEntry,
    TokenEntry,
    TokenRevokeEntry,
)
from earsiv.archive.trail import note_event
from earsiv.errors import InvalidInput
from earsiv.indexer.accessdb import AccessEventRow, GrantRow, HoldingRow, PrincipalRow, TokenRow
from earsiv.indexer.query import SearchPage, SearchQuery
from earsiv.indexer.rows import DocumentRow

if TYPE_CHECKING:
    from earsiv.archive.ledger import Ledger
    from earsiv.indexer.db import Index

__all__ = [
    "ACTIONS",
    "ROLES",
    "AccessControl",
    "AccessEvents",
    "NewToken",
    "Principal",
    "parse_vkn",
    "query_params",
]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z")
_OPERATOR = re.compile(r"cli(:[^\x00-\x1f\x7f]+)?\Z")
_VKN = re.compile(r"[0-9]{10,11}\Z")
_TOKEN = re.compile(r"earsiv_([0-9a-f]{16})_([A-Za-z0-9_-]{43})\Z")
MAX_REFERENCE = 1000
UTC = dt.UTC


def parse_vkn(value: str, what: str = "VKN") -> str:
    if not isinstance(value, str) or not _VKN.match(value):
        raise InvalidInput(f"{value!r} is not a {what}: a VKN has 10 digits, a TCKN 11")
    return value


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who asks: a principal of the access model (from a token), or the archive's operator.

    The operator is whoever runs the ``earsiv`` command on the archive home without a token:
    it has the home's files (keys, index, store) at hand anyway, so it may do what an admin
    may, and the few things that work on those files (``init``, ``reindex``, ``migrate-store``,
    ``serve``).  Only the command line makes one (``Principal.operator``); a token never
    stands for it, and its name (``cli:<login>``, the ``by`` of what it changes) cannot be a
    principal's name.
    """

    name: str
    role: str
    tenants: frozenset[str] = frozenset()
    is_operator: bool = False

    @classmethod
    def operator(cls, login: str) -> Principal:
        return cls(f"cli:{login}" if login else "cli", "admin", is_operator=True)

    def __post_init__(self) -> None:
        if self.is_operator:
            if self.role != "admin" or self.tenants or not _OPERATOR.match(self.name):
                raise ValueError(f"not an operator: {self.name!r} ({self.role})")
            return
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise InvalidInput(f"{self.name!r} is not a principal name: 1-64 of A-Z a-z 0-9 . _ @ -, starting with a letter or digit")
        if self.role not in ROLES:
            raise InvalidInput(f"unknown role {self.role!r}; roles: {', '.join(ROLES)}")
        object.__setattr__(self, "tenants", frozenset(parse_vkn(t, "tenant VKN") for t in self.tenants))
        if self.tenants and self.role in ("admin", "inspector"):
            raise InvalidInput(f"an {self.role} is not linked to tenants "
                               f"({'it sees everything' if self.role == 'admin' else 'it sees through grants'})")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @classmethod
    def from_row(cls, row: PrincipalRow) -> Principal:
        return cls(row.name, row.role, frozenset(row.tenants))


@dataclass(frozen=True, slots=True)
class NewToken:
    id: str
    token: str  # shown once, never stored
    principal: str
    expires_at: dt.datetime | None


class AccessEvents(tuple[int, ...]):
    """The log indexes of the access leaves one request appended: one per taxpayer whose grants it used.

    Its text is the value of the ``Earsiv-Access-Event`` header: the indexes, comma-separated
    (one, for a request under one taxpayer's grants).
    """

    __slots__ = ()

    def __str__(self) -> str:
        return ", ".join(str(i) for i in self)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class AccessControl:
    """The access rules of one archive; every change is a log leaf appended through the archive."""

    def __init__(self, ledger: Ledger, index: Index, search: Callable[[SearchQuery], SearchPage]) -> None:
        self.ledger = ledger
        self.index = index
        self._search = search

    # -- principals and tokens -----------------------------------------------
    def add_principal(self, name: str, role: str, tenants: Iterable[str] = (), *, by: str) -> Principal:
        p = Principal(name, role, frozenset(tenants))
        if self.index.access.principal(p.name) is not None:
            raise Conflict(f"principal {p.name!r} exists already", name=p.name)
        self._principal_leaf(p, disabled=False, by=by)
        return p

    def set_principal(self, name: str, *, tenants: Iterable[str] | None = None, disabled: bool | None = None,
                      by: str) -> Principal:
        row = self._principal_row(name)
        p = Principal(row.name, row.role, frozenset(row.tenants if tenants is None else tenants))
        self._principal_leaf(p, disabled=row.disabled if disabled is None else disabled, by=by)
        return p

    def _principal_leaf(self, p: Principal, *, disabled: bool, by: str) -> None:
        self.ledger.append_entry(PrincipalEntry(p.name, p.role, tuple(p.tenants), disabled, _now(), by))

    def _principal_row(self, name: str) -> PrincipalRow:
        row = self.index.access.principal(name)
        if row is None:
            raise NotFound(f"no principal named {name!r}", name=name)
        return row

    def principals(self) -> list[PrincipalRow]:
        return self.index.access.principals()

    def create_token(self, name: str, expires_at: dt.datetime | None = None, *, by: str,
                     now: dt.datetime | None = None) -> NewToken:
        row = self._principal_row(name)
        if row.disabled:
            raise Forbidden(f"principal {name!r} is disabled", name=name)
        now = now or _now()
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise InvalidInput("expires_at must be an aware datetime")
            if expires_at <= now:
                raise InvalidInput(f"the token would expire in the past ({_iso(expires_at)})")
        token_id = secrets.token_hex(8)
        token = f"earsiv_{token_id}_{secrets.token_urlsafe(32)}"
        self.ledger.append_entry(TokenEntry(token_id, row.name, _token_hash(token), expires_at, now, by))
        return NewToken(token_id, token, row.name, expires_at)

    def revoke_token(self, token_id: str, *, by: str) -> TokenRow:
        m = _TOKEN.match(token_id)
        token_id = m.group(1) if m else token_id  # the token itself names its id too
        row = self.index.access.token(token_id)
        if row is None:
            raise NotFound(f"no token with id {token_id!r}", name=token_id)
        if row.revoked_at is None:
            self.ledger.append_entry(TokenRevokeEntry(token_id, _now(), by))
        return self.index.access.token(token_id) or row

    def tokens(self, principal: str | None = None) -> list[TokenRow]:
        return self.index.access.tokens(principal)

    def authenticate(self, token: str, now: dt.datetime | None = None) -> Principal:
        """The principal a bearer token stands for; ``Unauthenticated`` for anything else."""
        m = _TOKEN.match(token or "")
        if m is None:
            raise Unauthenticated("not an earsiv token (expected earsiv_<id>_<secret>)")
        row = self.index.access.token(m.group(1))
        # Compare hashes in constant time even when the id is unknown.
        expected = row.sha256 if row is not None else "0" * 64
        if not hmac.compare_digest(expected, _token_hash(token)) or row is None:
            raise Unauthenticated("unknown token")
        return self._token_principal(row, now)

    def token_principal(self, token_id: str, now: dt.datetime | None = None) -> Principal:
        """The principal a token (by id) stands for now: what a web session signed in with it is checked against."""
        row = self.index.access.token(token_id)
        if row is None:
            raise Unauthenticated("unknown token")
        return self._token_principal(row, now)

    def _token_principal(self, row: TokenRow, now: dt.datetime | None) -> Principal:
        now = now or _now()
        if row.revoked_at is not None:
            raise Unauthenticated(f"token {row.id} was revoked at {_iso(row.revoked_at)}")
        if row.expires_at is not None and now >= row.expires_at:
            raise Unauthenticated(f"token {row.id} expired at {_iso(row.expires_at)}")
        p = self.index.access.principal(row.principal)
        if p is None or p.disabled:
            raise Unauthenticated(f"principal {row.principal!r} of token {row.id} is disabled")
        return Principal.from_row(p)

    # -- grants ----------------------------------------------------------------
    def add_grant(self, inspector: str, vkn: str, date_from: dt.date, date_to: dt.date, expires_at: dt.datetime,
                  reference: str, *, by: str, now: dt.datetime | None = None) -> GrantRow:
        row = self._principal_row(inspector)
        if row.role != "inspector":
            raise Forbidden(f"{inspector!r} is an {row.role}, not an inspector: grants are for inspectors", name=inspector)
        parse_vkn(vkn)
        if date_from > date_to:
            raise InvalidInput(f"the granted period starts ({date_from}) after it ends ({date_to})")
        now = now or _now()
        if expires_at.tzinfo is None:
            raise InvalidInput("expires_at must be an aware datetime")
        if expires_at <= now:
            raise InvalidInput(f"the grant would expire in the past ({_iso(expires_at)})")
        reference = (reference or "").strip()
        if not reference or len(reference) > MAX_REFERENCE:
            raise InvalidInput(f"the reference (the inspection order) must be 1-{MAX_REFERENCE} characters")
        grant_id = secrets.token_hex(8)
        self.ledger.append_entry(GrantEntry(grant_id, row.name, vkn, date_from, date_to, expires_at, reference, now, by))
        grant = self.index.access.grant(grant_id)
        assert grant is not None
        return grant

    def revoke_grant(self, grant_id: str, *, by: str) -> GrantRow:
        row = self.index.access.grant(grant_id)
        if row is None:
            raise NotFound(f"no grant with id {grant_id!r}", name=grant_id)
        if row.revoked_at is None:
            self.ledger.append_entry(GrantRevokeEntry(grant_id, _now(), by))
        return self.index.access.grant(grant_id) or row

    def grants(self, p: Principal, *, vkn: str | None = None, inspector: str | None = None) -> list[GrantRow]:
        """Grants *p* may list: admins every grant, an inspector its own."""
        if p.is_admin:
            return self.index.access.grants(inspector=inspector, vkn=vkn)
        if p.role == "inspector":
            return self.index.access.grants(inspector=p.name, vkn=vkn) if inspector in (None, p.name) else []
        raise Forbidden(f"an {p.role} has no grants to list")

    def active_grants(self, p: Principal, now: dt.datetime | None = None) -> list[GrantRow]:
        now = now or _now()
        return [g for g in self.index.access.grants(inspector=p.name) if g.active(now)]

    # -- what a principal may do ------------------------------------------------
    def require(self, p: Principal, *roles: str, what: str) -> None:
        if p.role not in roles:
            raise Forbidden(f"an {p.role} may not {what}")

    def ingest_tenant(self, p: Principal, tenant: str | None) -> str | None:
        """The tenant *p* archives for: checked against its links, defaulted when it has one."""
        if p.is_admin:
            return tenant
        if p.role != "integrator":
            raise Forbidden(f"an {p.role} may not archive documents")
        if tenant is None:
            if len(p.tenants) != 1:
                raise Forbidden(f"say which tenant to archive for (linked: {', '.join(sorted(p.tenants)) or 'none'})")
            return next(iter(p.tenants))
        if tenant not in p.tenants:
            raise Forbidden(f"integrator {p.name!r} is not linked to tenant {tenant}")
        return tenant

    def scoped(self, p: Principal, q: SearchQuery, now: dt.datetime | None = None) -> tuple[SearchQuery, list[GrantRow]]:
        """*q* restricted to what *p* may see, and the grants that allow it (inspectors)."""
        if p.is_admin:
            return q, []
        if q.tenant is not None and q.tenant not in p.tenants:
            # Asking what another tenant holds is asking about that tenant.
            raise Forbidden(f"{p.name!r} is not linked to tenant {q.tenant}")
        if p.role in ("integrator", "accountant"):
            return dataclasses.replace(q, tenants=p.tenants, named=p.tenants, windows=None), []
        grants = self.active_grants(p, now)
        if q.vkn is not None:
            grants = [g for g in grants if g.vkn == q.vkn]
        # Only grants whose period meets the asked dates can show anything.
        grants = [g for g in grants if (q.date_to is None or g.date_from <= q.date_to)
                  and (q.date_from is None or q.date_from <= g.date_to)]
        scoped = dataclasses.replace(q, tenants=None, named=None, windows=_windows(grants))
        if len({g.vkn for g in grants}) == 1 and q.vkn is None:
            # One taxpayer: drive the query by its VKN (the party index), not by a scan.
            scoped = dataclasses.replace(scoped, vkn=grants[0].vkn)
        return scoped, grants

    def scope(self, p: Principal, now: dt.datetime | None = None) -> SearchQuery | None:
        """Everything *p* may see, as a scope for ``Index.visible``; None for everything (admins).

        Asking with it records nothing: it is for deciding what to show of documents the
        caller was already shown (and logged for), never for showing more.
        """
        return None if p.is_admin else self.scoped(p, SearchQuery(), now)[0]

    def search(self, p: Principal, q: SearchQuery, *, params: dict[str, Any] | None = None,
               action: str = "search") -> tuple[SearchPage, AccessEvents | None]:
        """A page of what *p* may see; for an inspector also the log index of the access event."""
        scoped, grants = self.scoped(p, q)
        page = self._search(scoped)
        event = None
        if p.role == "inspector":
            event = self.record(p, action, grants, params if params is not None else query_params(q),
                                [r.digest for r in page.rows])
        return page, event

    def document(self, p: Principal, digest: str, action: str = "view") -> tuple[DocumentRow, AccessEvents | None]:
        """The row of a document *p* may see, else ``DocumentNotFound`` (existence is not revealed)."""
        row = self.index.get(digest)
        missing = DocumentNotFound(f"no document with digest {digest} in this archive", name=digest)
        if row is None:
            raise missing
        if p.is_admin:
            return row, None
        if p.role in ("integrator", "accountant"):
            if not self.index.visible([digest], SearchQuery(tenants=p.tenants, named=p.tenants)):
                raise missing
            return row, None
        grants = [g for g in self.active_grants(p)
                  if self.index.visible([digest], SearchQuery(windows=((g.vkn, g.date_from, g.date_to),)))]
        if not grants:
            raise missing
        return row, self.record(p, action, grants, {"digest": digest}, [digest])

    def own_holding(self, p: Principal, row: DocumentRow) -> HoldingRow | None:
        """*p*'s own (oldest) holding of a visible document; None for admins and inspectors.

        What a tenant's principal is handed about a document (the file name it
        arrived under, the leaf its evidence proves) comes from its own holding,
        never from another tenant's.
        """
        if p.role not in ("integrator", "accountant"):
            return None
        mine = self.index.access.holdings_of([row.digest], p.tenants).get(row.digest, [])
        return min(mine, key=lambda h: h.log_index) if mine else None

    def package_windows(self, p: Principal, vkn: str, date_from: dt.date, date_to: dt.date
                        ) -> tuple[tuple[tuple[str, dt.date, dt.date], ...] | None, list[GrantRow]]:
        """The windows an inspection package for (vkn, period) is cut to, and the grants behind them."""
        self.require(p, "admin", "inspector", what="receive inspection packages")
        if p.is_admin:
            return None, []
        grants = [g for g in self.active_grants(p) if g.vkn == vkn and g.date_from <= date_to and date_from <= g.date_to]
        if not grants:
            raise Forbidden(f"no active grant of {p.name!r} covers VKN {vkn} between {date_from} and {date_to}")
        return _windows(grants), grants

    def visible_tenants(self, p: Principal) -> frozenset[str] | None:
        """Whose holdings *p* may see: None for all (admins)."""
        if p.is_admin:
            return None
        return p.tenants  # inspectors: none (they see documents, not holdings)

    def record(self, p: Principal, action: str, grants: Sequence[GrantRow], params: dict[str, Any],
               digests: Sequence[str], *, outcome: dict[str, Any] | None = None) -> AccessEvents:
        """Append an access event, one leaf per taxpayer; return their log indexes.  Durable before the caller answers.

        Each leaf names one taxpayer's grants and the documents shown under them (a document two
        taxpayers' grants reach is in both), so that each taxpayer can be handed its leaf, and
        its proof, without learning another's inspection order or documents.  The leaves are
        one bundle: all of them or none.  *outcome*: what was answered when nothing was shown
        (``AccessEntry``).  The leaves are noted in the running request's trail (``trail.py``): a
        request that made none gets one.
        """
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        by_vkn: dict[str, list[GrantRow]] = {}
        for g in grants:
            by_vkn.setdefault(g.vkn, []).append(g)
        parts: list[tuple[Sequence[GrantRow], Sequence[str]]] = [(grants, digests)]
        if len(by_vkn) > 1:
            parts = [(gs, self._shown_under(gs, digests)) for gs in by_vkn.values()]
            if missing := set(digests) - {d for _gs, shown in parts for d in shown}:
                # Shown, but under no grant: never answer without the record of it.
                raise RuntimeError(f"documents shown under none of the grants: {sorted(missing)}")
        at = _now()
        entries: list[Entry] = [AccessEntry(
            p.name, p.role, action, tuple({"id": g.id, "vkn": g.vkn, "reference": g.reference} for g in gs),
            params, tuple(shown), at, outcome) for gs, shown in parts]
        done = self.ledger.append(lambda: Batch(entries))
        assert done is not None
        for index in range(done.first, done.first + done.count):
            note_event(index)
        return AccessEvents(range(done.first, done.first + done.count))

    def _shown_under(self, grants: Sequence[GrantRow], digests: Sequence[str]) -> list[str]:
        """Those of *digests* (in order) that *grants* reach."""
        seen = self.index.visible(digests, SearchQuery(windows=_windows(grants)))
        return [d for d in digests if d in seen]

    def redacted_event(self, p: Principal, event: dict[str, Any]) -> dict[str, Any] | None:
        """*event* (an access leaf's JSON) cut to *p*'s taxpayers, if it names others; None if it names none.

        Leaves written before events were one per taxpayer name every grant of a request; a
        tenant's principal is shown its taxpayers' grants and the documents shown under them.
        The cut has no proof: its leaf would show the rest.
        """
        mine = [g for g in event.get("grants", ()) if g.get("vkn") in p.tenants]
        if not mine:
            return None
        rows = [r for r in (self.index.access.grant(g.get("id", "")) for g in mine) if r is not None]
        return {**event, "grants": mine, "documents": self._shown_under(rows, event.get("documents", ()))}

    def access_log(self, p: Principal, *, vkn: str | None = None, principal: str | None = None,
                   after: int | None = None, limit: int = 100, since: dt.datetime | None = None,
                   before: dt.datetime | None = None) -> list[AccessEventRow]:
        """Access events *p* may read (of *principal*, if named; made in [*since*, *before*), if given):
        admins all, tenants' principals their taxpayers', inspectors their own."""
        ax = self.index.access
        when = {"after": after, "limit": limit, "since": since, "before": before}
        if p.is_admin:
            return ax.access_events(vkn=vkn, principal=principal, **when)
        if p.role == "inspector":
            if principal not in (None, p.name):
                return []
            return ax.access_events(vkn=vkn, principal=p.name, **when)
        if vkn is not None and vkn not in p.tenants:
            raise Forbidden(f"{p.name!r} is not linked to tenant {vkn}")
        return ax.access_events(vkns=[vkn] if vkn else p.tenants, principal=principal, **when)


def _windows(grants: Iterable[GrantRow]) -> tuple[tuple[str, dt.date, dt.date], ...]:
    return tuple((g.vkn, g.date_from, g.date_to) for g in grants)


def query_params(q: SearchQuery) -> dict[str, Any]:
    """What the client asked, as it goes into an access event (never the scope we added)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(q):
        if f.name in ("tenants", "windows", "named"):
            continue
        value = getattr(q, f.name)
        if value is not None:
            out[f.name] = value if isinstance(value, (int, str)) else str(value)
    return out


def _now() -> dt.datetime:
    return dt.datetime.now(UTC)
