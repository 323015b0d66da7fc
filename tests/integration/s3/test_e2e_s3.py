"""Two concurrent `earsiv ingest` commands on the scale-out pair (SeaweedFS with Object Lock, PostgreSQL).

The core end-to-end suite itself runs on this pair in test_core_scaleout.py; this is what
only a shared bucket and a shared database add: two writers, one log, nothing lost.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CORPUS, MALFORMED, Cli, corpus_files


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def keys(client, bucket: str, prefix: str = "") -> list[str]:
    pages = client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
    return sorted({v["Key"] for page in pages for v in page.get("Versions", [])})


@pytest.fixture
def s3_home(scaleout_home: Path) -> Path:
    return scaleout_home


@pytest.fixture
def s3_cli(s3_home: Path) -> Cli:
    return Cli(s3_home)


@pytest.mark.slow
def test_two_concurrent_ingests_into_one_s3_archive_lose_nothing_and_make_one_log(s3_cli, s3_home, bucket, attacker):
    files = [p for p in corpus_files() if str(p.relative_to(CORPUS)) not in MALFORMED]
    halves = [files[0::2], files[1::2]]
    exe = Path(sys.executable).with_name("earsiv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")}
    procs = [
        subprocess.Popen([str(exe), "--home", str(s3_home), "ingest", "--json", "--no-signatures", *map(str, half)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for half in halves
    ]  # fmt: skip
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err.decode()[-2000:]
    acknowledged = {json.loads(line)["digest"] for out, _ in outs for line in out.splitlines() if line.strip()}
    want = {sha(p) for p in files}
    assert acknowledged == want
    status = s3_cli.json("status")
    assert status["documents"] == len(want) and status["log_size"] == 2 * len(want)  # leaf + first holding
    report = s3_cli.json("verify", "--all")
    assert report["ok"], report["failures"]
    assert report["checked"] == len(want)
    expected = 0
    for key in keys(attacker, bucket, "log/leaves/"):  # no gap, no overlap
        assert int(key.rsplit("/", 1)[1].split(".")[0]) == expected
        expected += len(attacker.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines())
    assert expected == 2 * len(want)
    assert {f"blobs/{d[:2]}/{d}" for d in want} <= set(keys(attacker, bucket, "blobs/"))
