"""Verification of RFC 3161 time-stamp tokens: `verify_token` is the one entry point.

A token is a CMS ContentInfo holding SignedData whose content is a TSTInfo. What a token
proves is "the holder of this certificate's key saw this hash at genTime"; every link of
that sentence is checked, in the numbered steps of `verify_token`. The signer certificate is
always identified by what the token says (sid, then ESS certificate hash) and only then
checked for trust: verifying the signature with whatever key the caller supplies — what
``rfc3161ng.check_timestamp`` does — accepts a token against any certificate that merely
reuses the key.

SHA-1 is refused (imprint, signed-attribute digest, signature) unless ``allow_sha1`` is set,
for tokens collected before SHA-256 was the norm. The ESS certificate identifier of RFC 3161
(``signingCertificate``, SHA-1 over the signer certificate) is accepted regardless: it only
names a certificate that steps 4 and 6 have already pinned down and checked for trust.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from earsiv.archive.errors import VerificationError

__all__ = [
    "HASHES",
    "LOCAL_TSA_POLICY",
    "TokenInfo",
    "verify_token",
]

# A UUID-derived OID (ITU-T X.667, arc 2.25): globally unique without registering an
# enterprise number, and clearly nobody's public TSA policy. Tokens carrying it come from
# an archive's own built-in TSA and prove only what that archive's key holder says.
LOCAL_TSA_POLICY = "2.25.264577759333926999986167818120464514253"

# digest name (asn1crypto's spelling) -> (cryptography hash, digest size)
HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha1": hashes.SHA1(),
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}

_MAX_CHAIN = 8
# How far a genTime may lie ahead of the verifier's clock (plus the token's own accuracy).
_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class TokenInfo:
    """What a verified token says. Built only by `verify_token`, checked on construction."""

    gen_time: datetime
    serial: int
    policy: str
    hash_algorithm: str
    message_imprint: bytes
    nonce: int | None
    accuracy: timedelta | None
    signer: x509.Certificate
    tsa_name: str | None
    anchor: x509.Certificate | None = None  # the trusted certificate the signer's path ends at

    def __post_init__(self) -> None:
        if self.gen_time.tzinfo is None:
            raise ValueError("gen_time must be timezone-aware")
        algorithm = HASHES.get(self.hash_algorithm)
        if algorithm is None or len(self.message_imprint) != algorithm.digest_size:
            raise ValueError(f"imprint does not fit hash algorithm {self.hash_algorithm!r}")
        if self.serial < 0:
            raise ValueError("serial must not be negative")

    @property
    def local(self) -> bool:
        """Stamped by an archive's built-in TSA (not evidence towards third parties)."""
        return self.policy == LOCAL_TSA_POLICY


def _fail(step: int, message: str) -> VerificationError:
    return VerificationError(message, step=step)


def _digest(name: str, data: bytes) -> bytes:
    return hashlib.new(name, data).digest()


def _check_hash_allowed(step: int, name: str, what: str, allow_sha1: bool) -> None:
    if name not in HASHES:
        raise _fail(step, f"unsupported {what} hash algorithm {name!r}")
    if name == "sha1" and not allow_sha1:
        raise _fail(step, f"{what} uses SHA-1, refused (allow_sha1 not set)")


def _as_set(contents: bytes) -> bytes:
    """signedAttrs re-tagged as the universal SET (0x31) the signature covers (RFC 5652 §5.4)."""
    n = len(contents)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return b"\x31" + length + contents


def _attr_values(signed_attrs: cms.CMSAttributes, name: str) -> list:
    found = [a for a in signed_attrs if a["type"].native == name]
    if len(found) > 1:
        raise _fail(3, f"signed attribute {name} appears {len(found)} times")
    return list(found[0]["values"]) if found else []


def _load_token_certs(signed_data: cms.SignedData) -> list[tuple[x509.Certificate, asn1_x509.Certificate]]:
    certs = []
    for choice in signed_data["certificates"] or []:
        if choice.name != "certificate":
            continue
        der = choice.chosen.dump()
        certs.append((x509.load_der_x509_certificate(der), asn1_x509.Certificate.load(der)))
    return certs


