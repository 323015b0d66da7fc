"""Legal holds and retention extensions of a document's holdings (FORMAT.md §5, §8).

Each holding (a tenant's claim on a document) has its own retain-until and legal hold; the
blob in the store is kept as long as its longest holding and stays under the store's legal
hold while any holding is held.  Every change is a log entry, appended through the ledger:
the decision is taken under its write lock, from the holdings as they are then.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from earsiv.archive import blobs
from earsiv.archive.errors import DocumentNotFound, RetentionError
from earsiv.archive.ledger import Batch
from earsiv.archive.log.entries import LegalHoldEntry, RetentionEntry

if TYPE_CHECKING:
    from earsiv.archive.blobs import DictionaryRetention
    from earsiv.archive.ledger import Ledger
    from earsiv.archive.stores.base import ObjectStore
    from earsiv.indexer.accessdb import HoldingRow
    from earsiv.indexer.db import Index
    from earsiv.indexer.rows import DocumentRow

__all__ = ["Holdings"]

UTC = dt.UTC


class Holdings:
    def __init__(self, ledger: Ledger, store: ObjectStore, index: Index, dictionaries: DictionaryRetention) -> None:
        self.ledger = ledger
        self.store = store
        self.index = index
        self.dictionaries = dictionaries

    def _row(self, digest: str) -> DocumentRow:
        row = self.index.get(digest)
        if row is None:
            raise DocumentNotFound(f"no document with digest {digest} in this archive", name=digest)
        return row

    def _not_disposed(self, digest: str) -> None:
        gone = self.index.disposal.disposed([digest]).get(digest)
        if gone is not None:
            raise RetentionError(f"document {digest} was disposed of on {gone[0].isoformat()} (leaf {gone[1]}): "
                                 "there is nothing left to hold or keep", name=digest)

    def _holders(self, digest: str, tenant: str | None) -> list[HoldingRow]:
        holdings = self.index.access.holdings_of([digest]).get(digest, [])
        if not holdings or (tenant is not None and all(h.tenant != tenant for h in holdings)):
            raise DocumentNotFound(f"tenant {tenant or '(none)'} holds no document with digest {digest}", name=digest)
        return holdings

    def set_legal_hold(self, digest: str, on: bool, reason: str = "", tenant: str | None = None,
                       by: str | None = None) -> int:
        """Hold or release one tenant's holding (*tenant*), or every holding (None); return the entry's log index."""
        row = self._row(digest)

        def build() -> Batch:
            self._not_disposed(digest)
            holdings = self._holders(digest, tenant)
            held = any(on if tenant is None or h.tenant == tenant else h.legal_hold for h in holdings)
            self.store.set_legal_hold(blobs.blob_key(digest, row.blob_alt), held)
            entry = LegalHoldEntry(digest, on, reason, dt.datetime.now(UTC), tenant, by)
            return Batch([entry], retain_until=max(h.retain_until for h in holdings))

        done = self.ledger.append(build)
        assert done is not None
        return done.first

    def extend_retention(self, digest: str, until: dt.datetime, tenant: str | None = None, by: str | None = None) -> int:
        """Keep a holding (or every holding) at least until *until*; the blob and its dictionary follow."""
        row = self._row(digest)
        until = until.astimezone(UTC)

        def build() -> Batch:
            self._not_disposed(digest)
            holdings = self._holders(digest, tenant)
            self.keep_blob(row, max(until, *(h.retain_until for h in holdings)))
            return Batch([RetentionEntry(digest, until, dt.datetime.now(UTC), tenant, by)], retain_until=until)

        done = self.ledger.append(build)
        assert done is not None
        return done.first

    def keep_blob(self, row: DocumentRow, until: dt.datetime) -> None:
        """The blob (and its dictionary) kept at least until *until*: a new holding may outlast the others."""
        self.store.extend_retention(blobs.blob_key(row.digest, row.blob_alt), until)
        if row.dict_digest:
            self.dictionaries.keep(row.dict_digest, until)
