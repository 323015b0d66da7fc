"""Build synthetic e-Defter documents for one fictitious company and month.

No real signed ledger or berat is public, so the tests use these.  Run::

    python tests/assets/edefter/make_edefter.py [OUT_DIR]

(default: the directory of this script).  The output is deterministic: the same
bytes on every run, so a test can regenerate the files and compare them with
the committed copies.

What is made (file names per LAW.md L4, ``VKN-YYYYMM-{Y,K,YB,KB}-NNNNNN.xml``):

- ``…-Y-000000.xml``   yevmiye (journal) ledger, three balanced entries;
- ``…-K-000000.xml``   kebir (general ledger) of the same month;
- ``…-YB-000000.xml``  berat of the yevmiye, ``…-KB-000000.xml`` berat of the kebir;
- ``GIB-…-YB-000000.xml``, ``GIB-…-KB-000000.xml``  the same berats as GİB returns
  them approved: GİB's seal added as a XAdES counter-signature inside the
  taxpayer's signature (the one place edefter.xsd leaves for a second signature).

The signatures are **fake**: structurally valid ``ds:Signature`` elements (XSD of
xmldsig/XAdES) whose DigestValue is a real sha256 of the ledger's ``xbrli:xbrl``
canonical form but whose SignatureValue is 256 deterministic bytes, not an RSA
signature, and which carry no certificate.  That is enough for what they test:
the seal link (a berat carries a copy of its ledger's ``ds:SignatureValue``) and
GİB-approval detection.  They must never verify as signatures.

The company, its VKN (which passes the VKN checksum), people and amounts are
invented.
"""

from __future__ import annotations

import base64
import hashlib
import sys
from decimal import Decimal
from pathlib import Path

from lxml import etree

VKN = "4700012349"
COMPANY = "Örnek Kırtasiye Ticaret A.Ş."
ACCOUNTANT = "Ayşe Yılmaz"
PERIOD = ("2025-01-01", "2025-01-31")
YEAR_MONTH = "202501"
CREATED = "2025-02-10"
BERAT_GUIDS = {"Y": "0b6c2c8e-4f0a-4d3b-9a55-6a1d2f3e4c01", "K": "0b6c2c8e-4f0a-4d3b-9a55-6a1d2f3e4c02"}

NS = {
    "edefter": "http://www.edefter.gov.tr",
    "xbrli": "http://www.xbrl.org/2003/instance",
    "link": "http://www.xbrl.org/2003/linkbase",
    "xlink": "http://www.w3.org/1999/xlink",
    "iso4217": "http://www.xbrl.org/2003/iso4217",
    "iso639": "http://www.xbrl.org/2005/iso639",
    "gl-cor": "http://www.xbrl.org/int/gl/cor/2006-10-25",
    "gl-bus": "http://www.xbrl.org/int/gl/bus/2006-10-25",
    "gl-muc": "http://www.xbrl.org/int/gl/muc/2006-10-25",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xades": "http://uri.etsi.org/01903/v1.3.2#",
}
CTX = "ctx"
UNIT = "TRY"

# (date, entry number, comment, [(account, description, D/C, amount)])
ENTRIES = [
    ("2025-01-02", "1", "Açılış kaydı", [
        ("100", "KASA", "D", "15000.00"),
        ("500", "SERMAYE", "C", "15000.00"),
    ]),
    ("2025-01-15", "2", "Kırtasiye satışı, fatura ORN2025000000001", [
        ("100", "KASA", "D", "1200.00"),
        ("600", "YURTİÇİ SATIŞLAR", "C", "1000.00"),
        ("391", "HESAPLANAN KDV", "C", "200.00"),
    ]),
    ("2025-01-28", "3", "Kira ödemesi", [
        ("770", "GENEL YÖNETİM GİDERLERİ", "D", "4000.00"),
        ("100", "KASA", "C", "4000.00"),
    ]),
]


def q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


