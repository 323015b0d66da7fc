"""Lawful disposal (L1, L2): what has passed every retention with no hold goes, provably, and nothing else.

Two steps, so that what goes is what a person looked at:

1. ``plan``: the documents whose every holding's retain-until ended before ``before`` (a day
   not later than today), none under a legal hold, not disposed of yet; with a VKN, only
   blobs that VKN alone holds (another taxpayer's copy is not its to dispose of).  The plan's
   digest is sha256 over its parameters and every digest in log order, streamed.
2. ``dispose`` with that digest: the plan is made again and must come out the same (a hold
   set, a retention extended, a document archived since: make a new plan).  Then, in batches,
   under the ledger's write lock, each document is checked again against the index *and* the
   store's own retention (the last word: the local store's journal, S3's Object Lock); a
   `disposal` leaf (the tombstone: digest, size, the retain-until that passed, reason, plan,
   who, when) is appended and durable *before* the blob is deleted, so no blob ever goes
   without its record.  The document's own leaf stays: its evidence still proves it existed.

The certificate is a JSON Lines file (a header, one line per document with its disposal leaf
or why it was kept, a footer with the counts and the checkpoint covering the leaves), a
``sha256sum`` line of it with that line's Ed25519 signature by the archive's key, the key, and
a PDF of the same (its first rows).  Memory stays flat:
documents are read a batch at a time and the certificate is written as they go.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import html
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TextIO

from earsiv.archive import blobs, faults
from earsiv.archive.errors import Conflict, WriteOnceViolation
from earsiv.archive.ledger import Batch
from earsiv.archive.log.entries import DisposalEntry, format_time
from earsiv.archive.retention import ISTANBUL
from earsiv.errors import InvalidInput

if TYPE_CHECKING:
    from earsiv.archive.archive import Archive
    from earsiv.indexer.disposaldb import Disposable

__all__ = ["CERTIFICATE_FORMAT", "Certificate", "Plan", "cutoff_of", "dispose", "make_plan"]

PLAN_FORMAT = "earsiv-disposal-plan/1"
CERTIFICATE_FORMAT = "earsiv-disposal-certificate/1"
BATCH = 256
PENDING_KEY = "disposal/pending"  # index setting: [digest, blob alt] of the batch whose blobs are being deleted
_PDF_ROWS = 200  # rows the PDF lists (WeasyPrint took 40 s and 390 MB for 2,000); the JSON lists every one


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    digest: str
    vkn: str | None
    before: dt.date
    reason: str
    documents: int
    bytes: int
    sample: tuple[Disposable, ...]  # the first few, to show

    def to_json(self) -> dict[str, Any]:
        return {"plan": self.digest, "vkn": self.vkn, "before": self.before.isoformat(), "reason": self.reason,
                "documents": self.documents, "bytes": self.bytes,
                "sample": [{"digest": x.digest, "kind": x.kind, "id": x.doc_id, "issue_date": _iso(x.issue_date),
                            "retain_until": format_time(x.retain_until)} for x in self.sample]}


@dataclasses.dataclass(frozen=True, slots=True)
class Certificate:
    plan: str
    disposed: int
    kept: int
    files: tuple[Path, ...]
    checkpoint: int | None

    def to_json(self) -> dict[str, Any]:
        return {"plan": self.plan, "disposed": self.disposed, "kept": self.kept, "checkpoint": self.checkpoint,
                "files": [str(p) for p in self.files]}


def _iso(v: dt.date | None) -> str | None:
    return v.isoformat() if v else None


def cutoff_of(before: dt.date, now: dt.datetime) -> dt.datetime:
    """The instant retention must have ended by: the start of *before* in Istanbul, never after now."""
    if before > now.astimezone(ISTANBUL).date():
        raise InvalidInput(f"--before {before} is in the future: only what has already passed its retention can go")
    return min(dt.datetime.combine(before, dt.time(), ISTANBUL).astimezone(dt.UTC), now)


def _candidates(arch: Archive, vkn: str | None, cutoff: dt.datetime) -> Iterator[list[Disposable]]:
    return arch.index.disposal.candidates(cutoff, vkn, batch=BATCH)


def make_plan(arch: Archive, vkn: str | None, before: dt.date, reason: str, *, now: dt.datetime | None = None
              ) -> Plan:
    now = now or dt.datetime.now(dt.UTC)
    if not reason.strip():
        raise InvalidInput("a disposal needs a reason (--reason): it goes into every disposal leaf")
    cutoff = cutoff_of(before, now)
    h = hashlib.sha256(f"{PLAN_FORMAT}\n{vkn or '*'}\n{before.isoformat()}\n{reason}\n".encode())
    count = size = 0
    sample: list[Disposable] = []
    for batch in _candidates(arch, vkn, cutoff):
        for x in batch:
            h.update(f"{x.digest}\n".encode())
            count += 1
            size += x.size
            if len(sample) < 20:
                sample.append(x)
    return Plan(h.hexdigest(), vkn, before, reason, count, size, tuple(sample))


def dispose(arch: Archive, vkn: str | None, before: dt.date, reason: str, confirm: str, *, by: str, out: Path,
            now: dt.datetime | None = None) -> Certificate:
    """Carry out the plan whose digest is *confirm*; write the certificate into the folder *out*."""
    now = now or dt.datetime.now(dt.UTC)
    plan = make_plan(arch, vkn, before, reason, now=now)
    if plan.digest != confirm:
        raise Conflict(f"the disposal plan is now {plan.digest}, not {confirm}: something changed since it was made "
                       "(a hold, a retention, a document); look at the new plan and confirm that one")
    cutoff = cutoff_of(before, now)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"disposal-{plan.digest[:16]}"
    jsonl = stem.with_suffix(".jsonl")
    disposed = kept = 0
    with _Hashing(jsonl.open("w", encoding="utf-8")) as fh:
        head = {"format": CERTIFICATE_FORMAT, "archive_id": arch.config.archive_id, "plan": plan.digest,
                   "vkn": vkn, "before": before.isoformat(), "reason": reason, "by": by, "at": format_time(now),
                "documents_planned": plan.documents}
        _line(fh, head)
        disposed += _finish_pending(arch, now, fh)
        for batch in _candidates(arch, vkn, cutoff):
            d, k = _dispose_batch(arch, batch, plan.digest, reason, by, now, cutoff, vkn, fh)
            disposed += d
            kept += k
        cp = arch.checkpoint()
        size = cp.size if cp is not None else None
        foot = {"summary": {"disposed": disposed, "kept": kept}, "checkpoint": size,
                "finished": format_time(dt.datetime.now(dt.UTC))}
        _line(fh, foot)
    # The signature is over a sha256sum line of the certificate, so signing never holds the whole
    # certificate (Ed25519 signs the message itself, not a digest of it).
    sums = out / f"{jsonl.name}.sha256"
    sums.write_text(f"{fh.sha256.hexdigest()}  {jsonl.name}\n", encoding="ascii")
    sig = out / f"{sums.name}.sig"
    sig.write_text(base64.b64encode(arch.signer.sign(sums.read_bytes())).decode() + "\n", encoding="ascii")
    key = out / f"archive-key-{arch.signer.public.key_id}.pem"
    key.write_bytes(arch.signer.public.pem)
    pdf = stem.with_suffix(".pdf")
    pdf.write_bytes(_pdf(jsonl, head, foot, fh.sha256.hexdigest()))
    return Certificate(plan.digest, disposed, kept, (jsonl, sums, sig, key, pdf), size)


class _Hashing:
    """A text file that keeps the sha256 of what was written to it."""

    def __init__(self, fh: TextIO) -> None:
        self.fh = fh
        self.sha256 = hashlib.sha256()

    def write(self, text: str) -> None:
        self.sha256.update(text.encode("utf-8"))
        self.fh.write(text)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.fh.close()


def _line(fh: TextIO | _Hashing, obj: dict[str, Any]) -> None:
    fh.write(json.dumps(obj, ensure_ascii=False, sort_keys=True) + "\n")


def _dispose_batch(arch: Archive, batch: list[Disposable], plan: str, reason: str, by: str, now: dt.datetime,
                   cutoff: dt.datetime, vkn: str | None, fh: TextIO | _Hashing) -> tuple[int, int]:
    chosen: list[Disposable] = []
    refused: dict[str, str] = {}

    def build() -> Batch:
        # Under the write lock, after every other writer's leaves are mirrored: a hold or a
        # retention set since the plan is seen here.
        chosen.clear()
        refused.clear()
        ok = arch.index.disposal.still_disposable([x.digest for x in batch], cutoff, vkn)
        for x in batch:
            if x.digest not in ok:
                refused[x.digest] = "no longer disposable: a hold, a longer retention or another taxpayer's holding"
                continue
            kept_by_store = arch.store.retention(blobs.blob_key(x.digest, x.blob_alt))
            if kept_by_store.legal_hold or kept_by_store.retain_until > now:
                refused[x.digest] = (f"the store keeps it (until {kept_by_store.retain_until.isoformat()}"
                                     f"{', legal hold' if kept_by_store.legal_hold else ''})")
                continue
            chosen.append(x)
        return Batch([DisposalEntry(x.digest, x.size, x.retain_until, reason, plan, now, by) for x in chosen])

    done = arch.ledger.append(build)
    disposed = 0
    leaf = {x.digest: (done.first + i if done else None) for i, x in enumerate(chosen)}
    # Between the leaves and the deletes a crash leaves tombstones over blobs still there: noted
    # here, so that the next `dispose --confirm` finishes them (``_finish_pending``).
    arch.index.meta_set(PENDING_KEY, json.dumps([[x.digest, x.blob_alt] for x in chosen]))
    faults.point("disposal.after-leaves")
    for x in batch:
        row = {"digest": x.digest, "kind": x.kind, "id": x.doc_id, "ettn": x.ettn, "issue_date": _iso(x.issue_date),
               "size": x.size, "retain_until": format_time(x.retain_until)}
        if x.digest in refused:
            _line(fh, {**row, "state": "kept", "why": refused[x.digest]})
            continue
        try:
            arch.store.delete(blobs.blob_key(x.digest, x.blob_alt), now=now)
        except WriteOnceViolation as exc:
            # The leaf says it was to go; the store, the last word, kept it: say so, keep the bytes.
            _line(fh, {**row, "state": "kept", "why": f"the store refused: {exc.detail}", "disposal_leaf": leaf[x.digest]})
            continue
        disposed += 1
        _line(fh, {**row, "state": "disposed", "disposal_leaf": leaf[x.digest]})
    arch.index.meta_set(PENDING_KEY, "[]")
    return disposed, len(batch) - disposed


def _finish_pending(arch: Archive, now: dt.datetime, fh: _Hashing) -> int:
    """Delete the blobs an interrupted run wrote disposal leaves for but did not delete; return how many."""
    pending = json.loads(arch.index.meta_get(PENDING_KEY) or "[]")
    if not pending:
        return 0
    gone = arch.index.disposal.disposed([d for d, _alt in pending])
    finished = 0
    for digest, alt in pending:
        if digest not in gone:
            continue  # its leaf was never written: nothing was decided about it
        key = blobs.blob_key(digest, alt)
        row = {"digest": digest, "disposal_leaf": gone[digest][1], "interrupted_run": True}
        if not arch.store.exists(key):
            continue
        try:
            arch.store.delete(key, now=now)
        except WriteOnceViolation as exc:
            _line(fh, {**row, "state": "kept", "why": f"the store refused: {exc.detail}"})
            continue
        finished += 1
        _line(fh, {**row, "state": "disposed"})
    arch.index.meta_set(PENDING_KEY, "[]")
    return finished


def _pdf(jsonl: Path, head: dict[str, Any], foot: dict[str, Any], digest: str) -> bytes:
    from earsiv.archive.reportpdf import report_pdf

    return report_pdf(_html(jsonl, head, foot, digest))


def _html(jsonl: Path, head: dict[str, Any], foot: dict[str, Any], digest: str) -> str:
    e = html.escape
    total = foot["summary"]["disposed"] + foot["summary"]["kept"]
    rows = []
    with jsonl.open(encoding="utf-8") as lines:  # the first rows only: the certificate is never read whole
        next(lines)
        listed = [json.loads(line) for line in itertools.islice(lines, min(total, _PDF_ROWS))]
    for r in listed:
        rows.append("<tr>" + "".join(f"<td>{e(str(r.get(k) if r.get(k) is not None else ''))}</td>" for k in (
            "digest", "kind", "id", "issue_date", "retain_until", "state", "disposal_leaf", "why")) + "</tr>")
    more = total - _PDF_ROWS
    tail = f"<p>… and {more} more, listed in the JSON certificate.</p>" if more > 0 else ""
    return f"""<!doctype html><html lang="tr"><head><meta charset="utf-8"><title>Disposal certificate</title>
