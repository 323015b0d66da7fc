"""``/ui/jobs``: the find page's bulk buttons make a job, whose page follows it to its download.

A job's page reloads itself every two seconds while the job is queued or running (``<meta
http-equiv="refresh">``: the pages run no script, and the policy has nothing to say about a
refresh), and shows the download link once it is done.  The job itself outlives the page, a
reload and a restart (``archive/jobs.py``); "my jobs" lists them.  The rules are the API's
(``ArchiveService.create_job`` and its kin): these routes only read forms and render.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from earsiv.api.http.deps import Caller, Service
from earsiv.api.http.headers import content_disposition
from earsiv.api.http.jobs import MEDIA
from earsiv.api.web.forms import find_of
from earsiv.api.web.render import checked_form, page
from earsiv.archive.jobs import JOB_KINDS, job_filename

__all__ = ["KIND_NAMES", "STATE_NAMES", "router"]

router = APIRouter(include_in_schema=False)
_JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
# kind -> (Turkish, English)
KIND_NAMES = {"zip-pdf": ("ZIP: PDF", "ZIP: PDFs"), "zip-xml": ("ZIP: XML asılları", "ZIP: XML originals"),
              "zip-both": ("ZIP: PDF ve XML", "ZIP: PDFs and XML"), "csv": ("CSV (Excel)", "CSV (Excel)"),
              "xlsx": ("Excel (XLSX)", "Excel (XLSX)")}
STATE_NAMES = {"queued": ("Sırada", "Queued"), "running": ("Hazırlanıyor", "Running"), "done": ("Hazır", "Done"),
               "failed": ("Başarısız", "Failed"), "expired": ("Süresi doldu", "Expired")}
REFRESH_SECONDS = 2
# An inspector's every page is an access event kept for years, and rate limited: its job page looks less often.
INSPECTOR_REFRESH_SECONDS = 10


@router.post("/ui/jobs")
async def create(request: Request, service: Service, who: Caller,
                 form: Annotated[FormData, Depends(checked_form)]) -> Response:
    kind = str(form.get("job") or "")  # "kind" is the find form's: the documents' kind
    if kind not in JOB_KINDS:
        return page(request, "error.html", status=422, status_code=422, detail=f"job: {', '.join(JOB_KINDS)}")
    query = find_of(form, who).query
    row = await run_in_threadpool(service.create_job, who, kind, query)
    response = RedirectResponse(f"/ui/jobs/{row.id}", status_code=303, headers={"Cache-Control": "no-store"})
    if row.event is not None:
        response.headers["Earsiv-Access-Event"] = row.event
    return response


@router.get("/ui/jobs")
def mine(request: Request, service: Service, who: Caller) -> Response:
    return page(request, "jobs.html", jobs=service.jobs_of(who), names=KIND_NAMES, states=STATE_NAMES, filename=job_filename)


@router.get("/ui/jobs/{job_id}")
def one(request: Request, service: Service, who: Caller, job_id: _JobId) -> Response:
    row = service.job(who, job_id)
    running = row.state in ("queued", "running")
    return page(request, "job.html", job=row, names=KIND_NAMES, states=STATE_NAMES, filename=job_filename(row.label, row.kind),
                refresh=(INSPECTOR_REFRESH_SECONDS if who.role == "inspector" else REFRESH_SECONDS) if running else None)


@router.get("/ui/jobs/{job_id}/result")
async def result(request: Request, service: Service, who: Caller, job_id: _JobId) -> Response:
    got = await run_in_threadpool(service.job_result, who, job_id)
    return FileResponse(got.path, media_type=MEDIA[got.row.kind],
                        headers={"Content-Disposition": content_disposition(got.filename, got.filename),
                                 "Cache-Control": "no-store"})


@router.post("/ui/jobs/{job_id}/delete")
async def delete(request: Request, service: Service, who: Caller, job_id: _JobId,
                 _form: Annotated[FormData, Depends(checked_form)]) -> Response:
    await run_in_threadpool(service.delete_job, who, job_id)
    return RedirectResponse("/ui/jobs", status_code=303, headers={"Cache-Control": "no-store"})
