"""The printable key certificate: the fingerprint on paper that packages are checked against.

openssl computes the fingerprints from the PEM printed on the page and from the store's key
file; the page, `status` and the store must agree, and the page's own command must print it.
"""

from __future__ import annotations

import hashlib
import re
import subprocess

from tests.conftest import Cli


def _openssl_key_id(pem: bytes) -> str:
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pem, capture_output=True,
                         check=True).stdout
    return hashlib.sha256(der).hexdigest()


def test_the_key_certificate_shows_the_fingerprint_of_the_key_that_signs(home, tmp_path):
    cli = Cli(home)
    page = tmp_path / "key-certificate.txt"
    cli.run("key-certificate", "-o", str(page))
    text = page.read_text()
    grouped = re.search(r"hexadecimal,\n\n((?:    (?:[0-9a-f]{4} ){3}[0-9a-f]{4}\n){4})", text)
    assert grouped, text
    fingerprint = grouped.group(1).replace(" ", "").replace("\n", "")
    pem = re.search(rb"-----BEGIN PUBLIC KEY-----\n.*?-----END PUBLIC KEY-----\n", text.encode(), re.DOTALL).group(0)
    assert _openssl_key_id(pem) == fingerprint
    assert cli.json("status")["key_fingerprint"] == fingerprint
    stored = home / "store" / "objects" / "keys" / f"{fingerprint}.pem"
    assert _openssl_key_id(stored.read_bytes()) == fingerprint  # the key checkpoints name is this one
    assert f"--key-fingerprint {fingerprint}" in text
    # The built-in TSA's certificate, so a package's tsa-anchors.pem can be compared too.
    tsa = subprocess.run(["openssl", "x509", "-in", str(home / "tsa" / "tsa-cert.pem"), "-noout", "-fingerprint",
                          "-sha256"], capture_output=True, text=True, check=True).stdout
    assert f"sha256 {tsa.split('=', 1)[1].strip().replace(':', '').lower()}" in text
    # Printed to stdout without -o.
    assert cli.run("key-certificate").stdout.decode().split("Printed")[0] == text.split("Printed")[0]
