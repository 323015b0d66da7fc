"""Migration 0008 (compliance) on an index that already holds documents: the new columns and indexes, filled where it can."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from earsiv.indexer.db import MIGRATIONS, Index


def test_an_index_at_0005_with_documents_upgrades_and_its_suppliers_are_keyed(tmp_path):
    url = f"sqlite:///{tmp_path / 'index.sqlite'}"
    engine = sa.create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0005")
    now = dt.datetime(2026, 1, 1).isoformat(sep=" ")
    long_id = "9" * 300  # a hostile document's: index_key form, which only a reindex computes
    with engine.begin() as conn:
        for n, supplier in ((1, "1234567803"), (2, long_id)):
            conn.execute(sa.text(
                "INSERT INTO documents (digest, kind, root, sort_date, signed, stylesheets, line_count, flags, refs, "
                "signature_status, size, stored_size, log_index, received_at, retain_until, legal_hold, supplier_id) "
                "VALUES (:d, 'e-fatura', 'Invoice', '2025-01-01', 1, 0, 1, '[]', '[]', 'pending', 1, 1, :n, :t, :t, 0, :s)"),
                {"d": f"{n:064x}", "n": n, "t": now, "s": supplier})
    engine.dispose()
    index = Index(url)
    index.upgrade()
    with index.db.read("test") as conn:
        keys = dict(conn.execute(sa.text("SELECT log_index, supplier_key FROM documents")).all())
        names = {r[1] for r in conn.execute(sa.text("PRAGMA index_list('documents')"))}
        names |= {r[1] for r in conn.execute(sa.text("PRAGMA index_list('holdings')"))}
    assert keys == {1: "1234567803", 2: None}
    assert {"ix_documents_supplier_key_series_year_sequence_issue_date_kind", "ix_holdings_tenant_log_index"} <= names
    assert index.disposal.disposed([f"{1:064x}"]) == {}
    index.close()
