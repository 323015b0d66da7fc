"""Full-text search, kept in step with the log off the ingest's path.

The whoosh index under ``HOME/fulltext`` is derived like the SQL index (invariant 5): it is
filled from the log's leaves (documents and later holdings) and the original bytes, and
remembers, in the same commit as the documents, how many leaves it has taken in (its mark).
A crash loses at most the batch in flight, which the next ``catch_up`` takes in again (an
upsert by digest, so taking a leaf twice is harmless).  The ingest never waits for it: a
background worker (``earsiv serve``) or the CLI after an ingest calls ``catch_up``, and
``status`` shows the lag.

``status`` reads the lag without opening whoosh (a fifth of a second of imports for a
command that shows one number): the mark is also noted in ``HOME/cache/fulltext-mark.json``
beside the name of the whoosh table of contents it belongs to.  Whoosh writes a new table of
contents at every commit, so a note whose table is not the current one is stale and the mark
is read from whoosh itself.  (Two writers racing can leave a note that says less than
whoosh: the lag shown is then too large, never too small, until the next catch-up.)

A text query is answered by whoosh (ranked, then newest first) within the caller's scope, and
the page's rows are then read from the SQL index *with the same scope and every other filter*
— what the SQL index would not show is never shown, whatever the full-text index holds.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from earsiv.archive.errors import StoreError, VerificationError
from earsiv.archive.log.entries import DocumentEntry, HoldingEntry, decode
from earsiv.documents.parse import parse_document
from earsiv.documents.xmlsafe import parse_xml
from earsiv.indexer.query import (
    MAX_LIMIT,
    MAX_TEXT_OFFSET,
    SearchPage,
    SearchQuery,
    decode_text_cursor,
    encode_text_cursor,
)

if TYPE_CHECKING:
    from earsiv.archive.log.log import Log
    from earsiv.indexer.db import Index
    from earsiv.indexer.fulltext import FullTextIndex

__all__ = ["TextSearch"]

BATCH = 256  # leaves per commit while catching up: a crash loses at most this much work
REBUILD_BATCH = 2048  # whoosh merges small segments at each commit; a rebuild commits less often


class TextSearch:
    """The full-text index at *path*, fed from the *log* and the originals (*read*), checked against the SQL *index*."""

    def __init__(self, path: Path, *, index: Index, log: Log, read: Callable[[str], bytes], mark_note: Path) -> None:
        self.path = Path(path)
        self.sql = index
        self.log = log
        self.read = read
        self._mark_note = Path(mark_note)
        self._fulltext: FullTextIndex | None = None
        self._open_lock = threading.Lock()
        self._lock = threading.Lock()

    @property
    def index(self) -> FullTextIndex:
        """The whoosh index, opened on first use."""
        with self._open_lock:
            if self._fulltext is None:
                from earsiv.indexer.fulltext import FullTextIndex

                self._fulltext = FullTextIndex(self.path)
            return self._fulltext

    def close(self) -> None:
        if self._fulltext is not None:
            self._fulltext.close()

    def lag(self) -> int:
        """Leaves the SQL index has and the full-text index has not taken in yet."""
        mark = self._noted_mark()
        return max(0, self._indexed() - (self._mark() if mark is None else mark))

    def _indexed(self) -> int:
        return int(self.sql.meta_get("log_size") or 0)

    def _mark(self) -> int:
        """The mark as whoosh keeps it; noted for the next ``lag`` when the note is stale."""
        mark = self.index.mark()
        if self._noted_mark() != mark:
            self._note_mark(mark)
        return mark

    def _toc(self) -> str | None:
        # Whoosh's table of contents of the current generation, written anew at every commit.
        tocs = [n for n in os.listdir(self.path) if n.endswith(".toc")] if self.path.is_dir() else []
        return tocs[0] if len(tocs) == 1 else None

    def _noted_mark(self) -> int | None:
        try:
            note = json.loads(self._mark_note.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        toc = self._toc()
        if toc is None or not isinstance(note, dict) or note.get("toc") != toc or not isinstance(note.get("mark"), int):
            return None
        return note["mark"]

    def _note_mark(self, mark: int) -> None:
        toc = self._toc()
        if toc is None:
            return
        tmp = self._mark_note.with_name(f".{self._mark_note.name}.{os.getpid()}")
        try:
            self._mark_note.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"mark": mark, "toc": toc}), encoding="utf-8")
            os.replace(tmp, self._mark_note)
        except OSError:  # only a shortcut for `status`: without it the mark is read from whoosh
            tmp.unlink(missing_ok=True)

    def catch_up(self, progress: Callable[[int], None] | None = None, *, limit: int | None = None,
                 batch: int = BATCH) -> int:
        """Take in leaves after the mark (at most *limit*), *batch* per commit; return how many."""
        with self._lock:
            start, end = self._mark(), self._indexed()
            if limit is not None:
                end = min(end, start + limit)
            done = 0
            pending: list[int] = []
            digests: dict[str, None] = {}
            for idx, leaf in self.log.iter_leaves(start):
                if idx >= end:
                    break
                try:
                    entry = decode(leaf)
                except VerificationError:
                    entry = None  # reported by the ledger when it mirrored the leaf
                if isinstance(entry, (DocumentEntry, HoldingEntry)):
                    digests[entry.digest] = None
                pending.append(idx)
                if len(pending) >= batch:
                    self._take(list(digests), pending[-1] + 1)
                    done += len(pending)
                    if progress:
                        progress(len(pending))
                    pending, digests = [], {}
            if pending:
                self._take(list(digests), pending[-1] + 1)
                done += len(pending)
                if progress:
                    progress(len(pending))
            return done

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        with self._lock:
            self.index.reset()
        return self.catch_up(progress, batch=REBUILD_BATCH)

    def _take(self, digests: list[str], mark: int) -> None:
        from earsiv.indexer.fulltext import TextDoc, extract_text

        holdings = self.sql.access.holdings_of(digests)
        docs = []
        for digest in digests:
            row = self.sql.get(digest)
            if row is None:  # pragma: no cover - the SQL index has every leaf below log_size
                continue
            try:
                data = self.read(digest)
            except (StoreError, VerificationError):
                continue  # a damaged blob: found by verify, and kept out of the full-text index
            tree = parse_xml(data, name=digest)
            meta = parse_document(data, name=row.source_name or digest, tree=tree)
            names, body = extract_text(tree, meta)
            parties = [(p.role, p.id.strip()) for p in meta.parties if p.id and p.id.strip()]
            if meta.edefter and meta.edefter.vkn and all(pid != meta.edefter.vkn for _r, pid in parties):
                parties.append(("owner", meta.edefter.vkn.strip()))
            docs.append(TextDoc(digest=digest, log_index=row.log_index, kind=meta.kind, issue_date=meta.issue_date,
                                parties=tuple(parties), tenants=tuple(sorted(h.tenant for h in holdings.get(digest, ()))),
                                names=names, body=body))
        self.index.add(docs, mark=mark)
        self._note_mark(mark)

    def search(self, q: SearchQuery) -> SearchPage:
        """A page of ``q.text`` matches within q's scope, best first; the rows read from SQL."""
        assert q.text is not None
        if q.sees_nothing:
            return SearchPage((), None)
        if q.cursor:
            offset, max_log_index = decode_text_cursor(q.cursor)
        else:
            offset, max_log_index = 0, self.index.mark() - 1
        from earsiv.indexer.fulltext import TextScope

        scope = None
        if q.tenants is not None or q.windows is not None:
            scope = TextScope(tenants=q.tenants, windows=q.windows)
        hits = self.index.search(q.text, vkn=q.vkn, date_from=q.date_from, date_to=q.date_to, kind=q.kind,
                                 scope=scope, max_log_index=max_log_index, limit=min(q.limit + 1, MAX_LIMIT),
                                 offset=offset)
        page = [h.digest for h in hits.hits[: q.limit]]
        # One hit more than asked says a next page exists; at the largest page
        # the total (whoosh's upper bound) decides, at worst one empty page later.
        more = len(hits.hits) > q.limit or (len(page) == q.limit and hits.total > offset + q.limit)
        # Pages end at the deepest offset a cursor may carry: narrow the words to see further.
        more = more and offset + q.limit <= MAX_TEXT_OFFSET
        if not page:
            return SearchPage((), None)
        # Every other filter, and the scope once more, from the SQL index.
        sql = dataclasses.replace(q, text=None, cursor=None, digests=tuple(page), limit=len(page))
        rows = {r.digest: r for r in self.sql.search(sql).rows}
        ordered = tuple(rows[d] for d in page if d in rows)
        return SearchPage(ordered, encode_text_cursor(offset + q.limit, max_log_index) if more else None)
