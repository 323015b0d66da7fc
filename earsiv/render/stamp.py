"""The provenance stamp, drawn on every laid-out page after the document's own layout.

The footer that ties a page to its original is not part of the document's HTML:
a document's stylesheet could hide it, move it or print a fake one.  Instead:

1. the document is laid out alone on pages whose geometry (size, margins, no
   margin boxes of its own) comes from a *user* stylesheet with ``!important``,
   which outranks anything the document's author stylesheets say (CSS cascade:
   user-important beats author-important);
2. the stamp is laid out as a separate document of as many pages, from our own
   HTML and our own font configuration;
3. each page is painted as: the document, clipped to the area above the stamp
   zone; an opaque white stamp zone; the stamp.  Nothing of the document is
   painted in the zone, and the stamp is painted last.

The stamp's text uses DejaVu Sans under a family name made afresh for every
print: WeasyPrint keys the PDF's fonts by family, weight and style, so a
document that declares an ``@font-face`` named like the stamp's font would
otherwise lend the stamp its own glyphs (a font can draw "geçerli" for the
characters of "GEÇERSİZ").
"""

from __future__ import annotations

import base64
import functools
import io
import secrets
import subprocess
from html import escape

from earsiv.render.errors import RenderError
from earsiv.render.provenance import Provenance

__all__ = ["MARGINS_MM", "NOTE_LIMIT", "PAGE_MM", "layout_stamp", "page_css", "qr_svg", "stamp_pages"]

PAGE_MM = (210.0, 297.0)  # A4
MARGINS_MM = (12.0, 10.0, 34.0, 10.0)  # top, right, bottom (the stamp zone), left
NOTE_LIMIT = 230  # characters of "Baskı notu" the zone has room for (two lines)
_MM = 96 / 25.4  # CSS px per mm
_FONT_URL = "earsiv-stamp:font"
_PAGE = '<div class="p"></div>'
_MARGIN_BOXES = ("top-left-corner", "top-left", "top-center", "top-right", "top-right-corner", "right-top",
                 "right-middle", "right-bottom", "bottom-right-corner", "bottom-right", "bottom-center", "bottom-left",
                 "bottom-left-corner", "left-bottom", "left-middle", "left-top")


def page_css(f: float = 1.0) -> str:
    """The user stylesheet the document is laid out under, at layout scale *f*.

    ``!important`` in a user stylesheet wins over every author declaration,
    important or not, so a document cannot change the page or use its margins.
    """
    (w, h), (mt, mr, mb, ml) = PAGE_MM, MARGINS_MM
    boxes = " ".join(f"@{b} {{ content: none !important; }}" for b in _MARGIN_BOXES)
    return (f"@page {{ size: {w * f:.2f}mm {h * f:.2f}mm !important; "
            f"margin: {mt * f:.2f}mm {mr * f:.2f}mm {mb * f:.2f}mm {ml * f:.2f}mm !important; bleed: 0 !important;"
            f" marks: none !important; {boxes} }}\n"
            "html, body { font-family: \"DejaVu Sans\", sans-serif; }\n"
            "body { margin: 0 !important; width: auto !important; min-width: 0 !important; }\n"
            "table, div, img { max-width: 100% !important; }\n"
            "td, th { overflow-wrap: break-word; }\n")


