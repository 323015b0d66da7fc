"""The web pages (``/ui``) through the real app: sessions, form tokens, the pages' policy, find, look,
downloads, lists to take away, and the way in at ``/`` and ``/docs`` with nothing from elsewhere."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import sqlite3
import zipfile
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from earsiv.api.http import create_app
from earsiv.api.web.render import PAGE_CSP
from earsiv.archive.archive import Archive
from earsiv.archive.errors import Unauthenticated
from earsiv.archive.sessions import ABSOLUTE, IDLE, WebSessions
from earsiv.documents.parse import parse_document
from tests.conftest import CORPUS
from tests.helpers.web import sign_in

FILES = ("efatura/gib121_TicariFaturaOrnegi.xml", "efatura/gib121_TemelFaturaOrnegi.xml",
         "efatura/gib121_IadeFaturasiOrnegi.xml", "efatura/gibpkt_2_TICARI_FATURA.xml")
TENANT = "1111111111"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("web") / "home"
    docs = {}
    for rel in FILES:
        data = (CORPUS / rel).read_bytes()
        docs[rel] = (hashlib.sha256(data).hexdigest(), parse_document(data, name=rel), data)
    first = docs[FILES[0]][1]
    with Archive.init(home) as arch:
        ac = arch.access
        ac.add_principal("acc", "accountant", (TENANT,), by="test")
        ac.add_principal("int", "integrator", (TENANT,), by="test")
        ac.add_principal("other", "accountant", ("2222222222",), by="test")
        ac.add_principal("insp", "inspector", (), by="test")
        ac.add_principal("ops", "admin", (), by="test")
        tokens = {n: ac.create_token(n, by="test").token for n in ("acc", "int", "other", "insp", "ops")}
        year = first.issue_date.year
        ac.add_grant("insp", first.supplier.id, dt.date(year, 1, 1), dt.date(year, 12, 31),
                     dt.datetime.now(dt.UTC) + dt.timedelta(days=1), "VDK 2026/1", by="test")
    with TestClient(create_app(home), base_url="http://127.0.0.1") as client:
        for rel in FILES:
            r = client.post("/v1/documents", content=docs[rel][2], params={"tenant": TENANT},
                            headers={"Authorization": f"Bearer {tokens['int']}", "Content-Type": "application/xml"})
            assert r.status_code == 200, r.text
        yield {"client": client, "home": home, "tokens": tokens, "docs": docs}


def _client(world) -> TestClient:
    """A browser of its own (its own cookies) on the module's app."""
    c = TestClient(world["client"].app, base_url="http://127.0.0.1")
    return c


