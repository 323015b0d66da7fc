"""Inspection packages: a period's records of one taxpayer, verifiable without earsiv.

A package is a BagIt bag (RFC 8493) serialised as a zip with one top-level
directory, the bag:

    bagit.txt, bag-info.txt, manifest-sha256.txt, tagmanifest-sha256.txt
    VERIFY.txt                       how to check everything with standard tools
    verifier.py                      the stand-alone verifier (stdlib + openssl)
    data/manifest.csv, manifest.json one row of metadata per document
    data/documents/<kind>/<name>.xml the originals, byte for byte
    data/pdf/<kind>/<name>.pdf       printable copies (optional)
    data/evidence/<digest>/          leaf.json (the exact log leaf), proof.json
    data/checkpoints/<size>          the checkpoints used, with .sig and .tsr
    data/consistency/<old>-<new>.json  RFC 9162 proofs linking them
    data/keys/archive-key.pem, tsa-anchors.pem (the configured anchors the tokens chain to)

Each document is proven against the *earliest* stamped checkpoint that covers
it (the earliest proof of existence); consistency proofs link every used
checkpoint to the next and to the newest, so one fork-free history covers
them all.  Documents are streamed into the zip one at a time; per-document
rows are spooled to temporary files, so memory stays flat.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import importlib.resources
import io
import itertools
import json
import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from earsiv.archive.csvcells import csv_cell
from earsiv.archive.errors import TSAError, VerificationError
from earsiv.archive.log import merkle
from earsiv.archive.log.entries import DocumentEntry, decode, format_time
from earsiv.archive.log.proofs import ConsistencyProof, InclusionProof
from earsiv.documents.metadata import KINDS
from earsiv.errors import EarsivError, InvalidInput
from earsiv.indexer.query import SearchQuery

__all__ = ["MANIFEST_FIELDS", "PackageRequest", "PackageResult", "build_package", "document_name", "verifier_source"]

PACKAGE_VERSION = 1
MANIFEST_FIELDS = (
    "digest", "kind", "id", "ettn", "issue_date", "profile", "type_code",
    "supplier_id", "supplier_name", "customer_id", "customer_name", "edefter_vkn",
    "edefter_period_start", "edefter_period_end", "payable_amount", "tax_amount", "currency",
    "signature_status", "signature_trust", "signer_relation", "signature", "signer_subject", "size", "log_index", "checkpoint", "file", "pdf", "held_by_taxpayer",
)
# The flag, shared with search and prints, of a document no holding of the package's VKN backs.
NOT_HELD = "not-held-by-taxpayer"
_TR = str.maketrans("ıİşŞğĞçÇöÖüÜ", "iIsSgGcCoOuU")
UTC = dt.UTC


@dataclass(frozen=True, slots=True)
class PackageRequest:
    vkn: str
    date_from: dt.date
    date_to: dt.date
    kind: str | None = None
    # An inspector's grants, as SearchQuery.windows: only what they cover goes in.
    windows: tuple[tuple[str, dt.date, dt.date], ...] | None = None
    # What the package holds when it is not "a VKN's documents of a period" (a tenant's hand-back
    # volume, tenant.py): said in VERIFY.txt and bag-info.txt, and its External-Identifier.
    label: str | None = None
    identifier: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.vkn, str) or not re.fullmatch(r"\d{10,11}", self.vkn):
            raise InvalidInput(f"{self.vkn!r} is not a VKN (10 digits) or TCKN (11 digits)")
        if self.date_from > self.date_to:
            raise InvalidInput(f"the period starts ({self.date_from}) after it ends ({self.date_to})")
        if self.kind is not None and self.kind not in KINDS:
            raise InvalidInput(f"unknown kind {self.kind!r}; known: {', '.join(KINDS)}")

    def describe(self) -> str:
        if self.label is not None:
            return self.label
        what = f"documents of kind {self.kind}" if self.kind else "documents"
        return (f"{what} in which VKN/TCKN {self.vkn} is a party (or the e-Defter owner), "
                f"issued from {self.date_from} to {self.date_to} inclusive")


@dataclass(slots=True)
class PackageResult:
    path: Path
    bag_name: str
    documents: int
    checkpoints: list[int]
    head: int
    pdfs: int = 0
    skipped: list[str] = field(default_factory=list)  # digests logged after the head checkpoint
    pdf_failures: list[tuple[str, str]] = field(default_factory=list)  # (digest, why it could not be printed)
    digests: list[str] = field(default_factory=list)  # every document in the package, in order
    # Documents naming the VKN that no holding of it backs: archived by someone else (another
    # tenant may archive anything naming anyone), flagged in the manifest and on their prints.
    unheld: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.documents == 0

    def to_json(self) -> dict:
        return {"path": str(self.path), "bag": self.bag_name, "documents": self.documents, "empty": self.empty,
                "checkpoints": self.checkpoints, "head_checkpoint": self.head, "pdfs": self.pdfs, "skipped": self.skipped,
                "not_held_by_taxpayer": self.unheld,
                "pdf_failures": [{"digest": d, "error": e} for d, e in self.pdf_failures]}


def verifier_source() -> bytes:
    return (importlib.resources.files("earsiv.archive.package") / "verifier" / "earsiv_verify_package.py").read_bytes()


def _safe(text: str | None, limit: int = 60) -> str:
    text = unicodedata.normalize("NFKD", (text or "").translate(_TR)).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")[:limit]


def document_name(kind: str, doc_id: str | None, ettn: str | None, digest: str, taken: set[str]) -> str:
    """``<kind>/<ID>_<ETTN>``, sanitised; the digest's prefix goes first when that is taken.

    IDs can be placeholders (``%ID%``) or empty, and two documents may share
    ID and ETTN, so a name is unique only once checked against *taken*
    (case-insensitively: packages land on case-insensitive file systems).
    """
    parts = [p for p in (_safe(doc_id), _safe(ettn, 40)) if p]
    stem = "_".join(parts) or digest[:16]
    name = f"{_safe(kind) or 'other'}/{stem}"
    if name.lower() in taken:
        name = f"{_safe(kind) or 'other'}/{digest[:12]}_{stem}"
    if name.lower() in taken:
        name = f"{_safe(kind) or 'other'}/{digest}"
    taken.add(name.lower())
    return name


class _BagWriter:
    """Writes files into the zip under the bag directory, hashing as it goes."""

    def __init__(self, zf: zipfile.ZipFile, bag: str, spool: Path, now: dt.datetime) -> None:
        self.zf, self.bag = zf, bag
        self.date_time = now.timetuple()[:6]
        self.payload = open(spool / "manifest", "w+", encoding="utf-8")  # noqa: SIM115 - lives as long as the writer; closed in __exit__
        self.tags: list[tuple[str, str]] = []
        self.octets = self.count = 0
        self.anchors: dict[bytes, Any] = {}  # of the hash-tree renewal tokens (FORMAT.md §7d), by DER
        self.hashtrees: set[int] = set()  # the runs whose token is in data/hashtrees
        self.hashtree_renewals: set[str] = set()  # the renewals of their stamps already written

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.payload.close()

    def add(self, rel: str, data: bytes) -> str:
        return self.add_stream(rel, iter([data]))

    def add_stream(self, rel: str, chunks) -> str:
        h, n = hashlib.sha256(), 0
        info = zipfile.ZipInfo(f"{self.bag}/{rel}", date_time=self.date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        with self.zf.open(info, "w") as out:  # every part is far below zip64 sizes (originals <= 64 MiB)
            for chunk in chunks:
                h.update(chunk)
                n += len(chunk)
                out.write(chunk)
        digest = h.hexdigest()
        if rel.startswith("data/"):
            self.payload.write(f"{digest}  {rel}\n")
            self.octets += n
            self.count += 1
        else:
            self.tags.append((digest, rel))
        return digest

    def payload_manifest(self) -> Iterator[bytes]:
        self.payload.flush()
        self.payload.seek(0)
        for line in self.payload:
            yield line.encode("utf-8")


def _iter_rows(arch, req: PackageRequest, page_size: int):
    """(row, whether a holding of the package's VKN backs it), a page at a time."""
    q = SearchQuery(vkn=req.vkn, date_from=req.date_from, date_to=req.date_to, kind=req.kind, limit=page_size,
                    windows=req.windows)
    while True:
        page = arch.index.search(q)
        held = arch.index.access.holdings_of([r.digest for r in page.rows], [req.vkn])
        for row in page.rows:
            yield row, row.digest in held
        if not page.next_cursor:
            return
        q = q.after(page.next_cursor)


def _row_values(row, name: str, checkpoint: int, pdf: str | None, held: bool) -> dict:
    values = {
        "digest": row.digest, "kind": row.kind, "id": row.doc_id, "ettn": row.ettn, "issue_date": row.issue_date,
        "profile": row.profile, "type_code": row.type_code, "supplier_id": row.supplier_id,
        "supplier_name": row.supplier_name, "customer_id": row.customer_id, "customer_name": row.customer_name,
        "edefter_vkn": row.edefter_vkn, "edefter_period_start": row.edefter_period_start,
        "edefter_period_end": row.edefter_period_end, "payable_amount": row.payable_amount,
        "tax_amount": row.tax_amount, "currency": row.currency, "signature_status": row.signature_status,
        "signature_trust": row.signature_trust, "signer_relation": row.signer_relation,
        "signature": row.signature_words[1],
        "signer_subject": row.signer_subject, "size": row.size, "log_index": row.log_index,
        "checkpoint": f"data/checkpoints/{checkpoint:016d}", "file": f"data/documents/{name}.xml", "pdf": pdf,
        "held_by_taxpayer": "yes" if held else "no",
    }
    return {k: (None if v is None else v if isinstance(v, (int, str)) else str(v)) for k, v in values.items()}


def build_package(
    arch,
    req: PackageRequest,
    out: Path,
    *,
    render_pdf: Callable[[str, tuple[str, ...]], bytes] | None = None,
    page_size: int = 200,
    progress: Callable[[int], None] | None = None,
    now: dt.datetime | None = None,
    rows: Callable[[int], Iterator[tuple[Any, bool]]] | None = None,
    head: int | None = None,
) -> PackageResult:
    """Write the package for *req* to *out* (a .zip); see the module docstring.

    *render_pdf(digest, flags)* returns a printable PDF of a document, saying *flags*
    (``not-held-by-taxpayer``); without it the package holds no PDFs.  A checkpoint is made (and stamped) first so every
    document is covered by a stamped checkpoint; a TSA failure is an error,
    because an unstamped package proves nothing about time.  *rows(page_size)*: the
    (row, held) pairs to package instead of the request's search; *head*: a stamped
    checkpoint to prove them against instead of a new one (the volumes of one hand-back).
    """
    now = now or dt.datetime.now(UTC)
    head = _stamped_head(arch) if head is None else head
    bag = _safe(out.stem, 100) or "earsiv-package"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(f".{out.name}.partial")
    result = PackageResult(out, bag, 0, [], head)
    try:
        with contextlib.ExitStack() as stack:
            spool = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="earsiv-package-")))
            zf = stack.enter_context(zipfile.ZipFile(tmp_out, "w", zipfile.ZIP_DEFLATED, allowZip64=True))
            w = stack.enter_context(_BagWriter(zf, bag, spool, now))
            csv_file = stack.enter_context(open(spool / "manifest.csv", "w+", encoding="utf-8", newline=""))
            json_file = stack.enter_context(open(spool / "manifest.jsonl", "w+", encoding="utf-8"))
            source = rows(page_size) if rows is not None else _iter_rows(arch, req, page_size)
            used = _add_documents(arch, w, source, result, csv_file, json_file, render_pdf, progress)
            result.checkpoints = sorted(used)
            _close_bag(arch, w, req, result, csv_file, json_file, now)
    except BaseException:
        tmp_out.unlink(missing_ok=True)
        raise
    os.replace(tmp_out, out)
    return result


