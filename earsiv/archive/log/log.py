"""The log as stored: leaves in write-once bundles, hash tiles, checkpoints (FORMAT.md §6-§7).

    bundle key = "log/leaves/" || first leaf index (16 digits) || ".jsonl"
    bundle     = leaf || 0x0A || leaf || 0x0A || ... (one line per leaf)

A bundle is created exclusively at the end of the log, so concurrent writers make one log
with no gap and no overlap: the loser gets ``PositionTaken``, follows the winner's bundle
and tries again at the new end (``Ledger.append`` does that).

Nothing here reads the whole log on a request's path:

* opening loads the right edge of the tree from the partial tiles of the latest checkpoint
  (one read per tile level) and then follows the bundles appended after it, by position
  (``bundle_key(size)``: one lookup when there is none);
* leaf *i* is found through the catalog (the index's table of bundles: one lookup) or, for
  bundles appended since the checkpoint, in memory;
* inclusion and consistency proofs come from tiles, O(log n) reads (``tiles.TreeHashes``).

What is in memory is bounded too: the edge (at most 255 hashes per tile level), the full
tiles completed since the last checkpoint (written by the next one), and the bundles
appended since the checkpoint the process started from.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from earsiv.archive.errors import StoreError, VerificationError, WriteOnceViolation
from earsiv.archive.log import merkle
from earsiv.archive.log.checkpoints import Checkpoint, checkpoint_key
from earsiv.archive.log.tiles import WIDTH, TileState, TreeHashes, parse_tile_key, perfect_root, tile_key
from earsiv.archive.stores.base import ObjectStore, PutItem

__all__ = ["LEAF_PREFIX", "Log", "LogCatalog", "PositionTaken", "bundle_key", "parse_bundle_key", "split_bundle"]

LEAF_PREFIX = "log/leaves/"
log = logging.getLogger("earsiv.log")


def _hashes(tile: bytes) -> list[bytes]:
    return [tile[i : i + merkle.HASH_SIZE] for i in range(0, len(tile), merkle.HASH_SIZE)]


def bundle_key(first: int) -> str:
    return f"{LEAF_PREFIX}{first:016d}.jsonl"


def parse_bundle_key(key: str) -> int | None:
    name = key[len(LEAF_PREFIX) :] if key.startswith(LEAF_PREFIX) else ""
    if len(name) == 22 and name.endswith(".jsonl") and name[:16].isdigit():
        return int(name[:16])
    return None


def split_bundle(data: bytes, key: str) -> tuple[list[bytes], bool]:
    """The leaves of a bundle, and whether it is whole (a missing last newline is damage).

    A damaged bundle still gives its lines, so the log's positions after it stay known and
    the damage is reported where it is (the leaf hashes no longer match), instead of
    stopping every command.
    """
    if not data:
        raise StoreError(f"log bundle {key} is empty: damaged", name=key)
    if data.endswith(b"\n"):
        return data[:-1].split(b"\n"), True
    return data.split(b"\n"), False


def _tile_sources(store: ObjectStore) -> list:
    """Where tiles can be read from: the store, and each copy of a replicated one."""
    copies = [getattr(store, name, None) for name in ("primary", "replica")]
    return [store.get] + [c.get for c in copies if c is not None]


class PositionTaken(Exception):
    """Another writer created the bundle at this position first: follow it and try again."""


class LogCatalog(Protocol):
    """Where the log's objects are (the index's log tables)."""

    def bundle_containing(self, index: int) -> tuple[int, int] | None: ...


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a checkpoint of the current size needs: its root and the tiles to write first."""

    size: int
    root: bytes
    tiles: dict[str, bytes]


