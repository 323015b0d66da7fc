"""The access model's use cases: principals, tokens, grants, and what inspectors were shown.

Part of ``ArchiveService`` (``service.py``), kept apart because it is a subject of its own.
Every change names who made it (``by``: the principal's name, ``cli:<login>`` for the
operator) in its log leaf.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from earsiv.archive.service_types import AccessEvent, AccessLogPage, Me
from earsiv.errors import InvalidInput

if TYPE_CHECKING:
    from earsiv.archive.access import AccessEvents, NewToken, Principal
    from earsiv.archive.archive import Archive
    from earsiv.indexer.accessdb import GrantRow, PrincipalRow, TokenRow

__all__ = ["AccessUseCases", "day_start"]

_ISTANBUL = ZoneInfo("Europe/Istanbul")


def day_start(day: dt.date) -> dt.datetime:
    """The first instant of *day* in Türkiye, in UTC: a day people type is a Turkish day."""
    return dt.datetime.combine(day, dt.time(), _ISTANBUL).astimezone(dt.UTC)


class AccessUseCases:
    archive: Archive

    def authenticate(self, token: str) -> Principal:
        """The principal a token stands for; ``Unauthenticated`` for anything else."""
        return self.archive.access.authenticate(token)

    def me(self, who: Principal) -> Me:
        now = dt.datetime.now(dt.UTC)
        grants = self.archive.access.active_grants(who, now) if who.role == "inspector" else []
        return Me(who, grants, now)

    # -- principals and tokens (admins) ----------------------------------------------------
    def add_principal(self, who: Principal, name: str, role: str, tenants: Iterable[str] = ()) -> PrincipalRow:
        self._admin(who, "manage principals")
        self.archive.access.add_principal(name, role, tenants, by=who.name)
        return self._principal(name)

    def set_principal(self, who: Principal, name: str, *, tenants: Iterable[str] | None = None,
                      disabled: bool | None = None) -> PrincipalRow:
        """Replace a principal's tenants, or disable (its tokens stop working at once) or enable it."""
        self._admin(who, "manage principals")
        self.archive.access.set_principal(name, tenants=tenants, disabled=disabled, by=who.name)
        return self._principal(name)

    def principals(self, who: Principal) -> list[PrincipalRow]:
        self._admin(who, "manage principals")
        return self.archive.access.principals()

    def create_token(self, who: Principal, name: str, expires_at: dt.datetime | None = None) -> NewToken:
        """A new token for principal *name*: shown in this answer only, kept as its sha256."""
        self._admin(who, "manage tokens")
        return self.archive.access.create_token(name, expires_at, by=who.name)

    def tokens(self, who: Principal, principal: str | None = None) -> list[TokenRow]:
        self._admin(who, "manage tokens")
        return self.archive.access.tokens(principal)

    def revoke_token(self, who: Principal, token_id: str) -> TokenRow:
        """Revoke a token at once, named by its id or by the token itself."""
        self._admin(who, "manage tokens")
        return self.archive.access.revoke_token(token_id.strip(), by=who.name)

    # -- grants ------------------------------------------------------------------------------
    def add_grant(self, who: Principal, inspector: str, vkn: str, date_from: dt.date, date_to: dt.date,
                  expires_at: dt.datetime, reference: str) -> GrantRow:
        """Let an inspector see the documents of *vkn* issued in a period, until *expires_at* (admins)."""
        self._admin(who, "grant inspectors access")
        return self.archive.access.add_grant(inspector, vkn, date_from, date_to, expires_at, reference, by=who.name)

    def grants(self, who: Principal, *, inspector: str | None = None, vkn: str | None = None) -> list[GrantRow]:
        """Grants, live and ended: an admin's every grant, an inspector's its own."""
        return self.archive.access.grants(who, vkn=vkn, inspector=inspector)

    def revoke_grant(self, who: Principal, grant_id: str) -> GrantRow:
        self._admin(who, "grant inspectors access")
        return self.archive.access.revoke_grant(grant_id, by=who.name)

    # -- the access log ----------------------------------------------------------------------
    def record_unshown(self, who: Principal, action: str, params: dict, outcome: dict) -> AccessEvents | None:
        """The access event of an inspector's request that made none (``trail.py``); None for other roles.

        What was asked and what was answered: it names no grant and no document, because none
        was shown, and so reads the same whether the document asked for exists or not.
        """
        if who.role != "inspector":
            return None
        return self.archive.access.record(who, action, (), params, (), outcome=outcome)

    def access_log(self, who: Principal, *, vkn: str | None = None, principal: str | None = None,
                   after: int | None = None, limit: int = 100, proofs: bool = True,
                   date_from: dt.date | None = None, date_to: dt.date | None = None) -> AccessLogPage:
        """Access events *who* may read (admins all, an inspector its own, a tenant's principal those
        about its tenants; made from *date_from* through *date_to*, days in Türkiye, if given), oldest first,
        each with its proof (checked here; it makes a checkpoint
        if none covers the event yet).

        A tenant's principal reads its own part of a request only: events are one leaf per
        taxpayer, and an older leaf that names other taxpayers too is cut to its part and given
        without a proof (``redacted``), since the proof would hand over the whole leaf.
        """
        from earsiv.archive.evidence import leaf_evidence

        if date_from is not None and date_to is not None and date_to < date_from:
            raise InvalidInput(f"the days end ({date_to}) before they start ({date_from})")
        since = day_start(date_from) if date_from else None
        before = day_start(date_to + dt.timedelta(days=1)) if date_to else None
        rows = self.archive.access.access_log(who, vkn=vkn, principal=principal, after=after, limit=limit + 1,
                                             since=since, before=before)
        grouped: dict[int, list[str]] = {}
        for r in rows:
            grouped.setdefault(r.log_index, []).append(r.vkn)
        indexes = sorted(grouped)
        more = len(rows) > limit
        if more and len(indexes) > 1:
            indexes = indexes[:-1]  # the last event may be cut short by the limit: it starts the next page
        events = []
        tenant = who.role in ("integrator", "accountant")
        for idx in indexes:
            vkns = [v for v in grouped[idx] if v]
            # The event as the log keeps it: the leaf's own JSON, not a re-encoding of it.
            event = json.loads(self.archive.log.read_leaf(idx)) if tenant or not proofs else None
            if tenant and {g.get("vkn") for g in event.get("grants", ())} - who.tenants:  # type: ignore[union-attr]
                cut = self.archive.access.redacted_event(who, event)  # type: ignore[arg-type]
                if cut is not None:
                    events.append(AccessEvent(idx, vkns, cut, None, redacted=True))
                continue
            proof = leaf_evidence(self.archive, idx) if proofs else None
            if proof is not None:
                event = json.loads(proof["leaf"])  # the leaf the proof proves
            events.append(AccessEvent(idx, vkns, event, proof))  # type: ignore[arg-type]
        return AccessLogPage(events, indexes[-1] if more and indexes else None)

    def _admin(self, who: Principal, what: str) -> None:
        self.archive.access.require(who, "admin", what=what)

    def _principal(self, name: str) -> PrincipalRow:
        row = self.archive.index.access.principal(name)
        assert row is not None  # just written, or NotFound was raised
        return row
