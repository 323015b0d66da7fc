"""`earsiv ingest --json` into a pipe: each line as soon as its document is durable, and all of it archived.

A caller reading the pipe learns what is durable when it is: the ingest is killed after its
documents were acknowledged (at its closing checkpoint), and every acknowledged line has
already reached the pipe.  A caller that stops reading
(`| head -1`) does not stop the archiving: before, the ingest ended quietly with exit code 1
after the group it was printing, the rest never archived.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import CORPUS, ROOT, Cli

FILES = [CORPUS / "efatura/sk-akgips_20251120150604701835.xml", CORPUS / "efatura/gib121_TEVKIFAT.xml",
         CORPUS / "earsiv/bdog_sample.xml", CORPUS / "earsiv/gibfw_SerbestMeslekMakbuzu.xml"]


def test_each_acknowledged_line_reaches_the_pipe_before_the_ingest_ends(cli: Cli, home: Path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")},
           "EARSIV_FAULT": "checkpoint.after-body"}  # after the documents were answered
    proc = subprocess.Popen([str(Path(sys.executable).with_name("earsiv")), "--home", str(home), "ingest", "--json",
                             *map(str, FILES)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    lines = []
    for raw in proc.stdout:  # read while it runs, as a caller would
        lines.append(json.loads(raw))
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    assert [r["status"] for r in lines] == ["stored"] * len(FILES), lines
    # What the lines said is durable is there for the next process.
    status = cli.json("status")
    assert status["documents"] == len(FILES)
    for r in lines:
        assert cli.json("show", r["digest"])["digest"] == r["digest"]


def test_a_reader_that_stops_reading_does_not_stop_the_archiving(cli: Cli, home: Path, tmp_path: Path):
    docs = tmp_path / "docs"  # four group commits of synthetic invoices
    subprocess.run([sys.executable, str(ROOT / "bench/synth.py"), "--docs", "200", "--out", str(docs)], check=True,
                   capture_output=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("earsiv")), "--home", str(home), "ingest", "--json",
                             "--no-signatures", str(docs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    first = json.loads(proc.stdout.readline())  # like `| head -1`
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=300)
    assert first["status"] == "stored"
    assert proc.returncode == 0, err
    assert "stdout was closed; the rest is archived" in err and "Traceback" not in err
    assert cli.json("status")["documents"] == 200
