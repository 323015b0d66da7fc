"""Holdings, principals, tokens, grants and access events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

Frozen: a migration never imports the models (they move on; this does not).
An index that predates holdings gets each document's first holding from its
documents row (tenant, arrival, retention, hold, file name: what its log leaf
said), so tenants see their documents at once after the upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "holdings",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("received_at", _utc(), nullable=False),
        sa.Column("retain_until", _utc(), nullable=False),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("source_name", sa.Text(), nullable=True),
        sa.Column("sort_date", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["digest"], ["documents.digest"], name="fk_holdings_digest_documents", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("digest", "tenant", name="pk_holdings"),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO holdings (digest, tenant, log_index, received_at, retain_until, legal_hold, source_name, sort_date) "
        "SELECT digest, COALESCE(tenant, ''), log_index, received_at, retain_until, legal_hold, source_name, sort_date "
        "FROM documents"
    )
    op.create_table(
        "principals",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_principals"),
    )
    op.create_table(
        "principal_tenants",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=11), nullable=False),
        sa.ForeignKeyConstraint(["name"], ["principals.name"], name="fk_principal_tenants_name_principals", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("name", "tenant", name="pk_principal_tenants"),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("principal", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=True),
        sa.Column("revoked_at", _utc(), nullable=True),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["principal"], ["principals.name"], name="fk_tokens_principal_principals", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_tokens"),
    )
    op.create_index("ix_tokens_principal", "tokens", ["principal"])
    op.create_table(
        "grants",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("inspector", sa.String(length=64), nullable=False),
        sa.Column("vkn", sa.String(length=11), nullable=False),
        sa.Column("date_from", sa.Date(), nullable=False),
        sa.Column("date_to", sa.Date(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("revoked_at", _utc(), nullable=True),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["inspector"], ["principals.name"], name="fk_grants_inspector_principals", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_grants"),
    )
    op.create_index("ix_grants_inspector", "grants", ["inspector"])
    op.create_index("ix_grants_vkn", "grants", ["vkn"])
    op.create_table(
        "access_events",
        sa.Column("log_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("vkn", sa.String(length=11), nullable=False),
        sa.Column("principal", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("documents", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("log_index", "vkn", name="pk_access_events"),
    )
    op.create_index("ix_access_events_vkn_log_index", "access_events", ["vkn", "log_index"])
    op.create_index("ix_access_events_principal_log_index", "access_events", ["principal", "log_index"])


def downgrade() -> None:
    for name in ("access_events", "grants", "tokens", "principal_tenants", "principals", "holdings"):
        op.drop_table(name)