<style>@page {{ size: A4 landscape; margin: 12mm; @bottom-right {{ content: counter(page) " / " counter(pages); font-size: 8pt }} }}
body {{ font-family: "DejaVu Sans", sans-serif; font-size: 7.5pt }} h1 {{ font-size: 14pt }}
table {{ border-collapse: collapse; width: 100% }} td, th {{ border: 0.5pt solid #888; padding: 2pt; word-break: break-all }}</style>
</head><body><h1>Disposal certificate</h1>
<p>Archive {e(str(head['archive_id']))} · plan {e(head['plan'])} · taxpayer {e(str(head['vkn'] or 'all'))} ·
retention ended before {e(head['before'])} · reason: {e(head['reason'])} · by {e(head['by'])} at {e(head['at'])}</p>
<p>Disposed: {foot['summary']['disposed']} · kept: {foot['summary']['kept']} · log checkpoint covering the disposal
leaves: {e(str(foot['checkpoint']))}. The JSON certificate (sha256 {digest}) is signed by the archive's key
(Ed25519, signature beside it); each disposal leaf is in the archive's log with an inclusion proof like any leaf.</p>
<table><tr><th>SHA-256</th><th>Kind</th><th>ID</th><th>Date</th><th>Retained until</th><th>State</th><th>Leaf</th>
<th>Why kept</th></tr>{''.join(rows)}</table>{tail}</body></html>"""
