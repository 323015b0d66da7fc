"""The HTML view of a document: its own stylesheet, else GİB's, else built-in.

Order (issue 5, item 1):

1. each stylesheet the document embeds (``AdditionalDocumentReference`` whose
   DocumentType is XSLT or whose attachment is named ``*.xsl[t]``), in
   document order; empty, undecodable, refused or failing ones are skipped;
2. GİB's published default stylesheet for the kind (shipped in ``stylesheets/``);
3. the built-in template, which also renders envelopes, ledgers and berats.

A stylesheet's output is only accepted when it shows the document's ID and
its parties, every note and every line item: a print that drops any is not a copy
(LAW.md L6), so such output falls through to the next candidate.  Nor is output
out of all proportion to the document (a 4 KB invoice whose stylesheet writes
8,000 rows): it would only cost a layout.  Whatever a stylesheet wrote is then
defused (``defuse.py``) and the page carries a Content-Security-Policy that
forbids loading anything.

Limits, each named in the print when it cut something short (``HtmlView.limits``):
at most ``MAX_STYLESHEETS`` embedded stylesheets are tried; for a PDF, a text
longer than ``max_text`` (a 10 MB note would be thousands of pages) is printed
to that length with the built-in template, the whole text staying in the
embedded original; the caller (``pool.py``) adds the time and memory limits
that stopped a stylesheet or a layout.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Collection
from dataclasses import dataclass
from importlib import resources

from lxml import etree
from lxml import html as lhtml

from earsiv.documents.metadata import DocumentMetadata
from earsiv.documents.parse import parse_document
from earsiv.documents.xmlsafe import parse_xml
from earsiv.render.builtin import builtin_html
from earsiv.render.defuse import CSP, defuse, parse_html
from earsiv.render.errors import StylesheetRefused
from earsiv.render.xslt import Sandbox, default_sandbox

__all__ = ["CSP", "GIB_STYLESHEETS", "GROWTH", "MAX_STYLESHEETS", "PRINTED_TEXT", "HtmlView", "embedded_stylesheets",
           "gib_stylesheet", "render_html"]

GIB_STYLESHEETS = {
    "e-fatura": "general.xslt",
    "e-arsiv": "general.xslt",
    "e-smm": "general.xslt",
    "e-mm": "general.xslt",
    "e-irsaliye": "irsaliye.xslt",
    "irsaliye-yaniti": "irsaliyeyaniti.xslt",
    "uygulama-yaniti": "appResponse.xslt",
}
_UBL_ROOTS = ("Invoice", "CreditNote", "DespatchAdvice", "ReceiptAdvice", "ApplicationResponse")
MAX_STYLESHEETS = 3  # embedded stylesheets tried, in document order; real invoices carry one
GROWTH = (20, 5000)  # output elements allowed: 20 per element of the document, plus 5,000
PRINTED_TEXT = 200_000  # characters of one text a PDF prints (~60 pages); the original holds the rest


@dataclass(frozen=True, slots=True)
class HtmlView:
    html: str
    source: str  # "embedded:N" (1-based), "gib:<file>", or "builtin"
    problems: tuple[str, ...]  # why earlier candidates were skipped
    metadata: DocumentMetadata
    limits: tuple[str, ...] = ()  # what a limit cut short: said in the print itself


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


def _finish(markup: str) -> etree._Element:
    page = parse_html(markup)
    defuse(page)
    head = page.find("head")
    if head is None:
        head = etree.Element("head")
        page.insert(0, head)
    head.insert(0, etree.Element("meta", {"http-equiv": "Content-Security-Policy", "content": CSP}))
    head.insert(0, etree.Element("meta", charset="utf-8"))
    return page


def _serialize(page: etree._Element) -> str:
    return "<!DOCTYPE html>\n" + lhtml.tostring(page, encoding="unicode")


def _out_of_proportion(root: etree._Element, page: etree._Element) -> str | None:
    have = sum(1 for _ in root.iter())
    made = sum(1 for _ in page.iter())
    allowed = GROWTH[0] * have + GROWTH[1]
    if made > allowed:
        return f"output refused (limit): {made:,} elements from a document of {have:,} (at most {allowed:,})"
    return None


# Texts no print shows (the built-in template skips them too): embedded files, signatures, certificates.
_UNPRINTED = frozenset({"EmbeddedDocumentBinaryObject", "SignatureValue", "X509Certificate", "EncapsulatedTimeStamp",
                        "DigestValue", "Modulus"})


def _printed_elements(root: etree._Element):
    return (el for el in root.iter() if isinstance(el.tag, str) and _ln(el) not in _UNPRINTED)


def _cut_long_texts(root: etree._Element, limit: int) -> list[str]:
    """Shorten, in place, every printed text longer than *limit*; what was cut, one line each."""
    cut = []
    for el in _printed_elements(root):
        for attr in ("text", "tail"):
            text = getattr(el, attr)
            if text is not None and len(text) > limit:
                setattr(el, attr, text[:limit] + f" […] (+{len(text) - limit:,} karakter, gömülü aslında)")
                where = _ln(el) if attr == "text" else f"after {_ln(el)}"
                cut.append(f"a text ({where}) of {len(text):,} characters is printed to its first {limit:,} "
                           f"(limit); the whole text is in the original")
    return cut


def _longest_text(root: etree._Element) -> int:
    return max((len(t) for el in _printed_elements(root) for t in (el.text, el.tail) if t), default=0)


def render_html(data: bytes, *, name: str = "<bytes>", sandbox: Sandbox | None = None, builtin: bool = False,
                skip: Collection[str] = (), notes: tuple[str, ...] = (), max_text: int | None = None,
                max_stylesheets: int = MAX_STYLESHEETS, on_candidate: Callable[[str], None] | None = None) -> HtmlView:
    """The HTML view of *data*; parse errors of the document itself propagate (IndexerError).

    *skip*: sources (``embedded:1``, ``gib:general.xslt``) not to try, because a
    limit stopped them before; *notes* say why, and are printed.  *max_text*:
    texts longer than this are printed cut, with the built-in template (PDF).
    *on_candidate* is told each source before it is tried (the pool times them).
    """
    tree = parse_xml(data, name=name)
    md = parse_document(data, name=name, tree=tree)
    root = tree.getroot()
    problems: list[str] = list(notes)
    limits: list[str] = list(notes)
    candidates: list[tuple[str, bytes | str]] = []
    if not builtin and _ln(root) in _UBL_ROOTS:
        sheets = embedded_stylesheets(root)
        candidates += [(f"embedded:{i}", sheet) for i, sheet in enumerate(sheets[:max_stylesheets], 1)]
        if len(sheets) > max_stylesheets:
            limits.append(f"embedded:{max_stylesheets + 1}–{len(sheets)}: not tried (limit: the first "
                          f"{max_stylesheets} stylesheets are tried)")
            problems.append(limits[-1])
        gib = gib_stylesheet(md.kind)
        if gib is not None:
            candidates.append((f"gib:{GIB_STYLESHEETS[md.kind]}", gib))
        if max_text is not None and candidates and _longest_text(root) > max_text:
            limits.append(f"stylesheets not tried: the document holds a text longer than {max_text:,} characters (limit)")
            problems.append(limits[-1])
            candidates = []
    for source, sheet in candidates:
        if source in skip:
            continue
        if isinstance(sheet, str):
            problems.append(f"{source}: {sheet}")
            continue
        if not sheet.strip():
            problems.append(f"{source}: stylesheet is empty")
            continue
        if on_candidate is not None:
            on_candidate(source)
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
        bloat = _out_of_proportion(root, page)
        if bloat:
            problems.append(f"{source}: {bloat}")
            limits.append(problems[-1])
            continue
        return HtmlView(_serialize(page), source, tuple(problems), md, tuple(limits))
    if on_candidate is not None:
        on_candidate("builtin")
    cut = _cut_long_texts(root, max_text) if max_text is not None else []
    notice = []
    if problems:
        notice.append("Belgenin görünüm dosyası kullanılamadı; yerleşik şablon gösteriliyor. " + " | ".join(problems))
    if cut:
        notice.append("Baskı sınırı: " + " | ".join(cut))
    page = _finish(builtin_html(tree, md, notice=" ".join(notice)))
    return HtmlView(_serialize(page), "builtin", tuple(problems), md, tuple(limits + cut))
