"""Search requests and the SQL they become.

Pages are keyset pages ordered by (sort_date DESC, digest DESC): the cursor
is the key of the last row shown, so a page never repeats or skips a row
because rows were inserted between two requests (an OFFSET would).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import functools
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from earsiv.documents.metadata import KINDS, SIGNATURE_STATUSES, SIGNER_RELATIONS, TRUST_VERDICTS
from earsiv.indexer.models import NO_DATE, document_parties, document_text, documents, holdings
from earsiv.indexer.rows import RAW_COLUMNS, DocumentRow, index_key
from earsiv.indexer.textsql import tsquery_literal

__all__ = ["HALF", "INSPECTABLE_ROLES", "MAX_LIMIT", "MAX_TEXT", "MAX_TEXT_OFFSET",
           "VALID_IS_AMBIGUOUS", "SearchPage", "SearchQuery", "decode_cursor", "decode_text_cursor", "encode_cursor",
           "encode_text_cursor", "match_statement", "odd_amounts_statement", "search_parameters",
           "search_statement", "tally_statement", "visible_statement"]

MAX_LIMIT = 1000
# The parties an inspector's grant reaches: the taxpayer as seller or buyer
# (or the ledger's owner), not as the sender of someone else's envelope.
INSPECTABLE_ROLES = ("supplier", "customer", "despatch-supplier", "delivery-customer", "owner")
_CURSOR_VERSION = "k1"
_TEXT_CURSOR_VERSION = "t1"
MAX_TEXT = 1000
# How deep full-text pages go (hits skipped): a cursor past it is not one this archive made.
MAX_TEXT_OFFSET = 100_000
_DIGEST = re.compile(r"[0-9a-f]{64}\Z")
# Before issue 17 "valid" meant only "consistent", and read as more: refused, with the choice.
VALID_IS_AMBIGUOUS = ("signature 'valid' is no longer a filter: it only ever meant that the bytes match the signature. "
                      "Choose signature=consistent (bytes match the signature), trust=trusted (and the certificate "
                      "chains to a configured root at signing time) or signer=supplier (and the certificate's "
                      "VKN/TCKN is the supplier's)")
_DIGEST_PREFIX = re.compile(r"[0-9a-f]{4,64}\Z")
# A date bound must never admit the NO_DATE sort key of undated documents.
_FIRST_REAL_DAY = NO_DATE + dt.timedelta(days=1)


def encode_cursor(sort_date: dt.date, digest: str) -> str:
    raw = f"{_CURSOR_VERSION}|{sort_date.isoformat()}|{digest}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def encode_text_cursor(offset: int, max_log_index: int) -> str:
    """A full-text page's cursor: how many hits were shown, and the log position the listing froze at."""
    raw = f"{_TEXT_CURSOR_VERSION}|{offset}|{max_log_index}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_text_cursor(cursor: str) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        version, offset, max_log_index = raw.split("|")
        if version != _TEXT_CURSOR_VERSION or not offset.isdigit() or not max_log_index.lstrip("-").isdigit():
            raise ValueError
        if len(offset) > 7 or len(max_log_index) > 20:
            raise ValueError
        out = int(offset), int(max_log_index)
        if out[0] > MAX_TEXT_OFFSET or not -1 <= out[1] < 2**62:
            raise ValueError
        return out
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError(f"not a full-text search cursor of this archive (pages end after {MAX_TEXT_OFFSET} hits): "
                         f"{cursor[:80]!r}") from None


def _is_text_cursor(cursor: str) -> bool:
    try:
        decode_text_cursor(cursor)
    except ValueError:
        return False
    return True


