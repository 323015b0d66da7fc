"""The archive's own signing key, which signs every checkpoint.

Ed25519: small signatures, no parameters to get wrong, and verifiable with
``openssl pkeyutl -verify -rawin`` (OpenSSL 3).  The private key lives in the
archive home (mode 0600), never in the store; its public key is stored in the
store under ``keys/<key id>.pem`` so the store alone can be verified.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from earsiv.archive.errors import StoreError, VerificationError

__all__ = ["PublicKey", "Signer", "key_id_of"]

KEY_FILE = "archive-signing-key.pem"


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
    def load(cls, directory: Path) -> Signer:
        path = directory / KEY_FILE
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot load the archive signing key {path}: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise StoreError(f"{path} is not an Ed25519 private key")
        return cls(key)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)
