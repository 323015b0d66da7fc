"""Signatures: "valid" becomes "consistent", and trust and signer are answered apart (issue 17).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

Frozen: a migration never imports the models.  A document inspected before carries status
``valid``, which meant only that the bytes match the signature; its trust and signer were
never judged, and a migration cannot read the store to judge them.  So such documents go
back to ``pending`` (their report cleared) and the next inspection pass (``earsiv serve``'s
worker, ``earsiv ingest``, ``earsiv reindex``) reports them again, with the configured roots.
``invalid``, ``unsigned`` and ``unverifiable`` stay as they are: they have no trust to judge.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_CLEARED = ("signature_reason", "signer_subject", "signer_id", "signing_time", "cert_not_before",
            "cert_not_after", "cert_valid_at_signing", "signature_references", "signature_details")


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("signature_trust", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("signature_trust_reason", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("signature_chain", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("signature_trust_store", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("signer_relation", sa.String(length=16), nullable=True))
    conn = op.get_bind()
    was_valid = conn.execute(sa.text("SELECT count(*) FROM documents WHERE signature_status = 'valid'")).scalar_one()
    cleared = ", ".join(f"{name} = NULL" for name in _CLEARED)
    op.execute(f"UPDATE documents SET signature_status = 'pending', {cleared} WHERE signature_status = 'valid'")
    op.execute("DELETE FROM index_counts WHERE key = 'signature/valid'")
    if was_valid:
        updated = conn.execute(sa.text("UPDATE index_counts SET value = value + :n WHERE key = 'signature/pending'"),
                               {"n": was_valid})
        if not updated.rowcount:
            conn.execute(sa.text("INSERT INTO index_counts (key, value) VALUES ('signature/pending', :n)"),
                         {"n": was_valid})


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        for name in ("signer_relation", "signature_trust_store", "signature_chain", "signature_trust_reason",
                     "signature_trust"):
            batch.drop_column(name)