def _stamped_head(arch) -> int:
    """The size of a checkpoint made and stamped now: every document of the package is proven by one."""
    arch.checkpoint()
    if arch.stamp_error:
        raise TSAError(f"cannot stamp a checkpoint for the package: {arch.stamp_error}")
    latest = arch.index.log.latest_checkpoint(stamped=True)
    if latest is None:
        raise TSAError("the archive has no time-stamped checkpoint yet (is it empty, or the TSA unreachable?)")
    return latest.size


def _add_documents(arch, w: _BagWriter, rows: Iterator[tuple[Any, bool]], result: PackageResult, csv_file, json_file,
                   render_pdf: Callable[[str, tuple[str, ...]], bytes] | None,
                   progress: Callable[[int], None] | None) -> set[int]:
    """Each document the request covers, its evidence, its print and its manifest line; the checkpoints used."""
    head = result.head
    used: set[int] = {head}
    taken: set[str] = set()
    writer = csv.DictWriter(csv_file, fieldnames=MANIFEST_FIELDS)
    writer.writeheader()
    for row, held in rows:
        if row.log_index >= head:
            # Appended after the head checkpoint (by a concurrent ingest): the next package's.
            result.skipped.append(row.digest)
            continue
        # Each document is proven by the first stamped checkpoint that includes it
        # (one lookup), so a package proves what was known when, not only today's head.
        first = arch.index.log.first_stamped_after(row.log_index)
        size = head if first is None or first.size > head else first.size
        used.add(size)
        name = document_name(row.kind, row.doc_id, row.ettn, row.digest, taken)
        data = arch.original(row.digest)  # checked against its digest
        w.add(f"data/documents/{name}.xml", data)
        _add_evidence(arch, w, row, size, f"data/documents/{name}.xml")
        _add_hashtree(arch, w, row, data)
        flags = () if held else (NOT_HELD,)
        pdf = _add_print(w, row.digest, name, flags, render_pdf, result) if render_pdf is not None else None
        values = _row_values(row, name, size, pdf, held)
        # The CSV is for spreadsheets: no cell a document supplied may run there (manifest.json keeps the values).
        writer.writerow({k: csv_cell(v) for k, v in values.items()})
        json_file.write(json.dumps(values, ensure_ascii=False) + "\n")
        result.documents += 1
        result.digests.append(row.digest)
        if not held:
            result.unheld.append(row.digest)
        if progress:
            progress(1)
    return used


