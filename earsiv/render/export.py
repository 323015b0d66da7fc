"""One export job, as a pool worker runs it: bytes in, a named file out.

Kept apart from ``earsiv.archive.export`` so that a rendering process imports
the renderer only, not the archive (its store, index and log clients): each
pool worker then costs the layout engine's memory and nothing more.
"""

from __future__ import annotations

import re

from earsiv.render.formats import FORMATS
from earsiv.render.html import render_html
from earsiv.render.pdf import Provenance, render_pdf

__all__ = ["FORMATS", "export_name", "job", "render_as"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def export_name(prov: Provenance, fmt: str) -> str:
    """``kind/ID_ETTN_digest12.fmt`` with anything unsafe in a file name replaced."""
    parts = [p for p in (prov.doc_id, prov.ettn) if p]
    stem = _UNSAFE.sub("_", "_".join(parts))[:120].strip("._") or "document"
    return f"{prov.kind}/{stem}_{prov.digest[:12]}.{fmt}"


def render_as(fmt: str, data: bytes, prov: Provenance, evidence: dict) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    if fmt == "xml":
        return data
    if fmt == "html":
        return render_html(data).html.encode("utf-8")
    return render_pdf(data, prov, evidence=evidence)


def job(fmt: str, data: bytes, prov: Provenance, evidence: dict) -> tuple[str, bytes | None, str | None]:
    """(name, bytes, None), or (name, None, why): one bad document must not stop a period's export."""
    try:
        return export_name(prov, fmt), render_as(fmt, data, prov, evidence), None
    except Exception as exc:  # noqa: BLE001 - reported per document by the caller, the others go on
        return export_name(prov, fmt), None, f"{exc.__class__.__name__}: {exc}"
