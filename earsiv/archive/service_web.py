"""The use cases the web pages add: signing in, finding with totals and any sort, opening by any name.

Part of ``ArchiveService`` (``service.py``).  Every one goes through the same access rules as
the API's (``AccessControl.scoped`` and ``document``): a page sees what its principal's token
sees, and an inspector's every page is an access event.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from earsiv.archive.sessions import NewSession, SignedIn, WebSessions
from earsiv.errors import InvalidInput
from earsiv.indexer.lists import SORTS
from earsiv.indexer.query import SearchQuery

if TYPE_CHECKING:
    from earsiv.archive.access import AccessEvents, Principal
    from earsiv.archive.archive import Archive
    from earsiv.archive.disclosure import Disclosure
    from earsiv.indexer.accessrows import HoldingRow
    from earsiv.indexer.rows import DocumentRow

__all__ = ["FIND_MAX", "SORTS", "Found", "Related", "WebUseCases"]

# The matches a list holds, in any order; beyond it the list is of the newest FIND_MAX and the page says so.
FIND_MAX = 10_000
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^[0-9a-fA-F]{4,64}$")


@dataclass(frozen=True, slots=True)
class Found:
    rows: list[DocumentRow]  # this page, sorted
    count: int  # documents matched (if cut and not counted: the FIND_MAX listed)
    totals: dict[str, Decimal]  # sum of payable amounts per currency, over the documents counted
    cut: bool  # more matched than FIND_MAX: the order is that of the newest FIND_MAX (full text: the best)
    counted: bool  # count and totals are of every match, past FIND_MAX (SQL aggregates)
    countable: bool  # past FIND_MAX, not counted, and find(count_all=True) would count every match
    listed: int  # documents in the order, paged through (at most FIND_MAX)
    holdings: dict[str, list[HoldingRow]]
    event: AccessEvents | None


@dataclass(frozen=True, slots=True)
class Related:
    how: str  # names | named-by | seal (``Index.related``)
    row: DocumentRow


class WebUseCases:
    archive: Archive
    disclosure: Disclosure

    @property
    def web_sessions(self) -> WebSessions:
        return WebSessions(self.archive.access, self.archive.index.sessions)

    def sign_in(self, token: str) -> NewSession:
        """A session for the principal of *token*, which it is checked against at every use."""
        return self.web_sessions.sign_in(token)

    def session(self, secret: str) -> SignedIn:
        return self.web_sessions.resolve(secret)

    def sign_out(self, secret: str) -> None:
        self.web_sessions.sign_out(secret)

    def find(self, who: Principal, q: SearchQuery, *, sort: str = "date", descending: bool = True, offset: int = 0,
             page_size: int = 50, count_all: bool = False) -> Found:
        """A sorted page of what *q* matches within what *who* may see, with the count and totals of all of it.

        The totals tell something of every matched document (its amount), so an inspector's
        event names every matched document, not only the page's.
        """
        if sort not in SORTS:
            raise InvalidInput(f"cannot sort by {sort!r}; by one of {', '.join(SORTS)}")
        if offset < 0 or not 1 <= page_size <= 500:
            raise InvalidInput("a page starts at 0 or after and holds 1 to 500 documents")
        asked = dataclasses.replace(q, cursor=None)
        scoped, grants = self.archive.access.scoped(who, dataclasses.replace(asked, limit=1000))
        # The database sorts, pages and totals the newest FIND_MAX matches (DECISIONS.md, "Lists are
        # sorted by the database"); whole rows are read for the page only.
        # An inspector's access event names every listed document (its totals tell of each), in order.
        inspector = who.role == "inspector"
        listed = self.archive.ordered(scoped, FIND_MAX, sort, descending=descending, offset=0 if inspector else offset,
                                      size=FIND_MAX if inspector else page_size)
        page = listed.page[offset: offset + page_size] if inspector else listed.page
        # Past the cap, count and totals are of the listed documents, and of every match when asked
        # (*count_all*: SQL aggregates, seconds at a million); an inspector's always stay with the
        # listed documents, which its access event names.
        countable = listed.cut and not inspector and self.archive.countable(scoped)
        tally = self.archive.tally(scoped) if countable and count_all else None
        count, totals = (tally.count, tally.totals) if tally is not None else (listed.listed, listed.totals)
        event = None
        if inspector:
            from earsiv.archive.access import query_params

            params: dict[str, Any] = {**query_params(asked), "sort": sort, "descending": descending,
                                      "offset": offset, "page_size": page_size}
            params.pop("limit", None)
            event = self.archive.access.record(who, "search", grants, params, listed.page)
        shown = self.disclosure.rows(who, self._whole_rows(scoped, page), asked)
        return Found(list(shown), count, totals, listed.cut, tally is not None, countable and tally is None,
                     listed.listed, self._holdings(who, [r.digest for r in shown]), event)

    def _whole_rows(self, scoped: SearchQuery, digests: list[str]) -> list[DocumentRow]:
        """The rows of *digests* (matches of *scoped*, words already matched), in that order."""
        if not digests:
            return []
        page = self.archive.index.search(dataclasses.replace(scoped, text=None, cursor=None, digests=tuple(digests),
                                                             limit=len(digests)))
        rows = {r.digest: r for r in page.rows}
        return [rows[d] for d in digests if d in rows]

    def lookup(self, who: Principal, ref: str) -> list[DocumentRow]:
        """The documents *who* may see that *ref* names: a digest or its first hex digits, an ETTN (any case,
        with or without dashes), or a document number.  Up to 20; one access event for an inspector."""
        ref = ref.strip()
        if not 4 <= len(ref) <= 128:
            raise InvalidInput("type a document number, an ETTN or a digest (at least 4 characters)")
        candidates: list[SearchQuery] = []
        if _UUID.match(ref):
            h = ref.replace("-", "").lower()
            candidates.append(SearchQuery(ettn=f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}", limit=20))
        if _HEX.match(ref):
            candidates.append(SearchQuery(digest_prefix=ref.lower(), limit=20))
        candidates.append(SearchQuery(doc_id=ref, limit=20))
        for q in candidates:
            page, _event = self.archive.access.search(who, q)
            if page.rows:
                return list(self.disclosure.rows(who, page.rows, q))
        return []

    def proof_status(self, row: DocumentRow) -> dict[str, Any]:
        """Where the document's leaf stands: the oldest stamped checkpoint covering it (the one its
        evidence and packages prove it by), else the newest signed one covering it, else none yet.
        Two lookups in the index's log catalog, whatever the archive's size (no status, no store)."""
        catalog = self.archive.index.log
        cp = catalog.first_stamped_after(row.log_index) or catalog.latest_checkpoint(covering=row.log_index)
        return {"log_index": row.log_index, "covered": cp is not None, "stamped": cp is not None and cp.state == "stamped",
                "checkpoint": None if cp is None else {"size": cp.size, "time": cp.time}}

    def related(self, who: Principal, row: DocumentRow) -> list[Related]:
        """The documents tied to *row* (a waybill and its answers, an invoice and its envelope and
        responses, a ledger and its berats) that *who* may see.

        None for an inspector: naming them would show documents its access event for this page
        does not name; the page links the references as the document writes them instead, and
        opening one is an event of its own.
        """
        if who.role == "inspector":
            return []
        pairs = self.archive.index.related(row)
        scope = self.archive.access.scope(who)
        digests = [d for _how, d in pairs]
        seen = set(digests) if scope is None else self.archive.index.visible(digests, scope)
        rows = {d: r for d in digests if d in seen and (r := self.archive.index.get(d)) is not None}
        shown = {r.digest: r for r in self.disclosure.rows(who, list(rows.values()))}
        return [Related(how, shown[d]) for how, d in pairs if d in shown]