def sub(parent, prefix: str, name: str, text: str | None = None, **attrs) -> etree._Element:
    el = etree.SubElement(parent, q(prefix, name))
    for key, value in attrs.items():
        el.set(key, value)
    if text is not None:
        el.text = text
    return el


def item(parent, prefix: str, name: str, text: str) -> etree._Element:
    return sub(parent, prefix, name, text, contextRef=CTX)


def money(parent, prefix: str, name: str, text: str) -> etree._Element:
    return sub(parent, prefix, name, text, contextRef=CTX, unitRef=UNIT, decimals="INF")


def xbrl(parent, ledger: str, berat: bool) -> etree._Element:
    """The xbrli:xbrl part; *ledger* is "Y" (journal) or "K" (general ledger)."""
    x = sub(parent, "xbrli", "xbrl")
    sub(x, "link", "schemaRef", **{
        q("xlink", "type"): "simple",
        q("xlink", "href"): "../xsd/2006-10-25/plt/case-c-b/gl-plt-2006-10-25.xsd",
    })
    context = sub(x, "xbrli", "context", id=CTX)
    entity = sub(context, "xbrli", "entity")
    sub(entity, "xbrli", "identifier", VKN, scheme="http://www.gib.gov.tr")
    if berat:
        segment = sub(entity, "xbrli", "segment")
        item(segment, "gl-cor", "uniqueID", BERAT_GUIDS[ledger])
        if ledger == "Y":
            sub(segment, "gl-bus", "numberOfEntries", str(len(ENTRIES)), contextRef=CTX, unitRef="countable",
                decimals="INF")
        sub(segment, "gl-bus", "measurableQuantity", "1.00", contextRef=CTX, unitRef="countable", decimals="INF")
    period = sub(context, "xbrli", "period")
    sub(period, "xbrli", "instant", CREATED)
    unit = sub(x, "xbrli", "unit", id=UNIT)
    sub(unit, "xbrli", "measure", "iso4217:TRY")
    countable = sub(x, "xbrli", "unit", id="countable")
    sub(countable, "xbrli", "measure", "xbrli:pure")

    entries = sub(x, "gl-cor", "accountingEntries")
    info = sub(entries, "gl-cor", "documentInfo")
    item(info, "gl-cor", "entriesType", "journal" if ledger == "Y" else "ledger")
    item(info, "gl-cor", "uniqueID", ("YEV" if ledger == "Y" else "KEB") + YEAR_MONTH + "000001")
    item(info, "gl-cor", "language", "iso639:tr")
    item(info, "gl-cor", "creationDate", CREATED)
    item(info, "gl-cor", "periodCoveredStart", PERIOD[0])
    item(info, "gl-cor", "periodCoveredEnd", PERIOD[1])
    item(info, "gl-bus", "sourceApplication", "earsiv test generator")

    ent = sub(entries, "gl-cor", "entityInformation")
    org = sub(ent, "gl-bus", "organizationIdentifiers")
    item(org, "gl-bus", "organizationIdentifier", COMPANY)
    item(org, "gl-bus", "organizationDescription", "Kurum Unvanı")
    item(ent, "gl-bus", "businessDescription", "Kırtasiye ticareti")
    item(ent, "gl-bus", "fiscalYearStart", "2025-01-01")
    item(ent, "gl-bus", "fiscalYearEnd", "2025-12-31")
    acc = sub(ent, "gl-bus", "accountantInformation")
    item(acc, "gl-bus", "accountantName", ACCOUNTANT)
    item(acc, "gl-bus", "accountantEngagementTypeDescription", "Serbest Muhasebeci Mali Müşavir")

    if berat:
        _tax_header(entries)
    elif ledger == "Y":
        for counter, (date, number, comment, lines) in enumerate(ENTRIES, start=1):
            _entry(entries, counter, date, number, comment, lines, line_start=_line_start(counter))
    else:
        _ledger_entries(entries)
    return x


