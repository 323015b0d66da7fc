"""The use cases the web pages add: signing in, finding with totals and any sort, opening by any name.

Part of ``ArchiveService`` (``service.py``).  Every one goes through the same access rules as
the API's (``AccessControl.scoped`` and ``document``): a page sees what its principal's token
sees, and an inspector's every page is an access event.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from earsiv.archive.sessions import NewSession, SignedIn, WebSessions
from earsiv.errors import InvalidInput
from earsiv.indexer.query import SearchQuery

if TYPE_CHECKING:
    from earsiv.archive.access import AccessEvents, Principal
    from earsiv.archive.archive import Archive
    from earsiv.archive.disclosure import Disclosure
    from earsiv.indexer.accessrows import HoldingRow
    from earsiv.indexer.rows import DocumentRow

__all__ = ["FIND_MAX", "SORTS", "Found", "Related", "WebUseCases"]

FIND_MAX = 10_000  # rows a list reads to count, total and sort; beyond it the page says the list was cut

_NONE_LAST = (1,)


def _text_key(value: str | None) -> tuple:
    return _NONE_LAST if not value else (0, value.casefold())


# column -> sort key of a row; a missing value sorts last either way round
SORTS: dict[str, Callable[[DocumentRow], tuple]] = {
    "date": lambda r: (0, r.issue_date, r.issue_time or "") if r.issue_date else _NONE_LAST,
    "id": lambda r: _text_key(r.doc_id),
    "kind": lambda r: _text_key(r.kind),
    "supplier": lambda r: _text_key(r.supplier_name or r.supplier_id),
    "customer": lambda r: _text_key(r.customer_name or r.customer_id),
    "amount": lambda r: _NONE_LAST if r.payable_amount is None else (0, r.currency or "", r.payable_amount),
    "received": lambda r: (0, r.log_index),
}
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^[0-9a-fA-F]{4,64}$")


@dataclass(frozen=True, slots=True)
class Found:
    rows: list[DocumentRow]  # this page, sorted
    count: int  # documents matched (at most FIND_MAX counted)
    totals: dict[str, Decimal]  # sum of payable amounts per currency, over every matched document
    cut: bool  # more matched than FIND_MAX
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
             page_size: int = 50) -> Found:
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
        rows: list[DocumentRow] = []
        page_q = scoped
        while len(rows) <= FIND_MAX:
            page = self.archive.search(page_q)
            rows.extend(page.rows)
            if not page.next_cursor:
                break
            page_q = page_q.after(page.next_cursor)
        cut = len(rows) > FIND_MAX
        rows = rows[:FIND_MAX]
        totals: dict[str, Decimal] = {}
        for r in rows:
            if r.payable_amount is not None:
                cur = r.currency or "?"
                totals[cur] = totals.get(cur, Decimal(0)) + r.payable_amount
        key = SORTS[sort]
        present = sorted((r for r in rows if key(r) != _NONE_LAST), key=key, reverse=descending)
        ordered = present + [r for r in rows if key(r) == _NONE_LAST]
        shown = ordered[offset: offset + page_size]
        event = None
        if who.role == "inspector":
            from earsiv.archive.access import query_params

            params: dict[str, Any] = {**query_params(asked), "sort": sort, "descending": descending,
                                      "offset": offset, "page_size": page_size}
            params.pop("limit", None)
            event = self.archive.access.record(who, "search", grants, params, [r.digest for r in ordered])
        shown = list(self.disclosure.rows(who, shown, asked))
        return Found(shown, len(rows), dict(sorted(totals.items())), cut,
                     self._holdings(who, [r.digest for r in shown]), event)

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
        """Whether the newest signed checkpoint covers the document's leaf, and its time stamp."""
        st = self.archive.status()
        cp = st.last_checkpoint or {}
        size = cp.get("size") or 0
        return {"log_index": row.log_index, "checkpoint": cp or None, "covered": size > row.log_index,
                "stamp": st.last_stamp, "unstamped": st.unstamped_checkpoints}

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