def _stamp_html(prov: Provenance, f: float, family: str, notes: str) -> str:
    """One page whose content area is the stamp zone, holding the statement and the QR code."""
    (w, h), (_mt, mr, mb, ml) = PAGE_MM, MARGINS_MM
    qr = base64.b64encode(qr_svg(f"sha256:{prov.digest}")).decode()
    lines = [escape(line) for line in prov.lines()]
    if notes:
        lines.append(f"<b>Baskı notu: {escape(notes)}</b>")
    css = (f'@font-face {{ font-family: "{family}"; src: url("{_FONT_URL}"); }}\n'
           f"@page {{ size: {w * f:.2f}mm {h * f:.2f}mm; margin: {(h - mb) * f:.2f}mm {mr * f:.2f}mm 0 {ml * f:.2f}mm; }}\n"
           f'html, body {{ margin: 0; background: none; font: {6.5 * f:.2f}pt/1.3 "{family}"; color: #000; }}\n'
           f"#stamp {{ border-top: {0.5 * f:.2f}pt solid #000; padding: {1.5 * f:.2f}mm {16 * f:.2f}mm 0 0; }}\n"
           f"#stamp img {{ float: left; width: {22 * f:.2f}mm; height: {22 * f:.2f}mm; }}\n"
           f"#stamp b {{ font-weight: normal; }}\n"
           f"#stamp .t {{ margin-left: {25 * f:.2f}mm; overflow-wrap: break-word; }}\n")
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><style>{css}</style></head><body>"
            f'<div id="stamp"><img alt="sha256:{prov.digest}" src="data:image/svg+xml;base64,{qr}">'
            f'<div class="t">{"<br>".join(lines)}</div></div></body></html>')


def _numbers_html(pages: int, f: float, family: str) -> str:
    """*pages* empty pages, each with its number at the bottom right of the stamp zone."""
    (w, h), (mt, mr, mb, ml) = PAGE_MM, MARGINS_MM
    css = (f'@font-face {{ font-family: "{family}"; src: url("{_FONT_URL}"); }}\n'
           f"@page {{ size: {w * f:.2f}mm {h * f:.2f}mm; margin: {mt * f:.2f}mm {mr * f:.2f}mm {mb * f:.2f}mm {ml * f:.2f}mm;\n"
           f'  @bottom-right {{ content: "Sayfa " counter(page) " / " counter(pages); font: {7 * f:.2f}pt "{family}";'
           f" vertical-align: bottom; text-align: right; white-space: nowrap; }} }}\n"
           "html, body { margin: 0; background: none; } .p { height: 1px; } .p + .p { break-before: page; }\n")
    return f"<!DOCTYPE html><html><head><style>{css}</style></head><body>{_PAGE * pages}</body></html>"


@functools.lru_cache(maxsize=1)
def _font() -> bytes:
    """DejaVu Sans, the face every print uses (installed with the renderer: fonts-dejavu-core)."""
    try:
        path = subprocess.run(["fc-match", "--format=%{file}", "DejaVu Sans:style=Book"], capture_output=True,
                              timeout=10, check=True).stdout.decode()
        with open(path, "rb") as f:
            data = f.read()
    except (OSError, subprocess.SubprocessError) as exc:
        raise RenderError(f"the stamp's font (DejaVu Sans) cannot be read: {exc}") from exc
    if "DejaVuSans" not in path:
        raise RenderError(f"DejaVu Sans is not installed (fontconfig offers {path!r}); install fonts-dejavu-core")
    return data


def _fetcher():
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class StampFetcher(URLFetcher):
        def fetch(self, url, headers=None):
            if url == _FONT_URL:
                return URLFetcherResponse(url, _font(), {"Content-Type": "font/ttf"})
            if not url.startswith("data:"):
                raise ValueError(f"the stamp loads nothing but its font and data: URIs, not {url[:60]!r}")
            return super().fetch(url, headers)

    return StampFetcher(allowed_protocols=("data", "earsiv-stamp"))


def layout_stamp(prov: Provenance, pages: int, f: float, notes: str = "") -> tuple:
    """(the stamp, one page; the page numbers, *pages* pages) as WeasyPrint documents at layout scale *f*.

    The statement is laid out once and painted on every page: laying out a
    running footer on each page costs ~80 ms a page, the numbers ~2 ms.
    """
    from weasyprint import HTML
    from weasyprint.text.fonts import FontConfiguration

    if len(notes) > NOTE_LIMIT:
        notes = notes[: NOTE_LIMIT - 1] + "…"
    family = f"earsiv-stamp-{secrets.token_hex(8)}"
    fonts = FontConfiguration()
    stamp = HTML(string=_stamp_html(prov, f, family, notes), url_fetcher=_fetcher(), base_url="data:,").render(font_config=fonts)
    numbers = HTML(string=_numbers_html(pages, f, family), url_fetcher=_fetcher(), base_url="data:,").render(font_config=fonts)
    return stamp, numbers