def _line_start(counter: int) -> int:
    return 1 + sum(len(e[3]) for e in ENTRIES[: counter - 1])


def _entry(entries, counter, date, number, comment, lines, *, line_start) -> None:
    header = sub(entries, "gl-cor", "entryHeader")
    item(header, "gl-cor", "enteredBy", ACCOUNTANT)
    item(header, "gl-cor", "enteredDate", date)
    item(header, "gl-cor", "entryNumber", number)
    item(header, "gl-cor", "entryComment", comment)
    debit = sum((Decimal(a) for _, _, dc, a in lines if dc == "D"), Decimal("0.00"))
    credit = sum((Decimal(a) for _, _, dc, a in lines if dc == "C"), Decimal("0.00"))
    money(header, "gl-bus", "totalDebit", f"{debit:.2f}")
    money(header, "gl-bus", "totalCredit", f"{credit:.2f}")
    sub(header, "gl-cor", "entryNumberCounter", str(counter), contextRef=CTX, unitRef="countable", decimals="INF")
    for offset, (account, description, dc, amount) in enumerate(lines):
        detail = sub(header, "gl-cor", "entryDetail")
        item(detail, "gl-cor", "lineNumber", str(line_start + offset))
        sub(detail, "gl-cor", "lineNumberCounter", str(counter), contextRef=CTX, unitRef="countable",
            decimals="INF")
        acct = sub(detail, "gl-cor", "account")
        item(acct, "gl-cor", "accountMainID", account)
        item(acct, "gl-cor", "accountMainDescription", description)
        money(detail, "gl-cor", "amount", amount)
        item(detail, "gl-cor", "debitCreditCode", dc)
        item(detail, "gl-cor", "postingDate", date)
        item(detail, "gl-cor", "documentType", "other")
        item(detail, "gl-cor", "documentTypeDescription", "Muhasebe fişi")
        item(detail, "gl-cor", "documentNumber", number)
        item(detail, "gl-cor", "documentDate", date)


def _ledger_entries(entries) -> None:
    """The kebir lists the journal's lines grouped by account, one header per account."""
    by_account: dict[str, list] = {}
    for date, number, comment, lines in ENTRIES:
        for account, description, dc, amount in lines:
            by_account.setdefault(account, []).append((date, number, comment, account, description, dc, amount))
    line = 1
    for counter, account in enumerate(sorted(by_account), start=1):
        header = sub(entries, "gl-cor", "entryHeader")
        item(header, "gl-cor", "enteredBy", ACCOUNTANT)
        sub(header, "gl-cor", "entryNumberCounter", str(counter), contextRef=CTX, unitRef="countable",
            decimals="INF")
        for date, number, comment, acc, description, dc, amount in by_account[account]:
            detail = sub(header, "gl-cor", "entryDetail")
            item(detail, "gl-cor", "lineNumber", str(line))
            acct = sub(detail, "gl-cor", "account")
            item(acct, "gl-cor", "accountMainID", acc)
            item(acct, "gl-cor", "accountMainDescription", description)
            money(detail, "gl-cor", "amount", amount)
            item(detail, "gl-cor", "debitCreditCode", dc)
            item(detail, "gl-cor", "postingDate", date)
            item(detail, "gl-cor", "documentReference", number)
            item(detail, "gl-cor", "detailComment", comment)
            line += 1


def _tax_header(entries) -> None:
    """The berat's summary of the month (edefter_berat.sch: ten period_change lines)."""
    totals = {("391", "C"): "200.00", ("600", "C"): "1000.00"}
    header = sub(entries, "gl-cor", "entryHeader")
    item(header, "gl-cor", "qualifierEntry", "standard")
    line = 1
    for account in ("391", "191", "600", "601", "602"):
        for dc in ("D", "C"):
            detail = sub(header, "gl-cor", "entryDetail")
            item(detail, "gl-cor", "lineNumber", str(line))
            acct = sub(detail, "gl-cor", "account")
            item(acct, "gl-cor", "accountMainID", account)
            item(acct, "gl-cor", "accountMainDescription", f"Hesap {account}")
            money(detail, "gl-cor", "amount", totals.get((account, dc), "0.00"))
            item(detail, "gl-cor", "debitCreditCode", dc)
            info = sub(detail, "gl-cor", "xbrlInfo")
            item(info, "gl-cor", "xbrlInclude", "period_change")
            line += 1