def _add_print(w: _BagWriter, digest: str, name: str, flags: tuple[str, ...],
               render_pdf: Callable[[str, tuple[str, ...]], bytes], result: PackageResult) -> str | None:
    try:
        printed = render_pdf(digest, flags)
    except (EarsivError, ValueError) as exc:
        # A print is a convenience beside the original: its failure is
        # reported, and does not keep the original out of the package.
        result.pdf_failures.append((digest, str(exc)))
        return None
    path = f"data/pdf/{name}.pdf"
    w.add(path, printed)
    result.pdfs += 1
    return path


def _close_bag(arch, w: _BagWriter, req: PackageRequest, result: PackageResult, csv_file, json_file,
               now: dt.datetime) -> None:
    """The checkpoints with their tokens and proofs, the keys, the manifests and the tag files."""
    anchors = _add_checkpoints(arch, w, result.checkpoints)
    for name, pem in _keys(arch, anchors).items():
        w.add(f"data/keys/{name}", pem)
    _add_key_introductions(arch, w, result.head)
    csv_file.seek(0)
    w.add_stream("data/manifest.csv", (line.encode("utf-8") for line in csv_file))
    w.add_stream("data/manifest.json", _manifest_json(arch, req, result, json_file, now))
    _add_tag_files(w, arch, req, result, now, anchors)


