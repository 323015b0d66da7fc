"""The integrity use cases: the audit, repair, the damage report, and the replica.

Part of ``ArchiveService`` (``service.py``), kept apart because it is a subject of its own.
Auditing and reading damage reports are admins' (an integrator's or accountant's principal
may read the reports of its own taxpayers); repairing and filling a replica change the
store, and are the operator's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from earsiv.archive.errors import Forbidden
from earsiv.archive.service_types import QUIET, require_operator

if TYPE_CHECKING:
    from earsiv.archive.access import Principal
    from earsiv.archive.archive import Archive
    from earsiv.archive.audit import Budget, StepReport
    from earsiv.archive.damage import DamageReport
    from earsiv.archive.migrate import MigrationReport
    from earsiv.archive.repair import RepairReport
    from earsiv.archive.service_types import Progress

__all__ = ["IntegrityUseCases"]


class IntegrityUseCases:
    archive: Archive

    def audit(self, who: Principal, budget: Budget, *, restart: bool = False, progress: Progress = QUIET) -> StepReport:
        """Go on with the audit's pass (or begin one) until *budget* is spent; see ``audit.py``."""
        from earsiv.archive.audit import Audit

        self.archive.access.require(who, "admin", what="audit the archive")
        audit = Audit.of_home(self.archive)
        state = None if restart else audit.load_state()
        if state is not None:
            progress.reset(total=state.end)
            progress.update(state.position)
        return audit.step(budget, progress.update, restart=restart)

    def repair(self, who: Principal, objects: list[str] | None, progress: Progress = QUIET) -> RepairReport:
        """Restore the named objects, or those of every open finding, from an intact copy; see ``repair.py``."""
        from earsiv.archive.repair import repair

        require_operator(who, "repair the store")
        return repair(self.archive, objects, by=who.name, progress=progress.update)

    def damage_reports(self, who: Principal, *, tenant: str | None = None, days: int = 90) -> list[DamageReport]:
        """One report per taxpayer the damage touches (LAW.md L9); a tenant's principal gets its own taxpayers'."""
        from earsiv.archive.damage import damage_reports

        tenants = self.archive.access.visible_tenants(who)
        if tenants is not None:
            if who.role not in ("integrator", "accountant"):
                raise Forbidden(f"an {who.role} reads no damage reports")
            if tenant is not None and tenant not in tenants:
                raise Forbidden(f"{who.name} does not act for taxpayer {tenant}")
        reports = damage_reports(self.archive, tenant=tenant, include_repaired_days=days)
        return reports if tenants is None else [r for r in reports if r.taxpayer in tenants]

    def replica_sync(self, who: Principal, progress: Progress = QUIET) -> MigrationReport:
        """Copy to the replica what the primary held before the replica was added (resumable)."""
        from earsiv.archive.replica import sync_replica

        require_operator(who, "fill the replica")
        progress.reset(total=None)
        return sync_replica(self.archive, progress.update)
