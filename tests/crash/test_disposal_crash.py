"""A disposal killed between its tombstones and its deletes: nothing is lost that was kept, nothing is
left that was disposed of, once the next `dispose --confirm` has run."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from tests.conftest import CORPUS, Cli

OLD = ["efatura/gib121_TicariFaturaOrnegi.xml", "efatura/gib121_OTV.xml"]  # retention ended 2019, 2022
NEW = "efatura/sk-akgips_20251120150604701835.xml"


def test_a_crash_after_the_disposal_leaves_is_finished_by_the_next_confirmed_run(home, tmp_path):
    cli = Cli(home)
    cli.run("ingest", *[str(CORPUS / p) for p in [*OLD, NEW]])
    today = dt.date.today().isoformat()
    plan = cli.json("dispose", "--before", today, "--reason", "TTK 82 ended")
    assert plan["documents"] == 2
    crashed = cli.run("dispose", "--before", today, "--reason", "TTK 82 ended", "--confirm", plan["plan"],
                      "-o", str(tmp_path / "c1"), check=None, env={"EARSIV_FAULT": "disposal.after-leaves"})
    assert crashed.returncode == -9, crashed.stderr.decode()[-2000:]
    old = [x["digest"] for x in plan["sample"]]
    # The tombstones are durable, the blobs still there: an audit finds no damage in that.
    assert all((home / "store" / "objects" / "blobs" / d[:2] / d).exists() for d in old)
    audit = cli.run("verify", "--all", check=None)
    assert audit.returncode == 0, audit.stdout.decode()[-2000:]
    # Nothing is disposable any more (the leaves say so); the next confirmed run deletes the blobs.
    again = cli.json("dispose", "--before", today, "--reason", "finish")
    assert again["documents"] == 0
    done = cli.json("dispose", "--before", today, "--reason", "finish", "--confirm", again["plan"],
                    "-o", str(tmp_path / "c2"))
    assert done["disposed"] == 2
    assert not any((home / "store" / "objects" / "blobs" / d[:2] / d).exists() for d in old)
    lines = [json.loads(x) for x in (tmp_path / "c2" / f"disposal-{again['plan'][:16]}.jsonl").read_text().splitlines()]
    assert {x["digest"] for x in lines if x.get("interrupted_run")} == set(old)
    # The document kept is untouched, and the archive verifies whole.
    new = hashlib.sha256((CORPUS / NEW).read_bytes()).hexdigest()
    assert cli.run("get", new, "-o", str(tmp_path / "new.xml")).returncode == 0
    assert (tmp_path / "new.xml").read_bytes() == (CORPUS / NEW).read_bytes()
    assert cli.run("verify", "--all").returncode == 0
