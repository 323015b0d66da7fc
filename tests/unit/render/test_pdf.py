"""PDF/A-3b prints: structure, embedded original and evidence, complete text, a footer on every page.

veraPDF is not available here, so PDF/A is checked by its markers: XMP
``pdfaid:part`` 3 and ``pdfaid:conformance`` B, an sRGB output intent, and the
original as an associated file (catalog /AF, AFRelationship Source).  Text is
read back with poppler's ``pdftotext``; pixels with ``pdftoppm``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path

import pytest
from lxml import etree

from earsiv.render import Provenance, RenderError, render_html, render_pdf
from tests.conftest import CORPUS, MALFORMED, ROOT, corpus_files
from tests.unit.render.pdfcheck import (
    amount_forms,
    gray_page,
    is_a4,
    need_poppler,
    squash,
    structure,
    text,
)
from tests.unit.render.test_html import expectations

EDEFTER = ROOT / "tests" / "assets" / "edefter"
WELL_FORMED = [p for p in corpus_files() if p.relative_to(CORPUS).as_posix() not in MALFORMED]
REPRESENTATIVE = [
    CORPUS / "earsiv/bdog_sample.xml",  # real signed e-Arşiv, its own stylesheet
    CORPUS / "efatura/gib121_TicariFaturaOrnegi.xml",  # GİB's general.xslt
    CORPUS / "efatura/sk-fullboard_20251120150654847473.xml",  # real, CRLF, its own stylesheet
    CORPUS / "eirsaliye/gib121_Irsaliye-Ornek1.xml",  # GİB's irsaliye.xslt
    CORPUS / "efatura/responses/gib121_KabulUygulamaYanitiOrnegi.xml",  # appResponse.xslt
    CORPUS / "efatura/envelopes/gibpkt_1_TEMEL_FATURA_ZARF.xml",  # built-in envelope
    CORPUS / "earsiv/gibfw_SerbestMeslekMakbuzu.xml",  # not UBL: built-in generic
    EDEFTER / "4700012349-202501-Y-000000.xml",  # built-in journal
]
EVIDENCE = {"v": 1, "note": "test evidence", "log_index": 7}


def provenance_for(data: bytes, **over) -> Provenance:
    md = render_html(data).metadata
    fields = {"digest": hashlib.sha256(data).hexdigest(), "kind": md.kind, "doc_id": md.doc_id, "ettn": md.ettn, "log_index": 7,
                  "checkpoint_time": "2026-01-02T03:04:05+00:00", "signature_status": "unsigned"}
    fields.update(over)
    return Provenance(**fields)


def check_print(path: Path) -> None:
    data = path.read_bytes()
    view = render_html(data)
    md = view.metadata
    prov = provenance_for(data)
    pdf = render_pdf(data, prov, evidence=EVIDENCE, view=view)
    facts = structure(pdf)
    # PDF/A-3b markers and A4
    assert (facts["pdfa_part"], facts["pdfa_conformance"]) == ("3", "B")
    assert "/GTS_PDFA1" in facts["output_intents"]
    assert facts["pages"] and all(is_a4(s) for s in facts["pages"])
    # the original, byte for byte, as the Source associated file; the evidence beside it
    original = facts["files"]["original.xml"]
    assert original["relationship"] == "/Source" and original["data"] == data
    assert "xml" in original["subtype"]
    evidence = facts["files"]["evidence.json"]
    assert evidence["relationship"] == "/Supplement" and json.loads(evidence["data"]) == EVIDENCE
    # the text: identity, parties, totals, every line item
    whole = squash(text(pdf)).casefold()
    doc_id, items = expectations(path)
    for value in (doc_id, md.ettn, md.supplier.name if md.supplier else None, md.customer.name if md.customer else None):
        if value:
            assert squash(value).casefold() in whole, f"{value!r} not in the PDF text ({view.source})"
    if md.payable_amount is not None:
        assert any(squash(f).casefold() in whole for f in amount_forms(md.payable_amount)), md.payable_amount
    for item in items:
        assert squash(item).casefold() in whole, f"line item {item!r} missing ({view.source})"
    # every page carries the footer that ties it to the original
    n = len(facts["pages"])
    for page in range(1, n + 1):
        page_text = squash(text(pdf, page))
        assert prov.digest in page_text and "logkaydı#7" in page_text and f"Sayfa{page}/{n}" in page_text


def test_poppler_is_installed():
    need_poppler()


@pytest.mark.parametrize("path", REPRESENTATIVE, ids=lambda p: p.name)
def test_representative_prints(path):
    need_poppler()
    check_print(path)


@pytest.mark.slow
def test_every_corpus_document_prints():
    need_poppler()
    failures = []
    for path in WELL_FORMED:
        try:
            check_print(path)
        except (AssertionError, RenderError) as exc:
            failures.append(f"{path.relative_to(CORPUS)}: {exc}")
    assert not failures, "\n".join(failures)


def long_invoice(lines: int) -> bytes:
    """GİB's TemelFaturaOrnegi with its one line repeated *lines* times, each named apart (Turkish letters included)."""
    tree = etree.parse(str(CORPUS / "efatura/gib121_TemelFaturaOrnegi.xml"))
    root = tree.getroot()
    cbc = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
    cac = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
    first = next(el for el in root if etree.QName(el).localname == "InvoiceLine")
    at = list(root).index(first)
    for el in [el for el in root if etree.QName(el).localname == "InvoiceLine"]:
        root.remove(el)
    for i in range(1, lines + 1):
        line = copy.deepcopy(first)
        line.find(f"{{{cbc}}}ID").text = str(i)
        line.find(f"{{{cac}}}Item/{{{cbc}}}Name").text = f"Kalem {i:03d} çığöşü İŞĞ"
        root.insert(at + i - 1, line)
    count = root.find(f"{{{cbc}}}LineCountNumeric")
    if count is not None:
        count.text = str(lines)
    anchor = (root.findall(f"{{{cbc}}}Note") or root.findall(f"{{{cbc}}}InvoiceTypeCode"))[-1]
    anchor.addnext(etree.fromstring(f'<cbc:Note xmlns:cbc="{cbc}">Son not: {lines} kalem, hepsi basılmalı.</cbc:Note>'))
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def _check_long(lines: int) -> None:
    data = long_invoice(lines)
    pdf = render_pdf(data, provenance_for(data))
    facts = structure(pdf)
    assert len(facts["pages"]) > 1
    whole = text(pdf)
    for i in range(1, lines + 1):
        assert f"Kalem {i:03d} çığöşü İŞĞ" in whole, f"line {i} missing"
    assert f"Son not: {lines} kalem, hepsi basılmalı." in squash(whole) or squash(f"Son not: {lines} kalem, hepsi basılmalı.") in squash(whole)
    for page in range(1, len(facts["pages"]) + 1):
        assert hashlib.sha256(data).hexdigest() in squash(text(pdf, page))


