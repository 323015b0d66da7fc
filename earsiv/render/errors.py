"""Errors of the renderer.

    EarsivError (earsiv.errors)
    └── RenderError                 a print could not be made (exit 3)
        ├── StylesheetRefused       an untrusted stylesheet failed or was contained (exit 1)
        └── PrintersBusy            every print worker is taken; try again (exit 3, HTTP 503)

A refused stylesheet is not fatal to a print: the HTML chain records it and
falls back to the next stylesheet or to the built-in template.
"""

from __future__ import annotations

from earsiv.errors import EarsivError

__all__ = ["PrintersBusy", "RenderError", "StylesheetRefused"]


class RenderError(EarsivError):
    """A printable copy could not be made."""

    exit_code = 3
    code = "render-failed"


class StylesheetRefused(RenderError):
    """An untrusted stylesheet was refused, timed out, or failed."""

    exit_code = 1
    code = "stylesheet-refused"


class PrintersBusy(RenderError):
    """Every print worker stayed taken for as long as a print may wait: a passing overload."""

    code = "printers-busy"
