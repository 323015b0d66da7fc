"""Two processes ingesting into one archive at once lose nothing and make one log."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from tests.conftest import CORPUS, MALFORMED, Cli, corpus_files


def test_two_concurrent_ingests_lose_nothing_and_make_one_consistent_log(cli: Cli, home: Path):
    files = [p for p in corpus_files() if str(p.relative_to(CORPUS)) not in MALFORMED]
    halves = [files[0::2], files[1::2]]
    exe = Path(sys.executable).with_name("earsiv")
    procs = [
        subprocess.Popen([str(exe), "--home", str(home), "ingest", "--json", "--no-signatures", *map(str, half)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for half in halves
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err.decode()[-2000:]
    want = {hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    status = cli.json("status")
    assert status["documents"] == len(want)
    assert status["log_size"] == 2 * len(want)  # each document's leaf and its first holding's
    report = cli.json("verify", "--all")
    assert report["ok"], report["failures"]
    assert report["checked"] == len(want)
    leaves = sorted((home / "store/objects/log/leaves").iterdir())
    expected = 0
    for b in leaves:  # no gap, no overlap
        assert int(b.name.split(".")[0]) == expected
        expected += len(b.read_bytes().splitlines())
    assert expected == 2 * len(want)
