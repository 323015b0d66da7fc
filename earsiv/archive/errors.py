"""Errors raised while keeping documents.

    EarsivError (earsiv.errors)
    └── ArchiveError               base; operational unless a subclass says otherwise (exit code 3)
        ├── VerificationError          evidence does not prove what it claims (exit code 1)
        ├── WriteOnceViolation         an overwrite or delete was refused (exit code 1)
        ├── RetentionError             a retention or legal-hold rule refuses the action (exit code 1)
        ├── StoreError                 the object store failed (operational, exit code 3)
        │   ├── StoreFull              its disk is full (also an earsiv.errors.StorageFull)
        │   ├── StoreUnavailable       its server does not answer: nothing lost, try again (exit code 3)
        │   └── LockNotEnforced        the S3 bucket does not enforce Object Lock: refused (exit code 3)
        ├── TSAError                   a time-stamp authority failed or refused (operational, exit code 3)
        ├── ConfigError                the home or its configuration is missing or wrong (exit code 2)
        ├── DocumentNotFound           no document with that digest is held, or none the asker may see (exit code 1)
        ├── NotFound                   no principal, token or grant of that name (exit code 1)
        ├── Conflict                   a principal, token or grant of that name exists already (exit code 1)
        ├── TooManyJobs                the principal has its most take-away jobs queued or running (exit code 1)
        ├── JobNotReady                a take-away job's result is asked before the job is done (exit code 1)
        ├── JobExpired                 a take-away job's result was deleted at its expiry (exit code 1)
        ├── Unauthenticated            no valid, unexpired, unrevoked token (exit code 1)
        └── Forbidden                  the principal's role or links do not allow the action (exit code 1)

Misuse by the calling code (an index outside the tree, a hash of the wrong length handed to a
proof builder) raises the built-in ``ValueError``/``TypeError``: those are bugs to fix, not
conditions a user can act on, and they must never be mistaken for "the evidence is bad".

Every error carries the name of the thing it is about (a document id, a URL, a file) when
there is one, so a user can act on it.
"""

from __future__ import annotations

from earsiv.errors import EarsivError, StorageFull

__all__ = [
    "ArchiveError",
    "ConfigError",
    "Conflict",
    "DocumentNotFound",
    "Forbidden",
    "JobExpired",
    "JobNotReady",
    "LockNotEnforced",
    "NotFound",
    "RetentionError",
    "StoreError",
    "StoreFull",
    "StoreUnavailable",
    "TSAError",
    "TooManyJobs",
    "Unauthenticated",
    "VerificationError",
    "WriteOnceViolation",
]


class ArchiveError(EarsivError):
    """Base of every error this package raises on purpose."""

    exit_code = 3
    code = "archive-error"


class VerificationError(ArchiveError):
    """A proof, checkpoint or time-stamp token does not verify.

    ``step`` is the number of the failed step of the verification procedure that raised it
    (the numbers appear in that procedure's comments), or ``None``.
    """

    exit_code = 1
    code = "verification-failed"

    def __init__(self, message: str, *, name: str | None = None, step: int | None = None) -> None:
        self.step = step
        super().__init__(f"step {step}: {message}" if step is not None else message, name=name)


class WriteOnceViolation(ArchiveError):
    """Something tried to overwrite or delete a stored object; nothing was changed."""

    exit_code = 1
    code = "write-once-violation"


class RetentionError(ArchiveError):
    """A retention period or legal hold forbids the action (or a retention would shrink)."""

    exit_code = 1
    code = "retention"


class StoreError(ArchiveError):
    """The object store could not be read or written."""

    exit_code = 3
    code = "store-failure"


class StoreFull(StoreError, StorageFull):
    """The store's disk is full or over quota: free space and retry; nothing acknowledged was lost."""

    exit_code = 3
    code = StorageFull.code


class StoreUnavailable(StoreError):
    """The store's server does not answer (down, restarting, network): nothing acknowledged is lost; try again."""

    exit_code = 3
    code = "store-unavailable"


class LockNotEnforced(StoreError):
    """The bucket does not enforce Object Lock; the archive refuses to run on it (or to take documents)."""

    code = "lock-not-enforced"


class TSAError(ArchiveError):
    """A time-stamp authority could not be reached, refused the request or answered wrongly.

    A token is never handed back when this is raised: a stamp either fully checks out against
    the request or does not exist.
    """

    exit_code = 3
    code = "tsa-failure"


class ConfigError(ArchiveError):
    """The archive home or its configuration is missing or wrong (exit code 2: fix the setup)."""

    exit_code = 2
    code = "config"


class DocumentNotFound(ArchiveError):
    """No document with the given digest is held by this archive (or none the asker may see)."""

    exit_code = 1
    code = "document-not-found"


class NotFound(ArchiveError):
    """No principal, token or grant with the given name."""

    exit_code = 1
    code = "not-found"


class TooManyJobs(ArchiveError):
    """The principal has as many take-away jobs queued or running as it may: one must end first."""

    exit_code = 1
    code = "too-many-jobs"


class JobNotReady(ArchiveError):
    """A take-away job's result was asked for while the job is queued or running, or after it failed."""

    exit_code = 1
    code = "job-not-ready"


class JobExpired(ArchiveError):
    """A take-away job's result was deleted when it expired: make the job again."""

    exit_code = 1
    code = "job-expired"


class Conflict(ArchiveError):
    """A principal, token or grant with the given name exists already."""

    exit_code = 1
    code = "conflict"


class Unauthenticated(ArchiveError):
    """The request carries no token, or one that is unknown, expired or revoked."""

    exit_code = 1
    code = "unauthenticated"


class Forbidden(ArchiveError):
    """The principal's role, tenants or grants do not allow the action."""

    exit_code = 1
    code = "forbidden"
