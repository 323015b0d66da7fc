"""Reading a document's original bytes back, checked against their name on the way out.

A blob is a zstd frame, maybe made with its issuer's dictionary, kept under its digest (or,
rarely, under an alternative key, FORMAT.md §4).  Whatever reads an original (``get``,
evidence, prints, packages, full text, a replay) goes through ``Originals.read``: bytes that
do not hash to the digest never leave it.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from earsiv.archive import blobs
from earsiv.archive.errors import StoreError, VerificationError

if TYPE_CHECKING:
    from earsiv.archive.blobs import DictionaryBook
    from earsiv.archive.stores.base import ObjectStore

__all__ = ["Originals"]


class Originals:
    def __init__(self, store: ObjectStore, dictionaries: DictionaryBook) -> None:
        self.store = store
        self.dictionaries = dictionaries

    def read(self, digest: str, dict_digest: str | None = None, alt: str | None = None) -> bytes:
        """The original of *digest*; ``VerificationError`` if its blob (or dictionary) is damaged."""
        key = blobs.blob_key(digest, alt)
        try:
            raw_dict = self.dictionaries.raw(dict_digest) if dict_digest else None
        except (StoreError, VerificationError) as exc:
            raise VerificationError(f"blob {digest} needs dictionary {dict_digest}, which cannot be read: "
                                    f"{exc.detail}", name=digest) from exc
        decoded: list[bytes] = []

        def intact(frame: bytes) -> bool:
            try:
                data = blobs.decode(frame, raw_dict)
            except VerificationError:
                return False
            decoded[:] = [data]
            return hashlib.sha256(data).hexdigest() == digest

        frame = self.store.get(key, verify=intact)
        if decoded and hashlib.sha256(decoded[0]).hexdigest() == digest:
            return decoded[0]
        # The store handed back what it found after the check failed (its oldest version):
        # check it once more, and name the damage if it still does not hold.
        try:
            data = blobs.decode(frame, raw_dict)
        except VerificationError as exc:
            raise VerificationError(f"blob {digest} is damaged: {exc.detail}", name=digest) from exc
        if hashlib.sha256(data).hexdigest() != digest:
            raise VerificationError(f"blob {digest} does not hash to its name", name=digest)
        return data
