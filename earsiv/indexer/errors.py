"""Errors of the derived indexes.

    EarsivError (earsiv.errors)
    └── IndexerError
        └── IndexFailure           the SQL or full-text index could not be read or written (exit 3)
            ├── IndexFull          its disk is full (also an earsiv.errors.StorageFull)
            ├── IndexDamaged       the SQLite file is not a readable database: rebuild it
            └── IndexUnavailable   the index's database server does not answer: try again later
"""

from __future__ import annotations

import os
from pathlib import Path

from earsiv.errors import EarsivError, StorageFull, disk_full, full_detail

__all__ = ["IndexDamaged", "IndexFailure", "IndexFull", "IndexUnavailable", "IndexerError", "index_failure"]

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


class IndexUnavailable(IndexFailure):
    """The index's database server cannot be reached (down, restarting, network): nothing is lost, try again."""

    exit_code = 3
    code = "index-unavailable"


# What PostgreSQL's client says when there is no server to talk to, or it went away mid-command.
_UNREACHABLE = (
    "connection failed", "connection refused", "could not connect", "server closed the connection",
    "terminating connection", "connection is closed", "connection timeout", "consuming input failed",
    "the database system is shutting down", "the database system is starting up",
)


def _unreachable(exc: BaseException) -> BaseException | None:
    """The database client's own error when *exc* says the server cannot be reached, else None."""
    seen: BaseException | None = exc
    while seen is not None:
        orig = getattr(seen, "orig", None) or seen
        text = str(orig).lower()
        if getattr(seen, "connection_invalidated", False) or any(m in text for m in _UNREACHABLE):
            return orig
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


def _sqlite_damage(exc: BaseException | None) -> BaseException | None:
    while exc is not None:
        if getattr(exc, "sqlite_errorcode", None) in _SQLITE_DAMAGED:
            return exc
        exc = getattr(exc, "orig", None) or exc.__cause__
    return None


def index_failure(what: str, exc: BaseException, path: str | os.PathLike | None, *, name: str | None = None,
                  server: str | None = None) -> IndexFailure:
    """The error for *exc* at the edge of an index: ``IndexFull`` when a disk is full,
    ``IndexDamaged`` when the SQLite file at *path* is not a readable database,
    ``IndexUnavailable`` when the database *server* (its URL, no password) does not answer."""
    if disk_full(exc):
        return IndexFull(full_detail(what, path), name=name)
    damage = _sqlite_damage(exc)
    if damage is not None and path is not None:
        return IndexDamaged(
            f"the SQL index at {path} cannot be read (SQLite says: {damage}); it is derived from the store, so "
            f"nothing is lost: move it aside (with any {Path(path).name}-wal and -shm beside it) and run "
            f"`earsiv reindex`", name=name)
    if server is not None and (cause := _unreachable(exc)) is not None:
        said = " ".join(str(cause).split())
        return IndexUnavailable(
            f"the index database {server} does not answer ({said}); {what} failed. Nothing acknowledged is lost: "
            f"the store keeps every document, and the index catches up from the log once the database is back. "
            f"Run the command again then", name=name)
    return IndexFailure(f"{what}: {exc}", name=name)
