"""Small synthetic documents for tests that need many unique ones fast (no real company data).

A minimal UBL-TR invoice the archive parses like any other: its own ID, ETTN, issue date,
parties and amount.  For realistic sizes and streams use ``bench/synth.py`` instead.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["SUPPLIERS", "invoice", "invoices"]

# Checksum-valid VKNs (LAW.md), so no document is flagged for them.
SUPPLIERS = ("1234567803", "3333333331", "5555555555")
CUSTOMER = "1111111111"


def invoice(n: int, *, supplier: str = SUPPLIERS[0], customer: str = CUSTOMER,
            day: dt.date = dt.date(2025, 3, 1)) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
<cbc:UBLVersionID>2.1</cbc:UBLVersionID><cbc:CustomizationID>TR1.2</cbc:CustomizationID>
<cbc:ProfileID>TEMELFATURA</cbc:ProfileID><cbc:ID>TST{day.year}{n:09d}</cbc:ID>
<cbc:UUID>6f1e2a44-0000-4000-8000-{n:012d}</cbc:UUID><cbc:IssueDate>{day.isoformat()}</cbc:IssueDate>
<cbc:InvoiceTypeCode>SATIS</cbc:InvoiceTypeCode><cbc:DocumentCurrencyCode>TRY</cbc:DocumentCurrencyCode>
<cac:AccountingSupplierParty><cac:Party><cac:PartyIdentification><cbc:ID schemeID="VKN">{supplier}</cbc:ID>
</cac:PartyIdentification><cac:PartyName><cbc:Name>Örnek Tedarikçi A.Ş.</cbc:Name></cac:PartyName></cac:Party>
</cac:AccountingSupplierParty>
<cac:AccountingCustomerParty><cac:Party><cac:PartyIdentification><cbc:ID schemeID="VKN">{customer}</cbc:ID>
</cac:PartyIdentification><cac:PartyName><cbc:Name>Deneme Müşteri Ltd. Şti.</cbc:Name></cac:PartyName></cac:Party>
</cac:AccountingCustomerParty>
<cac:LegalMonetaryTotal><cbc:PayableAmount currencyID="TRY">{100 + n}.50</cbc:PayableAmount></cac:LegalMonetaryTotal>
<cac:InvoiceLine><cbc:ID>1</cbc:ID><cac:Item><cbc:Name>Kalem {n}</cbc:Name></cac:Item></cac:InvoiceLine>
</Invoice>
""".encode()


def invoices(first: int, count: int, *, supplier: str = SUPPLIERS[0],
             start: dt.date = dt.date(2025, 1, 1)) -> list[tuple[str, bytes]]:
    """(file name, bytes) of *count* invoices numbered from *first*, one a day from *start*."""
    return [(f"inv{n}.xml", invoice(n, supplier=supplier, day=start + dt.timedelta(days=n % 300)))
            for n in range(first, first + count)]
