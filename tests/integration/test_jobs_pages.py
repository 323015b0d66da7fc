"""Take-away jobs on the web pages, through the real app: the find page's buttons make a job (with the form
token), its page refreshes itself while it runs (no script: the pages' policy allows none) and then
offers the download; "my jobs" lists them; another person's job is not found.  Polls count rounds."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import time
import zipfile

import pytest
from fastapi.testclient import TestClient

from earsiv.api.http import create_app
from earsiv.api.web.render import PAGE_CSP
from earsiv.archive.archive import Archive
from tests.conftest import CORPUS
from tests.helpers.web import sign_in

FILES = ("efatura/gib121_TicariFaturaOrnegi.xml", "efatura/gib121_TemelFaturaOrnegi.xml")
OTHER = "efatura/gibpkt_2_TICARI_FATURA.xml"
A, B = "1111111111", "2222222222"
ROUNDS = 600


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("jobpages") / "home"
    with Archive.init(home) as arch:
        ac = arch.access
        ac.add_principal("int", "integrator", (A, B), by="test")
        ac.add_principal("acc", "accountant", (A,), by="test")
        ac.add_principal("other", "accountant", (B,), by="test")
        tokens = {n: ac.create_token(n, by="test").token for n in ("int", "acc", "other")}
    with TestClient(create_app(home), base_url="http://127.0.0.1") as client:
        for rel, tenant in [(f, A) for f in FILES] + [(OTHER, B)]:
            r = client.post("/v1/documents", content=(CORPUS / rel).read_bytes(), params={"tenant": tenant},
                            headers={"Authorization": f"Bearer {tokens['int']}", "Content-Type": "application/xml"})
            assert r.status_code == 200, r.text
        yield {"app": client.app, "tokens": tokens}


def _browser(world, who: str) -> tuple[TestClient, str]:
    c = TestClient(world["app"], base_url="http://127.0.0.1")
    return c, sign_in(c, world["tokens"][who])


def _make(c: TestClient, csrf: str, kind: str, **fields) -> str:
    r = c.post("/ui/jobs", data={"csrf": csrf, "job": kind, **fields}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert re.fullmatch(r"/ui/jobs/[0-9a-f]{32}", r.headers["location"])
    return r.headers["location"]


def _until_done(c: TestClient, url: str) -> str:
    for _ in range(ROUNDS):
        html = c.get(url).text
        if 'data-state="done"' in html or 'data-state="failed"' in html:
            return html
        # While it runs, the page says so and reloads itself: no script, a refresh.
        assert re.search(r'<meta http-equiv="refresh" content="2">', html), html
        time.sleep(0.2)
    raise AssertionError(f"{url} never done")


def test_the_find_page_offers_the_bulk_downloads_as_job_buttons(world):
    c, _csrf = _browser(world, "acc")
    html = c.get("/ui/documents", params={"all": "1", "from": "01.01.2000"}).text
    form = re.search(r'<form method="post" action="/ui/jobs".*?</form>', html, re.DOTALL).group(0)
    assert re.search(r'name="csrf" value="[^"]+"', form)
    assert '<input type="hidden" name="from" value="01.01.2000">' in form
    # The documents' kind travels with the list, the job's kind with the button pressed.
    html = c.get("/ui/documents", params={"kind": "e-fatura"}).text
    assert '<input type="hidden" name="kind" value="e-fatura">' in html
    assert {m for m in re.findall(r'name="job" value="([a-z-]+)"', form)} == {"zip-pdf", "zip-xml", "zip-both",
                                                                               "csv", "xlsx"}


def test_a_job_from_the_page_runs_to_a_download_of_exactly_the_list(world):
    c, csrf = _browser(world, "acc")
    url = _make(c, csrf, "zip-xml", tenant=A, **{"from": "01.01.2000"})
    html = _until_done(c, url)
    assert "http-equiv=\"refresh\"" not in html  # done: the page stops reloading
    assert c.get(url).headers["content-security-policy"] == PAGE_CSP
    link = re.search(r'href="(/ui/jobs/[0-9a-f]{32}/result)"', html).group(1)
    r = c.get(link)
    assert r.status_code == 200 and f"2000-01-01_son_{A}_zip-xml.zip" in r.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        got = {hashlib.sha256(zf.read(n)).hexdigest() for n in zf.namelist()}
    assert got == {hashlib.sha256((CORPUS / f).read_bytes()).hexdigest() for f in FILES}
    mine = c.get("/ui/jobs").text
    assert url in mine and link in mine and "Hazır" in mine
    assert "My jobs" in c.get("/ui/jobs", params={"lang": "en"}).text


def test_a_job_needs_the_form_token_and_is_its_principals_only(world):
    c, csrf = _browser(world, "acc")
    r = c.post("/ui/jobs", data={"csrf": "forged", "job": "csv"}, follow_redirects=False)
    assert r.status_code == 403
    url = _make(c, csrf, "csv")
    _until_done(c, url)
    stranger, other_csrf = _browser(world, "other")
    assert stranger.get(url).status_code == 404
    assert stranger.get(url + "/result").status_code == 404
    assert stranger.post(url + "/delete", data={"csrf": other_csrf}, follow_redirects=False).status_code == 404
    assert url not in stranger.get("/ui/jobs").text
    # Its owner deletes it.
    r = c.post(url + "/delete", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and c.get(url).status_code == 404


def test_a_page_cannot_make_a_job_over_another_tenants_list(world):
    c, csrf = _browser(world, "other")
    r = c.post("/ui/jobs", data={"csrf": csrf, "job": "zip-xml", "tenant": A}, follow_redirects=False)
    assert r.status_code == 403
    url = _make(c, csrf, "csv")
    html = _until_done(c, url)
    data = c.get(re.search(r'href="(/ui/jobs/[0-9a-f]{32}/result)"', html).group(1)).content
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data[3:].decode()), delimiter=";"))
    assert len(rows) == 2 and rows[1][14] == hashlib.sha256((CORPUS / OTHER).read_bytes()).hexdigest()  # B's only one
