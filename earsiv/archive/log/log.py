"""The tamper-evident log: leaves in write-once bundles, signed and stamped checkpoints.

Every stored document, and every later event about one (legal hold, retention
extension), is a leaf: the canonical JSON encoding of an entry (see
``docs/FORMAT.md``).  Leaves are appended in bundles, one write-once object per
group commit, named by the index of their first leaf, so the log is itself
kept by the object store.  A bundle is created exclusively at the end of the
log as this process sees it; if another writer got there first the creation
fails and we re-read and retry, so concurrent writers produce one log with no
gap and no overlap.

A checkpoint commits to the first N leaves by their RFC 6962 root; the
archive key signs it, and one time-stamp token from the configured TSA stamps
it (never one per document).
"""

from __future__ import annotations

import bisect
import datetime as dt
import fcntl
import hashlib
import json
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from earsiv.archive.errors import StoreError, VerificationError, WriteOnceViolation
from earsiv.archive.keys import PublicKey, Signer
from earsiv.archive.log import merkle
from earsiv.archive.stores.base import ObjectStore, PutItem

__all__ = [
    "CHECKPOINT_PREFIX",
    "LEAF_PREFIX",
    "Checkpoint",
    "Log",
    "bundle_key",
    "checkpoint_key",
    "decode_entry",
    "encode_entry",
]

LEAF_PREFIX = "log/leaves/"
CHECKPOINT_PREFIX = "log/checkpoints/"
ENTRY_VERSION = 1
CHECKPOINT_HEADER = "earsiv-checkpoint/1"
UTC = dt.UTC


def bundle_key(first: int) -> str:
    return f"{LEAF_PREFIX}{first:016d}.jsonl"


def checkpoint_key(size: int, suffix: str = "") -> str:
    return f"{CHECKPOINT_PREFIX}{size:016d}{suffix}"


