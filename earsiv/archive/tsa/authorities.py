"""RFC 3161 time-stamp authorities: the built-in local one, any HTTP one, and Kamu SM.

Every implementation returns the DER TimeStampToken (the CMS ContentInfo, not the whole
TimeStampResp), because that is what an outside verifier needs next to the stamped hash:
``openssl ts -verify -digest HEX -in token -token_in -CAfile tsa-anchors.pem -partial_chain`` (the configured anchors, never the token's own certificate).

A client never hands back a token that does not answer its own request: the reply's
status must be granted, and its imprint and nonce must be the ones sent (else `TSAError`).
Trust in the signer is `verify_token`'s job; pass ``trusted_certs`` to a client to have it
done before the token is returned.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import ssl
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

import httpx
from asn1crypto import cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from earsiv.archive.errors import TSAError, VerificationError
from earsiv.archive.tsa.verify import HASHES, LOCAL_TSA_POLICY, verify_token

__all__ = [
    "LOCAL_TSA_POLICY",
    "LOCAL_TSA_SUBJECT",
    "HttpTSA",
    "KamuSMTSA",
    "LocalTSA",
    "TimeStampAuthority",
    "TimeStampResp",
    "build_request",
    "kamusm_identity",
    "token_from_response",
]

LOCAL_TSA_SUBJECT = "earsiv local TSA \u2014 not a qualified time-stamp"
KEY_FILE = "tsa-key.pem"
CERT_FILE = "tsa-cert.pem"
_MAX_REPLY = 1 << 20  # a token is a few KiB; anything near this is not a TSA talking


@runtime_checkable
class TimeStampAuthority(Protocol):
    """Something that time-stamps a hash."""

    @property
    def name(self) -> str:
        """Who stamps, for logs and evidence listings (never used for trust)."""
        ...

    def stamp(self, message_imprint: bytes, *, hash_name: str = "sha256") -> bytes:
        """The DER TimeStampToken over ``message_imprint`` (a ``hash_name`` digest)."""
        ...


class TimeStampResp(core.Sequence):
    """RFC 3161 §2.4.2 TimeStampResp. asn1crypto's own class makes the token mandatory,
    which fails on exactly the replies we most need to read: refusals carry no token."""

    _fields: ClassVar = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


def _check_imprint(message_imprint: bytes, hash_name: str) -> None:
    if hash_name not in HASHES:
        raise ValueError(f"unsupported hash {hash_name!r}; use one of {sorted(HASHES)}")
    if len(message_imprint) != HASHES[hash_name].digest_size:
        raise ValueError(f"a {hash_name} imprint has {HASHES[hash_name].digest_size} bytes, "
                         f"got {len(message_imprint)}")


# --- the built-in TSA ----------------------------------------------------------------


class LocalTSA:
    """The archive's own TSA: a key made at ``init`` and a self-signed TSA certificate.

    Its tokens are real RFC 3161 tokens (openssl verifies them) under `LOCAL_TSA_POLICY`,
    and its certificate says in its name that it is archive-private: they date the log
    against later tampering by anyone without the key, not towards a court.
    """

    name = "local"

    def __init__(self, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
                 certificate: x509.Certificate) -> None:
        if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
            raise TypeError("the local TSA key must be ECDSA or RSA")
        if key.public_key().public_numbers() != certificate.public_key().public_numbers():
            raise ValueError("the TSA certificate does not belong to the TSA key")
        self._key = key
        self._cert = certificate
        self._cert_der = certificate.public_bytes(serialization.Encoding.DER)
        self._cert_asn1 = asn1_x509.Certificate.load(self._cert_der)

    @classmethod
    def create(cls, directory: str | os.PathLike[str], *, key_type: str = "ec",
               validity: timedelta = timedelta(days=365 * 50)) -> LocalTSA:
        """Make a key and certificate in ``directory``; refuses to replace existing ones.

        The certificate lives as long as the archive's longest retention could need: a
        token must verify at its genTime for as long as the document is kept.
        """
        directory = Path(directory)
        if key_type == "ec":
            key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = ec.generate_private_key(ec.SECP256R1())
        elif key_type == "rsa":
            key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        else:
            raise ValueError(f"key_type must be 'ec' or 'rsa', not {key_type!r}")
        now = datetime.now(UTC).replace(microsecond=0)
        subject = x509.Name([
            x509.NameAttribute(NameOID.COMMON_NAME, LOCAL_TSA_SUBJECT),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "earsiv archive-private time-stamping"),
        ])
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            # RFC 3161 §2.3: exactly timeStamping, critical.
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                           critical=False)
            .sign(key, hashes.SHA256())
        )
        directory.mkdir(parents=True, exist_ok=True)
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        _write_new(directory / KEY_FILE, key_pem, 0o600)
        _write_new(directory / CERT_FILE, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        return cls(key, cert)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> LocalTSA:
        directory = Path(directory)
        try:
            key = serialization.load_pem_private_key((directory / KEY_FILE).read_bytes(), None)
            cert = x509.load_pem_x509_certificate((directory / CERT_FILE).read_bytes())
        except (OSError, ValueError) as exc:
            raise TSAError(f"cannot load the local TSA: {exc}", name=str(directory)) from exc
        return cls(key, cert)  # type: ignore[arg-type]

    @property
    def certificate(self) -> x509.Certificate:
        return self._cert

    @property
    def anchors(self) -> list[x509.Certificate]:
        """What its tokens are checked against: its own certificate."""
        return [self._cert]

    @property
    def certificate_pem(self) -> bytes:
        return self._cert.public_bytes(serialization.Encoding.PEM)

    def stamp(self, message_imprint: bytes, *, hash_name: str = "sha256",
              nonce: int | None = None) -> bytes:
        _check_imprint(message_imprint, hash_name)
        if hash_name == "sha1":
            raise ValueError("the local TSA does not stamp SHA-1 imprints")
        imprint = tsp.MessageImprint({
            "hash_algorithm": {"algorithm": hash_name},
            "hashed_message": message_imprint,
        })
        return self._token(imprint, nonce).dump()

    def reply(self, request_der: bytes) -> bytes:
        """Answer a DER TimeStampReq with a DER TimeStampResp, as a TSA server would."""
        try:
            request = tsp.TimeStampReq.load(request_der, strict=True)
            _ = request.native  # parse it all now: asn1crypto is lazy
        except (ValueError, TypeError) as exc:
            return _rejection("bad_data_format", f"not a TimeStampReq: {exc}")
        imprint = request["message_imprint"]
        hash_name = imprint["hash_algorithm"]["algorithm"].native
        if hash_name not in HASHES or hash_name == "sha1":
            return _rejection("bad_alg", f"hash algorithm {hash_name} not accepted")
        if len(imprint["hashed_message"].native) != HASHES[hash_name].digest_size:
            return _rejection("bad_data_format", "imprint length does not fit its algorithm")
        policy = request["req_policy"].native
        if policy is not None and request["req_policy"].dotted != LOCAL_TSA_POLICY:
            return _rejection("unaccepted_policy", f"policy {request['req_policy'].dotted}")
        token = self._token(imprint, request["nonce"].native,
                            with_cert=bool(request["cert_req"].native))
        return TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump()

    def _token(self, imprint: tsp.MessageImprint, nonce: int | None, *,
               with_cert: bool = True) -> cms.ContentInfo:
        now = datetime.now(UTC)
        gen_time = now.replace(microsecond=now.microsecond // 1000 * 1000)
        tst_fields = {
            "version": "v1",
            "policy": LOCAL_TSA_POLICY,
            "message_imprint": imprint,
            "serial_number": int.from_bytes(secrets.token_bytes(16), "big"),
            "gen_time": gen_time,
            "accuracy": {"seconds": 1},
            "tsa": asn1_x509.GeneralName(name="directory_name", value=self._cert_asn1.subject),
        }
        if nonce is not None:
            tst_fields["nonce"] = nonce
        tst_der = tsp.TSTInfo(tst_fields).dump()

        signed_attrs = cms.CMSAttributes([
            {"type": "content_type", "values": ["tst_info"]},
            {"type": "signing_time", "values": [cms.Time(name="utc_time", value=gen_time.replace(microsecond=0))]},
            {"type": "message_digest", "values": [hashlib.sha256(tst_der).digest()]},
            # RFC 5816: ESSCertIDv2, SHA-256 (the DEFAULT, hence omitted) of our certificate.
            {"type": "signing_certificate_v2", "values": [{
                "certs": [{
                    "cert_hash": hashlib.sha256(self._cert_der).digest(),
                    "issuer_serial": {
                        "issuer": [asn1_x509.GeneralName(name="directory_name", value=self._cert_asn1.issuer)],
                        "serial_number": self._cert_asn1.serial_number,
                    },
                }],
            }]},
        ])
        # The signature covers the DER SET OF (asn1crypto sorts it as DER requires, which
        # matters: verifiers such as openssl re-encode the attributes before checking).
        to_sign = signed_attrs.dump()
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            signature = self._key.sign(to_sign, ec.ECDSA(hashes.SHA256()))
            sig_algo = "sha256_ecdsa"
        else:
            signature = self._key.sign(to_sign, padding.PKCS1v15(), hashes.SHA256())
            sig_algo = "sha256_rsa"
        signer_info = cms.SignerInfo({
            "version": "v1",
            "sid": cms.SignerIdentifier(name="issuer_and_serial_number", value={
                "issuer": self._cert_asn1.issuer,
                "serial_number": self._cert_asn1.serial_number,
            }),
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": signed_attrs,
            "signature_algorithm": {"algorithm": sig_algo},
            "signature": signature,
        })
        signed_data = {
            "version": "v3",  # eContentType is not id-data (RFC 5652 §5.1)
            "digest_algorithms": [{"algorithm": "sha256"}],
            "encap_content_info": {
                "content_type": "tst_info",
                "content": core.ParsableOctetString(tst_der),
            },
            "signer_infos": [signer_info],
        }
        if with_cert:
            signed_data["certificates"] = [self._cert_asn1]
        return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode``; never replace an existing key or certificate."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as exc:
        raise TSAError("refusing to replace an existing local TSA file", name=str(path)) from exc
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _rejection(fail_info: str, text: str) -> bytes:
    return TimeStampResp({"status": {
        "status": "rejection",
        "status_string": [text],
        "fail_info": tsp.PKIFailureInfo({fail_info}),
    }}).dump()


# --- talking to a TSA over HTTP -------------------------------------------------------


def build_request(message_imprint: bytes, *, hash_name: str = "sha256",
                  nonce: int | None = None, cert_req: bool = True) -> bytes:
    """A DER TimeStampReq (RFC 3161 §2.4.1)."""
    _check_imprint(message_imprint, hash_name)
    fields = {
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": hash_name},
                            "hashed_message": message_imprint},
        "cert_req": cert_req,
    }
    if nonce is not None:
        fields["nonce"] = nonce
    return tsp.TimeStampReq(fields).dump()


def _printable_runs(data: bytes) -> str:
    runs = re.findall(rb"[\x20-\x7e]{4,}", data)
    return " / ".join(r.decode("ascii") for r in runs)[:300]


def token_from_response(response_der: bytes, *, message_imprint: bytes, hash_name: str,
                        nonce: int | None, name: str | None = None) -> bytes:
    """The token in a DER TimeStampResp, if and only if it answers this very request."""
    try:
        # Parse a copy completely now (asn1crypto is lazy). The copy, because a parsed
        # asn1crypto value re-encodes itself on dump(), and the token must be returned
        # exactly as the TSA signed and sent it.
        _ = TimeStampResp.load(response_der, strict=True).native
    except (ValueError, TypeError) as exc:
        # Kamu SM has been seen answering with bodies that are not a TimeStampResp; the
        # human-readable part is what the operator needs.
        raise TSAError(f"reply is not a TimeStampResp ({exc}); text in it: "
                       f"{_printable_runs(response_der) or '-'}", name=name) from exc
    response = TimeStampResp.load(response_der)
    status = response["status"]
    if status["status"].native not in ("granted", "granted_with_mods"):
        texts = "; ".join(status["status_string"].native or [])
        fail = ", ".join(sorted(status["fail_info"].native or [])) if status["fail_info"].native else ""
        raise TSAError(f"request refused: status {status['status'].native}"
                       f"{', failInfo ' + fail if fail else ''}{': ' + texts if texts else ''}",
                       name=name)
    token = response["time_stamp_token"]
    if token.native is None or token["content_type"].native != "signed_data":
        raise TSAError("granted reply carries no SignedData token", name=name)
    encap = token["content"]["encap_content_info"]
    if encap["content_type"].native != "tst_info":
        raise TSAError("token content is not a TSTInfo", name=name)
    tst_info = encap["content"].parsed
    imprint = tst_info["message_imprint"]
    if (imprint["hash_algorithm"]["algorithm"].native != hash_name
            or imprint["hashed_message"].native != message_imprint):
        raise TSAError("token stamps a different hash than the one sent", name=name)
    if nonce is not None and tst_info["nonce"].native != nonce:
        raise TSAError("token does not echo the request's nonce (replayed or misrouted reply)",
                       name=name)
    return token.dump()


class HttpTSA:
    """Any RFC 3161 TSA over HTTP(S) (RFC 3161 §3.4: POST application/timestamp-query)."""

    def __init__(self, url: str, *, timeout: float = 30.0,
                 headers: Mapping[str, str] | None = None, ca_pem: bytes | None = None,
                 trusted_certs: Sequence[x509.Certificate] | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.ca_pem = ca_pem
        self.trusted_certs = list(trusted_certs) if trusted_certs else None

    @property
    def name(self) -> str:
        return self.url

    @property
    def anchors(self) -> list[x509.Certificate]:
        """The configured certificates its tokens must chain to (empty: not checked here)."""
        return list(self.trusted_certs or [])

    def _extra_headers(self, message_imprint: bytes) -> dict[str, str]:
        return {}

    def stamp(self, message_imprint: bytes, *, hash_name: str = "sha256") -> bytes:
        _check_imprint(message_imprint, hash_name)
        nonce = secrets.randbits(64)
        body = build_request(message_imprint, hash_name=hash_name, nonce=nonce)
        headers = {"Content-Type": "application/timestamp-query", **self.headers,
                   **self._extra_headers(message_imprint)}
        reply = self._post(body, headers)
        token = token_from_response(reply, message_imprint=message_imprint, hash_name=hash_name,
                                    nonce=nonce, name=self.name)
        if self.trusted_certs is not None:
            try:
                verify_token(token, message_imprint=message_imprint,
                             trusted_certs=self.trusted_certs)
            except VerificationError as exc:
                raise TSAError(f"token refused, it does not verify against this TSA's configured trust anchors "
                               f"({exc}); if the TSA changed its certificate, check the new one and add it to "
                               "the trust file", name=self.name) from exc
        return token

    def _post(self, body: bytes, headers: dict[str, str]) -> bytes:
        verify: ssl.SSLContext | bool = True
        if self.ca_pem is not None:
            verify = ssl.create_default_context(cadata=self.ca_pem.decode("ascii"))
        try:
            with httpx.Client(timeout=self.timeout, verify=verify) as client, \
                    client.stream("POST", self.url, content=body, headers=headers) as response:
                    if response.status_code != 200:
                        raise TSAError(f"HTTP {response.status_code} from the TSA", name=self.name)
                    chunks, size = [], 0
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                        if size > _MAX_REPLY:
                            raise TSAError("reply larger than 1 MiB", name=self.name)
                        chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise TSAError(f"cannot reach the TSA: {exc}", name=self.name) from exc
        return b"".join(chunks)


# --- Kamu SM ----------------------------------------------------------------------------

_KAMUSM_ITERATIONS = 100


class _ESYAReqEx(core.Sequence):
    # Kamu SM's `identity` header structure. Sources: TÜBİTAK's ESYA Java client
    # (tr.gov.tubitak.uekae.esya.api.infra.tsclient.TSRequestGenerator._kimlikBilgisiOlustur:
    # ESYAReqEx(customerID, salt, iterationCount, IV, encryptedImprint), hex via
    # BigInteger.toString(16)) and the independent Rust client omerbustun/kamusm-zd-rs
    # (build_identity: same five fields, salt == IV, PBKDF2-HMAC-SHA256, AES-256-CBC with
    # PKCS#7 padding over the raw digest bytes). The IV is sent a second time after the
    # iteration count; both clients use one 16-byte random value for salt and IV.
    _fields: ClassVar = [
        ("user_id", core.Integer),
        ("salt", core.OctetString),
        ("iteration_count", core.Integer),
        ("iv", core.OctetString),
        ("encrypted_message_imprint", core.OctetString),
    ]


def kamusm_identity(customer_number: int, password: str, message_imprint: bytes, *,
                    salt: bytes | None = None, iterations: int = _KAMUSM_ITERATIONS) -> str:
    """The value of Kamu SM's ``identity`` header for one request."""
    salt = secrets.token_bytes(16) if salt is None else salt
    if len(salt) != 16:
        raise ValueError("the salt doubles as the AES IV and must be 16 bytes")
    key = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt,
                     iterations=iterations).derive(password.encode("utf-8"))
    pad = 16 - len(message_imprint) % 16
    padded = message_imprint + bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(salt)).encryptor()
    encrypted = encryptor.update(padded) + encryptor.finalize()
    der = _ESYAReqEx({
        "user_id": customer_number,
        "salt": salt,
        "iteration_count": iterations,
        "iv": salt,
        "encrypted_message_imprint": encrypted,
    }).dump()
    # Java's BigInteger(der).toString(16): a DER SEQUENCE starts with 0x30, so this is
    # plain lowercase hex with no sign or leading-zero surprises.
    return der.hex()


