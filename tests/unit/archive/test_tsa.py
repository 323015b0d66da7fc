"""Time-stamp tokens: the local TSA, the Kamu SM client and the token verifier.

The oracle for every token we make is OpenSSL (`openssl ts -verify`), an implementation
we did not write; tokens from OpenSSL's own TSA (`openssl ts -reply`) are the independent
producer our verifier must accept. `rfc3161ng` shows, in the same tests, the three places
where a common Python verifier goes wrong and ours must not.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import stat
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms, core, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from earsiv.archive.errors import TSAError, VerificationError
from earsiv.archive.tsa.authorities import (
    LOCAL_TSA_POLICY,
    HttpTSA,
    KamuSMTSA,
    LocalTSA,
    TimeStampAuthority,
    TimeStampResp,
    build_request,
    kamusm_identity,
    token_from_response,
)
from earsiv.archive.tsa.verify import verify_token
from tests.helpers.openssl_tsa import openssl_tsa_config

DATA = b"checkpoint 42: root e3b0c442\n"
DIGEST = hashlib.sha256(DATA).digest()


# --- OpenSSL as oracle and as an independent TSA --------------------------------------


def openssl_verify(tmp: Path, token: bytes, ca_pem: bytes, *, data: bytes | None = None,
                   digest: bytes | None = None) -> subprocess.CompletedProcess:
    (tmp / "token.tsr").write_bytes(token)
    (tmp / "ca.pem").write_bytes(ca_pem)
    cmd = ["openssl", "ts", "-verify", "-in", str(tmp / "token.tsr"), "-token_in",
           "-CAfile", str(tmp / "ca.pem")]
    if data is not None:
        (tmp / "data.bin").write_bytes(data)
        cmd += ["-data", str(tmp / "data.bin")]
    else:
        cmd += ["-digest", digest.hex()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)


def assert_openssl_accepts(tmp: Path, token: bytes, ca_pem: bytes, data: bytes = DATA) -> None:
    for kwargs in ({"data": data}, {"digest": hashlib.sha256(data).digest()}):
        result = openssl_verify(tmp, token, ca_pem, **kwargs)
        assert result.returncode == 0 and "Verification: OK" in result.stdout, result.stderr


class OpenSSLTSA:
    """`openssl ts -reply` with an RSA key and certificate made by `openssl req`."""

    def __init__(self, directory: Path, *, signer_digest: str = "sha256",
                 digests: str = "sha1, sha256, sha384, sha512") -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.config, _pem = openssl_tsa_config(directory, digests, signer_digest=signer_digest)
        self.cert_pem = (directory / "cert.pem").read_bytes()
        self.cert = x509.load_pem_x509_certificate(self.cert_pem)

    def reply(self, query: bytes) -> bytes:
        (self.dir / "q.tsq").write_bytes(query)
        subprocess.run(["openssl", "ts", "-reply", "-queryfile", str(self.dir / "q.tsq"),
                        "-config", str(self.config), "-out", str(self.dir / "r.tsr")],
                       check=True, capture_output=True, timeout=30)
        return (self.dir / "r.tsr").read_bytes()

    def token(self, data: bytes, hash_name: str = "sha256") -> bytes:
        query = build_request(hashlib.new(hash_name, data).digest(), hash_name=hash_name, nonce=7)
        resp = TimeStampResp.load(self.reply(query))
        assert resp["status"]["status"].native == "granted"
        return resp["time_stamp_token"].dump()


@pytest.fixture(scope="module")
def ec_tsa(tmp_path_factory) -> LocalTSA:
    return LocalTSA.create(tmp_path_factory.mktemp("ec-tsa"))


@pytest.fixture(scope="module")
def rsa_tsa(tmp_path_factory) -> LocalTSA:
    return LocalTSA.create(tmp_path_factory.mktemp("rsa-tsa"), key_type="rsa")


@pytest.fixture(scope="module")
def openssl_tsa(tmp_path_factory) -> OpenSSLTSA:
    return OpenSSLTSA(tmp_path_factory.mktemp("openssl-tsa"))


def _cert(key, subject: str, *, issuer_key=None, issuer_name: x509.Name | None = None,
          ca: bool = False, eku: list | None = None, eku_critical: bool = True,
          not_before: datetime | None = None, not_after: datetime | None = None) -> x509.Certificate:
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before or now - timedelta(days=1))
               .not_valid_after(not_after or now + timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if eku is None and not ca:
        eku = [ExtendedKeyUsageOID.TIME_STAMPING]
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=eku_critical)
    return builder.sign(issuer_key or key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


# --- the local TSA ---------------------------------------------------------------------


def test_create_writes_a_private_key_and_a_local_tsa_certificate(tmp_path):
    LocalTSA.create(tmp_path / "tsa")
    key_file, cert_file = tmp_path / "tsa" / "tsa-key.pem", tmp_path / "tsa" / "tsa-cert.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert "local" in cn and "not a qualified" in cn
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"
    loaded = LocalTSA.load(tmp_path / "tsa")
    assert loaded.certificate == cert
    assert isinstance(loaded, TimeStampAuthority)
    # a second init must never replace the key that signed the archive's past
    before = key_file.read_bytes()
    with pytest.raises(TSAError):
        LocalTSA.create(tmp_path / "tsa")
    assert key_file.read_bytes() == before
    with pytest.raises(TSAError):
        LocalTSA.load(tmp_path / "nowhere")


@pytest.mark.parametrize("which", ["ec_tsa", "rsa_tsa"])
def test_local_tokens_verify_with_openssl_and_carry_the_promised_fields(which, request, tmp_path):
    tsa: LocalTSA = request.getfixturevalue(which)
    before = datetime.now(UTC)
    token = tsa.stamp(DIGEST, nonce=0x1234_5678_9ABC)
    after = datetime.now(UTC)
    assert_openssl_accepts(tmp_path, token, tsa.certificate_pem)
    # openssl refuses it for other data: the oracle itself can say no
    assert openssl_verify(tmp_path, token, tsa.certificate_pem, data=DATA + b"x").returncode != 0

    info = verify_token(token, data=DATA, trusted_certs=[tsa.certificate])
    assert info.local and info.policy == LOCAL_TSA_POLICY
    assert info.hash_algorithm == "sha256" and info.message_imprint == DIGEST
    assert info.nonce == 0x1234_5678_9ABC
    assert before - timedelta(milliseconds=1) <= info.gen_time <= after
    assert info.gen_time.microsecond % 1000 == 0
    assert 0 < info.serial < 2**128
    assert info.signer == tsa.certificate

    # The structure, read independently of our verifier.
    signed = cms.ContentInfo.load(token)["content"]
    assert [c.chosen.dump() for c in signed["certificates"]] == [
        tsa.certificate.public_bytes(serialization.Encoding.DER)]
    attrs = {a["type"].native: a["values"] for a in signed["signer_infos"][0]["signed_attrs"]}
    assert set(attrs) == {"content_type", "message_digest", "signing_time", "signing_certificate_v2"}
    ess = attrs["signing_certificate_v2"][0]["certs"][0]
    assert ess["cert_hash"].native == hashlib.sha256(
        tsa.certificate.public_bytes(serialization.Encoding.DER)).digest()
    tst = signed["encap_content_info"]["content"].parsed
    assert tst["accuracy"].native is not None
    assert tsa.stamp(DIGEST) != tsa.stamp(DIGEST)  # fresh serial and time every time


def test_local_tsa_answers_openssl_queries(ec_tsa, tmp_path):
    (tmp_path / "data").write_bytes(DATA)
    subprocess.run(["openssl", "ts", "-query", "-data", str(tmp_path / "data"), "-sha256", "-cert",
                    "-out", str(tmp_path / "q.tsq")], check=True, capture_output=True)
    (tmp_path / "r.tsr").write_bytes(ec_tsa.reply((tmp_path / "q.tsq").read_bytes()))
    (tmp_path / "ca.pem").write_bytes(ec_tsa.certificate_pem)
    # -queryfile makes openssl check the imprint *and* the nonce it chose itself
    result = subprocess.run(["openssl", "ts", "-verify", "-queryfile", str(tmp_path / "q.tsq"),
                             "-in", str(tmp_path / "r.tsr"), "-CAfile", str(tmp_path / "ca.pem")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "Verification: OK" in result.stdout, result.stderr

    sha1_query = build_request(hashlib.sha1(DATA).digest(), hash_name="sha1", nonce=1)
    with pytest.raises(TSAError, match="bad_alg"):
        token_from_response(ec_tsa.reply(sha1_query), message_imprint=hashlib.sha1(DATA).digest(),
                            hash_name="sha1", nonce=1)
    with pytest.raises(TSAError, match="bad_data_format"):
        token_from_response(ec_tsa.reply(b"\x30\x03garbage"), message_imprint=DIGEST,
                            hash_name="sha256", nonce=1)


def test_sha256_is_the_default_everywhere(ec_tsa):
    import inspect

    request = tsp.TimeStampReq.load(build_request(DIGEST, nonce=3))
    assert request["message_imprint"]["hash_algorithm"]["algorithm"].native == "sha256"
    assert request["cert_req"].native is True
    tst = cms.ContentInfo.load(ec_tsa.stamp(DIGEST))["content"]["encap_content_info"]["content"].parsed
    assert tst["message_imprint"]["hash_algorithm"]["algorithm"].native == "sha256"
    for cls in (LocalTSA, HttpTSA, KamuSMTSA):
        assert inspect.signature(cls.stamp).parameters["hash_name"].default == "sha256"
    with pytest.raises(ValueError):
        ec_tsa.stamp(hashlib.sha1(DATA).digest(), hash_name="sha1")
    with pytest.raises(ValueError):
        ec_tsa.stamp(DIGEST[:20])  # a SHA-1-sized imprint labelled sha256
    rfc3161ng = pytest.importorskip("rfc3161ng")
    # the contrast: rfc3161ng falls back to SHA-1 when no hash is named
    assert "hashname = hashname or 'sha1'" in inspect.getsource(rfc3161ng.check_timestamp)


# --- verify_token: the three places rfc3161ng gets wrong ------------------------------


def test_a_same_key_unrelated_certificate_is_rejected(rsa_tsa):
    """An attacker's certificate carrying the TSA's public key is not the TSA's certificate."""
    token = rsa_tsa.stamp(DIGEST)
    impostor = _cert(rsa_tsa._key, "somebody else entirely")  # same key, new subject and serial
    assert impostor.public_key().public_numbers() == rsa_tsa.certificate.public_key().public_numbers()
    assert impostor.subject != rsa_tsa.certificate.subject
    with pytest.raises(VerificationError) as err:
        verify_token(token, data=DATA, trusted_certs=[impostor])
    assert err.value.step == 6
    # Without a certificate in the token, the sid no longer names anything trusted.
    bare = TimeStampResp.load(rsa_tsa.reply(build_request(DIGEST, nonce=5, cert_req=False)))
    bare_token = bare["time_stamp_token"].dump()
    assert not cms.ContentInfo.load(bare_token)["content"]["certificates"]
    with pytest.raises(VerificationError) as err:
        verify_token(bare_token, data=DATA, trusted_certs=[impostor])
    assert err.value.step == 4
    verify_token(bare_token, data=DATA, trusted_certs=[rsa_tsa.certificate])
    rfc3161ng = pytest.importorskip("rfc3161ng")
    assert rfc3161ng.check_timestamp(token, certificate=_pem(impostor), data=DATA, hashname="sha256")


