"""Every request an inspector makes is an access event, whatever the answer.

The use cases record an event when they show an inspector something (a page, a document, a
package).  A request that showed nothing (a 404, a 403, a 422 from the schema before any use
case ran, an unknown path, the inspector's own grants) used to leave no trace, so probing
was traceless.  ``AccessTrail`` runs inside ``Authenticate``: for an inspector it opens a
request trail (``archive/trail.py``), and when the answer is about to start and the request
made no event, it records one that says what was asked (method, path, query) and what was
answered (the status), durable before the answer leaves, and names it in the answer's
``Earsiv-Access-Event`` header like any other.  A request that fails with an error nobody
mapped (a bug, 500) is recorded before the error travels on.

The event names no grant and no document, so a document that exists and one that does not
leave the same event, as they leave the same answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from earsiv.api.http.auth import PRINCIPAL
from earsiv.api.http.problems import domain_response
from earsiv.api.http.schemas import ACCESS_EVENT_HEADER
from earsiv.archive.trail import request_trail
from earsiv.errors import EarsivError

if TYPE_CHECKING:
    from earsiv.archive.access import AccessEvents

__all__ = ["OPERATION_ACTIONS", "AccessTrail", "asked"]

# operation id -> the access event's action; any other operation is a "request".
OPERATION_ACTIONS = {
    "searchDocuments": "search", "exportDocumentsCsv": "export", "getDocument": "view", "getOriginal": "original",
    "verifyDocument": "verify", "getEvidence": "evidence", "printDocument": "print", "getPackage": "package", "getReport": "report",
    "getMe": "me", "listGrants": "grants", "getAccessLog": "access-log",
}
_MAX_PARAMS, _MAX_VALUE, _MAX_PATH = 20, 200, 300


def asked(scope: Scope) -> dict[str, Any]:
    """What the client asked, bounded (a hostile query string does not become a large leaf)."""
    query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    params: dict[str, Any] = {"method": scope.get("method", ""), "path": scope.get("path", "")[:_MAX_PATH]}
    if query:
        params["query"] = [[k[:_MAX_VALUE], v[:_MAX_VALUE]] for k, v in query[:_MAX_PARAMS]]
        if len(query) > _MAX_PARAMS:
            params["query_cut"] = len(query)
    return params


def _action(scope: Scope) -> str:
    route = scope.get("route")
    return OPERATION_ACTIONS.get(getattr(route, "operation_id", None) or "", "request")


class AccessTrail:
    """ASGI middleware: an inspector's request that made no access event gets one before its answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = scope.get("state", {}).get(PRINCIPAL) if scope["type"] == "http" else None
        if principal is None or principal.role != "inspector":
            await self.app(scope, receive, send)
            return
        service = scope["app"].state.service
        started = replaced = False

        async def record(status: int) -> AccessEvents | None:
            return await run_in_threadpool(service.record_unshown, principal, _action(scope), asked(scope),
                                           {"status": status})

        async def guarded(message: Message) -> None:
            nonlocal started, replaced
            if replaced:
                return  # the app's answer is dropped: the error of recording it went instead
            if message["type"] == "http.response.start":
                started = True
                if not trail.events:
                    try:
                        index = await record(message["status"])
                    except EarsivError as exc:
                        # No answer without its record: the failure to record is the answer.
                        replaced = True
                        await domain_response(exc)(scope, receive, send)
                        return
                    headers = [*message.get("headers", []), (ACCESS_EVENT_HEADER.lower().encode(), str(index).encode())]
                    message = {**message, "headers": headers}
            await send(message)

        with request_trail() as trail:
            try:
                await self.app(scope, receive, guarded)
            except Exception:
                if not started and not trail.events:
                    await record(500)  # a bug: recorded, then answered by the server's error handler
                raise
