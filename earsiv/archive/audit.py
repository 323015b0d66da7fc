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
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from earsiv.archive import blobs
from earsiv.archive.errors import StoreError, VerificationError
from earsiv.archive.evidence import verify_document
from earsiv.archive.log import merkle
from earsiv.archive.log.checkpoints import Checkpoint, checkpoint_key
from earsiv.archive.log.entries import DocumentEntry, decode
from earsiv.archive.log.log import LEAF_PREFIX, parse_bundle_key, split_bundle
from earsiv.archive.log.tiles import TileState
from earsiv.archive.rebuild import checkpoint_parts
from earsiv.archive.stores.base import RetentionRecords
from earsiv.errors import EarsivError, StorageFull

if TYPE_CHECKING:
    from earsiv.archive.archive import Archive

__all__ = ["Finding", "verify_all"]

log = logging.getLogger("earsiv.audit")
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
    try:
        arch.checkpoint()  # the newest leaves get a checkpoint (and a stamp) too
    except StorageFull as exc:
        log.warning("no checkpoint of the newest log entries (%s); the next command that writes makes it", exc)
    findings: list[Finding] = []
    docs: list[tuple[int, DocumentEntry]] = []
    seen: dict[str, str | None] = {}  # digest -> its blob's alternative key
    dictionaries: dict[str, _Dictionary] = {}  # dictionary digest -> whether it reads, and who needs it
    checked = 0
    indexed_upto = arch.ledger.mirrored()
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="fixity") as pool:  # zstd and sha256 release the GIL
        for index, entry in _log_pass(arch, findings):
            if isinstance(entry, DocumentEntry):
                docs.append((index, entry))
            if len(docs) >= FIXITY_CHUNK:
                checked += _check_documents(arch, pool, docs, seen, dictionaries, findings, progress, indexed_upto)
                docs = []
        checked += _check_documents(arch, pool, docs, seen, dictionaries, findings, progress, indexed_upto)
    for digest, d in sorted(dictionaries.items()):
        if d.problem is not None:
            # One finding for the dictionary, naming every document that cannot be read without it.
            findings.append(Finding(f"dicts/{digest[:2]}/{digest}", f"dictionary damaged or missing ({d.problem}); "
                                    f"{len(d.needed_by)} documents need it: {', '.join(sorted(d.needed_by))}"))
    if isinstance(arch.store, RetentionRecords):
        findings.extend(_audit_retention_records(arch, arch.store, seen))
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


@dataclass(slots=True)
class _Dictionary:
    problem: str | None
    needed_by: set[str]


def _check_documents(arch: Archive, pool: ThreadPoolExecutor, docs: list[tuple[int, DocumentEntry]],
                     seen: dict[str, str | None], dictionaries: dict[str, _Dictionary], findings: list[Finding],
                     progress: Callable[[int], None] | None, indexed_upto: int) -> int:
    indexed = arch.index.kinds_of([e.digest for _i, e in docs])
    for _i, e in docs:
        if e.blob.dict is None:
            continue
        d = dictionaries.get(e.blob.dict)
        if d is None:
            try:
                arch.dictionaries.raw(e.blob.dict)  # read and checked against its name
                d = dictionaries[e.blob.dict] = _Dictionary(None, set())
            except (StoreError, VerificationError) as exc:
                d = dictionaries[e.blob.dict] = _Dictionary(exc.detail, set())
        if d.problem is not None:
            d.needed_by.add(e.digest)

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
            if idx >= indexed_upto:  # the index has not caught up yet (e.g. a full disk stopped it): no damage
                findings.append(Finding(e.digest, f"in the log (leaf {idx}) but not yet in the index, which has taken "
                                                  f"in {indexed_upto} leaves; it catches up when the archive is next "
                                                  "opened with space to write"))
            else:
                findings.append(Finding(e.digest, f"in the log (leaf {idx}) but missing from the index: "
                                                  "run `earsiv reindex`"))
        if e.digest not in seen:
            count += 1
            seen[e.digest] = e.blob.alt
        if progress:
            progress(1)
    return count


def _audit_retention_records(arch: Archive, store: RetentionRecords, seen: dict[str, str | None]) -> list[Finding]:
    """Unreadable retention records, and blobs kept shorter (or not held) where the log says otherwise.

    The holdings come from the index, which mirrors the log's leaves.  A crash between the
    store's change and its leaf may leave the store keeping longer or holding where the log
    does not; that is no loss and no finding.
    """
    out = [Finding(exc.name or "retention records", f"{exc.detail}; skipped, so the facts it held are missing "
                   "from the store's records (they are in the log's leaves)") for exc in store.damage()]
    digests = sorted(seen)
    for i in range(0, len(digests), 5000):
        chunk = digests[i : i + 5000]
        held = arch.index.access.holdings_of(chunk)
        for d in chunk:
            holdings = held.get(d)
            if not holdings:
                continue  # reported above as missing from the index
            until = max(h.retain_until for h in holdings)
            try:
                kept = arch.store.retention(blobs.blob_key(d, seen[d]))
            except StoreError as exc:
                out.append(Finding(d, f"blob has no retention in the store ({exc.detail}); the log keeps it until "
                                      f"{until.isoformat()}"))
                continue
            if kept.retain_until < until:
                out.append(Finding(d, f"the store keeps the blob until {kept.retain_until.isoformat()}, "
                                      f"the log until {until.isoformat()}"))
            if not kept.legal_hold and any(h.legal_hold for h in holdings):
                out.append(Finding(d, "the log holds the document under a legal hold, the store does not: "
                                      "put the hold on again (`earsiv legal-hold DIGEST on`)"))
    return out
