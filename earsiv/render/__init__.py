"""Printable copies: HTML views and PDF/A-3b prints of archived documents.

Takes bytes and plain values, never the archive: ``earsiv.archive.export``
feeds it.  Public entry points: :func:`render_html`, :func:`render_pdf`,
:class:`Provenance`, :class:`Sandbox`.

The names are imported when first used, so that importing a small part
(``errors``, ``formats``) does not load the renderer (lxml, its stylesheets).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from earsiv.render.errors import RenderError, StylesheetRefused
    from earsiv.render.html import HtmlView, render_html
    from earsiv.render.pdf import render_pdf
    from earsiv.render.provenance import Provenance
    from earsiv.render.xslt import Sandbox

__all__ = ["HtmlView", "Provenance", "RenderError", "Sandbox", "StylesheetRefused", "render_html", "render_pdf"]

_WHERE = {
    "HtmlView": "html", "render_html": "html", "Provenance": "provenance", "render_pdf": "pdf", "Sandbox": "xslt",
    "RenderError": "errors", "StylesheetRefused": "errors",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
