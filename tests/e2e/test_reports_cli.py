"""`earsiv report …` as a user runs it: the real command, its formats, its refusals."""

from __future__ import annotations

import csv
import io
import json

from earsiv.documents.parse import parse_document
from tests.conftest import CORPUS

AKG = ["efatura/sk-akgips_20251120150604701835.xml", "efatura/sk-akgips_20251120150604712956.xml",
       "efatura/sk-akgips_20251120150604724068.xml"]


def test_report_serials_in_every_format(cli, tmp_path):
    cli.run("ingest", *[str(CORPUS / p) for p in AKG])
    vkn = parse_document((CORPUS / AKG[0]).read_bytes()).supplier.id
    period = ("--vkn", vkn, "--from", "2025-11-01", "--to", "2025-11-30")
    rep = json.loads(cli.run("report", "serials", *period).stdout)
    assert [(g["first_missing"], g["count"]) for g in rep["gaps"]] == [("AKG2025000008439", 47),
                                                                       ("AKG2025000008487", 2)]
    rows = list(csv.reader(io.StringIO(cli.run("report", "serials", *period, "--format", "csv").stdout.decode("utf-8-sig"))))
    assert ["gaps", "invoice", "AKG", "2025", "AKG2025000008487", "AKG2025000008488", "2", "not in this archive"] in rows
    out = tmp_path / "r.xlsx"
    cli.run("report", "serials", *period, "--format", "xlsx", "-o", str(out))
    assert out.read_bytes()[:2] == b"PK"
    bad = cli.run("report", "serials", "--vkn", vkn, "--from", "2025-12-01", "--to", "2025-11-01", check=2)
    assert b"before it starts" in bad.stderr
    cli.run("report", "serials", "--vkn", "12", "--from", "2025-01-01", "--to", "2025-11-01", check=2)
