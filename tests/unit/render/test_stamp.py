"""The stamp that ties every printed page to its original cannot be hidden, moved or imitated by the document.

The attack (issue "Hostile tenants and hostile documents", item 5): a document's stylesheet hid the
footer, which was an element of its own HTML, and printed a fake ID, digest and "İmza: geçerli".
Here a stylesheet tries everything a stylesheet can: it hides whatever has the footer's id, takes
the page margins and margin boxes, changes the page size, moves text into the stamp zone with a
fixed box and with a transform, and declares a font named "DejaVu Sans" (the stamp's face) so that
the stamp would be drawn with the document's glyphs.  Each page is then read back:

- with pdftotext: the genuine statement on every page, and in the stamp zone nothing else;
- as pixels: the stamp zone is the same as on a print of a blank document with the same provenance;
- with pdffonts: the stamp's text is set in a font of its own.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from earsiv.render import pdf as pdf_module
from earsiv.render import render_html, render_pdf
from earsiv.render.html import HtmlView
from tests.conftest import CORPUS
from tests.unit.render.pdfcheck import fonts, gray_page, is_a4, need_poppler, squash, structure, text
from tests.unit.render.test_pdf import provenance_for
from tests.unit.render.test_sandbox import ALL_TEXT, _with_stylesheet, sheet

FAKE = "0" * 64
ZONE_PT = 34 / 25.4 * 72  # the stamp zone: the bottom 34 mm of an A4 page
A4_PT = (595.28, 841.89)
MONO = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"


def _fake_stamp() -> str:
    return (f"Tür: e-arsiv · No: SAHTE-1 · ETTN: —<br/>SHA-256: {FAKE}<br/>Kanıt: log kaydı #1, kontrol noktası "
            "2026-01-01T00:00:00+00:00 · İmza: geçerli (valid)<br/>Sayfa 1 / 1")


def hostile_document() -> bytes:
    font = base64.b64encode(Path(MONO).read_bytes()).decode()
    css = (
        "@page { size: A3 landscape !important; margin: 0 !important; bleed: 20mm !important; marks: crop cross !important;"
        " @top-center { content: 'SHA-256: SAHTE-UST' !important; }"
        " @bottom-left { content: 'İmza: geçerli (valid) SAHTE-ALT' !important; }"
        " @bottom-right { content: 'Sayfa 1 / 1' !important; } }"
        f" @font-face {{ font-family: 'DejaVu Sans'; src: url(data:font/ttf;base64,{font}); }}"
        " html, body { font-family: 'DejaVu Sans' !important; }"
        " #earsiv-footer, [id^=earsiv], [class^=earsiv] { display: none !important; }"
        " .fake { position: fixed; bottom: -34mm; left: 0; width: 190mm; height: 34mm; background: #fff;"
        "   z-index: 2147483647; font-size: 6.5pt; }"
        " .moved { transform: translateY(300mm); }"
    )
    body = (f'<xsl:template match="/"><html><head><title>SHA-256 {FAKE}</title><style>{css}</style></head><body>'
            f'<div class="fake">{_fake_stamp()}</div><p class="moved">SHA-256: {FAKE} SAHTE-KAYAN</p>'
            f"<p>{ALL_TEXT}</p><p>{ALL_TEXT}</p><p>{ALL_TEXT}</p></body></html></xsl:template>")
    return _with_stylesheet(CORPUS / "earsiv" / "bdog_sample.xml", sheet(body))


def blank_view(like: HtmlView, pages: int) -> HtmlView:
    """A document of *pages* empty pages: what the stamp zone must look like, drawn by nothing but the stamp."""
    body = '<p style="break-after: page">.</p>' * (pages - 1) + "<p>.</p>"
    return replace(like, html=f"<!DOCTYPE html><html><body>{body}</body></html>", source="builtin")


def zone(pdf: bytes, page: int) -> str:
    return text(pdf, page, crop=(0, A4_PT[1] - ZONE_PT + 1, A4_PT[0], ZONE_PT - 1))


@pytest.fixture
def fresh_scales(monkeypatch):
    monkeypatch.setattr(pdf_module, "_SCALES", {})  # both prints laid out at scale 1, whatever ran before


def test_a_hostile_stylesheet_cannot_hide_move_or_imitate_the_stamp(fresh_scales):
    need_poppler()
    data = hostile_document()
    view = render_html(data)
    assert view.source == "embedded:1", view.problems  # the hostile output itself is what gets printed
    prov = provenance_for(data, signature_status="unsigned")
    printed = render_pdf(data, prov, view=view)
    facts = structure(printed)
    n = len(facts["pages"])
    assert n >= 2 and all(is_a4(size) for size in facts["pages"])
    blank = render_pdf(data, prov, view=blank_view(view, n))
    assert len(structure(blank)["pages"]) == n
    for page in range(1, n + 1):
        whole = squash(text(printed, page))
        for genuine in (prov.digest, "Kanıt:logkaydı#7", "İmza:imzasız", f"Sayfa{page}/{n}"):
            assert genuine in whole, f"page {page}: {genuine!r} missing"
        stamp = squash(zone(printed, page))
        assert prov.digest in stamp and f"Sayfa{page}/{n}" in stamp and "İmza:imzasız" in stamp
        for fake in (FAKE, "geçerli", "SAHTE", "Sayfa1/1" if n > 1 and page > 1 else "\0"):
            assert fake not in stamp, f"page {page}: the document's {fake!r} is in the stamp zone"
        assert stamp == squash(zone(blank, page)), f"page {page}: the stamp zone's text is not the stamp's alone"
        # what the eye sees there: exactly what a blank document's print shows
        w, h, pixels = gray_page(printed, page, 60)
        _, _, expected = gray_page(blank, page, 60)
        top = int(h - ZONE_PT / 72 * 60) + 1
        assert pixels[top * w:] == expected[top * w:], f"page {page}: the stamp zone looks different"
    assert "SAHTE-UST" not in text(printed)  # the document has no margin boxes of its own
    stamp_fonts = [f for f in fonts(printed) if "earsiv-stamp-" in f]
    assert stamp_fonts, fonts(printed)


def test_the_pdf_carries_no_file_and_no_title_of_the_documents_making(fresh_scales):
    need_poppler()
    import io

    from pypdf import PdfReader

    fake_original = base64.b64encode(b"<Invoice>SAHTE</Invoice>").decode()
    body = (f'<xsl:template match="/"><html><head><title>SHA-256 {FAKE}</title>'
            f'<meta name="description" content="sha256:{FAKE}"/><meta name="keywords" content="geçerli"/></head><body>'
            f'<a rel="attachment" download="original.xml" href="data:application/octet-stream;base64,{fake_original}">ek</a>'
            f"<p>{ALL_TEXT}</p></body></html></xsl:template>")
    data = _with_stylesheet(CORPUS / "earsiv" / "bdog_sample.xml", sheet(body))
    view = render_html(data)
    assert view.source == "embedded:1", view.problems
    prov = provenance_for(data)
    printed = render_pdf(data, prov, view=view)
    facts = structure(printed)
    assert set(facts["files"]) == {"original.xml", "evidence.json"} and facts["files"]["original.xml"]["data"] == data
    reader = PdfReader(io.BytesIO(printed))
    for page in reader.pages:
        subtypes = [a.get_object().get("/Subtype") for a in page.get("/Annots", [])]
        assert "/FileAttachment" not in subtypes
    assert reader.metadata.subject == f"sha256:{prov.digest}" and FAKE not in (reader.metadata.title or "")
    assert hashlib.sha256(data).hexdigest() == prov.digest


def test_a_print_notes_what_a_limit_cut_short_in_every_stamp(fresh_scales):
    need_poppler()
    data = (CORPUS / "efatura" / "gib121_TicariFaturaOrnegi.xml").read_bytes()
    prov = provenance_for(data)
    printed = render_pdf(data, prov, notes="embedded:1: stopped after 10 s (time limit)")
    n = len(structure(printed)["pages"])
    for page in range(1, n + 1):
        assert "Baskınotu:embedded:1:stoppedafter10s(timelimit)" in squash(zone(printed, page))