def test_ess_hash_pins_the_exact_certificate(ec_tsa):
    """A re-issued certificate with the same key, issuer and serial (so the sid matches it)
    is still not the certificate the TSA signed for."""
    original = ec_tsa.certificate
    twin = (x509.CertificateBuilder().subject_name(original.subject).issuer_name(original.issuer)
            .public_key(original.public_key()).serial_number(original.serial_number)
            .not_valid_before(original.not_valid_before_utc)
            .not_valid_after(original.not_valid_after_utc - timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .sign(ec_tsa._key, hashes.SHA256()))
    assert twin != original
    bare = TimeStampResp.load(ec_tsa.reply(build_request(DIGEST, nonce=5, cert_req=False)))
    token = bare["time_stamp_token"].dump()
    with pytest.raises(VerificationError) as err:
        verify_token(token, message_imprint=DIGEST, trusted_certs=[twin])
    assert err.value.step == 5
    verify_token(token, message_imprint=DIGEST, trusted_certs=[original])


def test_ec_tokens_verify(ec_tsa):
    token = ec_tsa.stamp(DIGEST)
    assert verify_token(token, message_imprint=DIGEST, trusted_certs=[ec_tsa.certificate]).signer \
        == ec_tsa.certificate
    rfc3161ng = pytest.importorskip("rfc3161ng")
    with pytest.raises(TypeError):  # it hands PKCS#1 padding to an EC key's verify()
        rfc3161ng.check_timestamp(token, certificate=ec_tsa.certificate_pem, data=DATA,
                                  hashname="sha256")


def test_sha1_is_refused_unless_allowed(tmp_path_factory):
    sha1_signer = OpenSSLTSA(tmp_path_factory.mktemp("sha1-tsa"), signer_digest="sha1")
    sha1_imprint = sha1_signer.token(DATA, "sha1")
    with pytest.raises(VerificationError) as err:
        verify_token(sha1_imprint, data=DATA, trusted_certs=[sha1_signer.cert])
    assert err.value.step == 2
    info = verify_token(sha1_imprint, data=DATA, trusted_certs=[sha1_signer.cert], allow_sha1=True)
    assert info.hash_algorithm == "sha1"
    # SHA-256 imprint, but the signature's digest is SHA-1
    sha1_signature = sha1_signer.token(DATA, "sha256")
    with pytest.raises(VerificationError) as err:
        verify_token(sha1_signature, data=DATA, trusted_certs=[sha1_signer.cert])
    assert err.value.step == 3
    verify_token(sha1_signature, data=DATA, trusted_certs=[sha1_signer.cert], allow_sha1=True)


# --- verify_token: other producers and other damage ----------------------------------


def test_tokens_from_openssls_tsa_are_accepted(openssl_tsa, tmp_path):
    token = openssl_tsa.token(DATA)
    assert_openssl_accepts(tmp_path, token, openssl_tsa.cert_pem)
    info = verify_token(token, data=DATA, trusted_certs=[openssl_tsa.cert])
    assert info.policy == "1.2.3.4.1" and not info.local
    assert info.nonce == 7 and info.signer == openssl_tsa.cert
    with pytest.raises(VerificationError) as err:
        verify_token(token, data=DATA + b"!", trusted_certs=[openssl_tsa.cert])
    assert err.value.step == 2


def _tamper(token: bytes, *, gen_time: datetime, fix_digest: bool) -> bytes:
    info = cms.ContentInfo.load(token)
    signed = info["content"]
    tst = signed["encap_content_info"]["content"].parsed.copy()
    tst["gen_time"] = gen_time
    new_tst = tst.dump(force=True)
    signed["encap_content_info"]["content"] = core.ParsableOctetString(new_tst)
    if fix_digest:
        for attr in signed["signer_infos"][0]["signed_attrs"]:
            if attr["type"].native == "message_digest":
                attr["values"] = [hashlib.sha256(new_tst).digest()]
    return info.dump(force=True)


@pytest.mark.parametrize(("fix_digest", "step"), [(False, 3), (True, 9)])
def test_tampered_gen_time_is_rejected(ec_tsa, fix_digest, step, tmp_path):
    token = ec_tsa.stamp(DIGEST)
    # 90 s earlier: still inside the certificate's validity, so only the forgery is at fault
    earlier = cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"].parsed[
        "gen_time"].native - timedelta(seconds=90)
    forged = _tamper(token, gen_time=earlier, fix_digest=fix_digest)
    assert forged != token
    with pytest.raises(VerificationError) as err:
        verify_token(forged, message_imprint=DIGEST, trusted_certs=[ec_tsa.certificate])
    assert err.value.step == step
    assert openssl_verify(tmp_path, forged, ec_tsa.certificate_pem, digest=DIGEST).returncode != 0


