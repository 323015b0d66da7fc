"""The operator's pages, the document page's links and the report pages, through the real app over HTTP.

Principals, tokens, grants and legal holds made and ended on the pages (with the form token, by
an admin only) must really exist afterwards: a token made on a page opens ``/v1``, a revoked
one no longer does, and each change is a log leaf naming the admin.  The access log filters by
principal, VKN and day and hands out each event's proof; the reports are the API's.

Documents: real corpus files (a waybill and its answer; an invoice, its application response
and both envelopes).  e-Defter ledgers and berats: ``tests/assets/edefter`` (no real signed
ledger with its berat is public, SOURCES.md), made by ``make_edefter.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from earsiv.api.http import create_app
from earsiv.archive.archive import Archive
from tests.conftest import CORPUS
from tests.helpers.rfc9162 import root_from_inclusion
from tests.helpers.web import sign_in

T1, T2 = "1111111111", "2222222222"
EDEFTER = Path(__file__).resolve().parents[1] / "assets" / "edefter"
LEDGER_VKN = "4700012349"
# key -> (file, tenant that archives it)
FILES = {
    "waybill": (CORPUS / "eirsaliye/gib121_Irsaliye-Ornek1.xml", T1),
    "answer": (CORPUS / "eirsaliye/responses/gib121_IrsaliyeYaniti-Ornek1.xml", T1),
    "invoice": (CORPUS / "efatura/gibpkt_2_TICARI_FATURA.xml", T1),
    "invoice-envelope": (CORPUS / "efatura/envelopes/gibpkt_2_TICARI_FATURA_ZARF.xml", T1),
    "response": (CORPUS / "efatura/responses/gibpkt_2_UYGULAMA_YANITI_KABUL.xml", T1),
    "response-envelope": (CORPUS / "efatura/envelopes/gibpkt_2_UYGULAMA_YANITI_KABUL_ZARF.xml", T2),
    "yevmiye": (EDEFTER / f"{LEDGER_VKN}-202501-Y-000000.xml", T1),
    "yevmiye-berat": (EDEFTER / f"{LEDGER_VKN}-202501-YB-000000.xml", T1),
    "yevmiye-gib-berat": (EDEFTER / f"GIB-{LEDGER_VKN}-202501-YB-000000.xml", T1),
    "kebir": (EDEFTER / f"{LEDGER_VKN}-202501-K-000000.xml", T1),
}
NAMES = ("ops", "int", "acc", "other", "insp")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("operator") / "home"
    with Archive.init(home) as arch:
        ac = arch.access
        ac.add_principal("ops", "admin", (), by="test")
        ac.add_principal("int", "integrator", (T1,), by="test")
        ac.add_principal("int2", "integrator", (T2,), by="test")
        ac.add_principal("acc", "accountant", (T1,), by="test")
        ac.add_principal("other", "accountant", (T2,), by="test")
        ac.add_principal("insp", "inspector", (), by="test")
        tokens = {n: ac.create_token(n, by="test").token for n in (*NAMES, "int2")}
        ac.add_grant("insp", "9999999999", dt.date(2013, 1, 1), dt.date(2013, 12, 31),
                     dt.datetime.now(dt.UTC) + dt.timedelta(days=1), "VDK 2026/7", by="test")
    digests = {}
    with TestClient(create_app(home), base_url="http://127.0.0.1") as client:
        for key, (path, tenant) in FILES.items():
            data = path.read_bytes()
            who = "int" if tenant == T1 else "int2"
            r = client.post("/v1/documents", content=data, params={"tenant": tenant},
                            headers={"Authorization": f"Bearer {tokens[who]}", "Content-Type": "application/xml"})
            assert r.status_code == 200, r.text
            digests[key] = hashlib.sha256(data).hexdigest()
        browsers = {}
        for name in NAMES:
            b = TestClient(client.app, base_url="http://127.0.0.1")
            browsers[name] = (b, sign_in(b, tokens[name]))
        yield {"client": client, "tokens": tokens, "digests": digests, "browsers": browsers,
               "service": client.app.state.service}


def _api(world, name: str, method: str, url: str, **kw):
    return world["client"].request(method, url, headers={"Authorization": f"Bearer {world['tokens'][name]}"}, **kw)


def _leaf(world, index: int) -> dict:
    return json.loads(world["service"].archive.log.read_leaf(index))


def _post(world, name: str, url: str, data: dict, *, csrf: bool = True):
    b, token = world["browsers"][name]
    return b.post(url, data={**data, **({"csrf": token} if csrf else {})}, follow_redirects=False)


# -- principals and tokens ----------------------------------------------------------------------
def test_a_principal_and_a_token_made_on_the_page_open_the_api(world):
    r = _post(world, "ops", "/ui/principals", {"name": "yeni.muhasebe", "role": "accountant", "tenants": T1})
    assert r.status_code == 303 and r.headers["location"] == "/ui/principals", r.text
    row = next(p for p in _api(world, "ops", "GET", "/v1/principals").json() if p["name"] == "yeni.muhasebe")
    assert row["role"] == "accountant" and row["tenants"] == [T1]
    r = _post(world, "ops", "/ui/principals/yeni.muhasebe/tokens", {"expires": "31.12.2099"})
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    token = re.search(r'id="new-token">(earsiv_[0-9a-f]{16}_[^<]+)<', r.text).group(1)
    assert "Bu anahtar yalnızca şimdi gösterilir" in r.text
    me = world["client"].get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["name"] == "yeni.muhasebe"
    listed = world["browsers"]["ops"][0].get("/ui/principals")
    assert listed.status_code == 200 and token not in listed.text  # shown that once only
    token_id = token.split("_")[1]
    assert token_id in listed.text
    # The archive keeps the token's hash, in a leaf naming the admin who made it.
    made = next(t for t in _api(world, "ops", "GET", "/v1/tokens", params={"principal": "yeni.muhasebe"}).json())
    assert made["id"] == token_id and made["expires_at"].startswith("2099-12-31T21:00")  # end of the day in Türkiye
    tok_row = world["service"].archive.index.access.token(token_id)
    leaf = _leaf(world, tok_row.log_index)
    assert leaf["by"] == "ops" and token not in json.dumps(leaf)
    assert leaf["sha256"] == hashlib.sha256(token.encode()).hexdigest()
    # Revoked on the page: the API refuses it at once.
    r = _post(world, "ops", f"/ui/tokens/{token_id}/revoke", {})
    assert r.status_code == 303
    assert world["client"].get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_disabling_a_principal_on_the_page_stops_its_tokens_and_enabling_restores_them(world):
    _post(world, "ops", "/ui/principals", {"name": "gecici", "role": "integrator", "tenants": f"{T1}, {T2}"})
    r = _post(world, "ops", "/ui/principals/gecici/tokens", {})
    token = re.search(r'id="new-token">([^<]+)<', r.text).group(1)
    auth = {"Authorization": f"Bearer {token}"}
    assert world["client"].get("/v1/me", headers=auth).json()["tenants"] == [T1, T2]
    assert _post(world, "ops", "/ui/principals/gecici", {"tenants": T2}).status_code == 303
    assert world["client"].get("/v1/me", headers=auth).json()["tenants"] == [T2]
    assert _post(world, "ops", "/ui/principals/gecici", {"state": "disable"}).status_code == 303
    assert world["client"].get("/v1/me", headers=auth).status_code == 401
    page = world["browsers"]["ops"][0].get("/ui/principals")
    assert re.search(r"<td>gecici</td>(?:(?!</tr>).)*kapalı", page.text, re.DOTALL)
    assert _post(world, "ops", "/ui/principals/gecici", {"state": "enable"}).status_code == 303
    assert world["client"].get("/v1/me", headers=auth).status_code == 200
    row = world["service"].archive.index.access.principal("gecici")
    assert _leaf(world, row.log_index)["by"] == "ops"
    assert _post(world, "ops", "/ui/principals/gecici", {"tenants": " "}).status_code == 422  # nothing to change
    assert world["service"].archive.index.access.principal("gecici").log_index == row.log_index


def test_the_operator_pages_speak_english_second(world):
    assert world["browsers"]["insp"][0].get("/ui/grants").headers["earsiv-access-event"]  # an event to list
    ops, _ = world["browsers"]["ops"]
    for url, tr, en in (("/ui/principals", "Kullanıcılar ve anahtarlar", "Principals and tokens"),
                        ("/ui/grants", "İzin ver", "Grant access"),
                        ("/ui/reports", "Uygunluk raporları", "Compliance reports"),
                        ("/ui/access-log", "kanıtı indir", "download proof")):
        assert tr in ops.get(url, params={"lang": "tr"}).text, url
        page = ops.get(url, params={"lang": "en"})
        assert page.status_code == 200 and en in page.text and tr not in page.text, url
    ops.get("/ui/principals", params={"lang": "tr"})


def test_a_bad_principal_is_refused_in_turkish_first_and_nothing_is_made(world):
    r = _post(world, "ops", "/ui/principals", {"name": "kötü ad", "role": "accountant", "tenants": T1})
    assert r.status_code == 422
    r = _post(world, "ops", "/ui/principals", {"name": "vkn-yanlis", "role": "accountant", "tenants": "12345"})
    assert r.status_code == 422
    names = {p["name"] for p in _api(world, "ops", "GET", "/v1/principals").json()}
    assert not names & {"kötü ad", "vkn-yanlis"}


# -- grants ---------------------------------------------------------------------------------------
def test_a_grant_made_on_the_page_lets_the_inspector_in_until_it_is_ended(world):
    page = world["browsers"]["ops"][0].get("/ui/grants")
    assert page.status_code == 200 and '<option>insp</option>' in page.text
    r = _post(world, "ops", "/ui/grants", {"inspector": "insp", "vkn": LEDGER_VKN, "from": "01.01.2025",
                                           "to": "28.02.2025", "expires": "31.12.2099", "reference": "VDK 2026/9"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/grants", r.text
    mine = _api(world, "insp", "GET", "/v1/me").json()["grants"]
    grant = next(g for g in mine if g["reference"] == "VDK 2026/9")
    assert (grant["vkn"], grant["from"], grant["to"], grant["created_by"]) == (LEDGER_VKN, "2025-01-01", "2025-02-28", "ops")
    assert _leaf(world, grant["log_index"])["by"] == "ops"
    seen = _api(world, "insp", "GET", f"/v1/documents/{world['digests']['yevmiye']}")
    assert seen.status_code == 200
    r = _post(world, "ops", f"/ui/grants/{grant['id']}/revoke", {})
    assert r.status_code == 303
    assert not any(g["id"] == grant["id"] for g in _api(world, "insp", "GET", "/v1/me").json()["grants"])
    assert _api(world, "insp", "GET", f"/v1/documents/{world['digests']['yevmiye']}").status_code == 404
    # An inspector's own grants page offers neither form.
    own = world["browsers"]["insp"][0].get("/ui/grants")
    assert own.status_code == 200 and 'action="/ui/grants"' not in own.text and "/revoke" not in own.text


def test_a_grant_with_a_period_backwards_is_refused(world):
    before = len(_api(world, "ops", "GET", "/v1/grants").json())
    r = _post(world, "ops", "/ui/grants", {"inspector": "insp", "vkn": LEDGER_VKN, "from": "31.01.2025",
                                           "to": "01.01.2025", "expires": "31.12.2099", "reference": "x"})
    assert r.status_code == 422
    assert len(_api(world, "ops", "GET", "/v1/grants").json()) == before


# -- legal holds ----------------------------------------------------------------------------------
def _holdings(world, key: str) -> list[dict]:
    r = _api(world, "ops", "GET", f"/v1/documents/{world['digests'][key]}")
    assert r.status_code == 200, r.text
    return r.json()["holdings"]


def test_a_legal_hold_is_placed_and_lifted_from_the_document_page_and_lifting_says_why(world):
    digest = world["digests"]["waybill"]
    page = world["browsers"]["ops"][0].get(f"/ui/documents/{digest}")
    assert 'action="/ui/legal-hold"' in page.text and "Yasal tutma koy" in page.text
    r = _post(world, "ops", "/ui/legal-hold", {"digest": digest, "tenant": T1, "state": "on", "reason": "dava 2026/12"})
    assert r.status_code == 303 and r.headers["location"] == f"/ui/documents/{digest}"
    assert [h["legal_hold"] for h in _holdings(world, "waybill")] == [True]
    assert "Tutmayı kaldır" in world["browsers"]["ops"][0].get(f"/ui/documents/{digest}").text
    r = _post(world, "ops", "/ui/legal-hold", {"digest": digest, "tenant": T1, "state": "off", "reason": ""})
    assert r.status_code == 422 and "nedenini yazın" in r.text
    assert [h["legal_hold"] for h in _holdings(world, "waybill")] == [True]
    r = _post(world, "ops", "/ui/legal-hold", {"digest": digest, "tenant": T1, "state": "off", "reason": "dava bitti"})
    assert r.status_code == 303
    assert [h["legal_hold"] for h in _holdings(world, "waybill")] == [False]
    size = world["service"].archive.status().log_size
    leaves = [_leaf(world, i) for i in range(size - 5, size)]
    assert any(x.get("reason") == "dava bitti" and x.get("on") is False and x.get("tenant") == T1
               for x in leaves), leaves


def test_a_legal_hold_is_the_admins(world):
    digest = world["digests"]["waybill"]
    for name in ("int", "acc", "insp"):
        r = _post(world, name, "/ui/legal-hold", {"digest": digest, "state": "on", "reason": "x"})
        assert r.status_code == 403, name
        assert 'action="/ui/legal-hold"' not in world["browsers"][name][0].get(f"/ui/documents/{digest}").text
    assert [h["legal_hold"] for h in _holdings(world, "waybill")] == [False]


# -- who may: forms need the form token, the pages are the admin's ---------------------------------
_FORMS = (("/ui/principals", {"name": "csrfsiz", "role": "accountant", "tenants": T1}),
          ("/ui/principals/acc/tokens", {}), ("/ui/principals/acc", {"state": "disable"}),
          ("/ui/grants", {"inspector": "insp", "vkn": T1, "from": "01.01.2025", "to": "02.01.2025",
                          "expires": "31.12.2099", "reference": "csrfsiz"}),
          ("/ui/legal-hold", {"state": "on", "reason": "csrfsiz"}))


@pytest.mark.parametrize(("url", "data"), _FORMS)
def test_every_operator_form_is_refused_without_the_form_token(world, url, data):
    if url == "/ui/legal-hold":
        data = {**data, "digest": world["digests"]["invoice"]}
    tokens_before = len(_api(world, "ops", "GET", "/v1/tokens").json())
    r = _post(world, "ops", url, data, csrf=False)
    assert r.status_code == 403
    r = _post(world, "ops", url, {**data, "csrf": "0" * 43}, csrf=False)
    assert r.status_code == 403
    assert "csrfsiz" not in {p["name"] for p in _api(world, "ops", "GET", "/v1/principals").json()}
    assert len(_api(world, "ops", "GET", "/v1/tokens").json()) == tokens_before
    assert _api(world, "acc", "GET", "/v1/me").status_code == 200  # not disabled
    assert not any(g["reference"] == "csrfsiz" for g in _api(world, "ops", "GET", "/v1/grants").json())
    assert not any(h["legal_hold"] for h in _holdings(world, "invoice"))


@pytest.mark.parametrize("name", ["int", "acc", "insp"])
def test_the_operator_pages_refuse_everyone_else(world, name):
    b, _csrf = world["browsers"][name]
    assert b.get("/ui/principals").status_code == 403
    assert "/ui/principals" not in b.get("/ui/access-log").text  # not in the menu either
    for url, data in _FORMS[:4]:
        assert _post(world, name, url, data).status_code == 403, url
    tid = _api(world, "ops", "GET", "/v1/tokens", params={"principal": "acc"}).json()[0]["id"]
    assert _post(world, name, f"/ui/tokens/{tid}/revoke", {}).status_code == 403
    assert _api(world, "acc", "GET", "/v1/me").status_code == 200
    assert "csrfsiz" not in {p["name"] for p in _api(world, "ops", "GET", "/v1/principals").json()}


# -- the access log -------------------------------------------------------------------------------
def test_the_access_log_filters_by_principal_vkn_and_day_and_hands_out_proofs(world):
    insp, _ = world["browsers"]["insp"]
    seen = insp.get(f"/ui/documents/{world['digests']['invoice']}")
    assert seen.status_code == 200
    index = int(seen.headers["earsiv-access-event"])
    ops, _ = world["browsers"]["ops"]
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=3))).date()
    page = ops.get("/ui/access-log", params={"principal": "insp", "vkn": "9999999999",
                                             "from": today.strftime("%d.%m.%Y"), "to": today.strftime("%d.%m.%Y")})
    assert page.status_code == 200 and f"<td>{index}</td>" in page.text
    for miss in ({"principal": "acc"}, {"vkn": T2}, {"to": (today - dt.timedelta(days=1)).strftime("%d.%m.%Y")},
                 {"from": (today + dt.timedelta(days=1)).isoformat()}):
        assert f"<td>{index}</td>" not in ops.get("/ui/access-log", params=miss).text, miss
    assert ops.get("/ui/access-log", params={"from": "32.13.2025"}).status_code == 422
    # The API and the CLI take the same filters, through the same use case.
    day = today.isoformat()
    api = _api(world, "ops", "GET", "/v1/access-log", params={"principal": "insp", "vkn": "9999999999", "from": day,
                                                             "to": day, "proofs": "false", "limit": 1000})
    assert api.status_code == 200 and index in [e["log_index"] for e in api.json()["events"]]
    assert {e["event"]["principal"] for e in api.json()["events"]} == {"insp"}
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    api = _api(world, "ops", "GET", "/v1/access-log", params={"to": yesterday, "proofs": "false"})
    assert api.status_code == 200 and api.json()["events"] == []
    assert _api(world, "ops", "GET", "/v1/access-log", params={"from": day, "to": yesterday}).status_code == 422
    assert f'href="/ui/access-log/{index}/proof"' in page.text
    got = ops.get(f"/ui/access-log/{index}/proof")
    assert got.status_code == 200 and got.headers["content-type"] == "application/json"
    body = got.json()
    proof = body["proof"]
    leaf = proof["leaf"].encode("utf-8")
    assert json.loads(leaf) == body["event"] and body["event"]["documents"] == [world["digests"]["invoice"]]
    root = root_from_inclusion(proof["proof"]["log_index"], proof["proof"]["tree_size"], leaf,
                               [bytes.fromhex(h) for h in proof["proof"]["hashes"]])
    assert root.hex() == proof["proof"]["root"] and f"root: {root.hex()}\n" in proof["checkpoint"]
    assert proof["checkpoint_sig"] and proof["checkpoint_tsr"]
    # The API hands out the very same proof for the event.
    api = _api(world, "ops", "GET", "/v1/access-log", params={"after": index - 1, "limit": 1}).json()["events"][0]
    assert api["proof"]["leaf"] == proof["leaf"] and api["proof"]["proof"] == proof["proof"]
    # The inspector reads its own event's proof; a taxpayer not inspected and the absent event get none.
    assert insp.get(f"/ui/access-log/{index}/proof").status_code == 200
    assert world["browsers"]["other"][0].get(f"/ui/access-log/{index}/proof").status_code == 404
    assert ops.get("/ui/access-log/999999/proof").status_code == 404
    assert world["browsers"]["other"][0].get("/ui/access-log", params={"principal": "insp"}).status_code == 200


# -- the document page's links ---------------------------------------------------------------------
def _links(text: str) -> set[str]:
    return set(re.findall(r'href="/ui/documents/([0-9a-f]{64})"', text))


@pytest.mark.parametrize(("key", "related"), [
    ("waybill", {"answer"}),
    ("answer", {"waybill"}),
    ("invoice", {"invoice-envelope", "response"}),
    ("response", {"invoice", "response-envelope"}),
    ("yevmiye", {"yevmiye-berat", "yevmiye-gib-berat"}),
    ("yevmiye-berat", {"yevmiye", "yevmiye-gib-berat"}),
])
def test_the_document_page_links_its_related_documents(world, key, related):
    d = world["digests"]
    page = world["browsers"]["ops"][0].get(f"/ui/documents/{d[key]}")
    assert page.status_code == 200
    assert _links(page.text) == {d[k] for k in related}, key


def test_related_documents_are_only_those_the_viewer_may_see(world):
    d = world["digests"]
    acc, _ = world["browsers"]["acc"]
    page = acc.get(f"/ui/documents/{d['response']}")  # its envelope is T2's only
    assert page.status_code == 200 and _links(page.text) == {d["invoice"]}
    other, _ = world["browsers"]["other"]
    assert other.get(f"/ui/documents/{d['response-envelope']}").status_code == 200
    page = other.get(f"/ui/documents/{d['response-envelope']}")
    assert _links(page.text) == set()  # the response it carries is T1's
    # An inspector is shown no related document its access event does not name (only the references the
    # document itself writes, each opened as an event of its own): the invoice's envelope and answer stay unnamed.
    insp, _ = world["browsers"]["insp"]
    page = insp.get(f"/ui/documents/{d['invoice']}")
    assert page.status_code == 200 and _links(page.text) == set() and "İlgili belgeler" not in page.text
    assert _leaf(world, int(page.headers["earsiv-access-event"]))["documents"] == [d["invoice"]]


def test_the_document_page_shows_holdings_retention_and_hold_to_those_who_may_know(world):
    d = world["digests"]
    page = world["browsers"]["acc"][0].get(f"/ui/documents/{d['invoice']}")
    assert "Saklama sonu" in page.text and T1 in page.text and "Yasal tutma" in page.text
    assert "Saklama sonu" not in world["browsers"]["insp"][0].get(f"/ui/documents/{d['invoice']}").text
    env = world["browsers"]["ops"][0].get(f"/ui/documents/{d['response-envelope']}")
    assert T2 in env.text
    assert T2 not in world["browsers"]["acc"][0].get(f"/ui/documents/{d['response']}").text


# -- reports --------------------------------------------------------------------------------------
def test_a_report_is_a_page_and_the_apis_files(world):
    ops, _ = world["browsers"]["ops"]
    params = {"report": "edefter", "vkn": LEDGER_VKN, "from": "01.01.2025", "to": "31.01.2025"}
    page = ops.get("/ui/reports", params=params)
    assert page.status_code == 200, page.text
    assert "e-Defter dönemleri" in page.text and "<h3>months (1)</h3>" in page.text
    api = {"vkn": LEDGER_VKN, "from": "2025-01-01", "to": "2025-01-31"}
    for fmt in ("json", "csv", "xlsx", "pdf"):
        assert f"format={fmt}" in page.text
        got = ops.get("/ui/reports/file", params={**params, "format": fmt})
        want = _api(world, "ops", "GET", "/v1/reports/edefter", params={**api, "format": fmt})
        assert got.status_code == want.status_code == 200, (fmt, got.text[:200])
        assert got.headers["content-type"] == want.headers["content-type"]
        if fmt == "json":
            a, b = got.json(), want.json()
            a.pop("generated_at"), b.pop("generated_at")
            assert a == b and a["months"][0]["yevmiye"] == 1
        elif fmt == "xlsx":
            assert zipfile.is_zipfile(io.BytesIO(got.content))
        elif fmt == "pdf":
            assert got.content.startswith(b"%PDF")
        else:
            assert got.content.decode("utf-8-sig").splitlines()[0] == want.content.decode("utf-8-sig").splitlines()[0]


def test_reports_are_scoped_as_the_apis(world):
    params = {"report": "responses", "vkn": "9999999999", "from": "01.01.2013", "to": "31.12.2013"}
    acc, _ = world["browsers"]["acc"]
    assert acc.get("/ui/reports", params=params).status_code == 403  # not its taxpayer
    assert acc.get("/ui/reports/file", params={**params, "format": "csv"}).status_code == 403
    assert acc.get("/ui/reports").status_code == 200  # the form alone
    insp, _ = world["browsers"]["insp"]
    r = insp.get("/ui/reports", params=params)
    assert r.status_code == 200 and r.headers["earsiv-access-event"]
    event = _leaf(world, int(r.headers["earsiv-access-event"]))
    assert event["action"] == "report" and event["principal"] == "insp"
    r = insp.get("/ui/reports", params={**params, "vkn": LEDGER_VKN, "report": "edefter",
                                         "from": "01.01.2025", "to": "31.01.2025"})
    assert r.status_code == 403  # the grant for it was ended above, or never covered it
    assert world["browsers"]["ops"][0].get("/ui/reports", params={**params, "report": "nope"}).status_code == 422