def encode_entry(entry: dict) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8, never a raw newline."""
    if entry.get("v") != ENTRY_VERSION or "type" not in entry:
        raise ValueError("a log entry needs v=1 and a type")
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def decode_entry(leaf: bytes) -> dict:
    entry = json.loads(leaf)
    if entry.get("v") != ENTRY_VERSION:
        raise VerificationError(f"log entry of unknown format version {entry.get('v')!r}; this software reads version 1")
    return entry


def _iso(t: dt.datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    time: dt.datetime
    key_id: str

    def __post_init__(self) -> None:
        if self.size < 0 or len(self.root) != 32 or not re.fullmatch(r"[0-9a-f]{64}", self.key_id):
            raise ValueError("malformed checkpoint")
        if self.time.tzinfo is None:
            raise ValueError("checkpoint time must be timezone-aware")

    def body(self) -> bytes:
        return (
            f"{CHECKPOINT_HEADER}\n"
            f"origin: {self.origin}\n"
            f"size: {self.size}\n"
            f"root: {self.root.hex()}\n"
            f"time: {_iso(self.time)}\n"
            f"key: {self.key_id}\n"
        ).encode("ascii")

    @classmethod
    def parse(cls, body: bytes) -> Checkpoint:
        try:
            lines = body.decode("ascii").split("\n")
            if lines[0] != CHECKPOINT_HEADER:
                raise VerificationError(f"not a checkpoint of a known format: {lines[0]!r}")
            fields = dict(line.split(": ", 1) for line in lines[1:] if line)
            cp = cls(
                origin=fields["origin"],
                size=int(fields["size"]),
                root=bytes.fromhex(fields["root"]),
                time=dt.datetime.fromisoformat(fields["time"]),
                key_id=fields["key"],
            )
        except (UnicodeDecodeError, ValueError, KeyError) as exc:
            raise VerificationError(f"malformed checkpoint: {exc}") from exc
        if cp.body() != body:
            raise VerificationError("checkpoint is not in canonical form")
        return cp


class Log:
    """This process's view of the archive's log, kept in step with the store."""

    def __init__(self, store: ObjectStore, origin: str, cache_dir: Path) -> None:
        self.store = store
        self.origin = origin
        self._lock = threading.RLock()
        self._acc = merkle.MerkleAccumulator()
        self._hashes: list[bytes] = []
        self._bundles: list[int] = []  # first index of each bundle, ascending
        self._bundle_sizes: list[int] = []
        # Leaves other writers appended, seen by this process but not yet
        # handed to the index (see take_foreign).
        self._foreign: list[tuple[int, bytes]] = []
        cache_dir.mkdir(parents=True, exist_ok=True)
        self._lockfile = cache_dir / "log.lock"
        self._lockfile.touch(exist_ok=True)
        self.refresh()

    # -- reading -----------------------------------------------------------
    @property
    def size(self) -> int:
        return len(self._hashes)

    def refresh(self) -> list[tuple[int, bytes]]:
        """Read bundles other writers appended; return their (index, leaf) pairs."""
        new: list[tuple[int, bytes]] = []
        with self._lock:
            known = self._bundles[-1] if self._bundles else -1
            keys = [k for k in self.store.list(LEAF_PREFIX) if k.endswith(".jsonl")]
            for key in keys:
                first = int(key[len(LEAF_PREFIX) : -len(".jsonl")])
                if first <= known:
                    continue
                if first != self.size:
                    raise StoreError(f"log bundle {key} starts at {first} but the log has {self.size} leaves: a gap")
                new.extend(self._take_bundle(first, self.store.get(key), key))
            self._foreign.extend(new)
        return new

    def _take_bundle(self, first: int, data: bytes, key: str) -> list[tuple[int, bytes]]:
        leaves = self._split(data, key)
        out = []
        for leaf in leaves:
            out.append((self.size, leaf))
            self._add_hash(merkle.leaf_hash(leaf))
        self._bundles.append(first)
        self._bundle_sizes.append(len(leaves))
        return out

    def _follow(self) -> None:
        """Read the bundles other writers appended after ours, by position.

        A bundle's key is the index of its first leaf, so the next bundle, if
        any, is at ``bundle_key(size)``: one lookup when nobody else wrote,
        instead of listing every bundle the archive ever made.
        """
        with self._lock:
            while self.store.exists(key := bundle_key(self.size)):
                self._foreign.extend(self._take_bundle(self.size, self.store.get(key), key))

    def take_foreign(self) -> list[tuple[int, bytes]]:
        """Leaves appended by other writers since the last call."""
        with self._lock:
            out, self._foreign = self._foreign, []
            return out

    def _add_hash(self, h: bytes) -> None:
        self._hashes.append(h)
        self._acc.append(h)

    @staticmethod
    def _split(data: bytes, key: str) -> list[bytes]:
        if not data.endswith(b"\n"):
            raise StoreError(f"log bundle {key} does not end with a newline")
        return data[:-1].split(b"\n")

    def read_leaf(self, index: int) -> bytes:
        with self._lock:
            if not 0 <= index < self.size:
                raise StoreError(f"log has no leaf {index} (size {self.size})")
            n = bisect.bisect_right(self._bundles, index) - 1
            first = self._bundles[n]
        leaves = self._split(self.store.get(bundle_key(first)), bundle_key(first))
        return leaves[index - first]

    def iter_leaves(self, start: int = 0) -> Iterator[tuple[int, bytes]]:
        with self._lock:
            bundles = list(zip(self._bundles, self._bundle_sizes))
        for first, count in bundles:
            if first + count <= start:
                continue
            for i, leaf in enumerate(self._split(self.store.get(bundle_key(first)), bundle_key(first))):
                if first + i >= start:
                    yield first + i, leaf

    def leaf_hash(self, index: int) -> bytes:
        return self._hashes[index]

    def root(self, size: int | None = None) -> bytes:
        with self._lock:
            if size is None or size == self.size:
                return self._acc.root()
            return merkle.root(self._hashes, size=size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with self._lock:
            return merkle.inclusion_proof(index, self._hashes, size=size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        with self._lock:
            return merkle.consistency_proof(old_size, new_size, self._hashes)

    # -- appending ---------------------------------------------------------
    def append(self, leaves: Sequence[bytes], retain_until: dt.datetime) -> int:
        """Append *leaves* durably as one bundle; return the index of the first."""
        if not leaves:
            raise ValueError("nothing to append")
        data = b"\n".join(leaves) + b"\n"
        if any(b"\n" in leaf for leaf in leaves):
            raise ValueError("a leaf must not contain a newline")
        with self._lock, open(self._lockfile, "rb") as lf:
            fcntl.flock(lf, fcntl.LOCK_EX)
            try:
                for _attempt in range(1000):
                    self._follow()
                    first = self.size
                    try:
                        self.store.put_many([PutItem(bundle_key(first), data, retain_until)])
                    except WriteOnceViolation:
                        continue  # another writer took this position: re-read and retry
                    # put_many returning False means these exact bytes were
                    # already there (our own earlier, interrupted attempt).
                    for leaf in leaves:
                        self._add_hash(merkle.leaf_hash(leaf))
                    self._bundles.append(first)
                    self._bundle_sizes.append(len(leaves))
                    return first
            finally:
                fcntl.flock(lf, fcntl.LOCK_UN)
        raise StoreError("could not append to the log: too much contention")

    # -- checkpoints -------------------------------------------------------
    def checkpoint_sizes(self) -> list[int]:
        out = []
        for key in self.store.list(CHECKPOINT_PREFIX):
            name = key[len(CHECKPOINT_PREFIX) :]
            if name.isdigit():
                out.append(int(name))
        return sorted(out)

    def load_checkpoint(self, size: int) -> tuple[Checkpoint, bytes, bytes | None]:
        """(checkpoint, signature, token or None)."""
        body = self.store.get(checkpoint_key(size))
        sig = self.store.get(checkpoint_key(size, ".sig"))
        token_key = checkpoint_key(size, ".tsr")
        token = self.store.get(token_key) if self.store.exists(token_key) else None
        return Checkpoint.parse(body), sig, token

    def make_checkpoint(self, signer: Signer, tsa, retain_until: dt.datetime, *, now: dt.datetime | None = None):
        """Sign and stamp a checkpoint of the whole log, if it grew since the last one.

        Returns the checkpoint, or None when the latest one already covers the
        log.  The body and signature are stored first; the token follows.  If
        the TSA fails the checkpoint stays, unstamped, and the next call stamps it.
        """
        with self._lock:
            self.refresh()
            size = self.size
            sizes = self.checkpoint_sizes()
            if sizes and sizes[-1] == size:
                self._stamp_if_missing(size, tsa, retain_until)
                return None
            if size == 0:
                return None
            cp = Checkpoint(self.origin, size, self.root(), now or dt.datetime.now(UTC), signer.public.key_id)
            body = cp.body()
            try:
                self.store.put_many(
                    [
                        PutItem(checkpoint_key(size), body, retain_until),
                        PutItem(checkpoint_key(size, ".sig"), signer.sign(body), retain_until),
                    ]
                )
            except WriteOnceViolation:
                # Another process checkpointed the same size a moment earlier.
                return None
            self._stamp_if_missing(size, tsa, retain_until)
            return cp

    def _stamp_if_missing(self, size: int, tsa, retain_until: dt.datetime) -> None:
        key = checkpoint_key(size, ".tsr")
        if tsa is None or self.store.exists(key):
            return
        body = self.store.get(checkpoint_key(size))
        token = tsa.stamp(hashlib.sha256(body).digest())
        try:
            self.store.put_many([PutItem(key, token, retain_until)])
        except WriteOnceViolation:
            pass  # stamped by another process meanwhile; one token is enough

    def verify_checkpoint(self, size: int, public: PublicKey) -> Checkpoint:
        cp, sig, _token = self.load_checkpoint(size)
        public.verify(sig, cp.body(), what=f"checkpoint {size}")
        if cp.size != size:
            raise VerificationError(f"checkpoint object {size} claims size {cp.size}")
        if cp.size <= self.size and self.root(cp.size) != cp.root:
            raise VerificationError(f"checkpoint {size}: its root does not match the log's leaves")
        return cp