def decode_cursor(cursor: str) -> tuple[dt.date, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        version, day, digest = raw.split("|")
        if version != _CURSOR_VERSION or not _DIGEST.match(digest):
            raise ValueError
        return dt.date.fromisoformat(day), digest
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError(f"not a search cursor of this archive: {cursor[:80]!r}") from None


def _amount(name: str, value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, (float, bool)):
        # A float has already lost the amount the user typed.
        raise ValueError(f"{name} must be a Decimal, int or str, not {type(value).__name__}")  # noqa: TRY004 - callers map ValueError to a usage error
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"{name} is not a number: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return amount


def _text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value.strip()


@dataclass(frozen=True, slots=True)
class SearchQuery:
    vkn: str | None = None  # as any party: supplier, customer, despatch, delivery, sender, receiver, owner
    date_from: dt.date | None = None  # issue date, inclusive
    date_to: dt.date | None = None  # issue date, inclusive
    kind: str | None = None
    profile: str | None = None
    type_code: str | None = None
    doc_id: str | None = None
    ettn: str | None = None  # compared without case
    amount_min: Decimal | None = None  # payable amount, inclusive
    amount_max: Decimal | None = None
    tenant: str | None = None  # held by this tenant
    signature_status: str | None = None  # consistent | invalid | unsigned | unverifiable | pending
    limit: int = 100
    cursor: str | None = None
    # What the asking principal may see, set by the access rules, never by a
    # client: documents held by one of *tenants*, or (union) naming one of
    # *named* as an inspectable party (any date), or (union) matching one of
    # *windows* = (vkn as an inspectable party, issue date from, to).  None on
    # all three: unrestricted.  Empty: nothing.
    tenants: frozenset[str] | None = None
    windows: tuple[tuple[str, dt.date, dt.date], ...] | None = None
    # Words to find in names, item names and notes: answered by the full-text engine
    # (archive/textsearch.py); the embedded one pages with a text cursor, PostgreSQL's
    # (this module's SQL) with the ordinary key cursor.
    text: str | None = None
    digests: tuple[str, ...] | None = None  # only these documents (the rows of a full-text page)
    named: frozenset[str] | None = None  # scope, as *tenants* above (last: positional callers keep working)
    signature_trust: str | None = None  # trusted | untrusted (consistent signatures only)
    signer_relation: str | None = None  # supplier | other | unknown (consistent signatures only)
    supplier: str | None = None  # as the supplier only ("sent" by a tenant)
    customer: str | None = None  # as the customer only ("received" by a tenant)
    digest_prefix: str | None = None  # the first hex digits of a digest (a short digest, as people copy them)

    def __post_init__(self) -> None:
        for name in ("vkn", "profile", "type_code", "doc_id", "ettn", "tenant", "kind", "signature_status",
                     "signature_trust", "signer_relation", "supplier", "customer"):
            object.__setattr__(self, name, _text(name, getattr(self, name)))
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}; known: {', '.join(KINDS)}")
        if self.signature_status == "valid":
            raise ValueError(VALID_IS_AMBIGUOUS)
        if self.signature_status is not None and self.signature_status not in SIGNATURE_STATUSES:
            raise ValueError(f"unknown signature status {self.signature_status!r}; known: {', '.join(SIGNATURE_STATUSES)}")
        if self.signature_trust is not None and self.signature_trust not in TRUST_VERDICTS:
            raise ValueError(f"unknown trust {self.signature_trust!r}; known: {', '.join(TRUST_VERDICTS)}")
        if self.signer_relation is not None and self.signer_relation not in SIGNER_RELATIONS:
            raise ValueError(f"unknown signer {self.signer_relation!r}; known: {', '.join(SIGNER_RELATIONS)}")
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, dt.date) or isinstance(value, dt.datetime)):
                raise ValueError(f"{name} must be a date, got {value!r}")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"date_from {self.date_from} is after date_to {self.date_to}")
        object.__setattr__(self, "amount_min", _amount("amount_min", self.amount_min))
        object.__setattr__(self, "amount_max", _amount("amount_max", self.amount_max))
        if self.amount_min is not None and self.amount_max is not None and self.amount_min > self.amount_max:
            raise ValueError(f"amount_min {self.amount_min} is over amount_max {self.amount_max}")
        if not isinstance(self.limit, int) or isinstance(self.limit, bool) or not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {self.limit!r}")
        if self.text is not None:
            if not isinstance(self.text, str) or not self.text.strip() or len(self.text) > MAX_TEXT:
                raise ValueError(f"text must be 1-{MAX_TEXT} characters, not only spaces")
            object.__setattr__(self, "text", self.text.strip())
        if self.cursor is not None:
            if self.text is None:
                decode_cursor(self.cursor)
            elif not _is_text_cursor(self.cursor):
                # The embedded engine pages by offset (a text cursor); PostgreSQL by key.
                decode_cursor(self.cursor)
        if self.digest_prefix is not None:
            if not isinstance(self.digest_prefix, str) or not _DIGEST_PREFIX.match(self.digest_prefix.lower()):
                raise ValueError(f"a digest prefix is 4 to 64 hex digits, got {self.digest_prefix!r}")
            object.__setattr__(self, "digest_prefix", self.digest_prefix.lower())
        if self.digests is not None:
            object.__setattr__(self, "digests", tuple(self.digests))
            if not all(isinstance(d, str) and _DIGEST.match(d) for d in self.digests):
                raise ValueError("digests must be lower-case sha256 hex")
        for name in ("tenants", "named"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, frozenset(getattr(self, name)))
        if self.windows is not None:
            windows = tuple(tuple(w) for w in self.windows)
            for vkn, start, end in windows:
                if not isinstance(vkn, str) or not vkn or start > end:
                    raise ValueError(f"bad scope window {(vkn, start, end)!r}")
            object.__setattr__(self, "windows", windows)

    @property
    def scoped(self) -> bool:
        """Whether a scope restricts what is seen at all."""
        return self.tenants is not None or self.windows is not None or self.named is not None

    @property
    def sees_nothing(self) -> bool:
        return self.scoped and not self.tenants and not self.windows and not self.named

    def after(self, cursor: str | None) -> SearchQuery:
        """The same query, continuing after *cursor*."""
        return dataclasses.replace(self, cursor=cursor)


