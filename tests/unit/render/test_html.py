"""Every document of the corpus gets a complete HTML view; the stylesheet chain is honoured."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree
from lxml import html as lhtml

from earsiv.documents.errors import NotXML
from earsiv.render import render_html
from tests.conftest import CORPUS, MALFORMED, ROOT, corpus_files

EDEFTER = ROOT / "tests" / "assets" / "edefter"
WELL_FORMED = [p for p in corpus_files() if p.relative_to(CORPUS).as_posix() not in MALFORMED]


def _ln(el) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _squash(text: str) -> str:
    return "".join(text.split())


def expectations(path: Path) -> tuple[str | None, list[str]]:
    """(ID, item names) read from the file with plain lxml, independently of the renderer."""
    root = etree.parse(str(path)).getroot()
    if _ln(root) not in ("Invoice", "CreditNote", "DespatchAdvice", "ReceiptAdvice", "ApplicationResponse"):
        return None, []
    doc_id = next((" ".join((c.text or "").split()) for c in root if _ln(c) == "ID"), None) or None
    names = []
    for line in root:
        if _ln(line).endswith("Line"):
            for item in (c for c in line if _ln(c) == "Item"):
                names += [" ".join("".join(n.itertext()).split()) for n in item if _ln(n) == "Name"]
    return doc_id, [n for n in names if n]


def test_the_corpus_is_there():
    assert len(WELL_FORMED) >= 100


@pytest.mark.parametrize("path", WELL_FORMED, ids=lambda p: p.relative_to(CORPUS).as_posix())
def test_every_corpus_document_renders_completely(path):
    view = render_html(path.read_bytes(), name=path.name)
    page = lhtml.document_fromstring(view.html)
    shown = _squash(" ".join(page.itertext()))
    doc_id, names = expectations(path)
    if doc_id:
        assert _squash(doc_id) in shown
    for name in names:
        assert _squash(name) in shown, f"line item {name!r} missing ({view.source})"
    assert view.source == "builtin" or view.source.startswith(("embedded:", "gib:"))
    assert "Content-Security-Policy" in view.html


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_documents_are_reported_not_rendered(name):
    with pytest.raises(NotXML):
        render_html((CORPUS / name).read_bytes(), name=name)


@pytest.mark.parametrize("name,source", [
    ("earsiv/bdog_sample.xml", "embedded:1"),  # its own stylesheet first
    ("efatura/sk-akgips_20251120150604701835.xml", "gib:general.xslt"),  # its own omits a note: GİB's
    ("efatura/gib121_TicariFaturaOrnegi.xml", "gib:general.xslt"),  # none embedded: GİB's for the kind
    ("eirsaliye/gib121_Irsaliye-Ornek1.xml", "gib:irsaliye.xslt"),
    ("eirsaliye/responses/gib121_IrsaliyeYaniti-Ornek1.xml", "gib:irsaliyeyaniti.xslt"),
    ("efatura/responses/gib121_KabulUygulamaYanitiOrnegi.xml", "gib:appResponse.xslt"),
    ("efatura/envelopes/gibpkt_1_TEMEL_FATURA_ZARF.xml", "builtin"),
    ("earsiv/gibfw_SerbestMeslekMakbuzu.xml", "builtin"),  # not UBL
])
def test_the_stylesheet_chain(name, source):
    assert render_html((CORPUS / name).read_bytes()).source == source


def test_an_empty_embedded_stylesheet_falls_through():
    view = render_html((CORPUS / "efatura" / "gib121_IHRACAT.xml").read_bytes())
    assert view.problems[0] == "embedded:1: stylesheet is empty"
    # GİB's general.xslt shows the export buyer, not the customs office that is the accounting
    # customer: incomplete, so the built-in template prints it
    assert "leaves out the customer" in view.problems[1] and view.source == "builtin"


def test_of_several_embedded_stylesheets_the_first_that_works_is_used():
    view = render_html((CORPUS / "earsiv" / "izpy_E_Arsiv_template.xml").read_bytes())
    assert view.source == "embedded:1"


def test_an_envelope_shows_its_header_and_the_invoice_inside():
    path = CORPUS / "efatura" / "envelopes" / "gibpkt_1_TEMEL_FATURA_ZARF.xml"
    root = etree.parse(str(path)).getroot()
    instance = next(el.text for el in root.iter() if _ln(el) == "InstanceIdentifier")
    inner = next(el for el in root.iter() if _ln(el) == "Invoice")
    inner_id = next(c.text for c in inner if _ln(c) == "ID")
    shown = " ".join(lhtml.document_fromstring(render_html(path.read_bytes()).html).itertext())
    assert instance in shown and inner_id in shown


def _ledger_facts(path: Path):
    root = etree.parse(str(path)).getroot()
    details = [el for el in root.iter() if _ln(el) == "entryDetail"]
    debit = sum(Decimal(next(c.text for c in d if _ln(c) == "amount")) for d in details
                if next(c.text for c in d if _ln(c) == "debitCreditCode").strip().upper().startswith("D"))
    credit = sum(Decimal(next(c.text for c in d if _ln(c) == "amount")) for d in details
                 if next(c.text for c in d if _ln(c) == "debitCreditCode").strip().upper().startswith("C"))
    accounts = {next(c.text for c in el if _ln(c) == "accountMainDescription") for el in root.iter() if _ln(el) == "account"}
    return debit, credit, accounts, len(details)


@pytest.mark.parametrize("name", ["4700012349-202501-Y-000000.xml", "4700012349-202501-K-000000.xml"])
def test_ledgers_show_every_entry_with_accounts_and_totals(name):
    path = EDEFTER / name
    debit, credit, accounts, count = _ledger_facts(path)
    view = render_html(path.read_bytes())
    assert view.source == "builtin"
    page = lhtml.document_fromstring(view.html)
    text = " ".join(page.itertext())
    for account in accounts:
        assert account in text
    grand = [tr for tr in page.iter("tr") if "Genel toplam" in "".join(tr.itertext())]
    cells = [td.text_content().strip() for td in grand[0].iter("td")]
    assert cells[-2:] == [f"{debit:.2f}", f"{credit:.2f}"]
    assert debit == credit  # a journal balances; the sample is made to
    data_rows = [tr for tr in page.iter("tr") if "class" not in tr.attrib and len(tr.findall("td")) == 7]
    assert len(data_rows) == count
    assert "ş" in text or "ı" in text  # Turkish text passes through untouched


@pytest.mark.parametrize("name", ["4700012349-202501-YB-000000.xml", "GIB-4700012349-202501-YB-000000.xml"])
def test_berats_get_a_summary(name):
    path = EDEFTER / name
    root = etree.parse(str(path)).getroot()
    unique = next(el.text for el in root.iter() if _ln(el) == "uniqueID")
    text = " ".join(lhtml.document_fromstring(render_html(path.read_bytes()).html).itertext())
    assert unique in text and "4700012349" in text
    assert ("var (karşı imza)" in text) == name.startswith("GIB-")  # GİB's counter-signature shown as approval


def test_ledger_sheets_add_up_page_by_page():
    from tests.unit.render.test_pdf import _long_ledger

    data = _long_ledger(6)
    path_total_d = path_total_c = Decimal(0)
    root = etree.fromstring(data)
    for d in (el for el in root.iter() if _ln(el) == "entryDetail"):
        amount = Decimal(next(c.text for c in d if _ln(c) == "amount"))
        if next(c.text for c in d if _ln(c) == "debitCreditCode").strip().upper().startswith("D"):
            path_total_d += amount
        else:
            path_total_c += amount
    page = lhtml.document_fromstring(render_html(data).html)
    sheets = page.find_class("sheet")
    assert len(sheets) >= 3
    carried = (Decimal(0), Decimal(0))

    def money(tr) -> tuple[Decimal, Decimal]:
        cells = [td.text_content().strip() for td in tr.findall("td")]
        return Decimal(cells[-2] or 0), Decimal(cells[-1] or 0)

    for n, sheet in enumerate(sheets, start=1):
        rows = sheet.findall(".//tbody/tr")
        carry = [tr for tr in rows if "carry" in tr.get("class", "")]
        assert (money(carry[0]) if carry else (Decimal(0), Decimal(0))) == carried
        lines = [tr for tr in rows if not tr.get("class") and len(tr.findall("td")) == 7]
        own = (sum((money(tr)[0] for tr in lines), Decimal(0)), sum((money(tr)[1] for tr in lines), Decimal(0)))
        (total,) = [tr for tr in rows if "page-total" in tr.get("class", "")]
        assert f"Sayfa {n} toplamı" in total.text_content() and money(total) == own
        carried = (carried[0] + own[0], carried[1] + own[1])
        (running,) = [tr for tr in rows if "running" in tr.get("class", "")]
        assert money(running) == carried
    assert carried == (path_total_d, path_total_c)
    assert "Genel toplam" in sheets[-1].text_content()
