"""``/ui``: an inspector's grants, packages and own access log; an operator's status page.

A package is asked for with a form (it is an access event and costly), so it carries the form token.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from earsiv.api.http.deps import Caller, Service
from earsiv.api.http.headers import content_disposition
from earsiv.api.web.forms import parse_date
from earsiv.api.web.render import checked_form, page
from earsiv.archive.access import parse_vkn
from earsiv.archive.errors import NotFound
from earsiv.archive.service import package_filename

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/ui/grants")
def grants(request: Request, service: Service, who: Caller) -> Response:
    """An inspector's live grants, each with its package form; an admin's view of every grant."""
    inspectors = []
    if who.role == "inspector":
        rows = service.me(who).grants
    else:
        rows = service.grants(who)
        inspectors = [p for p in service.principals(who) if p.role == "inspector" and not p.disabled]
    return page(request, "grants.html", grants=rows, inspectors=inspectors, now=dt.datetime.now(dt.UTC))


@router.post("/ui/packages")
async def package(request: Request, service: Service, who: Caller,
                  form: Annotated[FormData, Depends(checked_form)]) -> Response:
    gid = str(form.get("grant", ""))
    live = service.me(who).grants if who.role == "inspector" else service.grants(who)
    grant = next((g for g in live if g.id == gid), None)
    if grant is None:
        raise NotFound(f"no live grant {gid!r} of yours", name=gid)
    start = parse_date(str(form.get("from", "")), "başlangıç / from") or grant.date_from
    end = parse_date(str(form.get("to", "")), "bitiş / to") or grant.date_to
    tmp = tempfile.TemporaryDirectory(prefix="earsiv-web-package-")
    name = package_filename(grant.vkn, start, end)
    try:
        made = await run_in_threadpool(service.package, who, grant.vkn, start, end, None, Path(tmp.name) / name,
                                       pdf=form.get("pdf") == "1")
    except BaseException:
        tmp.cleanup()
        raise
    headers = {"Content-Disposition": content_disposition(name, "package.zip"), "Cache-Control": "no-store"}
    if made.event is not None:
        headers["Earsiv-Access-Event"] = str(made.event)
    return FileResponse(made.result.path, media_type="application/zip", background=BackgroundTask(tmp.cleanup),
                        headers=headers)


def _log_filters(request: Request, who) -> tuple[dict[str, str], dict]:
    """The access log's filters as typed (to show and carry in links) and as ``access_log`` takes them."""
    p = request.query_params
    values = {k: (p.get(k) or "").strip() for k in ("principal", "vkn", "from", "to")}
    start = parse_date(values["from"], "başlangıç / from")
    end = parse_date(values["to"], "bitiş / to")
    if values["vkn"]:
        parse_vkn(values["vkn"])
    return values, {"vkn": values["vkn"] or None, "principal": values["principal"] or None,
                    "date_from": start, "date_to": end}


@router.get("/ui/access-log")
def access_log(request: Request, service: Service, who: Caller) -> Response:
    """Access events the caller may read (an admin every principal's), filtered by principal, VKN and day."""
    try:
        after = int(request.query_params.get("after") or -1)
    except ValueError:
        after = -1
    values, filters = _log_filters(request, who)
    got = service.access_log(who, after=after if after >= 0 else None, limit=50, proofs=False, **filters)
    return page(request, "access_log.html", events=got.events, next_after=got.next_after, f=values)


@router.get("/ui/access-log/{index}/proof")
async def access_proof(request: Request, service: Service, who: Caller,
                       index: Annotated[int, PathParam(ge=0, le=2**62)]) -> Response:
    """One event with its proof: the leaf, its inclusion proof, the signed checkpoint and its time-stamp token,
    as ``/v1/access-log`` gives each event (one it may read; an event cut to the caller's part has none)."""
    got = await run_in_threadpool(service.access_log, who, after=index - 1, limit=1, proofs=True)
    event = next((e for e in got.events if e.log_index == index and e.proof is not None), None)
    if event is None:
        raise NotFound(f"no access event {index} with a proof for you", name=str(index))
    body = {"log_index": event.log_index, "vkns": event.vkns, "event": event.event, "proof": event.proof}
    name = f"access-event-{index}.json"
    return Response(json.dumps(body, ensure_ascii=False, indent=2).encode(), media_type="application/json",
                    headers={"Content-Disposition": content_disposition(name, name), "Cache-Control": "no-store"})


@router.get("/ui/status")
def status(request: Request, service: Service, who: Caller) -> Response:
    st = service.status(who)
    return page(request, "status.html", st=st, summary=st.to_json(), principals=service.principals(who))
