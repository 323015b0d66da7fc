"""The compliance reports' use cases: serial continuity, e-Defter periods, responses (``reports.py``).

Part of ``ArchiveService`` (``service.py``).  A report is about one taxpayer (VKN) and a
period, and is scoped like a search: an admin asks about anyone; an integrator's or
accountant's principal about its own taxpayers (every document a report reads names the
taxpayer, so it is one they may see); an inspector within its grants for that VKN, the
period cut to them, and the report is an access event naming every document it lists.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

from earsiv.archive.errors import Forbidden
from earsiv.errors import InvalidInput

if TYPE_CHECKING:
    from earsiv.archive.access import AccessEvents, Principal
    from earsiv.archive.archive import Archive
    from earsiv.archive.reports import Report

__all__ = ["ReportResult", "ReportUseCases"]


@dataclasses.dataclass(frozen=True, slots=True)
class ReportResult:
    report: Report
    event: AccessEvents | None  # an inspector's access event


class ReportUseCases:
    archive: Archive

    def report(self, who: Principal, name: str, vkn: str, date_from: dt.date, date_to: dt.date, *,
               today: dt.date | None = None) -> ReportResult:
        """The report *name* (``serials``, ``edefter``, ``responses``) of *vkn* for documents dated in the period."""
        from earsiv.archive.access import parse_vkn
        from earsiv.archive.reports import REPORTS, build_report

        if name not in REPORTS:
            raise InvalidInput(f"unknown report {name!r}; reports: {', '.join(REPORTS)}")
        vkn = parse_vkn(vkn)
        if date_to < date_from:
            raise InvalidInput(f"the period ends ({date_to}) before it starts ({date_from})")
        grants = []
        windows = [(date_from, date_to)]
        if who.role in ("integrator", "accountant"):
            if vkn not in who.tenants:
                raise Forbidden(f"{who.name!r} is not linked to taxpayer {vkn}")
        elif who.role == "inspector":
            grants = [g for g in self.archive.access.active_grants(who)
                      if g.vkn == vkn and g.date_from <= date_to and date_from <= g.date_to]
            if not grants:
                raise Forbidden(f"no active grant of {who.name!r} covers VKN {vkn} between {date_from} and {date_to}")
            windows = [(max(g.date_from, date_from), min(g.date_to, date_to)) for g in grants]
        elif not who.is_admin:
            raise Forbidden(f"an {who.role} reads no reports")
        rep = build_report(name, self.archive.index.reports, vkn, windows, today=today,
                           restricted=who.role == "inspector")
        event = None
        if grants:
            from earsiv.archive import service_types

            limit = service_types.MAX_LOGGED_EXPORT
            if len(rep.digests) > limit:
                # The event names every document the report names, and is kept for years: as for exports.
                raise InvalidInput(f"the report names {len(rep.digests)} documents: an inspector's report names at "
                                   f"most {limit}; narrow the period")
            params = {"report": name, "vkn": vkn, "date_from": str(date_from), "date_to": str(date_to)}
            event = self.archive.access.record(who, "report", grants, params, list(rep.digests))
        return ReportResult(rep, event)
