"""`earsiv export` end to end through the real command: one document and a period, PDF/HTML/XML."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from tests.conftest import CORPUS, ROOT, Cli
from tests.unit.render.pdfcheck import need_poppler, squash, structure, text

SAMPLE = [
    "efatura/gib121_TicariFaturaOrnegi.xml",  # supplier VKN 1288331521
    "efatura/gib121_TemelFaturaOrnegi.xml",  # same supplier
    "eirsaliye/gib121_Irsaliye-Ornek1.xml",
    "earsiv/bdog_sample.xml",
]
LEDGER = ROOT / "tests" / "assets" / "edefter" / "4700012349-202501-Y-000000.xml"


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def archived(cli: Cli) -> Cli:
    cli.run("ingest", *[str(CORPUS / s) for s in SAMPLE], str(LEDGER))
    return cli


def test_one_document_as_pdf_carries_its_original_and_verifiable_evidence(archived, tmp_path):
    need_poppler()
    path = CORPUS / SAMPLE[0]
    digest = sha(path)
    out = tmp_path / "one.pdf"
    archived.run("export", digest, "--format", "pdf", "-o", str(out))
    facts = structure(out.read_bytes())
    assert (facts["pdfa_part"], facts["pdfa_conformance"]) == ("3", "B")
    assert facts["files"]["original.xml"]["data"] == path.read_bytes()
    evidence = json.loads(facts["files"]["evidence.json"]["data"])
    shown = archived.json("show", digest)
    assert evidence["digest"] == digest and json.loads(evidence["leaf"])["digest"] == digest
    assert evidence["proof"]["log_index"] == shown["log_index"]
    assert evidence["checkpoint_tsr"] and "BEGIN PUBLIC KEY" in evidence["archive_key_pem"]
    page = squash(text(out.read_bytes(), 1))
    assert digest in page and f"logkaydı#{shown['log_index']}" in page
    assert squash(evidence["checkpoint_time"]) in page


def test_xml_export_is_the_original_byte_for_byte_and_html_is_a_page(archived, tmp_path):
    path = CORPUS / SAMPLE[3]
    archived.run("export", sha(path), "--format", "xml", "-o", str(tmp_path / "o.xml"))
    assert (tmp_path / "o.xml").read_bytes() == path.read_bytes()
    archived.run("export", sha(path), "--format", "html", "-o", str(tmp_path / "o.html"))
    page = (tmp_path / "o.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "BT02021000000260" in page


def test_an_unknown_digest_fails_with_exit_code_1(archived, tmp_path):
    proc = archived.run("export", "0" * 64, "-o", str(tmp_path / "x.pdf"), check=1)
    assert b"no document" in proc.stderr
    assert not (tmp_path / "x.pdf").exists()


def test_usage_errors(archived, tmp_path):
    archived.run("export", "-o", str(tmp_path / "x"), check=2)
    archived.run("export", sha(CORPUS / SAMPLE[0]), "--vkn", "1288331521", "-o", str(tmp_path / "x"), check=2)


def _bulk(cli: Cli, out: Path, fmt: str) -> list[str]:
    summary = json.loads(cli.run("export", "--vkn", "1288331521", "--from", "2009-01-01", "--to", "2009-12-31",
                                 "--format", fmt, "-o", str(out), "--json").stdout)
    assert summary["written"] == 2 and summary["failed"] == []
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        assert len(names) == 2 and all(n.startswith("e-fatura/") and n.endswith(f".{fmt}") for n in names)
        return [z.read(n) for n in names]


def test_bulk_export_of_a_party_and_period_to_a_zip(archived, tmp_path):
    pages = _bulk(archived, tmp_path / "period.zip", "html")
    shown = {doc_id for doc_id in ("GIB2009000000011", "GIB20090000000001") for page in pages if doc_id.encode() in page}
    assert shown == {"GIB2009000000011", "GIB20090000000001"}


@pytest.mark.slow
def test_bulk_pdf_export_embeds_each_original(archived, tmp_path):
    pdfs = _bulk(archived, tmp_path / "period.zip", "pdf")
    embedded = {hashlib.sha256(structure(pdf)["files"]["original.xml"]["data"]).hexdigest() for pdf in pdfs}
    assert embedded == {sha(CORPUS / SAMPLE[0]), sha(CORPUS / SAMPLE[1])}


def test_bulk_export_by_kind_to_a_directory(archived, tmp_path):
    out = tmp_path / "dir"
    archived.run("export", "--kind", "yevmiye", "--format", "xml", "-o", str(out))
    files = [p for p in out.rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in files] == [LEDGER.read_bytes()]
    assert files[0].parent.name == "yevmiye"
