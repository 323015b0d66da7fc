"""What the audit found and what repair put back: one row per finding.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

Frozen: a migration never imports the models.  The table starts empty: an archive written
before has no audit leaves.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_findings",
        sa.Column("log_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("object", sa.String(length=300), nullable=False),
        sa.Column("copy", sa.String(length=8), nullable=False),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("repaired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("repair_index", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("log_index", name="pk_audit_findings"),
    )
    op.create_index("ix_audit_findings_object_copy", "audit_findings", ["object", "copy"])
    op.create_index("ix_audit_findings_repaired_at_log_index", "audit_findings", ["repaired_at", "log_index"])


def downgrade() -> None:
    op.drop_table("audit_findings")
