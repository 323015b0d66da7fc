"""``/ui``: the operator's pages: principals and their tokens, inspectors' grants, legal holds.

Every change is a form carrying the session's form token (``checked_form``) and calls the
``ArchiveService`` method the CLI (``earsiv principal | token | grant | legal-hold``) and the API
call, which refuses anyone but an admin (a page answers 403 as the API does) and writes the
change as a log leaf naming the admin (``by``).  After a change the browser is sent back to the
list (303), except for a new token: it is shown on the page that answers the form, this once.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from earsiv.api.http.deps import Caller, Service
from earsiv.api.web.forms import parse_date, vkn_list
from earsiv.api.web.render import checked_form, page
from earsiv.archive.log.entries import ROLES
from earsiv.archive.service_access import day_start
from earsiv.errors import InvalidInput

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_Name = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")]
_Id = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]
_Form = Annotated[FormData, Depends(checked_form)]


def _text(form: FormData, key: str) -> str:
    value = form.get(key, "")
    return value.strip() if isinstance(value, str) else ""


def _until(form: FormData, key: str, what: str, *, required: bool) -> dt.datetime | None:
    """A day typed in the form: valid through its end in Türkiye (as ``earsiv token create --expires``)."""
    day = parse_date(_text(form, key), what)
    if day is None:
        if required:
            raise InvalidInput(f"{what}: bir tarih yazın / type a date")
        return None
    return day_start(day + dt.timedelta(days=1))


def _back(to: str) -> Response:
    return RedirectResponse(to, status_code=303, headers={"Cache-Control": "no-store"})


# -- principals and tokens ------------------------------------------------------------------
@router.get("/ui/principals")
def principals(request: Request, service: Service, who: Caller) -> Response:
    return _principals_page(request, service, who)


def _principals_page(request: Request, service: Service, who: Caller, made=None, status: int = 200) -> Response:
    """The principals with their tokens; *made*: a token just created, shown on this answer only."""
    tokens: dict[str, list] = {}
    for t in service.tokens(who):
        tokens.setdefault(t.principal, []).append(t)
    return page(request, "principals.html", status=status, principals=service.principals(who), tokens=tokens,
                roles=list(ROLES), now=dt.datetime.now(dt.UTC), made=made)


@router.post("/ui/principals")
def add_principal(request: Request, service: Service, who: Caller, form: _Form) -> Response:
    service.add_principal(who, _text(form, "name"), _text(form, "role"), vkn_list(_text(form, "tenants")))
    return _back("/ui/principals")


@router.post("/ui/principals/{name}")
def change_principal(request: Request, service: Service, who: Caller, name: _Name, form: _Form) -> Response:
    """Disable or enable (``state``), or replace the tenants (``tenants``), as ``earsiv principal set``."""
    state = _text(form, "state")
    if state not in ("", "disable", "enable"):
        raise InvalidInput("state: disable or enable")
    tenants = vkn_list(_text(form, "tenants")) if "tenants" in form else None
    if not state and not tenants:
        raise InvalidInput("değişecek bir şey yok: durum ya da mükellefler / nothing to change: a state or tenants")
    service.set_principal(who, name, tenants=tenants or None, disabled=None if not state else state == "disable")
    return _back("/ui/principals")


@router.post("/ui/principals/{name}/tokens")
def create_token(request: Request, service: Service, who: Caller, name: _Name, form: _Form) -> Response:
    """The new token on the answer's page only (never in a URL, never again): the archive keeps its sha256."""
    made = service.create_token(who, name, _until(form, "expires", "geçerlilik sonu / expires", required=False))
    return _principals_page(request, service, who, made, status=201)


@router.post("/ui/tokens/{token_id}/revoke")
def revoke_token(request: Request, service: Service, who: Caller, token_id: _Id, form: _Form) -> Response:
    service.revoke_token(who, token_id)
    return _back("/ui/principals")


# -- grants ---------------------------------------------------------------------------------
@router.post("/ui/grants")
def add_grant(request: Request, service: Service, who: Caller, form: _Form) -> Response:
    start = parse_date(_text(form, "from"), "başlangıç / from")
    end = parse_date(_text(form, "to"), "bitiş / to")
    if start is None or end is None:
        raise InvalidInput("dönemin başını ve sonunu yazın / type the period's first and last day")
    expires = _until(form, "expires", "geçerlilik sonu / expires", required=True)
    assert expires is not None
    service.add_grant(who, _text(form, "inspector"), _text(form, "vkn"), start, end, expires, _text(form, "reference"))
    return _back("/ui/grants")


@router.post("/ui/grants/{grant_id}/revoke")
def revoke_grant(request: Request, service: Service, who: Caller, grant_id: _Id, form: _Form) -> Response:
    service.revoke_grant(who, grant_id)
    return _back("/ui/grants")


# -- legal holds ----------------------------------------------------------------------------
@router.post("/ui/legal-hold")
def legal_hold(request: Request, service: Service, who: Caller, form: _Form) -> Response:
    """Put a hold on a document (every holding, or one tenant's) or lift it; lifting says why."""
    digest = _text(form, "digest").lower()
    state = _text(form, "state")
    if state not in ("on", "off"):
        raise InvalidInput("state: on or off")
    reason = _text(form, "reason")  # lifting needs one: ArchiveService.legal_hold says so, for every edge
    if len(digest) != 64:
        raise InvalidInput("belgenin özetini (64 onaltılık rakam) yazın / type the document's digest (64 hex digits)")
    service.legal_hold(who, digest, state == "on", reason, _text(form, "tenant") or None)
    return _back(f"/ui/documents/{digest}")