def test_root_leads_people_to_the_pages_and_programs_to_the_api(world):
    c = world["client"]
    r = c.get("/", headers={"Accept": "text/html,application/xhtml+xml"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/"
    assert c.get("/", headers={"Accept": "application/json"}).json()["api"] == "/v1"


def test_a_page_without_a_session_leads_to_the_sign_in_form(world):
    c = _client(world)
    r = c.get("/ui/documents", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/sign-in?next=/ui/documents")
    # A bearer token is not a page's way in, and a session is not the API's.
    r = c.get("/ui/documents", headers={"Authorization": f"Bearer {world['tokens']['acc']}"}, follow_redirects=False)
    assert r.status_code == 303
    sign_in(c, world["tokens"]["acc"])
    assert c.get("/v1/me").status_code == 401


def test_the_session_cookie_is_httponly_strict_and_kept_hashed(world):
    c = _client(world)
    form = c.get("/ui/sign-in")
    presign = re.search(r'name="presign" value="([^"]+)"', form.text).group(1)
    r = c.post("/ui/sign-in", data={"presign": presign, "token": world["tokens"]["acc"]}, follow_redirects=False)
    cookie = r.headers["set-cookie"]
    assert "earsiv_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Secure" not in cookie  # plain http on loopback; behind TLS it is Secure (next test)
    secret = re.search(r"earsiv_session=([^;]+)", cookie).group(1)
    with sqlite3.connect(world["home"] / "index.sqlite") as db:
        rows = db.execute("SELECT sha256 FROM web_sessions").fetchall()
    assert (hashlib.sha256(secret.encode()).hexdigest(),) in rows
    assert not any(secret in str(row) for row in rows)


def test_behind_tls_the_cookie_is_secure(world):
    c = TestClient(world["client"].app, base_url="https://127.0.0.1")
    form = c.get("/ui/sign-in")
    presign = re.search(r'name="presign" value="([^"]+)"', form.text).group(1)
    r = c.post("/ui/sign-in", data={"presign": presign, "token": world["tokens"]["acc"]}, follow_redirects=False)
    assert "Secure" in r.headers["set-cookie"]


def test_sign_in_needs_the_forms_own_token_and_a_good_api_token(world):
    c = _client(world)
    c.get("/ui/sign-in")
    assert c.post("/ui/sign-in", data={"presign": "forged", "token": world["tokens"]["acc"]},
                  follow_redirects=False).status_code == 403
    form = c.get("/ui/sign-in")
    presign = re.search(r'name="presign" value="([^"]+)"', form.text).group(1)
    r = c.post("/ui/sign-in", data={"presign": presign, "token": "earsiv_0123456789abcdef_" + "x" * 43},
               follow_redirects=False)
    assert r.status_code == 401 and "earsiv_session" not in r.headers.get("set-cookie", "")


def test_sign_out_needs_the_form_token_and_ends_the_session(world):
    c = _client(world)
    csrf = sign_in(c, world["tokens"]["acc"])
    assert c.post("/ui/sign-out", data={}, follow_redirects=False).status_code == 403
    assert c.post("/ui/sign-out", data={"csrf": "0" * 64}, follow_redirects=False).status_code == 403
    assert c.post("/ui/sign-out", data={"csrf": csrf}, headers={"Origin": "http://evil.example"},
                  follow_redirects=False).status_code == 403
    assert c.get("/ui/documents", follow_redirects=False).status_code == 200  # still signed in
    secret = c.cookies.get("earsiv_session")
    assert c.post("/ui/sign-out", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    # The old cookie, replayed, opens nothing: the session is gone on the server.
    c2 = _client(world)
    c2.cookies.set("earsiv_session", secret, domain="127.0.0.1", path="/ui")
    assert c2.get("/ui/documents", follow_redirects=False).status_code == 303


def test_revoking_the_token_ends_its_sessions(world):
    with Archive.open(world["home"]) as arch:
        new = arch.access.create_token("acc", by="test")
    c = _client(world)
    sign_in(c, new.token)
    assert c.get("/ui/documents", follow_redirects=False).status_code == 200
    admin = {"Authorization": f"Bearer {world['tokens']['ops']}"}
    assert world["client"].delete(f"/v1/tokens/{new.id}", headers=admin).status_code == 200
    assert c.get("/ui/documents", follow_redirects=False).status_code == 303


def test_idle_and_absolute_expiry(tmp_path):
    home = tmp_path / "home"
    with Archive.init(home) as arch:
        arch.access.add_principal("acc", "accountant", (TENANT,), by="test")
        token = arch.access.create_token("acc", by="test").token
        s = WebSessions(arch.access, arch.index.sessions)
        t0 = dt.datetime.now(dt.UTC)
        new = s.sign_in(token, t0)
        assert s.resolve(new.secret, t0 + IDLE - dt.timedelta(minutes=1)).principal.name == "acc"
        # used a minute before going idle: the idle clock starts again from that use
        assert s.resolve(new.secret, t0 + 2 * IDLE - dt.timedelta(minutes=3)).principal.name == "acc"
        with pytest.raises(Unauthenticated):
            s.resolve(new.secret, t0 + 3 * IDLE)
        with pytest.raises(Unauthenticated):  # deleted when found expired
            s.resolve(new.secret, t0)
        second = s.sign_in(token, t0)
        now = t0
        while now + IDLE / 2 < t0 + ABSOLUTE:  # kept busy, it still ends at the absolute expiry
            now += IDLE / 2
            s.resolve(second.secret, now)
        with pytest.raises(Unauthenticated):
            s.resolve(second.secret, t0 + ABSOLUTE)
        with pytest.raises(Unauthenticated):
            s.resolve(second.secret[:-1] + ("A" if second.secret[-1] != "A" else "B"), t0)


def test_pages_send_a_policy_that_runs_no_script(world):
    c = _client(world)
    sign_in(c, world["tokens"]["acc"])
    digest = world["docs"][FILES[0]][0]
    for url in ("/ui/sign-in", "/ui/documents?all=1", f"/ui/documents/{digest}", "/ui/access-log"):
        r = c.get(url)
        assert r.status_code == 200, (url, r.text)
        assert r.headers["content-security-policy"] == PAGE_CSP
        assert "script" not in PAGE_CSP and "frame-ancestors 'none'" in PAGE_CSP
        assert "<script" not in r.text and " on" not in re.sub(r"<[^>]*>", "", "") and not re.search(r"\son\w+=", r.text)
        assert not re.search(r'(src|href)="(https?:)?//', r.text), url  # nothing from elsewhere
        assert r.headers["x-content-type-options"] == "nosniff"


def test_find_counts_totals_sorts_and_pages(world):
    c = _client(world)
    sign_in(c, world["tokens"]["acc"])
    metas = [m for _d, m, _b in world["docs"].values()]
    r = c.get("/ui/documents", params={"all": "1", "sort": "amount", "desc": "0"})
    assert r.status_code == 200
    assert re.search(rf"<h2 id=\"results\">{len(metas)} belge", r.text)
    sums: dict[str, Decimal] = {}
    for m in metas:
        if m.payable_amount is not None:
            sums[m.currency or "?"] = sums.get(m.currency or "?", Decimal(0)) + m.payable_amount
    for cur, total in sums.items():
        tr = f"{total:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
        assert f"{tr} {cur}" in r.text
    # ascending by amount: the rows' digests in the order of the amounts
    order = [d for d in re.findall(r'href="/ui/documents/([0-9a-f]{64})"', r.text)]
    by_amount = sorted(((m.payable_amount, d) for d, m, _b in world["docs"].values() if m.payable_amount is not None))
    assert [d for d in order if d in {x for _a, x in by_amount}][: len(by_amount)] == [d for _a, d in by_amount]
    # Another tenant's accountant finds nothing of these
    o = _client(world)
    sign_in(o, world["tokens"]["other"])
    assert re.search(r'<h2 id="results">0 belge', o.get("/ui/documents", params={"all": "1"}).text)


def test_turkish_dates_are_understood_and_bad_ones_answered_in_turkish(world):
    c = _client(world)
    sign_in(c, world["tokens"]["acc"])
    d = world["docs"][FILES[0]][1].issue_date
    r = c.get("/ui/documents", params={"from": d.strftime("%d.%m.%Y"), "to": d.strftime("%d.%m.%Y")})
    assert r.status_code == 200 and world["docs"][FILES[0]][0] in r.text
    r = c.get("/ui/documents", params={"from": "31.02.2025"})
    assert r.status_code == 422 and "bir tarih değil" in r.text


def test_open_by_ettn_in_any_case_by_number_and_by_a_short_digest(world):
    c = _client(world)
    sign_in(c, world["tokens"]["acc"])
    digest, meta, _b = world["docs"][FILES[3]]
    for ref in (digest[:10], digest.upper()[:12], meta.doc_id):
        r = c.get("/ui/open", params={"ref": ref}, follow_redirects=False)
        assert r.status_code in (200, 303), (ref, r.text)
        assert digest in (r.headers.get("location", "") + r.text), ref
    ettn_hits = c.get("/ui/open", params={"ref": meta.ettn.upper()}, follow_redirects=False)
    assert digest in ettn_hits.headers.get("location", "") + ettn_hits.text
    o = _client(world)
    sign_in(o, world["tokens"]["other"])
    assert o.get("/ui/open", params={"ref": digest[:10]}).status_code == 404
    assert o.get(f"/ui/documents/{digest}").status_code == 404


def test_the_document_page_frames_its_print_sandboxed_and_offers_downloads(world):
    c = _client(world)
    sign_in(c, world["tokens"]["acc"])
    digest, meta, data = world["docs"][FILES[0]]
    r = c.get(f"/ui/documents/{digest}")
    assert r.status_code == 200
    assert f'<iframe class="print" sandbox="" src="/ui/documents/{digest}/frame"' in r.text
    assert meta.supplier.id in r.text and "ETTN" in r.text
    f = c.get(f"/ui/documents/{digest}/frame")
    assert f.status_code == 200 and "sandbox" in f.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in f.headers["content-security-policy"]
    assert c.get(f"/ui/documents/{digest}/download/xml").content == data
    pdf = c.get(f"/ui/documents/{digest}/download/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    ev = c.get(f"/ui/documents/{digest}/download/evidence")
    assert ev.status_code == 200 and zipfile.is_zipfile(io.BytesIO(ev.content))


def test_lists_to_take_away_open_in_turkish_excel(world):
    c = _client(world)
    sign_in(c, world["tokens"]["acc"])
    r = c.get("/ui/export.csv", params={"all": "1"})
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert len(rows) == 1 + len(FILES)
    amounts = [row[10] for row in rows[1:] if row[10]]
    assert amounts and all("," in a and "." not in a for a in amounts)
    x = c.get("/ui/export.xlsx", params={"all": "1"})
    with zipfile.ZipFile(io.BytesIO(x.content)) as zf:
        sheet = zf.read("xl/worksheets/sheet1.xml").decode()
        assert "<f>" not in sheet and sheet.count("<row ") == 1 + len(FILES)
    z = c.get("/ui/export.zip", params={"what": "xml"})
    with zipfile.ZipFile(io.BytesIO(z.content)) as zf:
        got = {hashlib.sha256(zf.read(n)).hexdigest() for n in zf.namelist() if n.endswith(".xml")}
    assert got == {d for d, _m, _b in world["docs"].values()}


def test_an_inspectors_pages_are_access_events_within_its_grant(world):
    c = _client(world)
    sign_in(c, world["tokens"]["insp"])
    inside = world["docs"][FILES[0]][0]
    r = c.get(f"/ui/documents/{inside}")
    assert r.status_code == 200 and r.headers["earsiv-access-event"]
    outside = [d for d, m, _b in world["docs"].values() if m.supplier.id != world["docs"][FILES[0]][1].supplier.id
               and m.customer is not None and m.customer.id != world["docs"][FILES[0]][1].supplier.id]
    assert outside
    miss = c.get(f"/ui/documents/{outside[0]}")
    assert miss.status_code == 404 and miss.headers["earsiv-access-event"]
    admin = {"Authorization": f"Bearer {world['tokens']['ops']}"}
    index = int(r.headers["earsiv-access-event"].split(",")[0])
    log = world["client"].get("/v1/access-log", params={"after": index - 1, "limit": 1, "proofs": "false"},
                              headers=admin).json()["events"][0]
    assert log["event"]["principal"] == "insp" and log["event"]["action"] == "view"
    assert log["event"]["documents"] == [inside]


def test_api_docs_load_nothing_from_elsewhere(world):
    c = world["client"]
    r = c.get("/docs")
    assert r.status_code == 200 and "script-src 'self'" in r.headers["content-security-policy"]
    assert not re.search(r'(src|href)="(https?:)?//', r.text) and "<script>" not in r.text
    for src in re.findall(r'(?:src|href)="([^"]+)"', r.text):
        assert c.get(src).status_code == 200, src
    assert c.get("/redoc", follow_redirects=False).headers["location"] == "/docs"


def test_the_status_page_shows_open_findings_and_their_notice_deadline(tmp_path):
    """L9: the operator sees on the page what the audit found and by when the Administration must hear of it."""
    from earsiv.archive.audit import Audit, Budget
    from earsiv.archive.ingest import Source

    home = tmp_path / "home"
    data = (CORPUS / FILES[1]).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    with Archive.init(home) as arch:
        list(arch.ingest([Source("a.xml", data)]))
        arch.access.add_principal("ops", "admin", (), by="test")
        token = arch.access.create_token("ops", by="test").token
    blob = home / "store" / "objects" / "blobs" / digest[:2] / digest
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes()[:-1] + bytes([blob.read_bytes()[-1] ^ 1]))  # one flipped bit
    with Archive.open(home) as arch:
        found = Audit.of_home(arch).step(Budget(), restart=True)  # as `earsiv audit` runs it: findings are leaves
    assert found.findings
    detected = dt.datetime.now(dt.UTC)
    with TestClient(create_app(home), base_url="http://127.0.0.1") as c:
        sign_in(c, token)
        page = c.get("/ui/status", params={"lang": "en"})
    assert page.status_code == 200, page.text[:300]
    text = re.sub(r"<[^>]+>", " ", page.text)
    assert re.search(r"Audit: open findings\s+1\b", text), text[text.find("Documents"):][:1500]
    due = {(detected + dt.timedelta(days=d)).date().isoformat() for d in (15, 14)}  # around midnight
    assert any(d in text for d in due), text[:2000]
    assert "damage-report" in text


def test_the_status_page_shows_the_archive_key_and_each_rotation(tmp_path):
    """The key to compare with paper stays the first; the page also shows the key signing now and the hand-overs."""
    home = tmp_path / "home"
    with Archive.init(home) as arch:
        arch.access.add_principal("ops", "admin", (), by="test")
        token = arch.access.create_token("ops", by="test").token
        first = arch.archive_key().key_id
        done = arch.rotate_key(reason="scheduled", by="test")
    with TestClient(create_app(home), base_url="http://127.0.0.1") as c:
        sign_in(c, token)
        page = c.get("/ui/status", params={"lang": "en"})
    assert page.status_code == 200, page.text[:300]
    text = re.sub(r"<[^>]+>", " ", page.text)
    assert re.search(rf"Archive key \(SHA-256\)\s+{first}", text), text[:3000]
    assert re.search(rf"Signing key now \(SHA-256\)\s+{done['new_key']}", text), text[:3000]
    assert re.search(rf"Key rotations\s+log entry {done['log_index']}\b.*scheduled", text), text[:3000]