def test_other_data_wrong_tsa_and_garbage_are_rejected(ec_tsa, rsa_tsa):
    token = ec_tsa.stamp(DIGEST)
    with pytest.raises(VerificationError) as err:
        verify_token(token, message_imprint=hashlib.sha256(b"other").digest(),
                     trusted_certs=[ec_tsa.certificate])
    assert err.value.step == 2
    with pytest.raises(VerificationError) as err:
        verify_token(token, data=DATA, trusted_certs=[rsa_tsa.certificate])
    assert err.value.step == 6
    for junk in (b"", b"\x30\x00", token[:-10], DATA):
        with pytest.raises(VerificationError) as err:
            verify_token(junk, data=DATA, trusted_certs=[ec_tsa.certificate])
        assert err.value.step == 1
    with pytest.raises(ValueError):
        verify_token(token, trusted_certs=[ec_tsa.certificate])


def test_certificate_rules_eku_and_validity_at_gen_time(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cases = [
        (_cert(key, "no eku", eku=[]), 7),
        (_cert(key, "eku not critical", eku_critical=False), 7),
        (_cert(key, "eku too wide", eku=[ExtendedKeyUsageOID.TIME_STAMPING,
                                         ExtendedKeyUsageOID.CODE_SIGNING]), 7),
        (_cert(key, "expired", not_before=now - timedelta(days=60),
               not_after=now - timedelta(days=1)), 8),
        (_cert(key, "not yet valid", not_before=now + timedelta(days=1),
               not_after=now + timedelta(days=60)), 8),
    ]
    for cert, step in cases:
        token = LocalTSA(key, cert).stamp(DIGEST)
        with pytest.raises(VerificationError) as err:
            verify_token(token, message_imprint=DIGEST, trusted_certs=[cert])
        assert err.value.step == step, cert.subject


def test_verification_happens_at_gen_time_not_now(ec_tsa):
    token = ec_tsa.stamp(DIGEST)
    # Long after the certificate expires the token still proves its time ...
    verify_token(token, message_imprint=DIGEST, trusted_certs=[ec_tsa.certificate],
                 at=datetime.now(UTC) + timedelta(days=365 * 80))
    # ... but a token from the verifier's future is not evidence of anything.
    with pytest.raises(VerificationError) as err:
        verify_token(token, message_imprint=DIGEST, trusted_certs=[ec_tsa.certificate],
                     at=datetime.now(UTC) - timedelta(days=1))
    assert err.value.step == 1


def test_a_chain_to_a_trusted_ca_is_followed_and_checked():
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert(ca_key, "test root CA", ca=True)
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    tsa_cert = _cert(tsa_key, "tsa under CA", issuer_key=ca_key, issuer_name=ca.subject)
    token = LocalTSA(tsa_key, tsa_cert).stamp(DIGEST)
    assert verify_token(token, message_imprint=DIGEST, trusted_certs=[ca]).signer == tsa_cert
    # a CA of the same name but another key did not sign it
    fake_ca = _cert(ec.generate_private_key(ec.SECP256R1()), "test root CA", ca=True)
    with pytest.raises(VerificationError) as err:
        verify_token(token, message_imprint=DIGEST, trusted_certs=[fake_ca])
    assert err.value.step == 6
    # the same key and name without CA rights is not an issuer
    not_ca = _cert(ca_key, "test root CA", eku=[ExtendedKeyUsageOID.TIME_STAMPING])
    with pytest.raises(VerificationError):
        verify_token(token, message_imprint=DIGEST, trusted_certs=[not_ca])


# --- Kamu SM ------------------------------------------------------------------------

KAMUSM_CUSTOMER = 123456
KAMUSM_PASSWORD = "gizli-parola-ğüş"


def decode_identity(header: str, password: str) -> tuple[int, int, bytes]:
    """Kamu SM's side, written with pyasn1 (not asn1crypto) as a second implementation."""
    from pyasn1.codec.der import decoder

    seq, rest = decoder.decode(bytes.fromhex(header))
    assert rest == b""
    customer, salt, iterations, iv, encrypted = (seq[i] for i in range(5))
    salt, iv, encrypted = bytes(salt), bytes(iv), bytes(encrypted)
    assert len(salt) == 16 and iv == salt
    key = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt,
                     iterations=int(iterations)).derive(password.encode("utf-8"))
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(encrypted) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= 16 or padded[-pad:] != bytes([pad]) * pad:
        raise ValueError("bad padding: wrong password")
    return int(customer), int(iterations), padded[:-pad]


