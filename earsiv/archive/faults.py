"""Named fault-injection points, for crash tests (as SQLite's and borg's are).

The code calls ``point(name)`` at each instant where a crash, a power cut or a full disk
could leave a state worth testing (after blobs are durable and before their bundle, between
a checkpoint's body and its signature, ...).  Normally nothing happens: one global ``None``
check.  A test starts a process with ``EARSIV_FAULT`` set, e.g.::

    EARSIV_FAULT=ledger.after-blobs        SIGKILL at the first time the point is reached
    EARSIV_FAULT=ledger.after-blobs#3      ... at the third time
    EARSIV_FAULT=store.journal:torn        the write at that point is cut short, then SIGKILL
    EARSIV_FAULT=store.put:enospc#2        the second time, raise OSError(ENOSPC) there

``write(name, do_write, data)`` is for writes that a crash can cut short: it calls
``do_write(data)`` (which should make the bytes durable), or, when the plan says ``:torn``,
``do_write`` with a prefix of *data* and then kills the process.  ``POINTS`` lists every point the archive owns, so a crash
test can go through all of them and a test can check that none is missing.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ENV", "POINTS", "point", "write"]

ENV = "EARSIV_FAULT"

# Every point the code owns, with what a crash there leaves.  Kept here, not spread over
# the modules, so that "crash at every point" is one loop in a test.
POINTS: dict[str, str] = {
    "ingest.after-stage": "blobs of a group written (invisible), nothing committed",
    "ledger.after-blobs": "blobs and dictionaries durable, their leaves not yet in a bundle",
    "ledger.after-bundle": "bundle durable, the index not yet updated",
    "ledger.after-mirror": "bundle and index rows durable, nothing answered yet",
    "dictionary.after-put": "a new dictionary durable, no blob stored with it yet",
    "checkpoint.after-tiles": "tiles written, the checkpoint body not yet",
    "checkpoint.after-body": "checkpoint body durable, its signature not yet",
    "checkpoint.after-signature": "checkpoint signed, not yet time-stamped",
    "checkpoint.after-token": "checkpoint stamped, the index not yet told",
    "store.journal": "a retention journal line written (torn with :torn)",
    "store.put": "objects being linked into place, one at a time",
    "disposal.after-leaves": "disposal leaves durable, their blobs not deleted yet",
    "jobs.after-document": "a take-away job's result half written, its row saying running",
    "rotate.after-key": "a new signing key written to the home, its log entry not yet",
    "rotate.after-entry": "the new key's log entry durable, the home still signing with the old key",
    "rotate.after-switch": "the new key in force in the home, no checkpoint signed by it yet",
}


@dataclass(frozen=True, slots=True)
class _Plan:
    name: str
    action: str  # "kill", "torn" or "enospc"
    at: int


_plan: _Plan | None | bool = False  # False: not read yet
_hits: dict[str, int] = {}
_lock = threading.Lock()


def _read_plan() -> _Plan | None:
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return None
    raw, _, count = raw.partition("#")
    name, _, action = raw.partition(":")
    if name not in POINTS:
        raise SystemExit(f"{ENV}: unknown fault point {name!r}; known: {', '.join(sorted(POINTS))}")
    if action not in ("", "kill", "torn", "enospc"):
        raise SystemExit(f"{ENV}: unknown action {action!r} (kill, torn, enospc)")
    return _Plan(name, action or "kill", int(count or 1))


def _due(name: str) -> _Plan | None:
    global _plan
    if _plan is False:
        _plan = _read_plan()
    if _plan is None or _plan.name != name:  # type: ignore[union-attr]
        return None
    with _lock:
        _hits[name] = _hits.get(name, 0) + 1
        return _plan if _hits[name] == _plan.at else None  # type: ignore[union-attr,return-value]


def _kill(name: str) -> None:
    sys.stderr.write(f"earsiv: fault injection: SIGKILL at {name}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def point(name: str) -> None:
    """A place where a crash (or a full disk) is tested; nothing happens unless a test planned it."""
    if _plan is None:
        return
    plan = _due(name)
    if plan is None:
        return
    if plan.action == "enospc":
        raise OSError(errno.ENOSPC, f"No space left on device (fault injection at {name})")
    _kill(name)


def write(name: str, do_write: Callable[[bytes], object], data: bytes) -> None:
    """``do_write(data)``; or, when a test planned it, a torn write (a prefix) or a kill right after it."""
    plan = None if _plan is None else _due(name)
    if plan is None:
        do_write(data)
        return
    if plan.action == "enospc":
        raise OSError(errno.ENOSPC, f"No space left on device (fault injection at {name})")
    do_write(data[: len(data) // 2 + 1] if plan.action == "torn" else data)
    _kill(name)