class KamuSMTSA(HttpTSA):
    """Kamu SM's time-stamp service (see LAW.md, "Timestamps in Turkey").

    A standard RFC 3161 request plus the ``identity`` header; refusals (unknown customer,
    wrong password, no credit) arrive as HTTP 200 with a rejection status, which
    `token_from_response` turns into `TSAError`.
    """

    def __init__(self, url: str, customer_number: int, password: str, *,
                 timeout: float = 30.0, ca_pem: bytes | None = None,
                 trusted_certs: Sequence[x509.Certificate] | None = None) -> None:
        super().__init__(url, timeout=timeout, ca_pem=ca_pem, trusted_certs=trusted_certs)
        if customer_number <= 0:
            raise ValueError("the Kamu SM customer number is a positive integer")
        self.customer_number = customer_number
        self._password = password

    @property
    def name(self) -> str:
        return f"kamusm:{self.customer_number}@{self.url}"

    def _extra_headers(self, message_imprint: bytes) -> dict[str, str]:
        return {"identity": kamusm_identity(self.customer_number, self._password, message_imprint)}

    def stamp(self, message_imprint: bytes, *, hash_name: str = "sha256") -> bytes:
        """As `HttpTSA.stamp`; a failure says what to do about it as well as what Kamu SM said."""
        try:
            return super().stamp(message_imprint, hash_name=hash_name)
        except TSAError as exc:
            raise TSAError(f"Kamu SM: {exc.detail}{_kamusm_advice(exc.detail, self.customer_number)}",
                           name=self.name) from exc

    def __repr__(self) -> str:  # never the password
        return f"KamuSMTSA({self.url!r}, customer_number={self.customer_number})"


def _kamusm_advice(detail: str, customer: int) -> str:
    """What an operator can do about each way Kamu SM fails (its refusals come as HTTP 200)."""
    if detail.startswith("request refused"):
        return (f" (Kamu SM refuses customer {customer}'s request: check EARSIV_TSA_KAMUSM_CUSTOMER and "
                "EARSIV_TSA_KAMUSM_PASSWORD against the account Kamu SM issued, and that the account still has "
                "stamps (credit) left; the checkpoint is stamped on the next run once it is fixed)")
    if detail.startswith("reply is not a TimeStampResp"):
        return (" (Kamu SM answered with something else than a time-stamp reply, as it does for some account "
                "and maintenance errors; the text above is its own)")
    if detail.startswith("token refused"):
        return (" (a token came back, but not signed under the Kamu SM certificate configured as trust anchor: "
                "check the URL and the anchor file, EARSIV_TSA_TRUST)")
    if detail.startswith(("cannot reach", "HTTP ")):
        return " (Kamu SM's service did not answer; the checkpoint waits and is stamped when it does)"
    return ""
