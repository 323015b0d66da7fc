"""What the use cases of ``service.py`` return, and the one way a search is built from user input.

Plain values: the interfaces turn them into lines, JSON or HTTP responses.  A field an
interface needs to decide something (which fields of a row a caller may see) is computed
here, by the rule, not by the interface.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from earsiv.archive.errors import Forbidden
from earsiv.errors import InvalidInput
from earsiv.render.formats import FORMATS

if TYPE_CHECKING:
    from earsiv.archive.access import AccessEvents, Principal
    from earsiv.archive.audit import Finding
    from earsiv.archive.export import ExportSummary
    from earsiv.archive.migrate import MigrationReport
    from earsiv.archive.package.build import PackageResult
    from earsiv.indexer.accessdb import GrantRow, HoldingRow
    from earsiv.indexer.query import SearchQuery
    from earsiv.indexer.rows import DocumentRow

__all__ = [
    "FORMATS",
    "MAX_LOGGED_EXPORT",
    "QUIET",
    "AccessEvent",
    "AccessLogPage",
    "DocumentView",
    "Download",
    "Exported",
    "HoldChange",
    "Listing",
    "Me",
    "Migration",
    "Packaged",
    "Page",
    "Progress",
    "Verification",
    "require_operator",
    "search_query",
]

MAX_LOGGED_EXPORT = 20_000  # documents in one access event (and one SQL IN list): an export's, a report's


def search_query(**fields: Any) -> SearchQuery:
    """A ``SearchQuery`` from what a user typed or sent; a value it refuses is ``InvalidInput``.

    ``SearchQuery`` (the indexer's) checks itself with ``ValueError``, and building one does
    nothing else: what it refuses here can only be the input, never a failure deeper down.
    """
    from earsiv.indexer.query import SearchQuery

    try:
        return SearchQuery(**fields)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


class Progress(Protocol):
    """Where a long use case reports: told its total once known, then each step (a tqdm bar fits)."""

    def reset(self, total: float | None = None) -> None: ...

    def update(self, n: float | None = 1) -> bool | None: ...


class _Quiet:
    def reset(self, total: float | None = None) -> None:
        pass

    def update(self, n: float | None = 1) -> None:
        pass


QUIET: Progress = _Quiet()


@dataclass(frozen=True, slots=True)
class Page:
    """A page of search results, the holdings of them the caller may see, and an inspector's access event."""

    rows: tuple[DocumentRow, ...]
    next_cursor: str | None
    holdings: dict[str, list[HoldingRow]]
    event: AccessEvents | None  # an inspector's access event (one leaf per taxpayer)


@dataclass(frozen=True, slots=True)
class DocumentView:
    row: DocumentRow
    holdings: list[HoldingRow]  # those the caller may see
    event: AccessEvents | None  # an inspector's access event (one leaf per taxpayer)
    # Whether the caller may see the row's summary of every holding (first received, any
    # hold): admins.  Anyone else sees its own holdings only; a summary of all would tell a
    # tenant about another's.  The row's own tenant and file name are those of documents
    # archived before holdings had leaves of their own: the holdings say it for everyone.
    summary: bool

    @property
    def hidden_fields(self) -> tuple[str, ...]:
        """Fields of ``row.to_json()`` the caller is not shown."""
        return ("tenant", "source_name") if self.summary else ("tenant", "source_name", "received_at", "legal_hold")


@dataclass(frozen=True, slots=True)
class Download:
    """Bytes for the caller, the file name it gets them under, and an inspector's access event."""

    digest: str
    filename: str
    data: bytes
    event: AccessEvents | None  # an inspector's access event (one leaf per taxpayer)


@dataclass(frozen=True, slots=True)
class Verification:
    checked: int
    findings: list[Finding]
    events: tuple[AccessEvents, ...]  # an inspector's access events, one per document

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass(frozen=True, slots=True)
class HoldChange:
    digest: str
    log_index: int  # the leaf that records the change
    holdings: list[HoldingRow]


@dataclass(frozen=True, slots=True)
class Listing:
    rows: list[DocumentRow]
    event: AccessEvents | None  # an inspector's access event (one leaf per taxpayer)


@dataclass(frozen=True, slots=True)
class Exported:
    summary: ExportSummary
    event: AccessEvents | None  # an inspector's access event (one leaf per taxpayer)


@dataclass(frozen=True, slots=True)
class Packaged:
    result: PackageResult
    event: AccessEvents | None  # an inspector's access event (one leaf per taxpayer)
    iso: Path | None = None


@dataclass(frozen=True, slots=True)
class Migration:
    report: MigrationReport
    url: str
    switched: bool  # the home's config now names the new store


@dataclass(frozen=True, slots=True)
class Me:
    principal: Principal
    grants: list[GrantRow]  # an inspector's live grants
    now: dt.datetime


@dataclass(frozen=True, slots=True)
class AccessEvent:
    log_index: int
    vkns: list[str]  # the taxpayers whose grants the request used (those the caller may read of)
    event: dict[str, Any]  # the leaf as the log keeps it, or the caller's part of it (redacted)
    proof: dict[str, Any] | None  # checked before it is handed out; None if not asked for, or redacted
    # An older leaf naming other taxpayers too, cut to the caller's: its proof would show the rest.
    redacted: bool = False


@dataclass(frozen=True, slots=True)
class AccessLogPage:
    events: list[AccessEvent]
    next_after: int | None  # the ``after`` of the next page; None on the last


def require_operator(who: Principal, what: str) -> None:
    """Work on the archive home's own files is the operator's: no token's principal, admins included."""
    if not who.is_operator:
        raise Forbidden(f"only the archive's operator (the command line without a token) may {what}")
