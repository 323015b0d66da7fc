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

from ...archive.ingest import STATUSES
from .deps import Digest, Filename, Search, Service, Tenant
from .headers import content_disposition, etag, etag_matches
from .problems import IngestProblem, IngestRejected, ValidationProblem, error_responses
from .schemas import (
    DocumentOut,
    FindingOut,
    IngestResponse,
    IngestResultOut,
    SearchResponse,
    VerifyResponse,
)
from .uploads import XML_TYPES, ZIP_TYPE, read_sources

__all__ = ["router"]

router = APIRouter(prefix="/v1/documents", tags=["documents"])

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
        **error_responses(400, 413, 415, 503),
    },
    openapi_extra=_INGEST_BODY,
)
async def ingest(request: Request, service: Service, tenant: Tenant = None, filename: Filename = None) -> IngestResponse:
    """Each file gets a status: stored, duplicate, conflict or rejected.  A
    success answer is given only after every archived file is durable."""
    sources = await read_sources(request, filename)
    results = [IngestResultOut.from_domain(r) for r in await run_in_threadpool(service.ingest, sources, tenant)]
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


@router.get("", operation_id="searchDocuments", summary="Search documents", response_model=SearchResponse,
            responses=error_responses(422, 503))
def search(q: Search, service: Service) -> SearchResponse:
    """Filters combine with AND.  Pages are stable: a document archived while
    a client pages through never makes another appear twice or go missing."""
    page = service.search(q)
    return SearchResponse(documents=[DocumentOut.from_domain(r) for r in page.rows], next_cursor=page.next_cursor)


@router.get("/{digest}", operation_id="getDocument", summary="Metadata of a document", response_model=DocumentOut,
            responses=error_responses(404, 422, 503))
def show(digest: Digest, service: Service) -> DocumentOut:
    return DocumentOut.from_domain(service.document(digest))


@router.get(
    "/{digest}/original",
    operation_id="getOriginal",
    summary="The original bytes",
    response_class=Response,
    responses={200: _ORIGINAL_OK, 304: {"description": "The client's copy (If-None-Match) is current."},
               **error_responses(404, 409, 422, 503)},
)
def original(
    digest: Digest,
    service: Service,
    if_none_match: Annotated[str | None, Header(description="ETag(s) of a copy the client has.", max_length=8192)] = None,
) -> Response:
    """Checked against the digest on the way out: damaged bytes are never served (409)."""
    tag = etag(digest)
    # Content-addressed, so a matching tag means identical bytes; the
    # document must still exist here (a 304 must not leak existence).
    row = service.document(digest)
    cache = {"ETag": tag, "Cache-Control": "private, max-age=31536000, immutable"}
    if etag_matches(if_none_match, row.digest):
        return Response(status_code=304, headers=cache)
    _row, data = service.original(digest)
    name = content_disposition(row.source_name or (f"{row.doc_id}.xml" if row.doc_id else None), f"{digest[:16]}.xml")
    return Response(data, media_type="application/xml", headers={**cache, "Content-Disposition": name})


@router.post("/{digest}/verify", operation_id="verifyDocument", summary="Verify a document's evidence chain",
             response_model=VerifyResponse, responses=error_responses(404, 422, 503))
def verify(digest: Digest, service: Service) -> VerifyResponse:
    """Blob → log leaf → inclusion proof → signed checkpoint → time-stamp.
    A failure is an answer (``ok: false``, each failure named), not an error."""
    findings = service.verify(digest)
    return VerifyResponse(digest=digest, ok=not findings, failures=[FindingOut.from_domain(f) for f in findings])


@router.get(
    "/{digest}/evidence",
    operation_id="getEvidence",
    summary="Offline-verifiable evidence as a ZIP",
    response_class=Response,
    responses={200: {"description": "original.xml, leaf, inclusion proof, checkpoint, its signature and time-stamp token, "
                                    "keys, and a README with the openssl commands that check them.",
                     "content": {"application/zip": _BINARY}},
               **error_responses(404, 409, 422, 503)},
)
def evidence(digest: Digest, service: Service) -> Response:
    folder, data = service.evidence_zip(digest)
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": content_disposition(f"{folder}.zip", "evidence.zip")})
