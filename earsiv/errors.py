"""The root of every error earsiv raises on purpose, and the one for what a user got wrong.

    EarsivError                    base: a code, an exit code, the name of what it is about
    ├── InvalidInput               a value the user typed or sent is not acceptable (exit 2)
    ├── StorageFull                a disk the archive writes to is full (exit 3); raised as the
    │                              store's StoreFull or the index's IndexFull, which are also
    │                              a StoreError and an IndexFailure
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

import errno
import os
import shutil
from pathlib import Path

__all__ = ["EarsivError", "InvalidInput", "StorageFull", "disk_full", "full_detail"]

_SQLITE_FULL = 13  # "database or disk is full"
_PG_DISK_FULL = "53100"


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


class StorageFull(EarsivError):
    """A disk the archive writes to (store, index, caches) is full or over quota.

    Nothing acknowledged was lost: a document is acknowledged only once it is durable, and
    what failed is retried by running the command again once there is space.
    """

    exit_code = 3
    code = "storage-full"


def disk_full(exc: BaseException | None) -> bool:
    """Whether *exc*, or an exception it came from, says that a disk is full.

    ENOSPC and EDQUOT from the OS, SQLite's SQLITE_FULL ("database or disk is full"),
    PostgreSQL's ``disk_full`` (SQLSTATE 53100).
    """
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, StorageFull):
            return True
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if getattr(e, "sqlite_errorcode", None) == _SQLITE_FULL or getattr(e, "sqlstate", None) == _PG_DISK_FULL:
            return True
        todo.extend((getattr(e, "orig", None), e.__cause__, e.__context__))
    return False


def full_detail(what: str, path: str | os.PathLike | None) -> str:
    """The message of a ``StorageFull``: what failed, which file system, and what to do."""
    where = ""
    if path is not None:
        mount = Path(os.path.abspath(path))
        while not mount.exists() and mount != mount.parent:
            mount = mount.parent
        while not os.path.ismount(mount) and mount != mount.parent:
            mount = mount.parent
        try:
            free = f", {shutil.disk_usage(mount).free} bytes free"
        except OSError:
            free = ""
        where = f" on the file system mounted at {mount} (holding {path}{free})"
    return f"{what}: no space left{where}; free space and retry; nothing acknowledged was lost"
