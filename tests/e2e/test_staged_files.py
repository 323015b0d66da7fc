"""Staged files (store/tmp) that killed writers left are removed when the store is opened; a live writer's never."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from earsiv.archive.stores.local import LocalStore
from tests.conftest import CORPUS, Cli

FILES = [CORPUS / "efatura/sk-akgips_20251120150604701835.xml", CORPUS / "efatura/gib121_TEVKIFAT.xml",
         CORPUS / "earsiv/bdog_sample.xml"]
TWO_HOURS_AGO = time.time() - 7200

STAGER = textwrap.dedent("""
    import datetime as dt, sys, time
    from earsiv.archive.stores.base import PutItem
    from earsiv.archive.stores.local import LocalStore
    LocalStore(sys.argv[1]).stage(PutItem("blobs/aa/x", b"in flight", dt.datetime(2099, 1, 1, tzinfo=dt.UTC)))
    print("staged", flush=True)
    time.sleep(600)
""")


def test_files_of_killed_ingests_are_removed_at_the_next_open(cli: Cli, home: Path):
    tmp = home / "store/tmp"
    killed = cli.run("ingest", *map(str, FILES), env={"EARSIV_FAULT": "store.put"}, check=None)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    assert list(tmp.iterdir())  # the staged blobs (and dictionaries) of the group it was linking
    cli.run("status")
    assert list(tmp.iterdir()) == []
    assert {r["status"] for r in cli.jsonl("ingest", *map(str, FILES))} <= {"stored", "conflict"}
    assert list(tmp.iterdir()) == []


def test_a_live_writers_file_stays_however_old_and_goes_once_it_is_killed(tmp_path: Path):
    root = tmp_path / "store"
    LocalStore(root)
    writer = subprocess.Popen([sys.executable, "-c", STAGER, str(root)], stdout=subprocess.PIPE)
    try:
        assert writer.stdout.readline() == b"staged\n"
        [staged] = list((root / "tmp").iterdir())
        assert staged.name.startswith(f"{writer.pid}-")
        os.utime(staged, (TWO_HOURS_AGO, TWO_HOURS_AGO))
        LocalStore(root)
        assert staged.exists()  # its writer lives: it may still link it
    finally:
        writer.kill()
        writer.wait()
    LocalStore(root)
    assert not staged.exists()


def test_a_file_whose_writer_is_unknown_goes_only_when_older_than_an_hour(tmp_path: Path):
    root = tmp_path / "store"
    LocalStore(root)
    young, old = root / "tmp/123-456-7", root / "tmp/1-2-3-otherhost000"  # an older version's name; another host's
    young.write_bytes(b"x")
    old.write_bytes(b"y")
    os.utime(old, (TWO_HOURS_AGO, TWO_HOURS_AGO))
    LocalStore(root)
    assert young.exists() and not old.exists()
