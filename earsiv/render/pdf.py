"""PDF/A-3b prints that carry their own original and proof.

The HTML view (``html.py``) is laid out on A4 by WeasyPrint as PDF/A-3b, the
variant that allows embedded files of any type.  As Factur-X does, the
original XML is embedded as an associated file (catalog ``/AF``) with
``/AFRelationship /Source``; the evidence JSON sits beside it as
``/Supplement``.  Every page's footer ties the paper to the electronic
original: kind, ID, ETTN, sha256, log index, checkpoint time, signature status
and a QR code holding ``sha256:<digest>``.

Nothing outside the HTML is ever fetched: the URL fetcher accepts ``data:``
URIs only, so a stylesheet's ``<img src="file:///etc/passwd">`` or
``@import url(http://…)`` loads nothing.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
from dataclasses import dataclass
from html import escape

from lxml import html as lhtml

from earsiv.documents.metadata import KINDS, SIGNATURE_STATUSES, SignatureReport
from earsiv.documents.sigwords import signature_words
from earsiv.render.errors import RenderError
from earsiv.render.html import HtmlView, render_html
from earsiv.render.xslt import Sandbox

__all__ = ["EVIDENCE_NAME", "MAX_SCALE", "ORIGINAL_NAME", "PRINT_CSS", "Provenance", "print_css", "qr_svg", "render_pdf"]

ORIGINAL_NAME = "original.xml"
EVIDENCE_NAME = "evidence.json"
_DIGEST = re.compile(r"^[0-9a-f]{64}$")

# Appended after the document's own CSS, so it wins for page geometry; widths
# are capped so that stylesheets written for an 800 px screen still fit A4.
# ``{f}`` is the layout scale: a page that still overflows A4 is laid out on a
# page ``f`` times larger and printed at ``1/f`` (WeasyPrint's zoom scales the
# page too), so nothing is cut off; the footer is scaled up by ``f`` first so
# that it prints at the same size on every document.
PRINT_CSS = """
@page {{ size: {w:.2f}mm {h:.2f}mm; margin: {mt:.2f}mm {mr:.2f}mm {mb:.2f}mm {mr:.2f}mm;
  @bottom-left {{ content: element(earsivfooter); width: 100%; vertical-align: top; }}
  @bottom-right {{ content: "Sayfa " counter(page) " / " counter(pages); font: {fp:.2f}pt "DejaVu Sans", sans-serif; vertical-align: bottom; }}
}}
html, body {{ font-family: "DejaVu Sans", sans-serif; }}
body {{ margin: 0 !important; width: auto !important; min-width: 0 !important; }}
table, div, img {{ max-width: 100% !important; }}
td, th {{ overflow-wrap: break-word; }}
#earsiv-footer {{ position: running(earsivfooter); font: {ff:.2f}pt/1.3 "DejaVu Sans", sans-serif; color: #000;
  border-top: {bt:.2f}pt solid #000; padding-top: {pt:.2f}mm; display: flex; gap: {gap:.2f}mm; }}
