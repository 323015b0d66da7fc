"""Bulk take-away jobs: who asked for what, how far it got, and the result's size and sha256.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

Frozen: a migration never imports the models.  Not derived from the log (a job is no fact about
the archive, and its result is not kept in the store): the table starts empty, and a reindex
empties it again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("principal", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("done", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=True),
        sa.Column("skipped", sa.BigInteger(), nullable=False),
        sa.Column("node", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("digests", sa.Text(), nullable=True),
        sa.Column("event", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_principal_created_at", "jobs", ["principal", "created_at"])
    op.create_index("ix_jobs_state_node", "jobs", ["state", "node"])


def downgrade() -> None:
    op.drop_table("jobs")
