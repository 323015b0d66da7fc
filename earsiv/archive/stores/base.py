"""The object-store interface: where the archive keeps every byte it is responsible for.

A store maps keys (``blobs/ab/abcd…``, ``log/leaves/…``) to immutable byte
strings, each with a retain-until date and a legal hold.  The interface is the
smallest that the archive needs; two real implementations stand behind it: the
local write-once directory (``stores.local``, the embedded default) and S3 with
Object Lock (``stores.s3``, the scale-out one).

Write-once is enforced by the stores, not by callers: a key once written can
never get other bytes, and nothing can be deleted before its retention ends or
while a legal hold is on.  Retention can only ever be extended.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from earsiv.archive.errors import StoreError

__all__ = ["ObjectRetention", "ObjectStore", "PutItem", "Restoring", "RetentionRecords", "SelfTestResult", "SelfTesting", "check_key"]

UTC = dt.UTC


@dataclass(frozen=True, slots=True)
class ObjectRetention:
    retain_until: dt.datetime
    legal_hold: bool = False

    def blocks_deletion(self, now: dt.datetime) -> bool:
        return self.legal_hold or now < self.retain_until


@dataclass(frozen=True, slots=True)
class PutItem:
    key: str
    data: bytes
    retain_until: dt.datetime
    staged: str | None = None  # a store's private handle from stage()

    def __post_init__(self) -> None:
        check_key(self.key)
        if self.retain_until.tzinfo is None:
            raise ValueError("retain_until must be timezone-aware")


@runtime_checkable
class ObjectStore(Protocol):
    """What the archive needs from a place that keeps bytes."""

    url: str

    def put_many(self, items: Sequence[PutItem]) -> list[bool]:
        """Store every item durably before returning.

        Returns, per item, True if it was written now and False if the very
        same bytes were already there.  Raises :class:`WriteOnceViolation`
        (and writes that item nothing) if the key holds other bytes.
        """

    def stage(self, item: PutItem) -> PutItem:
        """Prepare *item* for a later ``put_many``, possibly doing its slow part now.

        Lets ingest workers write bytes in parallel while one thread commits.
        Pass the result to ``put_many`` or ``discard``.  Nothing staged counts
        as stored before ``put_many`` returns; a store may write the bytes
        early (S3 does, the local store keeps them in ``tmp/``), so a staged
        and discarded item can remain as an orphan, harmless like any blob
        without a leaf (FORMAT.md section 10).
        """

    def discard(self, item: PutItem) -> None:
        """Forget a staged item that will not be put."""

    def get(self, key: str, *, verify: Callable[[bytes], bool] | None = None) -> bytes:
        """The bytes of the object under *key*.

        *verify* says whether some bytes are what the caller expects (a blob
        that decodes to its digest).  It is a hint that lets a store with
        several versions of a key (S3) read the newest in one request when it
        checks out; the store still returns the object's bytes, checked or not,
        and the caller checks them again.  Without *verify* the store reads
        exactly the object (the oldest version on S3), for keys nobody can
        check by content (a log bundle another writer just appended).
        """

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> Iterator[str]:
        """Keys under *prefix*, in lexicographic order."""

    def retention(self, key: str) -> ObjectRetention: ...

    def extend_retention(self, key: str, until: dt.datetime) -> None: ...

    def set_legal_hold(self, key: str, on: bool) -> None: ...

    def delete(self, key: str) -> None:
        """Dispose of an object whose retention has ended and has no hold."""

    def close(self) -> None:
        """Release connections, threads and caches; the store is not used after this."""


@dataclass(frozen=True, slots=True)
class SelfTestResult:
    """The outcome of one self-test of a store (what ``status`` shows)."""

    at: dt.datetime
    ok: bool
    failures: tuple[str, ...] = ()
    skipped: bool = False  # the operator allowed an unenforcing bucket: nothing was tested

    def to_json(self) -> dict:
        return {"at": self.at.isoformat(), "ok": self.ok, "failures": list(self.failures), "skipped": self.skipped}


@runtime_checkable
class SelfTesting(Protocol):
    """A store that can check that the server really enforces write-once (S3 Object Lock).

    ``self_test`` raises :class:`~earsiv.archive.errors.LockNotEnforced` when
    the server does not enforce it (unless the operator allowed that), and
    :class:`~earsiv.archive.errors.StoreError` when the test could not run.
    """

    last_self_test: SelfTestResult | None

    def self_test(self) -> SelfTestResult: ...


@runtime_checkable
class RetentionRecords(Protocol):
    """A store that keeps retention and legal holds in records of its own (the local store's journal).

    Such records can be damaged where S3's Object Lock cannot, so an audit reads them back:
    ``damage`` names each record that cannot be read, and the audit compares every
    document's retention with what the log says.
    """

    def damage(self) -> list[StoreError]:
        """One error per unreadable record, named ``FILE line N``; empty when all are readable."""


@runtime_checkable
class Restoring(Protocol):
    """A store whose lost or damaged objects ``earsiv repair`` can put back (``restore``).

    Only repair calls it, with bytes it checked against what the log records, and it
    writes a leaf for each object it restored.
    """

    def restore(self, item: PutItem) -> bool:
        """Put back *item*'s bytes under its key; True if anything changed."""


def check_key(key: str) -> None:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in key or "\x00" in key:
        raise ValueError(f"invalid object key {key!r}")
