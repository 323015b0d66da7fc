"""Errors raised while understanding documents.

    IndexerError
    ├── InvalidDocument            input cannot be archived (exit code 1)
    │   ├── NotXML                 not well-formed XML, or not XML at all
    │   ├── HostileXML             DTD, entity declarations, processing tricks
    │   └── TooLarge               over the configured size bound
    └── IndexError_                the SQL index failed (operational)

Every error carries the name of the file it is about, so a user can act on it.
"""

from __future__ import annotations

__all__ = [
    "HostileXML",
    "IndexFailure",
    "IndexerError",
    "InvalidDocument",
    "NotXML",
    "TooLarge",
]


class IndexerError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code = 3

    def __init__(self, message: str, *, name: str | None = None) -> None:
        self.name = name
        self.detail = message
        super().__init__(f"{name}: {message}" if name else message)


class InvalidDocument(IndexerError):
    """The input is not something we can archive; nothing was stored."""

    exit_code = 1
    code = "invalid-document"


class NotXML(InvalidDocument):
    code = "not-xml"


class HostileXML(InvalidDocument):
    code = "hostile-xml"


class TooLarge(InvalidDocument):
    code = "too-large"


class IndexFailure(IndexerError):
    """The metadata index could not be read or written."""

    exit_code = 3
    code = "index-failure"