def test_a_long_invoice_prints_every_line_on_as_many_pages_as_it_needs():
    need_poppler()
    _check_long(24)


@pytest.mark.slow
def test_a_300_line_invoice_prints_every_line():
    need_poppler()
    _check_long(300)


def test_the_page_as_an_image_is_a4_with_a_footer_and_a_qr_code():
    """Stated expectations for page 1 at 50 dpi: 413×585 px (A4); the 34 mm bottom margin holds the
    footer, whose left 22 mm square is a QR code (between 30 % and 70 % dark); the body is not blank."""
    need_poppler()
    data = (CORPUS / "efatura/gib121_TicariFaturaOrnegi.xml").read_bytes()
    pdf = render_pdf(data, provenance_for(data))
    dpi = 50
    w, h, px = gray_page(pdf, 1, dpi)
    assert w in (int(210 / 25.4 * dpi), int(210 / 25.4 * dpi) + 1) and h in (int(297 / 25.4 * dpi), int(297 / 25.4 * dpi) + 1)
    mm = dpi / 25.4

    def dark(x0, y0, x1, y1) -> float:
        cells = [px[y * w + x] for y in range(int(y0), int(y1)) for x in range(int(x0), int(x1))]
        return sum(1 for v in cells if v < 128) / len(cells)

    footer_top = h - 34 * mm
    qr = dark(10 * mm, footer_top + 2 * mm, 10 * mm + 22 * mm, footer_top + 2 * mm + 22 * mm)
    assert 0.3 < qr < 0.7, qr
    assert dark(35 * mm, footer_top + 2 * mm, 200 * mm, footer_top + 15 * mm) > 0.02  # the footer's text
    assert dark(10 * mm, 12 * mm, 200 * mm, footer_top - 5 * mm) > 0.01  # the invoice itself
    assert dark(0, 0, w, 8 * mm) == 0  # the top margin stays white


