"""A torn last line of the local store's retention journal (crash or full disk mid-append).

The torn line's write never returned, so it holds no acknowledged fact: the next append cuts
it off instead of gluing a record to it, and legal holds, ingests and audits go on
(docs/FORMAT.md section 8).  The crash is the real CLI killed at the fault point
``store.journal`` after writing half of its line.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from earsiv.archive import blobs
from earsiv.archive.archive import Archive
from tests.conftest import CORPUS, Cli

FIRST = [CORPUS / "efatura/sk-akgips_20251120150604701835.xml", CORPUS / "efatura/gib121_TEVKIFAT.xml",
         CORPUS / "earsiv/bdog_sample.xml"]
LATER = [CORPUS / "efatura/sk-akgips_20251120150604712956.xml", CORPUS / "earsiv/gibfw_SerbestMeslekMakbuzu.xml"]


def retention_as_the_log_says(home: Path) -> None:
    """Every document's blob is kept as long as its longest holding and held while any holding is."""
    with Archive.open(home) as arch:
        entries = [json.loads(leaf) for _i, leaf in arch.log.iter_leaves(0)]
        documents = [e for e in entries if e["type"] == "document"]
        assert documents
        holdings = arch.index.access.holdings_of([e["digest"] for e in documents])
        for e in documents:
            held = holdings[e["digest"]]
            kept = arch.store.retention(blobs.blob_key(e["digest"]))
            assert kept.retain_until == max(h.retain_until for h in held), e["digest"]
            assert kept.legal_hold == any(h.legal_hold for h in held), e["digest"]
        assert arch.store.damage() == []


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_a_torn_journal_line_is_cut_off_and_the_archive_goes_on(cli: Cli, home: Path, n: int):
    journal = home / "store/retention.jsonl"
    crashed = cli.run("ingest", *map(str, FIRST), env={"EARSIV_FAULT": f"store.journal:torn#{n}"}, check=None)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr.decode()
    assert not journal.read_bytes().endswith(b"\n")  # the state a crash mid-append leaves

    redo = cli.jsonl("ingest", *map(str, FIRST))  # a kill at a checkpoint comes after the documents were stored
    assert {r["status"] for r in redo} <= {"stored", "duplicate"}, redo
    digest = redo[0]["digest"]
    assert journal.read_bytes().endswith(b"\n")
    cli.run("legal-hold", digest, "on", "--reason", "inspection")
    assert [r["status"] for r in cli.jsonl("ingest", *map(str, LATER))] == ["stored"] * len(LATER)
    report = cli.json("verify", "--all")
    assert report["ok"], report["failures"]
    assert report["checked"] == len(FIRST) + len(LATER)
    assert cli.json("show", digest)["holdings"][0]["legal_hold"] is True
    retention_as_the_log_says(home)


def test_a_damaged_journal_line_is_reported_by_the_audit_and_stops_nothing_else(cli: Cli, home: Path):
    digests = [r["digest"] for r in cli.jsonl("ingest", *map(str, FIRST))]
    cli.run("legal-hold", digests[0], "on")
    journal = home / "store/retention.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    [hold_line] = [n for n, line in enumerate(lines, 1) if b'"legal_hold":true' in line]
    lines[hold_line - 1] = b"\x00" * (len(lines[hold_line - 1]) - 1) + b"\n"  # the disk lost a block
    journal.write_bytes(b"".join(lines))

    assert [r["status"] for r in cli.jsonl("ingest", *map(str, LATER))] == ["stored"] * len(LATER)
    cli.run("legal-hold", digests[1], "on")
    assert cli.run("get", digests[2]).stdout == FIRST[2].read_bytes()
    proc = cli.run("verify", "--all", check=1)
    out = proc.stdout.decode()
    assert f"FAILED {journal} line {hold_line}: not a retention record" in out, out
    assert f"FAILED {digests[0]}: the log holds the document under a legal hold, the store does not" in out, out
    assert digests[1] not in out

    cli.run("legal-hold", digests[0], "on")  # the repair the finding names
    report = cli.json("verify", "--all", check=1)
    assert [f["subject"] for f in report["failures"]] == [f"{journal} line {hold_line}"]