def fake_signature(parent, ident: str, signed: etree._Element, *, counter_seal: str | None = None) -> etree._Element:
    """A structurally valid, cryptographically meaningless ds:Signature (see module doc)."""
    digest = base64.b64encode(hashlib.sha256(etree.tostring(signed, method="c14n")).digest()).decode()
    value = base64.b64encode(b"".join(hashlib.sha256(f"{ident}:{digest}:{i}".encode()).digest() for i in range(8)))
    sig = sub(parent, "ds", "Signature", Id=f"Signature_{ident}")
    info = sub(sig, "ds", "SignedInfo")
    sub(info, "ds", "CanonicalizationMethod", Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
    sub(info, "ds", "SignatureMethod", Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    ref = sub(info, "ds", "Reference", URI="")
    transforms = sub(ref, "ds", "Transforms")
    sub(transforms, "ds", "Transform", Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature")
    sub(ref, "ds", "DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    sub(ref, "ds", "DigestValue", digest)
    # 76-character lines, as signing tools write them: the seal must ignore whitespace.
    text = value.decode()
    sub(sig, "ds", "SignatureValue", "\n" + "\n".join(text[i:i + 76] for i in range(0, len(text), 76)) + "\n",
        Id=f"SignatureValue_{ident}")
    if counter_seal is not None:
        obj = sub(sig, "ds", "Object")
        qp = sub(obj, "xades", "QualifyingProperties", Target=f"#Signature_{ident}")
        up = sub(qp, "xades", "UnsignedProperties")
        usp = sub(up, "xades", "UnsignedSignatureProperties")
        cs = sub(usp, "xades", "CounterSignature")
        fake_signature(cs, counter_seal, signed)
    return sig


def signature_value(doc: etree._Element) -> str:
    return doc.find(q("ds", "Signature")).find(q("ds", "SignatureValue")).text


def ledger(kind: str) -> etree._Element:
    root = etree.Element(q("edefter", "defter"), nsmap=NS)
    x = xbrl(root, kind, berat=False)
    fake_signature(root, f"{VKN}-{YEAR_MONTH}-{kind}", x)
    return root


def berat(kind: str, ledger_doc: etree._Element, *, gib: bool) -> etree._Element:
    root = etree.Element(q("edefter", "berat"), nsmap=NS)
    x = xbrl(root, kind, berat=True)
    sub(root, "ds", "SignatureValue", signature_value(ledger_doc), Id=f"LedgerSignatureValue_{kind}")
    fake_signature(root, f"{VKN}-{YEAR_MONTH}-{kind}B", x, counter_seal=f"GIB-{kind}B" if gib else None)
    return root


def build() -> dict[str, bytes]:
    out = {}
    for kind in ("Y", "K"):
        led = ledger(kind)
        stem = f"{VKN}-{YEAR_MONTH}-{kind}"
        out[f"{stem}-000000.xml"] = led
        out[f"{stem}B-000000.xml"] = berat(kind, led, gib=False)
        out[f"GIB-{stem}B-000000.xml"] = berat(kind, led, gib=True)
    return {
        name: etree.tostring(doc, xml_declaration=True, encoding="UTF-8", pretty_print=True)
        for name, doc in out.items()
    }


def main(argv: list[str]) -> int:
    target = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    target.mkdir(parents=True, exist_ok=True)
    for name, data in build().items():
        (target / name).write_bytes(data)
        print(target / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
