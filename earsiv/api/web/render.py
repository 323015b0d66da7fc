"""Pages as the server renders them: Jinja2 templates, Turkish first, and the headers every page carries.

A page runs no script at all (``PAGE_CSP``: no ``script-src``), loads only this server's own
stylesheet, frames only this server's own prints (sandboxed), posts forms only to itself, and is
framed by nobody.  Everything a person may act on is a link or a form; a form that changes
something carries the session's form token (``csrf_field``), checked by ``checked_form``.
"""

from __future__ import annotations

import datetime as dt
import hmac
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from earsiv.api.http.auth import PRINCIPAL, WEB_SESSION
from earsiv.archive.errors import Forbidden

__all__ = ["LANG_COOKIE", "PAGE_CSP", "checked_form", "lang_of", "page", "tr_amount", "tr_date"]

PAGE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; frame-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'")
PAGE_HEADERS = {"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store", "Referrer-Policy": "same-origin",
                "X-Frame-Options": "DENY"}
LANG_COOKIE = "earsiv_lang"
_ENV = jinja2.Environment(loader=jinja2.PackageLoader("earsiv.api.web", "templates"),
                          autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def lang_of(request: Request) -> str:
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return "en" if asked == "en" else "tr"


def tr_date(value: dt.date | dt.datetime | None, lang: str = "tr") -> str:
    if value is None:
        return "–"
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.timezone(dt.timedelta(hours=3)))  # Europe/Istanbul has no DST since 2016
        return value.strftime("%d.%m.%Y %H:%M") if lang == "tr" else value.strftime("%Y-%m-%d %H:%M")
    return value.strftime("%d.%m.%Y") if lang == "tr" else value.isoformat()


def tr_amount(value: Decimal | None, lang: str = "tr") -> str:
    """1.234.567,89 in Turkish, 1,234,567.89 in English; exact (no float on the way)."""
    if value is None:
        return "–"
    text = f"{value:,.2f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".") if lang == "tr" else text


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = lang_of(request)
    signed = getattr(request.state, WEB_SESSION, None)

    def t(turkish: str, english: str) -> str:
        return english if lang == "en" else turkish

    def url(path: str, **params: Any) -> str:
        kept = {k: v for k, v in params.items() if v not in (None, "")}
        return f"{path}?{urlencode(kept)}" if kept else path

    html = _ENV.get_template(template).render(
        t=t, lang=lang, url=url, date=lambda v: tr_date(v, lang), amount=lambda v: tr_amount(v, lang),
        who=getattr(request.state, PRINCIPAL, None), csrf=signed.csrf if signed else None,
        path=request.url.path, query=str(request.url.query), **context)
    response = HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
    if request.query_params.get("lang") in ("tr", "en"):
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
    return response


async def checked_form(request: Request) -> FormData:
    """The form, if it came from one of our pages: the session's form token, and (when the browser says) our origin."""
    form = await request.form()
    signed = getattr(request.state, WEB_SESSION, None)
    sent = form.get("csrf")
    if signed is None or not isinstance(sent, str) or not hmac.compare_digest(sent, signed.csrf):
        raise Forbidden("the form's token is missing or wrong: reload the page and send it again")
    same_origin(request)
    return form


def same_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin is not None and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        raise Forbidden("a form from another site")
    if origin == "null":
        raise Forbidden("a form from an opaque origin")
