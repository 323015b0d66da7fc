"""Every CSV the archive writes neutralises formulas in every cell a document supplied (OWASP "CSV injection").

A hostile tenant archives an invoice whose every text field starts with a formula: ID, ETTN,
profile, type code, currency, party IDs and names.  Each CSV the archive writes about it (the
HTTP export, an inspection package's ``manifest.csv``) must show those cells as text, never as
something a spreadsheet runs.  ``test_every_csv_writer_is_covered`` keeps the list honest: a
module that starts writing CSV without being exercised here fails it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from earsiv.api.http import create_app
from earsiv.archive.access import Principal
from earsiv.archive.archive import Archive
from earsiv.archive.csvcells import FORMULA_STARTS, csv_cell
from earsiv.archive.ingest import Source
from earsiv.archive.service import ArchiveService
from tests.helpers.auth import bearer
from tests.helpers.web import sign_in

ROOT = Path(__file__).resolve().parents[2]
SUPPLIER, TENANT = "1234567803", "3333333331"
PAYLOADS = ("=HYPERLINK(\"http://x\",\"a\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", " =1+1",
            "\uff1d1+1")

# The modules that write CSV, and the test below that reads what each wrote.
CSV_WRITERS = {"earsiv/api/http/exports.py": "HTTP /v1/documents.csv",
               "earsiv/archive/package/build.py": "package data/manifest.csv",
               "earsiv/api/web/sheets.py": "web /ui/export.csv",
               "earsiv/archive/reportformat.py": "reports /v1/reports/serials?format=csv"}


def _hostile_invoice() -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
<cbc:UBLVersionID>2.1</cbc:UBLVersionID><cbc:CustomizationID>TR1.2</cbc:CustomizationID>
<cbc:ProfileID>{PAYLOADS[1]}</cbc:ProfileID><cbc:ID>{PAYLOADS[0].replace('"', "&quot;")}</cbc:ID>
<cbc:UUID>{PAYLOADS[3]}</cbc:UUID><cbc:IssueDate>2025-03-01</cbc:IssueDate>
<cbc:InvoiceTypeCode>{PAYLOADS[2]}</cbc:InvoiceTypeCode><cbc:DocumentCurrencyCode>{PAYLOADS[4]}</cbc:DocumentCurrencyCode>
<cac:AccountingSupplierParty><cac:Party><cac:PartyIdentification><cbc:ID schemeID="VKN">{SUPPLIER}</cbc:ID>
</cac:PartyIdentification><cac:PartyName><cbc:Name>{PAYLOADS[5]}</cbc:Name></cac:PartyName></cac:Party>
</cac:AccountingSupplierParty>
<cac:AccountingCustomerParty><cac:Party><cac:PartyIdentification><cbc:ID schemeID="VKN">=1+1</cbc:ID>
</cac:PartyIdentification><cac:PartyName><cbc:Name>{PAYLOADS[6]}</cbc:Name></cac:PartyName></cac:Party>
</cac:AccountingCustomerParty>
<cac:LegalMonetaryTotal><cbc:PayableAmount currencyID="TRY">-12.50</cbc:PayableAmount></cac:LegalMonetaryTotal>
</Invoice>
""".encode()


def _runs(cell: str) -> bool:
    """Whether a spreadsheet could take *cell* as a formula (a number is a value, not a formula)."""
    head = cell.lstrip(" \u00a0")[:1]
    return head in FORMULA_STARTS and not re.fullmatch(r"[+-]?\d+([.,]\d+)?", cell)  # 12.50, or 12,50 in Turkish


def _check(name: str, text: str, delimiter: str = ",") -> list[dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(text), delimiter=delimiter))
    assert rows, name
    for row in rows:
        running = {k: v for k, v in row.items() if v and _runs(v)}
        assert not running, f"{name}: cells a spreadsheet would run: {running}"
    return rows


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("csv") / "home"
    with Archive.init(home) as arch:
        (res,) = list(arch.ingest([Source("hostile.xml", _hostile_invoice())], tenant=TENANT))
        assert res.status == "stored", res
        arch.access.add_principal("admin", "admin", by="test")
        token = arch.access.create_token("admin", by="test").token
    return home, res.digest, token


