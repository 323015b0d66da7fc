"""The find page's lists in SQL: the newest matches of a query, in the order a person picked, a page at a time.

A list is of the newest ``cap`` matches (``match_statement``'s order; with the digests of full-text
hits, those of them that match).  The database sorts them by the sort's columns, one page at a time,
and counts and totals them (``tally_statement``, limited): no row of the list but the page's is read
into Python, so a page costs a walk of the matches in the database whatever the sort.

Every key compares byte by byte on both databases: bytes columns (``sortkeys``), dates, integers,
and text that is ASCII by nature (a kind, a currency code, a time of day) under the byte-wise
collation.  A missing value sorts last both ways round; equal keys sort newest first.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa

from earsiv.indexer.models import documents
from earsiv.indexer.query import match_statement

__all__ = ["SORTS", "count_statement", "digests_statement", "ordered_statement"]

_d = documents.c
# sort -> (its columns, the one whose NULL means "no value: last"); text columns are ASCII by nature.
_ORDERS: dict[str, tuple[tuple[Any, ...], Any]] = {
    "date": ((_d.issue_date, sa.func.coalesce(_d.issue_time, "")), _d.issue_date),
    "id": ((_d.sort_id,), _d.sort_id),
    "kind": ((_d.kind,), _d.kind),
    "supplier": ((_d.sort_supplier,), _d.sort_supplier),
    "customer": ((_d.sort_customer,), _d.sort_customer),
    "amount": ((sa.func.coalesce(_d.currency, ""), _d.sort_amount), _d.sort_amount),
    "received": ((_d.log_index,), _d.log_index),
}
SORTS = tuple(_ORDERS)
_TEXT = (sa.String, sa.Text)


def _bytewise(expr: Any, dialect: str) -> Any:
    """*expr* compared byte by byte: SQLite's default (BINARY); PostgreSQL's "C" collation for text."""
    if dialect == "postgresql" and isinstance(expr.type, _TEXT):
        return sa.collate(expr, "C")
    return expr


@functools.lru_cache(maxsize=256)
def ordered_statement(shape: frozenset[str], sort: str, descending: bool, dialect: str) -> sa.Select[Any]:
    """Digests of the newest ``fetch`` matches of one query shape in *sort*'s order, ``page_size`` of
    them from ``page_offset`` (bound parameters besides the shape's)."""
    columns, missing = _ORDERS[sort]
    # No value: no key either, so that those rows keep the newest-first order among themselves.
    keys = [(c if c is missing else sa.case((missing.is_(None), sa.null()), else_=c)).label(f"k{i}")
            for i, c in enumerate(columns)]
    absent = sa.case((missing.is_(None), 1), else_=0).label("absent")
    listed = match_statement(shape, (_d.digest, _d.sort_date, absent, *keys)).subquery("listed")
    order: list[Any] = [listed.c.absent]
    for i, c in enumerate(columns):
        key = sa.type_coerce(listed.c[f"k{i}"], c.type)
        key = _bytewise(key, dialect)
        order.append(key.desc() if descending else key.asc())
    order += [listed.c.sort_date.desc(), listed.c.digest.desc()]
    return (sa.select(listed.c.digest).order_by(*order)
            .limit(sa.bindparam("page_size", type_=sa.Integer())).offset(sa.bindparam("page_offset", type_=sa.Integer())))


@functools.lru_cache(maxsize=256)
def digests_statement(shape: frozenset[str]) -> sa.Select[Any]:
    """The digests of the newest ``fetch`` matches of one query shape, newest first."""
    return match_statement(shape, (_d.digest,))


@functools.lru_cache(maxsize=256)
def count_statement(shape: frozenset[str]) -> sa.Select[Any]:
    """How many of the newest ``fetch`` matches there are (at most ``fetch``): whether a list was cut."""
    listed = match_statement(shape, (_d.digest,)).subquery("listed")
    return sa.select(sa.func.count()).select_from(listed)
