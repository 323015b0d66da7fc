"""``/v1/jobs``: a search's whole result list taken away in bulk, made in the server's background.

A job is a ZIP of PDFs (``zip-pdf``), of the originals (``zip-xml``) or of both (``zip-both``),
or a CSV or XLSX of the list as Turkish Excel opens it.  ``POST`` answers at once (202) with
the job; the client follows ``GET /v1/jobs/{id}`` until ``state`` is ``done`` (or ``failed``)
and fetches ``result`` until ``expires_at``.  The rules are ``archive/service_jobs.py``'s.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from earsiv.api.http.deps import Caller, Search, Service
from earsiv.api.http.headers import content_disposition, etag
from earsiv.api.http.problems import error_responses
from earsiv.api.http.schemas import ACCESS_EVENT_HEADER
from earsiv.archive.jobs import job_filename
from earsiv.indexer.jobdb import JobRow

__all__ = ["MEDIA", "JobIn", "JobListOut", "JobOut", "router"]

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
JobKind = Literal["zip-pdf", "zip-xml", "zip-both", "csv", "xlsx"]
JobState = Literal["queued", "running", "done", "failed", "expired"]
MEDIA = {"zip-pdf": "application/zip", "zip-xml": "application/zip", "zip-both": "application/zip",
         "csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
_JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The job's id.")]


class JobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: JobKind = Field(description="zip-pdf: a PDF of each document; zip-xml: the originals, byte for byte; "
                                      "zip-both: both, in folders pdf/ and xml/; csv: the list as CSV for Turkish "
                                      "Excel (UTF-8 with BOM, `;`, decimal comma); xlsx: the list as a workbook.")


class JobOut(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    kind: JobKind
    state: JobState = Field(description="queued, running, done (the result can be fetched until expires_at), "
                                        "failed (error says why; make the job again), expired (the result was deleted).")
    query: dict = Field(description="The search the job was made from, as the archive read it.")
    done: int = Field(description="Documents (for zip-both: copies) done so far.")
    total: int | None = Field(description="Documents (copies) the job will do; null until it starts.")
    skipped: int = Field(description="Copies that could not be made (listed in the ZIP's eksik-missing.txt).")
    created_at: dt.datetime
    finished_at: dt.datetime | None
    expires_at: dt.datetime | None = Field(description="When the result is deleted.")
    size: int | None = Field(description="Bytes of the result.")
    sha256: str | None = Field(description="sha256 of the result, hex.")
    error: str | None = Field(description="Why the job failed, or which copies it could not make.")
    filename: str = Field(description="The name the result is downloaded under (period and taxpayer).")
    access_event: str | None = Field(description="An inspector's job: the log indexes of the access event naming "
                                                 "every document in it.")
    links: dict[str, str] = Field(description="self, and result once the job is done.")

    @classmethod
    def from_domain(cls, row: JobRow) -> JobOut:
        links = {"self": f"/v1/jobs/{row.id}"}
        if row.state == "done":
            links["result"] = f"/v1/jobs/{row.id}/result"
        return cls(id=row.id, kind=row.kind, state=row.state, query=json.loads(row.query), done=row.done,
                   total=row.total, skipped=row.skipped, created_at=row.created_at, finished_at=row.finished_at,
                   expires_at=row.expires_at, size=row.size, sha256=row.sha256, error=row.error,
                   filename=job_filename(row.label, row.kind), access_event=row.event, links=links)


class JobListOut(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    jobs: list[JobOut] = Field(description="The caller's jobs, newest first (the last 100).")


@router.post("", operation_id="createJob", summary="Take a search's result list away in bulk", status_code=202,
             response_model=JobOut,
             responses={202: {"headers": {"Location": {"description": "The job.", "schema": {"type": "string"}},
                                          ACCESS_EVENT_HEADER: {"description": "Inspectors only: the access event "
                                                                "naming every document of the job.",
                                                                "schema": {"type": "string"}}}},
                        **error_responses(400, 401, 403, 422, 503)})
def create(body: JobIn, q: Search, service: Service, who: Caller, response: Response) -> JobOut:
    """Filters as query parameters, exactly as for `GET /v1/documents` (`limit` and `cursor` are ignored:
    the job takes every document the search finds within what the caller may see); the kind in the body.
    A principal may have `[jobs] per_principal` jobs (default 2) queued or running; one more is 429."""
    row = service.create_job(who, body.kind, q)
    response.headers["Location"] = f"/v1/jobs/{row.id}"
    if row.event is not None:
        response.headers[ACCESS_EVENT_HEADER] = row.event
    return JobOut.from_domain(row)


@router.get("", operation_id="listJobs", summary="The caller's jobs", response_model=JobListOut,
            responses=error_responses(401, 503))
def list_jobs(service: Service, who: Caller) -> JobListOut:
    return JobListOut(jobs=[JobOut.from_domain(r) for r in service.jobs_of(who)])


@router.get("/{job_id}", operation_id="getJob", summary="A job: its state and progress", response_model=JobOut,
            responses=error_responses(401, 404, 422, 503))
def get_job(job_id: _JobId, service: Service, who: Caller) -> JobOut:
    """Another principal's job is 404, as one that does not exist."""
    return JobOut.from_domain(service.job(who, job_id))


@router.get("/{job_id}/result", operation_id="getJobResult", summary="A done job's result", response_class=Response,
            responses={200: {"description": "The ZIP, CSV or XLSX.",
                             "content": {m.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
                                         for m in MEDIA.values()}},
                       **error_responses(401, 404, 409, 410, 422, 503)})
async def result(job_id: _JobId, service: Service, who: Caller) -> Response:
    """409 while the job is queued or running (or when it failed), 410 once its result expired."""
    got = await run_in_threadpool(service.job_result, who, job_id)
    headers = {"Content-Disposition": content_disposition(got.filename, got.filename), "Cache-Control": "no-store",
               "ETag": etag(got.row.sha256 or "")}
    return FileResponse(got.path, media_type=MEDIA[got.row.kind], headers=headers)


@router.delete("/{job_id}", operation_id="deleteJob", summary="Delete a job and its result", status_code=204,
               response_class=Response, responses=error_responses(401, 404, 422, 503))
def delete(job_id: _JobId, service: Service, who: Caller) -> Response:
    """A queued job never runs; a running one stops between two documents (within a second or so) and keeps nothing."""
    service.delete_job(who, job_id)
    return Response(status_code=204)
