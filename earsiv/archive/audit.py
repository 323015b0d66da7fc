"""``verify``: check named documents one by one, or everything the store holds, collecting findings.

The full check (``verify --all``) is the one operation besides ``reindex`` that reads the
whole log, on purpose: it reads the store, not the index, so that a document missing from
the index is found too.  In one pass over the bundles it

* checks that the bundles tile the log (no gap, no overlap) and end with a newline;
* recomputes every hash tile from the leaves and compares it with the stored one;
* at every checkpoint size compares the checkpoint's root with the leaves', and checks its
  signature and its time-stamp token (a body without a signature is the remains of a crash,
  not a checkpoint; it is signed by the next checkpoint run and ignored here);
* checks every blob a document leaf names (fixity) and that the index holds the document.

It collects findings; it never stops at the first (STYLE.md, audits).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from earsiv.archive.errors import StoreError, VerificationError
from earsiv.archive.evidence import verify_document
from earsiv.archive.log import merkle
from earsiv.archive.log.checkpoints import Checkpoint, checkpoint_key
from earsiv.archive.log.entries import DocumentEntry, decode
from earsiv.archive.log.log import LEAF_PREFIX, parse_bundle_key, split_bundle
from earsiv.archive.log.tiles import TileState
from earsiv.archive.rebuild import checkpoint_parts
from earsiv.errors import EarsivError

if TYPE_CHECKING:
    from earsiv.archive.archive import Archive

__all__ = ["Finding", "verify_all"]

FIXITY_CHUNK = 256


@dataclass(frozen=True, slots=True)
class Finding:
    subject: str  # a digest, "leaf N", "checkpoint N", or an object key
    problem: str

    def to_json(self) -> dict:
        return {"subject": self.subject, "problem": self.problem}


def verify_all(arch: Archive, digests: list[str] | None = None,
               progress: Callable[[int], None] | None = None) -> tuple[int, list[Finding]]:
    """Check the named documents (each with its own proof), or audit everything; (checked, findings)."""
    if digests is None:
        return _audit(arch, progress)
    findings: list[Finding] = []
    for d in digests:
        try:
            verify_document(arch, d)
        except EarsivError as exc:
            findings.append(Finding(d, exc.detail))
        if progress:
            progress(1)
    return len(digests), findings


def _audit(arch: Archive, progress: Callable[[int], None] | None) -> tuple[int, list[Finding]]:
    arch.checkpoint()  # the newest leaves get a checkpoint (and a stamp) too
    findings: list[Finding] = []
    docs: list[tuple[int, DocumentEntry]] = []
    seen: set[str] = set()
    checked = 0
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="fixity") as pool:  # zstd and sha256 release the GIL
        for index, entry in _log_pass(arch, findings):
            if isinstance(entry, DocumentEntry):
                docs.append((index, entry))
            if len(docs) >= FIXITY_CHUNK:
                checked += _check_documents(arch, pool, docs, seen, findings, progress)
                docs = []
        checked += _check_documents(arch, pool, docs, seen, findings, progress)
    return checked, findings


def _log_pass(arch: Archive, findings: list[Finding]) -> Iterator[tuple[int, object]]:
    """Every leaf in log order, decoded, while tiles and checkpoints are checked against the leaves."""
    from earsiv.archive.tsa.verify import verify_token

    store = arch.store
    checkpoints = checkpoint_parts(store)
    trusted = arch.tsa_certificates()
    edge = TileState()

    def check_tiles(items) -> None:
        for key, data in items:
            try:
                stored = store.get(key, verify=lambda b, want=data: b == want)
            except StoreError as exc:
                findings.append(Finding(key, f"hash tile missing or unreadable: {exc.detail}"))
                continue
            if stored != data:
                findings.append(Finding(key, "hash tile does not hold the hashes of the leaves below it"))

    def check_checkpoint(size: int, parts: set[str]) -> None:
        if ".sig" not in parts:
            return  # the remains of a crash before its signature: not a checkpoint
        subject = f"checkpoint {size}"
        try:
            cp = Checkpoint.parse(store.get(checkpoint_key(size)))
            arch.signer.public.verify(store.get(checkpoint_key(size, ".sig")), cp.body(), what=subject)
            if cp.root != edge.root():
                raise VerificationError("its root does not match the log's leaves")
            if ".tsr" not in parts:
                findings.append(Finding(subject, "not stamped yet"))
            else:
                verify_token(store.get(checkpoint_key(size, ".tsr")), data=cp.body(), trusted_certs=trusted)
        except (VerificationError, StoreError) as exc:
            findings.append(Finding(subject, exc.detail))
        check_tiles(edge.partial_tiles())

    for key in store.list(LEAF_PREFIX):
        first = parse_bundle_key(key)
        if first is None:
            continue
        if first != edge.size:
            findings.append(Finding(key, f"bundle starts at {first}, but the leaves before it end at {edge.size}"))
            if first < edge.size:
                continue
            break
        try:
            leaves, whole = split_bundle(store.get(key), key)
        except StoreError as exc:
            findings.append(Finding(key, exc.detail))
            break
        if not whole:
            findings.append(Finding(key, "bundle does not end with a newline: damaged"))
        for leaf in leaves:
            index = edge.size
            full = edge.append(merkle.leaf_hash(leaf))
            check_tiles([(t.key, t.data) for t in full])
            if edge.size in checkpoints:
                check_checkpoint(edge.size, checkpoints[edge.size])
            try:
                yield index, decode(leaf)
            except VerificationError as exc:
                findings.append(Finding(f"leaf {index}", f"not a readable log entry: {exc.detail}"))
    for size in sorted(s for s in checkpoints if s > edge.size and ".sig" in checkpoints[s]):
        findings.append(Finding(f"checkpoint {size}", f"it covers {size} leaves but the log has {edge.size}"))
    if edge.size != arch.log.size:
        findings.append(Finding("log", f"the store's bundles hold {edge.size} leaves, this process saw {arch.log.size}"))


def _check_documents(arch: Archive, pool: ThreadPoolExecutor, docs: list[tuple[int, DocumentEntry]],
                     seen: set[str], findings: list[Finding], progress: Callable[[int], None] | None) -> int:
    indexed = arch.index.kinds_of([e.digest for _i, e in docs])

    def fixity(item: tuple[int, DocumentEntry]) -> Finding | None:
        idx, e = item
        try:
            data = arch.originals.read(e.digest, e.blob.dict, e.blob.alt)
        except (StoreError, VerificationError) as exc:
            return Finding(e.digest, f"blob missing or damaged (leaf {idx}): {exc.detail}")
        if hashlib.sha256(data).hexdigest() != e.digest or len(data) != e.size:
            return Finding(e.digest, f"blob does not hash to its name (leaf {idx})")
        return None

    count = 0
    for (idx, e), found in zip(docs, pool.map(fixity, docs), strict=True):
        if found is not None:
            findings.append(found)
        if e.digest not in indexed and e.digest not in seen:
            findings.append(Finding(e.digest, f"in the log (leaf {idx}) but missing from the index: run `earsiv reindex`"))
        if e.digest not in seen:
            count += 1
        seen.add(e.digest)
        if progress:
            progress(1)
    return count
