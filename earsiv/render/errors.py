"""Errors of the renderer.

    IndexerError (earsiv.indexer.errors; the CLI maps it to its exit code)
    └── RenderError                 a print could not be made (exit 3)
        └── StylesheetRefused       an untrusted stylesheet failed or was contained (exit 1)

A refused stylesheet is not fatal to a print: the HTML chain records it and
falls back to the next stylesheet or to the built-in template.
"""

from __future__ import annotations

from ..indexer.errors import IndexerError

__all__ = ["RenderError", "StylesheetRefused"]


class RenderError(IndexerError):
    """A printable copy could not be made."""

    exit_code = 3


class StylesheetRefused(RenderError):
    """An untrusted stylesheet was refused, timed out, or failed."""

    exit_code = 1