class Log:
    """This process's view of the archive's log, kept in step with the store."""

    def __init__(self, store: ObjectStore, origin: str, catalog: LogCatalog) -> None:
        self.store = store
        self.origin = origin
        self.catalog = catalog
        self._lock = threading.RLock()
        self._edge = TileState()
        self._pending: dict[str, bytes] = {}  # full tiles completed since the last checkpoint
        self._tail_firsts: list[int] = []  # bundles read or written since the state was loaded
        self._tail_counts: list[int] = []
        self.damaged: list[str] = []  # bundles found damaged while following
        self.damaged_tiles: set[str] = set()  # tiles found damaged: computed from the leaves when needed

    # -- state -------------------------------------------------------------
    @property
    def size(self) -> int:
        return self._edge.size

    def load(self, checkpoint: Checkpoint) -> None:
        """Start from *checkpoint*: the edge from its partial tiles, checked against its root.

        A damaged tile is found here (the root does not come out) and the edge is computed
        from the leaves instead; the tile is remembered as damaged, so proofs that would need
        it compute it too (``verify --all`` names it).
        """
        edge = None
        for get in _tile_sources(self.store):  # the primary's tiles, then a replica's
            try:
                edge = TileState.load(checkpoint.size, get)
            except StoreError:
                continue
            if edge.root() == checkpoint.root:
                break
        if edge is None or edge.root() != checkpoint.root:
            edge = TileState.load(checkpoint.size, self.tile_from_leaves)
            if edge.root() != checkpoint.root:
                raise VerificationError(f"the leaves do not give the root of checkpoint {checkpoint.size}: "
                                        "the log or the checkpoint is damaged", step=3)
            for key, data in edge.partial_tiles():
                if not self._stored_as(key, data):
                    log.warning("hash tile %s is damaged; it is computed from the leaves", key)
                    self.damaged_tiles.add(key)
        with self._lock:
            self._edge = edge
            self._pending.clear()
            self._tail_firsts.clear()
            self._tail_counts.clear()

    def adopt(self, edge: TileState) -> None:
        """Take the edge a pass over the whole log computed (``rebuild_log``), its full tiles written."""
        with self._lock:
            self._edge = edge.copy()
            self._pending.clear()
            self._tail_firsts.clear()
            self._tail_counts.clear()

    def follow(self) -> list[tuple[int, list[bytes]]]:
        """Read the bundles appended after ours, by position; return them as (first index, leaves)."""
        new: list[tuple[int, list[bytes]]] = []
        with self._lock:
            while self.store.exists(key := bundle_key(self.size)):
                first = self.size
                leaves, whole = split_bundle(self.store.get(key), key)
                if not whole:
                    self.damaged.append(key)
                self._take(first, leaves)
                new.append((first, leaves))
        return new

    def _take(self, first: int, leaves: Sequence[bytes]) -> None:
        for leaf in leaves:
            for tile in self._edge.append(merkle.leaf_hash(leaf)):
                self._pending[tile.key] = tile.data
        self._tail_firsts.append(first)
        self._tail_counts.append(len(leaves))

    def tail_start(self) -> int:
        with self._lock:
            return self._tail_firsts[0] if self._tail_firsts else self.size

    # -- appending -----------------------------------------------------------
    def append(self, leaves: Sequence[bytes], retain_until) -> int:
        """Write *leaves* as one bundle at the end, durably; return the index of the first.

        Raises ``PositionTaken`` if another writer created a bundle there first.
        """
        if not leaves:
            raise ValueError("nothing to append")
        if any(b"\n" in leaf for leaf in leaves):
            raise ValueError("a leaf must not contain a newline")
        data = b"\n".join(leaves) + b"\n"
        with self._lock:
            first = self.size
            try:
                # False (the very same bytes were there) is our own earlier, interrupted attempt.
                self.store.put_many([PutItem(bundle_key(first), data, retain_until)])
            except WriteOnceViolation as exc:
                raise PositionTaken(first) from exc
            self._take(first, leaves)
            return first

    # -- reading leaves --------------------------------------------------------
    def _locate(self, index: int) -> tuple[int, int]:
        with self._lock:
            if not 0 <= index < self.size:
                raise StoreError(f"log has no leaf {index} (size {self.size})")
            if self._tail_firsts and index >= self._tail_firsts[0]:
                n = bisect.bisect_right(self._tail_firsts, index) - 1
                return self._tail_firsts[n], self._tail_counts[n]
        found = self.catalog.bundle_containing(index)
        if found is None:
            raise StoreError(f"no bundle known to hold leaf {index}: the index's log catalog is behind; "
                             "run `earsiv reindex`")
        return found

    def read_bundle(self, first: int) -> list[bytes]:
        key = bundle_key(first)
        return split_bundle(self.store.get(key), key)[0]

    def read_leaf(self, index: int) -> bytes:
        first, count = self._locate(index)
        leaves = self.read_bundle(first)
        if len(leaves) != count:
            raise StoreError(f"log bundle {bundle_key(first)} holds {len(leaves)} leaves, not {count}: damaged",
                             name=bundle_key(first))
        return leaves[index - first]

    def iter_bundles(self, start: int, end: int | None = None) -> Iterator[tuple[int, list[bytes]]]:
        """(first, leaves) of each bundle from the one holding leaf *start* up to *end* (default: the end)."""
        end = self.size if end is None else min(end, self.size)
        if start >= end:
            return
        first, _count = self._locate(start)
        while first < end:
            leaves = self.read_bundle(first)
            yield first, leaves
            first += len(leaves)

    def iter_leaves(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes]]:
        stop = self.size if end is None else end
        for first, leaves in self.iter_bundles(start, stop):
            for i, leaf in enumerate(leaves, start=first):
                if start <= i < stop:
                    yield i, leaf

    # -- hashes and proofs -----------------------------------------------------
    def tree(self, size: int | None = None, *, from_leaves: bool = False) -> TreeHashes:
        """Subtree hashes of the tree of *size* leaves: a checkpointed size, or the current one.

        *from_leaves*: compute every tile from the leaves instead of reading it (what a proof
        falls back to when the tiles it read turn out damaged).
        """
        with self._lock:
            current = self.size if size is None else size
            if current > self.size:
                raise ValueError(f"the log has {self.size} leaves, not {current}")
            pending = dict(self._pending)
            edge = self._edge.copy() if current == self.size else None
            damaged = set(self.damaged_tiles)

        def get(key: str) -> bytes:
            hit = pending.get(key)
            if hit is not None:
                return hit
            if from_leaves or key in damaged:
                return self.tile_from_leaves(key)
            return self.store.get(key)

        return TreeHashes(current, get, edge)

    def tile_from_leaves(self, key: str) -> bytes:
        """A tile computed from the leaves below it (256^level leaves per hash): for damage, not for every day."""
        level, index, width = parse_tile_key(key)
        if level == 0:
            first = index * WIDTH
            return b"".join(merkle.leaf_hash(leaf) for leaf in self._stored_leaves(first, first + width))
        below = level - 1
        return b"".join(
            perfect_root(_hashes(self.tile_from_leaves(tile_key(below, index * WIDTH + i))))
            for i in range(width)
        )

    def _stored_leaves(self, start: int, end: int) -> Iterator[bytes]:
        """Leaves start..end-1 as the bundles hold them, whatever this process has loaded yet."""
        with self._lock:
            tail = self._tail_firsts and start >= self._tail_firsts[0]
        found = self._locate(start) if tail else self.catalog.bundle_containing(start)
        if found is None:
            raise StoreError(f"no bundle known to hold leaf {start}: run `earsiv reindex`")
        first = found[0]
        while first < end:
            leaves = self.read_bundle(first)
            for i, leaf in enumerate(leaves, start=first):
                if start <= i < end:
                    yield leaf
            first += len(leaves)

    def _stored_as(self, key: str, data: bytes) -> bool:
        try:
            return self.store.get(key) == data
        except StoreError:
            return False

    def root(self, size: int | None = None) -> bytes:
        with self._lock:
            if size is None or size == self.size:
                return self._edge.root()
        return self.tree(size).root()

    def inclusion_proof(self, index: int, size: int, *, from_leaves: bool = False) -> list[bytes]:
        return merkle.inclusion_path(index, size, self.tree(size, from_leaves=from_leaves).subtree)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return merkle.consistency_path(old_size, new_size, self.tree(new_size).subtree)

    # -- checkpoints -------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """Root and tiles of the current size: the full tiles not yet written and the partial ones."""
        with self._lock:
            tiles = dict(self._pending)
            tiles.update(self._edge.partial_tiles())
            return Snapshot(self.size, self._edge.root(), tiles)

    def tiles_written(self, keys) -> None:
        with self._lock:
            for key in keys:
                self._pending.pop(key, None)

    def load_checkpoint(self, size: int, verify_sig=None) -> tuple[Checkpoint, bytes, bytes | None]:
        """(checkpoint, signature, token or None) of the checkpoint of *size*.

        *verify_sig(sig, body) -> bool* lets a store with a second copy (a replica) answer with
        the copy whose signature verifies when the first's does not.
        """

        def parses(data: bytes) -> bool:
            try:
                Checkpoint.parse(data)
            except (VerificationError, ValueError):
                return False
            return True

        body = self.store.get(checkpoint_key(size), verify=parses)
        check = None if verify_sig is None else (lambda sig: verify_sig(sig, body))
        sig = self.store.get(checkpoint_key(size, ".sig"), verify=check)
        token_key = checkpoint_key(size, ".tsr")
        token = self.store.get(token_key) if self.store.exists(token_key) else None
        return Checkpoint.parse(body), sig, token

