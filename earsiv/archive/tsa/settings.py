"""What a home configures about its time-stamp authorities: who, over what, trusted how.

An external TSA is trusted only through anchors the operator configured (a PEM file of its
CA certificates or of pinned TSA certificates): a token whose signer does not chain to one
of them is refused, whatever certificate it carries. The certificate inside a token says who
*claims* to have stamped; the anchors say whom we believe.

Plain ``http://`` is accepted only when asked for: stamps are signed, so a stamp cannot be
forged in transit, but the request (the hash, who asks and when, and Kamu SM's ``identity``
header with the customer number) travels in clear, and whoever sits on the path can withhold
or delay stamps.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from earsiv.archive.errors import ConfigError

__all__ = ["TSASetting", "anchor_fingerprint", "load_anchors"]

_HOW = ("put its CA certificate (or its own pinned TSA certificate) in a PEM file and set "
        "EARSIV_TSA_TRUST=/path/to/file.pem, or trust = \"file.pem\" under [tsa] in config.toml "
        "(see docs/DEPLOY.md, \"Time-stamp authorities\")")


def anchor_fingerprint(cert: x509.Certificate) -> str:
    """sha256 of the certificate's DER, hex: ``openssl x509 -noout -fingerprint -sha256``."""
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def load_anchors(path: Path, *, what: str) -> tuple[x509.Certificate, ...]:
    """The certificates of a PEM file; a file that is missing, unreadable or holds none is refused."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the trust anchors of {what} from {path}: {exc.strerror or exc}") from exc
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise ConfigError(f"{path} (trust anchors of {what}) holds no certificate (PEM, -----BEGIN CERTIFICATE-----)")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ConfigError(f"{path} (trust anchors of {what}) is not a PEM file of certificates: {exc}") from exc
    return tuple(certs)


@dataclass(frozen=True, slots=True)
class TSASetting:
    """One external TSA: its URL, the anchors its tokens must chain to, and whether it is Kamu SM.

    Checked on construction: an external TSA without anchors, or over plain HTTP without
    ``allow_http``, cannot be configured.
    """

    url: str
    trust: Path | None
    kamusm: bool = False
    allow_http: bool = False
    anchors: tuple[x509.Certificate, ...] = field(default=(), init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        scheme = urlparse(self.url).scheme
        if scheme not in ("http", "https") or not urlparse(self.url).netloc:
            raise ConfigError(f"TSA URL {self.url!r} must be https://HOST/… (or http:// with EARSIV_TSA_ALLOW_HTTP=1), "
                              "or empty for the built-in TSA")
        if scheme == "http" and not self.allow_http:
            raise ConfigError(
                f"TSA URL {self.url} is plain http://: the request (the hash, who asks and when"
                f"{', the Kamu SM customer header' if self.kamusm else ''}) travels in clear and anyone on the path "
                "can withhold stamps; tokens are still signed and checked against the trust anchors. "
                "Use https://, or set EARSIV_TSA_ALLOW_HTTP=1 (allow_http = true under [tsa]) to accept that")
        if self.trust is None:
            raise ConfigError(f"TSA {self.url} has no trust anchors, so no token of it could be told from an "
                              f"impostor's: {_HOW}")
        object.__setattr__(self, "anchors", load_anchors(self.trust, what=f"TSA {self.url}"))
