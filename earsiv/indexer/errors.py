"""Errors of the derived indexes.

    EarsivError (earsiv.errors)
    └── IndexerError
        └── IndexFailure           the SQL or full-text index could not be read or written (exit 3)
            └── IndexFull          the disk holding it is full (exit 3)
"""

from __future__ import annotations

from earsiv.errors import EarsivError

__all__ = ["IndexFailure", "IndexFull", "IndexerError"]


class IndexerError(EarsivError):
    """Base of the errors of the derived indexes."""

    code = "indexer-error"


class IndexFailure(IndexerError):
    """The index could not be read or written."""

    exit_code = 3
    code = "index-failure"


class IndexFull(IndexFailure):
    """The disk holding the index is full: nothing was written; free space and retry."""

    code = "storage-full"
