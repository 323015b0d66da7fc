"""A tenant's holdings newest first: the index a tenant-scoped search walks.

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-07

Frozen: a migration never imports the models.  A search within one or a few tenants (an
accountant's, and PostgreSQL text search within a tenant and a period) walks
``holdings (tenant, sort_date, digest)`` backwards instead of every document in the period:
its cost follows what the tenant holds, not what the archive holds.
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_holdings_tenant_sort_date_digest", "holdings", ["tenant", "sort_date", "digest"])


def downgrade() -> None:
    op.drop_index("ix_holdings_tenant_sort_date_digest", "holdings")
