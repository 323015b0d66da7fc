"""Killed at every fault point of the append, checkpoint, stamp and dictionary paths: the archive recovers.

Each case runs ``earsiv ingest`` of realistic per-issuer streams with ``EARSIV_FAULT`` set, so
the process is SIGKILLed at that point (the state a power cut there leaves), then opens the
archive again and checks it (``check_recovered``): what was acknowledged is there, the same
files are taken again, one leaf per document, ``verify --all`` passes, ``reindex`` equals.
"""

from __future__ import annotations

import pytest

from earsiv.archive.faults import POINTS
from tests.conftest import Cli
from tests.crash.conftest import acknowledged, check_recovered

# (point, which time it is reached): the first group, and the second group of the ingest.
CASES = [
    ("ingest.after-stage", 1),
    ("ingest.after-stage", 70),
    ("dictionary.after-put", 1),
    ("dictionary.after-put", 2),
    ("ledger.after-blobs", 1),
    ("ledger.after-blobs", 2),
    ("ledger.after-bundle", 1),
    ("ledger.after-bundle", 2),
    ("ledger.after-mirror", 1),
    ("ledger.after-mirror", 2),
    ("checkpoint.after-tiles", 1),
    ("checkpoint.after-body", 1),
    ("checkpoint.after-signature", 1),
    ("checkpoint.after-token", 1),
    ("store.journal", 2),  # the retention journal: written whole, then killed
    ("store.journal:torn", 2),  # ... or cut short by the crash
    ("store.journal:torn", 3),
    ("store.put", 1),  # between linking one object of a group and the next
    ("store.put", 40),
]


# Points an ingest never reaches, crashed at by a test of their own.
ELSEWHERE = {"disposal.after-leaves": "tests/crash/test_disposal_crash.py",
             "jobs.after-document": "tests/integration/test_jobs_http.py (serve killed mid-job)",
             **dict.fromkeys(("rotate.after-key", "rotate.after-entry", "rotate.after-switch"),
                             "tests/crash/test_key_rotation_crash.py")}


def test_every_point_the_archive_owns_is_crashed_at():
    assert set(POINTS) - set(ELSEWHERE) == {point.split(":")[0] for point, _n in CASES}


@pytest.mark.slow
@pytest.mark.parametrize("point,nth", CASES, ids=[f"{p}#{n}" for p, n in CASES])
def test_a_crash_at_this_point_leaves_an_archive_that_recovers(point, nth, folders, home, capsys):
    cli = Cli(home)
    crashed = cli.run("ingest", "--json", str(folders.a), check=None, env={"EARSIV_FAULT": f"{point}#{nth}"})
    assert crashed.returncode == -9, crashed.stderr.decode()[-2000:]
    assert f"SIGKILL at {point.split(':')[0]}".encode() in crashed.stderr
    acked = acknowledged(crashed.stdout)
    check_recovered(cli, home, acked, folders.a, folders.b)
    with capsys.disabled():
        print(f" [{point}#{nth}: killed, {len(acked)} acknowledged before, all recovered]", end="")
