"""Take-away jobs over the HTTP API of a real `earsiv serve`: made, followed to done, downloaded and opened;
their scope, an inspector's access event, the per-principal cap, expiry, deletion, and a server killed mid-job.

Polls count their rounds (at most ``ROUNDS``), they do not time anything.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import sqlite3
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from earsiv.archive.archive import Archive
from earsiv.documents.parse import parse_document
from tests.conftest import CORPUS
from tests.helpers.auth import bearer
from tests.helpers.serve import served

A, B = "1111111111", "2222222222"
FILES_A = ("efatura/gib121_TicariFaturaOrnegi.xml", "efatura/gib121_TemelFaturaOrnegi.xml",
           "efatura/gib121_IadeFaturasiOrnegi.xml")
FILES_B = ("efatura/gibpkt_2_TICARI_FATURA.xml",)
ROUNDS = 600  # polls of 0.2 s: a job that is not done by then is a failure, however slow the machine


def _home(root: Path, jobs: str = "", db_url: str | None = None) -> tuple[Path, dict[str, str], dict[str, str]]:
    """A home with tenants A and B, an inspector granted A's first supplier's year; its tokens and digests."""
    home = root / "home"
    first = parse_document((CORPUS / FILES_A[0]).read_bytes(), name=FILES_A[0])
    with Archive.init(home, db_url=db_url) as arch:
        ac = arch.access
        for name, role, tenants in (("int", "integrator", (A, B)), ("acc-a", "accountant", (A,)),
                                    ("acc-a2", "accountant", (A,)), ("acc-b", "accountant", (B,)),
                                    ("insp", "inspector", ())):
            ac.add_principal(name, role, tenants, by="test")
        tokens = {n: ac.create_token(n, by="test").token for n in ("int", "acc-a", "acc-a2", "acc-b", "insp")}
        year = first.issue_date.year
        ac.add_grant("insp", first.supplier.id, dt.date(year, 1, 1), dt.date(year, 12, 31),
                     dt.datetime.now(dt.UTC) + dt.timedelta(days=1), "VDK 2026/7", by="test")
    if jobs:
        config = home / "config.toml"
        text = config.read_text()
        start = text.index("[jobs]")
        config.write_text(text[:start] + "[jobs]\n" + jobs)
    digests = {f: hashlib.sha256((CORPUS / f).read_bytes()).hexdigest() for f in FILES_A + FILES_B}
    return home, tokens, digests


def _ingest(base: str, tokens: dict[str, str]) -> None:
    for files, tenant in ((FILES_A, A), (FILES_B, B)):
        for f in files:
            r = httpx.post(f"{base}/v1/documents", content=(CORPUS / f).read_bytes(), params={"tenant": tenant},
                           headers={**bearer(tokens["int"]), "Content-Type": "application/xml"}, timeout=60)
            assert r.status_code == 200, r.text


def _create(base: str, token: str, kind: str, **params) -> httpx.Response:
    return httpx.post(f"{base}/v1/jobs", json={"kind": kind}, params=params, headers=bearer(token), timeout=60)


def _until(base: str, token: str, job_id: str, states=("done", "failed")) -> dict:
    for _ in range(ROUNDS):
        r = httpx.get(f"{base}/v1/jobs/{job_id}", headers=bearer(token), timeout=30)
        assert r.status_code == 200, r.text
        if r.json()["state"] in states:
            return r.json()
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached {states}: {r.json()}")


def _result(base: str, token: str, job: dict) -> httpx.Response:
    r = httpx.get(f"{base}{job['links']['result']}", headers=bearer(token), timeout=60)
    assert r.status_code == 200, r.text
    assert hashlib.sha256(r.content).hexdigest() == job["sha256"] and len(r.content) == job["size"]
    return r


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("jobs")
    home, tokens, digests = _home(root)
    with served(home, root / "serve.log") as srv:
        _ingest(srv.base, tokens)
        yield {"base": srv.base, "tokens": tokens, "digests": digests, "home": home}


def test_a_zip_of_originals_holds_exactly_the_tenants_documents_byte_for_byte(world):
    base, tok = world["base"], world["tokens"]["acc-a"]
    r = _create(base, tok, "zip-xml", tenant=A)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/v1/jobs/{r.json()['id']}"
    job = _until(base, tok, r.json()["id"])
    assert job["state"] == "done" and (job["done"], job["total"], job["skipped"]) == (3, 3, 0), job
    got = _result(base, tok, job)
    assert f"_{A}_zip-xml.zip" in got.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(got.content)) as zf:
        names = zf.namelist()
        assert all(n.startswith("xml/") for n in names)
        inside = {hashlib.sha256(zf.read(n)).hexdigest() for n in names}
    assert len(names) == 3 and inside == {world["digests"][f] for f in FILES_A}


def test_a_zip_of_pdfs_and_both(world):
    base, tok = world["base"], world["tokens"]["acc-b"]
    job = _until(base, tok, _create(base, tok, "zip-pdf").json()["id"])
    with zipfile.ZipFile(io.BytesIO(_result(base, tok, job).content)) as zf:
        (name,) = zf.namelist()
        pdf = zf.read(name)
    assert name.startswith("pdf/") and name.endswith(".pdf") and pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF") and b"/EmbeddedFile" in pdf  # PDF/A-3: the original rides inside
    job = _until(base, tok, _create(base, tok, "zip-both").json()["id"])
    assert job["state"] == "done" and job["done"] == 2, job
    with zipfile.ZipFile(io.BytesIO(_result(base, tok, job).content)) as zf:
        names = sorted(zf.namelist())
        pdfs = [n for n in names if n.startswith("pdf/")]
        xmls = [n for n in names if n.startswith("xml/")]
        assert len(pdfs) == 1 and len(xmls) == 1 and len(names) == 2, names
        assert zf.read(pdfs[0]).startswith(b"%PDF-")
        assert hashlib.sha256(zf.read(xmls[0])).hexdigest() == world["digests"][FILES_B[0]]


def test_a_csv_for_turkish_excel_and_an_xlsx_that_opens(world):
    from openpyxl import load_workbook

    base, tok = world["base"], world["tokens"]["acc-a"]
    job = _until(base, tok, _create(base, tok, "csv").json()["id"])
    data = _result(base, tok, job).content
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data[3:].decode("utf-8")), delimiter=";"))
    assert len(rows) == 1 + 3 and len(rows[0]) > 5
    amounts = [r[10] for r in rows[1:]]
    assert all("," in a and "." not in a for a in amounts if a), amounts  # decimal comma
    job = _until(base, tok, _create(base, tok, "xlsx").json()["id"])
    book = load_workbook(io.BytesIO(_result(base, tok, job).content))
    assert book.active.max_row == 1 + 3


def test_scope_another_tenants_list_and_another_principals_job(world):
    base, t = world["base"], world["tokens"]
    r = _create(base, t["acc-b"], "zip-xml", tenant=A)
    assert r.status_code == 403, r.text
    job = _until(base, t["acc-a"], _create(base, t["acc-a"], "zip-xml").json()["id"])
    for other in ("acc-b", "acc-a2"):  # even one of the same tenant: a job is its principal's
        for path in (f"/v1/jobs/{job['id']}", f"/v1/jobs/{job['id']}/result"):
            assert httpx.get(f"{base}{path}", headers=bearer(t[other])).status_code == 404
        assert httpx.delete(f"{base}/v1/jobs/{job['id']}", headers=bearer(t[other])).status_code == 404
        assert job["id"] not in {j["id"] for j in httpx.get(f"{base}/v1/jobs", headers=bearer(t[other])).json()["jobs"]}
    assert job["id"] in {j["id"] for j in httpx.get(f"{base}/v1/jobs", headers=bearer(t["acc-a"])).json()["jobs"]}


def test_an_inspectors_job_is_an_access_event_naming_its_documents(world):
    base, tok = world["base"], world["tokens"]["insp"]
    r = _create(base, tok, "zip-xml")
    assert r.status_code == 202, r.text
    event = r.headers["earsiv-access-event"]
    assert r.json()["access_event"] == event
    job = _until(base, tok, r.json()["id"])
    with zipfile.ZipFile(io.BytesIO(_result(base, tok, job).content)) as zf:
        inside = {hashlib.sha256(zf.read(n)).hexdigest() for n in zf.namelist()}
    log = httpx.get(f"{base}/v1/access-log", headers=bearer(tok), params={"limit": 1000, "proofs": "false"}).json()
    (entry,) = [e["event"] for e in log["events"] if str(e["log_index"]) in event.split(", ")]
    assert entry["action"] == "export" and entry["params"]["job"] == job["id"] and entry["params"]["job_kind"] == "zip-xml"
    assert inside and inside == set(entry["documents"])
    assert world["digests"][FILES_B[0]] not in inside  # outside the grant


def test_deleting_a_job_deletes_its_result(world):
    base, tok, home = world["base"], world["tokens"]["acc-a"], world["home"]
    job = _until(base, tok, _create(base, tok, "csv").json()["id"])
    assert (home / "jobs" / f"{job['id']}.csv").is_file()
    assert httpx.delete(f"{base}/v1/jobs/{job['id']}", headers=bearer(tok)).status_code == 204
    assert httpx.get(f"{base}/v1/jobs/{job['id']}", headers=bearer(tok)).status_code == 404
    assert not (home / "jobs" / f"{job['id']}.csv").exists()


def test_one_principal_cannot_queue_more_than_its_cap(world):
    base, t, home = world["base"], world["tokens"], world["home"]
    # Two jobs queued on a node that is not this server's: they never run here, so they stay
    # queued for as long as the test needs, and count against the cap.
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    with sqlite3.connect(home / "index.sqlite") as db:
        for i in range(2):
            db.execute("INSERT INTO jobs (id, principal, kind, query, label, state, done, skipped, node, created_at, "
                       "heartbeat_at) VALUES (?, 'acc-a2', 'zip-pdf', '{}', 'x', 'queued', 0, 0, 'elsewhere:/h', ?, ?)",
                       (f"{i:032x}", now, now))
    r = _create(base, t["acc-a2"], "csv")
    assert r.status_code == 429, r.text
    assert r.json()["type"].endswith("too-many-jobs") and "2 jobs" in r.json()["detail"]
    assert _create(base, t["acc-a"], "csv").status_code == 202  # another principal is not held up
    assert httpx.delete(f"{base}/v1/jobs/{0:032x}", headers=bearer(t["acc-a2"])).status_code == 204
    assert _create(base, t["acc-a2"], "csv").status_code == 202


def test_the_result_expires_and_is_deleted(tmp_path):
    home, tokens, _digests = _home(tmp_path, "keep_hours = 0.0003\nper_principal = 2\nworkers = 1\n")  # about 1 s
    with served(home, tmp_path / "serve.log") as srv:
        _ingest(srv.base, tokens)
        tok = tokens["acc-a"]
        job = _until(srv.base, tok, _create(srv.base, tok, "zip-xml").json()["id"], ("done", "expired"))
        expired = _until(srv.base, tok, job["id"], ("expired",))
        assert expired["size"] is None and "result" not in expired["links"]
        r = httpx.get(f"{srv.base}/v1/jobs/{job['id']}/result", headers=bearer(tok))
        assert r.status_code == 410 and r.json()["type"].endswith("job-expired"), r.text
        assert list((home / "jobs").iterdir()) == []


def test_a_job_running_when_serve_is_killed_is_failed_at_restart_not_left_running(tmp_path):
    home, tokens, _digests = _home(tmp_path)
    with served(home, tmp_path / "serve.log") as srv:
        _ingest(srv.base, tokens)
    tok = tokens["acc-a"]
    # SIGKILL at the second document of the job: its row says running, half a ZIP is on disk.
    with served(home, tmp_path / "serve2.log", env={"EARSIV_FAULT": "jobs.after-document#2"}) as srv:
        job_id = _create(srv.base, tok, "zip-xml").json()["id"]
        assert srv.proc.wait(timeout=120) == -9
        assert "SIGKILL at jobs.after-document" in srv.log_text()
    with sqlite3.connect(home / "index.sqlite") as db:
        assert db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone() == ("running",)
    assert [p.suffix for p in (home / "jobs").iterdir()] == [".part"]
    with served(home, tmp_path / "serve3.log") as srv:
        job = httpx.get(f"{srv.base}/v1/jobs/{job_id}", headers=bearer(tok)).json()
        assert job["state"] == "failed" and job["error"].startswith("interrupted"), job
        assert httpx.get(f"{srv.base}/v1/jobs/{job_id}/result", headers=bearer(tok)).status_code == 409
        assert list((home / "jobs").iterdir()) == []
        again = _until(srv.base, tok, _create(srv.base, tok, "zip-xml").json()["id"])  # made again, it runs
        assert again["state"] == "done" and again["done"] == 3
