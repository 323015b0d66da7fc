"""``/v1/documents.csv``: a search's whole result list as CSV, for spreadsheets and accountants.

The same filters and the same visibility as ``GET /v1/documents``; every page is read, up to
``max`` rows.  For an inspector the whole list is one access event, logged before it is sent.
Every cell goes through ``csv_cell`` (``earsiv/archive/csvcells.py``), as in every CSV the
archive writes: one a spreadsheet would run as a formula (=, +, -, @ first) gets a leading
apostrophe (OWASP "CSV injection"), whatever its column; numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated

from fastapi import APIRouter, Query, Response

from earsiv.api.http.deps import Caller, Search, Service
from earsiv.api.http.headers import content_disposition
from earsiv.api.http.problems import error_responses
from earsiv.api.http.schemas import ACCESS_EVENT_HEADER
from earsiv.archive.csvcells import csv_cell

__all__ = ["CSV_FIELDS", "router"]

router = APIRouter(tags=["documents"])

CSV_FIELDS = (
    "digest", "kind", "id", "ettn", "issue_date", "profile", "type_code", "supplier_id", "supplier_name",
    "customer_id", "customer_name", "payable_amount", "tax_amount", "currency", "signature_status", "signature_trust",
    "signer_relation", "signature", "log_index", "flags",
)
MAX_ROWS = 100_000


def _values(row) -> dict[str, str]:
    raw = {**{f: getattr(row, f, None) for f in CSV_FIELDS}, "id": row.doc_id, "flags": " ".join(row.flags),
           "signature": row.signature_words[1]}
    return {f: csv_cell(raw[f]) for f in CSV_FIELDS}


@router.get(
    "/v1/documents.csv",
    operation_id="exportDocumentsCsv",
    summary="A search's result list as CSV",
    response_class=Response,
    responses={200: {"description": f"UTF-8 CSV with a header row: {', '.join(CSV_FIELDS)}. Newest first.",
                     "content": {"text/csv": {"schema": {"type": "string"}}},
                     "headers": {ACCESS_EVENT_HEADER: {"description": "Inspectors only: the access event's log "
                                                       "indexes (one leaf per taxpayer), comma-separated.",
                                                       "schema": {"type": "string"}}}},
               **error_responses(401, 403, 422, 503)},
)
def export_csv(
    q: Search,
    service: Service,
    who: Caller,
    max_rows: Annotated[int, Query(alias="max", ge=1, le=MAX_ROWS, description="At most this many rows.")] = 10_000,
) -> Response:
    """Filters as for `GET /v1/documents` (`limit` and `cursor` are ignored: every page is read)."""
    listing = service.listing(who, q, max_rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for row in listing.rows:
        writer.writerow(_values(row))
    headers = {"Content-Disposition": content_disposition("documents.csv", "documents.csv")}
    if listing.event is not None:
        headers[ACCESS_EVENT_HEADER] = str(listing.event)
    return Response(buf.getvalue().encode("utf-8"), media_type="text/csv; charset=utf-8", headers=headers)
