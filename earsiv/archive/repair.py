"""``earsiv repair``: put back a lost or damaged copy of an object from an intact one.

For each object named (or each object of an open audit finding) and each copy of it that
fails its check (``auditcopies.py``), an intact copy is looked for: the other store's (the
replica for the primary, the primary for the replica), or, for a hash tile, the one
computed from the leaves.  Its bytes are checked with the same check before anything is
written, written with the store's ``restore`` (the only path that may replace an object's
bytes), read back and checked again; then a ``repair`` leaf records the object, the copy,
where the bytes came from and their sha256, and closes the findings of that copy.

An object damaged in every copy is reported as not repairable, never guessed at; the
damage report (``damage.py``) then tells the operator whom to ask for a copy.  Retention
and legal holds that a copy lost are put on again from what the log records.

Order matters: dictionaries before the blobs that need them, bundles before the tiles
computed from them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from earsiv.archive import blobs
from earsiv.archive.auditcopies import Check, CopyReader, blob_problem, fixed_check
from earsiv.archive.errors import ArchiveError, StoreError, VerificationError
from earsiv.archive.log import merkle
from earsiv.archive.log.checkpoints import CHECKPOINT_PREFIX
from earsiv.archive.log.entries import RepairEntry
from earsiv.archive.log.log import parse_bundle_key, split_bundle
from earsiv.archive.log.tiles import TILE_PREFIX, WIDTH, TreeHashes
from earsiv.archive.stores.base import PutItem, Restoring

if TYPE_CHECKING:
    from earsiv.archive.archive import Archive
    from earsiv.archive.stores.base import ObjectStore

__all__ = ["Repair", "RepairReport", "repair"]

log = logging.getLogger("earsiv.repair")
_ORDER = ("earsiv.json", "keys/", "dicts/", "blobs/", "log/leaves/", "log/checkpoints/", "log/tile/")


@dataclass(frozen=True, slots=True)
class Repair:
    object: str
    copy: str
    outcome: str  # repaired, intact, unrepairable, skipped
    source: str = ""
    detail: str = ""

    def to_json(self) -> dict:
        return {"object": self.object, "copy": self.copy, "outcome": self.outcome, "source": self.source,
                "detail": self.detail}


@dataclass(slots=True)
class RepairReport:
    repairs: list[Repair] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.outcome in ("repaired", "intact") for r in self.repairs)

    def to_json(self) -> dict:
        counts: dict[str, int] = {}
        for r in self.repairs:
            counts[r.outcome] = counts.get(r.outcome, 0) + 1
        return {"ok": self.ok, "counts": counts, "repairs": [r.to_json() for r in self.repairs]}


def _rank(key: str) -> int:
    return next((i for i, p in enumerate(_ORDER) if key.startswith(p)), len(_ORDER))


def repair(arch: Archive, objects: list[str] | None = None, *, by: str,
           progress: Callable[[int], None] | None = None) -> RepairReport:
    """Repair *objects* (store keys), or every object an open audit finding names."""
    reader = CopyReader(arch)
    targets: list[tuple[str, str | None]]  # (key, copy or None: every copy)
    report = RepairReport()
    if objects is None:
        targets = sorted({(f.object, f.copy) for f in arch.index.audit.findings(open_only=True)})
        for key, copy in list(targets):
            if not copy or not _is_key(key):
                report.repairs.append(Repair(key, copy, "skipped", detail=_not_an_object(key)))
                targets.remove((key, copy))
    else:
        targets = [(k, None) for k in objects]
    names = dict(reader.copies)
    for key, copy in sorted(targets, key=lambda t: (_rank(t[0]), t[0], t[1] or "")):
        for name in ([copy] if copy else list(names)):
            if name not in names:
                report.repairs.append(Repair(key, name, "skipped", detail=f"this home has no {name} copy"))
                continue
            try:
                report.repairs.append(_repair_one(arch, reader, key, name, by))
            except ArchiveError as exc:
                report.repairs.append(Repair(key, name, "unrepairable", detail=exc.detail))
        if progress:
            progress(1)
    return report


def _is_key(key: str) -> bool:
    return key == "earsiv.json" or key.startswith(("keys/", "dicts/", "blobs/", "log/"))


def _not_an_object(subject: str) -> str:
    if len(subject) == 64:
        return "a document the index lost: run `earsiv reindex`"
    if "retention" in subject:
        return ("a retention record the disk damaged; the facts it held are in the log's leaves, and the "
                "store refuses every deletion until an operator has looked")
    return "not an object in the store: see the finding"


def _repair_one(arch: Archive, reader: CopyReader, key: str, copy: str, by: str) -> Repair:
    stores = dict(reader.copies)
    target = stores[copy]
    check = _check_for(arch, reader, key)
    if check is None:
        return Repair(key, copy, "skipped", detail="no check is known for this key")
    try:
        current: bytes | None = target.get(key)
    except StoreError:
        current = None
    if current is not None and check(current) is None:
        if _retention_restored(arch, key, target, copy, by):
            return Repair(key, copy, "repaired", "log", "retention and legal hold put on again as the log records")
        _record(arch, key, copy, "recheck", current, by)
        return Repair(key, copy, "intact", "recheck", "intact when checked again; its findings are closed")
    source, data = _intact_copy(arch, reader, key, copy, check)
    if data is None:
        return Repair(key, copy, "unrepairable", detail=source)
    if not isinstance(target, Restoring):
        return Repair(key, copy, "unrepairable", detail=f"the {copy} store cannot restore objects")
    until, hold = _retention_for(arch, key, [s for n, s in reader.copies if n != copy])
    target.restore(PutItem(key, data, until))
    if hold:
        target.set_legal_hold(key, True)
    back = target.get(key)
    problem = check(back)
    if problem is not None:
        return Repair(key, copy, "unrepairable", source, f"written, but reads back damaged: {problem}")
    _record(arch, key, copy, source, back, by)
    log.info("repaired %s (%s) from %s", key, copy, source)
    return Repair(key, copy, "repaired", source)


def _record(arch: Archive, key: str, copy: str, source: str, data: bytes, by: str) -> None:
    arch.ledger.append_entry(RepairEntry(key, copy, source, hashlib.sha256(data).hexdigest(),
                                         dt.datetime.now(dt.UTC), by))


def _intact_copy(arch: Archive, reader: CopyReader, key: str, copy: str, check: Check) -> tuple[str, bytes | None]:
    """(where from, bytes) of an intact copy; (why not, None) if there is none."""
    for name, store in reader.copies:
        if name == copy:
            continue
        try:
            data = store.get(key)
        except StoreError:
            continue
        if check(data) is None:
            return name, data
    if key.startswith(TILE_PREFIX):
        try:
            data = arch.log.tile_from_leaves(key)
        except (StoreError, ValueError) as exc:
            return f"no intact copy, and the leaves below it cannot be read: {exc}", None
        if check(data) is None:
            return "leaves", data
    others = [n for n, _s in reader.copies if n != copy]
    return (f"no intact copy ({', '.join(others)} damaged or missing too): ask the counterparty or GİB for a copy"
            if others else "no other copy to repair from: configure a replica (`earsiv replica add`)"), None


def _retention_for(arch: Archive, key: str, others: list[ObjectStore]):
    """(retain-until, legal hold) to restore *key* with: the log's for a blob, else another copy's or the log's."""
    if key.startswith("blobs/"):
        digest = key.split("/")[2].split(".")[0]
        held = arch.index.access.holdings_of([digest]).get(digest) or []
        if held:
            return max(h.retain_until for h in held), any(h.legal_hold for h in held)
    for store in others:
        try:
            kept = store.retention(key)
        except StoreError:
            continue
        return kept.retain_until, kept.legal_hold
    return arch.ledger.retention.until(), False


