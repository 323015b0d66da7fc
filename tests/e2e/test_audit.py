"""Damage found without anyone asking, repaired from the replica, reported as the law asks (issue 13).

Each test works on a real archive through the real ``earsiv`` command: a home with a
replica on another directory, documents of two taxpayers (tenants) from realistic streams
that share dictionaries, and bytes changed or removed on disk the way a failing disk would.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from earsiv.archive.archive import Archive
from tests.conftest import Cli
from tests.helpers.streams import write_stream

TENANTS = ("1234567803", "3333333331")


def _flip(path: Path) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _remove(path: Path) -> None:
    path.chmod(0o644)
    path.unlink()


@pytest.fixture
def replicated(tmp_path: Path) -> tuple[Cli, Path, Path, dict[str, str]]:
    """(cli, primary objects dir, replica objects dir, digest → tenant) of 40 documents, 2 tenants."""
    home = tmp_path / "home"
    Archive.init(home, replica_url=(tmp_path / "replica").as_uri()).close()
    cli = Cli(home)
    held: dict[str, str] = {}
    for n, tenant in enumerate(TENANTS):
        paths = write_stream(tmp_path / f"in{n}", n * 20, 20, issuers=2, seed=11)
        for r in cli.jsonl("ingest", "--tenant", tenant, *map(str, paths)):
            held[r["digest"]] = tenant
    return cli, home / "store" / "objects", tmp_path / "replica" / "objects", held


def _leaves_of(objects: Path, kind: str) -> list[dict]:
    out = []
    for bundle in sorted((objects / "log" / "leaves").glob("*.jsonl")):
        for line in bundle.read_bytes().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a leaf a test damaged
    return [e for e in out if e["type"] == kind]


def _findings(report: dict) -> set[tuple[str, str]]:
    return {(f.get("object") or f["subject"], f.get("copy", "")) for f in report["failures"]}


def test_every_kind_of_object_is_audited_in_both_copies_and_repaired(replicated):
    cli, primary, replica, _held = replicated
    assert cli.json("audit")["ok"]
    docs = _leaves_of(primary, "document")
    blob = docs[3]["digest"]
    blob_key = f"blobs/{blob[:2]}/{blob}"
    dictionary = next(e["blob"]["dict"] for e in docs if e["blob"]["dict"])
    dict_key = f"dicts/{dictionary[:2]}/{dictionary}"
    bundle_key = sorted(p.relative_to(primary).as_posix() for p in (primary / "log/leaves").glob("*.jsonl"))[1]
    tile_key = next(p.relative_to(primary).as_posix() for p in sorted((primary / "log/tile").rglob("*")) if p.is_file())
    sig_key = max(p.relative_to(primary).as_posix() for p in (primary / "log/checkpoints").glob("*.sig"))
    tsr_key = max(p.relative_to(primary).as_posix() for p in (primary / "log/checkpoints").glob("*.tsr"))
    key_key = next(p.relative_to(primary).as_posix() for p in (primary / "keys").glob("*.pem"))
    originals = {k: (primary / k).read_bytes() for k in (blob_key, dict_key, bundle_key, tile_key, sig_key, tsr_key)}

    _flip(primary / blob_key)          # fixity, primary
    _remove(replica / dict_key)        # a lost object, replica
    _flip(primary / bundle_key)        # a log bundle, told apart from its tile
    _flip(primary / tile_key)          # a hash tile
    _flip(primary / sig_key)           # a checkpoint's signature
    _flip(replica / tsr_key)           # a time-stamp token, replica
    _flip(replica / key_key)           # a key
    found = cli.json("audit", check=1)
    assert found["pass_finished"] and _findings(found) == {
        (blob_key, "primary"), (dict_key, "replica"), (bundle_key, "primary"), (tile_key, "primary"),
        (sig_key, "primary"), (tsr_key, "replica"), (key_key, "replica")}, found["failures"]
    assert all("another copy is intact" in f["problem"] or "rebuilt from the leaves" in f["problem"]
               for f in found["failures"])
    # The findings are leaves, once: a second run finds the same, records nothing new.
    recorded = len(_leaves_of(primary, "audit-finding"))
    assert recorded == 7 and len(_leaves_of(primary, "audit-pass")) == 2
    assert _findings(cli.json("audit", check=1)) == _findings(found)
    assert len(_leaves_of(primary, "audit-finding")) == recorded
    status = cli.json("status")["audit"]
    assert status["open_findings"] == 7
    assert dt.datetime.fromisoformat(status["notice_due"]) > dt.datetime.now(dt.UTC) + dt.timedelta(days=14)

    # A damaged blob is still served byte for byte (from the replica), and verified.
    got = cli.run("get", blob).stdout
    assert hashlib.sha256(got).hexdigest() == blob

    repaired = cli.json("repair")
    assert repaired["ok"] and repaired["counts"] == {"repaired": 7}, repaired
    sources = {(r["object"], r["copy"]): r["source"] for r in repaired["repairs"]}
    assert sources[(blob_key, "primary")] == "replica" and sources[(dict_key, "replica")] == "primary"
    for key, data in originals.items():  # byte for byte as written
        assert (primary / key).read_bytes() == data and (replica / key).read_bytes() == data, key
    assert len(_leaves_of(primary, "repair")) == 7
    clean = cli.json("audit", "--restart")
    assert clean["ok"] and clean["pass_finished"], clean["failures"]
    assert cli.json("status")["audit"]["open_findings"] == 0
    assert cli.json("verify", "--all")["ok"]


def test_damage_in_every_copy_is_reported_per_taxpayer_never_guessed(replicated, tmp_path: Path):
    cli, primary, replica, held = replicated
    victim = next(d for d, t in held.items() if t == TENANTS[1])
    key = f"blobs/{victim[:2]}/{victim}"
    _flip(primary / key)
    _flip(replica / key)
    cli.json("audit", check=1)
    repaired = cli.json("repair", check=1)
    assert {r["outcome"] for r in repaired["repairs"]} == {"unrepairable"}
    assert all("ask the counterparty or GİB" in r["detail"] for r in repaired["repairs"])

    reports = {r["taxpayer"]: r for r in json.loads(cli.run("damage-report").stdout)}
    # The taxpayer that holds the record, and the operator's own report: the replica's copy
    # of the record is damaged too, which is the archive's to know, not a record of anyone's.
    assert set(reports) == {TENANTS[1], "archive"}
    assert [(f["object"], f["copy"]) for f in reports["archive"]["findings"]] == [(key, "replica")]
    assert reports["archive"]["records"] == [] and reports["archive"]["notice_tr"] is None
    rep = reports[TENANTS[1]]
    shown = json.loads(cli.run("show", victim, "--json").stdout)
    [record] = rep["records"]
    assert record["digest"] == victim and record["id"] == shown["doc_id"] and record["ettn"] == shown["ettn"]
    assert record["issue_date"] == shown["issue_date"] and record["supplier"]["id"] == shown["supplier_id"]
    assert record["state"] == "not repairable" and "counterparty or GİB" in record["plan"]
    found = {f["copy"]: f for f in rep["findings"]}
    assert set(found) == {"primary"}  # the replica's copy of the same blob is the operator's concern
    detected = dt.datetime.fromisoformat(found["primary"]["detected_at"])
    assert dt.datetime.fromisoformat(rep["notice_due"]) == detected + dt.timedelta(days=15)
    notice = rep["notice_tr"]
    assert TENANTS[1] in notice and shown["ettn"] in notice and victim in notice and "15 gün" in notice

    out = tmp_path / "reports"
    cli.run("damage-report", "--tenant", TENANTS[1], "--format", "pdf", "-o", str(out))
    [pdf] = list(out.iterdir())
    assert pdf.name == f"damage-report-{TENANTS[1]}-{dt.date.today().isoformat()}.pdf"
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True).stdout.decode()
    assert shown["ettn"] in text and "Vergi Dairesi" in text


def test_the_audit_only_reads_and_goes_on_where_it_stopped(replicated, tmp_path: Path):
    cli, primary, _replica, _held = replicated
    for path in write_stream(tmp_path / "one-by-one", 200, 6, issuers=2, seed=4):
        cli.jsonl("ingest", str(path))  # a bundle each: more places for a step to stop
    objects_before = sorted(p for p in primary.rglob("*") if p.is_file())
    size = cli.json("status")["log_size"]
    steps = []
    while True:
        step = cli.json("audit", "--budget", "20KB")
        steps.append(step)
        assert step["ok"], step["failures"]
        if step["pass_finished"]:
            break
        # An unfinished step writes nothing to the store: no leaf, no checkpoint.
        assert sorted(p for p in primary.rglob("*") if p.is_file()) == objects_before
        assert len(steps) < 200
    positions = [s["position"] for s in steps]
    assert len(steps) > 2 and positions == sorted(positions) and positions[-1] == steps[-1]["end"] >= size - 1
    assert len(_leaves_of(primary, "audit-pass")) == 1  # one pass, recorded when it finished
    last = cli.json("status")["audit"]["last_full_pass"]
    assert last["leaves"] == steps[-1]["end"] and last["findings"] == 0


def test_a_replica_added_later_is_filled_and_then_repairs_the_primary(cli: Cli, home: Path, tmp_path: Path):
    paths = write_stream(tmp_path / "in", 0, 15, issuers=2, seed=5)
    digests = [r["digest"] for r in cli.jsonl("ingest", *map(str, paths))]
    rep = tmp_path / "replica"
    cli.run("replica", "add", rep.as_uri(), "--no-sync")
    status = cli.json("status")["replica"]
    assert status["complete"] is False and "replica sync" in status["next"]
    # Objects written before the replica are found missing there, and named as repairable.
    missing = cli.json("audit", check=1)
    assert missing["failures"] and {f.get("copy") for f in missing["failures"]} == {"replica"}
    synced = cli.json("replica", "sync")
    assert synced["ok"] and synced["copied"] > 0
    assert cli.json("status")["replica"]["complete"] is True
    assert cli.json("replica", "sync")["copied"] == 0  # complete: a second sync copies nothing
    # From now on the replica is complete: a lost primary blob is served and repaired from it.
    victim = digests[4]
    _remove(home / "store" / "objects" / "blobs" / victim[:2] / victim)
    assert hashlib.sha256(cli.run("get", victim).stdout).hexdigest() == victim
    assert cli.json("repair")["ok"]  # the replica's findings: filled by the sync meanwhile
    found = cli.json("audit", "--restart", check=1)
    assert _findings(found) == {(f"blobs/{victim[:2]}/{victim}", "primary")}
    assert cli.json("repair")["counts"] == {"repaired": 1}
    assert cli.json("audit", "--restart")["ok"]
    assert (home / "store" / "objects" / "blobs" / victim[:2] / victim).is_file()


def test_a_replica_sync_goes_on_after_the_last_batch_it_finished(cli: Cli, home: Path, tmp_path: Path):
    paths = write_stream(tmp_path / "in", 0, 80, issuers=2, seed=9)
    cli.jsonl("ingest", *map(str, paths))
    rep = tmp_path / "replica"
    cli.run("replica", "add", rep.as_uri(), "--no-sync")
    keys = sorted(p.relative_to(home / "store" / "objects").as_posix()
                  for p in (home / "store" / "objects").rglob("*") if p.is_file())
    # The state a sync killed after its first batch leaves (batches of 64, in key order).
    assert len(keys) > 64
    state_file = home / "cache" / "replica-sync.json"
    state = json.loads(state_file.read_text())
    state.update(after=keys[63], copied=64)
    state_file.write_text(json.dumps(state))
    done = cli.json("replica", "sync")
    assert done["ok"] and done["copied"] == len(keys) - 64
    assert not (rep / "objects" / keys[0]).exists()  # before the resume point: not copied again
    # What the interrupted batches would have copied is found missing and repaired.
    assert cli.json("audit", check=1)["failures"]
    assert cli.json("repair")["ok"] and cli.json("audit", "--restart")["ok"]


def test_init_refuses_a_replica_that_is_the_store_or_holds_another_archive(tmp_path: Path):
    cli = Cli(tmp_path / "a")
    other = tmp_path / "b"
    Archive.init(other).close()
    proc = cli.run("init", "--replica", (other / "store").as_uri(), check=2)
    assert b"already holds an archive" in proc.stderr
    assert not (tmp_path / "a" / "config.toml").exists()
    env = {"EARSIV_REPLICA_URL": (tmp_path / "a" / "store").as_uri()}
    proc = cli.run("init", env=env, check=2)
    assert b"is the store itself" in proc.stderr


def test_a_replica_that_cannot_be_written_acknowledges_nothing(replicated, tmp_path: Path):
    cli, _primary, _replica, _held = replicated
    new = write_stream(tmp_path / "more", 100, 1, issuers=1, seed=2)
    # The other site is down: an S3 endpoint nothing listens on (a real connection refused).
    down = {"EARSIV_REPLICA_URL": "s3://replica?endpoint=http://127.0.0.1:9&region=us-east-1",
            "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    proc = cli.run("ingest", "--json", str(new[0]), env=down, check=None)
    assert proc.returncode != 0 and b"replica" in proc.stderr and b"not acknowledged" in proc.stderr, proc.stderr
    assert b'"status": "stored"' not in proc.stdout
    # Back up: taken (or found already in the log, the write that was not acknowledged), and
    # what the replica missed meanwhile is found and repaired.
    assert [r["status"] for r in cli.jsonl("ingest", str(new[0]))] in (["stored"], ["duplicate"])
    cli.json("audit", check=None)
    assert cli.json("repair")["ok"]
    assert cli.json("audit", "--restart")["ok"]