def _add_evidence(arch, w: _BagWriter, row, size: int, doc_path: str) -> None:
    leaf = arch.log.read_leaf(row.log_index)
    entry = decode(leaf)
    if not isinstance(entry, DocumentEntry) or entry.digest != row.digest:
        raise VerificationError(f"log leaf {row.log_index} does not describe this document", name=row.digest)
    cp, _sig, _token = arch.log.load_checkpoint(size)
    # Made and verified in one: an InclusionProof that does not lead to the root cannot exist.
    proof = InclusionProof(row.log_index, size, merkle.leaf_hash(leaf),
                           tuple(arch.log.inclusion_proof(row.log_index, size)), cp.root)
    doc = {**proof.to_json(), "digest": row.digest, "document": doc_path, "checkpoint": f"data/checkpoints/{size:016d}"}
    w.add(f"data/evidence/{row.digest}/leaf.json", leaf)
    w.add(f"data/evidence/{row.digest}/proof.json", json.dumps(doc, indent=1).encode() + b"\n")


def _add_hashtree(arch, w: _BagWriter, row, data: bytes) -> None:
    """The document's newest hash-tree renewal (FORMAT.md §7d), checked, if one covers it: its reduced
    tree as JSON and as an RFC 4998 evidence record, the evidence it stamped, and the run's token once."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from earsiv.archive.ers import evidence_record, reduced_tree
    from earsiv.archive.evidence import verify_record

    record = verify_record(arch, row.digest, row.log_index, data)
    if record is None:
        return
    run, ev = record.run, f"data/evidence/{row.digest}"
    n = run.position(row.log_index)
    item = run.items[n]
    token_rel = f"data/hashtrees/{run.seq:016d}.tsr"
    renewals = []  # RFC 4998 §5.2 renewals of the run's stamp, oldest first
    for r, tok in record.links[1:]:
        m = r.position(run.seq)
        rel = f"data/hashtrees/renewals/{r.seq:016d}.tsr"
        renewals.append({"token": rel, "first": [h.hex() for h in r.items[m][1]],
                         "path": [h.hex() for h in reduced_tree(r.tree(), m)], "root": r.root().hex()})
        if rel not in w.hashtree_renewals:
            w.hashtree_renewals.add(rel)
            w.add(rel, tok)
    doc = {"v": 1, "type": "hashtree-renewal", "hash": run.hash, "token": token_rel,
           "chain": f"{ev}/evidence-record-chain.json", "first": [item.doc.hex(), item.chain.hex()],
           "path": [h.hex() for h in reduced_tree(run.tree(), n)], "root": run.root().hex(), "renewals": renewals}
    w.add(f"{ev}/hashtree.json", json.dumps(doc, indent=1).encode() + b"\n")
    w.add(f"{ev}/evidence-record-chain.json", record.chain)
    w.add(f"{ev}/evidence-record.ers", evidence_record(record, row.log_index))
    if run.seq not in w.hashtrees:
        w.hashtrees.add(run.seq)
        w.add(token_rel, record.token)
    for info in record.infos:
        if info.anchor is not None:
            w.anchors[info.anchor.public_bytes(Encoding.DER)] = info.anchor


def _add_checkpoints(arch, w: _BagWriter, sizes: list[int]) -> list:
    """Write the checkpoints with their signatures and tokens; return the anchors the tokens chain to.

    Each token is verified against the archive's anchors before it goes in: a package never
    carries a stamp its own anchors file would not accept.
    """
    from cryptography.hazmat.primitives.serialization import Encoding

    from earsiv.archive.log.checkpoints import checkpoint_key
    from earsiv.archive.renewal import chain, renewal_key, verify_chain
    from earsiv.archive.tsa.verify import verify_token

    roots, anchors, trusted = {}, dict(w.anchors), arch.tsa_certificates()
    book, renewed = arch.renewals.current(), set()
    for size in sizes:
        cp, sig, token = arch.log.load_checkpoint(size)
        if token is None:
            raise TSAError(f"checkpoint {size} has no time-stamp token")
        tokens = {".tsr": token}
        if arch.store.exists(checkpoint_key(size, ".tsr2")):
            tokens[".tsr2"] = arch.store.get(checkpoint_key(size, ".tsr2"))
        roots[size] = cp.root
        w.add(f"data/checkpoints/{size:016d}", cp.body())
        w.add(f"data/checkpoints/{size:016d}.sig", sig)
        for suffix, tok in tokens.items():
            info = verify_token(tok, data=cp.body(), trusted_certs=trusted)
            anchors[info.anchor.public_bytes(Encoding.DER)] = info.anchor
            w.add(f"data/checkpoints/{size:016d}{suffix}", tok)
        # The renewals of its stamps (FORMAT.md §7b), each once for the whole package.
        for suffix, tok in tokens.items():
            links = chain(arch.store, size, tok, book, suffix)
            for link, info in zip(links[1:], verify_chain(size, cp.body(), links, trusted)[1:], strict=True):
                anchors[info.anchor.public_bytes(Encoding.DER)] = info.anchor
                if link.renewal.seq not in renewed:
                    renewed.add(link.renewal.seq)
                    w.add(f"data/renewals/{link.renewal.seq:016d}.json",
                          arch.store.get(renewal_key(link.renewal.seq, ".json")))
                    w.add(f"data/renewals/{link.renewal.seq:016d}.tsr", link.token)
    pairs = set(itertools.pairwise(sizes)) | {(s, sizes[-1]) for s in sizes[:-1]}
    for old, new in sorted(pairs):
        proof = ConsistencyProof(old, new, roots[old], roots[new], tuple(arch.log.consistency_proof(old, new)))
        doc = {**proof.to_json(), "old_checkpoint": f"data/checkpoints/{old:016d}",
               "new_checkpoint": f"data/checkpoints/{new:016d}"}
        w.add(f"data/consistency/{old:016d}-{new:016d}.json", json.dumps(doc, indent=1).encode() + b"\n")
    return list(anchors.values())


def _add_key_introductions(arch, w: _BagWriter, head: int) -> None:
    """The chain from the first key to the head's (FORMAT.md §7c): each ``archive-key`` leaf with its
    inclusion proof in the head checkpoint, and the key it introduces as a PEM file of its own."""
    from earsiv.archive.evidence import key_introductions

    cp, _sig, _token = arch.log.load_checkpoint(head)
    for item in key_introductions(arch, cp):
        doc = {**item, "checkpoint": f"data/checkpoints/{head:016d}"}
        w.add(f"data/keys/introductions/{item['log_index']:016d}.json", json.dumps(doc, indent=1).encode() + b"\n")
        entry = json.loads(item["leaf"])
        w.add(f"data/keys/key-{entry['new']}.pem", entry["public_key"].encode("ascii"))


def _keys(arch, anchors: list) -> dict[str, bytes]:
    # The configured anchors the package's tokens chain to, in one file: what `openssl ts
    # -verify -CAfile` and verify-package use. Never a certificate taken from a token.
    from cryptography.hazmat.primitives import serialization

    tsa = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in anchors)
    # The first key: the archive's identity, what a verifier holds on paper; later keys come
    # with their introductions.
    return {"archive-key.pem": arch.archive_key().pem, "tsa-anchors.pem": tsa}


def _manifest_json(arch, req: PackageRequest, result: PackageResult, rows_file, now: dt.datetime) -> Iterator[bytes]:
    head = {
        "v": PACKAGE_VERSION, "type": "earsiv-inspection-package", "origin": arch.log.origin,
        "vkn": req.vkn, "from": req.date_from.isoformat(), "to": req.date_to.isoformat(), "kind": req.kind,
        "created": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "head_checkpoint": f"data/checkpoints/{result.head:016d}",
        "checkpoints": [f"data/checkpoints/{s:016d}" for s in result.checkpoints],
    }
    yield json.dumps(head, ensure_ascii=False, indent=1)[:-2].encode() + b',\n "documents": [\n'
    rows_file.seek(0)
    first = True
    for line in rows_file:
        yield (b"" if first else b",\n") + b"  " + line.rstrip("\n").encode("utf-8")
        first = False
    yield f'\n ],\n "document_count": {result.documents}\n}}\n'.encode()


def _add_tag_files(w: _BagWriter, arch, req: PackageRequest, result: PackageResult, now: dt.datetime,
                   anchors: list) -> None:
    from earsiv.archive.evidence import anchor_lines
    from earsiv.archive.log.checkpoints import checkpoint_key
    from earsiv.archive.tsa.tokens import token_gen_time

    head_time = token_gen_time(arch.store.get(checkpoint_key(result.head, ".tsr")))
    head_cp, _sig, _token = arch.log.load_checkpoint(result.head)
    w.add("VERIFY.txt", VERIFY_TEXT.format(
        bag=w.bag, description=req.describe(), count=result.documents,
        head=f"{result.head:016d}", head_attime=int(head_time.timestamp()), head_time=format_time(head_time),
        head_key=("data/keys/archive-key.pem" if head_cp.key_id == arch.archive_key().key_id
                  else f"data/keys/key-{head_cp.key_id}.pem"),
        rotated=("" if head_cp.key_id == arch.archive_key().key_id and not arch.keys.ring().chain else
                 " signed before\n   the key was rotated, and step 4b shows the keys that signed the others"),
        origin=arch.log.origin, key_id=arch.archive_key().key_id,
        anchor_lines=anchor_lines(anchors, indent=4),
        empty="\nTHIS PACKAGE HOLDS NO DOCUMENTS: none matched the request.\n" if result.empty else "",
        unheld=(f"\n{len(result.unheld)} of them are not held by {req.vkn} itself: someone else archived them\n"
                f"naming it (column held_by_taxpayer of data/manifest.csv says \"no\").\n" if result.unheld else ""),
        tsa_note=("" if arch.config.tsa_url else
                  "\nThe tokens are made by the archive's built-in TSA: they fix the order and the\n"
                  "archive's own claim of time, not an independent qualified time-stamp.\n"),
    ).encode("utf-8"))
    w.add("verifier.py", verifier_source())
    w.add_stream("manifest-sha256.txt", w.payload_manifest())
    w.add("bagit.txt", b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    empty = " The package holds no documents: none matched." if result.empty else ""
    info = [
        ("Source-Organization", f"earsiv archive {arch.log.origin}"),
        ("Bagging-Date", now.date().isoformat()),
        ("Payload-Oxum", f"{w.octets}.{w.count}"),
        ("External-Identifier", req.identifier or f"{req.vkn}_{req.date_from}_{req.date_to}{'_' + req.kind if req.kind else ''}"),
        ("External-Description", (f"Inspection package: {result.documents} {req.describe()}.{empty} "
                                  f"See VERIFY.txt for how to verify it.")),
        ("Bag-Software-Agent", "earsiv"),
        # LAW.md L3: where the archive keeps the primary copy these originals come from, as configured.
        ("Primary-Store-Location", arch.config.store_location.describe()),
    ]
    w.add("bag-info.txt", "".join(f"{k}: {v}\n" for k, v in info).encode("utf-8"))
    tag = io.StringIO()
    for digest, rel in w.tags:
        tag.write(f"{digest}  {rel}\n")
    w.add("tagmanifest-sha256.txt", tag.getvalue().encode("utf-8"))


VERIFY_TEXT = """\
How to verify this inspection package
=====================================

