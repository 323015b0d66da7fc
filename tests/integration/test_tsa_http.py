"""`HttpTSA` against a real RFC 3161 server: OpenSSL's TSA behind a small HTTP wrapper.

The wrapper is `http.server` on 127.0.0.1 that pipes each request body into
``openssl ts -reply -queryfile ... -config ...`` and sends back what OpenSSL wrote. Two
misbehaving variants rewrite the query before OpenSSL sees it (another imprint, another
nonce), so the reply is a genuine, validly signed token that answers a different request:
the client must refuse it, never return it as a success.
"""

from __future__ import annotations

import hashlib
import subprocess

import pytest
from asn1crypto import tsp
from cryptography import x509

from earsiv.archive.errors import TSAError
from earsiv.archive.tsa.authorities import HttpTSA
from earsiv.archive.tsa.verify import verify_token
from tests.helpers.openssl_tsa import OpenSSLHttpTSA, openssl_tsa_config

DATA = b"checkpoint 7 over 1024 leaves\n"
DIGEST = hashlib.sha256(DATA).digest()


@pytest.fixture(scope="module")
def openssl_tsa(tmp_path_factory):
    return openssl_tsa_config(tmp_path_factory.mktemp("openssl-tsa"), "sha256, sha384, sha512")


def _with(query: bytes, **changes) -> bytes:
    request = tsp.TimeStampReq.load(query)
    fields = {
        "version": "v1",
        "message_imprint": request["message_imprint"].native,
        "nonce": request["nonce"].native,
        "cert_req": request["cert_req"].native,
    }
    for key, value in changes.items():
        if key == "hashed_message":
            fields["message_imprint"]["hashed_message"] = value
        else:
            fields[key] = value
    return tsp.TimeStampReq(fields).dump()


def test_http_tsa_stamps_through_openssl(openssl_tsa, tmp_path):
    config, cert_pem = openssl_tsa
    cert = x509.load_pem_x509_certificate(cert_pem)
    with OpenSSLHttpTSA(config) as server:
        tsa = HttpTSA(server.url, timeout=10, trusted_certs=[cert])
        token = tsa.stamp(DIGEST)
        second = tsa.stamp(DIGEST)
    assert token != second  # fresh nonce, serial and time
    info = verify_token(token, data=DATA, trusted_certs=[cert])
    assert info.message_imprint == DIGEST and info.hash_algorithm == "sha256"
    assert info.policy == "1.2.3.4.1" and info.nonce is not None
    (tmp_path / "token.tsr").write_bytes(token)
    (tmp_path / "ca.pem").write_bytes(cert_pem)
    (tmp_path / "data").write_bytes(DATA)
    for check in (["-data", str(tmp_path / "data")], ["-digest", DIGEST.hex()]):
        result = subprocess.run(["openssl", "ts", "-verify", *check, "-in", str(tmp_path / "token.tsr"),
                                 "-token_in", "-CAfile", str(tmp_path / "ca.pem")],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0 and "Verification: OK" in result.stdout, result.stderr


def test_a_rejection_raises_with_openssls_status_text(tmp_path):
    # This TSA accepts no SHA-256 imprints: OpenSSL itself answers with a rejection.
    config, _ = openssl_tsa_config(tmp_path, "sha384")
    with OpenSSLHttpTSA(config) as server:
        with pytest.raises(TSAError, match=r"rejection.*bad_alg|bad_alg.*rejection") as err:
            HttpTSA(server.url, timeout=10).stamp(DIGEST)
    assert "not supported" in str(err.value)


@pytest.mark.parametrize(("change", "message"), [
    ({"hashed_message": hashlib.sha256(b"someone else's document").digest()}, "different hash"),
    ({"nonce": 4242}, "nonce"),
])
def test_a_token_for_another_request_is_never_returned(openssl_tsa, change, message):
    config, _ = openssl_tsa
    with OpenSSLHttpTSA(config, rewrite=lambda q: _with(q, **change)) as server:
        with pytest.raises(TSAError, match=message):
            HttpTSA(server.url, timeout=10).stamp(DIGEST)


def test_http_errors_become_tsa_errors(openssl_tsa):
    config, _ = openssl_tsa
    with OpenSSLHttpTSA(config) as server:
        # the wrapper answers 415 to a wrong content type, as a real TSA front-end would
        with pytest.raises(TSAError, match="HTTP 415"):
            HttpTSA(server.url, timeout=10,
                    headers={"Content-Type": "application/octet-stream"}).stamp(DIGEST)
