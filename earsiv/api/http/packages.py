"""``/v1/packages``: a period's inspection package (BagIt, with evidence and a stand-alone verifier).

The package is built in a temporary file and streamed; the file is removed once sent.
Admins may ask for any VKN; an inspector for a VKN and period its grants cover (the
period is cut to what they cover), and the package is an access event naming every
document in it, logged before the package is sent.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from earsiv.api.http.deps import Caller, Service
from earsiv.api.http.headers import content_disposition
from earsiv.api.http.problems import error_responses
from earsiv.api.http.schemas import ACCESS_EVENT_HEADER, Kind
from earsiv.archive.service import package_filename

__all__ = ["router"]

router = APIRouter(prefix="/v1/packages", tags=["packages"])


@router.get(
    "",
    operation_id="getPackage",
    summary="Inspection package of a VKN's documents in a period",
    response_class=FileResponse,
    responses={200: {"description": "A ZIP holding a BagIt bag (RFC 8493): originals, metadata manifest (CSV, JSON), "
                                    "each document's evidence, the checkpoints used with their tokens and consistency "
                                    "proofs, keys, VERIFY.txt and a stand-alone verifier.",
                     "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
               **error_responses(401, 403, 422, 503)},
)
async def package(
    service: Service,
    who: Caller,
    vkn: Annotated[str, Query(pattern=r"^[0-9]{10,11}$", description="VKN/TCKN as any party or e-Defter owner.")],
    from_: Annotated[dt.date, Query(alias="from", description="Issue date on or after (YYYY-MM-DD).")],
    to: Annotated[dt.date, Query(description="Issue date on or before (YYYY-MM-DD).")],
    kind: Annotated[Kind | None, Query(description="Document kind.")] = None,
) -> FileResponse:
    tmp = tempfile.TemporaryDirectory(prefix="earsiv-package-")
    name = package_filename(vkn, from_, to)
    try:
        made = await run_in_threadpool(service.package, who, vkn, from_, to, kind.value if kind else None,
                                       Path(tmp.name) / name)
    except BaseException:
        tmp.cleanup()
        raise
    headers = {"Content-Disposition": content_disposition(name, "package.zip")}
    if made.event is not None:
        headers[ACCESS_EVENT_HEADER] = str(made.event)
    return FileResponse(made.result.path, media_type="application/zip", background=BackgroundTask(tmp.cleanup),
                        headers=headers)
