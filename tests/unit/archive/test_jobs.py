"""The job runner (``archive/jobs.py``) on a real SQLite index: a job deleted while it runs stops and keeps
nothing, a server that stops fails its running job as interrupted, a result appears whole or not at all,
a silent node's running jobs are failed by another, and a query survives the round trip through its row.

The work a runner is given is its injection point (``ArchiveService.run_job`` in a server); here it is
a small function that writes a document at a time and waits on an event between them, so that the
test decides, by counting, when the job is in the middle.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from earsiv.archive.jobs import SILENT, JobRunner, Outcome, job_label, query_from_json, query_to_json
from earsiv.indexer.db import Index
from earsiv.indexer.jobdb import JobRow
from earsiv.indexer.query import SearchQuery

NODE = "host:/home"


@pytest.fixture
def index(tmp_path: Path):
    ix = Index(f"sqlite:///{tmp_path / 'index.sqlite'}")
    ix.upgrade()
    yield ix
    ix.close()


def _row(job_id: str, node: str = NODE) -> JobRow:
    now = dt.datetime.now(dt.UTC)
    return JobRow(id=job_id, principal="acc", kind="csv", query="{}", label="x", state="queued", done=0, total=None,
                  skipped=0, node=node, created_at=now, heartbeat_at=now, finished_at=None, expires_at=None, size=None,
                  sha256=None, error=None, digests=None, event=None)


class Steps:
    """Work of *n* documents that says when it begins each one, then waits for the test's go to write it."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.begun = 0
        self.started = threading.Semaphore(0)  # released once per document begun
        self.go = threading.Semaphore(0)

    def __call__(self, row: JobRow, out: Path, progress) -> Outcome:
        progress.start(self.n)
        with open(out, "wb") as f:
            for i in range(self.n):
                self.begun += 1
                self.started.release()
                assert self.go.acquire(timeout=60)
                f.write(b"%d;" % i)
                progress.step()
        return Outcome(self.n, 0)


def _state(index: Index, job_id: str, want: str, rounds: int = 600) -> JobRow | None:
    for _ in range(rounds):
        row = index.jobs.get(job_id)
        if row is None or row.state == want:
            return row
        time.sleep(0.05)
    raise AssertionError(f"{job_id} never {want}: {index.jobs.get(job_id)}")


def test_a_job_runs_to_a_whole_result_with_its_size_and_sha256(index, tmp_path):
    import hashlib

    work = Steps(3)
    runner = JobRunner(index.jobs, tmp_path / "jobs", NODE, work)
    runner.start()
    try:
        index.jobs.add(_row("a" * 32), cap=2)
        runner.wake()
        for _ in range(3):
            work.go.release()
        row = _state(index, "a" * 32, "done")
        data = (tmp_path / "jobs" / f"{'a' * 32}.csv").read_bytes()
        assert data == b"0;1;2;" and (row.size, row.sha256) == (len(data), hashlib.sha256(data).hexdigest())
        assert (row.done, row.total) == (3, 3) and row.expires_at > row.finished_at
    finally:
        runner.close()


def test_a_job_deleted_while_it_runs_stops_and_keeps_nothing_and_the_next_one_runs(index, tmp_path):
    work = Steps(3)
    runner = JobRunner(index.jobs, tmp_path / "jobs", NODE, work, progress_every=0)  # its row at every step
    runner.start()
    try:
        index.jobs.add(_row("a" * 32), cap=2)
        runner.wake()
        assert work.started.acquire(timeout=60)  # the first document is begun: the job runs
        assert _state(index, "a" * 32, "running").state == "running"
        assert index.jobs.delete("a" * 32)
        work.go.release()  # its first document is written; the step after it finds the job gone, and stops
        index.jobs.add(_row("b" * 32), cap=2)
        runner.wake()
        assert work.started.acquire(timeout=60)  # b's first
        assert work.begun == 2  # a's second was never begun
        for _ in range(3):
            work.go.release()
        assert _state(index, "b" * 32, "done").state == "done"
        assert sorted(p.name for p in (tmp_path / "jobs").iterdir()) == [f"{'b' * 32}.csv"]
    finally:
        runner.close()


def test_a_server_that_stops_fails_its_running_job_as_interrupted(index, tmp_path):
    work = Steps(3)
    runner = JobRunner(index.jobs, tmp_path / "jobs", NODE, work)
    runner.start()
    index.jobs.add(_row("a" * 32), cap=2)
    runner.wake()
    assert work.started.acquire(timeout=60)
    closing = threading.Thread(target=runner.close)
    closing.start()
    for _ in range(600):  # rounds, until close() has said stop
        if runner.stopping:
            break
        time.sleep(0.01)
    work.go.release()  # the job's next step sees the server stopping
    closing.join(timeout=60)
    row = index.jobs.get("a" * 32)
    assert row.state == "failed" and row.error.startswith("interrupted"), row
    assert list((tmp_path / "jobs").iterdir()) == []


def test_the_running_jobs_of_a_silent_node_are_failed_by_another(index, tmp_path):
    t0 = dt.datetime.now(dt.UTC)
    index.jobs.add(_row("a" * 32, node="gone:/home"), cap=2)
    index.jobs.claim("gone:/home", t0 - SILENT - dt.timedelta(seconds=1))
    runner = JobRunner(index.jobs, tmp_path / "jobs", NODE, Steps(1))
    runner.sweep()
    row = index.jobs.get("a" * 32)
    assert row.state == "failed" and "stopped answering" in row.error


def test_a_query_survives_its_row_and_names_its_period_and_taxpayer():
    q = SearchQuery(vkn="1234567890", date_from=dt.date(2025, 11, 1), date_to=dt.date(2025, 11, 30), kind="e-fatura",
                    amount_min=Decimal("10.50"), text="anonim", tenant="1111111111", supplier="1111111111")
    back = query_from_json(query_to_json(q))
    assert back == SearchQuery(**{**{f: getattr(q, f) for f in ("vkn", "date_from", "date_to", "kind", "amount_min",
                                                                   "text", "tenant", "supplier")}, "limit": 1000})
    assert job_label(q) == "2025-11-01_2025-11-30_1111111111"
    assert job_label(SearchQuery()) == "tum-tarihler"
