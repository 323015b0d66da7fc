"""``/ui``: sign in, find, look, and the way in at ``/``.

Each route reads the form, calls the use cases (``ArchiveService``) as the signed-in principal,
and renders a template; nothing here decides who may see what.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from earsiv.api.http.auth import SESSION_COOKIE, session_cookie
from earsiv.api.http.deps import Caller, Service
from earsiv.api.http.headers import content_disposition
from earsiv.api.web.forms import read_find
from earsiv.api.web.render import checked_form, page, same_origin
from earsiv.archive.errors import Forbidden, Unauthenticated
from earsiv.archive.service_web import SORTS
from earsiv.documents.metadata import KINDS
from earsiv.render.formats import FRAME_CSP

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_PRESIGN = "earsiv_signin"  # a sign-in form's own token (there is no session yet to derive one from)
PAGE_SIZE = 50


@router.get("/")
def root(request: Request) -> Response:
    """A person (a browser asks for HTML) goes to the pages; a program is told where the API is."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/ui/", status_code=303)
    return JSONResponse({"api": "/v1", "openapi": "/openapi.json", "docs": "/docs", "pages": "/ui/",
                         "health": "/healthz"})


def _cookie_args(request: Request) -> dict:
    return {"httponly": True, "samesite": "strict", "secure": request.url.scheme == "https"}


def _next(value: str | None) -> str:
    # Only a page of ours: an open redirect would send a fresh session's browser anywhere.
    return value if value and value.startswith("/ui/") and not value.startswith("//") and "\\" not in value else "/ui/"


@router.get("/ui/sign-in")
def sign_in_form(request: Request, error: str | None = None) -> Response:
    pre = request.cookies.get(_PRESIGN) or secrets.token_urlsafe(32)
    response = page(request, "sign_in.html", status=401 if error else 200, presign=pre, error=error,
                    next=_next(request.query_params.get("next")))
    response.set_cookie(_PRESIGN, pre, path="/ui/sign-in", **_cookie_args(request))
    return response


@router.post("/ui/sign-in")
async def sign_in(request: Request, service: Service) -> Response:
    form = await request.form()
    pre = request.cookies.get(_PRESIGN)
    if not pre or not secrets.compare_digest(str(form.get("presign", "")), pre):
        raise Forbidden("the sign-in form's token is missing or wrong: reload the page and sign in again")
    same_origin(request)
    token = str(form.get("token", "")).strip()
    try:
        new = await run_in_threadpool(service.sign_in, token)
    except Unauthenticated:
        return sign_in_form(request, error="token")
    response = RedirectResponse(_next(str(form.get("next", ""))), status_code=303, headers={"Cache-Control": "no-store"})
    response.set_cookie(SESSION_COOKIE, new.secret, path="/ui", **_cookie_args(request))
    response.delete_cookie(_PRESIGN, path="/ui/sign-in")
    return response


@router.post("/ui/sign-out")
async def sign_out(request: Request, service: Service, _form: Annotated[FormData, Depends(checked_form)]) -> Response:
    secret = session_cookie(request.scope)
    if secret:
        await run_in_threadpool(service.sign_out, secret)
    response = RedirectResponse("/ui/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/ui", **_cookie_args(request))
    return response


@router.get("/ui")
@router.get("/ui/")
def home(request: Request, service: Service, who: Caller) -> Response:
    if who.role == "inspector":
        return RedirectResponse("/ui/grants", status_code=303)
    return RedirectResponse("/ui/documents", status_code=303)


@router.get("/ui/documents")
def find(request: Request, service: Service, who: Caller) -> Response:
    f = read_find(request, who)
    found = None
    if any(f.values.values()) or f.everything:
        found = service.find(who, f.query, sort=f.sort, descending=f.descending, offset=f.page * PAGE_SIZE,
                             page_size=PAGE_SIZE, count_all=f.count_all)
    response = page(request, "find.html", f=f, found=found, kinds=list(KINDS), sorts=list(SORTS),
                    page_size=PAGE_SIZE, me=service.me(who))
    if found is not None and found.event is not None:
        response.headers["Earsiv-Access-Event"] = str(found.event)
    return response


@router.get("/ui/open")
def open_ref(request: Request, service: Service, who: Caller) -> Response:
    """A document by its digest (or its first digits), its ETTN (any case) or its number."""
    ref = (request.query_params.get("ref") or "").strip()
    rows = service.lookup(who, ref) if ref else []
    if len(rows) == 1:
        return RedirectResponse(f"/ui/documents/{rows[0].digest}", status_code=303)
    return page(request, "open.html", status=200 if rows else 404, ref=ref, rows=rows)


_Digest = Annotated[str, Path(pattern=r"^[0-9a-fA-F]{64}$")]


@router.get("/ui/documents/{digest}")
def look(request: Request, service: Service, who: Caller, digest: _Digest) -> Response:
    view = service.show(who, digest.lower())
    proof = service.proof_status(view.row)
    response = page(request, "document.html", view=view, row=view.row, proof=proof,
                    related=service.related(who, view.row))
    if view.event is not None:
        response.headers["Earsiv-Access-Event"] = str(view.event)
    return response


@router.get("/ui/documents/{digest}/frame")
async def frame(request: Request, service: Service, who: Caller, digest: _Digest) -> Response:
    """The HTML print for the document page's frame: sandboxed, framable by our pages only."""
    got = await run_in_threadpool(service.print_copy, who, digest.lower(), "html")
    headers = {"Content-Security-Policy": f"{FRAME_CSP}; frame-ancestors 'self'; sandbox",
               "X-Frame-Options": "SAMEORIGIN", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    if got.event is not None:
        headers["Earsiv-Access-Event"] = str(got.event)
    return Response(got.data, media_type="text/html; charset=utf-8", headers=headers)


_MEDIA = {"xml": "application/xml", "pdf": "application/pdf", "html": "text/html; charset=utf-8",
          "evidence": "application/zip"}


@router.get("/ui/documents/{digest}/download/{what}")
async def download(request: Request, service: Service, who: Caller, digest: _Digest, what: str) -> Response:
    digest = digest.lower()
    if what == "xml":
        got = await run_in_threadpool(service.original, who, digest)
    elif what == "evidence":
        got = await run_in_threadpool(service.evidence_zip, who, digest)
    elif what in ("pdf", "html"):
        got = await run_in_threadpool(service.print_copy, who, digest, what)
    else:
        return page(request, "error.html", status=404, status_code=404, detail=what)
    headers = {"Content-Disposition": content_disposition(got.filename, f"{digest[:16]}.{what}"),
               "Cache-Control": "no-store"}
    if what == "html":
        headers["Content-Security-Policy"] = f"{FRAME_CSP}; frame-ancestors 'none'; sandbox"
    if got.event is not None:
        headers["Earsiv-Access-Event"] = str(got.event)
    return Response(got.data, media_type=_MEDIA[what], headers=headers)
