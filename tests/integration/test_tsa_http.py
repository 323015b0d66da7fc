"""`HttpTSA` against a real RFC 3161 server: OpenSSL's TSA behind a small HTTP wrapper.

The wrapper is `http.server` on 127.0.0.1 that pipes each request body into
``openssl ts -reply -queryfile ... -config ...`` and sends back what OpenSSL wrote. Two
misbehaving variants rewrite the query before OpenSSL sees it (another imprint, another
nonce), so the reply is a genuine, validly signed token that answers a different request:
the client must refuse it, never return it as a success.
"""

from __future__ import annotations

import hashlib
import http.server
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from asn1crypto import tsp
from cryptography import x509

from earsiv.archive.errors import TSAError
from earsiv.archive.tsa import HttpTSA
from earsiv.archive.tsa_verify import verify_token

DATA = b"checkpoint 7 over 1024 leaves\n"
DIGEST = hashlib.sha256(DATA).digest()


def _openssl_tsa(directory: Path, digests: str) -> tuple[Path, bytes]:
    (directory / "req.cnf").write_text(
        "[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = ext\n"
        "[dn]\nCN = openssl integration TSA\n"
        "[ext]\nbasicConstraints = critical,CA:FALSE\n"
        "keyUsage = critical,digitalSignature,nonRepudiation\n"
        "extendedKeyUsage = critical,timeStamping\nsubjectKeyIdentifier = hash\n")
    subprocess.run(["openssl", "req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(directory / "key.pem"), "-out", str(directory / "cert.pem"),
                    "-days", "30", "-config", str(directory / "req.cnf")],
                   check=True, capture_output=True, timeout=60)
    (directory / "serial").write_text("01\n")
    config = directory / "ts.cnf"
    config.write_text(
        f"[tsa]\ndefault_tsa = t\n[t]\nserial = {directory}/serial\ncrypto_device = builtin\n"
        f"signer_cert = {directory}/cert.pem\nsigner_key = {directory}/key.pem\n"
        f"signer_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = {digests}\n"
        "accuracy = secs:1\nordering = no\ntsa_name = yes\ness_cert_id_chain = no\n"
        "ess_cert_id_alg = sha256\n")
    return config, (directory / "cert.pem").read_bytes()


class OpenSSLHttpTSA:
    """OpenSSL's TSA on http://127.0.0.1:<random port>/, optionally rewriting queries."""

    def __init__(self, config: Path, rewrite: Callable[[bytes], bytes] | None = None) -> None:
        outer = self
        self.config = config
        self.rewrite = rewrite
        self.lock = threading.Lock()  # openssl's serial file is not safe for concurrent use

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                query = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Type") != "application/timestamp-query":
                    self.send_error(415)
                    return
                reply = outer.reply(query)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tsa"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def reply(self, query: bytes) -> bytes:
        if self.rewrite:
            query = self.rewrite(query)
        with self.lock, tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "q.tsq").write_bytes(query)
            subprocess.run(["openssl", "ts", "-reply", "-queryfile", f"{tmp}/q.tsq",
                            "-config", str(self.config), "-out", f"{tmp}/r.tsr"],
                           check=True, capture_output=True, timeout=30)
            return (Path(tmp) / "r.tsr").read_bytes()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def openssl_tsa(tmp_path_factory):
    return _openssl_tsa(tmp_path_factory.mktemp("openssl-tsa"), "sha256, sha384, sha512")


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
    config, _ = _openssl_tsa(tmp_path, "sha384")
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
