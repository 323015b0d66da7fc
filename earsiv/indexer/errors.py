"""Errors of the derived indexes.

    EarsivError (earsiv.errors)
    └── IndexerError
        └── IndexFailure           the SQL or full-text index could not be read or written (exit 3)
            ├── IndexFull          its disk is full (also an earsiv.errors.StorageFull)
            └── IndexDamaged       the SQLite file is not a readable database: rebuild it
"""

from __future__ import annotations

import os
from pathlib import Path

from earsiv.errors import EarsivError, StorageFull, disk_full, full_detail

__all__ = ["IndexDamaged", "IndexFailure", "IndexFull", "IndexerError", "index_failure"]

# SQLite's answers for a file that is not (or no longer) a database: SQLITE_CORRUPT, SQLITE_NOTADB.
_SQLITE_DAMAGED = frozenset({11, 26})


class IndexerError(EarsivError):
    """Base of the errors of the derived indexes."""

    code = "indexer-error"


class IndexFailure(IndexerError):
    """The index could not be read or written."""

    exit_code = 3
    code = "index-failure"


class IndexFull(IndexFailure, StorageFull):
    """The index's disk is full: free space and retry; nothing acknowledged was lost (the index is derived)."""

    exit_code = 3
    code = StorageFull.code


class IndexDamaged(IndexFailure):
    """The SQLite index file cannot be read as a database; it is derived, so it is rebuilt, not repaired."""

    exit_code = 3
    code = "index-damaged"


def _sqlite_damage(exc: BaseException | None) -> BaseException | None:
    while exc is not None:
        if getattr(exc, "sqlite_errorcode", None) in _SQLITE_DAMAGED:
            return exc
        exc = getattr(exc, "orig", None) or exc.__cause__
    return None


def index_failure(what: str, exc: BaseException, path: str | os.PathLike | None, *, name: str | None = None) -> IndexFailure:
    """The error for *exc* at the edge of an index: ``IndexFull`` when a disk is full,
    ``IndexDamaged`` when the SQLite file at *path* is not a readable database."""
    if disk_full(exc):
        return IndexFull(full_detail(what, path), name=name)
    damage = _sqlite_damage(exc)
    if damage is not None and path is not None:
        return IndexDamaged(
            f"the SQL index at {path} cannot be read (SQLite says: {damage}); it is derived from the store, so "
            f"nothing is lost: move it aside (with any {Path(path).name}-wal and -shm beside it) and run "
            f"`earsiv reindex`", name=name)
    return IndexFailure(f"{what}: {exc}", name=name)
