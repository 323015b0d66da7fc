"""Who is asking, decided before anything else reads the request.

``Authenticate`` is the outermost layer of the app: the bearer token of every request but the
public ones (liveness and the API's own description) is checked from the headers alone, before
the router, a body size check or a route reads a byte of the body.  A request without a valid
token gets its ``401`` at once, with ``Connection: close`` when it came with a body, so a 42 MB
body from nobody costs the server nothing but the headers (before this, FastAPI read and parsed
a JSON body before the route's token dependency ran: +300 MB of memory for 42 MB of JSON).

The web pages (``/ui``) are signed in with a session cookie instead (``earsiv/archive/sessions.py``),
checked at the same place, so that the same layers inside (rate limits, the inspector's access
trail) and the same use cases see the same principal.  A bearer token is not taken on a page and
a session cookie is not taken on ``/v1``: a browser sends a cookie by itself, a program does not
need one, and so no API route can be made to act by a page of another site.

The principal is left in the request's state for the routes (``deps.Caller``) and for the
layers inside this one that act per principal (rate limits, the inspector's access trail).
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from earsiv.api.http.problems import domain_response
from earsiv.archive.errors import Unauthenticated
from earsiv.errors import EarsivError

__all__ = ["PRINCIPAL", "PUBLIC_PATHS", "SESSION_COOKIE", "WEB_SESSION", "Authenticate", "bearer_token", "has_body",
           "is_public", "is_web", "session_cookie"]

# Nothing here shows an archive's content: liveness, and the API's own description.
PUBLIC_PATHS = frozenset({"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
PRINCIPAL = "principal"  # key in the request's state
WEB_SESSION = "web_session"  # key in the request's state: a page's SignedIn session
SESSION_COOKIE = "earsiv_session"
# The pages anyone may load: the way in, the sign-in form, and the stylesheets and scripts of pages.
_PUBLIC_WEB = frozenset({"/", "/ui/sign-in", "/favicon.ico"})
_PUBLIC_PREFIXES = ("/ui/static/", "/docs/static/")


def is_web(path: str) -> bool:
    return path == "/ui" or path.startswith("/ui/")


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path in _PUBLIC_WEB or path.startswith(_PUBLIC_PREFIXES)


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", ()):
        if k == name:
            return v.decode("latin-1")
    return None


def has_body(scope: Scope) -> bool:
    """Whether the request declares a body (a length over 0, or a transfer coding)."""
    length = _header(scope, b"content-length")
    return _header(scope, b"transfer-encoding") is not None or (length is not None and length.strip() not in ("", "0"))


def session_cookie(scope: Scope) -> str | None:
    value = _header(scope, b"cookie")
    if not value:
        return None
    for part in value.split(";"):
        name, _, v = part.strip().partition("=")
        if name == SESSION_COOKIE and v:
            return v
    return None


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
        if scope["type"] != "http" or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        if is_web(scope["path"]):
            await self._page(scope, receive, send)
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

    async def _page(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A page's session, or the way to the sign-in form (the cookie of an ended session is cleared)."""
        secret = session_cookie(scope)
        try:
            if secret is None:
                raise Unauthenticated("not signed in")
            signed = await run_in_threadpool(scope["app"].state.service.session, secret)
        except Unauthenticated:
            path = scope["path"]
            target = "/ui/sign-in" + (f"?next={quote(path, safe='/')}" if scope.get("method") == "GET" else "")
            headers = {"Location": target, "Cache-Control": "no-store"}
            if has_body(scope):
                headers["Connection"] = "close"
            response = Response(status_code=303, headers=headers)
            if secret is not None:
                response.delete_cookie(SESSION_COOKIE, path="/ui", httponly=True, samesite="strict")
            await response(scope, receive, send)
            return
        except EarsivError as exc:
            await domain_response(exc)(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state[PRINCIPAL], state[WEB_SESSION] = signed.principal, signed
        await self.app(scope, receive, send)