class KamuSMServer:
    """A stand-in for zd.kamusm.gov.tr on 127.0.0.1, signing with a local TSA."""

    def __init__(self, tsa: LocalTSA, *, raw_body: bytes | None = None) -> None:
        self.seen: list[dict] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.seen.append(dict(self.headers))
                reply = raw_body if raw_body is not None else outer.answer(self.headers, body)
                self.send_response(200)  # Kamu SM answers 200 even when it refuses
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.tsa = tsa
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, headers, body: bytes) -> bytes:
        imprint = tsp.TimeStampReq.load(body)["message_imprint"]["hashed_message"].native
        identity = headers.get("identity")
        if headers.get("Content-Type") != "application/timestamp-query" or not identity:
            return _refusal("No identity")
        try:
            customer, iterations, decrypted = decode_identity(identity, KAMUSM_PASSWORD)
        except ValueError:
            return _refusal("Account could not be authenticated")
        if customer != KAMUSM_CUSTOMER:
            return _refusal(f"User {customer} is not known")
        if iterations != 100 or decrypted != imprint:
            return _refusal("Account could not be authenticated")
        return self.tsa.reply(body)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _refusal(text: str) -> bytes:
    return TimeStampResp({"status": {"status": "rejection", "status_string": [text]}}).dump()


