"""A result list as Turkish Excel opens it: CSV with a BOM, ``;`` and decimal commas, or an XLSX.

Every CSV cell goes through ``csv_cell`` (a leading =, +, -, @ gets an apostrophe: no formula);
the XLSX holds text as inline strings and amounts as numbers, and a spreadsheet never evaluates
an inline string, so no cell of it is a formula whatever it says.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from decimal import Decimal
from xml.sax.saxutils import escape

from earsiv.archive.csvcells import csv_cell

__all__ = ["COLUMNS", "turkish_csv", "xlsx"]

# (header, row attribute)
COLUMNS: tuple[tuple[str, str], ...] = (
    ("Tür / Kind", "kind"), ("Belge No / Number", "doc_id"), ("ETTN", "ettn"), ("Tarih / Date", "issue_date"),
    ("Senaryo / Profile", "profile"), ("Tip / Type", "type_code"), ("Satıcı VKN / Supplier ID", "supplier_id"),
    ("Satıcı / Supplier", "supplier_name"), ("Alıcı VKN / Customer ID", "customer_id"),
    ("Alıcı / Customer", "customer_name"), ("Ödenecek / Payable", "payable_amount"), ("Vergi / Tax", "tax_amount"),
    ("Para birimi / Currency", "currency"), ("İmza / Signature", "signature_status"), ("Özet / Digest", "digest"),
    ("İşaretler / Flags", "flags"),
)


def _value(row, attr: str):
    value = getattr(row, attr)
    if attr == "flags":
        return " ".join(value)
    if attr == "issue_date" and value is not None:
        return value.strftime("%d.%m.%Y")
    return value


def turkish_csv(rows: Sequence) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    writer.writerow([csv_cell(h) for h, _a in COLUMNS])
    for r in rows:
        cells = []
        for _h, attr in COLUMNS:
            v = _value(r, attr)
            cells.append(str(v).replace(".", ",") if isinstance(v, Decimal) else csv_cell(v))
        writer.writerow(cells)
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")


def _col(n: int) -> str:
    name = ""
    n += 1
    while n:
        n, rem = divmod(n - 1, 26)
        name = chr(65 + rem) + name
    return name


def _cell(ref: str, v) -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, Decimal):
        return f'<c r="{ref}"><v>{v}</v></c>'
    text = escape(str(v)).replace("\r", "&#13;")
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def xlsx(rows: Sequence) -> bytes:
    lines = []
    for i, values in enumerate([[h for h, _a in COLUMNS], *([_value(r, a) for _h, a in COLUMNS] for r in rows)]):
        cells = "".join(_cell(f"{_col(j)}{i + 1}", v) for j, v in enumerate(values))
        lines.append(f'<row r="{i + 1}">{cells}</row>')
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             f'<sheetData>{"".join(lines)}</sheetData></worksheet>')
    ns = "http://schemas.openxmlformats.org"
    parts = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<Types xmlns="{ns}/package/2006/content-types">'
        f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        f'<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        "</Types>",
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<Relationships xmlns="{ns}/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>",
        "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<workbook xmlns="{ns}/spreadsheetml/2006/main" xmlns:r="{ns}/officeDocument/2006/relationships">'
        '<sheets><sheet name="Belgeler" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<Relationships xmlns="{ns}/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        "</Relationships>",
        "xl/worksheets/sheet1.xml": sheet,
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in parts.items():
            zf.writestr(name, text)
    return buf.getvalue()
