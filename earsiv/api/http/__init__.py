"""The HTTP API (FastAPI): thin routes over the archive, errors as RFC 9457 problem documents.

    app.py        create_app(home): settings, lifespan (opens the archive), wiring
    deps.py       Annotated dependencies: the service, a validated digest, a search query
    documents.py  /v1/documents router (ingest, search, show, original, verify, evidence)
    system.py     /v1/status and /healthz
    schemas.py    input/output models, separate from index rows and stored formats
    problems.py   the one mapping from errors to problem documents
    service.py    the archive, its ingest lock and the background worker
    uploads.py    request bodies -> ingest sources; the body size limit
    headers.py    Content-Disposition and ETag handling
    server.py     uvicorn with header and body read timeouts (`earsiv serve`)
"""

from earsiv.api.http.app import create_app

__all__ = ["create_app"]
