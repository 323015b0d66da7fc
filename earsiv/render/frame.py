"""The HTML view as served: the archive's provenance outside, the document inside a sandboxed frame.

The page is ours; the document's HTML (already defused, ``defuse.py``) is the
``srcdoc`` of an ``<iframe sandbox="">``: an opaque origin with no scripts, no
forms, no navigation of this page.  Nothing the document writes can reach the
header above the frame, so the provenance there cannot be moved, hidden or
restyled by it.

What the HTML view can guarantee, and what it cannot (docs/DECISIONS.md):

- it can: the header is drawn from the archive's records alone, always above
  the frame and outside it; the frame's content loads nothing and runs nothing
  (the sandbox, the Content-Security-Policy of the page, sent as a header too);
- it cannot: stop the document imitating a header *inside* its frame (the
  frame's edge is what tells them apart), or put the provenance on paper: a
  browser prints a frame as the box it is on screen.  Paper is the PDF's job,
  whose stamp is on every page.
"""

from __future__ import annotations

from html import escape

from earsiv.render.formats import FRAME_CSP
from earsiv.render.html import HtmlView
from earsiv.render.provenance import Provenance

__all__ = ["FRAME_CSP", "framed_html"]

_SOURCES = {"embedded": "belgenin kendi görünüm dosyası", "gib": "GİB'in görünüm dosyası", "builtin": "arşivin yerleşik şablonu"}
_CSS = """
html, body { margin: 0; height: 100%; }
body { display: flex; flex-direction: column; font: 13px/1.45 "DejaVu Sans", sans-serif; color: #000; background: #fff; }
header.earsiv-provenance { flex: none; padding: 8px 12px; border-bottom: 3px double #000; background: #eef1f5; }
header.earsiv-provenance p { margin: 0; overflow-wrap: anywhere; }
header.earsiv-provenance .digest { font-family: "DejaVu Sans Mono", monospace; }
header.earsiv-provenance .limits { color: #8a0000; font-weight: bold; }
header.earsiv-provenance .howto { color: #333; font-size: 12px; }
iframe.earsiv-document { flex: 1; width: 100%; min-height: 60vh; border: 0; background: #fff; }
"""


def framed_html(view: HtmlView, prov: Provenance) -> str:
    """The served page: *prov* in a header of ours, *view* in a sandboxed frame below it."""
    kind_line, digest_line, proof_line, where_line = prov.lines(embedded=False)
    family = view.source.partition(":")[0]
    shown = f"Görünüm: {_SOURCES.get(family, view.source)} ({view.source})"
    rows = [f"<p>{escape(kind_line)}</p>", f'<p class="digest">{escape(digest_line)}</p>', f"<p>{escape(proof_line)}</p>",
            f"<p>{escape(where_line)} {escape(shown)}.</p>"]
    if view.limits:
        rows.append(f'<p class="limits">Baskı notu: {escape(" | ".join(view.limits))}</p>')
    rows.append('<p class="howto">Bu başlık arşivindir; belgenin kendisi aşağıdaki çerçevededir ve bu başlığa erişemez. '
                "Kâğıt için PDF'i kullanın: her sayfasında bu bilgiler basılıdır.</p>")
    title = f"{prov.kind} {prov.doc_id or prov.digest[:16]}"
    return ("<!DOCTYPE html>\n"
            f'<html lang="tr"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{escape(FRAME_CSP)}">'
            f'<meta name="referrer" content="no-referrer"><title>{escape(title)}</title><style>{_CSS}</style></head>'
            f'<body><header class="earsiv-provenance" role="note">{"".join(rows)}</header>'
            f'<iframe class="earsiv-document" sandbox="" referrerpolicy="no-referrer" title="{escape(title)}" '
            f'srcdoc="{escape(view.html, quote=True)}"></iframe></body></html>')
