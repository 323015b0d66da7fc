"""PDF/A-3b prints that carry their own original and proof.

The HTML view (``html.py``) is laid out on A4 by WeasyPrint as PDF/A-3b, the
variant that allows embedded files of any type.  As Factur-X does, the
original XML is embedded as an associated file (catalog ``/AF``) with
``/AFRelationship /Source``; the evidence JSON sits beside it as
``/Supplement``.  Every page carries a stamp that ties the paper to the
electronic original: kind, ID, ETTN, sha256, log index, checkpoint time,
signature status, page number and a QR code holding ``sha256:<digest>``.  The
stamp is drawn on each laid-out page after the document's layout, outside the
document's cascade (``stamp.py``), so no document can move, hide or imitate it.

Nothing outside the HTML is ever fetched: the URL fetcher accepts ``data:``
URIs only, so a stylesheet's ``<img src="file:///etc/passwd">`` or
``@import url(http://…)`` loads nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging

from earsiv.render.errors import RenderError
from earsiv.render.html import HtmlView, render_html
from earsiv.render.provenance import EVIDENCE_NAME, ORIGINAL_NAME, Provenance
from earsiv.render.stamp import page_css, qr_svg, stamp_pages
from earsiv.render.xslt import Sandbox

__all__ = ["EVIDENCE_NAME", "MAX_SCALE", "ORIGINAL_NAME", "Provenance", "page_css", "qr_svg", "render_pdf"]

# A page that still overflows A4 is laid out on a page ``f`` times larger and
# printed at ``1/f`` (WeasyPrint's zoom scales the page too), so nothing is cut
# off; the stamp is laid out at the same ``f`` so that it prints at the same
# size on every document.
MAX_SCALE = 1.6  # beyond this the print would be too small to read; WeasyPrint then wraps what it can


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


def _own_metadata(document, prov: Provenance) -> None:
    """The PDF's title and subject come from the provenance, never from the document's <head>."""
    meta = document.metadata
    meta.title = f"{prov.kind} {prov.doc_id or prov.digest[:16]}"
    meta.description = f"sha256:{prov.digest}"
    meta.keywords = [prov.kind, *(v for v in (prov.doc_id, prov.ettn) if v)]
    meta.authors, meta.generator, meta.custom, meta.attachments = [], None, {}, []


_LAYOUTS = 4  # at most this many layouts to find the scale; a document whose width moves with the page gets no more


def render_pdf(data: bytes, prov: Provenance, *, evidence: dict | None = None, view: HtmlView | None = None,
               sandbox: Sandbox | None = None, notes: str = "") -> bytes:
    """A PDF/A-3b print of *data*, with *data* and *evidence* embedded.

    *notes* (what a limit cut short) is printed in the stamp of every page.
    """
    if hashlib.sha256(data).hexdigest() != prov.digest:
        raise RenderError("the bytes to print are not the document the provenance names (sha256 differs)")
    from weasyprint import CSS, HTML, Attachment

    view = view or render_html(data, sandbox=sandbox)
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
        for _ in range(_LAYOUTS):
            html = HTML(string=view.html, url_fetcher=_fetcher(), base_url="data:,")
            document = html.render(stylesheets=[CSS(string=page_css(scale))], **options)
            wide = _widest(document)
            if scale > 1.0 and wide < 0.9:
                # Narrower than its issuer's last document: do not print it smaller than needed.
                scale = max(1.0, scale * wide * 1.02)
                continue
            if wide <= 1.01 or scale >= MAX_SCALE:
                break
            scale = min(MAX_SCALE, scale * wide * 1.02)
        else:
            html = HTML(string=view.html, url_fetcher=_fetcher(), base_url="data:,")
            document = html.render(stylesheets=[CSS(string=page_css(scale))], **options)
        _remember_scale(key, scale)
        _own_metadata(document, prov)
        stamp_pages(document, prov, scale, notes)
        return document.write_pdf(zoom=1 / scale, attachments=attachments, **options)
    except (RenderError, MemoryError):
        raise
    except Exception as exc:  # WeasyPrint raises many types; the caller needs one
        raise RenderError(f"PDF layout failed: {exc.__class__.__name__}: {exc}") from exc