@dataclass(frozen=True, slots=True)
class SearchPage:
    rows: tuple[DocumentRow, ...]
    next_cursor: str | None  # None on the last page

    def to_json(self) -> dict[str, Any]:
        return {"rows": [r.to_json() for r in self.rows], "next_cursor": self.next_cursor}


# Filters on documents columns: SearchQuery field -> (column, operator).
_DOCUMENT_FILTERS: dict[str, tuple[sa.Column[Any], Callable[[Any, Any], Any]]] = {
    "kind": (documents.c.kind, operator.eq),
    "profile": (documents.c.profile, operator.eq),
    "type_code": (documents.c.type_code, operator.eq),
    "doc_id": (documents.c.doc_id, operator.eq),
    "ettn": (documents.c.ettn_key, operator.eq),
    "amount_min": (documents.c.payable_amount_num, operator.ge),
    "amount_max": (documents.c.payable_amount_num, operator.le),
    "signature_status": (documents.c.signature_status, operator.eq),
    "signature_trust": (documents.c.signature_trust, operator.eq),
    "signer_relation": (documents.c.signer_relation, operator.eq),
    "supplier": (documents.c.supplier_id, operator.eq),
    "customer": (documents.c.customer_id, operator.eq),
}


_KEYED = frozenset({"vkn", "doc_id", "ettn", "tenant"})


def search_parameters(q: SearchQuery, fetch: int) -> tuple[frozenset[str], dict[str, Any]]:
    """The shape of *q* (which filters it uses) and the values to bind."""
    params: dict[str, Any] = {"fetch": fetch}
    for name in ("vkn", "tenant", *_DOCUMENT_FILTERS):
        value = getattr(q, name)
        if value is not None:
            if name == "ettn":
                value = value.lower()
            # Indexed text columns hold long values in their key form (rows.index_key).
            params[name] = index_key(value) if name in _KEYED else value
    if q.date_from is not None or q.date_to is not None:
        params["date_from"] = max(q.date_from or _FIRST_REAL_DAY, _FIRST_REAL_DAY)
    if q.date_to is not None:
        params["date_to"] = q.date_to
    if q.text is not None:
        # Only where the database has text search (Index.search checks); words, not a query language.
        params["text_query"] = tsquery_literal(q.text)
    if q.cursor is not None:
        params["after_date"], params["after_digest"] = decode_cursor(q.cursor)
    if q.digests is not None:
        params["only_digests"] = list(q.digests)
    if q.digest_prefix is not None:  # a range on the key: digests are lower-case hex
        params["digest_lo"], params["digest_hi"] = q.digest_prefix, q.digest_prefix + "g"
    if q.scoped:
        params["scope"] = True
        if q.tenants:
            params["scope_tenants"] = sorted({index_key(t) for t in q.tenants})
            if len(params["scope_tenants"]) == 1:
                params["one_tenant"] = True  # a shape, no value: a walk of its holdings meets a document once
        if q.named:
            params["scope_named"] = sorted(index_key(t) for t in q.named)
        for i, (vkn, start, end) in enumerate(q.windows or ()):
            params[f"w{i}_vkn"], params[f"w{i}_from"], params[f"w{i}_to"] = index_key(vkn), start, end
    return frozenset(params), params


