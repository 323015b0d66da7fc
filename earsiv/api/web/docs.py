"""``/docs`` and ``/redoc`` with nothing from outside the machine.

FastAPI's own pages take Swagger UI and ReDoc from a CDN and start them with an inline script:
on an archive without internet they are white pages, and they need a loose policy.  Here
Swagger UI's files come from the ``swagger-ui-bundle`` package (installed with the archive) and
its start is a file of ours, so the policy allows scripts of this server only.  No package
ships ReDoc's bundle, so ``/redoc`` leads to ``/docs``: one offline page over the same
``/openapi.json``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from earsiv.api.http.security import DOCS_CSP

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_STATIC = Path(__file__).resolve().parent / "static"
_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>earsiv API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/static/start.js"></script></body></html>
"""


@router.get("/docs")
def docs() -> Response:
    return HTMLResponse(_PAGE, headers={"Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-cache"})


@router.get("/docs/static/{name}")
def docs_static(name: str) -> Response:
    if name == "start.js":
        return Response((_STATIC / "swagger-start.js").read_bytes(), media_type="text/javascript")
    from swagger_ui_bundle import swagger_ui_path

    files = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript"}
    if name not in files:
        return Response(status_code=404)
    return Response((Path(swagger_ui_path) / name).read_bytes(), media_type=files[name],
                    headers={"Cache-Control": "public, max-age=86400"})


@router.get("/redoc")
def redoc() -> Response:
    return RedirectResponse("/docs", status_code=307)
