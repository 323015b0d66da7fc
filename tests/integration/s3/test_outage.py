"""The store's server and the index's database stop in the middle of an ingest (issue 13).

Real servers, really stopped: SeaweedFS is interrupted as an operator would stop it and
started again on the same ports and data; PostgreSQL is shut down and started again. Each
time the running `earsiv ingest` must end with a clear error naming what does not answer
(exit 3, no traceback), every document it acknowledged must still be there byte for byte,
commands run during the outage must say the same, and once the server is back the same
command finishes the job (what was acknowledged comes back as a duplicate) and the archive
verifies. The servers are this test's own: the session's shared ones must not stop under
other tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.postgres import PostgresCluster, PostgresUnavailable, find_pg_bin
from tests.helpers.seaweed import SeaweedS3, find_weed
from tests.helpers.synthetic import invoices

PER_PHASE = 640  # ten groups of 64: the server stops while most of them are still to come


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[SeaweedS3, PostgresCluster]]:
    weed = find_weed()
    try:
        pg_bin = find_pg_bin()
    except PostgresUnavailable as exc:
        weed, why = None, str(exc)
    else:
        why = "SeaweedFS `weed` not found"
    if weed is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the outage test: {why}")
        pytest.skip(why)
    with SeaweedS3(tmp_path / "seaweed", weed) as s3, PostgresCluster(pg_bin) as pg:
        yield s3, pg


def _earsiv(home: Path, env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess]:
    exe = str(Path(sys.executable).with_name("earsiv"))

    def run(*args: str, check: int | None = 0) -> subprocess.CompletedProcess:
        proc = subprocess.run([exe, "--home", str(home), *args], env=env, capture_output=True, timeout=600)
        if check is not None:
            assert proc.returncode == check, (args, proc.stdout.decode()[-2000:], proc.stderr.decode()[-2000:])
        return proc

    return run


def _interrupted_ingest(home: Path, env: dict[str, str], files: list[Path], stop: Callable[[], None]):
    """Ingest *files*; stop the server as soon as the first group is acknowledged.  (acked, exit, stderr)."""
    exe = str(Path(sys.executable).with_name("earsiv"))
    errors = home.parent / "ingest.stderr"
    with errors.open("wb") as err:
        proc = subprocess.Popen([exe, "--home", str(home), "ingest", "--json", *map(str, files)], env=env,
                                stdout=subprocess.PIPE, stderr=err)
        first = proc.stdout.readline()
        stop()
        rest = proc.stdout.read()  # not communicate(): it would skip what readline() buffered
        proc.wait(timeout=600)
    acked = [json.loads(line) for line in (first + rest).split(b"\n") if line.strip()]
    return acked, proc.returncode, errors.read_text(errors="replace")


def _unavailable(stderr: str, *names: str) -> None:
    assert "Traceback" not in stderr, stderr[-3000:]
    assert "does not answer" in stderr and "Nothing acknowledged is lost" in stderr, stderr[-3000:]
    for name in names:
        assert name in stderr, (name, stderr[-3000:])


def test_store_and_index_stop_mid_ingest(tmp_path, servers):
    s3, pg = servers
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, data in invoices(1, 2 * PER_PHASE):
        (docs / name).write_bytes(data)
    files = sorted(docs.iterdir())
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")} | s3.env
    home = tmp_path / "home"
    run = _earsiv(home, env)
    run("init", "--store", s3.store_url(s3.new_bucket()), "--db", pg.create_database("archive"))
    acked: dict[str, bytes] = {}

    # 1. The S3 server stops mid-ingest.
    got, code, err = _interrupted_ingest(home, env, files[:PER_PHASE], s3.stop)
    assert code == 3, err[-2000:]
    _unavailable(err, s3.endpoint)
    assert got and all(g["status"] == "stored" for g in got) and len(got) < PER_PHASE
    acked |= {g["digest"]: Path(g["path"]).read_bytes() for g in got}
    # Every command says the same while it is down: the store does not answer (not "not an archive").
    status = run("status", "--json", check=3)
    _unavailable(status.stderr.decode(), s3.endpoint)
    assert "not an earsiv archive" not in status.stderr.decode()
    s3.restart()

    # 2. The PostgreSQL server stops mid-ingest.
    got, code, err = _interrupted_ingest(home, env, files[PER_PHASE:], pg.halt)
    assert code == 3, err[-2000:]
    _unavailable(err, "index database", f":{pg.port}/archive")
    assert "sqlalche.me" not in err  # the library's help link is noise to an operator
    assert got and all(g["status"] == "stored" for g in got) and len(got) < PER_PHASE
    acked |= {g["digest"]: Path(g["path"]).read_bytes() for g in got}
    _unavailable(run("search", "--json", check=3).stderr.decode(), "index database")
    pg.resume()

    # 3. Back: the same command finishes the job, nothing acknowledged was lost, all of it verifies.
    again = [json.loads(line) for line in run("ingest", "--json", *map(str, files)).stdout.decode().splitlines()
             if line.strip()]
    by_digest = {g["digest"]: g["status"] for g in again}
    assert len(by_digest) == len(files)
    assert all(by_digest[d] == "duplicate" for d in acked), "an acknowledged document was taken again as new"
    assert set(by_digest.values()) <= {"stored", "duplicate"}
    for digest in sorted(acked)[::32]:  # a sample through `get`; `verify --all` reads every one of them back
        out = run("get", digest).stdout
        assert out == acked[digest] and hashlib.sha256(out).hexdigest() == digest
    report = json.loads(run("verify", "--all", "--json").stdout)
    assert report["ok"] and report["checked"] == len(files), report["failures"][:5]
    status = json.loads(run("status", "--json").stdout)
    assert status["documents"] == len(files)
    assert json.loads(run("audit", "--json").stdout)["ok"]