@functools.lru_cache(maxsize=2)
def _held_by(param: str) -> sa.ColumnElement[bool]:
    """A holding of the document by the tenant bound as *param* (a list: ``scope_tenants``)."""
    h = holdings.alias("held")  # not the holdings a tenant's walk reads (no correlation to it)
    if param == "scope_tenants":
        condition = h.c.tenant.in_(sa.bindparam(param, expanding=True))
    else:
        condition = h.c.tenant == sa.bindparam(param)
    return sa.exists(sa.select(1).select_from(h).where(h.c.digest == documents.c.digest, condition))


def _scope_condition(shape: frozenset[str]) -> sa.ColumnElement[bool]:
    d, p = documents, document_parties.alias("scope_party")
    allowed: list[sa.ColumnElement[bool]] = []
    if "scope_tenants" in shape:
        allowed.append(_held_by("scope_tenants"))
    if "scope_named" in shape:
        allowed.append(sa.exists(sa.select(1).select_from(p).where(
            p.c.digest == d.c.digest, p.c.party_id.in_(sa.bindparam("scope_named", expanding=True)),
            p.c.role.in_(INSPECTABLE_ROLES))))
    i = 0
    while f"w{i}_vkn" in shape:
        party = sa.exists(sa.select(1).select_from(p).where(
            p.c.digest == d.c.digest, p.c.party_id == sa.bindparam(f"w{i}_vkn"), p.c.role.in_(INSPECTABLE_ROLES)))
        # issue_date, not sort_date: an undated document is in no period.
        allowed.append(sa.and_(d.c.issue_date >= sa.bindparam(f"w{i}_from", type_=sa.Date()),
                               d.c.issue_date <= sa.bindparam(f"w{i}_to", type_=sa.Date()), party))
        i += 1
    return sa.or_(*allowed) if allowed else sa.false()


@functools.lru_cache(maxsize=256)
def search_statement(shape: frozenset[str]) -> sa.Select[Any]:
    """SELECT of the DocumentRow columns for one query shape, values as bind parameters.

    One statement object per shape: SQLAlchemy then finds its compiled SQL
    by the memoised cache key instead of rebuilding and re-hashing a
    60-column SELECT on every search.
    """
    return match_statement(shape, RAW_COLUMNS)


# SQLite adds the amounts kept as integer units of their scale (``sortkeys.amount_units``) as two halves
# each, so that no sum can overflow 64 bits; an amount without units (past 18 digits) is added in Python.
HALF = 1_000_000_000
_HALF = sa.literal_column(str(HALF), sa.Integer())
_ODD = sa.and_(documents.c.payable_amount.is_not(None), documents.c.payable_units.is_(None))


