"""The HTTP API (FastAPI).  Thin: each route parses, calls the archive, shapes the answer.

Errors are RFC 9457 problem documents, produced in one place from our error
types.  The app is built by ``create_app(home)``; nothing is created at import.
Background work (checkpoints every few seconds while documents arrive, and
signature inspection) runs in one thread started with the app.

Authentication and tenants come with the access work; until then, bind to
loopback only (the default).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from ..archive.archive import Archive
from ..archive.errors import ArchiveError
from ..archive.evidence import verify_all, write_evidence
from ..archive.ingest import Source
from ..indexer.errors import IndexerError
from ..indexer.query import SearchQuery

__all__ = ["create_app"]

PROBLEM = "application/problem+json"
MAX_BODY = 64 * 1024 * 1024


def _problem(status: int, title: str, detail: str, kind: str = "about:blank") -> JSONResponse:
    return JSONResponse({"type": kind, "title": title, "status": status, "detail": detail}, status_code=status, media_type=PROBLEM)


class _Worker(threading.Thread):
    def __init__(self, arch: Archive) -> None:
        super().__init__(name="earsiv-background", daemon=True)
        self.arch = arch
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.arch.config.checkpoint_interval):
            with contextlib.suppress(Exception):  # a TSA outage must not kill the worker; status shows it
                self.arch.checkpoint()
            with contextlib.suppress(Exception):
                self.arch.inspect_pending()


def create_app(home: Path) -> FastAPI:
    state: dict = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        arch = Archive.open(home)
        worker = _Worker(arch)
        worker.start()
        state["archive"], state["lock"] = arch, threading.Lock()
        try:
            yield
        finally:
            worker.stop.set()
            worker.join(timeout=10)
            arch.close()

    app = FastAPI(title="earsiv", version="0.1.0", lifespan=lifespan,
                  description="Write-once, provable archive for Turkish e-documents.")

    def archive() -> Archive:
        return state["archive"]

    Arch = Annotated[Archive, Depends(archive)]

    @app.exception_handler(ArchiveError)
    async def _archive_error(_req: Request, exc: ArchiveError):
        status = 404 if "no document" in str(exc) else (422 if exc.exit_code == 1 else 503)
        return _problem(status, type(exc).__name__, str(exc))

    @app.exception_handler(IndexerError)
    async def _indexer_error(_req: Request, exc: IndexerError):
        return _problem(422 if exc.exit_code == 1 else 503, type(exc).__name__, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError):
        return _problem(422, "Invalid request", "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))

    @app.post("/v1/documents", operation_id="ingestDocuments", summary="Archive documents")
    async def ingest(request: Request, arch: Arch, files: list[UploadFile] | None = None, tenant: str | None = None):
        """Send one document as the raw request body (``application/xml``), several
        as ``multipart/form-data`` (field ``files``), or a ZIP archive (``application/zip``)."""
        sources: list[Source] = []
        ctype = request.headers.get("content-type", "")
        if files:
            for f in files:
                sources.append(Source(f.filename or "upload", await f.read(MAX_BODY + 1)))
        else:
            body = await request.body()
            if len(body) > MAX_BODY:
                return _problem(413, "Too large", f"the body is over {MAX_BODY} bytes")
            if ctype.startswith("application/zip"):
                from ..archive.sources import expand

                with tempfile.TemporaryDirectory() as tmp:
                    p = Path(tmp) / "upload.zip"
                    p.write_bytes(body)
                    sources = [Source(s.name.replace(str(p), "upload.zip"), s.data, s.error) for s in expand([p])]
            else:
                sources.append(Source(request.headers.get("x-filename", "body.xml"), body))
        with state["lock"]:
            results = [r.to_json() for r in arch.ingest(sources, tenant=tenant)]
        return {"results": results}

    @app.get("/v1/documents", operation_id="searchDocuments", summary="Search documents")
    def search(arch: Arch, vkn: str | None = None, from_: Annotated[dt.date | None, Query(alias="from")] = None,
               to: dt.date | None = None, kind: str | None = None, id: str | None = None, ettn: str | None = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100, cursor: str | None = None):
        try:
            q = SearchQuery(vkn=vkn, date_from=from_, date_to=to, kind=kind, doc_id=id, ettn=ettn, limit=limit, cursor=cursor)
        except ValueError as exc:
            return _problem(422, "Invalid search", str(exc))
        page = arch.index.search(q)
        return {"documents": [r.to_json() for r in page.rows], "next_cursor": page.next_cursor}

    def _row(arch: Archive, digest: str):
        row = arch.index.get(digest.lower())
        if row is None:
            raise ArchiveError(f"no document with digest {digest}")
        return row

    @app.get("/v1/documents/{digest}", operation_id="getDocument", summary="Metadata of a document")
    def show(digest: str, arch: Arch):
        return _row(arch, digest).to_json()

    @app.get("/v1/documents/{digest}/original", operation_id="getOriginal", summary="The original bytes",
             response_class=Response)
    def original(digest: str, arch: Arch):
        row = _row(arch, digest)
        data = arch.original(row.digest)
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in (row.doc_id or row.digest[:16])) + ".xml"
        return Response(data, media_type="application/xml",
                        headers={"ETag": f'"{row.digest}"', "Content-Disposition": f'attachment; filename="{name}"'})

    @app.post("/v1/documents/{digest}/verify", operation_id="verifyDocument", summary="Verify a document's evidence chain")
    def verify(digest: str, arch: Arch):
        row = _row(arch, digest)
        checked, findings = verify_all(arch, [row.digest])
        return {"digest": row.digest, "ok": not findings, "failures": [f.to_json() for f in findings]}

    @app.get("/v1/documents/{digest}/evidence", operation_id="getEvidence", summary="Evidence as a ZIP",
             response_class=Response)
    def evidence(digest: str, arch: Arch):
        row = _row(arch, digest)
        with tempfile.TemporaryDirectory() as tmp, state["lock"]:
            write_evidence(arch, row.digest, Path(tmp))
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                for p in sorted(Path(tmp).iterdir()):
                    zf.write(p, f"evidence-{row.digest[:16]}/{p.name}")
        return Response(buf.getvalue(), media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="evidence-{row.digest[:16]}.zip"'})

    @app.get("/v1/status", operation_id="getStatus", summary="Archive status")
    def status(arch: Arch):
        return arch.status().to_json()

    return app
