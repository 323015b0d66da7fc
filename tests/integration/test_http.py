"""The HTTP API against a real archive home and real corpus documents.

One archive serves the module (initialising one takes seconds: keys and the
built-in TSA); tests that damage the store get their own.  Expected values
come from the files themselves (sha256 of their bytes) or from the corpus
description (SOURCES.md), never from the API's own earlier answers.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient

from earsiv.api.http import create_app
from earsiv.archive.archive import Archive
from earsiv.archive.errors import ConfigError
from tests.helpers.auth import bearer, make_principal

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"
PROBLEM = "application/problem+json"

# Documents every test in the module can count on (sent once, as multipart).
BASE = [
    "efatura/gib121_TEVKIFAT.xml",
    "efatura/gib121_TicariFaturaOrnegi.xml",
    "efatura/gib121_IadeFaturasiOrnegi.xml",
    "efatura/gib121_ISTISNA-2.xml",
    "efatura/gibpkt_2_TICARI_FATURA.xml",
    "efatura/ubltr_BasicInvoiceNoTime.xml",
    "earsiv/bdog_sample.xml",
    "earsiv/izpy_E_Smm_template.xml",
    "eirsaliye/gib121_Irsaliye-Ornek1.xml",
    "eirsaliye/gib121_Irsaliye-Ornek2.xml",
    "eirsaliye/responses/gib121_IrsaliyeYaniti-Ornek1.xml",
    "efatura/responses/gib121_KabulUygulamaYanitiOrnegi.xml",
    "efatura/envelopes/gibpkt_2_TICARI_FATURA_ZARF.xml",
]
GIB_SAMPLE_ETTN = "F47AC10B-58CC-4372-A567-0E02B2C3D479"  # SOURCES.md: reused by many GİB samples


def sha(path: str | Path) -> str:
    return hashlib.sha256((CORPUS / path).read_bytes()).hexdigest()


def is_problem(r, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status and body["detail"]
    if code is not None:
        assert body["type"] == f"urn:earsiv:problem:{code}"
    return body


def post_xml(c: TestClient, rel: str, **kw):
    return c.post("/v1/documents", content=(CORPUS / rel).read_bytes(),
                  headers={"Content-Type": "application/xml", "X-Filename": Path(rel).name}, **kw)


def all_documents(c: TestClient, **params) -> list[dict]:
    r = c.get("/v1/documents", params={**params, "limit": 1000})
    assert r.status_code == 200, r.text
    assert r.json()["next_cursor"] is None
    return r.json()["documents"]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("http") / "home"
    Archive.init(home).close()
    return home


@pytest.fixture(scope="module")
def admin(home) -> dict[str, str]:
    return bearer(make_principal(home, "test-admin", "admin"))


@pytest.fixture(scope="module")
def client(home, admin):
    with TestClient(create_app(home), headers=admin) as c:
        yield c


@pytest.fixture(scope="module")
def base(client) -> dict[str, str]:
    """BASE ingested as one multipart request; path -> digest."""
    files = [("files", (Path(p).name, (CORPUS / p).read_bytes(), "application/xml")) for p in BASE]
    r = client.post("/v1/documents", files=files)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["path"] for x in results] == [Path(p).name for p in BASE]  # one result per file, in order
    for p, res in zip(BASE, results):
        assert res["digest"] == sha(p)
        assert res["status"] in ("stored", "conflict"), res
    assert r.json()["counts"]["stored"] + r.json()["counts"]["conflict"] == len(BASE)
    return {p: sha(p) for p in BASE}


# -- ingest ---------------------------------------------------------------

def test_raw_body_stored_then_duplicate(client):
    rel = "efatura/gib121_HASTANE.xml"
    r = post_xml(client, rel)
    assert r.status_code == 200
    (res,) = r.json()["results"]
    assert res["path"] == "gib121_HASTANE.xml"
    assert res["digest"] == sha(rel)
    assert res["status"] in ("stored", "conflict")  # GİB samples share an ETTN (SOURCES.md)
    assert res["kind"] == "e-fatura" and res["error"] is None
    assert res["size"] == len((CORPUS / rel).read_bytes())
    r = post_xml(client, rel)
    assert r.status_code == 200
    assert r.json()["results"][0]["status"] == "duplicate"
    assert r.json()["counts"] == {"stored": 0, "duplicate": 1, "conflict": 0, "rejected": 0}


def test_text_xml_named_by_query_parameter_and_percent_encoded_header(client):
    rel = "efatura/gib121_OTV.xml"
    r = client.post("/v1/documents", params={"filename": "otv-örnek.xml"}, content=(CORPUS / rel).read_bytes(),
                    headers={"Content-Type": "text/xml; charset=utf-8"})
    assert r.status_code == 200
    assert r.json()["results"][0]["path"] == "otv-örnek.xml"
    assert r.json()["results"][0]["digest"] == sha(rel)
    # The header wins over the query parameter; non-ASCII travels percent-encoded.
    r = client.post("/v1/documents", params={"filename": "ignored.xml"}, content=(CORPUS / rel).read_bytes(),
                    headers={"Content-Type": "application/xml", "X-Filename": "fatura%20%C3%A7.xml"})
    assert r.json()["results"][0]["path"] == "fatura ç.xml"
    assert r.json()["results"][0]["status"] == "duplicate"


def test_zip_body(client):
    members = ["eirsaliye/gib121_Irsaliye-Ornek3.xml", "efatura/gib121_HKS-Ornek1.xml", "earsiv/svob_sample_invoice.xml"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for m in members:
            zf.writestr(f"batch/{Path(m).name}", (CORPUS / m).read_bytes())
    r = client.post("/v1/documents", content=buf.getvalue(),
                    headers={"Content-Type": "application/zip", "X-Filename": "batch.zip"})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["path"] for x in results] == [f"batch.zip:batch/{Path(m).name}" for m in members]
    assert [x["digest"] for x in results] == [sha(m) for m in members]
    for m in members:
        assert client.get(f"/v1/documents/{sha(m)}").status_code == 200


def test_zip_with_parent_path_is_refused_whole(client):
    rel = "efatura/mimco_iskonto.xml"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ok.xml", (CORPUS / rel).read_bytes())
        zf.writestr("../escape.xml", (CORPUS / rel).read_bytes())
    r = client.post("/v1/documents", content=buf.getvalue(), headers={"Content-Type": "application/zip"})
    body = is_problem(r, 422, "ingest-rejected")
    assert "upload.zip" in body["detail"] and ".." in body["detail"]
    assert [x["status"] for x in body["results"]] == ["rejected"]
    assert client.get(f"/v1/documents/{sha(rel)}").status_code == 404  # nothing in it was archived


def test_zip_content_type_on_something_else(client):
    r = client.post("/v1/documents", content=b"PK\x03\x04 but not really", headers={"Content-Type": "application/zip"})
    body = is_problem(r, 422, "ingest-rejected")
    assert body["results"][0]["error"] == "not a ZIP archive"


def test_conflict_same_ettn_different_bytes(client):
    # SOURCES.md: gib121_OZELMATRAH and gibfw_TEVKIFAT share cbc:ID and UUID; the bytes differ.
    first, second = "efatura/gib121_OZELMATRAH.xml", "efatura/gibfw_TEVKIFAT.xml"
    assert post_xml(client, first).status_code == 200
    r = post_xml(client, second)
    assert r.status_code == 200  # a conflict is kept: both documents are archived
    (res,) = r.json()["results"]
    assert res["status"] == "conflict"
    assert sha(first) in res["conflicts_with"]
    assert client.get(f"/v1/documents/{sha(second)}").status_code == 200


def test_rejected_files_make_a_problem_that_names_them(client):
    good = "efatura/mimco_default.xml"
    not_xml = "efatura/responses/gibpkt_7_UYGULAMA_YANITI_IADE.xml"  # SOURCES.md: not well-formed
    dtd = b'<?xml version="1.0"?>\n<!DOCTYPE Invoice [<!ENTITY x "boom">]>\n<Invoice>&x;</Invoice>\n'
    files = [
        ("files", ("good.xml", (CORPUS / good).read_bytes(), "application/xml")),
        ("files", ("broken.xml", (CORPUS / not_xml).read_bytes(), "application/xml")),
        ("files", ("entity.xml", dtd, "application/xml")),
    ]
    r = client.post("/v1/documents", files=files)
    body = is_problem(r, 422, "ingest-rejected")
    assert "broken.xml" in body["detail"] and "entity.xml" in body["detail"]
    assert "good.xml" not in body["detail"]
    by_path = {x["path"]: x for x in body["results"]}
    assert by_path["good.xml"]["status"] in ("stored", "conflict")
    assert by_path["broken.xml"]["status"] == "rejected" and by_path["broken.xml"]["error"]
    assert by_path["entity.xml"]["status"] == "rejected" and "DTD" in by_path["entity.xml"]["error"]
    assert body["counts"]["rejected"] == 2
    # The good file of the same request was archived; the rejected ones were not.
    assert client.get(f"/v1/documents/{sha(good)}").status_code == 200
    assert client.get(f"/v1/documents/{sha(not_xml)}").status_code == 404
    assert client.get(f"/v1/documents/{hashlib.sha256(dtd).hexdigest()}").status_code == 404


def test_empty_and_non_xml_raw_bodies_are_rejected_not_errors(client):
    for body in (b"", b"\x00\x01\x02 binary", "düz metin".encode()):
        r = client.post("/v1/documents", content=body, headers={"Content-Type": "application/xml", "X-Filename": "x.xml"})
        assert is_problem(r, 422, "ingest-rejected")["results"][0]["path"] == "x.xml"


def test_ingest_request_errors(client):
    r = client.delete("/v1/documents")  # write-once: there is no such operation
    assert "POST" in r.headers["allow"]
    is_problem(r, 405)
    is_problem(client.post("/v1/documents", content=b"<a/>", headers={"Content-Type": "text/plain"}), 415)
    is_problem(client.post("/v1/documents", content=b"<a/>"), 415)  # no Content-Type at all
    is_problem(client.post("/v1/documents", data={"note": "no files"}, files={}), 415)  # urlencoded form
    r = client.post("/v1/documents", files=[("other", ("", b"", "text/plain"))], data={"x": "y"})
    assert r.status_code in (415, 422) and r.headers["content-type"].startswith(PROBLEM)
    is_problem(client.post("/v1/documents", params={"tenant": "12ab"}, content=b"<a/>",
                           headers={"Content-Type": "application/xml"}), 422, "invalid-request")
    r = client.post("/v1/documents", content=b"--x\r\nbroken", headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith(PROBLEM)


def test_create_app_refuses_a_home_that_is_not_an_archive(tmp_path):
    with pytest.raises(ConfigError, match="not an archive home"):
        create_app(tmp_path / "empty")


def test_body_size_limit(home, admin):
    rel = "efatura/gib121_TEVKIFAT.xml"  # 5800 bytes
    with TestClient(create_app(home, max_body_bytes=1000), headers=admin) as c:
        body = is_problem(post_xml(c, rel), 413, "body-too-large")
        assert "1000" in body["detail"]

        def chunks():  # no Content-Length: the limit must hold while reading
            data = (CORPUS / rel).read_bytes()
            for i in range(0, len(data), 500):
                yield data[i:i + 500]

        r = c.post("/v1/documents", content=chunks(), headers={"Content-Type": "application/xml"})
        is_problem(r, 413, "body-too-large")
        files = [("files", ("a.xml", (CORPUS / rel).read_bytes(), "application/xml"))]
        is_problem(c.post("/v1/documents", files=files), 413, "body-too-large")
        assert c.get("/healthz").status_code == 200  # and small requests still work


def test_concurrent_ingests_and_reads(client, base):
    rels = ["efatura/mimco_ihracat.xml", "efatura/gib121_IHRACAT.xml", "efatura/gib121_YOLCUBERABER.xml",
            "eirsaliye/gib121_Irsaliye-Matbudan.xml", "efatura/ubltr_BasicInvoiceHourMinuteTime.xml",
            "efatura/gibpkt_3_TICARI_FATURA.xml"]

    def work(i: int):
        if i % 2:
            return client.get("/v1/documents", params={"limit": 5})
        return post_xml(client, rels[i // 2])

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(work, range(2 * len(rels))))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200]
    ingests = [a.json()["results"][0] for a in answers[0::2]]
    assert [x["digest"] for x in ingests] == [sha(r) for r in rels]
    new = [x["log_index"] for x in ingests if x["status"] != "duplicate"]
    assert len(set(new)) == len(new)  # no two documents got the same log position
    # Each unit of work completed whole: blob, leaf, inclusion and stamp all verify.
    for x in ingests:
        v = client.post(f"/v1/documents/{x['digest']}/verify").json()
        assert v["ok"], v


# -- search ---------------------------------------------------------------

def test_search_paging_returns_every_document_exactly_once(client, base):
    everything = {d["digest"] for d in all_documents(client)}
    assert set(base.values()) <= everything
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        r = client.get("/v1/documents", params=params)
        assert r.status_code == 200
        page = r.json()
        assert len(page["documents"]) <= 4
        seen += [d["digest"] for d in page["documents"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == len(everything)
    assert set(seen) == everything
    assert pages == -(-len(everything) // 4)
    dates = [d["issue_date"] or "0000" for d in all_documents(client)]
    assert dates == sorted(dates, reverse=True)  # newest first


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        # Values from SOURCES.md: gib121_TEVKIFAT is TICARIFATURA/TEVKIFAT SRM2012000086985 of 2012-08-04.
        ({"type": "TEVKIFAT"}, lambda d: d["type_code"] == "TEVKIFAT"),
        ({"profile": "TICARIFATURA"}, lambda d: d["profile"] == "TICARIFATURA"),
        ({"id": "SRM2012000086985"}, lambda d: d["doc_id"] == "SRM2012000086985"),
        ({"kind": "e-irsaliye"}, lambda d: d["kind"] == "e-irsaliye"),
        ({"ettn": GIB_SAMPLE_ETTN.lower()}, lambda d: (d["ettn"] or "").lower() == GIB_SAMPLE_ETTN.lower()),
        ({"from": "2012-01-01", "to": "2013-12-31"}, lambda d: d["issue_date"] and "2012-01-01" <= d["issue_date"] <= "2013-12-31"),
        ({"from": "2016-08-14"}, lambda d: d["issue_date"] and d["issue_date"] >= "2016-08-14"),
        ({"kind": "e-fatura", "to": "2012-12-31"}, lambda d: d["kind"] == "e-fatura" and d["issue_date"] and d["issue_date"] <= "2012-12-31"),
    ],
)
def test_search_filters_match_a_filter_over_everything(client, base, params, keep):
    everything = all_documents(client)
    expected = {d["digest"] for d in everything if keep(d)}
    got = {d["digest"] for d in all_documents(client, **params)}
    assert expected, "the corpus selection must hold matches, or this test proves nothing"
    assert got == expected
    assert got != {d["digest"] for d in everything}
    # Paging a filtered search gives the same set.
    paged, cursor = [], None
    while True:
        r = client.get("/v1/documents", params={**params, "limit": 2, **({"cursor": cursor} if cursor else {})})
        paged += [d["digest"] for d in r.json()["documents"]]
        if not (cursor := r.json()["next_cursor"]):
            break
    assert len(paged) == len(set(paged)) and set(paged) == expected


def test_search_by_vkn(client, base):
    ticari = client.get(f"/v1/documents/{base['efatura/gib121_TicariFaturaOrnegi.xml']}").json()
    vkn = ticari["customer_id"]
    assert vkn and vkn.isdigit()
    everything = all_documents(client)
    as_party = {d["digest"] for d in everything if vkn in (d["supplier_id"], d["customer_id"])}
    got = {d["digest"] for d in all_documents(client, vkn=vkn)}
    assert ticari["digest"] in got
    assert as_party <= got  # other roles (sender, receiver, ...) may add more
    assert got < {d["digest"] for d in everything}
    assert all_documents(client, vkn="0000000000") == []


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2020-01-02", "to": "2020-01-01"},
        {"from": "2020-13-01"},
        {"to": "yesterday"},
        {"kind": "e-nothing"},
        {"limit": 0},
        {"limit": 1001},
        {"limit": "many"},
        {"cursor": "not-a-cursor"},
        {"cursor": "azF8MjAyMC0wMS0wMXxub3RoZXg"},  # base64 of a cursor with a bad digest
        {"vkn": ""},
        {"id": "x" * 300},
        {"signature": "valid"},
        {"signature": "geçerli"},
        {"trust": "valid"},
        {"signer": "someone"},
    ],
)
def test_search_rejects_bad_parameters(client, params):
    is_problem(client.get("/v1/documents", params=params), 422, "invalid-request")


def test_signature_valid_is_refused_with_the_three_honest_choices(client, base):
    # "valid" only ever meant "the bytes match the signature" (issue 17); an old query must not
    # quietly keep reading it as more, so it is refused with the words to use instead.
    problem = is_problem(client.get("/v1/documents", params={"signature": "valid"}), 422, "invalid-request")
    assert all(w in str(problem) for w in ("signature=consistent", "trust=trusted", "signer=supplier"))
    r = client.get("/v1/documents.csv", params={"signature": "valid"})
    assert r.status_code == 422
    for params in ({"signature": "consistent"}, {"trust": "untrusted"}, {"signer": "other"}):
        assert client.get("/v1/documents", params=params).status_code == 200


# -- show, original -------------------------------------------------------

def test_show(client, base):
    digest = base["efatura/gib121_TEVKIFAT.xml"]
    r = client.get(f"/v1/documents/{digest.upper()}")  # any case in, lower case out
    assert r.status_code == 200
    doc = r.json()
    assert doc["digest"] == digest
    assert (doc["kind"], doc["profile"], doc["type_code"]) == ("e-fatura", "TICARIFATURA", "TEVKIFAT")
    assert (doc["doc_id"], doc["issue_date"]) == ("SRM2012000086985", "2012-08-04")
    assert doc["ettn"].upper() == GIB_SAMPLE_ETTN
    assert doc["size"] == len((CORPUS / "efatura/gib121_TEVKIFAT.xml").read_bytes())
    assert [h["source_name"] for h in doc["holdings"]] == ["gib121_TEVKIFAT.xml"]  # the admin sees every holding
    assert doc["holdings"][0]["tenant"] is None and doc["holdings"][0]["legal_hold"] is False


def test_unknown_and_malformed_digests(client):
    unknown = hashlib.sha256(b"never archived").hexdigest()
    for suffix in ("", "/original", "/evidence"):
        body = is_problem(client.get(f"/v1/documents/{unknown}{suffix}"), 404, "document-not-found")
        assert unknown in body["detail"]
        for bad in ("abc", "g" * 64, "a" * 65, "%00" * 3, "%C3%A7" * 32, " " + "a" * 63):
            is_problem(client.get(f"/v1/documents/{bad}{suffix}"), 422, "invalid-request")
        # A path that leaves the route (an encoded slash) matches no route at all.
        r = client.get(f"/v1/documents/..%2F..%2Fconfig.toml{suffix}")
        assert r.status_code in (404, 422) and r.headers["content-type"].startswith(PROBLEM)
    is_problem(client.post(f"/v1/documents/{unknown}/verify"), 404, "document-not-found")
    is_problem(client.post("/v1/documents/xyz/verify"), 422, "invalid-request")


def test_original_is_byte_exact_with_etag_and_304(client, base):
    rel = "earsiv/bdog_sample.xml"
    data = (CORPUS / rel).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    r = client.get(f"/v1/documents/{digest}/original")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["content-type"] == "application/xml"
    assert r.headers["etag"] == f'"{digest}"'
    assert r.headers["content-disposition"] == 'attachment; filename="bdog_sample.xml"'
    for inm in (f'"{digest}"', f'W/"{digest}"', f'"0000", "{digest}"', "*"):
        r = client.get(f"/v1/documents/{digest}/original", headers={"If-None-Match": inm})
        assert r.status_code == 304, inm
        assert r.content == b""
        assert r.headers["etag"] == f'"{digest}"'
    r = client.get(f"/v1/documents/{digest}/original", headers={"If-None-Match": f'"{"0" * 64}", "x"'})
    assert r.status_code == 200 and r.content == data
    # A conditional request for an unknown document is still a 404, not a 304.
    unknown = hashlib.sha256(b"nope").hexdigest()
    is_problem(client.get(f"/v1/documents/{unknown}/original", headers={"If-None-Match": "*"}), 404)


def test_original_content_disposition_is_sanitised(client):
    rel = "efatura/izpy_E_Fatura_template.xml"
    hostile = '..\\..\\dir/"evil";\r\nfatura-ğüş.xml'
    r = client.post("/v1/documents", params={"filename": hostile}, content=(CORPUS / rel).read_bytes(),
                    headers={"Content-Type": "application/xml"})
    assert r.status_code == 200 and r.json()["results"][0]["status"] in ("stored", "conflict")
    cd = client.get(f"/v1/documents/{sha(rel)}/original").headers["content-disposition"]
    assert not set("/\\\r\n") & set(cd)
    m = re.fullmatch(r'attachment; filename="([^"]*)"; filename\*=UTF-8\'\'(\S+)', cd)
    assert m, cd
    plain, encoded = m.groups()
    assert plain.isascii() and ";" not in plain and plain.endswith(".xml")
    assert unquote(encoded, errors="strict").endswith("fatura-ğüş.xml")
    assert not set('/\\"\r\n') & set(unquote(encoded))


# -- verify, evidence, status -------------------------------------------

def test_evidence_zip_verifies_with_openssl(client, base, tmp_path):
    rel = "efatura/gib121_TicariFaturaOrnegi.xml"
    digest = base[rel]
    r = client.get(f"/v1/documents/{digest}/evidence")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"] == f'attachment; filename="evidence-{digest[:16]}.zip"'
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        names = zf.namelist()
        assert all(n.startswith(f"evidence-{digest[:16]}/") for n in names)
        zf.extractall(tmp_path)
    d = tmp_path / f"evidence-{digest[:16]}"
    assert {"original.xml", "leaf.json", "proof.json", "checkpoint.txt", "checkpoint.sig", "checkpoint.tsr",
            "tsa-anchors.pem", "archive-key.pem", "README.txt"} <= {p.name for p in d.iterdir()}
    assert (d / "original.xml").read_bytes() == (CORPUS / rel).read_bytes()
    assert json.loads((d / "leaf.json").read_bytes())["digest"] == digest
    out = subprocess.run(
        ["openssl", "ts", "-verify", "-data", "checkpoint.txt", "-in", "checkpoint.tsr", "-token_in",
         "-CAfile", "tsa-anchors.pem"],
        cwd=d, capture_output=True, text=True, timeout=30, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "Verification: OK" in out.stdout
    # And the token does not verify some other data (the check has teeth).
    (d / "other.txt").write_bytes((d / "checkpoint.txt").read_bytes() + b"x")
    bad = subprocess.run(["openssl", "ts", "-verify", "-data", "other.txt", "-in", "checkpoint.tsr", "-token_in",
                          "-CAfile", "tsa-anchors.pem"], cwd=d, capture_output=True, text=True, timeout=30, check=False)
    assert bad.returncode != 0


def test_status_and_health(client, base):
    r = client.get("/v1/status")
    assert r.status_code == 200
    st = r.json()
    everything = all_documents(client)
    assert st["documents"] == len(everything)
    assert sum(st["by_kind"].values()) == st["documents"]
    assert st["by_kind"]["e-irsaliye"] == sum(d["kind"] == "e-irsaliye" for d in everything)
    assert st["bytes_original"] == sum(d["size"] for d in everything)
    assert st["log_size"] >= st["documents"]
    assert set(st["pending"]) == {"signature_checks", "unstamped_checkpoints", "oldest_unstamped", "fulltext"}
    assert st["pending"]["oldest_unstamped"] is None  # nothing waits for a stamp
    # The archive key's fingerprint, to publish out of band, and the TSA it trusts.
    assert re.fullmatch(r"[0-9a-f]{64}", st["key_fingerprint"])
    assert st["tsa"]["stamps"] == 1 and st["tsa"]["authorities"][0]["url"] == ""
    assert st["tsa"]["warnings"] == []  # the built-in TSA's certificate lives 50 years
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_verify_then_corrupt_blob(tmp_path):
    home = tmp_path / "home"
    Archive.init(home).close()
    rel = "eirsaliye/gib121_Irsaliye-Ornek2.xml"
    digest = sha(rel)
    with TestClient(create_app(home), headers=bearer(make_principal(home, "test-admin", "admin"))) as c:
        assert post_xml(c, rel).status_code == 200
        r = c.post(f"/v1/documents/{digest}/verify")
        assert r.status_code == 200
        assert r.json() == {"digest": digest, "ok": True, "failures": []}

        blob = home / "store" / "objects" / "blobs" / digest[:2] / digest
        assert blob.is_file()
        blob.chmod(0o644)
        raw = bytearray(blob.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        blob.write_bytes(bytes(raw))

        r = c.post(f"/v1/documents/{digest}/verify")
        assert r.status_code == 200
        v = r.json()
        assert v["ok"] is False
        assert [f["subject"] for f in v["failures"]] == [digest]
        assert "step 1" in v["failures"][0]["problem"]
        # Damaged bytes are never served, and no evidence is made for them.
        body = is_problem(c.get(f"/v1/documents/{digest}/original"), 409, "verification-failed")
        assert digest in body["detail"]
        is_problem(c.get(f"/v1/documents/{digest}/evidence"), 409, "verification-failed")
        # A 304 serves no stored bytes: it tells a client that its own copy,
        # named by the digest, is the document, and that stays true.
        assert c.get(f"/v1/documents/{digest}/original", headers={"If-None-Match": f'"{digest}"'}).status_code == 304
