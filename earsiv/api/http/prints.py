"""``/v1/documents/{digest}/print``: the printable copy of one document (LAW.md L6).

HTML for the screen, PDF/A-3b for paper and for keeping (the original XML and its evidence
travel inside the PDF), or the original XML itself.

A browser must never run what a document wrote: every answer is ``nosniff``, and the ones a
browser could render as a page (HTML, and XML, which may hold XHTML) carry the
Content-Security-Policy as a header, not only in the page: nothing loads, nothing runs, and the
page is sandboxed (an opaque origin) even when opened straight from this API.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from earsiv.api.http.deps import Caller, Digest, Service
from earsiv.api.http.headers import content_disposition
from earsiv.api.http.problems import error_responses
from earsiv.api.http.schemas import ACCESS_EVENT_HEADER
from earsiv.render.formats import SERVED_CSP

__all__ = ["router"]

router = APIRouter(prefix="/v1/documents", tags=["documents"])


class PrintFormat(str, Enum):
    pdf = "pdf"
    html = "html"
    xml = "xml"


_MEDIA = {"pdf": "application/pdf", "html": "text/html; charset=utf-8", "xml": "application/xml"}


@router.get(
    "/{digest}/print",
    operation_id="printDocument",
    summary="Printable copy: PDF/A-3b, HTML or the original XML",
    response_class=Response,
    responses={200: {"description": "The copy. A PDF carries the original XML and its evidence as embedded files, "
                                    "and on every page the digest, log index, checkpoint time and a QR code.",
                     "content": {m: {"schema": {"type": "string", "format": "binary"}} for m in _MEDIA.values()}},
               **error_responses(401, 404, 409, 422, 503)},
)
async def print_copy(
    digest: Digest,
    service: Service,
    who: Caller,
    format: Annotated[PrintFormat, Query(description="pdf (default), html or xml.")] = PrintFormat.pdf,
) -> Response:
    got = await run_in_threadpool(service.print_copy, who, digest, format.value)
    headers = {"Content-Disposition": content_disposition(got.filename, f"document.{format.value}"),
               "ETag": f'"{got.digest}-{format.value}"', "X-Content-Type-Options": "nosniff",
               "Referrer-Policy": "no-referrer"}
    if format is not PrintFormat.pdf:  # a browser's PDF viewer does not run under a sandboxing policy
        headers["Content-Security-Policy"] = SERVED_CSP
    if got.event is not None:
        headers[ACCESS_EVENT_HEADER] = str(got.event)
    return Response(got.data, media_type=_MEDIA[format.value], headers=headers)