def test_http_csv_export(world):
    home, digest, token = world
    with TestClient(create_app(home)) as client:
        r = client.get("/v1/documents.csv", headers=bearer(token))
    assert r.status_code == 200, r.text
    (row,) = _check("documents.csv", r.content.decode("utf-8"))
    assert row["digest"] == digest
    # Still readable: the text is all there, behind the apostrophe.
    assert row["currency"] == "'=1" and row["id"] == "'" + PAYLOADS[0]  # the parser strips the tab
    assert row["payable_amount"] == "-12.50"  # a negative amount stays a number


def test_web_csv_export(world):
    """The pages' Turkish CSV (semicolons, decimal commas, for Excel in Turkish) of the same invoice."""
    home, digest, token = world
    with TestClient(create_app(home)) as client:
        sign_in(client, token)
        r = client.get("/ui/export.csv", params={"all": "1"})
    assert r.status_code == 200, r.text[:300]
    (row,) = _check("export.csv", r.content.decode("utf-8-sig"), delimiter=";")
    assert row["Özet / Digest"] == digest
    assert row["Para birimi / Currency"] == "'=1" and row["Belge No / Number"] == "'" + PAYLOADS[0]
    assert row["Ödenecek / Payable"] == "-12,50"  # a negative amount stays a number, in the Turkish form


def test_job_csv(world):
    """The same sheet made as a take-away job (``POST /v1/jobs``): the same cells, as safe."""
    home, digest, token = world
    with TestClient(create_app(home)) as client:
        job = client.post("/v1/jobs", json={"kind": "csv"}, headers=bearer(token)).json()
        for _ in range(600):  # rounds, not seconds
            job = client.get(f"/v1/jobs/{job['id']}", headers=bearer(token)).json()
            if job["state"] in ("done", "failed"):
                break
            time.sleep(0.1)
        r = client.get(f"/v1/jobs/{job['id']}/result", headers=bearer(token))
    assert r.status_code == 200, r.text[:300]
    (row,) = _check("job csv", r.content.decode("utf-8-sig"), delimiter=";")
    assert row["Özet / Digest"] == digest and row["Para birimi / Currency"] == "'=1"


def test_report_csv(world):
    """The serial report lists the hostile ID among those that break the pattern: as text, not a formula."""
    home, _digest, token = world
    with TestClient(create_app(home)) as client:
        r = client.get("/v1/reports/serials", headers=bearer(token),
                       params={"vkn": SUPPLIER, "from": "2025-01-01", "to": "2025-12-31", "format": "csv"})
    assert r.status_code == 200, r.text[:300]
    text = r.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows
    running = [cell for row in rows for cell in row if cell and _runs(cell)]
    assert not running, f"report CSV: cells a spreadsheet would run: {running}"
    assert any(cell == "'" + PAYLOADS[0] for row in rows for cell in row), rows  # the ID is there, behind the apostrophe


def test_package_manifest(world, tmp_path):
    home, digest, _token = world
    out = tmp_path / "p.zip"
    with ArchiveService.open(home) as service:
        service.package(Principal.operator("test"), SUPPLIER, dt.date(2025, 1, 1), dt.date(2025, 12, 31), None, out)
    with zipfile.ZipFile(out) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith("/data/manifest.csv")]
        text = zf.read(name).decode("utf-8")
    (row,) = _check("manifest.csv", text)
    assert row["digest"] == digest and row["supplier_name"] == "'=1+1"


def test_every_csv_writer_is_covered():
    writers = set()
    for path in (ROOT / "earsiv").rglob("*.py"):
        src = path.read_text(encoding="utf-8")
        if re.search(r"\bcsv\.(writer|DictWriter)\b", src):
            writers.add(str(path.relative_to(ROOT)))
            assert "csv_cell" in src, f"{path}: writes CSV without csv_cell"
    assert writers == set(CSV_WRITERS), "a CSV writer this test does not read, or one that is gone"


@pytest.mark.parametrize("value", PAYLOADS + ("=", "-", "+1+2", "-1-", "@", "\r=1", "\n=1"))
def test_csv_cell_neutralises(value):
    assert csv_cell(value) == "'" + value


@pytest.mark.parametrize(("value", "shown"), [(None, ""), ("-12.50", "-12.50"), ("+3", "+3"), ("1E+3", "1E+3"),
                                              (-7, "-7"), ("ABC2025000000001", "ABC2025000000001"),
                                              (dt.date(2025, 3, 1), "2025-03-01"), ("a=b", "a=b")])
def test_csv_cell_leaves_values(value, shown):
    assert csv_cell(value) == shown
