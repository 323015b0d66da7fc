"""Full-text search: one small interface, two engines, chosen by the deployment's index database.

- ``EmbeddedText`` (SQLite deployments, the embedded default): a tantivy index under
  ``HOME/fulltext``, derived from the log like the SQL index (invariant 5).  It remembers,
  in the same commit as the documents, how many leaves it has taken in (its mark); a crash
  loses at most the batch in flight, which the next ``catch_up`` takes in again (an upsert by
  digest, so taking a leaf twice is harmless).  The ingest feeds it the documents it has
  just parsed (``take``): a thread beside the ingest takes them in, batched, so a document is
  never read and parsed a second time for its words; it never blocks the ingest (a full
  queue drops the parsed copy, and that leaf is read from the log later).  What a crash or
  another process left is caught up from the log's leaves.  ``status`` shows the lag.
- ``DatabaseText`` (PostgreSQL deployments): the words live in the index database itself
  (``document_text``, a GIN-indexed ``tsvector``), written by the mirror in the same
  transaction as the document's rows: no lag, no copy per node, nothing to catch up.

Both are handed words made by ``documents.textterms`` and answer the same documents; they
rank differently (``search``).  A text query's rows are always read from the SQL index *with
the same scope and every other filter*: the full-text index is never the only guard of who
sees what.

``status`` reads the embedded lag without opening tantivy: the mark is also noted in
``HOME/cache/fulltext-mark.json`` beside the opstamp of tantivy's ``meta.json`` it belongs
to.  tantivy writes a new opstamp at every commit, so a note of another opstamp is stale and
the mark is read from the index itself.  (Two writers racing can leave a note that says less
than the index: the lag shown is then too large, never too small, until the next catch-up.)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from earsiv.archive.errors import StoreError, VerificationError
from earsiv.archive.log.entries import DocumentEntry, HoldingEntry, decode
from earsiv.documents.parse import parse_document
from earsiv.documents.textextract import extract_text
from earsiv.documents.xmlsafe import parse_xml
from earsiv.errors import EarsivError, InvalidInput
from earsiv.indexer.query import (
    MAX_LIMIT,
    MAX_TEXT_OFFSET,
    SearchPage,
    SearchQuery,
    decode_cursor,
    decode_text_cursor,
    encode_text_cursor,
)

if TYPE_CHECKING:
    from earsiv.archive.ingest import Logged
    from earsiv.archive.log.log import Log
    from earsiv.documents.metadata import DocumentMetadata
    from earsiv.documents.textterms import DocumentText
    from earsiv.indexer.db import Index, Tally
    from earsiv.indexer.fulltext import FullTextIndex, TextDoc

__all__ = ["DatabaseText", "EmbeddedText", "FullText"]

log = logging.getLogger("earsiv.textsearch")

BATCH = 256  # leaves per commit while catching up by reading documents: a crash loses at most this much
FEED_BATCH = 8192  # leaves per commit when the ingest handed the documents over (nothing to read)
FEED_CACHE = 8192  # parsed documents held for the feed at most; more are read from the log later
FEED_INTERVAL = 1.0  # seconds between the feed's commits while documents arrive
FEED_IDLE = 2.0  # seconds without documents before the feed lets tantivy's writer go


class FullText(Protocol):
    """What the archive asks of a full-text engine."""

    def lag(self) -> int:
        """Log leaves the SQL index has and the full-text index has not taken in yet."""

    def take(self, logged: Logged) -> None:
        """Documents a group just appended (and mirrored), as the ingest parsed them; never blocks."""

    def catch_up(self, progress: Callable[[int], None] | None = None, *, limit: int | None = None) -> int:
        """Take in what the log holds and the full-text index does not; return how many leaves."""

    def reset(self) -> None:
        """Empty it: a rebuild of the SQL index follows, whose documents are handed to ``take``."""

    def search(self, q: SearchQuery) -> SearchPage:
        """A page of ``q.text`` matches within q's scope and filters; rows read from SQL."""

    def matching(self, q: SearchQuery, limit: int) -> list[str]:
        """The digests of the first *limit* matches of ``q.text`` in this engine's order (``Index.matching``)."""

    def every_hit(self, q: SearchQuery, limit: int) -> list[str] | None:
        """The digests of every hit of ``q.text`` when there are at most *limit*, best first, of which the
        SQL filters are still to be applied; None past *limit* (or when the engine is the database)."""

    def tally(self, q: SearchQuery) -> Tally | None:
        """Count and totals of every match of ``q.text``; None when only a listing can tell them."""

    def close(self) -> None: ...