@functools.lru_cache(maxsize=256)
def tally_statement(shape: frozenset[str], exact_numeric: bool, limited: bool = False) -> sa.Select[Any]:
    """How many match, and the sum of their payable amounts, per currency: every match (or, *limited*,
    the newest ``fetch``), counted and added by the database, nothing read row by row.

    *exact_numeric* (PostgreSQL): rows (currency, count, sum of the NUMERIC column), exact.  Else
    (SQLite, whose NUMERIC is a float): rows (currency, scale, count, high sum, low sum, odd) of the
    amounts' units per scale; ``odd_amounts_statement`` reads the odd ones (no units) when there are.
    Each match's values are read where the walk finds it, and grouped after.
    """
    d = documents
    if exact_numeric:
        amount = sa.type_coerce(d.c.payable_amount_num, sa.Numeric(asdecimal=True)).label("amount")
        m = match_statement(shape, (d.c.currency.label("currency"), amount), limited=limited).subquery("m")
        return sa.select(m.c.currency, sa.func.count(), sa.func.sum(m.c.amount)).group_by(m.c.currency)
    odd = sa.case((_ODD, sa.literal_column("1")), else_=sa.literal_column("0")).label("odd")
    m = match_statement(shape, (d.c.currency.label("currency"), d.c.payable_scale.label("scale"),
                                d.c.payable_units.label("units"), odd), limited=limited).subquery("m")
    return (sa.select(m.c.currency, m.c.scale, sa.func.count(), sa.func.sum(m.c.units // _HALF),
                      sa.func.sum(m.c.units % _HALF), sa.func.sum(m.c.odd))
            .group_by(m.c.currency, m.c.scale))


@functools.lru_cache(maxsize=256)
def odd_amounts_statement(shape: frozenset[str], limited: bool = False) -> sa.Select[Any]:
    """(currency, amount text) of the matches (*limited*: of the newest ``fetch``) whose amount has no units."""
    d = documents
    m = match_statement(shape, (d.c.currency.label("currency"), d.c.payable_amount.label("amount"),
                                _ODD.label("odd")), limited=limited).subquery("m")
    return sa.select(m.c.currency, m.c.amount).where(m.c.odd)


def _tenants_only(shape: frozenset[str]) -> bool:
    """Whether the scope is "held by one of these tenants" and nothing else (no names, no windows)."""
    return "scope_tenants" in shape and "scope_named" not in shape and "w0_vkn" not in shape


def _one_window_only(shape: frozenset[str]) -> bool:
    """Whether the scope is one inspector window (a VKN within a period) and nothing else."""
    return "w0_vkn" in shape and "w1_vkn" not in shape and "scope_tenants" not in shape and "scope_named" not in shape


def _text_match(digest: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    t = document_text
    words = sa.cast(sa.bindparam("text_query", type_=sa.Text()), postgresql.TSQUERY())
    return digest.in_(sa.select(t.c.digest).where(t.c.terms.op("@@")(words)))


def match_statement(shape: frozenset[str], columns: tuple[Any, ...], *, limited: bool = True) -> sa.Select[Any]:
    """SELECT of *columns* (of ``documents``) for the matches of one query shape; *limited*: newest
    first (sort_date, digest descending) and at most ``fetch`` rows.

    Walks, newest first, each stopping after *fetch* rows: a VKN's parties by ``(party_id,
    sort_date, digest)``; else a tenant's holdings by ``(tenant, sort_date, digest)`` when the
    query is held by given tenants (the ``tenant`` filter, or a scope of tenants only); else one
    inspector window's VKN by its parties within the window; else the documents by ``(sort_date,
    digest)``.  Each reads what its key holds, so a tenant's search costs what the tenant holds,
    however large the archive.
    """
    d = documents
    doc_filters = [op(col, sa.bindparam(name)) for name, (col, op) in _DOCUMENT_FILTERS.items() if name in shape]
    if "only_digests" in shape:
        doc_filters.append(d.c.digest.in_(sa.bindparam("only_digests", expanding=True)))
    if "digest_lo" in shape:
        doc_filters.append(d.c.digest >= sa.bindparam("digest_lo", type_=sa.String()))
        doc_filters.append(d.c.digest < sa.bindparam("digest_hi", type_=sa.String()))

    def key_filters(sort_date: sa.ColumnElement[Any], digest: sa.ColumnElement[Any]) -> list[Any]:
        conds: list[Any] = []
        if "date_from" in shape:
            conds.append(sort_date >= sa.bindparam("date_from", type_=sa.Date()))
        if "date_to" in shape:
            conds.append(sort_date <= sa.bindparam("date_to", type_=sa.Date()))
        if "after_date" in shape:
            after = sa.tuple_(sa.bindparam("after_date", type_=sa.Date()), sa.bindparam("after_digest", type_=sa.String()))
            conds.append(sa.tuple_(sort_date, digest) < after)
        return conds

    fetch = sa.bindparam("fetch", type_=sa.Integer())

    def rows_of(keys: sa.Select[Any], sort_date: sa.ColumnElement[Any], digest: sa.ColumnElement[Any]) -> sa.Select[Any]:
        """*columns* of the keys a walk found, in the walk's order (at most *fetch*, when *limited*)."""
        if limited:
            keys = keys.order_by(sort_date.desc(), digest.desc()).limit(fetch)
        keys_sq = keys.subquery("k")
        if len(columns) == 1 and columns[0] is d.c.digest:  # the keys are the answer: no row to read
            stmt = sa.select(keys_sq.c.digest)
        else:
            stmt = sa.select(*columns).join_from(keys_sq, d, d.c.digest == keys_sq.c.digest)
        if not limited:
            return stmt
        return stmt.order_by(keys_sq.c.sort_date.desc(), keys_sq.c.digest.desc())

    if "vkn" not in shape and ("tenant" in shape or _tenants_only(shape)):
        # Walk the holdings of the tenant(s) backwards; a document held by two of them once.
        h = holdings
        held: list[Any] = []
        if "tenant" in shape:
            held.append(h.c.tenant == sa.bindparam("tenant"))
        if _tenants_only(shape):
            held.append(h.c.tenant.in_(sa.bindparam("scope_tenants", expanding=True)))
        elif "scope" in shape:
            doc_filters.append(_scope_condition(shape))
        if "text_query" in shape:
            held.append(_text_match(h.c.digest))
        keys = sa.select(h.c.sort_date, h.c.digest).where(*held, *key_filters(h.c.sort_date, h.c.digest))
        if "tenant" not in shape and "one_tenant" not in shape:
            keys = keys.distinct()  # held by two of the tenants: once
        if doc_filters:
            keys = keys.join_from(h, d, d.c.digest == h.c.digest).where(*doc_filters)
        return rows_of(keys, h.c.sort_date, h.c.digest)
    if "tenant" in shape:
        doc_filters.append(_held_by("tenant"))
    if "scope" in shape:
        doc_filters.append(_scope_condition(shape))
    p = document_parties
    if "vkn" not in shape and _one_window_only(shape):
        # An inspector's grant: walk the VKN's parties within the window (the scope, checked
        # again on each row found, stays the rule; the walk only finds the candidates fast).
        walk = [p.c.party_id == sa.bindparam("w0_vkn"), p.c.role.in_(INSPECTABLE_ROLES),
                p.c.sort_date >= sa.bindparam("w0_from", type_=sa.Date()),
                p.c.sort_date <= sa.bindparam("w0_to", type_=sa.Date())]
        if "text_query" in shape:
            walk.append(_text_match(p.c.digest))
        keys = (sa.select(p.c.sort_date, p.c.digest).distinct()
                .where(*walk, *key_filters(p.c.sort_date, p.c.digest))
                .join_from(p, d, d.c.digest == p.c.digest).where(*doc_filters))
        return rows_of(keys, p.c.sort_date, p.c.digest)
    if "text_query" in shape:
        doc_filters.append(_text_match(d.c.digest))
    if "vkn" not in shape:
        stmt = sa.select(*columns).where(*key_filters(d.c.sort_date, d.c.digest), *doc_filters)
        if not limited:
            return stmt
        return stmt.order_by(d.c.sort_date.desc(), d.c.digest.desc()).limit(fetch)
    # Walk the (party_id, sort_date, digest) index backwards and stop after
    # *fetch* distinct documents, then read just those rows.  DISTINCT because
    # one VKN may hold two roles in one document (self-billing, a supplier
    # that is also the despatcher); the index order makes it a cheap check.
    keys = sa.select(p.c.sort_date, p.c.digest).distinct().where(
        p.c.party_id == sa.bindparam("vkn"), *key_filters(p.c.sort_date, p.c.digest)
    )
    if doc_filters:
        keys = keys.join_from(p, d, d.c.digest == p.c.digest).where(*doc_filters)
    return rows_of(keys, p.c.sort_date, p.c.digest)


@functools.lru_cache(maxsize=64)
def visible_statement(shape: frozenset[str]) -> sa.Select[Any]:
    """Which of the digests bound as ``digests`` the scope in *shape* lets one see."""
    d = documents
    conds = [d.c.digest.in_(sa.bindparam("digests", expanding=True))]
    if "scope" in shape:
        conds.append(_scope_condition(shape))
    return sa.select(d.c.digest).where(*conds)
