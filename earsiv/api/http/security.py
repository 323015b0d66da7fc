"""Headers that tell a browser what it may do with an answer, on every answer.

Every answer is ``X-Content-Type-Options: nosniff``: a browser must not guess
that a JSON body, an original's XML or a CSV is a page and run it.  Every
answer a browser renders as a page (``text/html``, XHTML, SVG, XML) carries a
Content-Security-Policy as a header, where no markup in the body can undo it:

- a print (``prints.py``) sets its own, ``SERVED_CSP``: nothing loads or runs;
- the API's own documentation page (``/docs``) gets ``DOCS_CSP``: scripts and
  styles of this server only (nothing from a CDN), requests to this server only;
- the web pages (``earsiv/api/web``) set ``PAGE_CSP``: no script at all;
- any other page gets ``SERVED_CSP``: a route that forgets its policy is fenced
  as a print is, not left open.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from earsiv.render.formats import SERVED_CSP

__all__ = ["DOCS_CSP", "SecurityHeaders"]

# The API's documentation page (earsiv/api/web/docs.py): Swagger UI from this server (the swagger-ui-bundle
# package) started by a file of ours, so no inline script; it styles itself with style attributes, and
# fetches only this server's openapi.json.  It shows no document's content.
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_PAGES = (b"text/html", b"application/xhtml+xml", b"image/svg+xml", b"application/xml", b"text/xml")


class SecurityHeaders:
    """ASGI middleware: ``nosniff`` on every answer, a CSP on every page that has none of its own."""

    def __init__(self, app: ASGIApp, *, docs_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.docs_paths = frozenset(p for p in docs_paths if p)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = (DOCS_CSP if scope.get("path") in self.docs_paths else SERVED_CSP).encode()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-content-type-options"]
                headers.append((b"x-content-type-options", b"nosniff"))
                media = next((v.split(b";", 1)[0].strip().lower() for k, v in headers if k.lower() == b"content-type"), b"")
                if media in _PAGES and not any(k.lower() == b"content-security-policy" for k, _ in headers):
                    headers.append((b"content-security-policy", policy))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
