"""Kind detection and metadata against the real corpus and the synthetic e-Defter set.

The independent oracle is the corpus's SOURCES.md: for each file it states the
root, profile/type, ID and date ("Invoice EARSIVFATURA/SATIS ID DATE"), whether
there is an embedded XSLT, and which VKN/TCKN fail their checksum.  Those lines
were written from the files by other tools (efatura-kontrol and by hand), not
from this parser.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from earsiv.documents import parse as parse_module
from earsiv.documents.errors import HostileXML, NotXML
from earsiv.documents.parse import parse_document
from earsiv.documents.xmlsafe import parse_xml

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT.parent / "shared" / "corpus"
EDEFTER_ASSETS = ROOT / "tests" / "assets" / "edefter"
EDEFTER_XSD = CORPUS / "gib-rules" / "edefter" / "xsd"
MALFORMED = {"efatura/responses/gibpkt_7_UYGULAMA_YANITI_IADE.xml", "eirsaliye/responses/izjv_draft-receiptAdvice.xml"}
DS = "http://www.w3.org/2000/09/xmldsig#"

ROOT_KINDS = {
    "CreditNote": "e-mm",
    "DespatchAdvice": "e-irsaliye",
    "ReceiptAdvice": "irsaliye-yaniti",
    "ApplicationResponse": "uygulama-yaniti",
    "StandardBusinessDocument": "zarf",
    "berat": "berat",
}
NUMBER_LENGTH = {"VKN": 10, "TCKN": 11}


def _sources() -> dict[str, str]:
    """corpus path -> the description column of SOURCES.md."""
    out = {}
    for line in (CORPUS / "SOURCES.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^- `([^`]+)` — ", line)
        if m and not m.group(1).startswith("gib-rules/"):
            parts = line.split(" — ")
            out[m.group(1)] = parts[3] if len(parts) > 3 else ""
    return out


SOURCES = _sources()
WELL_FORMED = sorted(p for p in SOURCES if p not in MALFORMED)


def _oracle(desc: str) -> dict:
    """Parse 'Invoice EARSIVFATURA/SATIS BT02021000000260 2021-01-12; signed; …'."""
    head = desc.split(";")[0].split()
    o: dict = {"root": head[0], "profile": None, "type": None, "id": None, "date": None}
    rest = head[1:]
    if rest and re.fullmatch(r"\d{4}-\d{2}-\d{2}", rest[-1]):
        o["date"] = dt.date.fromisoformat(rest.pop())
    if len(rest) == 2 or (len(rest) == 1 and "/" in rest[0]):
        o["profile"], _, typ = rest.pop(0).partition("/")
        o["type"] = typ or None
    if rest:
        o["id"] = rest.pop(0)
    o["checksum_fails"] = re.findall(r"(VKN|TCKN):(\d+)", desc.split("checksum fails:")[1].split(";")[0]) \
        if "checksum fails:" in desc else []
    o["xslt"] = "embedded XSLT" in desc
    o["signed"] = "; signed;" in desc
    return o


def _expected_kind(o: dict) -> str:
    if o["root"] == "Invoice":
        return {"EARSIVFATURA": "e-arsiv", "EARSIVBELGE": "e-smm"}.get(o["profile"], "e-fatura")
    return ROOT_KINDS.get(o["root"], "other")


def _parse(rel: str):
    return parse_document((CORPUS / rel).read_bytes(), name=rel)


@pytest.fixture(scope="module")
def parsed():
    return {rel: _parse(rel) for rel in WELL_FORMED}


def test_module_exports():
    for name in parse_module.__all__:
        assert hasattr(parse_module, name)


def test_sources_lists_every_corpus_document():
    on_disk = {
        p.relative_to(CORPUS).as_posix()
        for p in CORPUS.rglob("*")
        if p.is_file() and p.suffix.lower() == ".xml" and not p.relative_to(CORPUS).as_posix().startswith("gib-rules/")
    }
    assert on_disk == set(SOURCES), "SOURCES.md and the corpus disagree; the oracle would be incomplete"
    assert len(WELL_FORMED) > 100


@pytest.mark.parametrize("rel", sorted(MALFORMED))
def test_malformed_files_raise_not_xml(rel):
    assert SOURCES[rel].startswith("MALFORMED")
    with pytest.raises(NotXML) as info:
        _parse(rel)
    assert rel in str(info.value)


def test_every_document_matches_sources(parsed):
    problems = []
    for rel in WELL_FORMED:
        o, m = _oracle(SOURCES[rel]), parsed[rel]
        want = {"kind": _expected_kind(o)}
        got = {"kind": m.kind}
        if o["root"] != "berat":
            want["root"], got["root"] = o["root"], m.root
        if o["root"] in ("Invoice", "CreditNote", "DespatchAdvice", "ReceiptAdvice", "ApplicationResponse"):
            want |= {"profile": o["profile"], "id": o["id"], "date": o["date"]}
            got |= {"profile": m.profile, "id": m.doc_id, "date": m.issue_date}
            if o["type"] is not None:
                want["type"], got["type"] = o["type"], m.type_code
        if want != got:
            problems.append(f"{rel}: want {want}, got {got}")
    assert not problems, "\n".join(problems)


def test_checksum_failures_named_by_sources_are_flagged(parsed):
    checked = 0
    for rel in WELL_FORMED:
        o, m = _oracle(SOURCES[rel]), parsed[rel]
        for scheme, value in o["checksum_fails"]:
            holders = [p for p in m.parties if p.id == value]
            assert holders, f"{rel}: no party with {scheme} {value}"
            for party in holders:
                kind = f"{scheme.lower()}-checksum" if len(value) == NUMBER_LENGTH[scheme] else "id-length"
                assert f"{kind}:{party.role}" in m.flags, (rel, party, m.flags)
                checked += 1
        if not o["checksum_fails"] and o["root"] in ("Invoice", "CreditNote", "DespatchAdvice", "ReceiptAdvice"):
            assert not [f for f in m.flags if "checksum" in f or f.startswith("id-length")], (rel, m.flags)
    assert checked >= 40


def test_stylesheets_and_signatures_agree_with_sources(parsed):
    for rel in WELL_FORMED:
        o, m = _oracle(SOURCES[rel]), parsed[rel]
        if o["root"] != "StandardBusinessDocument":  # an envelope's XSLT belongs to the document inside
            assert (m.stylesheets > 0) == o["xslt"], rel
        if o["signed"]:
            assert m.signed, rel
    assert parsed["earsiv/izpy_E_Arsiv_template.xml"].stylesheets == 2  # "two embedded XSLTs"


def test_amounts_are_exact_decimals_from_the_text(parsed):
    payable = re.compile(rb"<(?:[\w-]+:)?PayableAmount[^>]*>\s*([^<]*?)\s*<")
    checked = 0
    for rel in WELL_FORMED:
        m = parsed[rel]
        if m.root not in ("Invoice", "CreditNote"):
            continue
        found = payable.findall((CORPUS / rel).read_bytes())
        if not found:
            assert m.payable_amount is None
            continue
        assert isinstance(m.payable_amount, Decimal)
        assert str(m.payable_amount) == found[0].decode()  # trailing zeros kept: no float on the way
        assert m.tax_amount is None or isinstance(m.tax_amount, Decimal)
        checked += 1
    assert checked > 50
    bdog = parsed["earsiv/bdog_sample.xml"]
    assert (bdog.currency, bdog.payable_amount, bdog.series, bdog.year, bdog.sequence) == (
        "TRY", Decimal("250.10"), "BT0", 2021, 260)


SYNTHETIC = """<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
<cbc:ProfileID>{profile}</cbc:ProfileID><cbc:ID>TST2024000000007</cbc:ID>
<cbc:UUID>3f2a9c1e-0b7d-4c55-9e1a-2d6f8b0c4e11</cbc:UUID>
<cbc:IssueDate>{date}</cbc:IssueDate><cbc:IssueTime>{time}</cbc:IssueTime>
<cac:TaxTotal><cbc:TaxAmount currencyID="TRY">10.10</cbc:TaxAmount></cac:TaxTotal>
<cac:TaxTotal><cbc:TaxAmount currencyID="TRY">0.20</cbc:TaxAmount></cac:TaxTotal>
<cac:LegalMonetaryTotal><cbc:PayableAmount currencyID="EUR">110.30</cbc:PayableAmount></cac:LegalMonetaryTotal>
</Invoice>"""


def _synthetic(time_="10:00:00", date="2024-02-29", profile="TEMELFATURA"):
    return parse_document(SYNTHETIC.format(time=time_, date=date, profile=profile).encode())


@pytest.mark.parametrize("value", ["14:42", "14:42:00", "00:04:33.454", "10:24:14.6700000+03:00", "09:00:00Z",
                                   "23:59:59.123+03:00"])
def test_issue_time_forms_accepted(value):
    m = _synthetic(time_=value)
    assert m.issue_time == value and "issue-time" not in m.flags


@pytest.mark.parametrize("value", ["12:1222:122", "25:00:00", "9:00", "10:00:00.", "noon"])
def test_issue_time_malformed_is_kept_and_flagged(value):
    m = _synthetic(time_=value)
    assert m.issue_time == value and "issue-time" in m.flags


def test_issue_date_malformed_is_none_and_flagged():
    assert _synthetic(date="2023-02-29").issue_date is None
    assert "issue-date" in _synthetic(date="05.01.2009").flags
    assert _synthetic(date="2024-02-29").issue_date == dt.date(2024, 2, 29)


def test_tax_totals_summed_currency_from_payable_and_unknown_profile():
    m = _synthetic(profile="YENIPROFIL")
    assert m.tax_amount == Decimal("10.30") and m.currency == "EUR"
    assert m.kind == "e-fatura" and "unknown-profile" in m.flags
    assert "unknown-profile" not in _synthetic().flags


def test_issue_time_forms_in_corpus(parsed):
    hm = parsed["efatura/ubltr_BasicInvoiceHourMinuteTime.xml"]
    bad = parsed["efatura/ubltr_BasicInvoiceIncorrectTime.xml"]
    none = parsed["efatura/ubltr_BasicInvoiceNoTime.xml"]
    assert (hm.issue_time, "issue-time" in hm.flags) == ("14:42", False)
    assert (bad.issue_time, "issue-time" in bad.flags) == ("12:1222:122", True)
    assert (none.issue_time, "issue-time" in none.flags) == (None, False)
    assert "issue-time" not in parsed["earsiv/bil_gib-e-archive-invoice.xml"].flags  # milliseconds


def test_placeholder_and_invalid_ids(parsed):
    for rel in ("earsiv/izjv_draft-eiarchive.xml", "earsiv/izdp_earsiv_load.xml", "efatura/mimco_default.xml"):
        m = parsed[rel]
        assert "id-placeholder" in m.flags and m.series is None, rel
    assert parsed["efatura/mimco_default.xml"].doc_id is None
    assert "ettn-pattern" in parsed["earsiv/izjv_draft-eiarchive.xml"].flags  # %UUID%
    for rel in ("efatura/gib121_TemelFaturaOrnegi.xml", "eirsaliye/izpy_DespatchAdvice_LoadActions_template.xml"):
        m = parsed[rel]
        assert len(m.doc_id) == 17 and "id-pattern" in m.flags and m.year is None, rel
    good = parsed["efatura/gib121_TicariFaturaOrnegi.xml"]
    assert not {"id-pattern", "id-placeholder", "ettn-pattern"} & set(good.flags)
    assert (good.series, good.year, good.sequence) == ("GIB", 2009, 11)


def test_envelope_lists_the_document_it_carries(parsed):
    env = parsed["efatura/envelopes/gibpkt_1_TEMEL_FATURA_ZARF.xml"]
    inner = parsed["efatura/gibpkt_1_TEMEL_FATURA.xml"]
    assert env.kind == "zarf" and env.type_code == "SENDERENVELOPE"
    assert [(r.type, r.id, r.ettn) for r in env.references] == [("envelope-content", inner.doc_id, inner.ettn)]
    ids = {(p.role, p.scheme, p.id) for p in env.parties}
    assert ("sender", "SBDH", "urn:mail:defaultgb@gib.gov.tr") in ids
    assert ("receiver", "SBDH", "urn:mail:defaultpk@gib.gov.tr") in ids
    assert env.supplier.scheme == "VKN"
    system = parsed["efatura/envelopes/gibpkt_1_SISTEM_YANITI_MERKEZ.xml"]
    assert "special-vkn:sender" in system.flags  # GİB itself


def test_application_responses_reference_the_invoice(parsed):
    invoice = parsed["efatura/gib121_TicariFaturaOrnegi.xml"]
    for rel, code in (("efatura/responses/gib121_KabulUygulamaYanitiOrnegi.xml", "KABUL"),
                      ("efatura/responses/gib121_RedUygulamaYanitiOrnegi.xml", "RED")):
        m = parsed[rel]
        assert m.kind == "uygulama-yaniti" and m.type_code == code
        assert ("response", invoice.doc_id) in {(r.type, r.id) for r in m.references}
        assert {p.role for p in m.parties} == {"sender", "receiver"}


def test_receipt_advice_links_to_its_waybill(parsed):
    waybill = parsed["eirsaliye/gib121_Irsaliye-Ornek1.xml"]
    answer = parsed["eirsaliye/responses/gib121_IrsaliyeYaniti-Ornek1.xml"]
    despatch = [r for r in answer.references if r.type == "despatch"]
    assert despatch and despatch[0].ettn.lower() == waybill.ettn.lower()
    assert waybill.party("despatch-supplier").id == answer.party("despatch-supplier").id
    assert answer.line_count >= 1 and waybill.line_count >= 1


def test_bom_crlf_and_ubl20_files(parsed):
    bom = CORPUS / "earsiv/gibfw_SerbestMeslekMakbuzu.xml"
    assert bom.read_bytes().startswith(b"\xef\xbb\xbf")
    assert (parsed["earsiv/gibfw_SerbestMeslekMakbuzu.xml"].kind, parsed["earsiv/gibfw_SerbestMeslekMakbuzu.xml"].root) \
        == ("other", "eArsivVeri")
    crlf = "efatura/sk-akgips_20251120150604701835.xml"
    assert b"\r\n" in (CORPUS / crlf).read_bytes()
    assert parsed[crlf].kind == "e-fatura" and parsed[crlf].signed and parsed[crlf].line_count >= 1
    old = parsed["efatura/gibpkt_1_TEMEL_FATURA.xml"]
    assert (old.kind, old.currency, old.signed) == ("e-fatura", "TRL", True) and old.stylesheets >= 1
    assert parsed["efatura/devo_invoice-valid.xml"].profile is None
    assert "unknown-profile" in parsed["efatura/devo_invoice-valid.xml"].flags


def test_texts_hold_names_items_and_notes(parsed):
    m = parsed["efatura/gib121_TicariFaturaOrnegi.xml"]
    assert m.supplier.name in m.texts and m.customer.name in m.texts
    assert len(m.texts) > 2


def test_shared_tree_gives_the_same_result():
    data = (CORPUS / "efatura/vg_EFT2023000000496.xml").read_bytes()
    assert parse_document(data, tree=parse_xml(data)) == parse_document(data)


def test_unknown_xml_is_other_and_junk_raises():
    m = parse_document(b"<root xmlns='urn:x'><a/></root>")
    assert (m.kind, m.root, m.namespace, m.flags) == ("other", "root", "urn:x", ())
    with pytest.raises(NotXML):
        parse_document(b"%PDF-1.4 not xml", name="x.pdf")
    with pytest.raises(HostileXML):
        parse_document(b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>')


# Parsing speed is measured in bench/ingest.py against a floor, never timed in a unit test.


# --- e-Defter -------------------------------------------------------------------------

sys.path.insert(0, str(EDEFTER_ASSETS))
import make_edefter


class _LocalOnly(etree.Resolver):
    """Resolve schema imports inside the GİB xsd folder only; never the network."""

    def resolve(self, url, pubid, context):
        if url.startswith("http://www.xbrl.org/2003/"):
            return self.resolve_filename(str(EDEFTER_XSD / url.rsplit("/", 1)[1]), context)
        path = Path(url.removeprefix("file://")).resolve()
        if EDEFTER_XSD.resolve() in path.parents:
            return None
        raise ValueError(f"schema import outside {EDEFTER_XSD}: {url}")


@pytest.fixture(scope="module")
def edefter_schema():
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    parser.resolvers.add(_LocalOnly())
    return etree.XMLSchema(etree.parse(str(EDEFTER_XSD / "edefter.xsd"), parser))


@pytest.fixture(scope="module")
def edefter():
    files = sorted(EDEFTER_ASSETS.glob("*.xml"))
    assert len(files) == 6
    return {p.name: parse_document(p.read_bytes(), name=p.name) for p in files}


def test_edefter_assets_are_current(tmp_path):
    assert make_edefter.main(["make_edefter.py", str(tmp_path)]) == 0
    made = {p.name: p.read_bytes() for p in tmp_path.glob("*.xml")}
    committed = {p.name: p.read_bytes() for p in EDEFTER_ASSETS.glob("*.xml")}
    assert made == committed, "run tests/assets/edefter/make_edefter.py and commit the output"


def test_edefter_assets_validate_against_gib_xsd(edefter_schema):
    for path in sorted(EDEFTER_ASSETS.glob("*.xml")):
        doc = etree.parse(str(path))
        assert edefter_schema.validate(doc), (path.name, [str(e) for e in edefter_schema.error_log][:5])


def test_xsd_check_is_live(edefter_schema):
    doc = etree.parse(str(next(EDEFTER_ASSETS.glob("*-Y-000000.xml"))))
    entries_type = doc.find(".//{http://www.xbrl.org/int/gl/cor/2006-10-25}entriesType")
    entries_type.text = "yevmiye"  # not in the XBRL GL enumeration
    assert not edefter_schema.validate(doc)


def test_nonconforming_berat_fails_xsd_but_is_archived_as_berat(edefter_schema):
    path = CORPUS / "edefter/nonconforming/eimza_ornek_berat.xml"
    assert not edefter_schema.validate(etree.parse(str(path)))
    # Kind follows the root element: the file claims to be a berat and is kept as one, flagged,
    # so it is findable where an inspector would look for it and its defect is visible.
    m = parse_document(path.read_bytes())
    assert m.kind == "berat" and "edefter-structure" in m.flags
    assert m.edefter is not None and m.edefter.seal is None and not m.edefter.gib_approved


def test_edefter_file_names_follow_l4():
    pattern = re.compile(r"^(GIB-)?(\d{10,11})-(\d{6})-(Y|K|YB|KB)-(\d{6})\.xml$")
    for path in EDEFTER_ASSETS.glob("*.xml"):
        m = pattern.match(path.name)
        assert m, path.name
        assert m.group(4) in ("YB", "KB") or not m.group(1)


def test_edefter_kinds_and_fields(edefter):
    vkn, ym = make_edefter.VKN, make_edefter.YEAR_MONTH
    y, k = edefter[f"{vkn}-{ym}-Y-000000.xml"], edefter[f"{vkn}-{ym}-K-000000.xml"]
    assert (y.kind, k.kind) == ("yevmiye", "kebir")
    for m in edefter.values():
        info = m.edefter
        assert info.vkn == vkn and m.supplier.id == vkn and m.supplier.role == "owner"
        assert not [f for f in m.flags if "owner" in f]  # the made-up VKN passes the checksum
        assert (info.period_start, info.period_end) == (dt.date(2025, 1, 1), dt.date(2025, 1, 31))
        assert info.control_number in (f"YEV{ym}000001", f"KEB{ym}000001")
        assert make_edefter.COMPANY in m.texts and m.currency == "TRY"
    assert y.edefter.entry_count == len(make_edefter.ENTRIES)
    assert y.line_count == sum(len(e[3]) for e in make_edefter.ENTRIES)


def _signature_value(path: Path, xpath: str) -> str:
    tree = etree.parse(str(path))
    return "".join(tree.xpath(xpath, namespaces={"ds": DS, "e": "http://www.edefter.gov.tr"})[0].text.split())


def test_ledger_berat_and_gib_berat_share_the_seal(edefter):
    vkn, ym = make_edefter.VKN, make_edefter.YEAR_MONTH
    for kind, ledger_type in (("Y", "yevmiye"), ("K", "kebir")):
        ledger_name = f"{vkn}-{ym}-{kind}-000000.xml"
        expected = hashlib.sha256(
            _signature_value(EDEFTER_ASSETS / ledger_name, "/e:defter/ds:Signature/ds:SignatureValue").encode()
        ).hexdigest()
        ledger = edefter[ledger_name]
        berat = edefter[f"{vkn}-{ym}-{kind}B-000000.xml"]
        gib = edefter[f"GIB-{vkn}-{ym}-{kind}B-000000.xml"]
        assert ledger.edefter.seal == berat.edefter.seal == gib.edefter.seal == expected
        assert (berat.kind, gib.kind) == ("berat", "berat")
        assert berat.edefter.ledger_type == gib.edefter.ledger_type == ledger_type
        assert (ledger.edefter.gib_approved, berat.edefter.gib_approved, gib.edefter.gib_approved) == (
            False, False, True)
        assert ("berat-of", ledger.doc_id) in {(r.type, r.id) for r in berat.references}
        assert berat.edefter.berat_guid == make_edefter.BERAT_GUIDS[kind]
    seals = {m.edefter.seal for m in edefter.values()}
    assert len(seals) == 2  # yevmiye and kebir are sealed apart
    yb = edefter[f"{vkn}-{ym}-YB-000000.xml"]
    assert yb.edefter.entry_count == edefter[f"{vkn}-{ym}-Y-000000.xml"].edefter.entry_count
