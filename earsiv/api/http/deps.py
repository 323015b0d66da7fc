"""Dependencies the routes declare with ``Annotated`` aliases.

Parsing and validating what a client sends happens here, once: a route that
takes ``Digest`` gets a lower-case sha256, one that takes ``Search`` gets a
``SearchQuery`` that has already checked itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from earsiv.api.http.auth import PRINCIPAL
from earsiv.api.http.schemas import Kind
from earsiv.archive.access import Principal
from earsiv.archive.errors import Unauthenticated
from earsiv.archive.service import ArchiveService, search_query
from earsiv.indexer.query import MAX_LIMIT, MAX_TEXT, SearchQuery

__all__ = ["DIGEST_PATTERN", "Caller", "Digest", "Filename", "Search", "Service", "Tenant"]

DIGEST_PATTERN = r"^[0-9a-fA-F]{64}$"
_TEXT = {"min_length": 1, "max_length": 256}


def _service(request: Request) -> ArchiveService:
    return request.app.state.service


# Declared for the OpenAPI description only: the token was checked before the request got
# here (auth.Authenticate, before anything read the body), and its principal is in the state.
_bearer = HTTPBearer(auto_error=False, bearerFormat="earsiv_<id>_<secret>",
                     description="A token from `earsiv token create NAME` (or POST /v1/principals/{name}/tokens).")


async def _caller(request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    principal = getattr(request.state, PRINCIPAL, None)
    if principal is None:  # pragma: no cover - Authenticate runs before every route but the public ones
        raise Unauthenticated("this endpoint needs 'Authorization: Bearer <token>'")
    return principal


def _digest(
    digest: Annotated[str, Path(pattern=DIGEST_PATTERN, description="sha256 of the original bytes, 64 hex digits.")],
) -> str:
    return digest.lower()


def _search(
    vkn: Annotated[str | None, Query(description="VKN/TCKN as any party (supplier, customer, sender, receiver, e-Defter owner).", **_TEXT)] = None,
    from_: Annotated[dt.date | None, Query(alias="from", description="Issue date on or after (YYYY-MM-DD).")] = None,
    to: Annotated[dt.date | None, Query(description="Issue date on or before (YYYY-MM-DD).")] = None,
    kind: Annotated[Kind | None, Query(description="Document kind.")] = None,
    profile: Annotated[str | None, Query(description="ProfileID, e.g. TICARIFATURA.", **_TEXT)] = None,
    type_: Annotated[str | None, Query(alias="type", description="Type code, e.g. SATIS, IADE.", **_TEXT)] = None,
    id_: Annotated[str | None, Query(alias="id", description="Document number (cbc:ID).", **_TEXT)] = None,
    ettn: Annotated[str | None, Query(description="ETTN (cbc:UUID), any case.", **_TEXT)] = None,
    text: Annotated[str | None, Query(alias="q", min_length=1, max_length=MAX_TEXT,
                                      description="Words in party names, item names and notes, typed on any keyboard "
                                                  "(ANONİM, anonim and ANONIM are one word; names match by prefix). "
                                                  "Results are then ranked, then newest first; the cursor is a "
                                                  "full-text cursor.")] = None,
    tenant: Annotated[str | None, Query(pattern=r"^[0-9]{10,11}$", description="Held by this tenant.")] = None,
    signature: Annotated[str | None, Query(description="Signature status: consistent (the bytes match the signature, "
                                                       "nothing more), invalid, unsigned, unverifiable, pending. "
                                                       "`valid` is refused: it never meant more than consistent.",
                                           max_length=32)] = None,
    trust: Annotated[Literal["trusted", "untrusted"] | None,
                     Query(description="Consistent signatures whose certificate chains (trusted) or does not "
                                       "chain (untrusted) at signing time to a configured root.")] = None,
    signer: Annotated[Literal["supplier", "other", "unknown"] | None,
                      Query(description="Consistent signatures whose certificate VKN/TCKN is the supplier's "
                                        "(supplier), is not (other), or is missing (unknown).")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Documents per page.")] = 100,
    cursor: Annotated[str | None, Query(description="Opaque: the `next_cursor` of the previous page.", max_length=512)] = None,
) -> SearchQuery:
    # Filters that are each well-formed but wrong together (from > to, a cursor that is not
    # one of ours, a blank string) are InvalidInput: the same 422 invalid-request.
    return search_query(vkn=vkn, date_from=from_, date_to=to, kind=kind.value if kind else None, profile=profile,
                        type_code=type_, doc_id=id_, ettn=ettn, text=text, tenant=tenant, limit=limit, cursor=cursor,
                        signature_status=signature, signature_trust=trust, signer_relation=signer)


Service = Annotated[ArchiveService, Depends(_service)]
Caller = Annotated[Principal, Depends(_caller)]
Digest = Annotated[str, Depends(_digest)]
Search = Annotated[SearchQuery, Depends(_search)]
Tenant = Annotated[
    str | None,
    Query(pattern=r"^[0-9]{10,11}$", description="Taxpayer (VKN, 10 digits, or TCKN, 11) the documents are archived for."),
]
Filename = Annotated[
    str | None,
    Query(max_length=255, description="Name of the uploaded file for a raw body, if no `X-Filename` header is sent."),
]
