"""The root of every error earsiv raises on purpose, and the one for what a user got wrong.

    EarsivError                    base: a code, an exit code, the name of what it is about
    ├── InvalidInput               a value the user typed or sent is not acceptable (exit 2)
    ├── DocumentError              documents/errors.py: input that cannot be archived
    ├── IndexerError               indexer/errors.py: the SQL or full-text index failed
    ├── RenderError                render/errors.py: a printable copy could not be made
    └── ArchiveError               archive/errors.py: keeping, proving, access

Exit codes: 1 a verification or validation failure, 2 a usage or configuration error,
3 an operational failure.  Each interface maps these classes in one place (the CLI's
group, the HTTP problem handlers); a test checks that every class is mapped at both.

Misuse by the calling code (a bug) raises the built-in ``ValueError``/``TypeError``/
``AssertionError``: interfaces never catch those, so a bug is never shown as "bad input".
"""

from __future__ import annotations

__all__ = ["EarsivError", "InvalidInput"]


class EarsivError(Exception):
    """Base of every error earsiv raises on purpose."""

    exit_code = 3
    code = "error"

    def __init__(self, message: str, *, name: str | None = None) -> None:
        self.name = name
        self.detail = message
        super().__init__(f"{name}: {message}" if name else message)


class InvalidInput(EarsivError):
    """What the user typed or sent is not acceptable (a date, a VKN, a period, a limit); nothing changed."""

    exit_code = 2
    # The problem type of a parameter the HTTP layer refuses itself (a malformed date): a
    # client cannot tell, and need not, which layer found the value unacceptable.
    code = "invalid-request"
