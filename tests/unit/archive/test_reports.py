"""Compliance reports (LAW.md L4, L11-L13): every gap, missing month and overdue response, exactly.

Series are built from real corpus invoices (read by path, renumbered in memory: no company
data is written anywhere) with known gaps, duplicates and dates out of order; e-Defter months
from the synthetic ledgers of ``tests/assets/edefter``; responses from the corpus's GİB samples.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest

from earsiv.archive.access import Principal
from earsiv.archive.archive import Archive
from earsiv.archive.errors import Forbidden
from earsiv.archive.ingest import Source
from earsiv.archive.reportformat import render_report
from earsiv.archive.reports import berat_deadline
from earsiv.archive.service import ArchiveService
from earsiv.errors import InvalidInput
from tests.assets.edefter.make_edefter import VKN as LEDGER_VKN
from tests.assets.edefter.make_edefter import build as build_edefter
from tests.conftest import CORPUS

OPERATOR = Principal.operator("ops")
AKG = ["efatura/sk-akgips_20251120150604701835.xml", "efatura/sk-akgips_20251120150604712956.xml",
       "efatura/sk-akgips_20251120150604724068.xml"]  # one supplier's consecutive real invoices
TEMPLATE = "efatura/vg_ATM2025000001677-satis.xml"
_FIRST_ID = re.compile(rb"<cbc:ID>[^<]*</cbc:ID>")
_UUID = re.compile(rb"<cbc:UUID>[^<]*</cbc:UUID>")
_DATE = re.compile(rb"<cbc:IssueDate>[^<]*</cbc:IssueDate>")


def renumber(data: bytes, doc_id: str, n: int, day: dt.date, salt: str = "") -> bytes:
    """The document with a new ID, ETTN and date (its first cbc:ID, cbc:UUID, cbc:IssueDate)."""
    data = _FIRST_ID.sub(f"<cbc:ID>{doc_id}</cbc:ID>".encode(), data, count=1)
    data = _UUID.sub(f"<cbc:UUID>6f1e2a44-0000-4000-8{len(salt):03d}-{n:012d}</cbc:UUID>".encode(), data, count=1)
    return _DATE.sub(f"<cbc:IssueDate>{day}</cbc:IssueDate>".encode(), data, count=1)


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    home = tmp_path_factory.mktemp("reports") / "home"
    Archive.init(home).close()
    with ArchiveService.open(home) as service:
        yield service


def ingest(svc, files: list[tuple[str, bytes]], tenant: str | None = None) -> list[str]:
    results = list(svc.ingest(OPERATOR, [Source(n, d) for n, d in files], tenant))
    assert all(r.status in ("stored", "duplicate", "conflict") for r in results), results
    return [r.digest for r in results]


@pytest.fixture(scope="module")
def real_series(svc):
    ingest(svc, [(p, (CORPUS / p).read_bytes()) for p in AKG])
    row = svc.archive.index.get(ingest(svc, [(AKG[0], (CORPUS / AKG[0]).read_bytes())])[0])
    return row.supplier_id


@pytest.fixture(scope="module")
def made_series(svc):
    """Series ZZZ 2024 of the template's supplier: 1-3, 5, 6, 9 twice, 10 dated back, 12; and two IDs off pattern."""
    data = (CORPUS / TEMPLATE).read_bytes()
    base = dt.date(2024, 3, 1)
    files = []
    for n in (1, 2, 3, 5, 6, 9, 12):
        files.append((f"z{n}.xml", renumber(data, f"ZZZ2024{n:09d}", n, base + dt.timedelta(days=n))))
    files.append(("z9b.xml", renumber(data, "ZZZ2024000000009", 90, base + dt.timedelta(days=9), salt="b")))
    files.append(("z10.xml", renumber(data, "ZZZ2024000000010", 10, base)))  # dated before number 9
    files.append(("bad1.xml", renumber(data, "ZZZ24-0001", 101, base)))
    files.append(("bad2.xml", renumber(data, "=HYPERLINK(1)", 102, base)))
    digests = ingest(svc, files)
    return svc.archive.index.get(digests[0]).supplier_id, dict(zip([n for n, _ in files], digests))


