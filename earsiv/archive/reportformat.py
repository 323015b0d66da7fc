"""A compliance report as JSON, CSV, XLSX or PDF: the same summary and tables in each.

Cells of CSV and XLSX go through ``csv_cell`` (``csvcells.py``): IDs, ETTNs and response codes
come from documents others wrote, and openpyxl, like a spreadsheet, takes a string that starts
with ``=`` for a formula.  Numbers and dates stay numbers and dates.  The PDF is data only
(no stylesheet of a document, nothing fetched), like the damage report's.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
from typing import Any

from earsiv.archive.csvcells import csv_cell
from earsiv.archive.reports import Report

__all__ = ["FORMATS", "MEDIA_TYPES", "render_report"]

FORMATS = ("json", "csv", "xlsx", "pdf")
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def render_report(rep: Report, fmt: str) -> bytes:
    if fmt == "json":
        return (json.dumps(rep.to_json(), ensure_ascii=False, indent=2) + "\n").encode()
    if fmt == "csv":
        return _csv(rep)
    if fmt == "xlsx":
        return _xlsx(rep)
    if fmt == "pdf":
        return _pdf(rep)
    raise ValueError(f"unknown report format {fmt!r}; formats: {', '.join(FORMATS)}")


def _text(v: Any) -> Any:
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, bool):
        return "yes" if v else "no"
    return v


def _summary_rows(rep: Report) -> list[tuple[str, Any]]:
    periods = ", ".join(f"{a}..{b}" for a, b in rep.windows)
    return [("report", rep.name), ("vkn", rep.vkn), ("periods", periods),
            ("generated_at", rep.generated_at.isoformat()), *rep.summary.items()]


def _csv(rep: Report) -> bytes:
    """One CSV: the summary, then each table under a header row whose first cell names it."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["section", "key", "value"])
    for k, v in _summary_rows(rep):
        w.writerow(["summary", csv_cell(k), csv_cell(_text(v))])
    for note in rep.notes:
        w.writerow(["note", "", csv_cell(note)])
    for t in rep.tables:
        w.writerow([])
        w.writerow(["section", *t.columns])
        for row in t.rows:
            w.writerow([t.name, *(csv_cell(_text(v)) for v in row)])
    return ("\ufeff" + buf.getvalue()).encode()  # the BOM makes spreadsheets read UTF-8 (Turkish letters)


def _cell(v: Any) -> Any:
    if v is None or isinstance(v, bool):
        return _text(v)
    if isinstance(v, (int, float, dt.date)) and not isinstance(v, dt.datetime):
        return v
    return csv_cell(_text(v))


def _xlsx(rep: Report) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)  # streams rows: a report of many gaps stays small in memory
    ws = wb.create_sheet("summary")
    for k, v in _summary_rows(rep):
        ws.append([k, _cell(v)])
    for note in rep.notes:
        ws.append(["note", _cell(note)])
    for t in rep.tables:
        ws = wb.create_sheet(t.name[:31])
        ws.append(list(t.columns))
        for row in t.rows:
            ws.append([_cell(v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _pdf(rep: Report) -> bytes:
    from earsiv.archive.reportpdf import report_pdf

    return report_pdf(_html(rep))


def _html(rep: Report) -> str:
    e = html.escape

    def cell(v: Any) -> str:
        return e("" if v is None else str(_text(v)))

    summary = "".join(f"<tr><th>{e(k)}</th><td>{cell(v)}</td></tr>" for k, v in _summary_rows(rep))
    notes = "".join(f"<li>{e(n)}</li>" for n in rep.notes)
    tables = "".join(
        f"<h2>{e(t.name.replace('_', ' '))} ({len(t.rows)})</h2>"
        + (f"<table><tr>{''.join(f'<th>{e(c)}</th>' for c in t.columns)}</tr>"
           + "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in t.rows)
           + "</table>" if t.rows else "<p>none</p>")
        for t in rep.tables)
    title = f"{rep.title} — {rep.vkn}"
    return f"""<!doctype html><html lang="tr"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>@page {{ size: A4 landscape; margin: 12mm; @bottom-right {{ content: counter(page) " / " counter(pages); font-size: 8pt }} }}
body {{ font-family: "DejaVu Sans", sans-serif; font-size: 8pt }} h1 {{ font-size: 14pt }} h2 {{ font-size: 11pt }}
table {{ border-collapse: collapse; width: 100% }} td, th {{ border: 0.5pt solid #888; padding: 2pt; vertical-align: top;
word-break: break-all; text-align: left }}</style></head><body>
<h1>{e(title)}</h1><table>{summary}</table><ul>{notes}</ul>{tables}</body></html>"""