class DatabaseText:
    """PostgreSQL text search in the index database: written with the rows, so always caught up."""

    def __init__(self, index: Index) -> None:
        self.sql = index

    def lag(self) -> int:
        return 0

    def take(self, logged: Logged) -> None:
        pass  # the mirror wrote the words in the rows' transaction

    def catch_up(self, progress: Callable[[int], None] | None = None, *, limit: int | None = None) -> int:
        return 0

    def reset(self) -> None:
        pass  # rebuilt with the SQL index: its reset emptied the words, its replay writes them

    def search(self, q: SearchQuery) -> SearchPage:
        """Matches newest first (the SQL index's order and keyset cursor), scope and filters in the same query."""
        if q.cursor:
            try:
                decode_cursor(q.cursor)
            except ValueError as exc:  # the embedded engine's cursor, or a forged one
                raise InvalidInput(str(exc), name="cursor") from None
        return self.sql.search(q)

    def matching(self, q: SearchQuery, limit: int) -> list[str]:
        return self.sql.matching(q, limit)

    def every_hit(self, q: SearchQuery, limit: int) -> list[str] | None:
        return None  # the database applies the words with the other filters

    def tally(self, q: SearchQuery) -> Tally | None:
        return self.sql.tally(q)

    def close(self) -> None:
        pass


