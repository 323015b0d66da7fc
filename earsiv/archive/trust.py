"""The trust store for signature inspection: which roots a signer certificate may chain to.

Two sources, added together:

* the roots shipped with earsiv (``earsiv/documents/data/signature_roots.toml``: an entry is
  used only if its certificate file is there and its SHA-256 fingerprint matches the one
  written beside it; today none could be obtained, see that file);
* the operator's store: ``[signatures] trust = "PATH"`` in ``config.toml`` (relative to the
  home), overridden by ``EARSIV_SIGNATURE_TRUST``: a PEM bundle, a DER certificate, or a
  directory of them (``*.pem``, ``*.crt``, ``*.cer``, ``*.der``).  Self-signed certificates
  are roots; the others are intermediates that help build a path but are trusted only
  through a root.

A file that cannot be read or holds no certificate is a ``ConfigError`` naming it: a
trust store that silently loads nothing would make every signature "untrusted" for a
typo.  The verdicts are kept in the index (docs/DECISIONS.md): after changing the roots,
run ``earsiv reindex`` (each document's verdict names the store it was made with).
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from cryptography import x509

from earsiv.archive.errors import ConfigError
from earsiv.documents.certchain import TrustAnchors, fingerprint

__all__ = ["ENV_SIGNATURE_TRUST", "MAX_TRUST_FILES", "load_trust", "shipped_roots"]

ENV_SIGNATURE_TRUST = "EARSIV_SIGNATURE_TRUST"
MAX_TRUST_FILES = 1000
_SUFFIXES = (".pem", ".crt", ".cer", ".der")


def shipped_roots() -> list[x509.Certificate]:
    """The roots earsiv ships whose file and fingerprint check out (none today)."""
    data = resources.files("earsiv.documents") / "data"
    listing = tomllib.loads((data / "signature_roots.toml").read_text(encoding="utf-8"))
    if listing.get("format") != 1:
        raise ConfigError(f"signature_roots.toml has format {listing.get('format')!r}; this earsiv reads format 1")
    roots = []
    for entry in listing.get("root", []):
        if not entry.get("file"):
            continue
        certs = _read_certificates((data / "roots" / entry["file"]).read_bytes(), f"shipped root {entry['file']}")
        for cert in certs:
            if fingerprint(cert) != entry.get("sha256", "").replace(":", "").lower():
                raise ConfigError(f"shipped root {entry['file']}: its SHA-256 fingerprint is not the one listed")
            roots.append(cert)
    return roots


def load_trust(path: str | Path | None) -> TrustAnchors:
    """The shipped roots plus the operator's store at *path* (None or "": none)."""
    certs = shipped_roots()
    if path:
        certs += _load_path(Path(path))
    return TrustAnchors.of(certs)


def _load_path(path: Path) -> list[x509.Certificate]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in _SUFFIXES)
        if len(files) > MAX_TRUST_FILES:
            raise ConfigError(f"signature trust store {path}: {len(files)} files, more than {MAX_TRUST_FILES}")
        if not files:
            raise ConfigError(f"signature trust store {path} holds no certificate file ({', '.join(_SUFFIXES)})")
        return [c for f in files for c in _read_certificates(_read(f), str(f))]
    return _read_certificates(_read(path), str(path))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read signature trust store {path}: {exc.strerror or exc}") from exc


def _read_certificates(data: bytes, what: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data else [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise ConfigError(f"{what}: not a PEM or DER certificate ({exc})") from exc
    if not certs:
        raise ConfigError(f"{what}: no certificate in it")
    return certs
