"""A replica in a second S3 bucket: objects a bucket lost (behind S3's back, through the
SeaweedFS filer, every version at once) are found by the audit and put back from the other
bucket, and a download never notices (issue 13)."""

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
    assert proc.returncode == check, (args, proc.stdout.decode()[-3000:], proc.stderr.decode()[-3000:])
    return proc


def test_objects_a_bucket_lost_are_repaired_from_the_other(tmp_path, s3_env, seaweed):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")}
    primary, replica = seaweed.new_bucket("p"), seaweed.new_bucket("r")
    home = tmp_path / "home"
    run(home, env, "init", "--store", s3_env.store_url(primary), "--replica", s3_env.store_url(replica))
    out = run(home, env, "ingest", "--json", *[str(CORPUS / d) for d in DOCS]).stdout.decode()
    digests = [json.loads(line)["digest"] for line in out.splitlines() if line.strip()]
    assert json.loads(run(home, env, "audit", "--json").stdout)["ok"]

    lost_in_replica = f"blobs/{digests[0][:2]}/{digests[0]}"
    lost_in_primary = f"blobs/{digests[2][:2]}/{digests[2]}"
    seaweed.lose(replica, lost_in_replica)
    seaweed.lose(primary, lost_in_primary)
    # Served byte for byte all the same: the replica answers for the primary.
    got = run(home, env, "get", digests[2]).stdout
    assert hashlib.sha256(got).hexdigest() == digests[2]

    found = json.loads(run(home, env, "audit", "--json", check=1).stdout)
    assert {(f["object"], f["copy"]) for f in found["failures"]} == {
        (lost_in_replica, "replica"), (lost_in_primary, "primary")}, found["failures"]
    repaired = json.loads(run(home, env, "repair", "--json").stdout)
    assert repaired["ok"] and repaired["counts"] == {"repaired": 2}
    assert {(r["object"], r["copy"], r["source"]) for r in repaired["repairs"]} == {
        (lost_in_replica, "replica", "primary"), (lost_in_primary, "primary", "replica")}
    assert json.loads(run(home, env, "audit", "--restart", "--json").stdout)["ok"]
    # Put back locked, as the store writes everything.
    head = seaweed.client().head_object(Bucket=primary, Key=lost_in_primary)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    status = json.loads(run(home, env, "status", "--json").stdout)
    assert status["audit"]["open_findings"] == 0 and status["replica"]["complete"] is True