class EmbeddedText:
    """The tantivy index at *path*, fed by the ingest and from the *log* and the originals (*read*)."""

    def __init__(self, path: Path, *, index: Index, log: Log, read: Callable[[str], bytes], mark_note: Path) -> None:
        self.path = Path(path)
        self.sql = index
        self.log = log
        self.read = read
        self._mark_note = Path(mark_note)
        self._fulltext: FullTextIndex | None = None
        self._open_lock = threading.Lock()
        self._lock = threading.Lock()
        self._known: dict[str, tuple[DocumentMetadata, DocumentText | None]] = {}
        self._feeder: _Feeder | None = None

    @property
    def index(self) -> FullTextIndex:
        """The tantivy index, opened on first use."""
        with self._open_lock:
            if self._fulltext is None:
                from earsiv.indexer.fulltext import FullTextIndex

                self._fulltext = FullTextIndex(self.path)
            return self._fulltext

    def close(self) -> None:
        if self._feeder is not None:
            self._feeder.finish()
            self._feeder = None
        if self._fulltext is not None:
            self._fulltext.close()

    # -- the lag ------------------------------------------------------------------------

    def lag(self) -> int:
        mark = self._noted_mark()
        return max(0, self._indexed() - (self._mark() if mark is None else mark))

    def _indexed(self) -> int:
        return int(self.sql.meta_get("log_size") or 0)

    def _mark(self) -> int:
        """The mark as the index keeps it; noted for the next ``lag`` when the note is stale."""
        mark = self.index.mark()
        if self._noted_mark() != mark:
            self._note_mark(mark)
        return mark

    def _opstamp(self) -> int | None:
        try:
            return int(json.loads((self.path / "meta.json").read_text(encoding="utf-8"))["opstamp"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _noted_mark(self) -> int | None:
        try:
            note = json.loads(self._mark_note.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        opstamp = self._opstamp()
        if (opstamp is None or not isinstance(note, dict) or note.get("opstamp") != opstamp
                or not isinstance(note.get("mark"), int)):
            return None
        return note["mark"]

    def _note_mark(self, mark: int) -> None:
        opstamp = self._opstamp()
        if opstamp is None:
            return
        tmp = self._mark_note.with_name(f".{self._mark_note.name}.{os.getpid()}")
        try:
            self._mark_note.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"mark": mark, "opstamp": opstamp}), encoding="utf-8")
            os.replace(tmp, self._mark_note)
        except OSError:  # only a shortcut for `status`: without it the mark is read from the index
            tmp.unlink(missing_ok=True)

    # -- taking documents in -------------------------------------------------------------

    def take(self, logged: Logged) -> None:
        if len(self._known) < FEED_CACHE:
            self._known.update(logged.documents)
        if self._feeder is None:
            with self._open_lock:
                if self._feeder is None:
                    self._feeder = _Feeder(self)
                    self._feeder.start()
        self._feeder.wake.set()

    def catch_up(self, progress: Callable[[int], None] | None = None, *, limit: int | None = None,
                 batch: int = BATCH, hold: bool = False) -> int:
        """Take in leaves after the mark (at most *limit*), *batch* per commit; return how many.

        Documents the ingest handed over (``take``) are not read again; with only those to
        take, a batch may be larger (nothing is read, little is lost in a crash).
        """
        with self._lock:
            start, end = self._mark(), self._indexed()
            if limit is not None:
                end = min(end, start + limit)
            done = 0
            pending: list[int] = []
            wanted: dict[str, int | None] = {}  # digest -> its document leaf, if among these leaves
            to_read = 0
            # Up to what the SQL index has committed, never past it: during a rebuild the log's
            # catalog is being written, and nothing past the SQL index's mark may be looked up yet.
            for idx, leaf in self.log.iter_leaves(start, end):
                try:
                    entry = decode(leaf)
                except VerificationError:
                    entry = None  # reported by the ledger when it mirrored the leaf
                if isinstance(entry, (DocumentEntry, HoldingEntry)) and entry.digest not in wanted:
                    wanted[entry.digest] = idx if isinstance(entry, DocumentEntry) else None
                    to_read += entry.digest not in self._known
                elif isinstance(entry, DocumentEntry):
                    wanted[entry.digest] = idx
                pending.append(idx)
                # Never cut between a document's leaf and its holding's (the next leaf), which
                # would leave the holding's batch to read the document again.
                if len(pending) >= max(batch, FEED_BATCH if not to_read else 0) and not isinstance(entry, DocumentEntry):
                    self._take(wanted, pending[-1] + 1, hold=hold)
                    done += len(pending)
                    if progress:
                        progress(len(pending))
                    pending, wanted, to_read = [], {}, 0
            if pending:
                self._take(wanted, pending[-1] + 1, hold=hold)
                done += len(pending)
                if progress:
                    progress(len(pending))
            if self._known and self.index.mark() >= self._indexed():
                self._known.clear()  # nothing handed over is still to come
            return done

    def reset(self) -> None:
        with self._lock:
            self.index.reset()
            self._known.clear()

    def _take(self, wanted: Mapping[str, int | None], mark: int, *, hold: bool) -> None:
        digests = list(wanted)
        holdings = self.sql.access.holdings_of(digests)
        docs = []
        for digest in digests:
            doc = self._text_doc(digest, wanted[digest], holdings.get(digest, ()))
            if doc is not None:
                docs.append(doc)
        self.index.add(docs, mark=mark, hold=hold)
        self._note_mark(mark)

    def _text_doc(self, digest: str, leaf: int | None, holdings) -> TextDoc | None:
        from earsiv.indexer.fulltext import TextDoc

        known = self._known.pop(digest, None)
        if known is not None and leaf is not None:
            meta, text = known
            log_index = leaf
        else:
            row = self.sql.get(digest)
            if row is None:  # pragma: no cover - the SQL index has every leaf below log_size
                return None
            log_index = row.log_index
            if known is not None:
                meta, text = known
            else:
                try:
                    data = self.read(digest)
                except (StoreError, VerificationError):
                    return None  # a damaged blob: found by verify, and kept out of the full-text index
                tree = parse_xml(data, name=digest)
                meta = parse_document(data, name=row.source_name or digest, tree=tree)
                text = extract_text(tree, meta)
        if text is None:
            return None
        parties = [(p.role, p.id.strip()) for p in meta.parties if p.id and p.id.strip()]
        if meta.edefter and meta.edefter.vkn and all(pid != meta.edefter.vkn for _r, pid in parties):
            parties.append(("owner", meta.edefter.vkn.strip()))
        return TextDoc(digest=digest, log_index=log_index, kind=meta.kind, issue_date=meta.issue_date,
                       parties=tuple(parties), tenants=tuple(sorted(h.tenant for h in holdings)),
                       names=text.names, body=text.body)

    # -- searching -------------------------------------------------------------------------

    def search(self, q: SearchQuery) -> SearchPage:
        """Ranked by BM25, then newest first; pages by offset, frozen at the log position of the first."""
        assert q.text is not None
        if q.sees_nothing:
            return SearchPage((), None)
        if q.cursor:
            try:
                offset, max_log_index = decode_text_cursor(q.cursor)
            except ValueError as exc:  # a listing's cursor, or a forged one
                raise InvalidInput(str(exc), name="cursor") from None
        else:
            offset, max_log_index = 0, self.index.mark() - 1
        from earsiv.indexer.fulltext import TextScope

        scope = None
        if q.scoped:
            scope = TextScope(tenants=q.tenants, windows=q.windows, named=q.named)
        hits = self.index.search(q.text, vkn=q.vkn, date_from=q.date_from, date_to=q.date_to, kind=q.kind,
                                 scope=scope, max_log_index=max_log_index, limit=min(q.limit + 1, MAX_LIMIT),
                                 offset=offset)
        page = [h.digest for h in hits.hits[: q.limit]]
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


    def every_hit(self, q: SearchQuery, limit: int) -> list[str] | None:
        """Every hit from tantivy (best first, scope and its own filters applied) when there are at most
        *limit*: the list a find sorts, whose other filters the SQL index applies as it sorts."""
        assert q.text is not None
        if q.sees_nothing:
            return []
        from earsiv.indexer.fulltext import TextScope

        scope = TextScope(tenants=q.tenants, windows=q.windows, named=q.named) if q.scoped else None
        max_log_index = self.index.mark() - 1
        out: list[str] = []
        while True:
            hits = self.index.search(q.text, vkn=q.vkn, date_from=q.date_from, date_to=q.date_to, kind=q.kind,
                                     scope=scope, max_log_index=max_log_index, limit=MAX_LIMIT, offset=len(out))
            if hits.total > limit:
                return None
            out.extend(h.digest for h in hits.hits)
            if len(hits.hits) < MAX_LIMIT or len(out) >= hits.total:
                return out

    def matching(self, q: SearchQuery, limit: int) -> list[str]:
        """Hits from tantivy (best first), narrowed by the SQL index's other filters and scope
        (``Index.matching`` with digests), until *limit* survive or the hits end."""
        assert q.text is not None
        if q.sees_nothing:
            return []
        from earsiv.indexer.fulltext import TextScope

        scope = TextScope(tenants=q.tenants, windows=q.windows, named=q.named) if q.scoped else None
        max_log_index = self.index.mark() - 1
        sql = dataclasses.replace(q, text=None, cursor=None)
        out: list[str] = []
        offset = 0
        while len(out) < limit and offset <= MAX_TEXT_OFFSET:
            # As many hits as are still wanted: the SQL filters may drop some, and then it asks again.
            want = min(limit - len(out), MAX_LIMIT)
            hits = self.index.search(q.text, vkn=q.vkn, date_from=q.date_from, date_to=q.date_to, kind=q.kind,
                                     scope=scope, max_log_index=max_log_index, limit=want, offset=offset)
            if hits.hits:
                out.extend(self.sql.matching(dataclasses.replace(sql, digests=tuple(h.digest for h in hits.hits)), want))
            offset += len(hits.hits)
            if len(hits.hits) < want or offset >= hits.total:
                break
        return out

    def tally(self, q: SearchQuery) -> Tally | None:
        return None  # tantivy counts its hits, not what the SQL filters leave of them


