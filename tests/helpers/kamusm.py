"""A stand-in for Kamu SM's time-stamp service (zd.kamusm.gov.tr) on 127.0.0.1, speaking its
protocol as its public clients do (LAW.md, "Timestamps in Turkey"):

- an RFC 3161 TimeStampReq POSTed as ``application/timestamp-query``;
- an ``identity`` header: the hex of a DER SEQUENCE {customer number, salt, iteration count,
  IV, AES-256-CBC(message imprint) under PBKDF2-HMAC-SHA256(password, salt, iterations)};
- every answer is HTTP 200, refusals included: a TimeStampResp with status ``rejection`` and
  a text, or (as the real service does for some errors) a body that is not a TimeStampResp.

The header is decoded with pyasn1, not asn1crypto (earsiv's), so the two sides share no
ASN.1 code; tokens are made by ``openssl ts -reply`` under a test CA (root → TSA
certificate), so the archive trusts them through a CA anchor as it would trust Kamu SM's root.
The refusal texts are this server's, not Kamu SM's verbatim: the client shows whatever text
comes back.
"""

from __future__ import annotations

import http.server
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from asn1crypto import core, tsp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

__all__ = ["Account", "KamuSMTestServer", "decode_identity", "make_tsa_ca"]


@dataclass
class Account:
    password: str
    credit: int  # stamps bought and not yet used


def decode_identity(header: str, password: str) -> tuple[int, int, bytes]:
    """(customer, iterations, decrypted imprint) as Kamu SM reads the header; ValueError if it cannot."""
    from pyasn1.codec.der import decoder
    from pyasn1.error import PyAsn1Error

    try:
        seq, rest = decoder.decode(bytes.fromhex(header))
        customer, salt, iterations, iv, encrypted = (seq[i] for i in range(5))
    except (PyAsn1Error, ValueError, IndexError) as exc:
        raise ValueError(f"identity is not an ESYAReqEx: {exc}") from exc
    if rest:
        raise ValueError("bytes after the identity structure")
    salt, iv, encrypted = bytes(salt), bytes(iv), bytes(encrypted)
    key = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt,
                     iterations=int(iterations)).derive(password.encode("utf-8"))
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(encrypted) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= 16 or padded[-pad:] != bytes([pad]) * pad:
        raise ValueError("bad padding: wrong password")
    return int(customer), int(iterations), padded[:-pad]


def _customer_of(header: str) -> int:
    from pyasn1.codec.der import decoder
    from pyasn1.error import PyAsn1Error

    try:
        return int(decoder.decode(bytes.fromhex(header))[0][0])
    except (PyAsn1Error, ValueError, IndexError, TypeError) as exc:
        raise ValueError(str(exc)) from exc


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_tsa_ca(directory: Path, name: str = "Kamu SM test") -> Path:
    """A root CA and a TSA certificate it issued, with an ``openssl ts`` config; returns the config.

    ``directory/root.pem`` is what an archive configures as the anchor.
    """
    directory.mkdir(parents=True, exist_ok=True)
    d = str(directory)
    _openssl("req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{d}/root.key",
             "-out", f"{d}/root.pem", "-days", "60", "-subj", f"/C=TR/O={name}/CN={name} Kok Sertifikasi",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{d}/tsa.key", "-out", f"{d}/tsa.csr",
             "-subj", f"/C=TR/O={name}/CN={name} Zaman Damgasi")
    (directory / "ext.cnf").write_text("basicConstraints = critical,CA:FALSE\n"
                                       "keyUsage = critical,digitalSignature,nonRepudiation\n"
                                       "extendedKeyUsage = critical,timeStamping\n"
                                       "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n")
    _openssl("x509", "-req", "-in", f"{d}/tsa.csr", "-CA", f"{d}/root.pem", "-CAkey", f"{d}/root.key",
             "-set_serial", "4242", "-out", f"{d}/tsa.pem", "-days", "30", "-extfile", f"{d}/ext.cnf")
    (directory / "serial").write_text("01\n")
    config = directory / "ts.cnf"
    config.write_text(
        f"[tsa]\ndefault_tsa = t\n[t]\nserial = {d}/serial\ncrypto_device = builtin\n"
        f"signer_cert = {d}/tsa.pem\nsigner_key = {d}/tsa.key\nsigner_digest = sha256\n"
        "default_policy = 2.16.792.1.2.1.1.5.7.3.1\ndigests = sha256, sha384, sha512\naccuracy = secs:1\n"
        "ordering = no\ntsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n")
    return config


class KamuSMTestServer:
    """Kamu SM's protocol on http://127.0.0.1:<port>/; ``accounts`` maps customer numbers to accounts.

    ``maintenance`` makes every answer an HTML page (HTTP 200); ``config`` is the ``openssl ts``
    configuration that signs (swap it for another CA's to play an impostor).
    """

    def __init__(self, config: Path, accounts: dict[int, Account]) -> None:
        self.config = config
        self.accounts = accounts
        self.maintenance = False
        self.seen: list[dict[str, str]] = []
        self.lock = threading.Lock()  # openssl's serial file and the credit are not safe for concurrent use
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.seen.append({k.lower(): v for k, v in self.headers.items()})
                if outer.maintenance:
                    reply, kind = b"<html><body>Sistem bakimda / service under maintenance</body></html>", "text/html"
                else:
                    reply, kind = outer.answer(self.headers, body), "application/timestamp-reply"
                self.send_response(200)  # Kamu SM answers 200 even when it refuses
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, headers, body: bytes) -> bytes:
        try:
            imprint = tsp.TimeStampReq.load(body)["message_imprint"]["hashed_message"].native
        except (ValueError, TypeError):
            return _refusal("Istek cozulemedi / the request is not a TimeStampReq")
        identity = headers.get("identity")
        if headers.get("Content-Type") != "application/timestamp-query" or not identity:
            return _refusal("Kimlik bilgisi yok / no identity header")
        try:  # the customer number is readable without the password; the rest is not
            customer = _customer_of(identity)
        except ValueError:
            return _refusal("Kimlik bilgisi cozulemedi / identity cannot be read")
        account = self.accounts.get(customer)
        if account is None:
            return _refusal(f"Musteri {customer} bulunamadi / customer {customer} not found")
        try:
            _, iterations, decrypted = decode_identity(identity, account.password)
        except ValueError:
            return _refusal("Kimlik dogrulanamadi / authentication failed")
        if iterations != 100 or decrypted != imprint:
            return _refusal("Kimlik dogrulanamadi / authentication failed")
        with self.lock:
            if account.credit <= 0:
                return _refusal("Kontor yetersiz / no time-stamp credit left")
            account.credit -= 1
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "q.tsq").write_bytes(body)
                subprocess.run(["openssl", "ts", "-reply", "-queryfile", f"{tmp}/q.tsq", "-config", str(self.config),
                                "-out", f"{tmp}/r.tsr"], check=True, capture_output=True, timeout=30)
                return (Path(tmp) / "r.tsr").read_bytes()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class _Resp(core.Sequence):
    _fields: ClassVar = [("status", tsp.PKIStatusInfo)]


def _refusal(text: str) -> bytes:
    return _Resp({"status": {"status": "rejection", "status_string": [text],
                                     "fail_info": tsp.PKIFailureInfo({"bad_request"})}}).dump()