def _same_name(a: asn1_x509.Name, b: asn1_x509.Name) -> bool:
    """RFC 5280 §7.1 name comparison; names it cannot normalise must match byte for byte."""
    if a.dump() == b.dump():  # the usual case, and 100x cheaper than stringprep
        return True
    try:
        return a == b
    except ValueError:  # e.g. unassigned code points: no normalisation defined
        return False


def _matches_sid(sid: cms.SignerIdentifier, cert: asn1_x509.Certificate) -> bool:
    if sid.name == "issuer_and_serial_number":
        return (
            sid.chosen["serial_number"].native == cert.serial_number
            and _same_name(sid.chosen["issuer"], cert.issuer)
        )
    if sid.name == "subject_key_identifier":
        return cert.key_identifier is not None and cert.key_identifier == sid.chosen.native
    return False


def _check_ess(signed_attrs: cms.CMSAttributes, cert: asn1_x509.Certificate, der: bytes) -> None:
    v2 = _attr_values(signed_attrs, "signing_certificate_v2")
    v1 = _attr_values(signed_attrs, "signing_certificate")
    if v2:
        first = v2[0]["certs"][0]
        hash_name = first["hash_algorithm"]["algorithm"].native
        if hash_name not in HASHES or hash_name == "sha1":
            raise _fail(5, f"ESSCertIDv2 uses unsupported hash {hash_name!r}")
    elif v1:
        first = v1[0]["certs"][0]
        hash_name = "sha1"
    else:
        raise _fail(5, "no signingCertificate / signingCertificateV2 attribute (RFC 3161 §2.4.2)")
    # The first ESSCertID names the signer (RFC 2634 §5.4); it must be this very certificate.
    if first["cert_hash"].native != _digest(hash_name, der):
        raise _fail(5, "ESS certificate hash does not match the signer certificate")
    issuer_serial = first["issuer_serial"]
    if issuer_serial.native is not None:
        names = [g.chosen for g in issuer_serial["issuer"] if g.name == "directory_name"]
        if (issuer_serial["serial_number"].native != cert.serial_number
                or not any(_same_name(cert.issuer, n) for n in names)):
            raise _fail(5, "ESS issuerSerial does not match the signer certificate")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _valid_at(cert: x509.Certificate, when: datetime) -> bool:
    return cert.not_valid_before_utc <= when <= cert.not_valid_after_utc


def _chain_to_trust(
    signer: x509.Certificate,
    trusted: Sequence[x509.Certificate],
    pool: Sequence[x509.Certificate],
) -> list[x509.Certificate]:
    """The path signer → … → a trusted certificate, each link signature-checked."""
    path = [signer]
    current = signer
    candidates = list(trusted) + [c for c in pool if c not in trusted]
    while current not in trusted:
        if len(path) > _MAX_CHAIN:
            raise _fail(6, "certificate chain too long")
        issuer = None
        for candidate in candidates:
            if candidate == current or candidate in path or not _is_ca(candidate):
                continue
            if candidate.subject != current.issuer:
                continue
            try:
                current.verify_directly_issued_by(candidate)
            except (ValueError, TypeError, InvalidSignature):
                continue
            issuer = candidate
            break
        if issuer is None:
            raise _fail(6, f"signer certificate {signer.subject.rfc4514_string()} is not trusted "
                        "and does not chain to a trusted certificate")
        path.append(issuer)
        current = issuer
    return path


def _check_signature(signer_info: cms.SignerInfo, data: bytes, cert: x509.Certificate,
                     digest_name: str, allow_sha1: bool) -> None:
    algo = signer_info["signature_algorithm"]
    try:
        kind = algo.signature_algo
    except ValueError as exc:
        raise _fail(9, f"unknown signature algorithm {algo['algorithm'].dotted}") from exc
    try:
        named_hash = algo.hash_algo
    except ValueError:  # rsaEncryption / bare OIDs name no hash: the digestAlgorithm rules
        named_hash = digest_name
    if named_hash != digest_name:
        raise _fail(9, f"signature hash {named_hash} differs from digest algorithm {digest_name}")
    _check_hash_allowed(9, named_hash, "signature", allow_sha1)
    signature = signer_info["signature"].native
    key = cert.public_key()
    chosen = HASHES[digest_name]
    try:
        if kind == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), chosen)
        elif kind == "rsassa_pss" and isinstance(key, rsa.RSAPublicKey):
            params = algo["parameters"]
            pss_hash = params["hash_algorithm"]["algorithm"].native
            mgf_hash = params["mask_gen_algorithm"]["parameters"]["algorithm"].native
            if pss_hash != digest_name or mgf_hash not in HASHES:
                raise _fail(9, "RSASSA-PSS parameters do not match the digest algorithm")
            _check_hash_allowed(9, mgf_hash, "PSS mask generation", allow_sha1)
            pss = padding.PSS(mgf=padding.MGF1(HASHES[mgf_hash]),
                              salt_length=params["salt_length"].native)
            key.verify(signature, data, pss, chosen)
        elif kind == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(chosen))
        else:
            raise _fail(9, f"signature algorithm {kind} does not fit the signer's "
                           f"{type(key).__name__}")
    except InvalidSignature as exc:
        raise _fail(9, "signature over the signed attributes does not verify") from exc