def _prune(box, zone_top: float, matrix=None) -> int:
    """Take out of *box* every text and image that reaches into the stamp zone; how many.

    The zone is painted over anyway; this keeps the document's words out of the
    page's text layer there too (a copy-paste or ``pdftotext`` of the zone reads
    the stamp alone).  Transforms count: a box moved there by ``transform`` is found.
    """
    children = getattr(box, "children", None)
    if not children:
        return 0
    kept, removed = [], 0
    for child in children:
        own = getattr(child, "transformation_matrix", None)
        at = matrix if own is None else (own @ matrix if matrix is not None else own)
        if type(child).__name__ in _CONTENT_BOXES and _bottom(child, at) > zone_top + 0.5:
            removed += 1
            continue
        removed += _prune(child, zone_top, at)
        kept.append(child)
    if removed:
        box.children = kept
    return removed


_CONTENT_BOXES = {"TextBox", "InlineReplacedBox", "BlockReplacedBox", "ReplacedBox"}


def _bottom(box, matrix) -> float:
    x, y = box.position_x, box.position_y
    w, h = box.margin_width(), box.margin_height()
    if matrix is None:
        return y + h
    return max(matrix.transform_point(px, py)[1] for px, py in ((x, y), (x + w, y), (x, y + h), (x + w, y + h)))


class _StampedPage:
    """A laid-out page of the document with the stamp painted over its bottom zone."""

    def __init__(self, page, stamp, number) -> None:
        self._page, self._stamp, self._number = page, stamp, number
        self._page_box = page._page_box
        self.width, self.height, self.bleed = page.width, page.height, page.bleed
        # Anchors and internal links stay; links that attach files do not (a document
        # must not add a second "original" to the print), nor its bookmarks.
        self.links = [link for link in page.links if link[0] == "internal"]
        self.anchors, self.forms, self.bookmarks = page.anchors, page.forms, []
        self.zone_top = page.height - MARGINS_MM[2] * _MM * (page.width / (PAGE_MM[0] * _MM))
        self.pruned = _prune(page._page_box, self.zone_top)

    def paint(self, stream, scale: float = 1) -> None:
        from tinycss2.color4 import parse_color

        with stream.stacked():
            stream.transform(a=scale, d=scale)
            stream.rectangle(0, 0, self.width, self.zone_top)
            stream.clip()
            stream.end()
            self._page.paint(stream, 1)
        with stream.stacked():
            stream.transform(a=scale, d=scale)
            stream.set_color(parse_color("white"))
            stream.rectangle(0, self.zone_top, self.width, self.height - self.zone_top)
            stream.fill()
        self._stamp.paint(stream, scale)
        self._number.paint(stream, scale)


def stamp_pages(document, prov: Provenance, f: float, notes: str = ""):
    """*document* with the stamp on each page (the stamp document is kept alive with it)."""
    stamp, numbers = layout_stamp(prov, len(document.pages), f, notes)
    if len(stamp.pages) != 1 or len(numbers.pages) != len(document.pages):
        raise RenderError(f"the stamp has {len(stamp.pages)} + {len(numbers.pages)} pages for a document of {len(document.pages)}")
    document.pages = [_StampedPage(p, stamp.pages[0], n) for p, n in zip(document.pages, numbers.pages, strict=True)]
    document._earsiv_stamp = (stamp, numbers)  # their fonts must outlive write_pdf
    return document


def qr_svg(text: str) -> bytes:
    import qrcode
    import qrcode.image.svg

    img = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=1,
                      error_correction=qrcode.constants.ERROR_CORRECT_M)
    buf = io.BytesIO()
    img.save(buf)
    return buf.getvalue()
