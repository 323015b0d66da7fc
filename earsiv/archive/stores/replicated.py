"""Two stores kept as one: the primary, and a replica at another site to repair it from.

Özel entegratör rules ask for a second copy at a separate site and no loss in a disaster
(LAW.md L5, L9).  ``ReplicatedStore`` puts every object into the primary and then into the
replica before ``put_many`` returns (synchronous: nothing is acknowledged with one copy), and
applies every retention change and legal hold to both.  The replica is any store the primary
could be (another directory on another disk, another S3 bucket with Object Lock, at another
provider); it holds the same keys with the same bytes, so ``migrate-store`` tools and the
standard toolbox read it alike.

Reads go to the primary.  When the primary has lost an object, or its bytes fail the
caller's check (a blob that no longer decodes to its digest), the replica's copy is read and
returned if it passes the same check: a damaged disk does not stop a download.  The damage
itself is found and repaired by the audit (``audit.py``, ``repair.py``); this class never
writes to one copy from the other on its own.

A replica added to an archive that already holds documents is filled by ``earsiv replica
sync`` (``replica.py``); until then the objects written before are on the primary only, and
``status`` shows how many remain.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence

from earsiv.archive.errors import StoreError, WriteOnceViolation
from earsiv.archive.stores.base import ObjectRetention, ObjectStore, PutItem

__all__ = ["ReplicatedStore", "copies_of"]

log = logging.getLogger("earsiv.replica")


class ReplicatedStore:
    """An ``ObjectStore`` writing to a primary and a replica; anything else is the primary's."""

    def __init__(self, primary: ObjectStore, replica: ObjectStore) -> None:
        self.primary = primary
        self.replica = replica
        self.url = primary.url
        self.replica_reads = 0  # reads the replica answered because the primary could not

    def __getattr__(self, name: str):
        # What only some stores have (self_test, damage, size, stats): the primary's.
        if name in ("primary", "replica"):
            raise AttributeError(name)
        return getattr(self.primary, name)

    # -- writing ----------------------------------------------------------------
    def stage(self, item: PutItem) -> PutItem:
        return self.primary.stage(item)

    def discard(self, item: PutItem) -> None:
        self.primary.discard(item)

    def put_many(self, items: Sequence[PutItem]) -> list[bool]:
        written = self.primary.put_many(items)
        # The primary decided (a position another writer took raised above); the replica
        # takes the same bytes.  Its own WriteOnceViolation means its copy is damaged:
        # the write stands (the primary holds it), the audit finds and repairs the copy.
        plain = [PutItem(i.key, i.data, i.retain_until) for i in items]
        try:
            self.replica.put_many(plain)
        except WriteOnceViolation as exc:
            log.error("the replica %s holds other bytes under a key just written (%s); the audit reports "
                      "it and `earsiv repair` restores it", self.replica.url, exc.detail)
        except StoreError as exc:
            raise StoreError(f"the replica {self.replica.url} cannot be written ({exc.detail}); the write is not "
                             "acknowledged: try again once the replica is reachable", name=exc.name) from exc
        return written

    # -- reading ----------------------------------------------------------------
    def get(self, key: str, *, verify: Callable[[bytes], bool] | None = None) -> bytes:
        try:
            data = self.primary.get(key, verify=verify)
        except StoreError as exc:
            try:
                data = self.replica.get(key, verify=verify)
            except StoreError:
                raise exc from None
            if verify is not None and not verify(data):
                raise exc from None
            self._from_replica(key, str(exc))
            return data
        if verify is None or verify(data):
            return data
        try:
            other = self.replica.get(key, verify=verify)
        except StoreError:
            return data  # the caller's own check names the damage
        if verify(other):
            self._from_replica(key, "its bytes on the primary fail their check")
            return other
        return data

    def _from_replica(self, key: str, why: str) -> None:
        self.replica_reads += 1
        log.warning("%s read from the replica %s: %s (the audit reports it; `earsiv repair` restores it)",
                    key, self.replica.url, why)

    def exists(self, key: str) -> bool:
        return self.primary.exists(key)

    def list(self, prefix: str) -> Iterator[str]:
        return self.primary.list(prefix)

    def retention(self, key: str) -> ObjectRetention:
        return self.primary.retention(key)

    # -- retention and holds: both copies -----------------------------------------
    def extend_retention(self, key: str, until: dt.datetime) -> None:
        self.primary.extend_retention(key, until)
        self.replica.extend_retention(key, until)

    def set_legal_hold(self, key: str, on: bool) -> None:
        self.primary.set_legal_hold(key, on)
        self.replica.set_legal_hold(key, on)

    def delete(self, key: str, **kw) -> None:
        self.primary.delete(key, **kw)
        if self.replica.exists(key):
            self.replica.delete(key, **kw)

    def close(self) -> None:
        try:
            self.primary.close()
        finally:
            self.replica.close()


def copies_of(store: ObjectStore) -> list[tuple[str, ObjectStore]]:
    """The copies an audit reads: ``[("primary", store)]``, plus ``("replica", …)`` when there is one."""
    if isinstance(store, ReplicatedStore):
        return [("primary", store.primary), ("replica", store.replica)]
    return [("primary", store)]
