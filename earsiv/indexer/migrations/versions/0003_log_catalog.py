"""Where the log's objects are: bundles and checkpoints; a blob's alternative key.

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


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("blob_alt")
    op.drop_index("ix_log_checkpoints_state_size", table_name="log_checkpoints")
    op.drop_table("log_checkpoints")
    op.drop_table("log_bundles")
