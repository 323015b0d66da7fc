"""Disposal's use cases (``disposal.py``): an admin's, in two steps, and at the command line only.

Part of ``ArchiveService`` (``service.py``).  No HTTP route disposes of anything: deleting
what the law no longer asks to keep is an operator's decision taken where the archive's
files are, with a plan to read first; a stolen admin token cannot do it from afar.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from earsiv.archive.access import Principal
    from earsiv.archive.archive import Archive
    from earsiv.archive.disposal import Certificate, Plan
    from earsiv.indexer.disposaldb import Disposable

__all__ = ["DisposalUseCases"]


class DisposalUseCases:
    archive: Archive

    def disposal_candidates(self, who: Principal, vkn: str | None, before: dt.date) -> Iterator[Disposable]:
        """Every document past every retention before *before*, under no hold, in log order (streamed)."""
        from earsiv.archive.access import parse_vkn
        from earsiv.archive.disposal import cutoff_of

        self.archive.access.require(who, "admin", what="list disposable documents")
        cutoff = cutoff_of(before, dt.datetime.now(dt.UTC))
        for batch in self.archive.index.disposal.candidates(cutoff, parse_vkn(vkn) if vkn else None):
            yield from batch

    def disposal_plan(self, who: Principal, vkn: str | None, before: dt.date, reason: str) -> Plan:
        """What would go: every document past every retention, under no hold (of *vkn* alone, if named)."""
        from earsiv.archive.access import parse_vkn
        from earsiv.archive.disposal import make_plan

        self.archive.access.require(who, "admin", what="plan disposals")
        return make_plan(self.archive, parse_vkn(vkn) if vkn else None, before, reason)

    def dispose(self, who: Principal, vkn: str | None, before: dt.date, reason: str, confirm: str,
                out: Path) -> Certificate:
        """Carry out the plan whose digest is *confirm*; the signed certificate goes into *out*."""
        from earsiv.archive.access import parse_vkn
        from earsiv.archive.disposal import dispose

        self.archive.access.require(who, "admin", what="dispose of documents")
        return dispose(self.archive, parse_vkn(vkn) if vkn else None, before, reason, confirm, by=who.name, out=out)
