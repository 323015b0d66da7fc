"""Checkpoints and their time stamps: made outside the write lock, finished after any crash.

A checkpoint of size N is written in this order, each step durable before the next:

1. the index records the intent (state ``made``);
2. the hash tiles of size N (FORMAT.md §7): full tiles completed since the last checkpoint
   and the partial tiles of N;
3. the checkpoint body, then its Ed25519 signature (deterministic: a retry writes the same
   bytes); the index records ``signed``;
4. the RFC 3161 token, requested with no lock held (with ``stamps = 2``, then a second token
   from a TSA whose anchors are not the first's: ``.tsr2``); the index records ``stamped``.

A token is kept only if it verifies against the configured anchors of the TSA that made it
(the clients check before they return one); those anchors, not the certificates a token
carries, are what the store records under ``keys/tsa-<sha256 of the DER>.pem``.

A crash anywhere leaves a row that is not ``stamped``; ``stamp_pending`` (run after every
checkpoint, by ``serve``'s background worker, and when a command closes the archive) takes
each such row forward: a body without a signature is signed once its root is checked against
the tiles, a row without a body is dropped (it never became a checkpoint), and a signed
checkpoint without a token is stamped.  A TSA that is down delays stamps, never the ingest:
the error is logged, kept for ``status``, and the next run tries again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from earsiv.archive import faults
from earsiv.archive.errors import ConfigError, StoreError, TSAError, VerificationError, WriteOnceViolation
from earsiv.archive.log import merkle
from earsiv.archive.log.checkpoints import Checkpoint, checkpoint_key
from earsiv.archive.stores.base import PutItem

if TYPE_CHECKING:
    from earsiv.archive.keyrotation import HomeKeys
    from earsiv.archive.keys import Signer
    from earsiv.archive.ledger import Ledger
    from earsiv.archive.log.log import Snapshot
    from earsiv.archive.stores.base import ObjectStore
    from earsiv.indexer.logcatalog import CheckpointRow

__all__ = ["TOKEN_SUFFIXES", "Checkpointer"]

log = logging.getLogger("earsiv.checkpoint")
UTC = dt.UTC
STAMP_BATCH = 100  # tokens asked for in one run: a long outage is made up over several runs
FOREVER = dt.datetime(9999, 12, 31, tzinfo=UTC)
TOKEN_SUFFIXES = (".tsr", ".tsr2")  # the first TSA's token, an independent second TSA's


def _verifies(token: bytes, imprint: bytes, anchors: list) -> bool:
    from earsiv.archive.tsa.verify import verify_token

    if not anchors:
        return False
    try:
        verify_token(token, message_imprint=imprint, trusted_certs=anchors)
    except VerificationError:
        return False
    return True


class Checkpointer:
    def __init__(self, *, ledger: Ledger, store: ObjectStore, keys: HomeKeys, tsas: Callable[[], list[Any]],
                 origin: str, status_file: Path, stamps: int = 1,
                 on_anchor: Callable[[str], None] | None = None) -> None:
        self.ledger = ledger
        self.store = store
        self.keys = keys  # the key in force, and which key signs a checkpoint of which size
        self.tsas = tsas  # made on first use: the only thing that needs them is stamping
        self.stamps = stamps
        self.on_anchor = on_anchor  # told the sha256 of each configured anchor recorded in the store
        self._recorded: set[str] = set()  # anchors this process knows are in the store
        self.origin = origin
        self._status_file = status_file
        self._lock = threading.Lock()
        self.stamp_error: str | None = None  # this process's last TSA failure, None after a success
        self.certificates_added = False  # a TSA certificate was stored since the archive last listed them

    # -- making ----------------------------------------------------------------
    def checkpoint(self, *, stamp: bool = True, now: dt.datetime | None = None) -> Checkpoint | None:
        """Sign a checkpoint of the whole log if it grew since the latest one; stamp what lacks a token.

        Returns the new checkpoint, or None when the latest one already covers the log.
        """
        with self._lock:
            self.ledger.catch_up()  # a checkpoint covers what other writers appended too
            snap = self.ledger.log.snapshot()
            latest = self.ledger.index.log.latest_checkpoint()
            cp = None
            if snap.size and (latest is None or latest.size < snap.size):
                if latest is not None:
                    self._consistent(latest.size, snap)
                signer = self.keys.signer_for(snap.size)
                if signer is not None:  # None: a newer key was introduced meanwhile; the next one covers it
                    cp = self._make(snap, now or dt.datetime.now(UTC), signer)
        if stamp:
            self.stamp_pending()
        return cp

    def _consistent(self, old_size: int, snap: Snapshot) -> None:
        """Never sign a tree the latest signed checkpoint is not a prefix of (a damaged log read back).

        A consistency proof from the tiles and the edge, checked against both roots: O(log n) reads.
        """
        log_ = self.ledger.log
        try:
            old, _sig, _token = log_.load_checkpoint(old_size, self.keys.ring().accepts)
        except StoreError as exc:
            log.warning("checkpoint %d cannot be read (%s); the next checkpoint is made without checking "
                        "that it extends it (`earsiv audit` names the damage)", old_size, exc)
            return
        try:
            path = log_.consistency_proof(old_size, snap.size)
            merkle.verify_consistency(old_size, snap.size, old.root, snap.root, path)
        except (StoreError, VerificationError, ValueError) as exc:
            raise VerificationError(
                f"the log as read now does not extend checkpoint {old_size} (a bundle or tile it was read from "
                f"is damaged: {exc}); no checkpoint is signed over it. Run `earsiv audit` and `earsiv repair`",
                step=3) from exc

    def _make(self, snap: Snapshot, now: dt.datetime, signer: Signer) -> Checkpoint:
        until = self.ledger.retention.until()
        index = self.ledger.index
        with index.transaction("cannot record a checkpoint") as tx:
            tx.put_checkpoint(snap.size, "made", None)
        self.store.put_many([PutItem(key, data, until) for key, data in sorted(snap.tiles.items())])
        self.ledger.log.tiles_written(snap.tiles)
        faults.point("checkpoint.after-tiles")
        cp = Checkpoint(self.origin, snap.size, snap.root, now, signer.public.key_id)
        try:
            self.store.put_many([PutItem(checkpoint_key(snap.size), cp.body(), until)])
        except WriteOnceViolation:
            # A body a crash left before its signature (or another writer's, a moment ago):
            # it stands if it states the same root.
            cp = Checkpoint.parse(self.store.get(checkpoint_key(snap.size)))
            if cp.root != snap.root:
                raise VerificationError(f"checkpoint {snap.size} in the store states another root than the log's "
                                        "leaves: the log or that checkpoint is damaged", step=3) from None
        faults.point("checkpoint.after-body")
        self._sign(cp, until, signer)
        return cp

    def _sign(self, cp: Checkpoint, until: dt.datetime, signer: Signer) -> None:
        body = cp.body()
        if cp.key_id != signer.public.key_id:
            raise VerificationError(f"checkpoint {cp.size} names key {cp.key_id}, not the key {signer.public.key_id} "
                                    "that signs it", step=3)
        sig = signer.sign(body)  # Ed25519 is deterministic: a retry writes the same bytes
        try:
            self.store.put_many([PutItem(checkpoint_key(cp.size, ".sig"), sig, until)])
        except WriteOnceViolation as exc:
            raise VerificationError(f"checkpoint {cp.size} has a signature that is not this archive key's",
                                    step=3) from exc
        faults.point("checkpoint.after-signature")
        with self.ledger.index.transaction("cannot record a checkpoint") as tx:
            tx.put_checkpoint(cp.size, "signed", cp.time)

    # -- finishing and stamping ------------------------------------------------
    def stamp_pending(self, limit: int = STAMP_BATCH) -> int:
        """Take every checkpoint a crash or a TSA outage left unfinished forward; return how many got a token."""
        stamped = 0
        for row in self.ledger.index.log.unfinished(limit):
            if row.state == "made" and not self._finish(row):
                continue
            try:
                if self._stamp(row.size):
                    stamped += 1
            except (TSAError, ConfigError) as exc:
                # Down, refusing, or not usable as configured (Kamu SM without its password):
                # the checkpoint is signed and kept; status says why; the next run tries again.
                self._stamp_failed(row.size, exc)
                break
        return stamped

    def _finish(self, row: CheckpointRow) -> bool:
        """A ``made`` row: sign a body a crash left unsigned, or drop a row whose body never came."""
        index = self.ledger.index
        key = checkpoint_key(row.size)
        if not self.store.exists(key):
            with index.transaction("cannot drop an unfinished checkpoint") as tx:
                tx.drop_checkpoint(row.size)
            return False
        cp = Checkpoint.parse(self.store.get(key))
        if self.store.exists(checkpoint_key(row.size, ".sig")):
            self.keys.ring().verify_checkpoint(self.store.get(checkpoint_key(row.size, ".sig")), cp)
            with index.transaction("cannot record a checkpoint") as tx:
                tx.put_checkpoint(row.size, "signed", cp.time)
            return True
        if self.ledger.log.tree(row.size).root() != cp.root:
            raise VerificationError(f"unsigned checkpoint {row.size} states another root than its tiles", step=3)
        signer = self.keys.signer_for(row.size)
        if signer is None or cp.key_id != signer.public.key_id:
            # Written under a key retired since (a crash before a rotation): it cannot be signed
            # any more, and needs not be; a body without a signature is no checkpoint.
            log.warning("checkpoint %d was written but not signed under a key retired since: left unsigned", row.size)
            with index.transaction("cannot drop an unfinished checkpoint") as tx:
                tx.drop_checkpoint(row.size)
            return False
        log.warning("checkpoint %d was written but not signed (a crash): signing it now", row.size)
        self._sign(cp, self.ledger.retention.until(), signer)
        return True

    def _stamp(self, size: int) -> bool:
        body = None
        for n, suffix in enumerate(TOKEN_SUFFIXES[:self.stamps]):
            token_key = checkpoint_key(size, suffix)
            if self.store.exists(token_key):
                continue
            body = body if body is not None else self.store.get(checkpoint_key(size))
            imprint = hashlib.sha256(body).digest()
            others = [self.store.get(checkpoint_key(size, s)) for s in TOKEN_SUFFIXES[:n]]
            token, tsa = self._ask(imprint, others)  # no lock is held here
            try:
                self.store.put_many([PutItem(token_key, token, self.ledger.retention.until())])
            except WriteOnceViolation:
                pass  # stamped by another process meanwhile: one token is enough
            faults.point("checkpoint.after-token")
            self._record_anchors(tsa)
        with self.ledger.index.transaction("cannot record a checkpoint's stamp") as tx:
            cp_time = self.ledger.index.log.checkpoint(size)
            tx.put_checkpoint(size, "stamped", cp_time.time if cp_time else None)
        self._stamp_succeeded()
        return True

    def stamp_imprint(self, imprint: bytes, hash_name: str = "sha256", *,
                      avoid: Sequence[tuple[bytes, bytes]] = ()) -> bytes:
        """A token over *imprint* (a hash *hash_name*) from the first configured TSA that gives one, its
        anchors checked and recorded; for what is not a checkpoint (a renewal's root).

        *avoid*: (token, its imprint) pairs; a TSA trusted through anchors that verify one of them
        is asked only if no other TSA gives a token (the renewal of a second, independent chain).
        """
        tsas = list(self.tsas())
        others = [t for t in tsas if not any(_verifies(tok, imp, t.anchors) for tok, imp in avoid)]
        try:
            token, tsa = self._ask(imprint, [], hash_name, others) if others and avoid else (None, None)
        except TSAError as exc:
            log.warning("no independent TSA gave a token (%s): asking the others", exc)
            token, tsa = None, None
        if token is None:
            token, tsa = self._ask(imprint, [], hash_name)
        self._record_anchors(tsa)
        return token

    def _ask(self, imprint: bytes, others: list[bytes], hash_name: str = "sha256",
             tsas: Sequence[Any] | None = None) -> tuple[bytes, Any]:
        """A token from the first TSA that gives one, skipping TSAs that made one of *others*.

        A second stamp is independent only if another authority, trusted through other anchors,
        makes it: a TSA whose anchors verify the first token is not asked again.
        """
        failures = []
        for tsa in self.tsas() if tsas is None else tsas:
            if any(_verifies(token, imprint, tsa.anchors) for token in others):
                continue
            try:
                return tsa.stamp(imprint, hash_name=hash_name), tsa
            except TSAError as exc:
                failures.append(str(exc))
        if not failures:
            raise TSAError("a second, independent time stamp is required ([tsa] stamps = 2), but every configured "
                           "TSA left is trusted through the anchors of the one that made the first")
        raise TSAError("; ".join(failures) if len(failures) > 1 else failures[0])

    def _record_anchors(self, tsa: Any) -> None:
        """The anchors a kept token verified against are kept beside the tokens, so the store alone can be verified."""
        from cryptography.hazmat.primitives import serialization

        for cert in tsa.anchors:
            der = cert.public_bytes(serialization.Encoding.DER)
            ident = hashlib.sha256(der).hexdigest()
            if ident in self._recorded:
                continue
            pem = cert.public_bytes(serialization.Encoding.PEM)
            if self.on_anchor is not None:
                self.on_anchor(ident)  # first: a stored certificate nobody vouches for is not trusted
            if self.store.put_many([PutItem(f"keys/tsa-{ident}.pem", pem, FOREVER)])[0]:
                self.certificates_added = True
            self._recorded.add(ident)

    # -- what status shows ---------------------------------------------------------
    def _stamp_failed(self, size: int, exc: TSAError | ConfigError) -> None:
        self.stamp_error = str(exc)
        log.warning("checkpoint %d is not time-stamped yet: %s (tried again later)", size, exc)
        self._write_status({"ok": False, "error": str(exc), "checkpoint": size})

    def _stamp_succeeded(self) -> None:
        if self.stamp_error is not None or self._read_status().get("ok") is False:
            self._write_status({"ok": True, "error": None})
        self.stamp_error = None

    def _write_status(self, data: dict) -> None:
        data["at"] = dt.datetime.now(UTC).isoformat()
        try:
            self._status_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._status_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, self._status_file)
        except OSError as exc:  # a note for `status`, not a fact of the archive: never worth failing for
            log.warning("cannot write %s: %s", self._status_file, exc)

    def _read_status(self) -> dict:
        try:
            return json.loads(self._status_file.read_text())
        except (OSError, ValueError):
            return {}

    def last_stamp(self) -> dict:
        """The last stamping attempt's outcome (any process of this home): ok, error, checkpoint, at."""
        return self._read_status()
