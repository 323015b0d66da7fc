"""Does a signer certificate chain, at signing time, to a configured root?

Pure: certificates in, a verdict out.  The roots are whatever the operator configured
(``archive/trust.py`` reads them; ``earsiv/documents/data/signature_roots.toml`` lists the
ones we know of and where they come from).  Nothing is fetched: no AIA download of a
missing issuer, no CRL, no OCSP — an archive checks seals that expired years ago, offline,
so revocation is not checked and the documentation says so.

A path is built from the signer certificate through issuers found among the certificates
the document carries in ``ds:KeyInfo`` and the non-root certificates of the trust store,
each link checked by signature (``verify_directly_issued_by``), to a self-signed root of the
trust store.  Every certificate on the path must be within its validity at the signing time
(XAdES ``SigningTime``, the signer's own claim: XAdES-BES has nothing better), and every
issuer must be a CA (basicConstraints cA).  A certificate that is in KeyInfo and is
self-signed is never a root by being there: only configured roots are.

Verification steps (the numbers appear in the code):
  1. roots configured?  2. signing time known?  3. build the path, link by link;
  4. validity of each certificate at signing time;  5. issuers are CAs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes

__all__ = ["MAX_DEPTH", "ChainVerdict", "TrustAnchors", "evaluate_chain", "fingerprint"]

MAX_DEPTH = 8  # Kamu SM's hierarchy is 3 deep; a longer path is hostile or a loop


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


@dataclass(frozen=True)
class TrustAnchors:
    """The configured roots (self-signed) and intermediates (anything else) of a trust store."""

    roots: tuple[x509.Certificate, ...] = ()
    intermediates: tuple[x509.Certificate, ...] = ()

    def __post_init__(self) -> None:
        for cert in self.roots:
            if cert.issuer != cert.subject:
                raise ValueError(f"a root must be self-signed: {_name(cert)} is issued by {cert.issuer.rfc4514_string()}")

    @classmethod
    def of(cls, certificates: Iterable[x509.Certificate]) -> TrustAnchors:
        roots, others, seen = [], [], set()
        for cert in certificates:
            fp = fingerprint(cert)
            if fp in seen:
                continue
            seen.add(fp)
            (roots if cert.issuer == cert.subject else others).append(cert)
        return cls(tuple(roots), tuple(others))

    @property
    def id(self) -> str:
        """Names this set of roots: sha256 over their sorted SHA-256 fingerprints ("none" for none).

        Recorded with every trust verdict, so that a verdict made against other roots is seen
        as such (the index keeps verdicts; ``earsiv reindex`` makes them again).
        """
        if not self.roots:
            return "none"
        return hashlib.sha256("\n".join(sorted(fingerprint(c) for c in self.roots)).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    trusted: bool
    reason: str | None  # one of metadata.TRUST_REASONS when not trusted
    chain: tuple[str, ...]  # subjects, signer first; up to the root when trusted
    detail: str


def evaluate_chain(signer: x509.Certificate, carried: Iterable[x509.Certificate], at: dt.datetime | None,
                   anchors: TrustAnchors) -> ChainVerdict:
    # 1. nothing configured: say so, whatever the document carries
    if not anchors.roots:
        return ChainVerdict(False, "no-configured-root", (_name(signer),),
                            "no trust roots are configured ([signatures] trust, EARSIV_SIGNATURE_TRUST)")
    # 2. the chain is judged at signing time, which only the signature says
    if at is None:
        return ChainVerdict(False, "no-signing-time", (_name(signer),),
                            "no XAdES SigningTime: the chain cannot be checked at signing time")
    root_fps = {fingerprint(r) for r in anchors.roots}
    pool = [*anchors.roots, *anchors.intermediates, *(c for c in carried if c.issuer != c.subject)]
    path = [signer]
    # 3. each link by signature, up to a configured root
    while fingerprint(path[-1]) not in root_fps:
        if len(path) > MAX_DEPTH:
            return ChainVerdict(False, "unknown-root", _names(path), f"no root within {MAX_DEPTH} links")
        issuer = _issuer_of(path[-1], pool, path)
        if issuer is None:
            if path[-1].issuer == path[-1].subject:
                detail = f"{_name(path[-1])} is self-signed and is not a configured root"
            else:
                detail = f"no configured root or carried certificate issued {_name(path[-1])} " \
                         f"(issuer {path[-1].issuer.rfc4514_string()})"
            return ChainVerdict(False, "unknown-root", _names(path), detail)
        path.append(issuer)
    # 4. every certificate on the path, the root too, at signing time
    for cert in path:
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            return ChainVerdict(False, "not-valid-at-signing", _names(path),
                                f"{_name(cert)} was valid from {cert.not_valid_before_utc:%Y-%m-%d} to "
                                f"{cert.not_valid_after_utc:%Y-%m-%d}, signed at {at.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}")
    # 5. every issuer is a CA
    for cert in path[1:]:
        if not _is_ca(cert):
            return ChainVerdict(False, "not-a-ca", _names(path), f"{_name(cert)} issued a certificate but is not a CA")
    return ChainVerdict(True, None, _names(path), f"chains to the configured root {_name(path[-1])}")


def _issuer_of(cert: x509.Certificate, pool: list[x509.Certificate], path: list[x509.Certificate]):
    on_path = {fingerprint(c) for c in path}
    for candidate in pool:
        if candidate.subject != cert.issuer or fingerprint(candidate) in on_path:
            continue
        try:
            cert.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            continue
        return candidate
    return None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _name(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string()
    except ValueError:
        return "sha256:" + fingerprint(cert)


def _names(path: list[x509.Certificate]) -> tuple[str, ...]:
    return tuple(_name(c) for c in path)
