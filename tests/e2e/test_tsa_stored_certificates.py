"""A home from before TSA pinning: the certificates its tokens carried are in the store, and are not anchors.

Before pinning, earsiv stored the certificate each external TSA token carried as
``keys/tsa-<sha256>.pem`` and trusted it on every later use, and a home had no record of
which stored certificate anyone had vouched for. The test makes such a home: real tokens
from OpenSSL's TSA, the token's own certificate in the store as the old code put it there
(``token_certificates``, the same call it used), no record of confirmation, and no TSA
configured any more. Today's code must not trust that certificate by itself: status names
it by fingerprint, verification refuses the tokens only it verifies, and the operator either
configures it as an anchor or confirms it explicitly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from earsiv.archive.stores.base import PutItem
from earsiv.archive.stores.local import LocalStore
from earsiv.archive.tsa.stored import CONFIRMED_FILE
from earsiv.archive.tsa.tokens import token_certificates
from tests.conftest import CORPUS
from tests.e2e.test_external_tsa import make_tsa, run, tsa_env
from tests.helpers.openssl_tsa import OpenSSLHttpTSA

DOC = CORPUS / "efatura/sk-fullboard_20251120150654847473.xml"
FOREVER = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)  # as the old code kept them


def _plain_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")}


def _old_home(home: Path, tmp_path: Path) -> tuple[str, Path]:
    """A home stamped by an external TSA, left as the code before pinning left it; (fingerprint, anchor file)."""
    config, anchor = make_tsa(tmp_path, "tsa")
    with OpenSSLHttpTSA(config) as tsa:
        run(home, tsa_env(tsa.url, anchor), "ingest", str(DOC))
    tokens = sorted((home / "store/objects/log/checkpoints").glob("*.tsr"))
    assert tokens
    # What the old code stored for every token: the certificate(s) it carried, under their sha256.
    store = LocalStore(home / "store")
    fingerprints = set()
    for token in tokens:
        for pem in token_certificates(token.read_bytes()):
            der = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
            fingerprints.add(hashlib.sha256(der).hexdigest())
            store.put_many([PutItem(f"keys/tsa-{hashlib.sha256(der).hexdigest()}.pem", pem, FOREVER)])
    store.close()
    # The old code kept no record of which stored certificate was ever vouched for.
    (home / "tsa" / CONFIRMED_FILE).unlink()
    [fingerprint] = fingerprints
    return fingerprint, anchor


def test_a_certificate_saved_from_tokens_is_not_an_anchor_until_confirmed(home, tmp_path):
    fingerprint, _anchor = _old_home(home, tmp_path)
    env = _plain_env()
    st = json.loads(run(home, env, "status", "--json").stdout)
    assert [c["sha256"] for c in st["tsa"]["unconfirmed"]] == [fingerprint]
    assert any(fingerprint in w and "earsiv tsa confirm" in w for w in st["tsa"]["warnings"]), st["tsa"]["warnings"]
    assert f"earsiv tsa confirm {fingerprint}" in run(home, env, "status").stdout.decode()
    # The tokens that only it verifies are not trusted.
    bad = run(home, env, "verify", "--all", check=1).stdout.decode()
    assert "time-stamp token" in bad, bad
    # A fingerprint that is not one of them is refused, and nothing changes.
    run(home, env, "tsa", "confirm", "00" * 32, check=2)
    assert json.loads(run(home, env, "status", "--json").stdout)["tsa"]["unconfirmed"]
    # Confirmed explicitly (after comparing it with what the TSA publishes): trusted, no warning.
    done = json.loads(run(home, env, "tsa", "confirm", fingerprint, "--json").stdout)
    assert done == {"confirmed": [fingerprint]}
    st = json.loads(run(home, env, "status", "--json").stdout)
    assert st["tsa"]["unconfirmed"] == [] and not any(fingerprint in w for w in st["tsa"]["warnings"])
    run(home, env, "verify", "--all")


def test_configuring_the_anchor_instead_also_trusts_it(home, tmp_path):
    fingerprint, anchor = _old_home(home, tmp_path)
    env = {**_plain_env(), "EARSIV_TSA_URL": "http://127.0.0.1:9/", "EARSIV_TSA_TRUST": str(anchor),
           "EARSIV_TSA_ALLOW_HTTP": "1"}
    st = json.loads(run(home, env, "status", "--json").stdout)
    assert st["tsa"]["unconfirmed"] == []
    assert fingerprint in [a["sha256"] for a in st["tsa"]["authorities"][0]["anchors"]]


def test_an_anchor_this_home_configured_stays_trusted_after_the_tsa_is_dropped(home, tmp_path):
    """Today's code records the anchors it stamped with: a home that stops using that TSA keeps verifying."""
    config, anchor = make_tsa(tmp_path, "tsa")
    with OpenSSLHttpTSA(config) as tsa:
        run(home, tsa_env(tsa.url, anchor), "ingest", str(DOC))
    assert (home / "tsa" / CONFIRMED_FILE).exists()
    st = json.loads(run(home, _plain_env(), "status", "--json").stdout)
    assert st["tsa"]["unconfirmed"] == []
    run(home, _plain_env(), "verify", "--all")
