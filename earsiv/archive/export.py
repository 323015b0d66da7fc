"""Printable and original copies out of the archive, one or by the thousand.

The renderer (``earsiv.render``) knows nothing of the archive: it takes bytes,
a :class:`~earsiv.render.pdf.Provenance` and an evidence dict.  This module
supplies them: the original from the store, the provenance from the index row
and the proof from the log (``verify_document`` first, so a print never
carries evidence that does not verify).

Every print is made in a worker process of a print pool (``earsiv.render.pool``),
within its time and memory limits: a single copy in the process's shared
pool, which the HTTP server's requests share (the caller is the pool's
*owner*, so one caller cannot take every worker); a bulk export in a pool of
its own, closed when it ends.

Bulk export streams: the index is read a page at a time, at most
``2 × workers`` documents are in flight, and each finished file is written
(to a directory or into a zip) and dropped before the next is taken, so memory
stays flat however many documents the period holds.  Reading the store and
the log stays in this process, which owns the archive.
"""

from __future__ import annotations

import os
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from earsiv.archive.errors import ArchiveError, DocumentNotFound, VerificationError
from earsiv.archive.evidence import document_evidence
from earsiv.indexer.query import SearchQuery
from earsiv.render.export import FORMATS, export_name, job, render_as
from earsiv.render.pool import PrintPool
from earsiv.render.provenance import Provenance

if TYPE_CHECKING:
    from earsiv.archive.archive import Archive

__all__ = ["FORMATS", "ExportSummary", "PrintFor", "evidence_json", "export_bulk", "export_name", "export_one",
           "provenance"]


@dataclass(frozen=True, slots=True)
class PrintFor:
    """Whom a print is for, as far as its evidence goes (``ArchiveService`` decides; FORMAT.md §5).

    *leaf_index*: the leaf the evidence proves (a tenant's own holding's; None: the document's).
    *prove*: False for a tenant's principal that holds no copy (the document's leaf is not
    for it): the print says why it carries no proof.  *flags*: what the print must say of
    the document as shown to this caller (``not-held-by-taxpayer``), in its evidence's
    ``flags``.
    """

    leaf_index: int | None = None
    prove: bool = True
    flags: tuple[str, ...] = ()


def evidence_json(arch: Archive, digest: str, leaf_index: int | None = None) -> dict:
    """The document's proof as one JSON object (what a print embeds; see ``document_evidence``)."""
    return document_evidence(arch, digest, leaf_index)


def provenance(arch: Archive, digest: str, leaf_index: int | None = None, *,
               flags: tuple[str, ...] = (), prove: bool = True) -> tuple[Provenance, dict]:
    row = arch.index.get(digest)
    if row is None:
        raise DocumentNotFound(f"no document with digest {digest} in this archive", name=digest)
    try:
        if not prove:
            raise VerificationError("no proof for this caller: no holding of its taxpayers keeps the document, "
                                    "which it is shown because it names one of them")
        evidence = evidence_json(arch, digest, leaf_index)
        checkpoint_time = evidence["checkpoint_time"]
    except VerificationError as exc:
        # Printed anyway (the law asks for the print), but the footer and the
        # embedded JSON say that the proof is missing and why.
        evidence, checkpoint_time = {"digest": digest, "error": str(exc)}, None
    if flags:
        evidence["flags"] = list(flags)
    log_index = row.log_index if leaf_index is None else leaf_index
    prov = Provenance(digest=digest, kind=row.kind, doc_id=row.doc_id, ettn=row.ettn, log_index=log_index,
                      checkpoint_time=checkpoint_time, signature_status=row.signature_status,
                      signature_trust=row.signature_trust, signature_trust_reason=row.signature_trust_reason,
                      signer_relation=row.signer_relation)
    return prov, evidence


