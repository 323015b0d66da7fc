"""OpenSSL's own TSA (`openssl ts -reply`) behind a small HTTP server on 127.0.0.1: an
independent RFC 3161 producer for tests."""

from __future__ import annotations

import http.server
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["OpenSSLHttpTSA", "openssl_tsa_config"]


def openssl_tsa_config(directory: Path, digests: str, *, signer_digest: str = "sha256",
                       days: int = 30) -> tuple[Path, bytes]:
    (directory / "req.cnf").write_text(
        "[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = ext\n"
        "[dn]\nCN = openssl integration TSA\n"
        "[ext]\nbasicConstraints = critical,CA:FALSE\n"
        "keyUsage = critical,digitalSignature,nonRepudiation\n"
        "extendedKeyUsage = critical,timeStamping\nsubjectKeyIdentifier = hash\n")
    subprocess.run(["openssl", "req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(directory / "key.pem"), "-out", str(directory / "cert.pem"),
                    "-days", str(days), "-config", str(directory / "req.cnf")],
                   check=True, capture_output=True, timeout=60)
    (directory / "serial").write_text("01\n")
    config = directory / "ts.cnf"
    config.write_text(
        f"[tsa]\ndefault_tsa = t\n[t]\nserial = {directory}/serial\ncrypto_device = builtin\n"
        f"signer_cert = {directory}/cert.pem\nsigner_key = {directory}/key.pem\n"
        f"signer_digest = {signer_digest}\ndefault_policy = 1.2.3.4.1\ndigests = {digests}\n"
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


