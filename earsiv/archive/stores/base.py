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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from earsiv.archive.errors import StoreError

__all__ = ["ObjectRetention", "ObjectStore", "PutItem", "RetentionRecords", "check_key"]

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
        Nothing staged is visible; pass the result to ``put_many`` or ``discard``.
        """

    def discard(self, item: PutItem) -> None:
        """Forget a staged item that will not be put."""

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> Iterator[str]:
        """Keys under *prefix*, in lexicographic order."""

    def retention(self, key: str) -> ObjectRetention: ...

    def extend_retention(self, key: str, until: dt.datetime) -> None: ...

    def set_legal_hold(self, key: str, on: bool) -> None: ...

    def delete(self, key: str) -> None:
        """Dispose of an object whose retention has ended and has no hold."""


@runtime_checkable
class RetentionRecords(Protocol):
    """A store that keeps retention and legal holds in records of its own (the local store's journal).

    Such records can be damaged where S3's Object Lock cannot, so an audit reads them back:
    ``damage`` names each record that cannot be read, and the audit compares every
    document's retention with what the log says.
    """

    def damage(self) -> list[StoreError]:
        """One error per unreadable record, named ``FILE line N``; empty when all are readable."""


def check_key(key: str) -> None:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in key or "\x00" in key:
        raise ValueError(f"invalid object key {key!r}")
