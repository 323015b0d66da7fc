"""An archive opened by a command that only reads, so that it answers while the disk is full.

Opening an archive catches the SQL index up with the log (leaves that a crash between the
log and the index, or another process, left unindexed), and closing one checkpoints the
log.  Both write, and neither is what a reader came for: on a full disk a reader answers
from the index as it is, says how far behind it is, and skips the checkpoint (the next
writer makes it).  It appends nothing once its catch-up failed, because an append would
mark the leaves it skipped as indexed.
"""

from __future__ import annotations

import datetime as dt
import logging

from earsiv.archive.archive import Archive
from earsiv.errors import StorageFull

__all__ = ["ReadingArchive"]

log = logging.getLogger(__name__)


class ReadingArchive(Archive):
    """An ``Archive`` whose catch-up and checkpoints are optional: a full disk makes them warnings."""

    catch_up_failure: StorageFull | None = None

    def catch_up(self) -> int:
        try:
            return super().catch_up()
        except StorageFull as exc:
            self.catch_up_failure = exc
            behind = self.log.size - int(self.index.meta_get("log_size") or 0)
            log.warning("the SQL index is %d log entries behind the log and cannot catch up (%s); "
                        "answers leave out what they hold", behind, exc)
            return 0

    def checkpoint(self):
        try:
            return super().checkpoint()
        except StorageFull as exc:
            log.warning("no checkpoint of the newest log entries (%s); the next command that writes makes it", exc)
            return None

    def append_event(self, entry: dict, retain_until: dt.datetime | None = None) -> int:
        if self.catch_up_failure is not None:
            raise type(self.catch_up_failure)(
                f"nothing can be recorded while the index cannot catch up with the log: {self.catch_up_failure.detail}"
            )
        return super().append_event(entry, retain_until)
