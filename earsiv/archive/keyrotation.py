"""The checkpoint-signing key in the home, the chain of keys in the log, and rotating the key.

    HOME/keys/archive-signing-key.pem       the private key in force (0600)
    HOME/keys/archive-signing-key.next.pem  a successor made by `earsiv key rotate`, for the
                                            moment between making it and its entry being durable

A rotation, in this order, each step durable before the next:

1. the log so far is checkpointed under the old key;
2. the new key is written to ``.next.pem``, its public key to the store (``keys/<id>.pem``);
3. the ``archive-key`` entry, signed by the old key and the new one, is appended;
4. ``.next.pem`` replaces the old private key (the old one is gone: DECISIONS.md);
5. the log is checkpointed under the new key.

Steps 2 and 3 run under the log's write lock. A crash leaves one well-defined key in force,
decided by the log alone: the newest valid ``archive-key`` entry's key, or the first key.
``HomeKeys.signer`` finishes step 4 when the entry is in the log and ``.next.pem`` holds its
key; opening (``HomeKeys.settle``, under the write lock) deletes a ``.next.pem`` that no
entry introduced (a crash before step 3).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from earsiv.archive import faults
from earsiv.archive.errors import StoreError, VerificationError
from earsiv.archive.keys import (
    KEY_FILE,
    KEY_RING_META,
    NEXT_KEY_FILE,
    KeyRing,
    PublicKey,
    Signer,
    key_id_of,
    sign_b64,
)
from earsiv.archive.log.entries import KeyEntry, decode
from earsiv.archive.stores.local import fsync_dir

if TYPE_CHECKING:
    from earsiv.archive.ledger import Ledger
    from earsiv.archive.stores.base import ObjectStore
    from earsiv.indexer.db import Index

__all__ = ["HomeKeys", "rotate"]

FOREVER = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)

log = logging.getLogger("earsiv.keys")


class HomeKeys:
    """The first key (from ``earsiv.json``), the chain (from the index), and the private key in force."""

    def __init__(self, home: Path, store: ObjectStore, index: Index, origin: str, first_key_id: str) -> None:
        self.dir = home / "keys"
        self.store = store
        self.index = index
        self.origin = origin
        self.first = self._first_key(first_key_id)
        self._ring: tuple[str | None, KeyRing] | None = None
        self.refused: list[tuple[int, str]] = []  # (log index, why) of archive-key entries not in the chain
        self._signer: Signer | None = None

    def _first_key(self, key_id: str) -> PublicKey:
        """The first key: from the store (the copy whose id checks out), or the home's own key while it is
        still that one (so a damaged key object is the audit's finding, not a home that cannot open)."""
        def matches(data: bytes) -> bool:
            try:
                return key_id_of(data) == key_id
            except ValueError:
                return False

        try:
            pem = self.store.get(f"keys/{key_id}.pem", verify=matches)
            if matches(pem):
                return PublicKey(pem)
        except StoreError:
            pass
        try:
            own = Signer.load(self.dir).public
        except StoreError:
            own = None
        if own is not None and own.key_id == key_id:
            return own
        raise StoreError(f"keys/{key_id}.pem, the archive's first key that earsiv.json names, cannot be read "
                         "intact from the store, and this home no longer holds it: run `earsiv audit` and "
                         "`earsiv repair`")

    def ring(self) -> KeyRing:
        """The chain as the index knows it now (read again only when it changed)."""
        raw = self.index.meta_get(KEY_RING_META)
        if self._ring is not None and self._ring[0] == raw:
            return self._ring[1]
        ring = KeyRing(self.first, self.origin)
        self.refused: list[tuple[int, str]] = []
        for item in sorted(json.loads(raw or "[]"), key=lambda d: d["index"]):
            try:
                entry = decode(item["leaf"].encode("utf-8"))
                if not isinstance(entry, KeyEntry):
                    raise VerificationError("not an archive-key entry")
                ring.add(item["index"], entry)
            except VerificationError as exc:
                # Refused: the key it names never comes into force, so neither does any
                # checkpoint that key signed.
                log.warning("the archive-key entry at log index %s is refused: %s", item["index"], exc.detail)
                self.refused.append((item["index"], exc.detail))
        self._ring = (raw, ring)
        return ring

    def signer(self) -> Signer:
        """The private key of the key in force, finishing or undoing a rotation a crash interrupted."""
        want = self.ring().current.key_id
        if self._signer is not None and self._signer.public.key_id == want:
            return self._signer
        current = Signer.load(self.dir)
        nxt = self.dir / NEXT_KEY_FILE
        if current.public.key_id != want and nxt.exists():
            successor = Signer.load(self.dir, NEXT_KEY_FILE)
            if successor.public.key_id == want:
                log.info("the signing key %s, introduced in the log, takes over", want)
                try:
                    os.replace(nxt, self.dir / KEY_FILE)  # the old private key is gone with this
                    fsync_dir(self.dir)
                except FileNotFoundError:
                    pass  # another process finished it a moment ago
                current = successor
        if current.public.key_id != want:
            raise StoreError(f"the home's signing key is {current.public.key_id}, but the key in force (the log's "
                             f"newest key introduction, or the first key) is {want}; this home cannot sign "
                             "checkpoints of this archive")
        self._signer = current
        return current

    def settle(self, ledger: Ledger) -> None:
        """At open: finish a rotation whose entry is in the log, and delete a successor key that no entry
        introduced (a crash before the entry). Under the write lock, where a rotation makes its key: a
        rotation under way in another process is never mistaken for a dead one."""
        nxt = self.dir / NEXT_KEY_FILE
        if nxt.exists():
            with ledger.write_lock():
                self._ring = None
                if nxt.exists() and Signer.load(self.dir, NEXT_KEY_FILE).public.key_id != self.ring().current.key_id:
                    log.warning("removing %s: a key made by a key rotation that never reached the log (a crash)", nxt)
                    nxt.unlink(missing_ok=True)
                    fsync_dir(self.dir)
        self.signer()

    def signer_for(self, size: int) -> Signer | None:
        """The private key that must sign a checkpoint of *size* leaves, or None when it is not this home's
        (a key retired since: that checkpoint is left to one of more leaves)."""
        signer = self.signer()
        return signer if self.ring().for_size(size).key_id == signer.public.key_id else None

    def status(self) -> dict[str, Any]:
        ring = self.ring()
        return {"first": ring.first.key_id, "current": ring.current.key_id, "history": ring.history()}


def rotate(keys: HomeKeys, ledger: Ledger, checkpoint: Callable[[], object], *, reason: str, by: str,
           now: dt.datetime | None = None) -> dict[str, Any]:
    """Make a new checkpoint-signing key and hand over to it (the steps of the module's docstring);
    *checkpoint* checkpoints (and stamps) the log as it stands."""
    from earsiv.archive.ledger import Batch
    from earsiv.archive.stores.base import PutItem

    checkpoint()  # 1. what is logged so far, signed (and stamped, if the TSA answers) by the old key
    old = keys.signer()
    nxt = keys.dir / NEXT_KEY_FILE
    made: list[Signer] = []

    def build() -> Batch:  # under the write lock (and again, if another writer took the log's end)
        if keys.ring().current.key_id != old.public.key_id:
            raise StoreError("another key rotation was made meanwhile; nothing was changed, run it again")
        if not made:  # 2.
            nxt.unlink(missing_ok=True)  # a successor of an interrupted rotation that never reached the log
            made.append(Signer.generate(nxt))
            fsync_dir(keys.dir)
            faults.point("rotate.after-key")
            keys.store.put_many([PutItem(f"keys/{made[0].public.key_id}.pem", made[0].public.pem, FOREVER)])
        new = made[0]
        at = now or dt.datetime.now(dt.UTC)
        statement = KeyEntry.statement_of(keys.origin, old.public.key_id, new.public.key_id, at)
        return Batch([KeyEntry(old.public.key_id, new.public.key_id, new.public.pem.decode("ascii"), at, by,
                               reason, sign_b64(old, statement), sign_b64(new, statement))])

    appended = ledger.append(build)  # 3.
    assert appended is not None
    new = made[0]
    faults.point("rotate.after-entry")
    try:
        os.replace(nxt, keys.dir / KEY_FILE)  # 4.
    except FileNotFoundError:
        pass  # another process of this home saw the entry and finished the hand-over first
    fsync_dir(keys.dir)
    faults.point("rotate.after-switch")
    if keys.signer().public.key_id != new.public.key_id:
        raise StoreError("the new key is in the log but not in the home; run the command again")
    checkpoint()  # 5.
    latest = keys.index.log.latest_checkpoint()
    return {"old_key": old.public.key_id, "new_key": new.public.key_id, "log_index": appended.first,
            "first_key": keys.first.key_id, "checkpoint": latest.size if latest else None, "reason": reason,
            "old_private_key": "deleted"}
