"""Request bodies → ingest sources, and the body size limit.

An upload is one of:

* a raw XML body (``application/xml``, ``text/xml``): one document, named by
  the ``X-Filename`` header (percent-encoded UTF-8 for non-ASCII names) or
  the ``filename`` query parameter;
* ``multipart/form-data``: one document per file part (field ``files``); a
  part that is a ZIP archive is expanded like a ZIP body;
* ``application/zip``: every member of the archive, under the same rules as
  ``earsiv ingest x.zip`` (refused whole on absolute or ``..`` paths, links,
  bombs; never extracted to disk).

The size limit is enforced while the body is read (``BodyLimit``), so a
client cannot make the server buffer more than the limit whatever it claims
in ``Content-Length``.
"""

from __future__ import annotations

import itertools
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import unquote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from earsiv.api.http.auth import has_body
from earsiv.api.http.problems import BodyTooLarge, InvalidRequest, UnsupportedMedia, problem_response
from earsiv.archive.ingest import Source
from earsiv.archive.sources import expand, printable

__all__ = ["ACCEPTED_TYPES", "MAX_SMALL_BODY", "MULTIPART_TYPE", "XML_TYPES", "ZIP_TYPE", "BodyLimit", "clean_name",
           "read_sources"]

XML_TYPES = ("application/xml", "text/xml")
ZIP_TYPE = "application/zip"
MULTIPART_TYPE = "multipart/form-data"
ACCEPTED_TYPES = (*XML_TYPES, MULTIPART_TYPE, ZIP_TYPE)
DEFAULT_NAME, DEFAULT_ZIP_NAME = "upload.xml", "upload.zip"
MAX_FILES = 10_000
INGEST_ROUTE = ("POST", "/v1/documents")
# The largest JSON body a route takes is a principal with 10,000 tenant VKNs (~140 KB).
MAX_SMALL_BODY = 256 * 1024


def clean_name(name: str | None, default: str) -> str:
    """A client-given file name fit to echo back: control characters shown as U+FFFD, at most 255 characters."""
    name = printable(name or "").strip()
    return name[:255] or default


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


class BodyLimit:
    """ASGI middleware: refuse request bodies over the limit with 413, reading no more than that.

    Only ``POST /v1/documents`` takes documents: its limit is ``max_bytes`` for a body of many
    documents (a ZIP, multipart) and ``max_document_bytes`` for a raw XML body, which is one
    document (a 200 MB XML body is refused for what it is, not buffered whole and then
    rejected as a document too large).  Every other request body is a small JSON object (a
    principal, a grant, a legal hold) or nothing, and is held to ``max_small_bytes``: what a
    route parses must not cost the server more than the route needs.  A declared
    ``Content-Length`` over the limit is refused before anything is read; a body that grows
    past it while it is read (chunked, or lying about its length) raises ``BodyTooLarge``
    inside the route, which the problem handlers turn into the same 413.  Either answer
    carries ``Connection: close``, so the server stops reading the rest.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, max_document_bytes: int | None = None,
                 max_small_bytes: int = MAX_SMALL_BODY) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_document_bytes = max_document_bytes
        self.max_small_bytes = max_small_bytes

    def _limit(self, scope: Scope) -> tuple[int, str]:
        if (scope.get("method"), scope.get("path")) != INGEST_ROUTE:
            return self.max_small_bytes, (f"a request body here is at most {self.max_small_bytes} bytes "
                                          f"(documents go to POST /v1/documents)")
        media = ""
        for k, v in scope.get("headers", ()):
            if k == b"content-type":
                media = v.decode("latin-1").split(";", 1)[0].strip().lower()
        if media in XML_TYPES and self.max_document_bytes is not None and self.max_document_bytes < self.max_bytes:
            return self.max_document_bytes, (f"an XML body is one document, and a document is at most "
                                             f"{self.max_document_bytes} bytes")
        return self.max_bytes, f"the request body is over the limit of {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, detail = self._limit(scope)
        declared = [v for k, v in scope.get("headers", ()) if k == b"content-length"]
        if any(not v.isdigit() for v in declared):
            await problem_response(400, "bad-request", "Bad request", "Content-Length is not a number",
                                   headers={"Connection": "close"})(scope, receive, send)
            return
        if any(int(v) > limit for v in declared):
            await _too_large(detail)(scope, receive, send)
            return
        if limit == self.max_small_bytes:
            await self._small(scope, receive, send, detail)
            return
        seen = 0
        over = False

        async def limited() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    raise BodyTooLarge(detail)
            return message

        async def closing(message: Message) -> None:
            if over and message["type"] == "http.response.start":
                # The rest of the body is not read: the connection cannot carry another request.
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, limited, closing)

    async def _small(self, scope: Scope, receive: Receive, send: Send, detail: str) -> None:
        """A body that is not documents, read here whole (it is small) so that one over the limit is a 413
        whatever the route would make of a body it could not finish reading (FastAPI: a 400)."""
        if not has_body(scope):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > self.max_small_bytes:
                await _too_large(detail)(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def _too_large(detail: str):
    return problem_response(413, BodyTooLarge.code, BodyTooLarge.title, detail, headers={"Connection": "close"})


async def read_sources(request: Request, filename: str | None) -> Iterable[Source]:
    """The documents of one upload, in order.

    The body is read here; ZIP members are read lazily, while the ingest
    consumes them, so a large archive is never held expanded in memory.
    """
    media = _media_type(request)
    # Header values are Latin-1 on the wire, so a UTF-8 name in X-Filename
    # arrives percent-encoded; a query parameter carries it as is.
    header = request.headers.get("x-filename")
    name = unquote(header) if header is not None else filename
    if media in XML_TYPES:
        return [Source(clean_name(name, DEFAULT_NAME), await request.body())]
    if media == ZIP_TYPE:
        return _zip(clean_name(name, DEFAULT_ZIP_NAME), await request.body())
    if media == MULTIPART_TYPE:
        return await _multipart(request)
    raise UnsupportedMedia(
        f"Content-Type {media or '(none)'!r} is not accepted here; send one of {', '.join(ACCEPTED_TYPES)}",
        accepted=list(ACCEPTED_TYPES),
    )


async def _multipart(request: Request) -> Iterable[Source]:
    parts: list[Iterable[Source]] = []
    async with request.form(max_files=MAX_FILES, max_fields=100) as form:
        for _field, value in form.multi_items():
            if not isinstance(value, UploadFile):
                continue  # plain form fields carry nothing we use
            data = await value.read()
            name = clean_name(value.filename, DEFAULT_NAME)
            is_zip = (value.content_type or "").lower().startswith(ZIP_TYPE) or name.lower().endswith(".zip")
            parts.append(_zip(name, data) if is_zip else [Source(name, data)])
    if not parts:
        raise InvalidRequest("the multipart body has no file parts; send each document as a part named `files`")
    return itertools.chain.from_iterable(parts)


def _zip(name: str, data: bytes) -> Iterator[Source]:
    # sources.expand reads ZIP archives from a path (and applies the member,
    # path and bomb checks); the temporary file lives until the last member
    # has been read.
    with tempfile.TemporaryDirectory(prefix="earsiv-upload-") as tmp:
        path = Path(tmp) / DEFAULT_ZIP_NAME
        path.write_bytes(data)
        del data
        if not zipfile.is_zipfile(path):
            yield Source(name, error="not a ZIP archive")
            return
        prefix = str(path)
        for s in expand([path]):
            yield Source(name + s.name[len(prefix):] if s.name.startswith(prefix) else name, s.data, s.error)
