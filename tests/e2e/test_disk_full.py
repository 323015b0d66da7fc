"""A full disk: one clear error (exit 3, HTTP 507), no traceback, nothing acknowledged lost, reads go on.

The disk is made full in two ways: the archive's own fault points raise ENOSPC where the store
writes (``EARSIV_FAULT=store.put:enospc``), and, when the tests run as root, a real tmpfs of a
few MiB is filled to its last byte.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from earsiv.archive.archive import Archive
from earsiv.errors import StorageFull, disk_full
from earsiv.indexer.db import Index
from earsiv.indexer.errors import IndexFull
from tests.conftest import CORPUS, Cli
from tests.helpers.auth import bearer, make_principal
from tests.helpers.serve import served

FILES = [CORPUS / "efatura/sk-akgips_20251120150604701835.xml", CORPUS / "efatura/gib121_TEVKIFAT.xml",
         CORPUS / "earsiv/bdog_sample.xml", CORPUS / "efatura/sk-akgips_20251120150604712956.xml"]
FULL = "free space and retry; nothing acknowledged was lost"


def assert_storage_full(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == 3, err
    assert "Traceback" not in err, err
    assert "earsiv: error:" in err and "no space left" in err and FULL in err, err
    return err


@pytest.mark.parametrize("fault", ["store.put:enospc", "store.journal:enospc", "store.put:enospc#2",
                                   "store.journal:enospc#3"])
def test_enospc_in_the_store_is_one_clear_error_and_loses_nothing(cli: Cli, home: Path, fault: str):
    proc = cli.run("ingest", "--json", *map(str, FILES), env={"EARSIV_FAULT": fault}, check=None)
    err = assert_storage_full(proc)
    assert str(home / "store") in err
    acknowledged = [line for line in proc.stdout.decode().splitlines() if line.strip()]
    again = cli.jsonl("ingest", *map(str, FILES))
    assert len(again) == len(FILES)
    assert sum(r["status"] == "duplicate" for r in again) == len(acknowledged)
    report = cli.json("verify", "--all")
    assert report["ok"] and report["checked"] == len(FILES), report


def test_a_reader_skips_a_checkpoint_it_has_no_room_for(cli: Cli, home: Path):
    digests = [r["digest"] for r in cli.jsonl("ingest", *map(str, FILES[:2]))]
    # The checkpoint after a legal hold fails: the hold is recorded, the command says why it failed.
    proc = cli.run("legal-hold", digests[0], "on", env={"EARSIV_FAULT": "store.put:enospc#2"}, check=None)
    assert_storage_full(proc)
    # A verify then finds a log entry without a checkpoint and no room to make one: it verifies anyway.
    proc = cli.run("verify", "--all", env={"EARSIV_FAULT": "store.put:enospc"}, check=0)
    assert b"no checkpoint of the newest log entries" in proc.stderr and b"Traceback" not in proc.stderr
    assert cli.json("show", digests[0])["holdings"][0]["legal_hold"] is True


def test_sqlite_full_is_index_full(tmp_path):
    """SQLite's own "database or disk is full" (here: its page limit) is the same error as ENOSPC."""
    index = Index(f"sqlite:///{tmp_path / 'index.sqlite'}")
    index.upgrade()

    def tiny(dbapi_connection, _record):
        dbapi_connection.execute(f"PRAGMA max_page_count = {dbapi_connection.execute('PRAGMA page_count').fetchone()[0]}")

    sa.event.listen(sa.engine.Engine, "connect", tiny)
    try:
        index.close()  # new connections get the limit
        with pytest.raises(IndexFull, match=f"no space left .*{FULL}") as caught:
            index.meta_set("big", "x" * 100_000)
    finally:
        sa.event.remove(sa.engine.Engine, "connect", tiny)
        index.close()
    assert isinstance(caught.value, StorageFull) and caught.value.exit_code == 3 and caught.value.code == "storage-full"
    assert disk_full(caught.value.__cause__)


def test_http_answers_507_with_a_problem_document(home: Path, tmp_path: Path):
    admin = bearer(make_principal(home, "test-admin", "admin"))
    with served(home, tmp_path / "serve.log", env={"EARSIV_FAULT": "store.put:enospc"}) as srv:
        r = httpx.post(f"{srv.base}/v1/documents", content=FILES[1].read_bytes(), timeout=60,
                       headers={**admin, "Content-Type": "application/xml"})
        assert r.status_code == 507, r.text
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["type"] == "urn:earsiv:problem:storage-full" and problem["title"] == "Insufficient storage"
        assert FULL in problem["detail"]
        assert httpx.get(f"{srv.base}/v1/documents", headers=admin, timeout=30).status_code == 200
    assert "Traceback" not in srv.log_text()


# -- a real full file system (root only) ------------------------------------------------


@contextlib.contextmanager
def small_filesystem(path: Path, size: str) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the fault-point tests above cover the non-root case")
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(fs: Path) -> Path:
    """Fill *fs* to its last byte."""
    filler = fs / "filler"
    with open(filler, "wb") as fh:
        block = b"\0" * (1 << 20)
        with contextlib.suppress(OSError):
            while True:
                fh.write(block)
                fh.flush()
        with contextlib.suppress(OSError):
            while True:
                os.write(fh.fileno(), b"\0" * 512)
    assert shutil.disk_usage(fs).free < 4096
    return filler


def test_a_full_disk_for_real_reads_go_on_writes_fail_clearly_and_space_heals_all(tmp_path: Path):
    with small_filesystem(tmp_path / "small", "24m") as fs:
        home = fs / "home"
        Archive.init(home).close()
        cli = Cli(home)
        first = cli.jsonl("ingest", *map(str, FILES[:2]))
        # Two more documents reach the log but not this home's index (as if its catch-up was
        # interrupted): opening the archive has to write to catch up.
        elsewhere = f"sqlite:///{tmp_path / 'elsewhere.sqlite'}"
        cli.run("ingest", *map(str, FILES[2:]), env={"EARSIV_DB_URL": elsewhere})
        filler = fill(fs)

        digest = first[0]["digest"]
        got = cli.run("get", digest)
        assert got.stdout == FILES[0].read_bytes()
        assert b"index is 4 log entries behind" in got.stderr, got.stderr
        assert cli.json("show", digest)["digest"] == digest
        assert len(cli.json("search")) == 2
        assert cli.json("status")["documents"] == 2
        for proc in (got, cli.run("status")):
            assert b"Traceback" not in proc.stderr
        err = assert_storage_full(cli.run("ingest", str(CORPUS / "efatura/gib121_OZELMATRAH.xml"), check=None))
        assert str(fs) in err

        filler.unlink()
        assert cli.json("status")["documents"] == len(FILES)
        assert cli.jsonl("ingest", str(CORPUS / "efatura/gib121_OZELMATRAH.xml"))[0]["status"] in ("stored", "conflict")
        report = cli.json("verify", "--all")
        assert report["ok"] and report["checked"] == len(FILES) + 1, report