def test_real_invoices_of_one_supplier_report_every_gap_between_them(svc, real_series):
    rep = svc.report(OPERATOR, "serials", real_series, dt.date(2025, 11, 1), dt.date(2025, 11, 30)).report
    assert [(g["first_missing"], g["last_missing"], g["count"]) for g in rep.to_json()["gaps"]] == [
        ("AKG2025000008439", "AKG2025000008485", 47), ("AKG2025000008487", "AKG2025000008488", 2)]
    assert all(g["state"] == "not in this archive" for g in rep.to_json()["gaps"])
    (series,) = rep.to_json()["series"]
    assert (series["first_id"], series["last_id"], series["numbers"]) == ("AKG2025000008438", "AKG2025000008489", 3)
    assert (series["first_date"], series["last_date"]) == ("2025-11-13", "2025-11-14")
    assert rep.summary["missing_numbers"] == 49 and rep.summary["duplicated_numbers"] == 0


def test_a_period_from_the_start_of_the_year_misses_the_numbers_before_the_first(svc, real_series):
    gaps = svc.report(OPERATOR, "serials", real_series, dt.date(2025, 1, 1), dt.date(2025, 12, 31)).report.to_json()["gaps"]
    assert (gaps[0]["first_missing"], gaps[0]["last_missing"], gaps[0]["count"]) == (
        "AKG2025000000001", "AKG2025000008437", 8437)
    assert len(gaps) == 3


def test_made_series_gaps_duplicates_dates_backwards_and_ids_off_pattern(svc, made_series):
    vkn, digests = made_series
    rep = svc.report(OPERATOR, "serials", vkn, dt.date(2024, 1, 1), dt.date(2024, 12, 31)).report.to_json()
    zzz = [(g["first_missing"], g["last_missing"], g["count"]) for g in rep["gaps"] if g["series"] == "ZZZ"]
    assert zzz == [("ZZZ2024000000004", "ZZZ2024000000004", 1), ("ZZZ2024000000007", "ZZZ2024000000008", 2),
                   ("ZZZ2024000000011", "ZZZ2024000000011", 1)]
    assert {d["digest"] for d in rep["duplicates"]} == {digests["z9.xml"], digests["z9b.xml"]}
    assert {d["id"] for d in rep["duplicates"]} == {"ZZZ2024000000009"}
    assert [(b["id"], b["previous_id"]) for b in rep["dates_backwards"]] == [("ZZZ2024000000010", "ZZZ2024000000009")]
    assert {o["id"] for o in rep["off_pattern"]} == {"ZZZ24-0001", "=HYPERLINK(1)"}
    (series,) = [s for s in rep["series"] if s["series"] == "ZZZ"]
    assert (series["documents"], series["numbers"], series["missing_numbers"]) == (9, 8, 4)


def test_csv_and_xlsx_never_hand_a_spreadsheet_a_formula_and_pdf_is_a_pdf(svc, made_series):
    vkn, _ = made_series
    rep = svc.report(OPERATOR, "serials", vkn, dt.date(2024, 1, 1), dt.date(2024, 12, 31)).report
    text = render_report(rep, "csv").decode("utf-8-sig")
    cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
    assert "'=HYPERLINK(1)" in cells and "=HYPERLINK(1)" not in cells
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(render_report(rep, "xlsx")))
    values = [c.value for row in wb["off_pattern"].iter_rows() for c in row]
    assert "'=HYPERLINK(1)" in values and "=HYPERLINK(1)" not in values
    gaps = list(wb["gaps"].iter_rows(values_only=True))
    assert gaps[0][:6] == ("family", "series", "year", "first_missing", "last_missing", "count")
    assert render_report(rep, "pdf").startswith(b"%PDF-")


# --- e-Defter ---------------------------------------------------------------------------

def _month(files: dict[str, bytes], month: int) -> dict[str, bytes]:
    """The synthetic January ledgers and berats moved to *month* of 2025."""
    last = {2: "28", 3: "31", 4: "30"}.get(month, "31")
    out = {}
    for name, data in files.items():
        data = data.replace(b"2025-01-31", f"2025-{month:02d}-{last}".encode())
        data = data.replace(b"2025-01", f"2025-{month:02d}".encode()).replace(b"202501", f"2025{month:02d}".encode())
        out[name.replace("202501", f"2025{month:02d}")] = data
    return out


@pytest.fixture(scope="module")
def ledgers(svc):
    jan = build_edefter()
    feb = {n: d for n, d in _month(jan, 2).items() if not n.startswith("GIB-") or "-YB-" in n}  # no GİB kebir berat
    apr = _month(jan, 4)
    # April's yevmiye berat carries a seal that is not its ledger's.
    name = next(n for n in apr if n.startswith(LEDGER_VKN) and "-YB-" in n)
    apr[name], n = re.subn(rb'(Id="LedgerSignatureValue_Y">\s*)(\S)',
                           lambda m: m.group(1) + (b"B" if m.group(2) != b"B" else b"C"), apr[name], count=1)
    assert n == 1
    ingest(svc, [*jan.items(), *feb.items(), *apr.items()])