class _Feeder(threading.Thread):
    """Takes what the ingest handed over into the index, beside the ingest, a batch at a time."""

    def __init__(self, text: EmbeddedText) -> None:
        super().__init__(name="earsiv-fulltext-feed", daemon=True)
        self.text = text
        self.wake = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        last = 0.0
        held = False
        while not self.stop.is_set():
            woken = self.wake.wait(FEED_IDLE)
            if not woken:
                if held:  # idle: merges finish and the writer's lock goes to whoever needs it
                    self._quietly(self.text.index.release)
                    held = False
                continue
            # Documents arrive in groups of 64: gather a second's worth into one commit.
            self.stop.wait(max(0.0, FEED_INTERVAL - (time.monotonic() - last)))
            self.wake.clear()
            held = self._quietly(lambda: self.text.catch_up(hold=True)) or held
            last = time.monotonic()
        self._quietly(self.text.catch_up)
        self._quietly(self.text.index.release)

    def _quietly(self, work: Callable[[], object]) -> bool:
        try:
            work()
        except EarsivError as exc:  # the lag stays and is shown; the next round or catch-up tries again
            log.warning("full-text indexing beside the ingest failed: %s", exc)
            return False
        return True

    def finish(self) -> None:
        """Take in what was handed over, then stop."""
        self.stop.set()
        self.wake.set()
        self.join()
