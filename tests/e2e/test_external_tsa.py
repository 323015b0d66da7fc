"""The archive stamping its checkpoints with an external RFC 3161 TSA (EARSIV_TSA_URL).

The TSA is OpenSSL's own (`openssl ts -reply`) behind HTTP on 127.0.0.1: a producer of
tokens that shares no code with earsiv.
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


def run(home: Path, env: dict, *args: str, check: int = 0) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("earsiv")
    proc = subprocess.run([str(exe), "--home", str(home), *args], env=env, capture_output=True, timeout=300)
    assert proc.returncode == check, proc.stderr.decode()[-2000:]
    return proc


def test_checkpoints_are_stamped_by_the_configured_tsa_and_verify_with_openssl(home, tmp_path):
    (tmp_path / "tsa").mkdir()
    config, cert_pem = openssl_tsa_config(tmp_path / "tsa", "sha256")
    with OpenSSLHttpTSA(config) as tsa:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")}
        env["EARSIV_TSA_URL"] = tsa.url
        run(home, env, "ingest", str(CORPUS / "efatura/sk-fullboard_20251120150654847473.xml"))
        st = json.loads(run(home, env, "status", "--json").stdout)
        assert st["last_checkpoint"]["stamped"] and st["last_checkpoint"]["tsa"] == tsa.url
        digest = hashlib.sha256((CORPUS / "efatura/sk-fullboard_20251120150654847473.xml").read_bytes()).hexdigest()
        ev = tmp_path / "ev"
        run(home, env, "evidence", digest, "-o", str(ev))
    # Verified against the TSA's own certificate, not one earsiv wrote.
    (tmp_path / "tsa-ca.pem").write_bytes(cert_pem)
    out = subprocess.run(["openssl", "ts", "-verify", "-data", "checkpoint.txt", "-in", "checkpoint.tsr", "-token_in",
                          "-CAfile", str(tmp_path / "tsa-ca.pem")], cwd=ev, capture_output=True, text=True)
    assert "Verification: OK" in out.stdout, out.stdout + out.stderr
    assert (ev / "tsa-cert.pem").read_bytes().strip() == cert_pem.strip()
    # The store now holds that certificate, so verification works without the TSA.
    assert run(home, env, "verify", "--all", "--json").returncode == 0


def test_an_unreachable_tsa_leaves_the_checkpoint_unstamped_and_says_so(home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")}
    env["EARSIV_TSA_URL"] = "http://127.0.0.1:9/tsa"  # discard port: nothing answers
    proc = run(home, env, "ingest", str(CORPUS / "efatura/gib121_HASTANE.xml"), check=3)
    assert b"127.0.0.1:9" in proc.stderr
    # The document was stored and acknowledged durably before the stamp was tried.
    env.pop("EARSIV_TSA_URL")
    st = json.loads(run(home, env, "status", "--json").stdout)
    assert st["documents"] == 1
    assert st["pending"]["unstamped_checkpoints"] == 1
