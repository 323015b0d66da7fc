"""A replica added to an archive that already holds objects: ``earsiv replica add`` and ``sync``.

From the moment a replica is configured every new object is written to it too
(``stores.replicated``).  What the primary held before is copied by ``sync``: every key,
in the store's order, with its retain-until and legal hold, read back from the replica
and compared before it counts (``migrate.copy_objects``).  It is resumable: the last key
copied is kept in ``HOME/cache/replica-sync.json`` after every batch, and a sync started
again goes on after it.  ``status`` shows whether the replica is complete, and how far a
sync has come.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from earsiv.archive.archive import ARCHIVE_OBJECT, open_store
from earsiv.archive.config import load_config
from earsiv.archive.errors import ConfigError
from earsiv.archive.migrate import MigrationReport, copy_objects, set_config_url
from earsiv.archive.stores.replicated import ReplicatedStore

if TYPE_CHECKING:
    from earsiv.archive.archive import Archive

__all__ = ["add_replica", "mark_complete", "replica_status", "sync_replica"]

BATCH = 64
STATE = "cache/replica-sync.json"


def _state(home: Path) -> dict[str, Any]:
    try:
        return json.loads((home / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _save(home: Path, state: dict[str, Any]) -> None:
    path = home / STATE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def mark_complete(home: Path, url: str) -> None:
    """A replica that was there from ``init`` on holds every object: nothing to sync."""
    _save(home, {"replica": url, "complete": True, "at": dt.datetime.now(dt.UTC).isoformat()})


def add_replica(home: Path, url: str, *, allow_unenforced_lock: bool = False) -> str:
    """Configure *url* as the home's replica (its self-test passed, it holds no other archive); return it."""
    cfg = load_config(home)
    if cfg.replica_url:
        raise ConfigError(f"{home} already has a replica ({cfg.replica_url}); one replica per home")
    replica = open_store(url, allow_unenforced_lock=allow_unenforced_lock, self_test=True)
    try:
        primary = open_store(cfg.store_url, allow_unenforced_lock=cfg.allow_unenforced_lock)
        try:
            if replica.exists(ARCHIVE_OBJECT) and replica.get(ARCHIVE_OBJECT) != primary.get(ARCHIVE_OBJECT):
                raise ConfigError(f"{replica.url} already holds another archive; refusing to mix two archives")
        finally:
            primary.close()
        resolved = replica.url
    finally:
        replica.close()
    set_config_url(home, "replica", url, add=True)
    load_config(home)  # refuse what would not open
    _save(home, {"replica": resolved, "complete": False, "after": None, "copied": 0})
    return resolved


def sync_replica(arch: Archive, progress: Callable[[int], None] | None = None) -> MigrationReport:
    """Copy what the primary holds and the replica does not yet (resumable; see the module doc)."""
    store = arch.store
    if not isinstance(store, ReplicatedStore):
        raise ConfigError(f"{arch.home} has no replica: add one with `earsiv replica add URL`")
    primary, replica = store.primary, store.replica
    state = _state(arch.home)
    if state.get("replica") != replica.url:
        state = {"replica": replica.url, "complete": False, "after": None, "copied": 0}
    after = state.get("after")
    report = MigrationReport(primary.url, replica.url)
    batch: list[str] = []

    def flush() -> None:
        copy_objects(primary, replica, batch, report)
        if not report.failures:
            state.update(after=batch[-1], copied=state.get("copied", 0) + len(batch))
            _save(arch.home, state)
        if progress:
            progress(len(batch))
        batch.clear()

    for key in primary.list(""):
        if key.startswith("canary/") or (after is not None and key <= after):
            continue
        batch.append(key)
        if len(batch) >= BATCH:
            flush()
            if report.failures:
                return report  # stop at the first failing batch: the next sync goes on from before it
    if batch:
        flush()
    if not report.failures:
        state.update(complete=True, at=dt.datetime.now(dt.UTC).isoformat())
        _save(arch.home, state)
    return report


def replica_status(arch: Archive) -> dict[str, Any] | None:
    """What ``status`` shows of the replica: where, whether complete, how far a sync has come."""
    if not arch.config.replica_url:
        return None
    store = arch.store
    url = store.replica.url if isinstance(store, ReplicatedStore) else arch.config.replica_url
    state = _state(arch.home)
    if state.get("replica") != url:
        state = {}
    out: dict[str, Any] = {"url": url, "complete": bool(state.get("complete")), "mode": "synchronous"}
    if not out["complete"]:
        out["synced_objects"] = int(state.get("copied") or 0)
        out["synced_up_to"] = state.get("after")
        out["next"] = "objects written before the replica was added are on the primary only: run `earsiv replica sync`"
    if isinstance(store, ReplicatedStore) and store.replica_reads:
        out["reads_answered_by_replica"] = store.replica_reads
    return out
