"""The HTTP API (FastAPI): thin routes over the archive, errors as RFC 9457 problem documents.

    app.py        create_app(home): settings, lifespan (opens the archive), wiring
    deps.py       Annotated dependencies: the service, a validated digest, a search query
    documents.py  /v1/documents router (ingest, search, show, original, verify, evidence, legal hold)
    exports.py    /v1/documents.csv
    prints.py     /v1/documents/{digest}/print
    packages.py   /v1/packages
    access.py     /v1/me, principals, tokens, grants, access log
    system.py     /v1/status and /healthz
    schemas.py    input/output models, separate from index rows and stored formats
    problems.py   the one mapping from errors to problem documents
    uploads.py    request bodies -> ingest sources; the body size limit
    headers.py    Content-Disposition and ETag handling
    server.py     uvicorn with header and body read timeouts (`earsiv serve`)

Each route parses, calls one method of ``earsiv.archive.service.ArchiveService`` (which the
CLI calls too, and which holds the rules), and serializes its answer.
"""

from earsiv.api.http.app import create_app

__all__ = ["create_app"]
