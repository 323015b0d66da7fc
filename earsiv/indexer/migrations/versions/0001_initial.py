"""Initial schema of the metadata index.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Frozen: a migration never imports the models (they move on; this does not).
Portable SQL only: the same revision runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _utc() -> sa.DateTime:
    # earsiv.indexer.models.UTCDateTime stores through this type.
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("root", sa.String(), nullable=False),
        sa.Column("namespace", sa.String(), nullable=True),
        sa.Column("profile", sa.String(), nullable=True),
        sa.Column("type_code", sa.String(), nullable=True),
        sa.Column("doc_id", sa.String(), nullable=True),
        sa.Column("ettn", sa.String(), nullable=True),
        sa.Column("ettn_key", sa.String(), nullable=True),
        sa.Column("issue_date", sa.Date(), nullable=True),
        sa.Column("sort_date", sa.Date(), nullable=False),
        sa.Column("issue_time", sa.String(), nullable=True),
        sa.Column("currency", sa.String(), nullable=True),
        sa.Column("payable_amount", sa.String(), nullable=True),
        sa.Column("payable_amount_num", sa.Numeric(asdecimal=False), nullable=True),
        sa.Column("tax_amount", sa.String(), nullable=True),
        sa.Column("series", sa.String(), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column("supplier_scheme", sa.String(), nullable=True),
        sa.Column("supplier_id", sa.String(), nullable=True),
        sa.Column("supplier_name", sa.Text(), nullable=True),
        sa.Column("customer_scheme", sa.String(), nullable=True),
        sa.Column("customer_id", sa.String(), nullable=True),
        sa.Column("customer_name", sa.Text(), nullable=True),
        sa.Column("signed", sa.Boolean(), nullable=False),
        sa.Column("stylesheets", sa.Integer(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("refs", sa.JSON(), nullable=False),
        sa.Column("edefter_vkn", sa.String(), nullable=True),
        sa.Column("edefter_period_start", sa.Date(), nullable=True),
        sa.Column("edefter_period_end", sa.Date(), nullable=True),
        sa.Column("edefter_ledger_type", sa.String(), nullable=True),
        sa.Column("edefter_control_number", sa.String(), nullable=True),
        sa.Column("edefter_berat_guid", sa.String(), nullable=True),
        sa.Column("edefter_entry_count", sa.Integer(), nullable=True),
        sa.Column("edefter_seal", sa.String(), nullable=True),
        sa.Column("edefter_gib_approved", sa.Boolean(), nullable=True),
        sa.Column("signature_status", sa.String(), nullable=False),
        sa.Column("signature_reason", sa.Text(), nullable=True),
        sa.Column("signer_subject", sa.Text(), nullable=True),
        sa.Column("signer_id", sa.String(), nullable=True),
        sa.Column("signing_time", _utc(), nullable=True),
        sa.Column("cert_not_before", _utc(), nullable=True),
        sa.Column("cert_not_after", _utc(), nullable=True),
        sa.Column("cert_valid_at_signing", sa.Boolean(), nullable=True),
        sa.Column("signature_references", sa.Integer(), nullable=True),
        sa.Column("signature_details", sa.JSON(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("stored_size", sa.BigInteger(), nullable=False),
        sa.Column("dict_digest", sa.String(length=64), nullable=True),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("received_at", _utc(), nullable=False),
        sa.Column("retain_until", _utc(), nullable=False),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("tenant", sa.String(), nullable=True),
        sa.Column("source_name", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("digest", name="pk_documents"),
        sa.UniqueConstraint("log_index", name="uq_documents_log_index"),
    )
    for name, columns in (
        ("ix_documents_doc_id", ["doc_id"]),
        ("ix_documents_edefter_seal", ["edefter_seal"]),
        ("ix_documents_edefter_vkn_edefter_period_start", ["edefter_vkn", "edefter_period_start"]),
        ("ix_documents_ettn_key", ["ettn_key"]),
        ("ix_documents_kind_sort_date_digest", ["kind", "sort_date", "digest"]),
        ("ix_documents_signature_status_log_index", ["signature_status", "log_index"]),
        ("ix_documents_sort_date_digest", ["sort_date", "digest"]),
        ("ix_documents_tenant_sort_date_digest", ["tenant", "sort_date", "digest"]),
    ):
        op.create_index(name, "documents", columns, unique=False)

    op.create_table(
        "index_meta",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_index_meta"),
    )

    op.create_table(
        "document_parties",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("scheme", sa.String(), nullable=True),
        sa.Column("party_id", sa.String(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("sort_date", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["digest"], ["documents.digest"], name="fk_document_parties_digest_documents", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("digest", "position", name="pk_document_parties"),
    )
    op.create_index(
        "ix_document_parties_party_id_sort_date_digest",
        "document_parties",
        ["party_id", "sort_date", "digest"],
        unique=False,
    )

    op.create_table(
        "document_refs",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("ref_type", sa.String(), nullable=False),
        sa.Column("ref_id", sa.String(), nullable=True),
        sa.Column("ref_ettn", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["digest"], ["documents.digest"], name="fk_document_refs_digest_documents", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("digest", "position", name="pk_document_refs"),
    )
    op.create_index("ix_document_refs_ref_ettn", "document_refs", ["ref_ettn"], unique=False)
    op.create_index("ix_document_refs_ref_id", "document_refs", ["ref_id"], unique=False)


def downgrade() -> None:
    op.drop_table("document_refs")
    op.drop_table("document_parties")
    op.drop_table("index_meta")
    op.drop_table("documents")
