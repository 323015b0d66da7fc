"""Sort keys and summable amounts of the find page's lists: the database orders and totals a list, not Python.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

A list sorted by amount, supplier, customer or number read every match (up to 10,000) into
Python to sort it; the keys kept here let the database sort and page it.  They are bytes
(``earsiv.indexer.sortkeys``), compared byte by byte on both databases.  A list's totals add the
payable amounts as integer units of their scale (``amount_units``): SQLite added them from their
text, parsing each amount several times a row, which cost more than the walk.

Frozen as migrations are, except for the key functions: the keys written here must be those
``sortkeys`` writes for a new document, or the two would sort apart; a later change of
definition writes them again (a migration of its own, or ``earsiv reindex``).  Filled from the
row's own columns, a thousand rows a statement.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from alembic import op

from earsiv.indexer.sortkeys import amount_key, amount_units, text_key

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_KEYS = ("sort_id", "sort_supplier", "sort_customer", "sort_amount")
_UNITS = ("payable_units", "payable_scale")
_COLUMNS = (*_KEYS, *_UNITS)
_BATCH = 1000


def _amount(text: str | None) -> Decimal | None:
    try:
        return None if text is None else Decimal(text)
    except InvalidOperation:
        return None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        for name in _KEYS:
            batch.add_column(sa.Column(name, sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("payable_units", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("payable_scale", sa.Integer(), nullable=True))
    conn = op.get_bind()
    docs = sa.table("documents", *(sa.column(n) for n in (
        "digest", "doc_id", "supplier_name", "supplier_id", "customer_name", "customer_id", "payable_amount",
        *_COLUMNS)))
    update = (sa.update(docs).where(docs.c.digest == sa.bindparam("key"))
              .values({**{n: sa.bindparam(n, type_=sa.LargeBinary()) for n in _KEYS},
                       **{n: sa.bindparam(n) for n in _UNITS}}))
    after = ""
    while True:
        rows = conn.execute(sa.select(docs.c.digest, docs.c.doc_id, docs.c.supplier_name, docs.c.supplier_id,
                                      docs.c.customer_name, docs.c.customer_id, docs.c.payable_amount)
                            .where(docs.c.digest > after).order_by(docs.c.digest).limit(_BATCH)).all()
        if not rows:
            break
        conn.execute(update, [{"key": r.digest, "sort_id": text_key(r.doc_id),
                               "sort_supplier": text_key(r.supplier_name or r.supplier_id),
                               "sort_customer": text_key(r.customer_name or r.customer_id),
                               "sort_amount": amount_key(_amount(r.payable_amount)),
                               **dict(zip(_UNITS, amount_units(_amount(r.payable_amount)), strict=True))}
                              for r in rows])
        after = rows[-1].digest


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
