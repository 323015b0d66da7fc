"""Who is asking, decided before anything else reads the request.

``Authenticate`` is the outermost layer of the app: the bearer token of every request but the
public ones (liveness and the API's own description) is checked from the headers alone, before
the router, a body size check or a route reads a byte of the body.  A request without a valid
token gets its ``401`` at once, with ``Connection: close`` when it came with a body, so a 42 MB
body from nobody costs the server nothing but the headers (before this, FastAPI read and parsed
a JSON body before the route's token dependency ran: +300 MB of memory for 42 MB of JSON).

The principal is left in the request's state for the routes (``deps.Caller``) and for the
layers inside this one that act per principal (rate limits, the inspector's access trail).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from earsiv.api.http.problems import domain_response
from earsiv.archive.errors import Unauthenticated
from earsiv.errors import EarsivError

__all__ = ["PRINCIPAL", "PUBLIC_PATHS", "Authenticate", "bearer_token", "has_body"]

# Nothing here shows an archive's content: liveness, and the API's own description.
PUBLIC_PATHS = frozenset({"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
PRINCIPAL = "principal"  # key in the request's state


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", ()):
        if k == name:
            return v.decode("latin-1")
    return None


def has_body(scope: Scope) -> bool:
    """Whether the request declares a body (a length over 0, or a transfer coding)."""
    length = _header(scope, b"content-length")
    return _header(scope, b"transfer-encoding") is not None or (length is not None and length.strip() not in ("", "0"))


def bearer_token(scope: Scope) -> str | None:
    value = _header(scope, b"authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class Authenticate:
    """ASGI middleware: the caller's principal in ``scope["state"]["principal"]``, or a 401 before the body is read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        try:
            if token is None:
                raise Unauthenticated("this endpoint needs 'Authorization: Bearer <token>'")
            service = scope["app"].state.service
            principal = await run_in_threadpool(service.authenticate, token)
        except EarsivError as exc:
            # The body is never read: on a connection that carries one, nothing else can follow.
            headers = {"Connection": "close"} if has_body(scope) else None
            await domain_response(exc, headers)(scope, receive, send)
            return
        scope.setdefault("state", {})[PRINCIPAL] = principal
        await self.app(scope, receive, send)
