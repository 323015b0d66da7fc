"""Take-away jobs of a real `earsiv serve` whose index is PostgreSQL: the job rows live there, so a job
made, run and fetched, and one left running by a killed server, behave as on SQLite."""

from __future__ import annotations

import hashlib
import io
import zipfile

import httpx
import sqlalchemy as sa

from tests.helpers.auth import bearer
from tests.helpers.serve import served
from tests.integration.test_jobs_http import FILES_A, _create, _home, _ingest, _result, _until


def test_a_job_on_postgresql_runs_and_one_left_running_by_a_killed_server_fails_at_restart(pg_url, tmp_path):
    home, tokens, digests = _home(tmp_path, db_url=pg_url)
    tok = tokens["acc-a"]
    with served(home, tmp_path / "serve.log") as srv:
        _ingest(srv.base, tokens)
        job = _until(srv.base, tok, _create(srv.base, tok, "zip-xml").json()["id"])
        with zipfile.ZipFile(io.BytesIO(_result(srv.base, tok, job).content)) as zf:
            assert {hashlib.sha256(zf.read(n)).hexdigest() for n in zf.namelist()} == {digests[f] for f in FILES_A}
    with served(home, tmp_path / "serve2.log", env={"EARSIV_FAULT": "jobs.after-document#2"}) as srv:
        job_id = _create(srv.base, tok, "zip-xml").json()["id"]
        assert srv.proc.wait(timeout=120) == -9
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT state FROM jobs WHERE id = :i"), {"i": job_id}).scalar() == "running"
    engine.dispose()
    with served(home, tmp_path / "serve3.log") as srv:
        jobs = {j["id"]: j for j in httpx.get(f"{srv.base}/v1/jobs", headers=bearer(tok)).json()["jobs"]}
        assert jobs[job_id]["state"] == "failed" and jobs[job_id]["error"].startswith("interrupted")
        assert jobs[job["id"]]["state"] == "done"  # the one before is still there, and still fetched
        assert _result(srv.base, tok, jobs[job["id"]]).status_code == 200
