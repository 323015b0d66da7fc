"""``/v1/documents``: archive, search, read back, verify, and prove documents.

Ingest answers 200 when every file ended stored, duplicate or conflict (all
of them are kept); 422 with an ``ingest-rejected`` problem document when any
file was rejected.  That problem's ``results`` lists every file, so a client
sees which of its files were archived even when others were not: a rejected
file never stops the others in the same request.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from starlette.concurrency import run_in_threadpool

from earsiv.api.http.deps import Caller, Digest, Filename, Search, Service, Tenant
from earsiv.api.http.headers import content_disposition, etag, etag_matches
from earsiv.api.http.problems import IngestProblem, IngestRejected, ValidationProblem, error_responses
from earsiv.api.http.schemas import (
    ACCESS_EVENT_HEADER,
    DocumentOut,
    FindingOut,
    HoldingOut,
    IngestResponse,
    IngestResultOut,
    LegalHoldIn,
    LegalHoldOut,
    SearchResponse,
    VerifyResponse,
)
from earsiv.api.http.uploads import XML_TYPES, ZIP_TYPE, read_sources
from earsiv.archive.ingest import STATUSES

__all__ = ["router"]

router = APIRouter(prefix="/v1/documents", tags=["documents"])
_EVENT_HEADER_DOC = {ACCESS_EVENT_HEADER: {"description": "Inspectors only: the log indexes of the access event this "
                                           "request made, one leaf per taxpayer whose grants it used, comma-separated "
                                           "(their proofs: GET /v1/access-log).",
                                           "schema": {"type": "string", "pattern": r"^[0-9]+(, [0-9]+)*$"}}}

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_INGEST_BODY = {
    "requestBody": {
        "required": True,
        "description": "One document as the raw body, several as multipart parts named `files`, or a ZIP archive.",
        "content": {
            **{t: _BINARY for t in XML_TYPES},
            ZIP_TYPE: _BINARY,
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
                    "required": ["files"],
                }
            },
        },
    },
    "parameters": [
        {
            "name": "X-Filename",
            "in": "header",
            "required": False,
            "description": "Name of the file sent as a raw body (percent-encoded UTF-8 if not ASCII).",
            "schema": {"type": "string", "maxLength": 1024},
        }
    ],
}
_ORIGINAL_OK = {
    "description": "The document exactly as received.",
    "content": {"application/xml": _BINARY},
    "headers": {
        "ETag": {"description": "The digest, quoted.", "schema": {"type": "string"}},
        "Content-Disposition": {"description": "attachment; the file name it was received under.", "schema": {"type": "string"}},
    },
}


@router.post(
    "",
    operation_id="ingestDocuments",
    summary="Archive documents",
    response_model=IngestResponse,
    responses={
        422: {"description": "A file was rejected (the problem lists every file's result), or a parameter is invalid.",
              "model": IngestProblem | ValidationProblem},
        **error_responses(400, 401, 403, 413, 415, 503),
    },
    openapi_extra=_INGEST_BODY,
)
async def ingest(request: Request, service: Service, who: Caller, tenant: Tenant = None,
                 filename: Filename = None) -> IngestResponse:
    """Each file gets a status: stored, duplicate, conflict or rejected.  A
    success answer is given only after every archived file is durable.

    Admins and integrators only.  An integrator archives for one of its tenants
    (`tenant`, which may be left out when it has exactly one)."""
    # Checked before the body is read: a refused caller uploads nothing.
    tenant = await run_in_threadpool(service.ingest_tenant, who, tenant)
    sources = await read_sources(request, filename)
    done = await run_in_threadpool(service.ingest, who, sources, tenant)
    results = [IngestResultOut.from_domain(r) for r in done]
    counted = Counter(r.status for r in results)
    counts = {s: counted.get(s, 0) for s in STATUSES}
    rejected = [r for r in results if r.status == "rejected"]
    if rejected:
        names = "; ".join(f"{r.path}: {r.error}" for r in rejected[:10])
        more = f" (and {len(rejected) - 10} more)" if len(rejected) > 10 else ""
        raise IngestRejected(
            f"{len(rejected)} of {len(results)} files rejected: {names}{more}",
            results=[r.model_dump(mode="json") for r in results],
            counts=counts,
        )
    return IngestResponse(results=results, counts=counts)


def _event_headers(event: int | None) -> dict[str, str]:
    return {} if event is None else {ACCESS_EVENT_HEADER: str(event)}


@router.get("", operation_id="searchDocuments", summary="Search documents", response_model=SearchResponse,
            responses={200: {"headers": _EVENT_HEADER_DOC}, **error_responses(401, 403, 422, 503)})
def search(q: Search, service: Service, who: Caller, response: Response) -> SearchResponse:
    """Filters combine with AND, within what the caller may see: an admin
    everything, an integrator or accountant its tenants' holdings, an
    inspector what its grants cover.  Pages are stable: a document archived
    while a client pages through never makes another appear twice or go missing."""
    page = service.search(who, q)
    response.headers.update(_event_headers(page.event))
    return SearchResponse(documents=[DocumentOut.from_domain(r, page.holdings.get(r.digest)) for r in page.rows],
                          next_cursor=page.next_cursor)


@router.get("/{digest}", operation_id="getDocument", summary="Metadata of a document", response_model=DocumentOut,
            responses={200: {"headers": _EVENT_HEADER_DOC}, **error_responses(401, 404, 422, 503)})
def show(digest: Digest, service: Service, who: Caller, response: Response) -> DocumentOut:
    view = service.show(who, digest)
    response.headers.update(_event_headers(view.event))
    return DocumentOut.from_domain(view.row, view.holdings)


@router.get(
    "/{digest}/original",
    operation_id="getOriginal",
    summary="The original bytes",
    response_class=Response,
    responses={200: _ORIGINAL_OK, 304: {"description": "The client's copy (If-None-Match) is current."},
               **error_responses(401, 404, 409, 422, 503)},
)
def original(
    digest: Digest,
    service: Service,
    who: Caller,
    if_none_match: Annotated[str | None, Header(description="ETag(s) of a copy the client has.", max_length=8192)] = None,
) -> Response:
    """Checked against the digest on the way out: damaged bytes are never served (409)."""
    cache = {"ETag": etag(digest), "Cache-Control": "private, max-age=31536000, immutable"}
    if etag_matches(if_none_match, digest) and service.copy_is_current(who, digest):
        return Response(status_code=304, headers=cache)
    got = service.original(who, digest)
    return Response(got.data, media_type="application/xml",
                    headers={**cache, "Content-Disposition": content_disposition(got.filename, f"{digest[:16]}.xml"),
                             **_event_headers(got.event)})


@router.post("/{digest}/verify", operation_id="verifyDocument", summary="Verify a document's evidence chain",
             response_model=VerifyResponse, responses=error_responses(401, 404, 422, 503))
def verify(digest: Digest, service: Service, who: Caller, response: Response) -> VerifyResponse:
    """Blob → log leaf → inclusion proof → signed checkpoint → time-stamp.
    A failure is an answer (``ok: false``, each failure named), not an error."""
    checked = service.verify(who, [digest])
    response.headers.update(_event_headers(checked.events[0] if checked.events else None))
    return VerifyResponse(digest=digest, ok=checked.ok, failures=[FindingOut.from_domain(f) for f in checked.findings])


@router.get(
    "/{digest}/evidence",
    operation_id="getEvidence",
    summary="Offline-verifiable evidence as a ZIP",
    response_class=Response,
    responses={200: {"description": "original.xml, leaf, inclusion proof, checkpoint, its signature and time-stamp token, "
                                    "keys, and a README with the openssl commands that check them.",
                     "content": {"application/zip": _BINARY}},
               **error_responses(401, 404, 409, 422, 503)},
)
def evidence(digest: Digest, service: Service, who: Caller) -> Response:
    got = service.evidence_zip(who, digest)
    return Response(got.data, media_type="application/zip",
                    headers={"Content-Disposition": content_disposition(got.filename, "evidence.zip"),
                             **_event_headers(got.event)})


@router.put("/{digest}/legal-hold", operation_id="setLegalHold", summary="Put or lift a legal hold (admin)",
            response_model=LegalHoldOut, responses=error_responses(400, 401, 403, 404, 422, 503))
def legal_hold(digest: Digest, body: LegalHoldIn, service: Service, who: Caller) -> LegalHoldOut:
    """On one tenant's holding (`tenant`), or on every holding of the document.
    The stored bytes stay under a legal hold while any holding is held; the
    change is a leaf of the log."""
    change = service.legal_hold(who, digest, body.on, body.reason, body.tenant)
    return LegalHoldOut(digest=change.digest, log_index=change.log_index,
                        holdings=[HoldingOut.from_domain(h) for h in change.holdings])
