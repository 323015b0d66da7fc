"""GET /v1/packages: a period's inspection package through the API, checked without the archive."""

from __future__ import annotations

import io
import zipfile

import pytest
from fastapi.testclient import TestClient

from earsiv.api.http import create_app
from earsiv.archive.archive import Archive
from earsiv.archive.package.verify import verify_package
from earsiv.archive.sources import expand
from tests.conftest import CORPUS
from tests.helpers.auth import bearer, make_principal

FILES = ["eirsaliye/gib121_Irsaliye-Ornek1.xml", "eirsaliye/gib121_Irsaliye-Ornek2.xml", "efatura/gib121_HASTANE.xml"]


@pytest.fixture
def client(home):
    with Archive.open(home) as arch:
        results = list(arch.ingest(expand([CORPUS / f for f in FILES])))
        row = arch.index.get(results[0].digest)
    with TestClient(create_app(home), headers=bearer(make_principal(home, "test-admin", "admin"))) as c:
        yield c, row


def test_a_package_through_the_api_verifies_without_the_archive(client, tmp_path):
    c, row = client
    day = row.issue_date.isoformat()
    r = c.get("/v1/packages", params={"vkn": row.supplier_id, "from": day, "to": day})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert "attachment" in r.headers["content-disposition"]
    path = tmp_path / "p.zip"
    path.write_bytes(r.content)
    report = verify_package(path)
    assert report.ok, report.findings
    assert report.documents >= 1
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert any(n.endswith("bagit.txt") for n in names) and any(n.endswith("VERIFY.txt") for n in names)


@pytest.mark.parametrize("params", [
    {"vkn": "12345", "from": "2020-01-01", "to": "2020-12-31"},
    {"vkn": "1234567890", "from": "2020-12-31", "to": "2020-01-01"},
    {"vkn": "1234567890", "from": "yesterday", "to": "2020-01-01"},
    {"vkn": "1234567890", "from": "2020-01-01"},
])
def test_bad_package_requests_are_problem_documents(client, params):
    c, _row = client
    r = c.get("/v1/packages", params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_printable_copies_through_the_api(client, tmp_path):
    c, row = client
    pdf = c.get(f"/v1/documents/{row.digest}/print")
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf.content))
    attached = reader.attachments
    assert any(name.endswith(".xml") for name in attached), list(attached)
    html = c.get(f"/v1/documents/{row.digest}/print", params={"format": "html"})
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert (row.doc_id or "") in html.text
    xml = c.get(f"/v1/documents/{row.digest}/print", params={"format": "xml"})
    assert xml.content == (CORPUS / FILES[0]).read_bytes()
    assert c.get(f"/v1/documents/{row.digest}/print", params={"format": "docx"}).status_code == 422
    assert c.get(f"/v1/documents/{'0' * 64}/print").status_code == 404
