"""Errors of the derived indexes.

    EarsivError (earsiv.errors)
    └── IndexerError
        └── IndexFailure           the SQL or full-text index could not be read or written (exit 3)
            └── IndexFull          its disk is full (also an earsiv.errors.StorageFull)
"""

from __future__ import annotations

import os

from earsiv.errors import EarsivError, StorageFull, disk_full, full_detail

__all__ = ["IndexFailure", "IndexFull", "IndexerError", "index_failure"]


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


def index_failure(what: str, exc: BaseException, path: str | os.PathLike | None, *, name: str | None = None) -> IndexFailure:
    """The error for *exc* at the edge of an index: ``IndexFull`` when a disk is full."""
    if disk_full(exc):
        return IndexFull(full_detail(what, path), name=name)
    return IndexFailure(f"{what}: {exc}", name=name)
