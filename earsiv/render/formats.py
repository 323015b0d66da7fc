"""The forms a copy can be made in: what ``earsiv export --format`` and ``/print?format=`` accept."""

from __future__ import annotations

__all__ = ["FORMATS"]

FORMATS = ("pdf", "html", "xml")