def _retention_restored(arch: Archive, key: str, target: ObjectStore, copy: str, by: str) -> bool:
    """A blob intact but kept shorter, or not held, where the log says otherwise: put it right."""
    if not key.startswith("blobs/"):
        return False
    until, hold = _retention_for(arch, key, [])
    try:
        kept = target.retention(key)
    except StoreError:
        kept = None
    if kept is not None and kept.retain_until >= until and (kept.legal_hold or not hold):
        return False
    data = target.get(key)
    if kept is None or kept.retain_until < until:
        if not isinstance(target, Restoring):
            return False
        target.restore(PutItem(key, data, until))  # same bytes: only the retention fact is written
    if hold:
        target.set_legal_hold(key, True)
    _record(arch, key, copy, "log", data, by)
    return True


def _check_for(arch: Archive, reader: CopyReader, key: str) -> Check | None:
    fixed = fixed_check(arch, key)
    if fixed is not None:
        return fixed
    if key.startswith("blobs/"):
        digest = key.split("/")[2].split(".")[0]
        row = arch.index.get(digest)
        if row is None:
            return None
        raw = None
        if row.dict_digest:
            raw, _found = reader.dictionary(row.dict_digest)
            if raw is None:
                raise VerificationError(f"its dictionary {row.dict_digest} is damaged in every copy; repair it first")
        return lambda frame: blob_problem(frame, digest, row.size, raw)
    if key.startswith("dicts/"):
        digest = key.rsplit("/", 1)[-1]

        def dictionary(frame: bytes) -> str | None:
            try:
                data = blobs.decode(frame)
            except VerificationError as exc:
                return f"dictionary damaged: {exc.detail}"
            return None if hashlib.sha256(data).hexdigest() == digest else "dictionary does not hash to its name"

        return dictionary
    if key.startswith(CHECKPOINT_PREFIX):
        number = key[len(CHECKPOINT_PREFIX) :].partition(".")[0]
        _cp, checks = reader.checkpoint(int(number))
        return checks.get(key)
    if key.startswith(TILE_PREFIX):
        expected = arch.log.tile_from_leaves(key)
        return lambda data: None if data == expected else "does not hold the hashes of the leaves below it"
    first = parse_bundle_key(key)
    if first is not None:
        return _bundle_check(arch, reader, key, first)
    return None