This package holds {count} {description}.
They come from the earsiv archive {origin}.{empty}{unheld}{tsa_note}
Nothing here needs the software that made the package: sha256sum, openssl
(3.0 or newer) and Python 3 are enough. Every command below is run inside the
package directory, i.e. after

    unzip {bag}.zip            (or: python3 -m zipfile -e {bag}.zip .)
    cd {bag}

What is here (a BagIt bag, RFC 8493)
  bagit.txt, bag-info.txt        the bag declaration and what the package is
  manifest-sha256.txt            sha256 of every file under data/
  tagmanifest-sha256.txt         sha256 of the other files here (not of itself)
  verifier.py                    a stand-alone verifier (Python 3 + openssl)
  data/manifest.csv, .json       one row per document: digest, kind, ID, ETTN,
                                 issue date, parties, amounts, what the signature
                                 check established -- signature_status "consistent"
                                 means only that the bytes match the signature;
                                 signature_trust "trusted" that the certificate
                                 chains at signing time to a root the archive was
                                 configured with; signer_relation "supplier" that
                                 its VKN/TCKN is the supplier's; "signature" says
                                 it in words -- the file that holds it, and
                                 held_by_taxpayer:
                                 "no" for a document that names the taxpayer but
                                 that the taxpayer itself never archived
  data/documents/KIND/*.xml      the originals, byte for byte as received
  data/pdf/KIND/*.pdf            printable copies (only if requested)
  data/evidence/DIGEST/          leaf.json: the log leaf naming the document;
                                 proof.json: its inclusion proof, with steps
  data/checkpoints/N             "the archive's first N log entries have root R",
                                 N.sig its Ed25519 signature, N.tsr its RFC 3161
                                 time-stamp token
  data/consistency/A-B.json      proof that checkpoint A is a prefix of B
  data/keys/archive-key.pem      the archive's public key
  data/keys/tsa-anchors.pem      the certificates the archive trusts its time-stamp
                                 authorities through (their CA, or their pinned
                                 certificate), as configured: never a token's own

0. Compare the keys with what you hold from outside this package
   Nothing in a package vouches for itself: whoever could change a document
   here could change its key files too. Obtain, separately from the package,
   the archive key's fingerprint (the archive's operator prints it on paper;
   `earsiv status` shows it as "archive key") and the fingerprints the
   time-stamp authorities publish for their certificates. Then
     openssl pkey -pubin -in data/keys/archive-key.pem -outform DER | sha256sum
   must print the archive key fingerprint you hold; this package claims
     {key_id}
   and the time-stamp anchors here must be ones the authority publishes:
     openssl x509 -in data/keys/tsa-anchors.pem -noout -subject -fingerprint -sha256
   (the first; openssl prints colons). This package claims
{anchor_lines}

1. Everything at once
     python3 verifier.py . --key-fingerprint HEX [--tsa-anchors FILE]
   with HEX the archive key fingerprint you obtained separately, and FILE the
   time-stamp authority's certificates as you obtained them (the default is
   data/keys/tsa-anchors.pem, once you compared it as in step 0). It prints
   "everything verifies" and exits 0, or names every file that fails.

2. No file changed since the package was made
     sha256sum -c manifest-sha256.txt
     sha256sum -c tagmanifest-sha256.txt
   Every line must say OK.

3. Each document is the one its log leaf names
     for d in data/evidence/*/; do
       grep -o '"digest":"[0-9a-f]*"' "$d/leaf.json"
       grep -o '"document": "[^"]*"' "$d/proof.json"
     done
   and for each document file: sha256sum data/documents/KIND/NAME.xml
   must print the digest its leaf names (data/manifest.csv pairs them).

