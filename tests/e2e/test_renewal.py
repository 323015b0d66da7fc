"""`earsiv renew`: the stamps whose certificate expires within 180 days are stamped again, all
under one token over a hash tree, and evidence carries the chain with commands openssl runs.

TSA A (OpenSSL, a 30-day certificate) stamps the checkpoints; the operator then configures TSA
B (a 10-year certificate) and renews. OpenSSL verifies the renewal token against B's anchor.
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

DOCS = [CORPUS / "efatura/sk-fullboard_20251120150654847473.xml", CORPUS / "efatura/gib121_HASTANE.xml"]


def run(home: Path, env: dict, *args: str, check: int = 0) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("earsiv")
    proc = subprocess.run([str(exe), "--home", str(home), *args], env=env, capture_output=True, timeout=300)
    assert proc.returncode == check, proc.stderr.decode()[-2000:]
    return proc


def tsa(tmp_path: Path, name: str, days: int) -> tuple[Path, Path]:
    (tmp_path / name).mkdir()
    config, cert = openssl_tsa_config(tmp_path / name, "sha256", days=days)
    (tmp_path / f"{name}.pem").write_bytes(cert)
    return config, tmp_path / f"{name}.pem"


def env_for(url: str, anchor: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")}
    env.update(EARSIV_TSA_URL=url, EARSIV_TSA_TRUST=str(anchor), EARSIV_TSA_ALLOW_HTTP="1")
    return env


def test_stamps_that_expire_soon_are_renewed_in_one_stamp_and_evidence_carries_the_chain(home, tmp_path):
    config_a, anchor_a = tsa(tmp_path, "a", 30)
    config_b, anchor_b = tsa(tmp_path, "b", 3650)
    with OpenSSLHttpTSA(config_a) as a:
        env = env_for(a.url, anchor_a)
        for doc in DOCS:  # one checkpoint each
            run(home, env, "ingest", str(doc))
    with OpenSSLHttpTSA(config_b) as b:
        env = env_for(b.url, anchor_b)
        done = json.loads(run(home, env, "renew", "--json").stdout)
        objects = home / "store" / "objects"
        stamped = sorted(p.name[:-4] for p in (objects / "log/checkpoints").glob("*.tsr"))
        assert done["renewal"] == 1 and done["checkpoints"] == len(stamped) >= 2
        # B's certificate lives ten years: nothing left to renew, and no stamp is paid for.
        assert json.loads(run(home, env, "renew", "--json").stdout) == {"renewal": None, "checkpoints": 0}
        assert not (objects / "log/renewals/0000000000000002.json").exists()
        ev = tmp_path / "ev"
        run(home, env, "evidence", hashlib.sha256(DOCS[0].read_bytes()).hexdigest(), "-o", str(ev))
        shown = json.loads(run(home, env, "show", hashlib.sha256(DOCS[0].read_bytes()).hexdigest(), "--json").stdout)
        package = tmp_path / "p.zip"
        day = shown["issue_date"]
        run(home, env, "package", "--vkn", shown["supplier_id"], "--from", day, "--to", day,
            "-o", str(package))
    _package_carries_the_renewals(package, tmp_path, home)
    # The renewal token stamps the root of its tree; openssl checks it against B's anchor only.
    renewal = json.loads((objects / "log/renewals/0000000000000001.json").read_text())
    assert [i["checkpoint"] for i in renewal["items"]] == [int(s) for s in stamped]
    for item in renewal["items"]:  # each leaf is the sha256 of the checkpoint's token, as stored
        token = (objects / "log/checkpoints" / f"{item['checkpoint']:016d}.tsr").read_bytes()
        assert item["leaf"] == hashlib.sha256(token).hexdigest() and item["covers"].endswith(".tsr")
    mine = json.loads((ev / "renewal-1.json").read_text())
    root = mine["proof"]["root"]

    def ts_verify(ca: Path) -> str:
        return subprocess.run(["openssl", "ts", "-verify", "-digest", root, "-in", "renewal-1.tsr", "-token_in",
                               "-CAfile", str(ca), "-partial_chain"], cwd=ev, capture_output=True, text=True).stdout

    assert "Verification: OK" in ts_verify(ev / "tsa-anchors.pem")
    assert "Verification: OK" in ts_verify(anchor_b) and "Verification: OK" not in ts_verify(anchor_a)
    # README step 5 as a shell runs it: the leaf from checkpoint.tsr, then the steps to the root.
    assert mine["leaf"] == hashlib.sha256((ev / "checkpoint.tsr").read_bytes()).hexdigest()
    value = hashlib.sha256(b"\0" + bytes.fromhex(mine["leaf"])).hexdigest()
    assert value == mine["proof"]["leaf_hash"]
    for step in mine["proof"]["steps"]:
        assert value in (step["left"], step["right"])
        value = hashlib.sha256(b"\1" + bytes.fromhex(step["left"]) + bytes.fromhex(step["right"])).hexdigest()
    assert value == root
    readme = (ev / "README.txt").read_text()
    assert "openssl ts -verify -digest ROOT -in renewal-K.tsr" in readme
    # Both anchors are in the folder: the one the stamp chains to and the one its renewal does.
    assert "Verification: OK" in subprocess.run(
        ["openssl", "ts", "-verify", "-data", "checkpoint.txt", "-in", "checkpoint.tsr", "-token_in", "-CAfile",
         "tsa-anchors.pem", "-partial_chain"], cwd=ev, capture_output=True, text=True).stdout


def test_a_damaged_renewal_is_named_and_forced_renewal_covers_everything(home, tmp_path):
    config_b, anchor_b = tsa(tmp_path, "b", 3650)
    with OpenSSLHttpTSA(config_b) as b:
        env = env_for(b.url, anchor_b)
        run(home, env, "ingest", str(DOCS[0]))
        assert json.loads(run(home, env, "renew", "--json").stdout)["renewal"] is None  # nothing expires soon
        done = json.loads(run(home, env, "renew", "--all", "--json").stdout)
        assert done["renewal"] == 1 and done["checkpoints"] >= 1
        # A renewal that crashed after its .json keeps its number and is skipped, never believed.
        renewals = home / "store/objects/log/renewals"
        # (its record as written, its token never came)
        (renewals / "0000000000000002.json").write_bytes((renewals / "0000000000000001.json").read_bytes())
        assert json.loads(run(home, env, "renew", "--all", "--json").stdout)["renewal"] == 3
        digest = hashlib.sha256(DOCS[0].read_bytes()).hexdigest()
        run(home, env, "evidence", digest, "-o", str(tmp_path / "chain"))
        chained = json.loads((tmp_path / "chain" / "renewal-2.json").read_text())
        assert chained["renews"] == "renewal-1.tsr"  # renewal 3 renewed renewal 1's token
        assert chained["leaf"] == hashlib.sha256((tmp_path / "chain" / "renewal-1.tsr").read_bytes()).hexdigest()
        token = home / "store/objects/log/renewals/0000000000000001.tsr"
        token.chmod(0o644)
        data = bytearray(token.read_bytes())
        data[len(data) // 2] ^= 0x01
        token.write_bytes(bytes(data))
        proc = run(home, env, "evidence", digest, "-o", str(tmp_path / "ev"), check=1)
        assert b"renewals/0000000000000001.tsr" in proc.stderr and b"does not verify" in proc.stderr
        # The audit names it too, and nothing else.
        found = json.loads(run(home, env, "audit", "--restart", "--json", check=1).stdout)["failures"]
        assert [(f["object"], f["subject"]) for f in found] == [
            ("log/renewals/0000000000000001.tsr", "renewal 1 time-stamp")], found


def _package_carries_the_renewals(package: Path, tmp_path: Path, home: Path) -> None:
    import zipfile

    with zipfile.ZipFile(package) as zf:
        zf.extractall(tmp_path / "pkg")
    [bag] = (tmp_path / "pkg").iterdir()
    assert (bag / "data/renewals/0000000000000001.tsr").is_file()

    def standalone() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-I", "-S", str(bag / "verifier.py"), str(bag)], capture_output=True,
                              text=True, timeout=120)

    ok = standalone()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")}
    assert "everything verifies" in run(tmp_path / "none", env, "verify-package", str(bag)).stdout.decode()
    # A renewal that claims to renew other bytes is named by both verifiers.
    rel = bag / "data/renewals/0000000000000001.json"
    doc = json.loads(rel.read_text())
    doc["items"][0]["leaf"] = "00" * 32
    rel.write_text(json.dumps(doc))
    bad = standalone()
    assert bad.returncode == 1 and "FAILED data/renewals/0000000000000001.tsr: the renewal token" in bad.stdout, bad.stdout
    out = run(tmp_path / "none", env, "verify-package", str(bag), check=1).stdout.decode()
    assert "FAILED data/renewals/0000000000000001.tsr: the renewed stamp of checkpoint" in out, out


def test_a_second_tsas_chain_is_renewed_apart_by_the_other_tsa_and_both_chains_verify(home, tmp_path):
    config_a, anchor_a = tsa(tmp_path, "a", 3650)
    config_b, anchor_b = tsa(tmp_path, "b", 3650)
    with OpenSSLHttpTSA(config_a) as a, OpenSSLHttpTSA(config_b) as b:
        path = home / "config.toml"
        path.write_text(path.read_text().replace("stamps = 1\n", (
            f'stamps = 2\n[[tsa.also]]\nurl = "{b.url}"\ntrust = "{anchor_b}"\n')))
        env = env_for(a.url, anchor_a)
        run(home, env, "ingest", str(DOCS[0]))
        done = json.loads(run(home, env, "renew", "--all", "--json").stdout)
        assert done["renewal"] == 1 and done["second"]["renewal"] == 2
        assert done["checkpoints"] == done["second"]["checkpoints"] >= 1
        digest = hashlib.sha256(DOCS[0].read_bytes()).hexdigest()
        ev = tmp_path / "ev"
        run(home, env, "evidence", digest, "-o", str(ev))
        shown = json.loads(run(home, env, "show", digest, "--json").stdout)
        package = tmp_path / "p.zip"
        run(home, env, "package", "--vkn", shown["supplier_id"], "--from", shown["issue_date"], "--to",
            shown["issue_date"], "-o", str(package))
    objects = home / "store/objects/log/renewals"
    second = json.loads((objects / "0000000000000002.json").read_text())
    assert second["chain"] == "tsr2" and all(i["covers"].endswith(".tsr2") for i in second["items"])
    assert "chain" not in json.loads((objects / "0000000000000001.json").read_text())
    # Each chain was renewed by its own TSA: the second's renewal verifies against B only.
    (ev / "a.pem").write_bytes(anchor_a.read_bytes())
    (ev / "b.pem").write_bytes(anchor_b.read_bytes())

    def ts_verify(token: str, ca: str) -> str:
        root = json.loads((ev / token.replace(".tsr", ".json")).read_text())["proof"]["root"]
        return subprocess.run(["openssl", "ts", "-verify", "-digest", root, "-in", token, "-token_in", "-CAfile", ca,
                               "-partial_chain"], cwd=ev, capture_output=True, text=True).stdout

    assert "Verification: OK" in ts_verify("renewal-1.tsr", "a.pem")
    assert "Verification: OK" in ts_verify("renewal2-1.tsr", "b.pem")
    assert "Verification: OK" not in ts_verify("renewal2-1.tsr", "a.pem")
    mine = json.loads((ev / "renewal2-1.json").read_text())
    assert mine["renews"] == "checkpoint.tsr2"
    assert mine["leaf"] == hashlib.sha256((ev / "checkpoint.tsr2").read_bytes()).hexdigest()
    assert "renewal2-K.tsr" in (ev / "README.txt").read_text()
    # The package carries both chains; both verifiers check them, and name a broken second one.
    import zipfile

    with zipfile.ZipFile(package) as zf:
        zf.extractall(tmp_path / "pkg")
    [bag] = (tmp_path / "pkg").iterdir()

    def standalone() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-I", "-S", str(bag / "verifier.py"), str(bag)], capture_output=True,
                              text=True, timeout=120)

    clean = {k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")}
    ok = standalone()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "everything verifies" in run(tmp_path / "none", clean, "verify-package", str(bag)).stdout.decode()
    rel = bag / "data/renewals/0000000000000002.json"
    doc = json.loads(rel.read_text())
    doc["items"][0]["leaf"] = "00" * 32
    rel.write_text(json.dumps(doc))
    bad = standalone()
    assert bad.returncode == 1 and "FAILED data/renewals/0000000000000002.tsr: the renewal token" in bad.stdout, \
        bad.stdout
    out = run(tmp_path / "none", clean, "verify-package", str(bag), check=1).stdout.decode()
    assert "FAILED data/renewals/0000000000000002.tsr: the renewed stamp of checkpoint" in out, out