def test_edefter_months_missing_parts_seals_and_missing_months(svc, ledgers):
    rep = svc.report(OPERATOR, "edefter", LEDGER_VKN, dt.date(2025, 1, 1), dt.date(2025, 6, 30),
                     today=dt.date(2025, 7, 15)).report.to_json()
    months = {m["month"]: m for m in rep["months"]}
    assert months["2025-01"]["state"] == "complete"
    assert (months["2025-01"]["yevmiye_sealed"], months["2025-01"]["kebir_sealed"]) == (True, True)
    assert "GİB-approved kebir berat not in this archive" in months["2025-02"]["state"]
    assert months["2025-02"]["kebir_sealed"] is False and months["2025-02"]["yevmiye_sealed"] is True
    assert "yevmiye: a ledger's seal is not on its berats" in months["2025-04"]["state"]
    assert [m["month"] for m in rep["missing_months"]] == ["2025-03", "2025-05", "2025-06"]
    assert months["2025-03"]["timeliness"] == "missing" and months["2025-06"]["timeliness"] == "open"
    assert months["2025-01"]["berat_deadline"] == "2025-04-30"
    # The berats reached this archive today, long after January's deadline.
    assert months["2025-01"]["timeliness"] == "after deadline"


def test_berat_deadline_is_the_end_of_the_third_month_after():
    assert berat_deadline(dt.date(2025, 1, 1)) == dt.date(2025, 4, 30)
    assert berat_deadline(dt.date(2024, 11, 1)) == dt.date(2025, 2, 28)
    assert berat_deadline(dt.date(2023, 11, 1)) == dt.date(2024, 2, 29)
    assert berat_deadline(dt.date(2025, 12, 1)) == dt.date(2026, 3, 31)


# --- responses --------------------------------------------------------------------------

WAYBILLS = ["eirsaliye/gib121_Irsaliye-Ornek1.xml", "eirsaliye/gib121_Irsaliye-Ornek2.xml"]
ADVICES = ["eirsaliye/responses/gib121_IrsaliyeYaniti-Ornek1.xml"]
TICARI = "efatura/gib121_TicariFaturaOrnegi.xml"
KABUL = "efatura/responses/gib121_KabulUygulamaYanitiOrnegi.xml"
GIB_VKN = "1288331521"  # the GİB samples' supplier


SAMPLE_ETTN = b"F47AC10B-58CC-4372-A567-0E02B2C3D479"  # GİB's samples all share it (LAW.md: ETTN is not unique)


@pytest.fixture(scope="module")
def responses(svc):
    # The sample waybills get ETTNs of their own, so an answer names one of them.
    files = [(f"w{n}.xml", renumber((CORPUS / p).read_bytes(), f"GIB20160000000{n}", n, dt.date(2016, 8, 14)))
             for n, p in zip((11, 12), WAYBILLS)]
    files += [(p, (CORPUS / p).read_bytes()) for p in [*ADVICES, TICARI, KABUL]]
    # Answer waybill 12 with a copy of the corpus's receipt advice pointing at it, 9 days after despatch.
    late = (CORPUS / ADVICES[0]).read_bytes().replace(SAMPLE_ETTN, b"6f1e2a44-0000-4000-8000-000000000012")
    late = renumber(late, "GIB2016000000099", 99, dt.date(2016, 8, 23))
    files.append(("late-advice.xml", late))
    # A second TICARIFATURA invoice of the same supplier nobody answered.
    files.append(("unanswered.xml", renumber((CORPUS / TICARI).read_bytes(), "GIB2009000000012", 12,
                                            dt.date(2009, 1, 5), salt="u")))
    return dict(zip([n for n, _ in files], ingest(svc, files)))


