"""Where the log's objects are: bundles and checkpoints; a blob's alternative key; running totals.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

Frozen: a migration never imports the models.  The new tables start empty on an existing
index: the archive fills them by listing its store once, the first time it opens after the
upgrade (``Ledger.upgrade``), because a migration cannot see the store.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_bundles",
        sa.Column("first", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("first", name="pk_log_bundles"),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("size", name="pk_log_checkpoints"),
    )
    op.create_index("ix_log_checkpoints_state_size", "log_checkpoints", ["state", "size"])
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("blob_alt", sa.String(length=16), nullable=True))
    op.create_table(
        "index_counts",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_index_counts"),
    )
    # The totals of the documents already there.
    op.execute("INSERT INTO index_counts (key, value) SELECT 'documents', count(*) FROM documents HAVING count(*) > 0")
    op.execute("INSERT INTO index_counts (key, value) SELECT 'bytes_original', sum(size) FROM documents "
               "HAVING count(*) > 0")
    op.execute("INSERT INTO index_counts (key, value) SELECT 'bytes_stored', sum(stored_size) FROM documents "
               "HAVING count(*) > 0")
    op.execute("INSERT INTO index_counts (key, value) SELECT 'kind/' || kind, count(*) FROM documents GROUP BY kind")
    op.execute("INSERT INTO index_counts (key, value) SELECT 'signature/' || signature_status, count(*) "
               "FROM documents GROUP BY signature_status")


def downgrade() -> None:
    op.drop_table("index_counts")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("blob_alt")
    op.drop_index("ix_log_checkpoints_state_size", table_name="log_checkpoints")
    op.drop_table("log_checkpoints")
    op.drop_table("log_bundles")