def _parse(token_der: bytes):
    try:
        info = cms.ContentInfo.load(token_der, strict=True)
        if info["content_type"].native != "signed_data":
            raise _fail(1, f"not SignedData but {info['content_type'].native}")
        signed_data = info["content"]
        encap = signed_data["encap_content_info"]
        if encap["content_type"].native != "tst_info":
            raise _fail(1, f"content is {encap['content_type'].native}, not TSTInfo")
        e_content = encap["content"]
        if e_content.native is None:
            raise _fail(1, "TSTInfo is missing (detached content)")
        tst_bytes = e_content.contents
        tst_info = tsp.TSTInfo.load(tst_bytes, strict=True)
        _ = tst_info.native  # the TSTInfo is small: parse all of it now
        signer_infos = signed_data["signer_infos"]
        if len(signer_infos) != 1:
            raise _fail(1, f"expected one signer, found {len(signer_infos)}")
        # Taken before anything reads the attributes: once asn1crypto has parsed a SET OF
        # it re-encodes it on access, and the signature covers the bytes as received.
        signed_attrs_der = _as_set(signer_infos[0]["signed_attrs"].contents)
        certs = _load_token_certs(signed_data)
    except VerificationError:
        raise
    except (ValueError, TypeError, KeyError, x509.InvalidVersion) as exc:
        raise _fail(1, f"not a well-formed time-stamp token: {exc}") from exc
    if tst_info["version"].native != "v1":
        raise _fail(1, f"unknown TSTInfo version {tst_info['version'].native}")
    return tst_bytes, tst_info, signer_infos[0], signed_attrs_der, certs


def verify_token(
    token_der: bytes,
    *,
    message_imprint: bytes | None = None,
    data: bytes | None = None,
    trusted_certs: Sequence[x509.Certificate],
    allow_sha1: bool = False,
    at: datetime | None = None,
) -> TokenInfo:
    """Verify a time-stamp token over ``data`` or over the hash ``message_imprint``.

    ``trusted_certs`` are the TSA certificates (or CA certificates above them) you trust.
    ``at`` is the verifier's "now" (default: the current time); a genTime later than it is
    refused. Certificates are checked at genTime, so a token stays verifiable after the TSA
    certificate expires. Raises `VerificationError` whose ``step`` is the failed step below.
    """
    if message_imprint is None and data is None:
        raise ValueError("give data or message_imprint: a token proves nothing about nothing")
    if not trusted_certs:
        raise ValueError("trusted_certs is empty: nothing could ever verify")
    now = at or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    try:
        return _verify(token_der, message_imprint, data, list(trusted_certs), allow_sha1, now)
    except (ValueError, TypeError, KeyError, x509.InvalidVersion) as exc:
        # asn1crypto parses lazily, so a malformed part can surface in any step; a full
        # eager parse up front costs ~50 ms per token.
        raise _fail(1, f"malformed time-stamp token: {exc}") from exc


