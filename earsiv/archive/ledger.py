"""The ledger: the one owner of appending, with a small interface.

    entries → a durable bundle in the log → mirrored into the index → checkpointed later

Everything that records a fact (ingest, holdings, access events, principals, grants) hands
its entries to ``Ledger.append``; nothing else writes a bundle or mirrors a leaf.  One
append is one unit of work:

1. take the write lock: this process's, then the home's (``cache/log.lock``), so several
   processes on one home append one after the other;
2. follow the bundles other writers appended and mirror them into the index, so that what
   is decided next sees them (the same document is never logged twice);
3. ``build()`` decides, from the index, what to append (the caller's rule: duplicate, new
   holding, new document) and returns the entries;
4. write them as one bundle, create-exclusive at the end of the log; if another writer (on
   another machine: S3 has no common lock) took that position, go back to 2;
5. mirror the bundle into the index in one transaction (rows, the bundle's catalog row, the
   index's mark of how many leaves it has taken in);
6. release the lock; the caller answers.

A crash between 4 and 5 is repaired by step 2 of the next append or by ``catch_up`` when the
archive next opens.  Checkpoints (``checkpointer.py``) are made later and outside the lock,
and the time-stamp request never runs under it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from earsiv.archive import faults
from earsiv.archive.errors import StoreError, VerificationError
from earsiv.archive.log.entries import Entry, decode
from earsiv.archive.log.log import Log, PositionTaken
from earsiv.archive.mirror import Mirror, MirrorReport

if TYPE_CHECKING:
    from earsiv.indexer.db import Index
    from earsiv.indexer.records import IndexRecord

__all__ = ["Appended", "Batch", "Ledger", "LogRetention"]

log = logging.getLogger("earsiv.ledger")
UTC = dt.UTC
FAR_FUTURE_FLOOR = dt.timedelta(days=366)
MIRROR_CHUNK = 4096  # leaves per index transaction when catching up


@dataclass(slots=True)
class Batch:
    """What one append writes: the entries, in order, and what the index needs beyond them."""

    entries: list[Entry]
    # The index records of documents among the entries, made while ingesting (digest → record),
    # so that mirroring does not read and parse them again.
    records: dict[str, IndexRecord] = field(default_factory=dict)
    retain_until: dt.datetime | None = None  # the longest retention the entries carry


@dataclass(frozen=True, slots=True)
class Appended:
    first: int  # log index of the first entry
    count: int


class LogRetention:
    """Log objects are kept at least as long as the longest-kept document in the log (FORMAT.md §8)."""

    def __init__(self, index: Index) -> None:
        raw = index.meta_get("max_retain_until")
        self._max = dt.datetime.fromisoformat(raw) if raw else dt.datetime.now(UTC) + FAR_FUTURE_FLOOR
        self._lock = threading.Lock()

    def until(self, extra: dt.datetime | None = None) -> dt.datetime:
        with self._lock:
            return self._max if extra is None or extra <= self._max else extra

    def observe(self, until: dt.datetime | None) -> bool:
        """Remember a longer retention; True if it grew."""
        with self._lock:
            if until is None or until <= self._max:
                return False
            self._max = until
            return True


class Ledger:
    def __init__(self, *, log: Log, index: Index, mirror: Mirror, lock_path: Path,
                 checkpoint_interval: float) -> None:
        self.log = log
        self.index = index
        self.mirror = mirror
        self.retention = LogRetention(index)
        self.checkpoint_interval = checkpoint_interval
        # Called, outside the write lock, when a checkpoint is due while entries arrive (the
        # archive wires it to its checkpointer: sign now, stamp later).
        self.on_checkpoint_due: Callable[[], object] | None = None
        self.skipped: list[tuple[int, str]] = []  # leaves the index could not take in (reported)
        self.appended = False  # whether this process appended anything (closing then checkpoints)
        self._lock = threading.RLock()
        self._lock_path = lock_path
        self._last_checkpoint = time.monotonic()

    # -- locking ---------------------------------------------------------------
    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """This process's lock, then the home's: one writer of the log at a time."""
        with self._lock:
            try:
                self._lock_path.parent.mkdir(parents=True, exist_ok=True)
                fh = open(self._lock_path, "ab")  # noqa: SIM115 - closed below
            except OSError as exc:
                raise StoreError(f"cannot open the log's lock file {self._lock_path}: {exc}") from exc
            try:
                fcntl.flock(fh, fcntl.LOCK_EX)
                yield
            finally:
                fh.close()  # releases the flock

    # -- appending ---------------------------------------------------------------
    def append(self, build: Callable[[], Batch]) -> Appended | None:
        """Append what *build* decides, durably and mirrored; None if it decided nothing.

        *build* runs under the write lock, after every leaf other writers appended has been
        mirrored, and again if another writer took the log's end meanwhile: decide from the
        index there, not before.
        """
        with self.write_lock():
            for _attempt in range(1000):
                self._catch_up_locked()
                batch = build()
                if not batch.entries:
                    return None
                leaves = [e.encode() for e in batch.entries]
                try:
                    first = self.log.append(leaves, self.retention.until(batch.retain_until))
                except PositionTaken:
                    continue  # another writer got there first: follow it, decide again
                faults.point("ledger.after-bundle")
                self._mirror([(first, list(zip(leaves, batch.entries, strict=True)))], batch.records)
                faults.point("ledger.after-mirror")
                appended = Appended(first, len(leaves))
                self.appended = True
                break
            else:
                raise StoreError("could not append to the log: too much contention")
        self._checkpoint_if_due()
        return appended

    def append_entry(self, entry: Entry, retain_until: dt.datetime | None = None) -> int:
        """Append one entry (an event, not a document); return its log index."""
        done = self.append(lambda: Batch([entry], retain_until=retain_until))
        assert done is not None
        return done.first

    def _checkpoint_if_due(self) -> None:
        if self.on_checkpoint_due is None or time.monotonic() - self._last_checkpoint < self.checkpoint_interval:
            return
        self._last_checkpoint = time.monotonic()
        self.on_checkpoint_due()

    # -- keeping the index in step ---------------------------------------------------
    def catch_up(self, progress: Callable[[int], None] | None = None) -> int:
        """Follow other writers' bundles and mirror every leaf the index has not taken in; return how many."""
        with self.write_lock():
            return self._catch_up_locked(progress)

    def mirrored(self) -> int:
        """How many leaves the index has taken in (its mark)."""
        return int(self.index.meta_get("log_size") or 0)

    def _catch_up_locked(self, progress: Callable[[int], None] | None = None) -> int:
        followed = self.log.follow()
        done = self.mirrored()
        if done > self.log.size:
            raise StoreError(
                f"the index has taken in {done} log leaves but the log holds {self.log.size}: "
                "the index belongs to another archive, or bundles were lost; run `earsiv verify --all`, "
                "then `earsiv reindex`")
        if done == self.log.size:
            return 0
        if followed and followed[0][0] <= done:
            bundles: Iterator[tuple[int, list[bytes]]] = iter(followed)
        else:
            bundles = self.log.iter_bundles(done, self.log.size)
        count, chunk, chunk_leaves = 0, [], 0
        for first, leaves in bundles:
            if first + len(leaves) <= done:
                continue
            chunk.append((first, leaves))
            chunk_leaves += len(leaves)
            if chunk_leaves >= MIRROR_CHUNK:
                count += self.mirror_bundles(chunk)
                if progress:
                    progress(chunk_leaves)
                chunk, chunk_leaves = [], 0
        if chunk:
            count += self.mirror_bundles(chunk)
            if progress:
                progress(chunk_leaves)
        return count

    def mirror_bundles(self, bundles: Sequence[tuple[int, list[bytes]]]) -> int:
        """Mirror these whole bundles (leaves as stored) in one transaction; return how many leaves."""
        decoded: list[tuple[int, list[tuple[bytes, Entry | None]]]] = []
        for first, leaves in bundles:
            pairs: list[tuple[bytes, Entry | None]] = []
            for i, leaf in enumerate(leaves, start=first):
                try:
                    pairs.append((leaf, decode(leaf)))
                except VerificationError as exc:
                    self._skip(i, f"not a readable log entry: {exc.detail}")
                    pairs.append((leaf, None))
            decoded.append((first, pairs))
        self._mirror(decoded, {})
        return sum(len(leaves) for _f, leaves in bundles)

    def _mirror(self, bundles: Sequence[tuple[int, Sequence[tuple[bytes, Entry | None]]]],
                records: Mapping[str, IndexRecord]) -> MirrorReport:
        """Mirror whole bundles in one transaction, with their catalog rows and the index's mark."""
        items = [(first + i, e) for first, pairs in bundles for i, (_leaf, e) in enumerate(pairs) if e is not None]
        end = max(first + len(pairs) for first, pairs in bundles)
        with self.index.transaction("cannot mirror log leaves in the index") as tx:
            report = self.mirror.apply(tx, items, records)
            for first, pairs in bundles:
                tx.add_bundle(first, len(pairs))
            if end > int(tx.meta_get("log_size") or 0):
                tx.meta_set("log_size", str(end))
            if report.max_retain_until is not None and report.max_retain_until > self.retention.until():
                tx.meta_set("max_retain_until", report.max_retain_until.isoformat())
        self.retention.observe(report.max_retain_until)
        for index, why in report.skipped:
            self._skip(index, why)
        return report

    def _skip(self, index: int, why: str) -> None:
        log.warning("log leaf %d not taken into the index: %s", index, why)
        self.skipped.append((index, why))
