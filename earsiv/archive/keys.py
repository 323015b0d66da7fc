"""The archive's own signing key, which signs every checkpoint, and its successors.

Ed25519: small signatures, no parameters to get wrong, and verifiable with
``openssl pkeyutl -verify -rawin`` (OpenSSL 3).  The private key lives in the
archive home (mode 0600), never in the store; its public key is stored in the
store under ``keys/<key id>.pem`` so the store alone can be verified.

The key can be rotated (``earsiv key rotate``): an ``archive-key`` log entry, signed by the
key in force and by its successor, introduces the new key (FORMAT.md §7c). ``KeyRing`` is
the first key (the archive's identity, in ``earsiv.json`` and on the printed key
certificate) and the chain of those entries; it says which key must have signed a
checkpoint of a given size, and refuses any other.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from earsiv.archive.errors import StoreError, VerificationError

if TYPE_CHECKING:
    from earsiv.archive.log.checkpoints import Checkpoint
    from earsiv.archive.log.entries import KeyEntry

__all__ = ["KEY_FILE", "KEY_RING_META", "NEXT_KEY_FILE", "KeyRing", "PublicKey", "Signer", "key_id_of",
           "record_introduction", "sign_b64"]

KEY_FILE = "archive-signing-key.pem"
# A successor key made by `earsiv key rotate` before its entry is in the log: it becomes
# KEY_FILE once the entry is durable, and is deleted if the entry never came (a crash).
NEXT_KEY_FILE = "archive-signing-key.next.pem"
# The index's copy of every archive-key entry (log index and leaf), kept by the mirror: the
# chain is known at open without reading the log. Derived like the rest of the index.
KEY_RING_META = "keys/introductions"


def key_id_of(public_pem: bytes) -> str:
    """sha256 (hex) of the DER SubjectPublicKeyInfo: ``openssl pkey -pubin -outform DER | sha256sum``."""
    key = serialization.load_pem_public_key(public_pem)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class PublicKey:
    pem: bytes

    @property
    def key_id(self) -> str:
        return key_id_of(self.pem)

    def accepts(self, signature: bytes, message: bytes) -> bool:
        """Whether *signature* is this key's over *message* (for choosing among copies)."""
        try:
            self.verify(signature, message)
        except VerificationError:
            return False
        return True

    def verify(self, signature: bytes, message: bytes, *, what: str = "checkpoint") -> None:
        key = serialization.load_pem_public_key(self.pem)
        if not isinstance(key, Ed25519PublicKey):
            raise VerificationError(f"{what}: the archive key is not an Ed25519 key")
        try:
            key.verify(signature, message)
        except InvalidSignature as exc:
            raise VerificationError(f"{what}: the archive signature does not verify") from exc


class Signer:
    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public = PublicKey(pem)

    @classmethod
    def create(cls, directory: Path) -> Signer:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / KEY_FILE
        if path.exists():
            raise StoreError(f"{path} already exists; refusing to replace the archive's signing key")
        return cls.generate(path)

    @classmethod
    def generate(cls, path: Path) -> Signer:
        """A new key written to *path* (0600, durable), which must not exist."""
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        return cls(key)

    @classmethod
    def load(cls, directory: Path, name: str = KEY_FILE) -> Signer:
        path = directory / name
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot load the archive signing key {path}: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise StoreError(f"{path} is not an Ed25519 private key")
        return cls(key)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def sign_b64(signer: Signer, message: bytes) -> str:
    return base64.b64encode(signer.sign(message)).decode("ascii")


