"""The forms a copy can be made in (what ``earsiv export --format`` and ``/print?format=`` accept),
and the Content-Security-Policies that fence the ones a browser could run.

Kept free of imports so that the HTTP layer can name them without loading the renderer.
"""

from __future__ import annotations

__all__ = ["CSP", "FORMATS", "FRAME_CSP", "SERVED_CSP"]

FORMATS = ("pdf", "html", "xml")

# In the document's own HTML: its inline style and data: images and fonts, nothing else.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:"
# In the HTML view's page (the frame's content inherits it: an about:srcdoc document takes its parent's policy).
FRAME_CSP = f"{CSP}; base-uri 'none'; form-action 'none'"
# As a header on every HTML or XML answer: also no framing by other pages, and the page itself sandboxed
# (an opaque origin: a copy opened straight from the API cannot read the API's origin).
SERVED_CSP = f"{FRAME_CSP}; frame-ancestors 'none'; sandbox"
