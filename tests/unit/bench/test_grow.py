"""bench/grow.py end to end at a tiny scale: two stages, each operation measured, resumed between runs.

The benchmark is only worth its hours at 10 k to 1 M documents if every
operation it names really ran at every stage and the results file says so;
this runs it at 30 and 60 documents with one round, in two invocations (the
second must continue where the first stopped, not grow or measure again).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _load():
    spec = importlib.util.spec_from_file_location("bench_grow", ROOT / "bench" / "grow.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


grow = _load()


def test_stages_parse_with_suffixes_and_must_increase():
    assert grow.parse_stages("10000,100k,1M") == [10_000, 100_000, 1_000_000]
    for bad in ("100,100", "0", "10k,5k", "many"):
        with pytest.raises(Exception, match="stages|number"):
            grow.parse_stages(bad)


def test_package_is_the_party_and_period_closest_to_twenty_documents():
    d = dt.date(2016, 1, 1)
    docs = [("1111111111", d + dt.timedelta(days=i // 3)) for i in range(60)]  # three a day
    docs += [("2222222222", d)] * 5
    vkn, start, end, count = grow.pick_package(docs, size=20)
    assert vkn == "1111111111"
    assert count == sum(1 for v, day in docs if v == vkn and start <= day <= end)
    assert abs(count - 20) <= 2
    assert grow.pick_package([("3333333333", d)] * 4, size=20) == ("3333333333", d, d, 4)


@pytest.mark.slow
def test_two_stages_measure_every_operation_and_a_rerun_resumes(tmp_path, capsys):
    home = tmp_path / "grow"
    common = ["--home", str(home), "--reps", "1", "--bulk", "3", "--access-events", "2", "--json"]
    grow.main(["--stages", "30", *common])
    first = json.loads(capsys.readouterr().out)
    grow.main(["--stages", "30,60", *common])
    results = json.loads(capsys.readouterr().out)

    on_disk = json.loads((tmp_path / "grow.results.json").read_text())
    state = json.loads((tmp_path / "grow.state.json").read_text())
    assert on_disk["stages"] == results["stages"]
    assert not (home / "grow.state.json").exists()  # beside the archive, never in it
    assert set(results["stages"]) == {"30", "60"}
    assert results["stages"]["30"] == first["stages"]["30"]  # not grown or measured again
    assert all(s["grown"] and s["measured"] for s in state["stages"].values())
    names = [op.name for op in grow.OPS]
    assert {"open", "ingest-1", "ingest-bulk", "evidence-old", "evidence-new", "inspector-search", "legal-hold-on",
            "token-create", "access-log", "package", "checkpoint", "status", "serve"} <= set(names)
    for key, target in (("30", 30), ("60", 60)):
        stage = results["stages"][key]
        assert stage["before"]["documents"] >= target
        assert stage["after"]["documents"] >= stage["before"]["documents"] + 1 + 3  # ingest-1, ingest-bulk
        assert stage["before"]["bytes"]["home"] > stage["before"]["bytes"]["index"] > 0
        assert stage["growth"]["stored"] > 0 and stage["growth"]["seconds"] > 0
        assert list(stage["ops"]) == names
        for name, op in stage["ops"].items():
            errors = [r["error"] for r in op["runs"] if "error" in r]
            assert not errors, (key, name, errors)
            assert op["n"] == op["ok"] == 1 and 0 < op["min"] <= op["median"], (key, name)
    assert results["stages"]["60"]["ops"]["package"]["runs"][0]["wall"] > 0
    factors = {v["op"]: v for v in results["verdicts"] if v["stage"] == 60}
    assert set(factors) == set(names)
    assert all(v["factor"] > 0 for v in factors.values())
    assert all("growth_pass" in v for n, v in factors.items() if not n.startswith("floor:"))
    assert state["stream_pos"] >= results["stages"]["60"]["after"]["documents"]
