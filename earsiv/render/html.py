"""The HTML view of a document: its own stylesheet, else GİB's, else built-in.

Order (issue 5, item 1):

1. each stylesheet the document embeds (``AdditionalDocumentReference`` whose
   DocumentType is XSLT or whose attachment is named ``*.xsl[t]``), in
   document order; empty, undecodable, refused or failing ones are skipped;
2. GİB's published default stylesheet for the kind (shipped in ``stylesheets/``);
3. the built-in template, which also renders envelopes, ledgers and berats.

A stylesheet's output is only accepted when it shows the document's ID and
its parties, every note and every line item: a print that drops any is not a copy
(LAW.md L6), so such output falls through to the next candidate.  Whatever a
stylesheet wrote is then defused (scripts, frames, event handlers and any
reference that is not a ``data:`` URI are removed) and the page carries a
Content-Security-Policy that forbids loading anything.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from importlib import resources

from lxml import etree
from lxml import html as lhtml

from earsiv.documents.metadata import DocumentMetadata
from earsiv.documents.parse import parse_document
from earsiv.documents.xmlsafe import parse_xml
from earsiv.render.builtin import builtin_html
from earsiv.render.errors import StylesheetRefused
from earsiv.render.xslt import Sandbox, default_sandbox

__all__ = ["CSP", "GIB_STYLESHEETS", "HtmlView", "embedded_stylesheets", "gib_stylesheet", "render_html"]

GIB_STYLESHEETS = {
    "e-fatura": "general.xslt",
    "e-arsiv": "general.xslt",
    "e-smm": "general.xslt",
    "e-mm": "general.xslt",
    "e-irsaliye": "irsaliye.xslt",
    "irsaliye-yaniti": "irsaliyeyaniti.xslt",
    "uygulama-yaniti": "appResponse.xslt",
}
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:"
_UBL_ROOTS = ("Invoice", "CreditNote", "DespatchAdvice", "ReceiptAdvice", "ApplicationResponse")
_DROP = ("script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "link", "meta", "form")
_URL_ATTRS = ("src", "href", "action", "background", "poster", "srcset", "data", "formaction", "xlink:href")


@dataclass(frozen=True, slots=True)
class HtmlView:
    html: str
    source: str  # "embedded:N" (1-based), "gib:<file>", or "builtin"
    problems: tuple[str, ...]  # why earlier candidates were skipped
    metadata: DocumentMetadata


def _ln(el) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def embedded_stylesheets(root: etree._Element) -> list[bytes | str]:
    """Decoded embedded stylesheets; a ``str`` says why one could not be decoded."""
    out: list[bytes | str] = []
    for ref in (c for c in root if _ln(c) == "AdditionalDocumentReference"):
        doc_type = "".join(c.text or "" for c in ref if _ln(c) == "DocumentType").strip().upper()
        for att in (c for c in ref if _ln(c) == "Attachment"):
            for obj in (c for c in att if _ln(c) == "EmbeddedDocumentBinaryObject"):
                fname = (obj.get("filename") or "").lower()
                if doc_type != "XSLT" and not fname.endswith((".xslt", ".xsl")):
                    continue
                try:
                    out.append(base64.b64decode("".join((obj.text or "").split()), validate=True))
                except (binascii.Error, ValueError) as exc:
                    out.append(f"base64 does not decode ({exc})")
    return out


def gib_stylesheet(kind: str) -> bytes | None:
    name = GIB_STYLESHEETS.get(kind)
    return resources.files(__package__).joinpath("stylesheets", name).read_bytes() if name else None


def _text(page: etree._Element) -> str:
    return " ".join(" ".join(page.itertext()).split())


def _squash(text: str) -> str:
    return "".join(text.split()).casefold()


def _missing(root: etree._Element, md: DocumentMetadata, shown: str) -> str | None:
    """What of the document the output leaves out (ID, parties, notes, line items), or None."""
    shown = _squash(shown)
    wanted: list[tuple[str, str]] = []
    if md.doc_id:
        wanted.append(("the document ID", md.doc_id))
    for party in (md.supplier, md.customer):
        if party is not None and party.name:
            wanted.append((f"the {party.role}", party.name))
    wanted += [("a note", "".join(n.itertext())) for n in root if _ln(n) == "Note"]
    for line in (c for c in root if _ln(c).endswith("Line")):
        item = next((c for c in line if _ln(c) == "Item"), None)
        name = next((c for c in item if _ln(c) == "Name"), None) if item is not None else None
        if name is not None:
            wanted.append(("line item", "".join(name.itertext())))
    for what, text in wanted:
        if _squash(text) and _squash(text) not in shown:
            return f"it leaves out {what} {' '.join(text.split())[:60]!r}"
    return None


def _defuse(page: etree._Element) -> None:
    for el in list(page.iter(*_DROP)):
        el.drop_tree()
    for el in page.iter():
        if not isinstance(el.tag, str):
            continue
        for attr in list(el.attrib):
            low = attr.lower()
            value = el.get(attr, "").strip().lower()
            if low.startswith("on") or low in _URL_ATTRS and not value.startswith(("data:", "#")) and value or low == "style" and ("url(" in value or "@import" in value or "expression(" in value):
                del el.attrib[attr]
    for style in page.iter("style"):
        if style.text and ("@import" in style.text or "url(" in style.text.replace("url(data:", "").replace("url('data:", "").replace('url("data:', "")):
            style.text = "/* external references removed */"


def _finish(markup: str) -> etree._Element:
    page = lhtml.document_fromstring(markup)
    _defuse(page)
    head = page.find("head")
    if head is None:
        head = etree.Element("head")
        page.insert(0, head)
    head.insert(0, etree.Element("meta", {"http-equiv": "Content-Security-Policy", "content": CSP}))
    head.insert(0, etree.Element("meta", charset="utf-8"))
    return page


def _serialize(page: etree._Element) -> str:
    return "<!DOCTYPE html>\n" + lhtml.tostring(page, encoding="unicode")


def render_html(data: bytes, *, name: str = "<bytes>", sandbox: Sandbox | None = None, builtin: bool = False) -> HtmlView:
    """The HTML view of *data*; parse errors of the document itself propagate (IndexerError)."""
    tree = parse_xml(data, name=name)
    md = parse_document(data, name=name, tree=tree)
    root = tree.getroot()
    problems: list[str] = []
    candidates: list[tuple[str, bytes | str]] = []
    if not builtin and _ln(root) in _UBL_ROOTS:
        candidates += [(f"embedded:{i}", sheet) for i, sheet in enumerate(embedded_stylesheets(root), 1)]
        gib = gib_stylesheet(md.kind)
        if gib is not None:
            candidates.append((f"gib:{GIB_STYLESHEETS[md.kind]}", gib))
    for source, sheet in candidates:
        if isinstance(sheet, str):
            problems.append(f"{source}: {sheet}")
            continue
        if not sheet.strip():
            problems.append(f"{source}: stylesheet is empty")
            continue
        try:
            markup = (sandbox or default_sandbox()).transform(data, sheet)
            page = _finish(markup)
        except StylesheetRefused as exc:
            problems.append(f"{source}: {exc}")
            continue
        except (etree.ParserError, ValueError) as exc:
            problems.append(f"{source}: output is not HTML ({exc})")
            continue
        gap = _missing(root, md, _text(page))
        if gap:
            problems.append(f"{source}: output refused: {gap}")
            continue
        return HtmlView(_serialize(page), source, tuple(problems), md)
    notice = ""
    if problems:
        notice = "Belgenin görünüm dosyası kullanılamadı; yerleşik şablon gösteriliyor. " + " | ".join(problems)
    page = _finish(builtin_html(tree, md, notice=notice))
    return HtmlView(_serialize(page), "builtin", tuple(problems), md)
