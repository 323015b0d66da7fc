"""`earsiv renew --hash sha384` (hash-tree renewal, RFC 4998 §5.3) and the RFC 4998 evidence record
`earsiv evidence` writes, checked by an independent implementation: Bouncy Castle's ERS classes
(Debian's libbcprov-java and libbcpkix-java, run by a JRE; `./dev test` installs them).

An OpenSSL TSA that signs sha256 and sha384 requests stamps everything over HTTP.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.e2e.test_renewal import DOCS, env_for, run
from tests.helpers.openssl_tsa import OpenSSLHttpTSA, openssl_tsa_config

JAVA = shutil.which("java")
BC = [Path("/usr/share/java") / f"{name}.jar" for name in ("bcprov", "bcpkix", "bcutil")]
VERIFIER = Path(__file__).parents[1] / "ers" / "VerifyEvidenceRecord.java"


def _unpacked(package: Path, into: Path) -> Path:
    """The bag inside a package ZIP, extracted under *into*."""
    with zipfile.ZipFile(package) as zf:
        zf.extractall(into)
    [bag] = into.iterdir()
    return bag


def _standalone(bag: Path) -> subprocess.CompletedProcess:
    """The verifier the package ships, run as an inspector runs it: Python alone, no site packages."""
    return subprocess.run([sys.executable, "-I", "-S", str(bag / "verifier.py"), str(bag)], capture_output=True,
                          text=True, timeout=120)


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")}


def bouncy_castle(record: Path, document: Path, cert: Path) -> subprocess.CompletedProcess:
    if JAVA is None or not all(p.exists() for p in BC):  # the independent check: missing is a failure, not a skip
        pytest.fail("a JRE and Bouncy Castle are missing: ./dev test installs them (Debian packages "
                    "default-jre-headless, libbcprov-java, libbcpkix-java)")
    return subprocess.run([str(JAVA), "-cp", ":".join(map(str, BC)), str(VERIFIER), str(record), str(document),
                           str(cert)], capture_output=True, text=True, timeout=300)


def test_hash_tree_renewal_gives_each_document_an_evidence_record_bouncy_castle_accepts(home, tmp_path):
    (tmp_path / "tsa").mkdir()
    config, cert = openssl_tsa_config(tmp_path / "tsa", "sha256, sha384", days=3650)
    anchor = tmp_path / "tsa.pem"
    anchor.write_bytes(cert)
    docs = [*DOCS, DOCS[0].parent / "gib121_IHRACAT.xml", DOCS[0].parent / "gib121_TEVKIFAT.xml"]
    third = DOCS[0].parent / "gib121_OTV.xml"
    with OpenSSLHttpTSA(config) as tsa:
        env = env_for(tsa.url, anchor)
        for doc in docs:
            run(home, env, "ingest", str(doc))
        digest = hashlib.sha256(DOCS[0].read_bytes()).hexdigest()
        run(home, env, "evidence", digest, "-o", str(tmp_path / "before"))
        assert not (tmp_path / "before/evidence-record.ers").exists()
        assert "earsiv renew --hash sha384" in (tmp_path / "before/README.txt").read_text()
        # One stamp per three documents here (--batch 3): each run is resumable on its own.
        done = json.loads(run(home, env, "renew", "--hash", "sha384", "--batch", "3", "--json").stdout)
        assert [r["documents"] for r in done["runs"]] == [3, 1] and done["documents"] == 4
        assert "0 problems" in run(home, env, "verify", digest).stdout.decode()
        # Each document of the three-leaf tree (left, right, and the odd one carried up) has its record.
        for n, doc in enumerate(docs[:3]):
            run(home, env, "evidence", hashlib.sha256(doc.read_bytes()).hexdigest(), "-o", str(tmp_path / f"e{n}"))
        # Covered documents are not stamped again; a new one is, alone.
        assert json.loads(run(home, env, "renew", "--hash", "sha384", "--json").stdout)["runs"] == []
        run(home, env, "ingest", str(third))
        again = json.loads(run(home, env, "renew", "--hash", "sha384", "--json").stdout)
        assert [r["documents"] for r in again["runs"]] == [1] and again["runs"][0]["first"] >= done["runs"][1]["end"]
        ev = tmp_path / "ev"
        run(home, env, "evidence", digest, "-o", str(ev))
        objects = home / "store/objects"
        shown = json.loads(run(home, env, "show", digest, "--json").stdout)
        package = tmp_path / "p.zip"
        run(home, env, "package", "--vkn", shown["supplier_id"], "--from", shown["issue_date"], "--to",
            shown["issue_date"], "-o", str(package))
    _package_carries_the_hash_tree_renewal(package, tmp_path, digest, anchor)
    for n in range(3):
        each = bouncy_castle(tmp_path / f"e{n}/evidence-record.ers", tmp_path / f"e{n}/original.xml", anchor)
        assert each.returncode == 0, each.stdout + each.stderr
    record, original = ev / "evidence-record.ers", ev / "original.xml"
    ok = bouncy_castle(record, original, anchor)
    assert ok.returncode == 0 and ok.stdout.startswith("OK 2.16.840.1.101.3.4.2.2"), ok.stdout + ok.stderr  # sha384
    # The record's first list holds sha384 of the document and of the evidence it had before.
    der = record.read_bytes()
    assert hashlib.sha384(original.read_bytes()).digest() in der
    assert hashlib.sha384((ev / "evidence-record-chain.json").read_bytes()).digest() in der
    chain = json.loads((ev / "evidence-record-chain.json").read_text())
    assert json.loads(chain["leaf"])["digest"] == digest and chain["checkpoint_tsr"]
    # The token is a sha384 stamp, as OpenSSL reads it, and the record carries it byte for byte.
    token = objects / "log/ers/0000000000000001.tsr"
    assert token.read_bytes() in der
    shown = subprocess.run(["openssl", "ts", "-reply", "-in", str(token), "-token_in", "-token_out", "-text"],
                           capture_output=True, text=True).stdout
    assert "Hash Algorithm: sha384" in shown, shown
    # A changed byte of the document: Bouncy Castle refuses the record.
    changed = tmp_path / "changed.xml"
    data = bytearray(original.read_bytes())
    data[len(data) // 2] ^= 0x01
    changed.write_bytes(bytes(data))
    bad = bouncy_castle(record, changed, anchor)
    assert bad.returncode == 1 and bad.stdout.startswith("FAILED"), bad.stdout + bad.stderr
    # Another TSA's certificate: refused as well.
    (tmp_path / "other").mkdir()
    _, other = openssl_tsa_config(tmp_path / "other", "sha384", days=3650)
    (tmp_path / "other.pem").write_bytes(other)
    assert bouncy_castle(record, original, tmp_path / "other.pem").returncode == 1


def _package_carries_the_hash_tree_renewal(package: Path, tmp_path: Path, digest: str, anchor: Path) -> None:
    bag = _unpacked(package, tmp_path / "pkg")
    ev = bag / "data/evidence" / digest
    assert (bag / "data/hashtrees/0000000000000001.tsr").is_file() and (ev / "hashtree.json").is_file()
    [doc] = [p for p in (bag / "data/documents").rglob("*.xml")
             if hashlib.sha256(p.read_bytes()).hexdigest() == digest]
    assert bouncy_castle(ev / "evidence-record.ers", doc, anchor).returncode == 0

    env = _clean_env()
    ok = _standalone(bag)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "everything verifies" in run(tmp_path / "none", env, "verify-package", str(bag)).stdout.decode()
    # Evidence other than what was stamped: both verifiers name the file.
    chain = ev / "evidence-record-chain.json"
    chain.write_bytes(chain.read_bytes().replace(b'"stamp_time":"', b'"stamp_time":"1'))
    rel = f"data/evidence/{digest}/evidence-record-chain.json"
    bad = _standalone(bag)
    assert bad.returncode == 1 and f"FAILED {rel}: its sha384 hash is not the second" in bad.stdout, bad.stdout
    out = run(tmp_path / "none", env, "verify-package", str(bag), check=1).stdout.decode()
    assert f"FAILED {rel}: its sha384 hash is not the second" in out, out


def test_a_hash_tree_renewal_that_does_not_stamp_the_document_is_named(home, tmp_path):
    (tmp_path / "tsa").mkdir()
    config, cert = openssl_tsa_config(tmp_path / "tsa", "sha256, sha384", days=3650)
    anchor = tmp_path / "tsa.pem"
    anchor.write_bytes(cert)
    with OpenSSLHttpTSA(config) as tsa:
        env = env_for(tsa.url, anchor)
        run(home, env, "ingest", str(DOCS[0]))
        run(home, env, "renew", "--hash", "sha384", "--json")
        digest = hashlib.sha256(DOCS[0].read_bytes()).hexdigest()
        path = home / "store/objects/log/ers/0000000000000001.json"
        path.chmod(0o644)
        doc = json.loads(path.read_text())
        doc["items"][0]["chain"] = "00" * 48  # as if it had stamped other evidence
        path.write_text(json.dumps(doc))
        proc = run(home, env, "evidence", digest, "-o", str(tmp_path / "ev"), check=1)
        assert b"log/ers/0000000000000001.tsr" in proc.stderr and b"evidence as it stood" in proc.stderr, proc.stderr
        # `earsiv verify` of the document names it as well.
        out = run(home, env, "verify", digest, check=1).stdout.decode()
        assert "hash-tree renewal 1 does not stamp this document's evidence as it stood" in out, out
        # The audit finds it too: the run's token no longer stamps the root of its record's tree.
        found = json.loads(run(home, env, "audit", "--restart", "--json", check=1).stdout)["failures"]
        assert ("log/ers/0000000000000001.tsr", "hash-tree renewal 1 time-stamp") in [
            (f["object"], f["subject"]) for f in found], found


def test_a_runs_stamp_that_ends_soon_is_renewed_inside_the_evidence_record(home, tmp_path):
    from tests.e2e.test_renewal import tsa

    config_a, anchor_a = tsa(tmp_path, "a", 30)
    config_b, anchor_b = tsa(tmp_path, "b", 3650)
    for config in (config_a, config_b):  # both sign sha384 requests too
        config.write_text(config.read_text().replace("digests = sha256\n", "digests = sha256, sha384\n"))
    digest = hashlib.sha256(DOCS[0].read_bytes()).hexdigest()
    with OpenSSLHttpTSA(config_a) as a:
        env = env_for(a.url, anchor_a)
        run(home, env, "ingest", str(DOCS[0]))
        run(home, env, "renew", "--hash", "sha384")
        st = json.loads(run(home, env, "status", "--json").stdout)["tsa"]
        assert st["hash_trees"]["sha384"]["documents"] == 1
        assert any("sha384 hash-tree renewal" in w and "earsiv renew" in w for w in st["warnings"]), st["warnings"]
        assert "hash-tree sha384:  1 documents in 1 runs" in run(home, env, "status").stdout.decode()
    with OpenSSLHttpTSA(config_b) as b:
        env = env_for(b.url, anchor_b)
        said = run(home, env, "renew").stdout.decode()
        assert "stamp renewal 1: the sha384 stamps of 1 hash-tree renewals renewed" in said, said
        done = json.loads((home / "store/objects/log/ers-renewals/0000000000000001.json").read_text())
        assert [i["run"] for i in done["items"]] == [1] and len(done["items"][0]["tokens"]) == 1
        assert "hash_trees" not in json.loads(run(home, env, "renew", "--json").stdout)  # B's lives ten years
        st = json.loads(run(home, env, "status", "--json").stdout)["tsa"]
        assert not any("hash-tree" in w for w in st["warnings"]), st["warnings"]
        ev = tmp_path / "ev"
        run(home, env, "evidence", digest, "-o", str(ev))
        assert json.loads(run(home, env, "audit", "--json").stdout)["ok"]
        # A damaged renewal of the run's stamp: evidence refuses it and the audit names it.
        renewed = home / "store/objects/log/ers-renewals/0000000000000001.tsr"
        kept = renewed.read_bytes()
        renewed.chmod(0o644)
        renewed.write_bytes(kept[:-40] + bytes(b ^ 1 for b in kept[-40:]))
        proc = run(home, env, "evidence", digest, "-o", str(tmp_path / "bad"), check=1)
        assert b"log/ers-renewals/0000000000000001.tsr" in proc.stderr, proc.stderr
        found = json.loads(run(home, env, "audit", "--restart", "--json", check=1).stdout)["failures"]
        assert ("log/ers-renewals/0000000000000001.tsr", "hash-tree stamp renewal 1 time-stamp") in [
            (f["object"], f["subject"]) for f in found], found
        renewed.write_bytes(kept)
        shown = json.loads(run(home, env, "show", digest, "--json").stdout)
        package = tmp_path / "p.zip"
        run(home, env, "package", "--vkn", shown["supplier_id"], "--from", shown["issue_date"], "--to",
            shown["issue_date"], "-o", str(package))
    _package_checks_the_renewed_stamp(package, tmp_path, digest)
    # Two archive time stamps in the record's chain: BC checks the document against the first and
    # the newest stamp's signature, by B, which covers the first token.
    record = ev / "evidence-record.ers"
    assert (home / "store/objects/log/ers-renewals/0000000000000001.tsr").read_bytes() in record.read_bytes()
    ok = bouncy_castle(record, ev / "original.xml", anchor_b)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert bouncy_castle(record, ev / "original.xml", anchor_a).returncode == 1
    changed = tmp_path / "changed.xml"
    data = bytearray((ev / "original.xml").read_bytes())
    data[100] ^= 0x01
    changed.write_bytes(bytes(data))
    assert bouncy_castle(record, changed, anchor_b).returncode == 1
    assert "renewed 1 time(s)" in (ev / "README.txt").read_text()


def _package_checks_the_renewed_stamp(package: Path, tmp_path: Path, digest: str) -> None:
    bag = _unpacked(package, tmp_path / "pkg")
    assert (bag / "data/hashtrees/renewals/0000000000000001.tsr").is_file()

    env = _clean_env()
    ok = _standalone(bag)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "everything verifies" in run(tmp_path / "none", env, "verify-package", str(bag)).stdout.decode()
    # A renewal that claims to renew another stamp is named by both.
    rel = f"data/evidence/{digest}/hashtree.json"
    doc = json.loads((bag / rel).read_text())
    doc["renewals"][0]["first"] = ["00" * 48]
    (bag / rel).write_text(json.dumps(doc))
    want = f"FAILED {rel}: the renewal data/hashtrees/renewals/0000000000000001.tsr does not renew the stamps"
    bad = _standalone(bag)
    assert bad.returncode == 1 and want in bad.stdout, bad.stdout
    out = run(tmp_path / "none", env, "verify-package", str(bag), check=1).stdout.decode()
    assert want in out, out


def test_the_evidence_a_run_stamped_stays_the_same_after_later_time_stamp_renewals(home, tmp_path):
    (tmp_path / "tsa").mkdir()
    config, cert = openssl_tsa_config(tmp_path / "tsa", "sha256, sha384", days=3650)
    anchor = tmp_path / "tsa.pem"
    anchor.write_bytes(cert)
    digest = hashlib.sha256(DOCS[0].read_bytes()).hexdigest()
    with OpenSSLHttpTSA(config) as tsa:
        env = env_for(tsa.url, anchor)
        run(home, env, "ingest", str(DOCS[0]))
        assert json.loads(run(home, env, "renew", "--all", "--json").stdout)["renewal"] == 1
        run(home, env, "renew", "--hash", "sha384")
        assert json.loads(run(home, env, "renew", "--all", "--json").stdout)["renewal"] == 2
        ev = tmp_path / "ev"
        run(home, env, "evidence", digest, "-o", str(ev))
    # The folder has both renewals of the checkpoint's stamp; the run stamped the evidence with the first.
    assert (ev / "renewal-2.tsr").is_file()
    chain = json.loads((ev / "evidence-record-chain.json").read_text())
    assert [r["renews"] for r in chain["renewals"]] == ["checkpoint.tsr"]
    assert bouncy_castle(ev / "evidence-record.ers", ev / "original.xml", anchor).returncode == 0


def test_a_tenants_holding_evidence_has_the_record_but_not_the_documents_own_evidence(tmp_path):
    from earsiv.archive.archive import Archive
    from earsiv.archive.evidence import write_evidence
    from earsiv.archive.hashtree import renew
    from earsiv.archive.log.entries import HoldingEntry, decode
    from earsiv.archive.sources import expand

    digest = hashlib.sha256(DOCS[0].read_bytes()).hexdigest()
    with Archive.init(tmp_path / "home") as arch:  # the built-in TSA, which signs sha384 requests too
        list(arch.ingest(expand([DOCS[0]]), tenant="1000000009"))
        renew(arch, "sha384")
        index = arch.index.get(digest).log_index + 1  # the document's first holding follows its leaf
        assert isinstance(decode(arch.log.read_leaf(index)), HoldingEntry)
        write_evidence(arch, digest, tmp_path / "ev", index)
    ev = tmp_path / "ev"
    assert not (ev / "evidence-record-chain.json").exists()
    assert "not of your holding" in (ev / "README.txt").read_text()
    ok = bouncy_castle(ev / "evidence-record.ers", ev / "original.xml", ev / "tsa-anchors.pem")
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_a_rotated_key_and_a_hash_tree_renewal_together(home, tmp_path):
    """Documents stamped under the first key and under its successor, then renewed under sha384: each
    document's record passes Bouncy Castle, `verify` passes, and a package of both passes both verifiers."""
    (tmp_path / "tsa").mkdir()
    config, cert = openssl_tsa_config(tmp_path / "tsa", "sha256, sha384", days=3650)
    anchor = tmp_path / "tsa.pem"
    anchor.write_bytes(cert)
    before, after = DOCS
    with OpenSSLHttpTSA(config) as tsa:
        env = env_for(tsa.url, anchor)
        run(home, env, "ingest", str(before))
        first = json.loads(run(home, env, "status", "--json").stdout)["key_fingerprint"]
        run(home, env, "key", "rotate", "--reason", "planned", "--json")
        run(home, env, "ingest", str(after))
        run(home, env, "renew", "--hash", "sha384", "--json")
        status = json.loads(run(home, env, "status", "--json").stdout)
        assert status["key_fingerprint"] == first and status["keys"]["current"] != first
        for n, doc in enumerate((before, after)):
            digest = hashlib.sha256(doc.read_bytes()).hexdigest()
            assert "0 problems" in run(home, env, "verify", digest).stdout.decode()
            run(home, env, "evidence", digest, "-o", str(tmp_path / f"e{n}"))
            readme = (tmp_path / f"e{n}/README.txt").read_text()
            assert "7. evidence-record.ers" in readme
            ok = bouncy_castle(tmp_path / f"e{n}/evidence-record.ers", tmp_path / f"e{n}/original.xml", anchor)
            assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "6. The key that signed checkpoint.txt was handed over" in (tmp_path / "e1/README.txt").read_text()
        shown = [json.loads(run(home, env, "show", hashlib.sha256(d.read_bytes()).hexdigest(), "--json").stdout)
                 for d in (before, after)]
    for n, s in enumerate(shown):
        p = tmp_path / f"p{n}.zip"
        with OpenSSLHttpTSA(config) as tsa:
            run(home, env_for(tsa.url, anchor), "package", "--vkn", s["supplier_id"], "--from", s["issue_date"],
                "--to", s["issue_date"], "-o", str(p))
        bag = _unpacked(p, tmp_path / f"pkg{n}")
        alone = _standalone(bag)
        assert alone.returncode == 0, alone.stdout + alone.stderr
        assert first in (bag / "VERIFY.txt").read_text()  # the first key: what the paper says
        assert "everything verifies" in run(tmp_path / "none", _clean_env(), "verify-package", str(bag)).stdout.decode()
