"""`earsiv migrate-store`: an embedded archive moves to S3 with its history and evidence."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import CORPUS

DOCS = ["efatura/sk-fullboard_20251120150654847473.xml", "efatura/sk-fullboard_20251120150654854382.xml",
        "eirsaliye/gib121_Irsaliye-Ornek1.xml", "earsiv/bdog_sample.xml"]


def run(home: Path, env: dict, *args: str, check: int = 0) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("earsiv")
    proc = subprocess.run([str(exe), "--home", str(home), *args], env=env, capture_output=True, timeout=300)
    assert proc.returncode == check, (proc.stdout.decode()[-2000:], proc.stderr.decode()[-2000:])
    return proc


def test_an_embedded_archive_moves_to_s3_and_verifies_there(tmp_path, s3_env, bucket, attacker):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")}
    home = tmp_path / "home"
    run(home, env, "init")
    run(home, env, "ingest", *[str(CORPUS / d) for d in DOCS])
    digest = hashlib.sha256((CORPUS / DOCS[2]).read_bytes()).hexdigest()
    run(home, env, "legal-hold", digest, "on", "--reason", "inspection")
    local_objects = sorted(p.relative_to(home / "store/objects").as_posix()
                           for p in (home / "store/objects").rglob("*") if p.is_file())
    url = s3_env.store_url(bucket)
    report = json.loads(run(home, env, "migrate-store", "--to", url, "--json").stdout)
    assert report["ok"] and report["copied"] == len(local_objects) and report["legal_holds"] == 1
    assert canaries(attacker, bucket) == 1  # the destination was self-tested before anything was copied
    # Every object arrived, locked at least as long as at home, the hold with it.
    for key in local_objects:
        head = attacker.head_object(Bucket=bucket, Key=key)
        assert head["ObjectLockMode"] == "COMPLIANCE", key
    hold = attacker.get_object_legal_hold(Bucket=bucket, Key=f"blobs/{digest[:2]}/{digest}")
    assert hold["LegalHold"]["Status"] == "ON"
    # Resumable: a second run copies nothing and checks everything.
    again = json.loads(run(home, env, "migrate-store", "--to", url, "--json").stdout)
    assert again["ok"] and again["copied"] == 0 and again["already_there"] == len(local_objects)
    # Switch the home over; the archive works on S3 with its old history and evidence.
    run(home, env, "migrate-store", "--to", url, "--switch")
    assert url in (home / "config.toml").read_text()
    tested = canaries(attacker, bucket)
    assert json.loads(run(home, env, "verify", "--all", "--json").stdout)["ok"]
    shown = json.loads(run(home, env, "show", digest, "--json").stdout)
    assert shown["legal_hold"] is True
    out = tmp_path / "ev"
    run(home, env, "evidence", digest, "-o", str(out))
    ok = subprocess.run(["openssl", "ts", "-verify", "-data", "checkpoint.txt", "-in", "checkpoint.tsr", "-token_in",
                         "-CAfile", "tsa-anchors.pem"], cwd=out, capture_output=True, text=True)
    assert "Verification: OK" in ok.stdout
    # And the index rebuilds from the S3 store alone.
    run(home, env, "reindex")
    assert json.loads(run(home, env, "status", "--json").stdout)["documents"] == len(DOCS)
    assert canaries(attacker, bucket) == tested  # everyday commands on S3 leave no canary


def canaries(attacker, bucket: str) -> int:
    return len(attacker.list_object_versions(Bucket=bucket, Prefix="canary/").get("Versions", []))


def test_a_bucket_holding_another_archive_is_refused(tmp_path, s3_env, bucket):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")}
    url = s3_env.store_url(bucket)
    first, second = tmp_path / "a", tmp_path / "b"
    run(first, env, "init", "--store", url)
    run(second, env, "init")
    proc = run(second, env, "migrate-store", "--to", url, check=2)
    assert b"another archive" in proc.stderr
