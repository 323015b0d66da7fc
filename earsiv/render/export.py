"""One copy of one document, as the archive asks for it: bytes in, bytes out.

The print itself is made in a worker of a :class:`~earsiv.render.pool.PrintPool`
(the process's shared one unless the caller brings its own, as a bulk export
does), so importing this module loads neither lxml's HTML nor WeasyPrint, and
no document's layout ever runs in the caller's process.
"""

from __future__ import annotations

import re

from earsiv.render.formats import FORMATS
from earsiv.render.pool import PrintPool, shared_pool
from earsiv.render.provenance import Provenance

__all__ = ["FORMATS", "export_name", "job", "render_as"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def export_name(prov: Provenance, fmt: str) -> str:
    """``kind/ID_ETTN_digest12.fmt`` with anything unsafe in a file name replaced."""
    parts = [p for p in (prov.doc_id, prov.ettn) if p]
    stem = _UNSAFE.sub("_", "_".join(parts))[:120].strip("._") or "document"
    return f"{prov.kind}/{stem}_{prov.digest[:12]}.{fmt}"


def render_as(fmt: str, data: bytes, prov: Provenance, evidence: dict, *, pool: PrintPool | None = None,
              owner: str = "") -> bytes:
    """*data* as *fmt*: the original itself (xml), or a print made within the pool's limits (pdf, html)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    if fmt == "xml":
        return data
    return (pool or shared_pool()).print(fmt, data, prov, evidence, owner=owner).data


def job(fmt: str, data: bytes, prov: Provenance, evidence: dict, pool: PrintPool | None = None,
        owner: str = "") -> tuple[str, bytes | None, str | None]:
    """(name, bytes, None), or (name, None, why): one bad document must not stop a period's export."""
    try:
        return export_name(prov, fmt), render_as(fmt, data, prov, evidence, pool=pool, owner=owner), None
    except Exception as exc:  # noqa: BLE001 - reported per document by the caller, the others go on
        return export_name(prov, fmt), None, f"{exc.__class__.__name__}: {exc}"
