"""The archive stamping through Kamu SM's protocol, against a test server started here
(tests/helpers/kamusm.py): the identity header, the encrypted password form, refusals inside
HTTP 200 answers. Every way it fails leaves the checkpoint unstamped with a message that says
what to do, and the same checkpoint is stamped once the cause is gone.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from earsiv.archive.archive import Archive
from earsiv.archive.errors import ConfigError
from earsiv.archive.sources import expand
from tests.conftest import CORPUS
from tests.helpers.kamusm import Account, KamuSMTestServer, decode_identity, make_tsa_ca

CUSTOMER, PASSWORD = 7412345, "zd-parola-ğüşİ"
DOC = CORPUS / "efatura/sk-fullboard_20251120150654847473.xml"


@pytest.fixture(scope="module")
def cas(tmp_path_factory):
    base = tmp_path_factory.mktemp("kamusm-ca")
    return {"real": make_tsa_ca(base / "real"), "impostor": make_tsa_ca(base / "impostor", "Kamu SM sahte")}


@pytest.fixture
def kamusm(cas):
    with KamuSMTestServer(cas["real"], {CUSTOMER: Account(PASSWORD, credit=50)}) as server:
        yield server


def kamusm_env(server: KamuSMTestServer, cas, *, customer=CUSTOMER, password=PASSWORD) -> dict[str, str]:
    return {"EARSIV_TSA_URL": server.url, "EARSIV_TSA_TRUST": str(cas["real"].parent / "root.pem"),
            "EARSIV_TSA_ALLOW_HTTP": "1", "EARSIV_TSA_KAMUSM_CUSTOMER": str(customer),
            "EARSIV_TSA_KAMUSM_PASSWORD": password}


def test_the_archive_stamps_through_kamusm_and_openssl_verifies_it_against_the_root(home, kamusm, cas, tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")}, **kamusm_env(kamusm, cas)}
    exe = Path(sys.executable).with_name("earsiv")

    def run(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(exe), "--home", str(home), *args], env=env, capture_output=True, timeout=300)
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
        return proc

    run("ingest", str(DOC))
    st = json.loads(run("status", "--json").stdout)
    assert st["last_checkpoint"]["stamped"] and st["pending"]["unstamped_checkpoints"] == 0
    [tsa] = st["tsa"]["authorities"]
    assert tsa["kamusm"] and tsa["anchors"][0]["subject"].startswith("CN=Kamu SM test Kok")
    # The server saw Kamu SM's header, made of this customer and password, over the stamped hash.
    header = kamusm.seen[-1]["identity"]
    customer, iterations, imprint = decode_identity(header, PASSWORD)
    assert (customer, iterations) == (CUSTOMER, 100) and len(imprint) == 32
    assert kamusm.accounts[CUSTOMER].credit == 50 - len(kamusm.seen)
    assert PASSWORD not in json.dumps(st) and PASSWORD not in header
    ev = tmp_path / "ev"
    run("evidence", hashlib.sha256(DOC.read_bytes()).hexdigest(), "-o", str(ev))
    # The anchor is the root, the token's signer is the TSA certificate under it.
    assert (ev / "tsa-anchors.pem").read_bytes() == (cas["real"].parent / "root.pem").read_bytes()
    out = subprocess.run(["openssl", "ts", "-verify", "-data", "checkpoint.txt", "-in", "checkpoint.tsr", "-token_in",
                          "-CAfile", "tsa-anchors.pem", "-partial_chain"], cwd=ev, capture_output=True, text=True)
    assert "Verification: OK" in out.stdout, out.stdout + out.stderr
    other = subprocess.run(["openssl", "ts", "-verify", "-data", "checkpoint.txt", "-in", "checkpoint.tsr", "-token_in",
                            "-CAfile", str(cas["impostor"].parent / "root.pem")], cwd=ev, capture_output=True, text=True)
    assert "Verification: OK" not in other.stdout


def _ingest(arch: Archive) -> None:
    list(arch.ingest(expand([DOC], max_file_bytes=arch.config.max_document_bytes)))
    arch.checkpoint()


def _failure(home, monkeypatch, env: dict[str, str]) -> tuple[Archive, str]:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    arch = Archive.open(home)
    _ingest(arch)
    st = arch.status().to_json()
    assert st["pending"]["unstamped_checkpoints"] == 1 and st["last_checkpoint"]["stamped"] is False
    assert st["last_stamp_attempt"]["ok"] is False and st["pending"]["oldest_unstamped"]
    return arch, st["last_stamp_attempt"]["error"]


def _recovers(arch: Archive, monkeypatch, env: dict[str, str]) -> None:
    """The cause gone, the same checkpoint is stamped on the next run."""
    arch.close()
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    arch = Archive.open(arch.home)
    try:
        arch.checkpoint()
        st = arch.status().to_json()
        assert st["pending"]["unstamped_checkpoints"] == 0 and st["last_checkpoint"]["stamped"], st
    finally:
        arch.close()


@pytest.mark.parametrize(("change", "expected"), [
    ({"EARSIV_TSA_KAMUSM_PASSWORD": "yanlis"}, ["authentication failed", "EARSIV_TSA_KAMUSM_PASSWORD"]),
    ({"EARSIV_TSA_KAMUSM_CUSTOMER": "999"}, ["customer 999 not found", "EARSIV_TSA_KAMUSM_CUSTOMER"]),
])
def test_wrong_credentials_are_named(home, kamusm, cas, monkeypatch, change, expected):
    arch, error = _failure(home, monkeypatch, {**kamusm_env(kamusm, cas), **change})
    for text in ["Kamu SM", "request refused", *expected]:
        assert text in error, error
    assert PASSWORD not in error
    _recovers(arch, monkeypatch, kamusm_env(kamusm, cas))


def test_no_credit_left_is_named_and_stamping_resumes_when_bought(home, kamusm, cas, monkeypatch):
    kamusm.accounts[CUSTOMER].credit = 0
    arch, error = _failure(home, monkeypatch, kamusm_env(kamusm, cas))
    assert "no time-stamp credit left" in error and "stamps (credit) left" in error, error
    kamusm.accounts[CUSTOMER].credit = 5
    _recovers(arch, monkeypatch, {})


def test_an_answer_that_is_not_a_time_stamp_reply_shows_its_text(home, kamusm, cas, monkeypatch):
    kamusm.maintenance = True
    arch, error = _failure(home, monkeypatch, kamusm_env(kamusm, cas))
    assert "service under maintenance" in error and "not a TimeStampResp" in error, error
    kamusm.maintenance = False
    _recovers(arch, monkeypatch, {})


def test_a_token_under_another_root_is_refused(home, kamusm, cas, monkeypatch):
    real = kamusm.config
    kamusm.config = cas["impostor"]  # the same protocol and account, another signer
    arch, error = _failure(home, monkeypatch, kamusm_env(kamusm, cas))
    assert "does not verify against this TSA's configured trust anchors" in error and "EARSIV_TSA_TRUST" in error
    assert not any(k.endswith(".tsr") for k in arch.store.list("log/checkpoints/"))
    kamusm.config = real
    _recovers(arch, monkeypatch, {})


def test_a_service_that_does_not_answer_is_named(home, cas, monkeypatch):
    with KamuSMTestServer(cas["real"], {CUSTOMER: Account(PASSWORD, credit=5)}) as gone:
        env = kamusm_env(gone, cas)
    arch, error = _failure(home, monkeypatch, env)  # the server is shut down now
    assert "cannot reach" in error and "did not answer" in error, error
    arch.close()


def test_kamusm_without_credentials_or_over_plain_http_is_a_configuration_error(home, kamusm, cas, monkeypatch):
    env = kamusm_env(kamusm, cas)
    env.pop("EARSIV_TSA_KAMUSM_PASSWORD")
    monkeypatch.delenv("EARSIV_TSA_KAMUSM_PASSWORD", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    arch, error = _failure(home, monkeypatch, env)  # stored and signed; the stamp is what cannot be asked for
    assert "needs EARSIV_TSA_KAMUSM_CUSTOMER (your customer number, digits) and EARSIV_TSA_KAMUSM_PASSWORD" in error
    arch.close()
    monkeypatch.setenv("EARSIV_TSA_ALLOW_HTTP", "0")
    with pytest.raises(ConfigError, match="plain http://.*EARSIV_TSA_ALLOW_HTTP=1"):
        Archive.open(home)
