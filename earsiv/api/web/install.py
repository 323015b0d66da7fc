"""Puts the pages into the API's app: their routers, their stylesheet, and errors as pages under ``/ui``."""


from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from earsiv.api.http.auth import is_web
from earsiv.api.http.problems import domain_response
from earsiv.errors import EarsivError

__all__ = ["install_pages"]

_CSS = Path(__file__).resolve().parent / "static" / "earsiv.css"
_ICON = _CSS.with_name("favicon.svg")


def install_pages(app: FastAPI) -> None:
    from earsiv.api.web import admin, docs, jobs, pages, people, reportpages, takeaway

    for router in (pages.router, takeaway.router, jobs.router, people.router, admin.router, reportpages.router, docs.router):
        app.include_router(router)

    @app.get("/ui/static/earsiv.css", include_in_schema=False)
    def stylesheet() -> Response:
        return Response(_CSS.read_bytes(), media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})

    # A browser asks every site for its icon; without one each page logs a 404 in its console.
    @app.get("/ui/static/favicon.svg", include_in_schema=False)
    @app.get("/favicon.ico", include_in_schema=False)
    def icon() -> Response:
        return Response(_ICON.read_bytes(), media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})

    api_domain = app.exception_handlers[EarsivError]
    api_invalid = app.exception_handlers[RequestValidationError]

    async def domain_error(request: Request, exc: EarsivError) -> Response:
        if not is_web(request.url.path):
            return await api_domain(request, exc)
        from earsiv.api.web.render import page

        status = domain_response(exc).status_code
        return page(request, "error.html", status=status, status_code=status, detail=exc.detail)

    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if not is_web(request.url.path):
            return await api_invalid(request, exc)
        from earsiv.api.web.render import page

        return page(request, "error.html", status=404, status_code=404, detail="")

    app.add_exception_handler(EarsivError, domain_error)
    app.add_exception_handler(RequestValidationError, invalid)