#earsiv-footer img {{ width: {qr:.2f}mm; height: {qr:.2f}mm; flex: none; }}
#earsiv-footer .t {{ overflow-wrap: break-word; }}
"""
MAX_SCALE = 1.6  # beyond this the print would be too small to read; WeasyPrint then wraps what it can


def print_css(f: float = 1.0) -> str:
    return PRINT_CSS.format(w=210 * f, h=297 * f, mt=12 * f, mr=10 * f, mb=34 * f, fp=7 * f, ff=6.5 * f, bt=0.5 * f,
                            pt=1.5 * f, gap=3 * f, qr=22 * f)


@dataclass(frozen=True, slots=True)
class Provenance:
    """What the footer states; validated so that a print cannot lie about its original."""

    digest: str
    kind: str
    doc_id: str | None = None
    ettn: str | None = None
    log_index: int | None = None
    checkpoint_time: str | None = None  # of the stamped checkpoint that proves the document
    signature_status: str = "pending"
    # for a consistent signature: what else was checked (documents/metadata.py)
    signature_trust: str | None = None
    signature_trust_reason: str | None = None
    signer_relation: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.digest, str) or not _DIGEST.match(self.digest):
            raise ValueError(f"digest must be 64 lowercase hex digits, not {self.digest!r}")
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}")
        if self.signature_status not in SIGNATURE_STATUSES:
            raise ValueError(f"unknown signature status {self.signature_status!r}")
        # the same checks as a report's: a footer cannot claim a trust the inspection did not give
        SignatureReport(status=self.signature_status, trust=self.signature_trust,
                        trust_reason=self.signature_trust_reason, signer=self.signer_relation)
        if self.log_index is not None and (not isinstance(self.log_index, int) or self.log_index < 0):
            raise ValueError(f"log index must be a non-negative integer, not {self.log_index!r}")

    @property
    def signature_words(self) -> str:
        """E.g. "tutarlı, güvenilir kök, imzacı = satıcı": says which checks were made, never a bare "geçerli"."""
        return signature_words(self.signature_status, self.signature_trust, self.signature_trust_reason,
                               self.signer_relation)

    def lines(self) -> list[str]:
        proof = (f"log kaydı #{self.log_index}" if self.log_index is not None else "log kaydı yok") + ", " + (
            f"kontrol noktası {self.checkpoint_time}" if self.checkpoint_time else "henüz zaman damgalı kontrol noktası yok")
        return [
            f"Tür: {self.kind} · No: {self.doc_id or '—'} · ETTN: {self.ettn or '—'}",
            f"SHA-256: {self.digest}",
            f"Kanıt: {proof} · İmza: {self.signature_words}",
            f"Elektronik aslın çıktısıdır; asıl ({ORIGINAL_NAME}) ve kanıt ({EVIDENCE_NAME}) bu PDF'e gömülüdür.",
        ]


def qr_svg(text: str) -> bytes:
    import qrcode
    import qrcode.image.svg

    img = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=1,
                      error_correction=qrcode.constants.ERROR_CORRECT_M)
    buf = io.BytesIO()
    img.save(buf)
    return buf.getvalue()


def _footer(prov: Provenance) -> str:
    qr = base64.b64encode(qr_svg(f"sha256:{prov.digest}")).decode()
    text = "<br>".join(escape(line) for line in prov.lines())
    return (f'<div id="earsiv-footer"><img alt="sha256:{prov.digest}" src="data:image/svg+xml;base64,{qr}">'
            f'<div class="t">{text}</div></div>')


def _print_html(view: HtmlView, prov: Provenance) -> str:
    page = lhtml.document_fromstring(view.html)
    head, body = page.find("head"), page.find("body")
    style = lhtml.Element("style", id="earsiv-print")
    style.text = "{print_css}"
    head.append(style)
    for name, content in (("description", f"sha256:{prov.digest}"), ("keywords", f"{prov.kind}, {prov.doc_id or ''}, {prov.ettn or ''}")):
        head.append(lhtml.Element("meta", name=name, content=content))
    if head.find("title") is None:
        title = lhtml.Element("title")
        head.append(title)
    head.find("title").text = f"{prov.kind} {prov.doc_id or prov.digest[:16]}"
    body.insert(0, lhtml.fragment_fromstring(_footer(prov)))
    return lhtml.tostring(page, encoding="unicode")


def _fetcher():
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols=("data",), fail_on_errors=False, timeout=1)


def _widest(document) -> float:
    """How many times wider than its page the widest laid-out box is (1.0: it fits)."""
    ratio = 0.0
    for page in document.pages:
        # margin boxes (the footer) are sized to the page by construction: only the content counts
        stack = [b for b in page._page_box.children if type(b).__name__ != "MarginBox"]
        right = 0.0
        while stack:
            box = stack.pop()
            x, width = getattr(box, "position_x", None), getattr(box, "margin_width", None)
            if x is not None and width is not None:
                right = max(right, x + width())
            stack.extend(getattr(box, "children", ()))
        ratio = max(ratio, right / page.width)
    return ratio


_SCALES: dict[tuple, float] = {}
_SCALES_MAX = 4096


def _remember_scale(key: tuple, scale: float) -> None:
    if scale == 1.0:
        _SCALES.pop(key, None)
        return
    if len(_SCALES) >= _SCALES_MAX:
        _SCALES.pop(next(iter(_SCALES)))
    _SCALES[key] = scale


def render_pdf(data: bytes, prov: Provenance, *, evidence: dict | None = None, view: HtmlView | None = None,
               sandbox: Sandbox | None = None) -> bytes:
    """A PDF/A-3b print of *data*, with *data* and *evidence* embedded."""
    if hashlib.sha256(data).hexdigest() != prov.digest:
        raise RenderError("the bytes to print are not the document the provenance names (sha256 differs)")
    from weasyprint import HTML, Attachment

    view = view or render_html(data, sandbox=sandbox)
    markup = _print_html(view, prov)
    options = {"pdf_variant": "pdf/a-3b", "uncompressed_pdf": False}
    attachments = [
        Attachment(string=data, name=ORIGINAL_NAME, description="Elektronik asıl (original document, byte for byte)",
                   relationship="Source"),
        Attachment(string=json.dumps(evidence or {"digest": prov.digest, "evidence": None}, indent=2, ensure_ascii=False).encode(),
                   name=EVIDENCE_NAME, description="Kanıt: log leaf, inclusion proof, checkpoint, time-stamp token",
                   relationship="Supplement"),
    ]
    # a document's own broken images (placeholders such as "LOGO BU ALANA EKLENECEK") are not our error
    logging.getLogger("weasyprint").setLevel(logging.CRITICAL)
    supplier = view.metadata.supplier
    key = (view.metadata.kind, supplier.id if supplier else None, view.source)
    try:
        # An issuer's documents share a stylesheet and so, nearly always, the scale its
        # layout needs: start from the last one found, and lay out once instead of twice.
        scale = _SCALES.get(key, 1.0)
        while True:
            html = HTML(string=markup.replace("{print_css}", print_css(scale)), url_fetcher=_fetcher(), base_url="data:,")
            document = html.render(**options)
            wide = _widest(document)
            if scale > 1.0 and wide < 0.9:
                # Narrower than its issuer's last document: do not print it smaller than needed.
                scale = max(1.0, scale * wide * 1.02)
                continue
            if wide <= 1.01 or scale >= MAX_SCALE:
                break
            scale = min(MAX_SCALE, scale * wide * 1.02)
        _remember_scale(key, scale)
        return document.write_pdf(zoom=1 / scale, attachments=attachments, **options)
    except Exception as exc:  # WeasyPrint raises many types; the caller needs one
        raise RenderError(f"PDF layout failed: {exc.__class__.__name__}: {exc}") from exc
