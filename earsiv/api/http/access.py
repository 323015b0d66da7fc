"""``/v1/me``, ``/v1/principals``, ``/v1/tokens``, ``/v1/grants``, ``/v1/access-log``.

Who may use the API and what inspectors were shown.  Managing principals, tokens and grants
is for admins; an inspector may list its own grants and its own access events; an integrator
or accountant may read the access events about its tenants (what inspectors were shown of
them), each with the proof that it is in the log.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from earsiv.api.http.deps import Caller, Service
from earsiv.api.http.problems import error_responses
from earsiv.archive.access import ROLES
from earsiv.indexer.accessdb import GrantRow, PrincipalRow, TokenRow

__all__ = ["router"]

router = APIRouter(tags=["access"])
_VKN = r"^[0-9]{10,11}$"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
Name = Annotated[str, Path(pattern=_NAME, description="Principal name.")]
Id = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="Token or grant id (16 hex digits).")]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PrincipalIn(_In):
    name: str = Field(pattern=_NAME)
    role: str = Field(json_schema_extra={"enum": list(ROLES)}, description="admin, integrator, accountant or inspector.")
    tenants: list[Annotated[str, Field(pattern=_VKN)]] = Field(default_factory=list, max_length=10000,
                                                                 description="Integrators and accountants: their taxpayers.")


class PrincipalPatch(_In):
    tenants: list[Annotated[str, Field(pattern=_VKN)]] | None = Field(default=None, max_length=10000)
    disabled: bool | None = None


class PrincipalOut(_Out):
    name: str
    role: str
    tenants: list[str]
    disabled: bool
    created_at: dt.datetime

    @classmethod
    def from_domain(cls, r: PrincipalRow) -> PrincipalOut:
        return cls(name=r.name, role=r.role, tenants=list(r.tenants), disabled=r.disabled, created_at=r.created_at)


class TokenIn(_In):
    expires_at: dt.datetime | None = Field(default=None, description="With a UTC offset; null: never expires.")


class TokenOut(_Out):
    id: str
    principal: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @classmethod
    def from_domain(cls, r: TokenRow) -> TokenOut:
        return cls(id=r.id, principal=r.principal, created_at=r.created_at, expires_at=r.expires_at,
                   revoked_at=r.revoked_at)


class NewTokenOut(_Out):
    id: str
    token: str = Field(description="Shown this once; only its sha256 is kept. Send as `Authorization: Bearer <token>`.")
    principal: str
    expires_at: dt.datetime | None


class GrantIn(_In):
    inspector: str = Field(pattern=_NAME, description="The inspector principal.")
    vkn: str = Field(pattern=_VKN, description="The taxpayer under inspection.")
    from_: dt.date = Field(alias="from", description="First issue date covered.")
    to: dt.date = Field(description="Last issue date covered.")
    expires_at: dt.datetime = Field(description="When the grant ends (with a UTC offset).")
    reference: str = Field(min_length=1, max_length=1000, description="The inspection order (date, number).")


class GrantOut(_Out):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str
    inspector: str
    vkn: str
    from_: dt.date = Field(alias="from")
    to: dt.date
    expires_at: dt.datetime
    reference: str
    created_by: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    active: bool
    log_index: int

    @classmethod
    def from_domain(cls, g: GrantRow, now: dt.datetime) -> GrantOut:
        return cls(id=g.id, inspector=g.inspector, vkn=g.vkn, from_=g.date_from, to=g.date_to, expires_at=g.expires_at,
                   reference=g.reference, created_by=g.created_by, created_at=g.created_at, revoked_at=g.revoked_at,
                   active=g.active(now), log_index=g.log_index)


class MeOut(_Out):
    name: str
    role: str
    tenants: list[str]
    grants: list[GrantOut] = Field(description="Inspectors: the grants active now.")


class AccessEventOut(_Out):
    log_index: int
    vkns: list[str] = Field(description="The taxpayers whose grants the request used (of those the caller may read).")
    event: dict[str, Any] = Field(description="The log leaf as stored: principal, action, grants, parameters, documents "
                                  "(one taxpayer's grants and the documents shown under them).")
    proof: dict[str, Any] | None = Field(description="Leaf, inclusion proof, signed checkpoint and its RFC 3161 token "
                                         "(base64), checked before it was sent; null if `proofs=false` or `redacted`.")
    redacted: bool = Field(default=False, description="An event logged before events were one per taxpayer, cut to the "
                           "caller's taxpayers; it has no proof, which would show the whole leaf.")


class AccessLogOut(_Out):
    events: list[AccessEventOut]
    next_after: int | None = Field(description="Pass as `after` for the next page; null on the last page.")


@router.get("/v1/me", operation_id="getMe", summary="Who the token belongs to", response_model=MeOut,
            responses=error_responses(401, 503))
def me(service: Service, who: Caller) -> MeOut:
    got = service.me(who)
    return MeOut(name=got.principal.name, role=got.principal.role, tenants=sorted(got.principal.tenants),
                 grants=[GrantOut.from_domain(g, got.now) for g in got.grants])


@router.post("/v1/principals", operation_id="addPrincipal", summary="Add a principal (admin)", status_code=201,
             response_model=PrincipalOut, responses=error_responses(400, 401, 403, 409, 422, 503))
def add_principal(body: PrincipalIn, service: Service, who: Caller) -> PrincipalOut:
    return PrincipalOut.from_domain(service.add_principal(who, body.name, body.role, body.tenants))


@router.get("/v1/principals", operation_id="listPrincipals", summary="List principals (admin)",
            response_model=list[PrincipalOut], responses=error_responses(401, 403, 503))
def list_principals(service: Service, who: Caller) -> list[PrincipalOut]:
    return [PrincipalOut.from_domain(r) for r in service.principals(who)]


@router.patch("/v1/principals/{name}", operation_id="changePrincipal", summary="Change tenants or disable (admin)",
              response_model=PrincipalOut, responses=error_responses(400, 401, 403, 404, 422, 503))
def change_principal(name: Name, body: PrincipalPatch, service: Service, who: Caller) -> PrincipalOut:
    return PrincipalOut.from_domain(service.set_principal(who, name, tenants=body.tenants, disabled=body.disabled))


@router.post("/v1/principals/{name}/tokens", operation_id="createToken", summary="Create a token (admin)",
             status_code=201, response_model=NewTokenOut, responses=error_responses(400, 401, 403, 404, 422, 503))
def create_token(name: Name, body: TokenIn, service: Service, who: Caller) -> NewTokenOut:
    """The token is in this answer only; the archive keeps its sha256."""
    new = service.create_token(who, name, body.expires_at)
    return NewTokenOut(id=new.id, token=new.token, principal=new.principal, expires_at=new.expires_at)


@router.get("/v1/tokens", operation_id="listTokens", summary="List tokens (admin)", response_model=list[TokenOut],
            responses=error_responses(401, 403, 422, 503))
def list_tokens(service: Service, who: Caller,
                principal: Annotated[str | None, Query(pattern=_NAME, description="Only this principal's.")] = None
                ) -> list[TokenOut]:
    return [TokenOut.from_domain(t) for t in service.tokens(who, principal)]


@router.delete("/v1/tokens/{token_id}", operation_id="revokeToken", summary="Revoke a token (admin)",
               response_model=TokenOut, responses=error_responses(401, 403, 404, 422, 503))
def revoke_token(token_id: Id, service: Service, who: Caller) -> TokenOut:
    return TokenOut.from_domain(service.revoke_token(who, token_id))


@router.post("/v1/grants", operation_id="addGrant", summary="Grant an inspector a VKN and period (admin)",
             status_code=201, response_model=GrantOut, responses=error_responses(400, 401, 403, 404, 422, 503))
def add_grant(body: GrantIn, service: Service, who: Caller) -> GrantOut:
    g = service.add_grant(who, body.inspector, body.vkn, body.from_, body.to, body.expires_at, body.reference)
    return GrantOut.from_domain(g, dt.datetime.now(dt.UTC))


@router.get("/v1/grants", operation_id="listGrants", summary="List grants (admin: all; inspector: its own)",
            response_model=list[GrantOut], responses=error_responses(401, 403, 422, 503))
def list_grants(service: Service, who: Caller,
                vkn: Annotated[str | None, Query(pattern=_VKN, description="Only grants for this taxpayer.")] = None
                ) -> list[GrantOut]:
    now = dt.datetime.now(dt.UTC)
    return [GrantOut.from_domain(g, now) for g in service.grants(who, vkn=vkn)]


@router.delete("/v1/grants/{grant_id}", operation_id="revokeGrant", summary="End a grant at once (admin)",
               response_model=GrantOut, responses=error_responses(401, 403, 404, 422, 503))
def revoke_grant(grant_id: Id, service: Service, who: Caller) -> GrantOut:
    return GrantOut.from_domain(service.revoke_grant(who, grant_id), dt.datetime.now(dt.UTC))


@router.get("/v1/access-log", operation_id="getAccessLog", summary="What inspectors were shown, with proofs",
            response_model=AccessLogOut, responses=error_responses(401, 403, 422, 503))
async def access_log(
    service: Service,
    who: Caller,
    vkn: Annotated[str | None, Query(pattern=_VKN, description="Only events about this taxpayer.")] = None,
    principal: Annotated[str | None, Query(pattern=_NAME, description="Only this principal's events.")] = None,
    from_: Annotated[dt.date | None, Query(alias="from", description="Only events made on or after this day "
                                                                    "(YYYY-MM-DD, in Türkiye).")] = None,
    to: Annotated[dt.date | None, Query(description="Only events made on or before this day (in Türkiye).")] = None,
    after: Annotated[int | None, Query(ge=-1, le=2**62, description="Only events after this log index.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Events per page.")] = 100,
    proofs: Annotated[bool, Query(description="Include each event's proof (makes a checkpoint if none covers it).")] = True,
) -> AccessLogOut:
    """Admins see every event; an inspector its own; an integrator or accountant those about its tenants."""
    page = await run_in_threadpool(service.access_log, who, vkn=vkn, principal=principal, after=after, limit=limit,
                                   proofs=proofs, date_from=from_, date_to=to)
    return AccessLogOut(events=[AccessEventOut(log_index=e.log_index, vkns=e.vkns, event=e.event, proof=e.proof,
                                               redacted=e.redacted) for e in page.events], next_after=page.next_after)
