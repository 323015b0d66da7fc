"""One pass over the whole log: the only code that may read every bundle.

Used by ``earsiv reindex`` (the index is rebuilt from the store alone, invariant 5) and,
once, when an archive written before hash tiles and the log catalog (FORMAT.md §12) is
first opened.  In one pass, in log order, it:

* lists the bundles and checks that they tile the log with no gap or overlap;
* hashes every leaf into the tree's edge, writing each hash tile that becomes full (a tile
  already in the store must hold the same bytes, or it is reported as damaged);
* at every checkpoint size, checks the checkpoint's root against the leaves, writes the
  partial tiles of that size, and records the checkpoint in the index (``signed`` or
  ``stamped``; a body a crash left unsigned is recorded as ``made``, for the checkpointer
  to sign once it has checked it);
* mirrors the leaves the index has not taken in yet, and records every bundle in the index.

Whatever cannot be read is skipped and reported (``Report.problems``); the rest goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from earsiv.archive.errors import StoreError, VerificationError, WriteOnceViolation
from earsiv.archive.log import merkle
from earsiv.archive.log.checkpoints import CHECKPOINT_PREFIX, Checkpoint, checkpoint_key
from earsiv.archive.log.log import LEAF_PREFIX, parse_bundle_key, split_bundle
from earsiv.archive.log.tiles import TileState
from earsiv.archive.stores.base import PutItem

if TYPE_CHECKING:
    from earsiv.archive.keyrotation import HomeKeys
    from earsiv.archive.keys import KeyRing
    from earsiv.archive.ledger import Ledger

__all__ = ["Report", "checkpoint_parts", "rebuild_log"]

CHUNK = 4096  # leaves per index transaction


@dataclass(slots=True)
class Report:
    leaves: int = 0
    bundles: int = 0
    checkpoints: int = 0
    tiles_written: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)  # (what, why)


def checkpoint_parts(store) -> dict[int, set[str]]:
    """size → the parts of its checkpoint in the store ("", ".sig", ".tsr"), by listing."""
    found: dict[int, set[str]] = {}
    for key in store.list(CHECKPOINT_PREFIX):
        name = key[len(CHECKPOINT_PREFIX) :]
        number, dot, suffix = name.partition(".")
        if len(number) == 16 and number.isdigit():
            found.setdefault(int(number), set()).add(dot + suffix)
    return found


def rebuild_log(ledger: Ledger, keys: HomeKeys, *, mirror_from: int,
                progress: Callable[[int], None] | None = None, stamps: int = 1) -> Report:
    """Rebuild tiles and the index's log catalog from the store; mirror leaves from *mirror_from* on.

    A checkpoint is ``stamped`` when it has the *stamps* tokens the configuration requires
    (``.tsr``, and ``.tsr2`` with two TSAs); with fewer it is ``signed``, and stamping resumes.
    """
    from earsiv.archive.keys import KeyRing

    log, index, store = ledger.log, ledger.index, ledger.log.store
    report = Report()
    ring = KeyRing(keys.first, keys.origin)  # the keys in force, as the leaves read so far introduce them
    checkpoints = checkpoint_parts(store)
    edge = TileState()
    until = ledger.retention.until()
    chunk: list[tuple[int, list[bytes]]] = []
    chunk_leaves = 0

    def flush() -> None:
        nonlocal chunk, chunk_leaves
        mirror = [(f, leaves) for f, leaves in chunk if f + len(leaves) > mirror_from]
        if mirror:
            ledger.mirror_bundles(mirror)
        with index.transaction("cannot record log bundles") as tx:
            for f, leaves in chunk:
                tx.add_bundle(f, len(leaves))
        chunk, chunk_leaves = [], 0

    def put_tiles(items: list[tuple[str, bytes]]) -> None:
        for key, data in items:
            try:
                if store.put_many([PutItem(key, data, until)])[0]:
                    report.tiles_written += 1
            except WriteOnceViolation:
                report.problems.append((key, "hash tile holds other hashes than the leaves give: damaged"))

    for key in store.list(LEAF_PREFIX):
        first = parse_bundle_key(key)
        if first is None:
            continue
        if first != edge.size:
            report.problems.append((key, f"bundle starts at {first}, but the leaves before it end at {edge.size}"))
            if first < edge.size:
                continue  # an overlap: the earlier bundle's leaves stand
            break  # a gap: nothing after it can be placed
        try:
            leaves, whole = split_bundle(store.get(key), key)
        except StoreError as exc:
            report.problems.append((key, exc.detail))
            break
        if not whole:
            report.problems.append((key, "bundle does not end with a newline: damaged"))
        for leaf in leaves:
            if _KEY_LEAF in leaf:
                _introduce(ring, edge.size, leaf, report)
            full = edge.append(merkle.leaf_hash(leaf))
            if full:
                put_tiles([(t.key, t.data) for t in full])
            if edge.size in checkpoints:
                _checkpoint(ledger, ring, edge, checkpoints[edge.size], report, put_tiles, stamps)
        report.bundles += 1
        report.leaves += len(leaves)
        chunk.append((first, leaves))
        chunk_leaves += len(leaves)
        if chunk_leaves >= CHUNK:
            flush()
        if progress:
            progress(len(leaves))
    if chunk:
        flush()
    for size in sorted(s for s in checkpoints if s > edge.size):
        report.problems.append((checkpoint_key(size), f"checkpoint of {size} leaves, but the log holds {edge.size}"))
    log.adopt(edge)
    return report


_KEY_LEAF = b'"type":"archive-key"'


def _introduce(ring: KeyRing, index: int, leaf: bytes, report: Report) -> None:
    from earsiv.archive.log.entries import KeyEntry, decode

    try:
        entry = decode(leaf)
        if isinstance(entry, KeyEntry):
            ring.add(index, entry)
    except VerificationError as exc:
        report.problems.append((f"log leaf {index}", f"key introduction refused: {exc.detail}"))


def _checkpoint(ledger: Ledger, ring: KeyRing, edge: TileState, parts: set[str], report: Report,
                put_tiles: Callable[[list[tuple[str, bytes]]], None], stamps: int = 1) -> None:
    store, size = ledger.log.store, edge.size
    try:
        cp = Checkpoint.parse(store.get(checkpoint_key(size)))
        if cp.root != edge.root():
            raise VerificationError("its root does not match the log's leaves")
        if ".sig" in parts:
            ring.verify_checkpoint(store.get(checkpoint_key(size, ".sig")), cp)
    except (VerificationError, StoreError) as exc:
        report.problems.append((checkpoint_key(size), exc.detail))
        return
    put_tiles(edge.partial_tiles())
    tokens = (".tsr", ".tsr2")[:stamps]
    state = "made" if ".sig" not in parts else "stamped" if parts.issuperset(tokens) else "signed"
    with ledger.index.transaction("cannot record a checkpoint") as tx:
        tx.put_checkpoint(size, state, cp.time)
    report.checkpoints += 1
