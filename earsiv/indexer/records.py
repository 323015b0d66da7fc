"""One stored document as the SQL index takes it in: storage facts from its leaf, the rest from its bytes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from earsiv.documents.metadata import DocumentMetadata, SignatureReport
from earsiv.documents.textterms import DocumentText

__all__ = ["IndexRecord"]


@dataclass(frozen=True, slots=True)
class IndexRecord:
    """One stored document as the SQL index sees it.

    Every field is derived from the store: the storage facts come from the
    document's log leaf, the rest from re-reading the original bytes, so that
    ``earsiv reindex`` rebuilds an identical index.
    """

    digest: str  # sha256 hex of the original bytes: the identity
    size: int  # original bytes
    stored_size: int  # bytes of the compressed blob object
    dict_digest: str | None  # compression dictionary used, if any
    log_index: int  # position of the document's leaf in the Merkle log
    received_at: dt.datetime  # UTC, aware, from the leaf
    retain_until: dt.datetime  # UTC, aware, from the leaf (or a later extension event)
    legal_hold: bool
    tenant: str | None  # VKN/TCKN of the taxpayer the document was archived for
    source_name: str | None  # file name as received (informative only)
    metadata: DocumentMetadata
    signature: SignatureReport | None = None  # None until inspected ("pending")
    # True: tenant, source_name, received_at, retain_until and legal_hold also make the
    # document's first holding (leaves written before holdings had leaves of their own).
    # False: the first holding is its own ``holding`` leaf, indexed from that leaf.
    first_holding: bool = True
    blob_alt: str | None = None  # the blob's alternative key (FORMAT.md §4), rarely set
    # Names and body text for full-text search (read from the same bytes); None: no words
    # known (a blob that cannot be read).  The PostgreSQL engine writes them with the row.
    text: DocumentText | None = None

    def __post_init__(self) -> None:
        if len(self.digest) != 64 or any(c not in "0123456789abcdef" for c in self.digest):
            raise ValueError(f"digest must be 64 lower-case hex digits, got {self.digest!r}")
        if self.received_at.tzinfo is None or self.retain_until.tzinfo is None:
            raise ValueError("received_at and retain_until must be timezone-aware")