def test_kamusm_identity_header_decodes_as_kamusm_does():
    header = kamusm_identity(KAMUSM_CUSTOMER, KAMUSM_PASSWORD, DIGEST, salt=bytes(range(16)))
    assert header == header.lower() and header.startswith("30")
    assert decode_identity(header, KAMUSM_PASSWORD) == (KAMUSM_CUSTOMER, 100, DIGEST)
    other = kamusm_identity(KAMUSM_CUSTOMER, KAMUSM_PASSWORD, DIGEST)
    assert other != kamusm_identity(KAMUSM_CUSTOMER, KAMUSM_PASSWORD, DIGEST)  # fresh salt
    with pytest.raises(ValueError):
        decode_identity(header, "wrong password")


def test_kamusm_client_stamps_through_the_identity_header(ec_tsa, tmp_path):
    with KamuSMServer(ec_tsa) as server:
        client = KamuSMTSA(server.url, KAMUSM_CUSTOMER, KAMUSM_PASSWORD,
                           trusted_certs=[ec_tsa.certificate])
        token = client.stamp(DIGEST)
        assert "identity" in {k.lower() for k in server.seen[0]}
    assert KAMUSM_PASSWORD not in repr(client)
    info = verify_token(token, data=DATA, trusted_certs=[ec_tsa.certificate])
    assert info.message_imprint == DIGEST
    assert_openssl_accepts(tmp_path, token, ec_tsa.certificate_pem)