def test_responses_within_the_window_late_unanswered_and_without_document(svc, responses):
    rep = svc.report(OPERATOR, "responses", GIB_VKN, dt.date(2009, 1, 1), dt.date(2016, 12, 31)).report.to_json()
    wb = {w["id"]: w for w in rep["waybills"]}
    assert wb["GIB2016000000011"]["state"] == "no receipt advice in this archive"
    assert wb["GIB2016000000011"]["answer_by"] == "2016-08-21"  # actual despatch 2016-08-14 + 7
    assert (wb["GIB2016000000012"]["state"], wb["GIB2016000000012"]["receipt_advice_id"]) == (
        "answered after 7 days", "GIB2016000000099")
    inv = {i["id"]: i for i in rep["invoices"]}
    assert (inv["GIB2009000000011"]["state"], inv["GIB2009000000011"]["response_date"]) == ("KABUL", "2009-01-06")
    assert inv["GIB2009000000012"]["state"] == "unanswered"
    orphans = {(o["id"], o["referenced_ettn"]) for o in rep["responses_without_document"]}
    # The corpus's receipt advice answers a waybill with the samples' ETTN: none is in this archive.
    assert orphans == {("GIB2016000000018", SAMPLE_ETTN.decode().lower())}


# --- who may ask ------------------------------------------------------------------------

def test_reports_are_scoped_like_search(svc, real_series, made_series):
    vkn, _ = made_series
    svc.add_principal(OPERATOR, "rep-int", "integrator", [vkn])
    svc.add_principal(OPERATOR, "rep-insp", "inspector")
    integrator, inspector = Principal("rep-int", "integrator", frozenset({vkn})), Principal("rep-insp", "inspector")
    assert svc.report(integrator, "serials", vkn, dt.date(2024, 1, 1), dt.date(2024, 12, 31)).event is None
    with pytest.raises(Forbidden):
        svc.report(integrator, "serials", real_series, dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    with pytest.raises(Forbidden):
        svc.report(inspector, "serials", vkn, dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    with pytest.raises(Forbidden):
        svc.report(Principal("acc", "accountant"), "serials", vkn, dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    svc.add_grant(OPERATOR, "rep-insp", vkn, dt.date(2024, 3, 1), dt.date(2024, 3, 7),
                  dt.datetime.now(dt.UTC) + dt.timedelta(days=1), "order 1")
    res = svc.report(inspector, "serials", vkn, dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    assert res.event is not None
    assert res.report.windows == ((dt.date(2024, 3, 1), dt.date(2024, 3, 7)),)
    # Only what the grant shows: numbers 1-6 (dated 2 to 7 March) and what is dated 1 March.
    assert {s["last_id"] for s in res.report.to_json()["series"]} == {"ZZZ2024000000010"}
    with pytest.raises(InvalidInput):
        svc.report(OPERATOR, "serials", vkn, dt.date(2024, 2, 1), dt.date(2024, 1, 1))
    with pytest.raises(InvalidInput):
        svc.report(OPERATOR, "nonsense", vkn, dt.date(2024, 1, 1), dt.date(2024, 2, 1))


def test_an_inspector_s_report_is_bounded_like_an_export(svc, made_series, monkeypatch):
    """Its access event names every document it lists and is kept for years: past the export limit it is refused."""
    import earsiv.archive.service_types as service_module

    vkn, _ = made_series
    svc.add_principal(OPERATOR, "rep-insp2", "inspector")
    svc.add_grant(OPERATOR, "rep-insp2", vkn, dt.date(2024, 1, 1), dt.date(2024, 12, 31),
                  dt.datetime.now(dt.UTC) + dt.timedelta(days=1), "order 2")
    inspector = Principal("rep-insp2", "inspector")
    size = svc.archive.log.size
    monkeypatch.setattr(service_module, "MAX_LOGGED_EXPORT", 3)
    with pytest.raises(InvalidInput, match="narrow the period"):
        svc.report(inspector, "serials", vkn, dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    assert svc.archive.log.size == size  # refused before anything was shown or logged
    monkeypatch.setattr(service_module, "MAX_LOGGED_EXPORT", 20_000)
    assert svc.report(inspector, "serials", vkn, dt.date(2024, 1, 1), dt.date(2024, 12, 31)).event is not None


def test_reindex_fills_the_despatch_date_an_upgraded_index_lacks(tmp_path):
    import sqlalchemy as sa

    home = tmp_path / "home"
    Archive.init(home).close()
    with ArchiveService.open(home) as service:
        ingest(service, [(WAYBILLS[0], (CORPUS / WAYBILLS[0]).read_bytes())])
        with service.archive.index.db.write("test") as conn:  # as migration 0009 leaves a waybill indexed before it
            conn.execute(sa.text("UPDATE documents SET despatch_date = NULL"))

        def despatch() -> str | None:
            rep = service.report(OPERATOR, "responses", GIB_VKN, dt.date(2016, 1, 1), dt.date(2016, 12, 31)).report
            return rep.to_json()["waybills"][0]["despatch_date"]

        assert despatch() is None
        service.reindex(OPERATOR)
        assert despatch() == "2016-08-14"
