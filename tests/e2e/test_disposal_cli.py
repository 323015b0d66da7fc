"""`earsiv disposal candidates` and `earsiv dispose` as an operator runs them: plan first, then confirm."""

from __future__ import annotations

import datetime as dt
import json

from tests.conftest import CORPUS

OLD = "efatura/gib121_TicariFaturaOrnegi.xml"  # 2009: retention ended 2019
NEW = "efatura/sk-akgips_20251120150604701835.xml"


def test_plan_changes_nothing_confirm_disposes_and_a_second_confirm_is_refused(cli, tmp_path):
    cli.run("ingest", str(CORPUS / OLD), str(CORPUS / NEW))
    today = dt.date.today().isoformat()
    listed = cli.jsonl("disposal", "candidates")
    assert [x["id"] for x in listed] == ["GIB2009000000011"]
    plan = cli.json("dispose", "--before", today, "--reason", "TTK 82 ended")
    assert plan["documents"] == 1
    assert [x["id"] for x in cli.jsonl("disposal", "candidates")] == ["GIB2009000000011"]  # nothing changed yet
    out = tmp_path / "cert"
    done = cli.json("dispose", "--before", today, "--reason", "TTK 82 ended", "--confirm", plan["plan"], "-o", str(out))
    assert (done["disposed"], done["kept"]) == (1, 0)
    assert cli.jsonl("disposal", "candidates") == []
    again = cli.run("dispose", "--before", today, "--reason", "TTK 82 ended", "--confirm", plan["plan"], check=1)
    assert b"plan" in again.stderr
    lines = (out / f"disposal-{plan['plan'][:16]}.jsonl").read_text().splitlines()
    assert json.loads(lines[1])["state"] == "disposed"
    cli.run("dispose", "--before", "2999-01-01", "--reason", "x", check=2)