@pytest.mark.parametrize(("customer", "password", "message"), [
    (KAMUSM_CUSTOMER, "wrong", "could not be authenticated"),
    (999, KAMUSM_PASSWORD, "User 999 is not known"),
])
def test_kamusm_refusals_with_http_200_raise(ec_tsa, customer, password, message):
    with KamuSMServer(ec_tsa) as server, pytest.raises(TSAError, match=message) as err:
        KamuSMTSA(server.url, customer, password).stamp(DIGEST)
    assert "rejection" in str(err.value)


def test_kamusm_non_asn1_reply_raises_with_its_text(ec_tsa):
    with KamuSMServer(ec_tsa, raw_body=b"Kredi yetersiz / insufficient credit") as server:
        with pytest.raises(TSAError, match="insufficient credit"):
            KamuSMTSA(server.url, KAMUSM_CUSTOMER, KAMUSM_PASSWORD).stamp(DIGEST)


def test_http_client_refuses_replies_that_do_not_answer_the_request(ec_tsa):
    nonce = 99
    good = ec_tsa.reply(build_request(DIGEST, nonce=nonce))
    token = token_from_response(good, message_imprint=DIGEST, hash_name="sha256", nonce=nonce)
    assert token in good  # the bytes as the TSA sent them, not a re-encoding
    with pytest.raises(TSAError, match="nonce"):
        token_from_response(good, message_imprint=DIGEST, hash_name="sha256", nonce=nonce + 1)
    other = hashlib.sha256(b"other").digest()
    with pytest.raises(TSAError, match="different hash"):
        token_from_response(good, message_imprint=other, hash_name="sha256", nonce=nonce)
    # a token that is fine but signed by a key the client was not told to trust
    with KamuSMServer(ec_tsa) as server:
        stranger = _cert(ec.generate_private_key(ec.SECP256R1()), "stranger")
        with pytest.raises(TSAError, match="does not verify"):
            KamuSMTSA(server.url, KAMUSM_CUSTOMER, KAMUSM_PASSWORD,
                      trusted_certs=[stranger]).stamp(DIGEST)


