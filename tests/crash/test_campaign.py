"""A kill -9 campaign, and several writers on one home at once.

The campaign kills ``earsiv ingest`` at random instants after it acknowledged its first
document (what a user pulling the plug does), again and again on one home; in between and
at the end nothing acknowledged may be missing, and the archive must take everything again
and prove it.  Writers: several ``earsiv ingest`` processes, and a CLI beside ``earsiv
serve``, on one home at the same time make one log with one leaf per document, and every
one of them is answered.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import Cli
from tests.crash.conftest import check_recovered, document_leaves
from tests.helpers.serve import served
from tests.helpers.streams import write_stream

KILLS = 22


def _earsiv(home: Path, *args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("earsiv")), "--home", str(home), *args]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")}


@pytest.mark.slow
def test_random_kills_after_the_first_acknowledgement_lose_nothing(home: Path, tmp_path: Path, capsys):
    rng = random.Random(20261206)
    docs = tmp_path / "docs"
    write_stream(docs, 1000, 480, issuers=4, seed=11)
    files = sorted(docs.iterdir())
    cli = Cli(home)
    acked: dict[str, Path] = {}
    kills = answered_before_kill = 0
    for round_ in range(KILLS):
        # Overlapping chunks: documents a killed run left unanswered, and new ones.
        start = round_ * 20
        chunk = files[start : start + 80]
        folder = tmp_path / f"round{round_}"
        folder.mkdir()
        for f in chunk:
            os.link(f, folder / f.name)
        proc = subprocess.Popen(_earsiv(home, "ingest", "--json", str(folder)), stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=_env())
        first = proc.stdout.readline()  # the first acknowledgement
        time.sleep(rng.uniform(0.0, 0.2))
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=120)
        if proc.returncode == -signal.SIGKILL:
            kills += 1
        for line in (first + rest).decode(errors="replace").splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                continue  # cut by the kill
            if r["status"] in ("stored", "conflict", "duplicate"):
                acked[r["digest"]] = Path(r["path"])
                answered_before_kill += 1
        shutil.rmtree(folder)
        # Whatever was acknowledged so far is there, byte for byte, right after the kill.
        digest = rng.choice(sorted(acked))
        assert hashlib.sha256(cli.run("get", digest).stdout).hexdigest() == digest
    assert kills >= 20, f"only {kills} of {KILLS} runs were still running when killed"
    check_recovered(cli, home, {d: str(docs / p.name) for d, p in acked.items()}, docs)
    assert len(document_leaves(home)) == len(files)
    with capsys.disabled():
        print(f" [{kills} kills after the first acknowledgement, {answered_before_kill} answers before them, "
              f"{len(acked)} distinct documents acknowledged, none lost]", end="")


@pytest.mark.slow
def test_concurrent_ingests_on_one_home_make_one_log(home: Path, tmp_path: Path):
    a, b, c = (write_stream(tmp_path / n, start, 50, issuers=3, seed=5) for n, start in (("A", 0), ("B", 50), ("C", 100)))
    folders = []
    for name, parts in (("AB", a + b), ("BC", b + c), ("CA", c + a), ("ABC", a + b + c)):
        folder = tmp_path / name
        folder.mkdir()
        for f in parts:
            os.link(f, folder / f.name)
        folders.append(folder)
    procs = [subprocess.Popen(_earsiv(home, "ingest", "--json", str(f)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=_env()) for f in folders]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err.decode()[-3000:]
    stored: dict[str, int] = {}
    for (out, _err), folder in zip(outs, folders, strict=True):
        results = [json.loads(line) for line in out.splitlines()]
        assert len(results) == len(list(folder.iterdir()))  # every file answered
        for r in results:
            assert r["status"] in ("stored", "duplicate", "conflict"), r
            if r["status"] != "duplicate":
                stored[r["digest"]] = stored.get(r["digest"], 0) + 1
    assert set(stored.values()) == {1}  # each document answered "stored" by exactly one writer
    assert len(stored) == 150
    counts = document_leaves(home)
    assert len(counts) == 150 and set(counts.values()) == {1}  # one leaf per document
    check_recovered(Cli(home), home, {}, *folders)


@pytest.mark.slow
def test_a_cli_beside_serve_on_one_home(home: Path, tmp_path: Path):
    a = write_stream(tmp_path / "A", 300, 60, issuers=2, seed=9)
    cli = Cli(home)
    cli.run("principal", "add", "ops", "--role", "admin")
    token = cli.run("token", "create", "ops").stdout.decode().strip().split()[-1]
    with served(home, tmp_path / "serve.log") as srv:
        proc = subprocess.Popen(_earsiv(home, "ingest", "--json", str(tmp_path / "A")), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=_env())
        answered = []
        for f in a:  # the same documents over HTTP while the CLI ingests them
            r = httpx.post(f"{srv.base}/v1/documents", content=f.read_bytes(), timeout=120,
                           params={"filename": f.name},
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"})
            assert r.status_code in (200, 201), r.text
            answered.extend(r.json()["results"])
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-3000:]
    cli_results = [json.loads(line) for line in out.splitlines()]
    stored = [r["digest"] for r in cli_results + answered if r["status"] != "duplicate"]
    assert sorted(stored) == sorted({hashlib.sha256(f.read_bytes()).hexdigest() for f in a})  # each once
    counts = document_leaves(home)
    assert set(counts.values()) == {1} and len(counts) == len(a)
    check_recovered(cli, home, {}, tmp_path / "A")
