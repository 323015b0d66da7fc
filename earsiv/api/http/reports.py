"""``/v1/reports/{serials,edefter,responses}``: the compliance reports (``archive/reports.py``).

Scoped like search: an admin any VKN, an integrator's or accountant's principal its own
taxpayers, an inspector within its grants (the period cut to them; the report is an access
event, its index in ``Earsiv-Access-Event``).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from earsiv.api.http.deps import Caller, Service
from earsiv.api.http.headers import content_disposition
from earsiv.api.http.problems import error_responses
from earsiv.api.http.schemas import ACCESS_EVENT_HEADER

__all__ = ["router"]

router = APIRouter(prefix="/v1/reports", tags=["reports"])


class ReportName(enum.StrEnum):
    serials = "serials"
    edefter = "edefter"
    responses = "responses"


class ReportFormat(enum.StrEnum):
    json = "json"
    csv = "csv"
    xlsx = "xlsx"
    pdf = "pdf"


# The JSON report: these fields, then one list of rows per table of the report (docs/API.md).
_JSON_SCHEMA = {
    "type": "object",
    "properties": {
        "report": {"type": "string", "enum": ["serials", "edefter", "responses"]},
        "vkn": {"type": "string"},
        "periods": {"type": "array", "items": {"type": "object", "properties": {
            "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"}}}},
        "generated_at": {"type": "string", "format": "date-time"},
        "summary": {"type": "object", "additionalProperties": True},
        "notes": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["report", "vkn", "periods", "generated_at", "summary", "notes"],
    "additionalProperties": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
}


@router.get(
    "/{name}",
    operation_id="getReport",
    summary="A compliance report of one taxpayer and period",
    response_class=Response,
    responses={200: {"description": "The report: JSON (summary, notes, one list per table), CSV (one file, a header "
                                    "row per table), XLSX (a sheet per table) or PDF.",
                     "content": {"application/json": {"schema": _JSON_SCHEMA},
                                 "text/csv": {"schema": {"type": "string"}},
                                 "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                                 "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
                                     {"schema": {"type": "string", "format": "binary"}}}},
               **error_responses(401, 403, 422, 503)},
)
async def report(
    service: Service,
    who: Caller,
    name: Annotated[ReportName, Path(description="serials (L11), edefter (L4) or responses (L12, L13).")],
    vkn: Annotated[str, Query(pattern=r"^[0-9]{10,11}$", description="The taxpayer (VKN/TCKN).")],
    from_: Annotated[dt.date, Query(alias="from", description="Documents dated on or after (YYYY-MM-DD).")],
    to: Annotated[dt.date, Query(description="Documents dated on or before (YYYY-MM-DD).")],
    format: Annotated[ReportFormat, Query(description="json, csv, xlsx or pdf.")] = ReportFormat.json,
) -> Response:
    from earsiv.archive.reportformat import MEDIA_TYPES, render_report

    made = await run_in_threadpool(service.report, who, name.value, vkn, from_, to)
    data = await run_in_threadpool(render_report, made.report, format.value)
    fname = f"earsiv-{name.value}-{vkn}-{from_}-{to}.{format.value}"
    headers = {"Content-Disposition": content_disposition(fname, f"report.{format.value}")}
    if made.event is not None:
        headers[ACCESS_EVENT_HEADER] = str(made.event)
    return Response(data, media_type=MEDIA_TYPES[format.value], headers=headers)
