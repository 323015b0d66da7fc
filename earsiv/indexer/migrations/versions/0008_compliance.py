"""Compliance: a waybill's actual despatch date and an issuer's numbers in order (reports), disposal, and a
tenant's holdings in log order (the hand-back export).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

Frozen: a migration never imports the models.  ``despatch_date`` is NULL for waybills indexed
before; ``earsiv reindex`` fills it from the originals (the responses report says which waybills
lack it until then).  ``disposed_at``/``disposal_index`` mirror the `disposal` leaves; an archive
upgraded to this revision has none yet.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("despatch_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("disposed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("disposal_index", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("supplier_key", sa.String(), nullable=True))
    # index_key() form: the value itself when short (a longer one is a hostile document's; reindex
    # fills it with its prefix and hash).  256 = earsiv.indexer.rows.KEY_MAX_CHARS when this was written.
    op.execute("UPDATE documents SET supplier_key = supplier_id WHERE length(supplier_id) <= 256")
    op.create_index("ix_documents_supplier_key_series_year_sequence_issue_date_kind", "documents",
                    ["supplier_key", "series", "year", "sequence", "issue_date", "kind"])
    op.create_index("ix_holdings_tenant_log_index", "holdings", ["tenant", "log_index"])


def downgrade() -> None:
    op.drop_index("ix_holdings_tenant_log_index", "holdings")
    op.drop_index("ix_documents_supplier_key_series_year_sequence_issue_date_kind", "documents")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("supplier_key")
        batch.drop_column("disposal_index")
        batch.drop_column("disposed_at")
        batch.drop_column("despatch_date")