def _verify(token_der: bytes, message_imprint: bytes | None, data: bytes | None,
            trusted_certs: list[x509.Certificate], allow_sha1: bool, now: datetime) -> TokenInfo:
    # 1. Parse: ContentInfo(SignedData(TSTInfo)), one signer.
    tst_bytes, tst_info, signer_info, signed_attrs_der, token_certs = _parse(token_der)
    imprint = tst_info["message_imprint"]
    hash_name = imprint["hash_algorithm"]["algorithm"].native
    hashed = imprint["hashed_message"].native
    gen_time = tst_info["gen_time"].native
    accuracy = _accuracy(tst_info)
    if gen_time - (accuracy or timedelta(0)) > now + _CLOCK_SKEW:
        raise _fail(1, f"genTime {gen_time.isoformat()} lies in the future")

    # 2. The imprint is the hash of what the caller holds, with an accepted algorithm.
    _check_hash_allowed(2, hash_name, "message imprint", allow_sha1)
    if len(hashed) != HASHES[hash_name].digest_size:
        raise _fail(2, "imprint length does not fit its hash algorithm")
    if message_imprint is not None and message_imprint != hashed:
        raise _fail(2, "token is for a different hash")
    if data is not None and _digest(hash_name, data) != hashed:
        raise _fail(2, "token is for different data")

    # 3. Signed attributes: content type TSTInfo, messageDigest = hash(eContent).
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    _check_hash_allowed(3, digest_name, "signer digest", allow_sha1)
    signed_attrs = signer_info["signed_attrs"]
    if signed_attrs.native is None or len(signed_attrs) == 0:
        raise _fail(3, "no signed attributes")
    content_types = _attr_values(signed_attrs, "content_type")
    if [v.native for v in content_types] != ["tst_info"]:
        raise _fail(3, "contentType attribute is not id-ct-TSTInfo")
    digests = _attr_values(signed_attrs, "message_digest")
    if len(digests) != 1 or digests[0].native != _digest(digest_name, tst_bytes):
        raise _fail(3, "messageDigest does not match the TSTInfo")

    # 4. The signer certificate is the one the sid names (token certificates first, then
    #    the trusted ones, since a TSA may leave its certificate out).
    sid = signer_info["sid"]
    pool = token_certs + [(c, asn1_x509.Certificate.load(c.public_bytes(Encoding.DER))) for c in trusted_certs]
    found = [(c, a) for c, a in pool if _matches_sid(sid, a)]
    if not found:
        raise _fail(4, "the signer certificate is neither in the token nor among the trusted ones")
    signer, signer_asn1 = found[0]
    signer_der = signer.public_bytes(Encoding.DER)

    # 5. ESS signingCertificate(V2) hashes exactly that certificate.
    _check_ess(signed_attrs, signer_asn1, signer_der)

    # 6. That certificate is trusted, or chains to a trusted one.
    path = _chain_to_trust(signer, trusted_certs, [c for c, _ in token_certs])

    # 7. It is a TSA certificate: critical extended key usage, timeStamping only
    #    (RFC 3161 §2.3).
    try:
        eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise _fail(7, "signer certificate has no extended key usage") from None
    if not eku.critical or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise _fail(7, "signer certificate's extended key usage is not critical timeStamping only")

    # 8. Every certificate on that path was valid at genTime (not "now": a token must
    #    outlive its TSA certificate, that is what archives keep it for).
    for cert in path:
        if not _valid_at(cert, gen_time):
            raise _fail(8, f"certificate {cert.subject.rfc4514_string()} not valid at genTime "
                           f"{gen_time.isoformat()}")

    # 9. The signature over the signed attributes, with the signer's key.
    _check_signature(signer_info, signed_attrs_der, signer, digest_name, allow_sha1)

    # The optional TSTInfo tsa field, for display only: trust comes from steps 4-6.
    tsa = tst_info["tsa"]
    tsa_name = None
    if tsa.native is not None and tsa.name == "directory_name":
        tsa_name = tsa.chosen.human_friendly
    nonce = tst_info["nonce"].native
    return TokenInfo(
        gen_time=gen_time.astimezone(UTC),
        serial=tst_info["serial_number"].native,
        policy=tst_info["policy"].dotted,
        hash_algorithm=hash_name,
        message_imprint=hashed,
        nonce=nonce,
        accuracy=accuracy,
        signer=signer,
        tsa_name=tsa_name,
        anchor=path[-1],
    )


def _accuracy(tst_info: tsp.TSTInfo) -> timedelta | None:
    acc = tst_info["accuracy"]
    if acc.native is None:
        return None
    return timedelta(
        seconds=acc["seconds"].native or 0,
        milliseconds=acc["millis"].native or 0,
        microseconds=acc["micros"].native or 0,
    )