def _bundle_check(arch: Archive, reader: CopyReader, key: str, first: int) -> Check:
    """A bundle's leaves must hash to level-0 tiles that inclusion proofs tie to the latest signed checkpoint."""
    row = arch.index.log.latest_checkpoint()
    if row is None or row.size <= first:
        raise VerificationError(f"no signed checkpoint covers {key} yet: it cannot be checked")
    cp, _checks = reader.checkpoint(row.size)
    if cp is None:
        raise VerificationError(f"the latest checkpoint ({row.size}) does not verify in any copy")
    size, root = cp.size, cp.root
    proven: dict[int, list[bytes]] = {}

    def tile(window: int) -> list[bytes]:
        if window not in proven:
            for _name, store in reader.copies:
                tree = TreeHashes(size, store.get)
                start = window * WIDTH
                try:
                    hashes = tree.hashes(0, start, min(WIDTH, size - start))
                    merkle.verify_inclusion(start, size, hashes[0], merkle.inclusion_path(start, size, tree.subtree),
                                            root)
                except (StoreError, VerificationError, ValueError):
                    continue
                proven[window] = hashes
                break
            else:
                raise VerificationError(f"no copy of the hash tile under {key} is proven by checkpoint {size}")
        return proven[window]

    def check(data: bytes) -> str | None:
        try:
            leaves, whole = split_bundle(data, key)
        except StoreError as exc:
            return exc.detail
        if not whole:
            return "log bundle does not end with a newline: damaged"
        for i, leaf in enumerate(leaves, start=first):
            if i >= size:
                return "log bundle reaches past the latest checkpoint: it cannot be checked yet"
            if merkle.leaf_hash(leaf) != tile(i // WIDTH)[i % WIDTH]:
                return "log bundle's leaves do not hash to the tile a signed checkpoint proves: damaged"
        return None

    return check
