"""The rows of the access tables as values: what the index hands out and what its writer takes in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

__all__ = ["AccessEventRow", "GrantRow", "HoldingRow", "PrincipalRow", "TokenRow"]


@dataclass(frozen=True, slots=True)
class HoldingRow:
    digest: str
    tenant: str  # "" = held without a tenant
    log_index: int
    received_at: dt.datetime
    retain_until: dt.datetime
    legal_hold: bool
    source_name: str | None


@dataclass(frozen=True, slots=True)
class PrincipalRow:
    name: str
    role: str
    tenants: tuple[str, ...]
    disabled: bool
    created_at: dt.datetime
    log_index: int


@dataclass(frozen=True, slots=True)
class TokenRow:
    id: str
    principal: str
    sha256: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    log_index: int


@dataclass(frozen=True, slots=True)
class GrantRow:
    id: str
    inspector: str
    vkn: str
    date_from: dt.date
    date_to: dt.date
    expires_at: dt.datetime
    reference: str
    created_by: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    log_index: int

    def active(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


@dataclass(frozen=True, slots=True)
class AccessEventRow:
    log_index: int
    vkn: str
    principal: str
    action: str
    at: dt.datetime
    documents: int