4. Each checkpoint is signed by the archive and time-stamped
     openssl pkey -pubin -in data/keys/archive-key.pem -outform DER | sha256sum
   must print the "key:" line of every checkpoint{rotated}; then, for each N in
   data/checkpoints (the newest is {head}):
     openssl pkeyutl -verify -pubin -inkey {head_key} -rawin \\
         -in data/checkpoints/{head} -sigfile data/checkpoints/{head}.sig
   must print "Signature Verified Successfully", and
     openssl ts -verify -data data/checkpoints/{head} -in data/checkpoints/{head}.tsr \\
         -token_in -CAfile data/keys/tsa-anchors.pem -partial_chain -attime {head_attime}
   must print "Verification: OK" (-partial_chain: an anchor may be a TSA's own
   pinned certificate rather than a root; -attime: the certificates are checked
   as of the stamp's own time, {head_time} = {head_attime} seconds since 1970,
   so the check still succeeds after the TSA's certificate has expired). N.tsr2, where present, is a second
   token by another, independent TSA, checked the same way. The time of the stamp:
     openssl ts -reply -in data/checkpoints/{head}.tsr -token_in -token_out -text | grep 'Time stamp'
   All checkpoints in one loop:
     for c in data/checkpoints/*[0-9]; do
       k=data/keys/key-$(sed -n 's/^key: //p' "$c").pem; [ -f "$k" ] || k=data/keys/archive-key.pem
       openssl pkeyutl -verify -pubin -inkey "$k" -rawin -in "$c" -sigfile "$c.sig"
       for t in "$c".tsr*; do
         at=$(date -u -d "$(openssl ts -reply -in "$t" -token_in -token_out -text | sed -n 's/^Time stamp: //p')" +%s)
         openssl ts -verify -data "$c" -in "$t" -token_in -CAfile data/keys/tsa-anchors.pem -partial_chain -attime "$at"
       done
     done

4b. Later signing keys (only if data/keys/introductions exists)
   The archive's key was rotated (`earsiv key rotate`): checkpoints covering a
   rotation are signed by the new key, data/keys/key-ID.pem. Each
   data/keys/introductions/I.json holds the log leaf (log index I) that
   introduced one, with its inclusion proof in a checkpoint of this package
   (check it as in step 5). The leaf names "old" (the key in force before) and
   "new", and carries two signatures (base64) of the five lines
     earsiv-key-rotation/1
     origin: ORIGIN (the checkpoints' origin line)
     old: OLD
     new: NEW
     at: AT (the leaf's "at")
   each ending in a newline: "old_signature" by the old key (the hand-over) and
   "new_signature" by the new key. Starting from data/keys/archive-key.pem, each
   introduction must hand over from the key in force; a checkpoint of N leaves
   must be signed by the key in force after its first N leaves (the last one
   introduced at a log index below N). verifier.py checks all of it.

5. Each document's leaf is in its checkpoint's tree (RFC 9162 2.1.3)
   The leaf hash is
     (printf '\\000'; cat data/evidence/DIGEST/leaf.json) | sha256sum
   and must equal "leaf_hash" in proof.json. Each of proof.json's "steps"
   hashes two values, one of which is the previous result (the first: the
   leaf hash):
     (printf '\\001'; printf LEFT | xxd -r -p; printf RIGHT | xxd -r -p) | sha256sum
   must print its "result"; the last result must be the "root:" line of the
   checkpoint that proof.json names. verifier.py also recomputes the path from
   "hashes", "log_index" and "tree_size" as RFC 9162 prescribes.

6. Renewed stamps (only if data/renewals exists)
   A stamp whose certificate was about to expire was stamped again, with many
   others, by data/renewals/R.tsr over the root of a hash tree: data/renewals/R.json
   lists, per checkpoint, the sha256 of the stamp it renews ("leaf"; sha256sum
   data/checkpoints/N.tsr, or the earlier data/renewals/R'.tsr). The root is
   the RFC 9162 tree head over those leaves (leaf hash sha256(0x00||leaf), as in
   step 5); verifier.py computes it, then
     openssl ts -verify -digest ROOT -in data/renewals/R.tsr -token_in \\
         -CAfile data/keys/tsa-anchors.pem -partial_chain -attime SECONDS
   must print "Verification: OK", and the renewal's time (openssl ts -reply
   -in data/renewals/R.tsr -token_in -text; SECONDS is it as date -u -d TIME +%s)
   must lie before the end of the
   certificate of the stamp it renews (openssl pkcs7 -inform DER -in TOKEN
   -print_certs | openssl x509 -noout -enddate): so the renewal vouches that
   the older stamp was made while its certificate was valid, even once it has
   expired. A renewal whose R.json says "chain": "tsr2" renews the second,
   independent chain: data/checkpoints/N.tsr2 and the renewals of it.

7. The checkpoints belong to one history
   data/consistency/A-B.json proves (RFC 9162 2.1.4) that the tree of
   checkpoint A is the beginning of the tree of checkpoint B: nothing logged
   before A was changed or removed later. verifier.py checks every one; each
   checkpoint is linked to the next and to the newest.

8. Hash-tree renewals (only if data/hashtrees exists)
   When SHA-256 was to be retired, each document was stamped again with a new
   hash H (sha384, say), together with its evidence as it stood:
   data/evidence/DIGEST/hashtree.json lists in "first" H of the document and H
   of evidence-record-chain.json (that evidence: its leaf, which must be
   leaf.json, proof, checkpoint and tokens, base64 in JSON):
     openssl dgst -sha384 data/documents/NAME.xml
   Then, RFC 4998 style, the hash of the two concatenated in ascending order,
   and with each "path" value in turn the same, gives its "root", and
     openssl ts -verify -digest ROOT -in data/hashtrees/S.tsr -token_in \\
         -CAfile data/keys/tsa-anchors.pem -partial_chain
   must print "Verification: OK". Each entry of "renewals" renews that stamp
   (RFC 4998 5.2): its "first" lists H of data/hashtrees/S.tsr and of each
   renewal token before it, its path leads the same way to its "root", which
   its "token" (data/hashtrees/renewals/T.tsr) stamps, made while the token
   before it could be trusted. verifier.py does all of it. The same proof is
   evidence-record.ers, an RFC 4998 EvidenceRecord for RFC 4998 tools.
"""