class KeyRing:
    """The first key and the chain of keys introduced after it, with the log index of each introduction.

    A checkpoint of *size* leaves must be signed by ``for_size(size)``: the key introduced by
    the last ``archive-key`` entry among its first *size* leaves, or the first key if none is.
    An entry joins the chain only if it names the key in force as ``old``, its ``public_key``
    has the id ``new``, and both signatures verify; any other is refused, and a checkpoint
    signed by the key it names is refused with it.
    """

    def __init__(self, first: PublicKey, origin: str) -> None:
        self.first = first
        self.origin = origin
        self.chain: list[tuple[int, KeyEntry]] = []  # (log index, entry), in log order
        self._keys: list[tuple[int, PublicKey]] = [(-1, first)]

    @classmethod
    def of(cls, first: PublicKey, origin: str, entries: Iterable[tuple[int, KeyEntry]]) -> KeyRing:
        ring = cls(first, origin)
        for index, entry in sorted(entries, key=lambda p: p[0]):
            ring.add(index, entry)
        return ring

    @property
    def current(self) -> PublicKey:
        return self._keys[-1][1]

    def keys(self) -> list[PublicKey]:
        return [k for _i, k in self._keys]

    def check(self, index: int, entry: KeyEntry) -> PublicKey:
        """The new key *entry* introduces at log index *index*, once every rule holds; else VerificationError."""
        what = f"key introduction at log index {index}"
        if index <= self._keys[-1][0]:
            raise VerificationError(f"{what}: not after the previous introduction")
        old = self.current
        if entry.old != old.key_id:
            raise VerificationError(f"{what}: it names {entry.old} as the key it succeeds, but the key in "
                                    f"force is {old.key_id}")
        new = PublicKey(entry.public_key.encode("ascii"))
        try:
            new_id = new.key_id
        except ValueError as exc:
            raise VerificationError(f"{what}: its public key does not parse: {exc}") from exc
        if new_id != entry.new:
            raise VerificationError(f"{what}: its public key's id is {new_id}, not {entry.new}")
        statement = entry.statement(self.origin)
        try:
            old_sig = base64.b64decode(entry.old_signature, validate=True)
            new_sig = base64.b64decode(entry.new_signature, validate=True)
        except ValueError as exc:
            raise VerificationError(f"{what}: a signature is not base64") from exc
        old.verify(old_sig, statement, what=f"{what} (signature of the key it succeeds)")
        new.verify(new_sig, statement, what=f"{what} (signature of the new key)")
        return new

    def add(self, index: int, entry: KeyEntry) -> None:
        self._keys.append((index, self.check(index, entry)))
        self.chain.append((index, entry))

    def for_size(self, size: int) -> PublicKey:
        key = self.first
        for index, k in self._keys[1:]:
            if index < size:
                key = k
        return key

    def verify_checkpoint(self, signature: bytes, cp: Checkpoint) -> None:
        """*signature* is the right key's over *cp*: the key in force after its first ``cp.size`` leaves."""
        key = self.for_size(cp.size)
        if cp.key_id != key.key_id:
            known = any(k.key_id == cp.key_id for k in self.keys())
            raise VerificationError(
                f"checkpoint {cp.size} names key {cp.key_id}, but the key in force after {cp.size} leaves is "
                f"{key.key_id}" + (" (that key was retired before it)" if known else
                                   " (a key no valid introduction in the log names)"))
        key.verify(signature, cp.body(), what=f"checkpoint {cp.size}")

    def accepts(self, signature: bytes, body: bytes) -> bool:
        """Whether *signature* over checkpoint *body* is right (for choosing among copies)."""
        from earsiv.archive.log.checkpoints import Checkpoint

        try:
            self.verify_checkpoint(signature, Checkpoint.parse(body))
        except VerificationError:
            return False
        return True

    def history(self) -> list[dict]:
        """Each key in order: its id, the log index of its introduction (None for the first), when and why."""
        out = [{"key_id": self.first.key_id, "introduced_at_leaf": None, "at": None, "reason": "first key"}]
        for index, e in self.chain:
            from earsiv.archive.log.entries import format_time

            out.append({"key_id": e.new, "introduced_at_leaf": index, "at": format_time(e.at), "reason": e.reason,
                        "by": e.by, "replaces": e.old})
        return out


def record_introduction(tx, index: int, entry: KeyEntry) -> None:
    """The mirror's part: keep the entry in the index's list (idempotent: a leaf mirrored twice is kept once)."""
    known = json.loads(tx.meta_get(KEY_RING_META) or "[]")
    if any(item["index"] == index for item in known):
        return
    known.append({"index": index, "leaf": entry.encode().decode("utf-8")})
    tx.meta_set(KEY_RING_META, json.dumps(sorted(known, key=lambda d: d["index"]), sort_keys=True))
