"""Errors as RFC 9457 problem documents, decided in this one place.

Routes never build error responses: the archive and the indexer raise their
own errors, the HTTP layer raises the few of its own below, and the table
``_STATUS`` turns each into a status code.  The problem ``type`` is a stable
URI per error (``urn:earsiv:problem:<code>``) clients can branch on; ``title``
is the same for every instance of a type, ``detail`` says what happened here.
A full disk (``StorageFull``: the store's or the index's) is 507 Insufficient Storage.
Only a print that could not be made (``RenderError``, ``StylesheetRefused``: their own
types) and a bug (the bare ``EarsivError``, or anything not ours) are 500;
tests/unit/test_errors.py checks every error class of the package against this table.

    ApiError                 errors only the HTTP layer can have
    ├── BodyTooLarge         413  the request body is over the limit
    ├── UnsupportedMedia     415  a Content-Type the route does not take
    ├── InvalidRequest       422  parameters that parse but make no sense
    └── IngestRejected       422  one or more uploaded files were not archived
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from earsiv.api.http.schemas import IngestResultOut
from earsiv.archive.audit import AuditBusy
from earsiv.archive.errors import (
    ArchiveError,
    ConfigError,
    Conflict,
    DocumentNotFound,
    Forbidden,
    JobExpired,
    JobNotReady,
    RetentionError,
    StoreError,
    TooManyJobs,
    TSAError,
    Unauthenticated,
    VerificationError,
    WriteOnceViolation,
)
from earsiv.archive.errors import NotFound as NoSuchName
from earsiv.documents.errors import DocumentError, InvalidDocument
from earsiv.errors import EarsivError, InvalidInput, StorageFull, disk_full, full_detail
from earsiv.indexer.errors import IndexerError, IndexFailure
from earsiv.render.errors import PrintersBusy, RenderError, StylesheetRefused

__all__ = [
    "PROBLEM_JSON",
    "ApiError",
    "BodyTooLarge",
    "IngestProblem",
    "IngestRejected",
    "InvalidRequest",
    "Problem",
    "UnsupportedMedia",
    "ValidationProblem",
    "domain_response",
    "error_responses",
    "install_problem_handlers",
    "problem_openapi",
    "problem_response",
]

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:earsiv:problem:"
log = logging.getLogger("earsiv.http")


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI naming the kind of problem, e.g. `urn:earsiv:problem:not-found`.")
    title: str = Field(description="Short summary of the kind of problem; the same for every occurrence.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong this time.")


class ValidationProblem(Problem):
    errors: list[dict[str, Any]] = Field(default_factory=list, description="One entry per invalid parameter: `loc`, `msg`.")


class IngestProblem(Problem):
    results: list[IngestResultOut] = Field(description="Every file's result, the archived ones included.")
    counts: dict[str, int]


class ApiError(Exception):
    code = "bad-request"
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class BodyTooLarge(ApiError):
    code, status, title = "body-too-large", 413, "Request body too large"


class UnsupportedMedia(ApiError):
    code, status, title = "unsupported-media-type", 415, "Unsupported media type"


class InvalidRequest(ApiError):
    code, status, title = "invalid-request", 422, "Invalid request"


class IngestRejected(ApiError):
    code, status, title = "ingest-rejected", 422, "Some documents were rejected"


# Domain error -> (status, title).  Most specific class first: the first
# isinstance match wins.  Failures of our own storage or of a TSA are 503
# (try again later); a full disk is 507 (RFC 4918: the server cannot store
# what it needs to; retrying helps only once space is freed); evidence that
# does not verify is 409 (the request is fine, the stored state cannot
# satisfy it, and retrying will not help).
_STATUS: tuple[tuple[type[Exception], int, str], ...] = (
    (StorageFull, 507, "Insufficient storage"),
    (InvalidInput, 422, "Invalid input"),
    (InvalidDocument, 422, "Not an archivable document"),
    (Unauthenticated, 401, "Not authenticated"),
    (Forbidden, 403, "Forbidden"),
    (DocumentNotFound, 404, "Not found"),
    (NoSuchName, 404, "Not found"),
    (Conflict, 409, "Already exists"),
    (TooManyJobs, 429, "Too many jobs"),
    (JobNotReady, 409, "Job not done"),
    (JobExpired, 410, "Job result expired"),
    (AuditBusy, 409, "Another audit is running"),
    (IndexFailure, 503, "Index unavailable"),
    (VerificationError, 409, "Evidence does not verify"),
    (WriteOnceViolation, 409, "Write-once violation"),
    (RetentionError, 409, "Refused by retention or legal hold"),
    (StoreError, 503, "Object store unavailable"),
    (TSAError, 503, "Time-stamp authority unavailable"),
    (ConfigError, 503, "Archive misconfigured"),
    (ArchiveError, 503, "Archive error"),
    (IndexerError, 503, "Index error"),
    (DocumentError, 422, "Document error"),
    # A print that cannot be made is not the client's fault and not a passing outage;
    # every print worker taken is one (the answer says when to retry).
    (PrintersBusy, 503, "Print workers busy"),
    (StylesheetRefused, 500, "Stylesheet refused"),
    (RenderError, 500, "Printable copy could not be made"),
    (EarsivError, 500, "Error"),
)

_HTTP_TITLES = {404: "Not found", 405: "Method not allowed", 400: "Bad request", 413: "Request body too large"}


def problem_response(status: int, code: str, title: str, detail: str, headers: dict[str, str] | None = None,
                     **extensions: Any) -> JSONResponse:
    body = {"type": TYPE_PREFIX + code, "title": title, "status": status, "detail": detail, **extensions}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def domain_response(exc: EarsivError, headers: dict[str, str] | None = None) -> JSONResponse:
    """The problem document of one of our errors, for code outside the routes (middleware)."""
    response = _domain(exc)
    if headers:
        response.headers.update(headers)
    return response


def _domain(exc: EarsivError) -> JSONResponse:
    for cls, status, title in _STATUS:
        if isinstance(exc, cls):
            # RFC 9110 11.6.1: a 401 says how to authenticate.
            headers = {"WWW-Authenticate": 'Bearer realm="earsiv"'} if status == 401 else None
            if isinstance(exc, PrintersBusy | TooManyJobs):
                headers = {"Retry-After": "10"}
            # The type is the class's code: an instance may carry a vendor's code under the
            # same name (S3Failure keeps S3's), which is no type of ours.
            return problem_response(status, type(exc).code, title, str(exc), headers=headers)
    raise AssertionError("unreachable: EarsivError is in the table")  # pragma: no cover


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Only loc and msg: pydantic's "input" would echo the whole request back,
    # and "ctx" may hold objects that are not JSON.
    return [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()]


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_req: Request, exc: ApiError) -> JSONResponse:
        return problem_response(exc.status, exc.code, exc.title, exc.detail, **exc.extensions)

    @app.exception_handler(EarsivError)
    async def _domain_error(_req: Request, exc: EarsivError) -> JSONResponse:
        return _domain(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
        return problem_response(422, "invalid-request", "Invalid request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Raised by the framework itself (unknown path, wrong method, a
        # multipart body it cannot parse), never by our routes.
        title = _HTTP_TITLES.get(exc.status_code, "HTTP error")
        code = title.lower().replace(" ", "-")
        return problem_response(exc.status_code, code, title, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(ClientDisconnect)
    async def _gone(req: Request, _exc: ClientDisconnect) -> Response:
        # Not an error of ours: the client closed the connection (or was closed for being
        # too slow) before its request body was read.  Nothing was archived from it.
        client = f"{req.client.host}:{req.client.port}" if req.client else "a client"
        log.info("%s went away before its request was read (%s %s)", client, req.method, req.url.path)
        return Response(status_code=400)  # never delivered: there is nobody to read it

    @app.exception_handler(Exception)
    async def _bug(_req: Request, exc: Exception) -> JSONResponse:
        if disk_full(exc):  # a full disk no edge translated (a temporary file of an upload): no bug
            path = getattr(exc, "filename", None)
            return _domain(StorageFull(full_detail(str(getattr(exc, "strerror", None) or exc), path)))
        # A bug.  The client gets a problem document without internals; the
        # server log gets the traceback (Starlette re-raises after this).
        return problem_response(500, "internal-error", "Internal error", "an unexpected error occurred; see the server log")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the problem documents a route can answer with."""
    described = {
        400: ("The body cannot be parsed as what its Content-Type says (e.g. broken multipart).", Problem),
        401: ("No token, or one that is unknown, expired or revoked (`Authorization: Bearer <token>`).", Problem),
        403: ("The token's principal may not do this (role, tenant or grant).", Problem),
        404: ("Not found, or not visible to this principal (existence is not revealed).", Problem),
        409: ("The stored evidence does not verify, or the name exists already.", Problem),
        410: ("Gone: the job's result was deleted when it expired; make the job again.", Problem),
        413: ("The request body is over the limit.", Problem),
        415: ("The Content-Type is not one this route takes.", Problem),
        422: ("Invalid parameters (malformed digest, bad date, unknown kind, bad cursor, ...).", ValidationProblem),
        429: ("Over the principal's rate limit (an inspector's requests, reads of the access log); see Retry-After.",
              Problem),
        503: ("The store, the index or the time-stamp authority is unavailable; try again later.", Problem),
        507: ("A disk the archive writes to is full; nothing acknowledged was lost: retry once space is freed.",
              Problem),
    }
    # A route that touches the store or the index may have to write (an inspector's look is
    # logged; the index catches up): wherever 503 can come, so can 507.
    if 503 in statuses and 507 not in statuses:
        statuses = (*statuses, 507)
    # Whoever must authenticate may be an inspector, and an inspector's every request is rate limited.
    if 401 in statuses and 429 not in statuses:
        statuses = (*statuses, 429)
    out: dict[int | str, dict[str, Any]] = {}
    for s in statuses:
        text, model = described[s]
        out[s] = {"description": text, "model": model}
    return out


def problem_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """Error responses as ``application/problem+json``, which is what they are sent as.

    FastAPI files every response model under ``application/json``; the error
    models are moved to the media type clients will actually see.
    """
    for path in schema.get("paths", {}).values():
        for op in path.values():
            for status, resp in op.get("responses", {}).items():
                content = resp.get("content", {})
                if status[:1] in "45" and "application/json" in content:
                    content[PROBLEM_JSON] = content.pop("application/json")
    return schema
