"""Take a result list away: CSV and XLSX for Turkish Excel, a ZIP of originals, PDFs or both.

The same use cases as ``/v1/documents.csv`` and ``earsiv export``: the same scope, and for an
inspector one access event per list, naming every document in it.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from earsiv.api.http.deps import Caller, Service
from earsiv.api.http.headers import content_disposition
from earsiv.api.web.forms import read_find
from earsiv.api.web.sheets import turkish_csv, xlsx
from earsiv.errors import InvalidInput

__all__ = ["MAX_LIST", "router"]

router = APIRouter(include_in_schema=False)
MAX_LIST = 100_000
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _headers(name: str, event) -> dict[str, str]:
    headers = {"Content-Disposition": content_disposition(name, name), "Cache-Control": "no-store"}
    if event is not None:
        headers["Earsiv-Access-Event"] = str(event)
    return headers


@router.get("/ui/export.csv")
def export_csv(request: Request, service: Service, who: Caller) -> Response:
    listing = service.listing(who, read_find(request, who).query, MAX_LIST)
    return Response(turkish_csv(listing.rows), media_type="text/csv; charset=utf-8",
                    headers=_headers("belgeler.csv", listing.event))


@router.get("/ui/export.xlsx")
def export_xlsx(request: Request, service: Service, who: Caller) -> Response:
    listing = service.listing(who, read_find(request, who).query, MAX_LIST)
    return Response(xlsx(listing.rows), media_type=_XLSX, headers=_headers("belgeler.xlsx", listing.event))


@router.get("/ui/export.zip")
async def export_zip(request: Request, service: Service, who: Caller) -> Response:
    """Originals (``what=xml``), PDFs (``pdf``) or both, one folder each, in one ZIP."""
    what = request.query_params.get("what", "pdf")
    formats = {"xml": ("xml",), "pdf": ("pdf",), "both": ("xml", "pdf")}.get(what)
    if formats is None:
        raise InvalidInput("what: xml, pdf or both")
    q = read_find(request, who).query
    tmp = tempfile.TemporaryDirectory(prefix="earsiv-web-zip-")
    out = Path(tmp.name) / "belgeler.zip"

    def build() -> list:
        events = []
        for fmt in formats:
            folder = Path(tmp.name) / fmt
            done = service.export(who, q, fmt, folder)
            if done.event is not None:
                events.append(str(done.event))
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for fmt in formats:
                for p in sorted((Path(tmp.name) / fmt).rglob("*")):
                    if p.is_file():
                        zf.write(p, f"{fmt}/{p.relative_to(Path(tmp.name) / fmt)}")
        return events

    try:
        events = await run_in_threadpool(build)
    except BaseException:
        tmp.cleanup()
        raise
    headers = _headers(f"belgeler-{what}.zip", ", ".join(events) or None)
    return FileResponse(out, media_type="application/zip", headers=headers, background=BackgroundTask(tmp.cleanup))
