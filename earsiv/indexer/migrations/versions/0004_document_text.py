"""Words of documents for PostgreSQL text search: ``document_text``, a GIN-indexed tsvector.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-20

Frozen: a migration never imports the models.  On PostgreSQL the table starts empty on an
existing index; the mirror fills it for every document it writes from now on, and
``earsiv reindex`` for those already there (a migration cannot read the store).  On SQLite
it stays empty: the embedded engine keeps words outside the database.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_text",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("terms", sa.Text().with_variant(postgresql.TSVECTOR(), "postgresql"), nullable=False),
        sa.ForeignKeyConstraint(["digest"], ["documents.digest"], name="fk_document_text_digest_documents",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("digest", name="pk_document_text"),
    )
    op.create_index("ix_document_text_terms", "document_text", ["terms"], postgresql_using="gin")


def downgrade() -> None:
    op.drop_index("ix_document_text_terms", table_name="document_text")
    op.drop_table("document_text")
