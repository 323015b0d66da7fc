"""Off-boarding's use case: hand a departing tenant everything it holds (``package/tenant.py``).

Part of ``ArchiveService`` (``service.py``).  An admin's, at the command line: the export is
written into a folder where the archive runs, in verified volumes, and is resumable.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from earsiv.archive.service_types import QUIET

if TYPE_CHECKING:
    from earsiv.archive.access import Principal
    from earsiv.archive.archive import Archive
    from earsiv.archive.package.tenant import ExportResult
    from earsiv.archive.service_types import Progress

__all__ = ["HandBackUseCases"]


class HandBackUseCases:
    archive: Archive

    def export_tenant(self, who: Principal, vkn: str, out: Path | str, *, progress: Progress = QUIET,
                      volume_documents: int | None = None) -> ExportResult:
        """Everything *vkn* holds, its ledgers among them, with evidence, and the access log of its inspections."""
        from earsiv.archive.access import Principal, parse_vkn
        from earsiv.archive.package.tenant import VOLUME_DOCUMENTS, export_tenant

        self.archive.access.require(who, "admin", what="export a tenant's documents")
        vkn = parse_vkn(vkn)
        # The access log as the tenant's own principals read it: its part of each event, no one else's.
        as_tenant = Principal(f"handback-{vkn}", "integrator", frozenset({vkn}))

        def events() -> Iterator[dict[str, Any]]:
            after = None
            while True:
                page = self.access_log(as_tenant, vkn=vkn, after=after, limit=200)  # type: ignore[attr-defined]
                for e in page.events:
                    yield {"log_index": e.log_index, "vkns": e.vkns, "event": e.event, "proof": e.proof,
                           "redacted": e.redacted}
                if page.next_after is None:
                    return
                after = page.next_after

        progress.reset(total=None)
        return export_tenant(self.archive, vkn, out, access_log=events, progress=progress.update,
                             volume_documents=volume_documents or VOLUME_DOCUMENTS)
