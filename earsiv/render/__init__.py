"""Printable copies: HTML views and PDF/A-3b prints of archived documents.

Takes bytes and plain values, never the archive: ``earsiv.archive.export``
feeds it.  Public entry points: :func:`render_html`, :func:`render_pdf`,
:class:`Provenance`, :class:`Sandbox`.
"""

from earsiv.render.errors import RenderError, StylesheetRefused
from earsiv.render.html import HtmlView, render_html
from earsiv.render.pdf import Provenance, render_pdf
from earsiv.render.xslt import Sandbox

__all__ = ["HtmlView", "Provenance", "RenderError", "Sandbox", "StylesheetRefused", "render_html", "render_pdf"]