def test_http_client_translates_transport_errors():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TSAError, match="cannot reach"):
        HttpTSA(f"http://127.0.0.1:{port}/", timeout=2).stamp(DIGEST)
    with pytest.raises(ValueError):
        HttpTSA("http://127.0.0.1:1/").stamp(b"short")


def test_key_file_permissions_survive_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        LocalTSA.create(tmp_path / "t")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "t" / "tsa-key.pem").stat().st_mode) == 0o600


def test_no_damaged_token_escapes_as_another_exception_or_a_different_truth(ec_tsa):
    """Flip one bit at (every third) position: only VerificationError may come out, and a
    token that still verifies (the flip hit something unsigned, e.g. SignedData's
    digestAlgorithms set or the embedded copy of a certificate the caller trusts anyway)
    must say exactly what the original says. A flip inside the TSTInfo never verifies."""
    token = ec_tsa.stamp(DIGEST, nonce=77)
    original = verify_token(token, message_imprint=DIGEST, trusted_certs=[ec_tsa.certificate])
    tst = cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"].contents
    tst_at = token.index(tst)
    for i in range(0, len(token), 3):
        damaged = bytearray(token)
        damaged[i] ^= 0x01
        try:
            info = verify_token(bytes(damaged), message_imprint=DIGEST,
                                trusted_certs=[ec_tsa.certificate])
        except VerificationError:
            continue
        assert not tst_at <= i < tst_at + len(tst), i
        assert info == original
