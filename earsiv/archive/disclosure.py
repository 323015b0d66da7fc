"""What a caller is shown *of* the documents it may see: the rules after "may it see this at all".

``access.py`` decides which documents a caller sees; this module decides which of their facts
it is told, because some facts of a document it may see come from documents it may not:

- **How the blob is kept.** A blob compressed with a dictionary has a size that depends on
  the dictionary's bytes, and the dictionary's name is the digest of (the tail of) the
  document it was made of.  Both are shown only to callers who may see that document (an
  admin always); otherwise ``stored_size``, ``dict_digest`` and ``blob_alt`` (a hash of the
  frame) are None.  A blob without a dictionary depends on its own bytes only: its size is
  shown.  Each tenant's documents are compressed with dictionaries of its own
  (``blobs.stream_key``), so a tenant sees this for what it archived itself; what it is not
  shown is, above all, the size of a shared holding's blob, which is the first holder's.
- **Whose name it is shown in, and whether that taxpayer holds it.** An inspector sees a
  document because a grant names a taxpayer the document names, and anyone may archive a
  document naming anyone: a row no holding of that taxpayer backs (archived only by another
  tenant) is flagged ``not-held-by-taxpayer``, and so is a row a tenant's principal sees only
  because it names one of its taxpayers.  Packages flag it in their manifest and prints in
  their evidence (``package/build.py``, ``export.py``).
- **Conflicts.** An ingest answer's ``conflicts_with`` names the earlier documents with the
  same ETTN that the caller may see (an admin: all), and its status is ``conflict`` only if
  it names one: a bare "conflict" would tell a tenant that someone holds a document with an
  ETTN it guessed.  The document's leaf keeps the whole list (FORMAT.md §5).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from earsiv.archive.mirror import dictionary_source_key
from earsiv.indexer.query import SearchQuery

if TYPE_CHECKING:
    from earsiv.archive.access import AccessControl, Principal
    from earsiv.archive.ingest import IngestResult
    from earsiv.indexer.db import Index
    from earsiv.indexer.rows import DocumentRow

__all__ = ["NOT_HELD", "Disclosure"]

# The flag of a document shown in a taxpayer's name that no holding of that taxpayer backs.
NOT_HELD = "not-held-by-taxpayer"


class Disclosure:
    def __init__(self, index: Index, access: AccessControl) -> None:
        self.index = index
        self.access = access

    def rows(self, who: Principal, rows: Iterable[DocumentRow], q: SearchQuery | None = None) -> tuple[DocumentRow, ...]:
        """*rows* (documents *who* may see; found by *q*, if a search) as *who* is shown them."""
        rows = tuple(rows)
        if who.is_admin or not rows:
            return rows
        hidden = self._hidden_blobs(who, rows)
        unheld = self.unheld(who, [r.digest for r in rows], q)
        out = []
        for r in rows:
            changes: dict[str, Any] = {}
            if r.digest in hidden:
                changes.update(stored_size=None, dict_digest=None, blob_alt=None)
            if r.digest in unheld and NOT_HELD not in r.flags:
                changes["flags"] = (*r.flags, NOT_HELD)
            out.append(dataclasses.replace(r, **changes) if changes else r)
        return tuple(out)

    def shown_for(self, who: Principal, digests: Sequence[str], q: SearchQuery | None = None) -> dict[str, set[str]]:
        """digest -> the taxpayers in whose name *who* is shown it: a tenant's principal its own, an
        inspector those of its grants (for *q*) that reach the document; nothing for an admin."""
        if who.role in ("integrator", "accountant"):
            return {d: set(who.tenants) for d in digests}
        if who.role != "inspector":
            return {}
        by_vkn: dict[str, list] = {}
        for g in self.access.scoped(who, q or SearchQuery())[1]:
            by_vkn.setdefault(g.vkn, []).append((g.vkn, g.date_from, g.date_to))
        out: dict[str, set[str]] = {}
        for vkn, windows in by_vkn.items():
            for d in self.index.visible(digests, SearchQuery(windows=tuple(windows))):
                out.setdefault(d, set()).add(vkn)
        return out

    def unheld(self, who: Principal, digests: Sequence[str], q: SearchQuery | None = None) -> set[str]:
        """Those of *digests* that no holding of a taxpayer they are shown to *who* in the name of backs."""
        shown_for = self.shown_for(who, digests, q)
        taxpayers = set().union(*shown_for.values()) if shown_for else set()
        if not taxpayers:
            return set()
        holders = self.index.access.holdings_of(digests, taxpayers)
        return {d for d, names in shown_for.items() if not {h.tenant for h in holders.get(d, ())} & names}

    def ingest_result(self, who: Principal, res: IngestResult) -> IngestResult:
        """An ingest answer as *who* is told it."""
        if who.is_admin or not res.conflicts_with:
            return res
        scope = self.access.scope(who)
        seen = self.index.visible(res.conflicts_with, scope) if scope is not None else set(res.conflicts_with)
        shown = [d for d in res.conflicts_with if d in seen]
        if shown == res.conflicts_with:
            return res
        return dataclasses.replace(res, conflicts_with=shown,
                                   status=res.status if shown or res.status != "conflict" else "stored")

    def _hidden_blobs(self, who: Principal, rows: tuple[DocumentRow, ...]) -> set[str]:
        """Digests of the rows whose blob's dictionary is made of a document *who* may not see."""
        dicts = {r.dict_digest for r in rows if r.dict_digest is not None}
        if not dicts:
            return set()
        keys = {dictionary_source_key(d): d for d in dicts}
        sources = {keys[k]: v for k, v in self.index.meta_get_many(sorted(keys)).items()}
        scope = self.access.scope(who)
        seen = self.index.visible(sorted(set(sources.values())), scope) if scope is not None else set(sources.values())
        # A dictionary whose source the index does not know (made before the index recorded
        # sources) is treated as one the caller may not see.
        shown = {d for d, src in sources.items() if src in seen}
        return {r.digest for r in rows if r.dict_digest is not None and r.dict_digest not in shown}
