"""The audit's own rules: budgets, the pace in ``serve``, what a pass records (issue 13).

On real archives made in a temporary directory; ``tests/e2e/test_audit.py`` damages them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from earsiv.archive.archive import Archive
from earsiv.archive.audit import Audit, Budget
from earsiv.archive.background import AuditPace, Background
from earsiv.archive.config import load_config
from earsiv.archive.ingest import Source
from tests.helpers.synthetic import invoices


@pytest.mark.parametrize(("text", "budget"), [
    ("10m", Budget(seconds=600)), ("90s", Budget(seconds=90)), ("2h", Budget(seconds=7200)), ("1.5", Budget(seconds=1.5)),
    ("500MB", Budget(bytes=500_000_000)), ("2GB", Budget(bytes=2_000_000_000)), ("64kb", Budget(bytes=64_000)),
])
def test_a_budget_is_a_time_or_an_amount_read(text, budget):
    assert Budget.parse(text) == budget


@pytest.mark.parametrize("text", ["", "ten minutes", "5x", "GB"])
def test_a_budget_that_means_nothing_is_refused(text):
    with pytest.raises(ValueError, match="expected a time"):
        Budget.parse(text)


@pytest.fixture
def arch(tmp_path: Path):
    a = Archive.init(tmp_path / "home")
    for i in range(0, 300, 30):  # ten bundles
        list(a.ingest([Source(f"{n}.xml", data) for n, data in invoices(i, 30)]))
        a.checkpoint()
    yield a
    a.close()


def test_a_pass_in_steps_reads_each_leaf_once_and_records_one_pass(arch: Archive):
    audit = Audit.of_home(arch)
    end = arch.log.size
    positions = []
    while True:
        report = audit.step(Budget(bytes=1))  # a bundle per step
        assert not report.findings
        positions.append(report.position)
        if report.pass_finished:
            break
    assert positions == sorted(set(positions)) and len(positions) >= 10 and positions[-1] == end
    assert arch.log.size == end + 1  # the pass leaf, nothing else
    last = arch.index.audit.summary()["last_full_pass"]
    assert last["leaves"] == end and last["findings"] == 0 and last["objects"] > 300
    assert audit.load_state() is None  # the next step begins a new pass


def test_serve_paces_the_audit_over_its_period_and_under_a_tenth_of_a_core(arch: Archive, monkeypatch):
    pace = AuditPace(arch, period_days=30)
    monkeypatch.setattr(AuditPace, "SLICE", 0.0)  # the smallest step: one bundle
    t0 = dt.datetime.now(dt.UTC)
    delay = pace.step()
    state = pace.audit.load_state()
    assert state is not None and 0 < state.position < state.end
    took = pace.busy_seconds
    assert delay >= took * 9 * 0.999  # never more than a tenth of a core
    # Spread over the period: the rest of the pass at this step's rate ends by 90 % of it.
    steps_left = (state.end - state.position) / state.position
    assert t0 + dt.timedelta(seconds=(delay + took) * steps_left) <= t0 + dt.timedelta(days=27, minutes=1)
    needed = 27 * 86400 / (state.end / state.position)
    assert delay >= min(needed * 0.5, AuditPace.MAX_PAUSE)  # not much faster than it needs (a small archive: hourly)
    while not pace.audit.step(Budget()).pass_finished:
        pass
    monkeypatch.setattr(AuditPace, "SLICE", 1.0)
    # A finished pass waits for its period to come round.
    next_delay = pace.step()
    assert next_delay > 29 * 86400 or pace.audit.load_state() is not None


def test_serve_audits_only_when_a_period_is_configured(tmp_path: Path):
    home = tmp_path / "home"
    Archive.init(home).close()
    text = (home / "config.toml").read_text().replace("period_days = 30", "period_days = 0")
    (home / "config.toml").write_text(text)
    assert load_config(home).audit_days == 0
    with Archive.open(home) as a:
        assert Background(a).audit is None
    (home / "config.toml").write_text(text.replace("period_days = 0", "period_days = 7"))
    with Archive.open(home) as a:
        assert Background(a).audit.period == dt.timedelta(days=7)