def test_turkish_characters_come_back_out_of_the_pdf():
    need_poppler()
    data = (EDEFTER / "4700012349-202501-Y-000000.xml").read_bytes()
    out = text(render_pdf(data, provenance_for(data)))
    assert "Örnek Kırtasiye Ticaret A.Ş." in out and "Ayşe Yılmaz" in out


def test_a_print_refuses_bytes_that_are_not_the_named_original():
    data = (CORPUS / "efatura/gib121_TicariFaturaOrnegi.xml").read_bytes()
    prov = provenance_for(data)
    with pytest.raises(RenderError, match="sha256"):
        render_pdf(data + b" ", prov)


@pytest.mark.parametrize("bad", [{"digest": "abc"}, {"kind": "invoice"}, {"signature_status": "ok"}, {"log_index": -1}])
def test_provenance_validates_itself(bad):
    data = b"<a/>"
    with pytest.raises(ValueError):
        Provenance(**{"digest": hashlib.sha256(data).hexdigest(), "kind": "other", **bad})


def test_a_stylesheet_cannot_make_the_pdf_load_local_files():
    need_poppler()
    from tests.unit.render.test_sandbox import ALL_TEXT, SECRET, _with_stylesheet, sheet

    template = CORPUS / "earsiv" / "bdog_sample.xml"
    body = ('<xsl:template match="/"><html><head><style>@import url(file:///etc/passwd);</style></head><body>'
            '<img src="file:///etc/passwd"/><object data="file:///etc/passwd"/>'
            '<div style="background: url(file:///etc/passwd)">x</div>'
            f'<p>{ALL_TEXT}</p></body></html></xsl:template>')
    data = _with_stylesheet(template, sheet(body))
    view = render_html(data)
    assert view.source == "embedded:1", view.problems  # the hostile output itself is what gets printed
    pdf = render_pdf(data, provenance_for(data), view=view)
    assert SECRET not in text(pdf)
    assert b"root:x:0:0" not in pdf


def _long_ledger(copies: int) -> bytes:
    """The synthetic journal with its entries repeated: enough lines for many printed pages."""
    root = etree.parse(str(EDEFTER / "4700012349-202501-Y-000000.xml")).getroot()
    headers = [el for el in root.iter() if etree.QName(el).localname == "entryHeader"]
    parent = headers[0].getparent()
    for _ in range(copies):
        for h in headers:
            parent.append(copy.deepcopy(h))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@pytest.mark.slow
def test_a_long_ledger_prints_totals_on_every_page():
    """Paper ledgers carry each page's totals and the running total forward (nakli yekün)."""
    need_poppler()
    data = _long_ledger(12)
    pdf = render_pdf(data, provenance_for(data))
    pages = len(structure(pdf)["pages"])
    assert pages >= 3
    with_lines = 0
    for n in range(1, pages + 1):
        page = squash(text(pdf, n))
        if "Fiş" in page and ("Borç" in page or "toplamı" in page):
            with_lines += 1
            # A page that shows journal lines shows its own total on the same page.
            assert re.search(r"Sayfa\d+toplamı", page) and ("Nakliyekün" in page or "Geneltoplam" in page), n
    assert with_lines >= 3
