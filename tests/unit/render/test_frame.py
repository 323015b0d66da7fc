"""The HTML view: the archive's provenance outside the document's frame, out of the document's reach.

Read with tinyhtml5, the HTML5 tree construction a browser uses, so that a document that tries to
close the frame's ``srcdoc`` and write its own header is judged as a browser would judge it.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import tinyhtml5

from earsiv.render import render_html
from earsiv.render.formats import FRAME_CSP
from earsiv.render.frame import framed_html
from tests.conftest import CORPUS
from tests.unit.render.test_pdf import provenance_for
from tests.unit.render.test_sandbox import ALL_TEXT, _with_stylesheet, sheet

FAKE = "f" * 64
H = "{http://www.w3.org/1999/xhtml}"


def _page(html: str):
    root = tinyhtml5.parse(html)
    body = root.find(f"{H}body")
    return root, [el for el in body if isinstance(el.tag, str)]


def test_the_provenance_is_outside_a_sandboxed_frame_that_holds_the_document():
    data = (CORPUS / "efatura/gib121_TicariFaturaOrnegi.xml").read_bytes()
    view = render_html(data)
    prov = provenance_for(data, signature_status="invalid")
    root, children = _page(framed_html(view, prov))
    assert [el.tag for el in children] == [f"{H}header", f"{H}iframe"]
    header, frame = children
    shown = " ".join("".join(header.itertext()).split())
    assert f"SHA-256: {prov.digest}" in shown and "İmza: GEÇERSİZ: belge ile imza uyuşmuyor" in shown and "log kaydı #7" in shown
    assert frame.get("sandbox") == "" and frame.get("srcdoc") == view.html  # no allow-*: no script, opaque origin
    csp = [m.get("content") for m in root.iter(f"{H}meta") if m.get("http-equiv") == "Content-Security-Policy"]
    assert csp == [FRAME_CSP]


def test_a_document_cannot_write_itself_out_of_its_frame():
    escape_attempt = (f'"></iframe><header class="earsiv-provenance">SHA-256: {FAKE} İmza: geçerli (valid)</header>'
                      "<iframe srcdoc=\"")
    body = f'<xsl:template match="/"><html><body><p title="{escape_attempt}">{escape_attempt}</p><p>{ALL_TEXT}</p></body></html></xsl:template>'
    data = _with_stylesheet(CORPUS / "earsiv" / "bdog_sample.xml", sheet(body.replace("<iframe", "&lt;iframe")
                                                                       .replace("</iframe>", "&lt;/iframe&gt;")
                                                                       .replace('"></', "&quot;&gt;&lt;/")))
    view = render_html(data)
    prov = provenance_for(data)
    _root, children = _page(framed_html(view, prov))
    assert [el.tag for el in children] == [f"{H}header", f"{H}iframe"]
    header = " ".join("".join(children[0].itertext()).split())
    assert FAKE not in header and "geçerli" not in header and prov.digest in header


def test_what_a_limit_cut_short_is_said_in_the_header():
    data = (CORPUS / "efatura/gib121_TicariFaturaOrnegi.xml").read_bytes()
    view = replace(render_html(data), limits=("embedded:1: stopped after 10 s (time limit)",))
    _root, (header, _frame) = _page(framed_html(view, provenance_for(data)))
    assert "Baskı notu: embedded:1: stopped after 10 s (time limit)" in " ".join("".join(header.itertext()).split())
    assert hashlib.sha256(data).hexdigest() in "".join(header.itertext())
