"""The core end-to-end assertions (tests/e2e/test_core.py) through the real `earsiv` command, on the
scale-out pair: SeaweedFS (S3 Object Lock) for the store and PostgreSQL for the index.

The home is made for the bucket once (``EARSIV_STORE_URL`` at init is recorded in
its config.toml), then every command runs as a user would run it: the `Cli`
helper strips ``EARSIV_*`` from the environment and keeps the standard
``AWS_*`` credentials.  Where test_core looks at files under HOME/store, these
look at the bucket through a plain boto3 client instead.
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
from tests.e2e.test_core import SAMPLE


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
def test_core_end_to_end_on_s3(s3_cli, s3_home, bucket, attacker, tmp_path):
    cli = s3_cli
    # ingest: the JSON contract, kinds and conflicts as on the embedded default
    res = {Path(r["path"]).name: r for r in cli.jsonl("ingest", *[str(CORPUS / s) for s in SAMPLE])}
    assert len(res) == len(SAMPLE)
    for name, r in res.items():
        assert r["status"] in ("stored", "conflict") and r["error"] is None, r
        assert r["digest"] == sha(next(CORPUS.rglob(name)))
    assert res["bdog_sample.xml"]["kind"] == "e-arsiv"
    assert res["gib121_OZELMATRAH.xml"]["status"] == "conflict"
    assert {f"blobs/{r['digest'][:2]}/{r['digest']}" for r in res.values()} <= set(keys(attacker, bucket, "blobs/"))

    # the same bytes again store nothing new (checkpoints aside)
    before = set(keys(attacker, bucket))
    again = cli.jsonl("ingest", str(CORPUS / SAMPLE[0]))
    assert [r["status"] for r in again] == ["duplicate"]
    assert all(k.startswith(("log/checkpoints/", "canary/")) for k in set(keys(attacker, bucket)) - before)

    # get: byte for byte, BOM kept
    for rel in SAMPLE:
        out = tmp_path / "out.xml"
        cli.run("get", res[Path(rel).name]["digest"], "-o", str(out))
        assert out.read_bytes() == (CORPUS / rel).read_bytes(), rel

    # signatures inspected, status complete and stamped
    assert cli.json("show", res["sk-akgips_20251120150604701835.xml"]["digest"])["signature_status"] == "valid"
    st = cli.json("status")
    assert st["documents"] == len(SAMPLE) and st["pending"]["signature_checks"] == 0
    assert st["last_checkpoint"]["stamped"] and st["last_checkpoint"]["size"] == st["log_size"]
    tokens = [k for k in keys(attacker, bucket, "log/checkpoints/") if k.endswith(".tsr")]
    bodies = [k for k in keys(attacker, bucket, "log/checkpoints/") if k.rsplit("/", 1)[1].isdigit()]
    assert len(tokens) == len(bodies) >= 1  # one stamp per checkpoint, never per document

    # verify --all
    ok = cli.json("verify", "--all")
    assert ok["ok"] and ok["checked"] == len(SAMPLE), ok

    # evidence verifies with openssl alone
    digest = res["sk-akgips_20251120150604712956.xml"]["digest"]
    ev = tmp_path / "ev"
    cli.run("evidence", digest, "-o", str(ev))
    cmd = "openssl ts -verify -data checkpoint.txt -in checkpoint.tsr -token_in -CAfile tsa-cert.pem"
    done = subprocess.run(cmd.split(), cwd=ev, capture_output=True, text=True)
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stdout + done.stderr
    assert sha(ev / "original.xml") == digest

    # reindex from the bucket equals the live index
    cli.run("legal-hold", res["bdog_sample.xml"]["digest"], "on", "--reason", "inspection 2026/17")
    from earsiv.archive.archive import Archive

    with Archive.open(s3_home) as arch:
        assert arch.index.url.startswith("postgresql")
        live = arch.index.dump()
        arch.index.reset()  # the index lost: everything in it must come back from the bucket
    cli.run("reindex")
    with Archive.open(s3_home) as arch:
        assert arch.index.dump() == live
        assert arch.index.get(res["bdog_sample.xml"]["digest"]).legal_hold is True
    head = attacker.head_object(Bucket=bucket, Key=f"blobs/{res['bdog_sample.xml']['digest'][:2]}/{res['bdog_sample.xml']['digest']}")
    assert head["ObjectLockLegalHoldStatus"] == "ON"


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
