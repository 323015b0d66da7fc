"""``/ui/reports``: the compliance reports (``archive/reports.py``) as pages and files to take away.

The same use case as ``/v1/reports/{name}`` and ``earsiv report`` (``ArchiveService.report``):
the same scope (an admin any VKN, a tenant's principal its own, an inspector within its grants,
each report it is shown an access event), the same files (``render_report``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from earsiv.api.http.deps import Caller, Service
from earsiv.api.http.headers import content_disposition
from earsiv.api.http.schemas import ACCESS_EVENT_HEADER
from earsiv.api.web.forms import parse_date
from earsiv.api.web.render import page
from earsiv.archive.reportformat import FORMATS, MEDIA_TYPES, render_report
from earsiv.archive.reports import REPORTS
from earsiv.errors import InvalidInput

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

# report -> (Turkish, English) title, as the page's choice names it
TITLES = {"serials": ("Seri numarası sürekliliği", "Serial continuity"),
          "edefter": ("e-Defter dönemleri ve beratlar", "e-Defter periods and berats"),
          "responses": ("Yanıtlar (irsaliye ve uygulama yanıtları)", "Responses (waybill and application responses)")}


def _asked(request: Request) -> tuple[dict[str, str], tuple | None]:
    """What the form says, and (report, vkn, from, to) if it says all of it."""
    p = request.query_params
    values = {k: (p.get(k) or "").strip() for k in ("report", "vkn", "from", "to")}
    if not all(values.values()):
        return values, None
    if values["report"] not in REPORTS:
        raise InvalidInput(f"rapor / report: {', '.join(REPORTS)}")
    start = parse_date(values["from"], "başlangıç / from")
    end = parse_date(values["to"], "bitiş / to")
    return values, (values["report"], values["vkn"], start, end)


@router.get("/ui/reports")
async def reports(request: Request, service: Service, who: Caller) -> Response:
    values, asked = _asked(request)
    made = None
    if asked is not None:
        made = await run_in_threadpool(service.report, who, *asked)
    response = page(request, "reports.html", values=values, titles=TITLES, formats=FORMATS,
                    rep=made.report if made else None)
    if made is not None and made.event is not None:
        response.headers[ACCESS_EVENT_HEADER] = str(made.event)
    return response


@router.get("/ui/reports/file")
async def report_file(request: Request, service: Service, who: Caller) -> Response:
    """The report as the API gives it: ``format`` json, csv, xlsx or pdf."""
    fmt = request.query_params.get("format", "")
    if fmt not in FORMATS:
        raise InvalidInput(f"biçim / format: {', '.join(FORMATS)}")
    _values, asked = _asked(request)
    if asked is None:
        raise InvalidInput("rapor, VKN ve dönem gerekli / a report, a VKN and a period are needed")
    made = await run_in_threadpool(service.report, who, *asked)
    data = await run_in_threadpool(render_report, made.report, fmt)
    name, vkn, start, end = asked
    fname = f"earsiv-{name}-{vkn}-{start}-{end}.{fmt}"
    headers = {"Content-Disposition": content_disposition(fname, f"report.{fmt}"), "Cache-Control": "no-store"}
    if made.event is not None:
        headers[ACCESS_EVENT_HEADER] = str(made.event)
    return Response(data, media_type=MEDIA_TYPES[fmt], headers=headers)
