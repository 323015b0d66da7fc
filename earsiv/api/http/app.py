"""The FastAPI application, built by ``create_app`` and by nothing at import time."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from earsiv.api.http import access, documents, exports, jobs, packages, prints, reports, system
from earsiv.api.http.auth import Authenticate
from earsiv.api.http.limits import Rate, RateLimit
from earsiv.api.http.problems import install_problem_handlers, problem_openapi
from earsiv.api.http.security import SecurityHeaders
from earsiv.api.http.trail import AccessTrail
from earsiv.api.http.uploads import BodyLimit
from earsiv.archive.config import load_config
from earsiv.archive.service import ArchiveService

__all__ = ["Settings", "create_app"]


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path
    # A ZIP upload carries many documents; one document is bounded separately
    # by the archive's max_document_bytes.  The whole body is held in memory.
    max_body_bytes: int = 256 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be positive, got {self.max_body_bytes}")


def create_app(home: Path, *, max_body_bytes: int | None = None) -> FastAPI:
    """The API for the archive at *home*; the archive is opened when the app starts (lifespan).

    The configuration is read here, so that a home that is not an archive
    fails with its ``ConfigError`` before a server starts, not in a traceback
    from the server's start-up.
    """
    settings = Settings(Path(home)) if max_body_bytes is None else Settings(Path(home), max_body_bytes)
    config = load_config(settings.home)
    app = FastAPI(
        title="earsiv",
        version="1",
        summary="Write-once, provable archive for Turkish e-documents.",
        description=(
            "Documents are kept byte for byte, logged in a tamper-evident Merkle log whose checkpoints are "
            "time-stamped (RFC 3161), and indexed for search. Errors are RFC 9457 problem documents "
            "(`application/problem+json`). Every endpoint but `/healthz` needs `Authorization: Bearer <token>` "
            "(`earsiv token create NAME`); what a token may see follows its principal's role: admin (everything), "
            "integrator and accountant (their tenants' holdings), inspector (what its grants cover; every request "
            "is logged as an access event with a proof)."
        ),
        lifespan=_lifespan(settings.home),
        docs_url=None,  # earsiv/api/web/docs.py: offline
        redoc_url=None,
    )
    app.state.settings = settings
    install_problem_handlers(app)
    for router in (exports.router, documents.router, prints.router, packages.router, reports.router, system.router,
                   access.router, jobs.router):
        app.include_router(router)
    from earsiv.api.web.install import install_pages  # here: the pages import this package's parts

    install_pages(app)
    # Added inside out: the last one added sees a request first.  The token is checked before
    # anything reads a byte of the body; then the caller's rate limits; then an inspector's
    # request is sure to be an access event; then the body's size against what the route takes.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, max_document_bytes=config.max_document_bytes)
    app.add_middleware(AccessTrail)
    app.add_middleware(RateLimit, inspector=Rate(config.inspector_per_minute, config.inspector_burst),
                       access_log=Rate(config.access_log_per_minute, config.access_log_burst))
    app.add_middleware(Authenticate)
    # Outermost, so that every answer gets it, the problem documents of the body limit too.
    app.add_middleware(SecurityHeaders, docs_paths=("/docs",))
    _describe_problems(app)
    return app


def _lifespan(home: Path) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """The archive open while the app runs, with one ingest queue and one background worker."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = ArchiveService.open(home, background=True)
        service.start()
        from earsiv.api.web.sheets import turkish_csv, xlsx  # the sheets' writers live with the pages

        try:
            service.start_jobs({"csv": turkish_csv, "xlsx": xlsx})
        except BaseException:
            service.close()
            raise
        app.state.service = service
        try:
            yield
        finally:
            del app.state.service
            service.close()

    return lifespan


def _describe_problems(app: FastAPI) -> None:
    """The OpenAPI description with the error responses as the problem documents they are."""
    default = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = problem_openapi(default())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
