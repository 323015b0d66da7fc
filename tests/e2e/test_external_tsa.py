"""The archive stamping its checkpoints with external RFC 3161 TSAs, trusted through the anchors
the operator configured (EARSIV_TSA_URL, EARSIV_TSA_TRUST, [[tsa.also]]).

The TSAs are OpenSSL's own (`openssl ts -reply`) behind HTTP on 127.0.0.1: producers of tokens
that share no code with earsiv. OpenSSL is also the verifier the evidence README sends people to.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import CORPUS
from tests.helpers.openssl_tsa import OpenSSLHttpTSA, openssl_tsa_config

DOC = CORPUS / "efatura/sk-fullboard_20251120150654847473.xml"
OTHER = CORPUS / "efatura/gib121_HASTANE.xml"


def run(home: Path, env: dict, *args: str, check: int = 0) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("earsiv")
    proc = subprocess.run([str(exe), "--home", str(home), *args], env=env, capture_output=True, timeout=300)
    assert proc.returncode == check, proc.stderr.decode()[-2000:]
    return proc


def tsa_env(url: str, trust: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")}
    env.update(EARSIV_TSA_URL=url, EARSIV_TSA_TRUST=str(trust), EARSIV_TSA_ALLOW_HTTP="1")
    return env


def openssl_ts_verify(folder: Path, token: str, ca: str, data: str = "checkpoint.txt") -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", "ts", "-verify", "-data", data, "-in", token, "-token_in", "-CAfile", ca,
                           "-partial_chain"], cwd=folder, capture_output=True, text=True, timeout=60)


def make_tsa(tmp_path: Path, name: str) -> tuple[Path, Path]:
    (tmp_path / name).mkdir()
    config, cert_pem = openssl_tsa_config(tmp_path / name, "sha256")
    (tmp_path / f"{name}-anchor.pem").write_bytes(cert_pem)
    return config, tmp_path / f"{name}-anchor.pem"


def test_checkpoints_are_stamped_by_the_configured_tsa_and_the_readme_verifies_with_openssl(home, tmp_path):
    config, anchor = make_tsa(tmp_path, "tsa")
    with OpenSSLHttpTSA(config) as tsa:
        env = tsa_env(tsa.url, anchor)
        run(home, env, "ingest", str(DOC))
        st = json.loads(run(home, env, "status", "--json").stdout)
        assert st["last_checkpoint"]["stamped"] and st["last_checkpoint"]["tsa"] == tsa.url
        [configured] = st["tsa"]["authorities"]
        assert configured["url"] == tsa.url and configured["anchors"][0]["subject"] == "CN=openssl integration TSA"
        # The test TSA's certificate lives 30 days: both as anchor and as signer, status warns.
        assert [w.split(" expires on ")[0] for w in st["tsa"]["warnings"]] == [
            f"trust anchor CN=openssl integration TSA of {tsa.url}",
            "the certificate the newest stamp was made under (CN=openssl integration TSA)"], st["tsa"]["warnings"]
        assert "warning:          trust anchor CN=openssl integration TSA" in run(home, env, "status").stdout.decode()
        ev = tmp_path / "ev"
        run(home, env, "evidence", hashlib.sha256(DOC.read_bytes()).hexdigest(), "-o", str(ev))
    # The folder's anchors are the configured ones, byte for byte, and its README's command works.
    assert (ev / "tsa-anchors.pem").read_bytes().strip() == anchor.read_bytes().strip()
    assert not (ev / "tsa-cert.pem").exists()
    readme = (ev / "README.txt").read_text()
    assert "-CAfile tsa-anchors.pem -partial_chain" in readme
    out = openssl_ts_verify(ev, "checkpoint.tsr", "tsa-anchors.pem")
    assert "Verification: OK" in out.stdout, out.stdout + out.stderr
    # README step 0: the fingerprints it asks to compare are the real ones.
    fp = subprocess.run(["openssl", "x509", "-in", "tsa-anchors.pem", "-noout", "-fingerprint", "-sha256"], cwd=ev,
                        capture_output=True, text=True, check=True).stdout.split("=", 1)[1].strip()
    assert fp.replace(":", "").lower() in readme
    key_der = subprocess.run(["openssl", "pkey", "-pubin", "-in", "archive-key.pem", "-outform", "DER"], cwd=ev,
                             capture_output=True, check=True).stdout
    assert hashlib.sha256(key_der).hexdigest() == st["key_fingerprint"]
    assert f"archive key fingerprint you hold ({st['key_fingerprint']})" in readme
    # The store now holds the anchor, so verification works without the TSA.
    env.pop("EARSIV_TSA_URL")
    assert run(home, env, "verify", "--all", "--json").returncode == 0


def test_a_token_from_a_tsa_that_does_not_chain_to_the_anchors_is_refused_and_retried(home, tmp_path):
    config, impostor_anchor = make_tsa(tmp_path, "impostor")
    _real_config, real_anchor = make_tsa(tmp_path, "real")
    with OpenSSLHttpTSA(config) as impostor:
        # The URL answers, with well-formed tokens for the right hash, but signed by someone else.
        env = tsa_env(impostor.url, real_anchor)
        proc = run(home, env, "ingest", str(DOC), check=3)
        assert b"does not verify against this TSA's configured trust anchors" in proc.stderr
        st = json.loads(run(home, env, "status", "--json").stdout)
        assert st["documents"] == 1  # acknowledged; only the stamp waits
        assert st["pending"]["unstamped_checkpoints"] == 1 and st["pending"]["oldest_unstamped"]
        assert st["last_checkpoint"]["stamped"] is False
        assert "trust anchors" in st["last_stamp_attempt"]["error"]
        text = run(home, env, "status").stdout.decode()
        assert "NOT STAMPED YET" in text and "last stamp:       FAILED" in text
        # Nothing of the impostor became trusted: no token, no certificate in the store.
        objects = home / "store" / "objects"
        assert not list((objects / "log" / "checkpoints").glob("*.tsr"))
        assert len(list((objects / "keys").glob("tsa-*.pem"))) == 1  # the built-in TSA's, from init
        # The operator trusts the right anchor (here: this TSA, having checked it): the same
        # checkpoint is stamped on the next run, oldest first.
        (tmp_path / "fixed.pem").write_bytes(impostor_anchor.read_bytes())
        env["EARSIV_TSA_TRUST"] = str(tmp_path / "fixed.pem")
        run(home, env, "ingest", str(OTHER))
        st = json.loads(run(home, env, "status", "--json").stdout)
        assert st["pending"]["unstamped_checkpoints"] == 0 and st["pending"]["oldest_unstamped"] is None
        assert st["last_stamp_attempt"]["ok"] is True


def test_two_independent_tsas_stamp_each_checkpoint_and_both_tokens_verify_with_openssl(home, tmp_path):
    config_a, anchor_a = make_tsa(tmp_path, "a")
    config_b, anchor_b = make_tsa(tmp_path, "b")
    with OpenSSLHttpTSA(config_a) as a, OpenSSLHttpTSA(config_b) as b:
        path = home / "config.toml"
        path.write_text(path.read_text().replace("stamps = 1\n", (
            f'stamps = 2\n[[tsa.also]]\nurl = "{b.url}"\ntrust = "{anchor_b}"\n')))
        env = tsa_env(a.url, anchor_a)
        run(home, env, "ingest", str(DOC))
        st = json.loads(run(home, env, "status", "--json").stdout)
        assert st["tsa"]["stamps"] == 2 and [t["url"] for t in st["tsa"]["authorities"]] == [a.url, b.url]
        assert st["last_checkpoint"]["stamped"] and st["last_checkpoint"]["second_stamp"] is True
        ev = tmp_path / "ev"
        run(home, env, "evidence", hashlib.sha256(DOC.read_bytes()).hexdigest(), "-o", str(ev))
        # The audit checks the second token like the first: intact, then damaged and named.
        assert json.loads(run(home, env, "audit", "--json").stdout)["ok"]
        second = min((home / "store" / "objects" / "log" / "checkpoints").glob("*.tsr2"))
        second.chmod(0o644)
        damaged = bytearray(second.read_bytes())
        damaged[len(damaged) // 2] ^= 0x01
        original, _ = second.read_bytes(), second.write_bytes(bytes(damaged))
        found = json.loads(run(home, env, "audit", "--restart", "--json", check=1).stdout)
        assert [f["object"] for f in found["failures"]] == [f"log/checkpoints/{second.name}"], found["failures"]
        assert "second time-stamp" in found["failures"][0]["subject"], found["failures"]
        second.write_bytes(original)
    # Each token verifies against its own TSA's anchor only: two independent stamps.
    (ev / "a.pem").write_bytes(anchor_a.read_bytes())
    (ev / "b.pem").write_bytes(anchor_b.read_bytes())
    assert "Verification: OK" in openssl_ts_verify(ev, "checkpoint.tsr", "a.pem").stdout
    assert "Verification: OK" in openssl_ts_verify(ev, "checkpoint.tsr2", "b.pem").stdout
    assert "Verification: OK" not in openssl_ts_verify(ev, "checkpoint.tsr2", "a.pem").stdout
    # The folder's anchors hold both, and its README checks both tokens with them.
    for token in ("checkpoint.tsr", "checkpoint.tsr2"):
        assert "Verification: OK" in openssl_ts_verify(ev, token, "tsa-anchors.pem").stdout
    assert "-in checkpoint.tsr2 -token_in -CAfile tsa-anchors.pem" in (ev / "README.txt").read_text()


def test_two_stamps_wait_for_the_second_tsa_and_say_so(home, tmp_path):
    config_a, anchor_a = make_tsa(tmp_path, "a")
    _config_b, anchor_b = make_tsa(tmp_path, "b")
    with OpenSSLHttpTSA(config_a) as a:
        path = home / "config.toml"
        path.write_text(path.read_text().replace("stamps = 1\n", (
            f'stamps = 2\n[[tsa.also]]\nurl = "http://127.0.0.1:9/tsa"\ntrust = "{anchor_b}"\n')))
        env = tsa_env(a.url, anchor_a)
        proc = run(home, env, "ingest", str(DOC), check=3)
        assert b"127.0.0.1:9" in proc.stderr
        st = json.loads(run(home, env, "status", "--json").stdout)
        # The first token is kept; the checkpoint counts as unstamped until the second comes,
        # also after the index is rebuilt from the store.
        assert st["pending"]["unstamped_checkpoints"] == 1
        assert st["last_checkpoint"]["second_stamp"] is False
        assert list((home / "store" / "objects" / "log" / "checkpoints").glob("*.tsr"))
        proc = run(home, env, "reindex")  # it retries the stamp, which fails again, and says so
        assert b"is not time-stamped yet" in proc.stderr
        assert json.loads(run(home, env, "status", "--json").stdout)["pending"]["unstamped_checkpoints"] == 1


def test_an_unreachable_tsa_leaves_the_checkpoint_unstamped_and_says_so(home, tmp_path):
    _config, anchor = make_tsa(tmp_path, "tsa")
    env = tsa_env("http://127.0.0.1:9/tsa", anchor)  # discard port: nothing answers
    proc = run(home, env, "ingest", str(OTHER), check=3)
    assert b"127.0.0.1:9" in proc.stderr
    # The document was stored and acknowledged durably before the stamp was tried.
    env.pop("EARSIV_TSA_URL")
    st = json.loads(run(home, env, "status", "--json").stdout)
    assert st["documents"] == 1
    assert st["pending"]["unstamped_checkpoints"] == 1


def test_a_plain_http_tsa_needs_the_explicit_setting(home, tmp_path):
    _config, anchor = make_tsa(tmp_path, "tsa")
    env = tsa_env("http://127.0.0.1:9/tsa", anchor)
    env.pop("EARSIV_TSA_ALLOW_HTTP")
    proc = run(home, env, "status", check=2)
    assert b"EARSIV_TSA_ALLOW_HTTP=1" in proc.stderr
