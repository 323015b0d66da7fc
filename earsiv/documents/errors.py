"""Errors raised while reading a document.

    EarsivError (earsiv.errors)
    └── DocumentError
        └── InvalidDocument        input cannot be archived (exit code 1)
            ├── NotXML             not well-formed XML, or not XML at all
            ├── HostileXML         DTD, entity declarations, processing tricks
            └── TooLarge           over the configured size bound

Every error carries the name of the file it is about, so a user can act on it.
"""

from __future__ import annotations

from earsiv.errors import EarsivError

__all__ = ["DocumentError", "HostileXML", "InvalidDocument", "NotXML", "TooLarge"]


class DocumentError(EarsivError):
    """Base of the errors of reading documents."""

    code = "document-error"


class InvalidDocument(DocumentError):
    """The input is not something we can archive; nothing was stored."""

    exit_code = 1
    code = "invalid-document"


class NotXML(InvalidDocument):
    code = "not-xml"


class HostileXML(InvalidDocument):
    code = "hostile-xml"


class TooLarge(InvalidDocument):
    code = "too-large"
