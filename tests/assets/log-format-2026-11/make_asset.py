"""Make ``home/``: an archive home written by earsiv as of commit 79c268e (log format before tiles).

It is the test asset of "leaves written by the current format keep reading": a log of the
2026-11 format (bundles and checkpoints, no hash tiles, no log catalog in the index) with
every entry type of that time — documents, first and later holdings, legal holds, a
retention extension, principals, a token and its revocation, a grant and its revocation,
an inspector's access event.  Documents are synthetic (no real company data).

Run it with the old code on the path, from the project root:

    git worktree add /tmp/old79 79c268e
    PYTHONPATH=/tmp/old79 .venv/bin/python tests/assets/log-format-2026-11/make_asset.py

The index (derived) is left out of the asset: the test opens the home with a fresh one.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from pathlib import Path

import earsiv

HERE = Path(__file__).resolve().parent
OUT = HERE / "home"

if "old79" not in earsiv.__file__:
    sys.exit(f"run with the old code first on PYTHONPATH (this earsiv is {earsiv.__file__})")

from earsiv.archive.access import Principal
from earsiv.archive.archive import Archive
from earsiv.archive.ingest import Source
from earsiv.indexer.query import SearchQuery

UTC = dt.UTC
SUPPLIER, CUSTOMER, OTHER = "1234567803", "3333333331", "5555555555"


def invoice(n: int, day: str, supplier: str = SUPPLIER) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
<cbc:UBLVersionID>2.1</cbc:UBLVersionID><cbc:CustomizationID>TR1.2</cbc:CustomizationID>
<cbc:ProfileID>TEMELFATURA</cbc:ProfileID><cbc:ID>TST2025{n:09d}</cbc:ID>
<cbc:UUID>6f1e2a44-0000-4000-8000-{n:012d}</cbc:UUID><cbc:IssueDate>{day}</cbc:IssueDate>
<cbc:InvoiceTypeCode>SATIS</cbc:InvoiceTypeCode><cbc:DocumentCurrencyCode>TRY</cbc:DocumentCurrencyCode>
<cac:AccountingSupplierParty><cac:Party><cac:PartyIdentification><cbc:ID schemeID="VKN">{supplier}</cbc:ID>
</cac:PartyIdentification><cac:PartyName><cbc:Name>Örnek Tedarikçi A.Ş.</cbc:Name></cac:PartyName></cac:Party>
</cac:AccountingSupplierParty>
<cac:AccountingCustomerParty><cac:Party><cac:PartyIdentification><cbc:ID schemeID="VKN">{CUSTOMER}</cbc:ID>
</cac:PartyIdentification><cac:PartyName><cbc:Name>Deneme Müşteri Ltd. Şti.</cbc:Name></cac:PartyName></cac:Party>
</cac:AccountingCustomerParty>
<cac:LegalMonetaryTotal><cbc:PayableAmount currencyID="TRY">{100 + n}.50</cbc:PayableAmount></cac:LegalMonetaryTotal>
<cac:InvoiceLine><cbc:ID>1</cbc:ID><cac:Item><cbc:Name>Kalem {n}</cbc:Name></cac:Item></cac:InvoiceLine>
</Invoice>
""".encode()


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    arch = Archive.init(OUT)
    docs = [Source(f"inv{n}.xml", invoice(n, f"2025-0{1 + n % 9}-1{n % 10}")) for n in range(1, 9)]
    res = list(arch.ingest(docs[:5], tenant=SUPPLIER))
    arch.checkpoint()
    list(arch.ingest(docs[5:], tenant=SUPPLIER))
    list(arch.ingest(docs[:2], tenant=CUSTOMER))  # later holdings of the same bytes
    list(arch.ingest([Source("edefter.xml", (HERE.parent / "edefter/4700012349-202501-Y-000000.xml").read_bytes())]))
    arch.checkpoint()
    d0 = res[0].digest
    arch.set_legal_hold(d0, True, "inceleme 2026/1")
    arch.set_legal_hold(d0, False, "bitti", tenant=SUPPLIER)
    arch.extend_retention(res[1].digest, dt.datetime(2040, 12, 31, 20, 59, 59, tzinfo=UTC), tenant=SUPPLIER)
    ax = arch.access
    ax.add_principal("acme", "integrator", [SUPPLIER], by="asset")
    ax.add_principal("ayse", "inspector", by="asset")
    tok = ax.create_token("acme", by="asset")
    ax.revoke_token(tok.id, by="asset")
    g = ax.add_grant("ayse", SUPPLIER, dt.date(2025, 1, 1), dt.date(2025, 12, 31),
                     dt.datetime(2099, 1, 1, tzinfo=UTC), "VDK 2026/1", by="asset")
    ax.search(Principal("ayse", "inspector"), SearchQuery(vkn=SUPPLIER))
    ax.revoke_grant(g.id, by="asset")
    arch.close()
    # The home's settings as today's code writes them (relative to the home): nothing in the
    # asset names the place it was made in, so no test can write into the asset itself.
    config = (OUT / "config.toml").read_text()
    config = config.replace(f"file://{OUT}/store", "file:store").replace(f"sqlite:///{OUT}/index.sqlite",
                                                                         "sqlite:///index.sqlite")
    (OUT / "config.toml").write_text(config)
    (OUT / "index.sqlite").unlink()
    for extra in ("index.sqlite-wal", "index.sqlite-shm", "cache", "fulltext"):
        p = OUT / extra
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