def export_one(arch: Archive, digest: str, fmt: str, leaf_index: int | None = None, *,
               flags: tuple[str, ...] = (), prove: bool = True, owner: str = "") -> bytes:
    """One copy; *owner* (the caller's name) shares the print workers fairly between callers."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    prov, evidence = provenance(arch, digest, leaf_index, flags=flags, prove=prove)
    return render_as(fmt, arch.original(digest), prov, evidence, owner=owner)


@dataclass
class ExportSummary:
    written: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (digest, why)
    target: str = ""

    def to_json(self) -> dict:
        return {"written": self.written, "failed": [{"digest": d, "error": e} for d, e in self.failed], "target": self.target}


def _rows(arch: Archive, query: SearchQuery) -> Iterator:
    cursor = query.cursor
    while True:
        page = arch.index.search(query.after(cursor))
        yield from page.rows
        cursor = page.next_cursor
        if cursor is None:
            return


def _rows_for(arch: Archive, query: SearchQuery,
              print_for: Callable[[list[str]], dict[str, PrintFor]] | None) -> Iterator[tuple]:
    """(row, whom its print is for), a page of rows at a time."""
    page: list = []
    for row in _rows(arch, query):
        page.append(row)
        if len(page) >= 100:
            yield from _paired(page, print_for)
            page = []
    yield from _paired(page, print_for)


def _paired(rows: list, print_for: Callable[[list[str]], dict[str, PrintFor]] | None) -> Iterator[tuple]:
    whom = print_for([r.digest for r in rows]) if print_for is not None and rows else {}
    for r in rows:
        yield r, whom.get(r.digest, PrintFor())


class _Sink:
    def __init__(self, out: Path, into: zipfile.ZipFile | None = None, prefix: str = "") -> None:
        self.out = out
        self.own = into is None and out.suffix.lower() == ".zip"
        self.zip = zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) if self.own else into
        self.prefix = prefix
        self.names: set[str] = set()

    def write(self, name: str, data: bytes) -> None:
        if name in self.names:  # same ID/ETTN/digest prefix twice: keep both
            stem, dot, ext = name.rpartition(".")
            name = f"{stem}-{len(self.names)}{dot}{ext}"
        self.names.add(name)
        if self.zip is not None:
            self.zip.writestr(self.prefix + name, data)
        else:
            path = self.out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def close(self) -> None:
        if self.own:
            self.zip.close()


def export_bulk(arch: Archive, query: SearchQuery, fmt: str, out: Path, *, workers: int | None = None,
                progress: Callable[[int], None] | None = None,
                print_for: Callable[[list[str]], dict[str, PrintFor]] | None = None,
                printers: PrintPool | None = None, owner: str = "", into: zipfile.ZipFile | None = None,
                prefix: str = "") -> ExportSummary:
    """Export every document *query* matches to *out* (a directory, or a file ending in .zip).

    *print_for(digests)* says, a page at a time, whom each print is for (default: the document's
    own leaf, no flags: an admin's).  *printers*: a pool to print in (a server's shared one, where
    *owner* takes at most its share of the workers) instead of one of the export's own; *into*: a
    zip opened by the caller, which the files go into under *prefix*."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    workers = (printers.per_owner if printers is not None else None) or workers or os.cpu_count() or 1
    if into is None and out.suffix.lower() != ".zip":
        out.mkdir(parents=True, exist_ok=True)
    sink = _Sink(out, into, prefix)
    summary = ExportSummary(target=str(out))
    inflight: deque[tuple[str, Future]] = deque()

    def drain(limit: int) -> None:
        while len(inflight) > limit:
            digest, fut = inflight.popleft()
            name, data, error = fut.result()
            if data is None:
                summary.failed.append((digest, error or "unknown"))
            else:
                sink.write(name, data)
                summary.written += 1
            if progress:
                progress(1)

    own_printers = printers is None and fmt != "xml"
    if own_printers:
        printers = PrintPool(workers, per_owner=workers)
    try:
        # One thread per print worker: each waits on its worker's answer, the work is in the workers.
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="earsiv-export") as pool:
            for row, who in _rows_for(arch, query, print_for):
                try:
                    prov, evidence = provenance(arch, row.digest, who.leaf_index, flags=who.flags, prove=who.prove)
                    data = arch.original(row.digest)
                except ArchiveError as exc:
                    summary.failed.append((row.digest, str(exc)))
                    if progress:
                        progress(1)
                    continue
                inflight.append((row.digest, pool.submit(job, fmt, data, prov, evidence, printers, owner)))
                drain(2 * workers)
            drain(0)
    finally:
        if own_printers:
            printers.close()
        sink.close()
    return summary
