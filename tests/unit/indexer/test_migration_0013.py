"""Migration 0013 (sort keys) on an index that already holds documents: the keys it fills are those a
new document gets, so an upgraded archive's lists sort as a new one's."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from earsiv.archive.archive import Archive
from earsiv.archive.ingest import Source
from earsiv.indexer.db import MIGRATIONS
from tests.helpers.synthetic import SUPPLIERS, invoice

NAMES = ("Çelik Yapı", "İSTANBUL Kırtasiye", "ışık gıda", "Cem Ltd", "  Zeki")
AMOUNTS = ("100.50", "-12.00", "1.5E+3", "1234567890123456789012345.25", None)
KEYS = "SELECT digest, sort_id, sort_supplier, sort_customer, sort_amount FROM documents ORDER BY digest"


def _doc(n: int) -> bytes:
    data = invoice(n, supplier=SUPPLIERS[n % 3], day=dt.date(2025, 1, 1) + dt.timedelta(days=n)).decode()
    data = data.replace("Örnek Tedarikçi A.Ş.", NAMES[n % len(NAMES)])
    payable = f'<cbc:PayableAmount currencyID="TRY">{100 + n}.50</cbc:PayableAmount>'
    amount = AMOUNTS[n % len(AMOUNTS)]
    return data.replace(payable, "" if amount is None else f'<cbc:PayableAmount currencyID="TRY">{amount}</cbc:PayableAmount>').encode()


def test_an_index_at_0012_gets_the_keys_a_new_document_gets(tmp_path) -> None:
    with Archive.init(tmp_path / "home") as arch:
        results = list(arch.ingest([Source(f"d{n}.xml", _doc(n)) for n in range(15)], tenant=SUPPLIERS[0]))
        assert all(r.status == "stored" for r in results)
    url = f"sqlite:///{tmp_path / 'home' / 'index.sqlite'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        written = conn.execute(sa.text(KEYS)).all()
    assert len(written) == 15 and all(row[1] and row[2] and row[3] for row in written)
    assert sum(row[4] is None for row in written) == 3  # no amount, no key
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0012")
        assert "sort_amount" not in {c["name"] for c in sa.inspect(conn).get_columns("documents")}
    engine.dispose()
    with Archive.open(tmp_path / "home"):  # opening upgrades
        pass
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        assert conn.execute(sa.text(KEYS)).all() == written
    engine.dispose()
