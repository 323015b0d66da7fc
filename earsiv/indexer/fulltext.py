"""The full-text index: Turkish party names and document text, searchable from any keyboard.

A whoosh index in its own directory, derived like the SQL index (DESIGN.md:
everything in it can be rebuilt from the store).  Text is folded with
:func:`fold_turkish` *before* whoosh sees it, so the stored schema holds only
whoosh's own analyzers and never pickles a class of ours.

Fields (format 1):

- ``digest``: the identity; ID, unique, kept as a column (the only value read back).
- ``text``: one field, tokens made here: every prefix (1..20 letters) of each
  folded name word, the whole name word if longer, and each folded body word.
  A query word is then exactly one term lookup and one posting list: it finds
  names by prefix (``anon`` → ``ANONİM``) and body text by word, without a
  lexicon walk or a union of two fields (measured: the union and the second
  BM25 length lookup per posting doubled the query time).
- ``kind``, ``party`` (``vkn`` for any role, ``i:vkn`` for INSPECTABLE_ROLES),
  ``tenant`` (``-`` = held without a tenant): filter terms, never scored.
- ``date`` (date ordinal, 0 = none), ``log`` (leaf index): columns only, not indexed.
  whoosh indexes a NUMERIC value as 8-16 terms (one per precision tier), which
  made documents ~30 % slower to add, and a range query is a union of many
  posting lists (measured: an inspector window took 250 ms at 100k documents).
  Dates and log indexes are checked instead on the documents the text query
  and the term filters already matched, before they are scored.

One special document (kind ``~mark``, digest ``~mark:N``) holds the caller's
mark, replaced in the same commit as the documents it accounts for.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from whoosh import columns, fields, index
from whoosh import query as wq
from whoosh.analysis import SpaceSeparatedTokenizer
from whoosh.filedb.filestore import FileStorage
from whoosh.reading import EmptyReader, MultiReader, SegmentReader
from whoosh.searching import Searcher
from whoosh.writing import CLEAR

from earsiv.documents.textextract import INSPECTABLE_ROLES, MAX_BODY_CHARS, MAX_NAMES_CHARS, extract_text, fold_turkish
from earsiv.indexer.errors import IndexFailure, index_failure
from earsiv.indexer.ftscan import TermScan, WordsScan
from earsiv.indexer.ftsearch import (
    MAX_TOKEN,
    NO_TENANT,
    WORD_RE,
    FastBM25,
    PageCollector,
    Require,
    SegmentCache,
    estimate,
    filter_query,
    key,
    query_words,
    text_query,
)
from earsiv.indexer.query import MAX_TEXT_OFFSET

__all__ = [
    "INSPECTABLE_ROLES",
    "FullTextIndex",
    "TextDoc",
    "TextHit",
    "TextPage",
    "TextScope",
    "extract_text",
    "fold_turkish",
]

FORMAT = 1
_FORMAT_FILE = "earsiv-fulltext.json"
_INDEX_NAME = "fulltext"
PREFIX_MAX = 20  # name words are indexed by every prefix up to this length, and whole
MAX_LIMIT = 1000
BULK_BATCH = 10_000
_LOCK_TIMEOUT = 60.0  # seconds to wait for another writer (only one process writes; see add)
MAX_OFFSET = MAX_TEXT_OFFSET  # one bound with the cursors that carry the offset
_MARK_KIND = "~mark"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _schema() -> fields.Schema:
    return fields.Schema(
        digest=fields.ID(stored=False, unique=True, sortable=True),
        text=fields.TEXT(analyzer=SpaceSeparatedTokenizer(), phrase=False),
        kind=fields.ID(),
        party=fields.KEYWORD(),
        tenant=fields.KEYWORD(),
        date=fields.COLUMN(columns.NumericColumn("i", default=0)),
        log=fields.COLUMN(columns.NumericColumn("q", default=0)),
    )


@dataclass(frozen=True, slots=True)
class TextDoc:
    digest: str
    log_index: int
    kind: str
    issue_date: dt.date | None
    parties: tuple[tuple[str, str], ...]
    tenants: tuple[str, ...]
    names: str
    body: str

    def __post_init__(self) -> None:
        if not isinstance(self.digest, str) or not _HEX64.match(self.digest):
            raise ValueError(f"digest must be 64 lowercase hex characters, not {self.digest!r}")
        if not isinstance(self.log_index, int) or isinstance(self.log_index, bool) or not 0 <= self.log_index < 2**63:
            raise ValueError(f"log_index must be a non-negative integer, not {self.log_index!r}")
        if not isinstance(self.kind, str) or not self.kind or self.kind.startswith("~") or not key(self.kind) == self.kind:
            raise ValueError(f"kind must be a non-empty word, not {self.kind!r}")
        if self.issue_date is not None and (not isinstance(self.issue_date, dt.date)
                                            or isinstance(self.issue_date, dt.datetime)):
            raise ValueError(f"issue_date must be a date or None, not {self.issue_date!r}")
        for pair in self.parties:
            if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(v, str) and v for v in pair)):
                raise ValueError(f"parties must be (role, id) pairs of non-empty strings, not {pair!r}")
        if not all(isinstance(t, str) for t in self.tenants):
            raise ValueError("tenants must be strings ('' for a holding without a tenant)")
        if not isinstance(self.names, str) or not isinstance(self.body, str):
            raise TypeError("names and body must be strings")


@dataclass(frozen=True, slots=True)
class TextScope:
    """What a principal may see. None = unrestricted on that axis.

    tenants: the document must be held by one of these tenants.  windows:
    inspector grants (vkn, from, to): the vkn is a party in one of
    INSPECTABLE_ROLES and the issue date is within [from, to]; a document
    without an issue date never matches a window; an empty tuple sees nothing.
    With both, a document matches if it satisfies either.
    """

    tenants: frozenset[str] | None = None
    windows: tuple[tuple[str, dt.date, dt.date], ...] | None = None

    def __post_init__(self) -> None:
        if self.tenants is not None and not all(isinstance(t, str) for t in self.tenants):
            raise ValueError("scope tenants must be strings")
        for w in self.windows or ():
            if not (len(w) == 3 and isinstance(w[0], str) and isinstance(w[1], dt.date) and isinstance(w[2], dt.date)):
                raise ValueError(f"a window is (vkn, from date, to date), not {w!r}")


@dataclass(frozen=True, slots=True)
class TextHit:
    digest: str
    score: float


@dataclass(frozen=True, slots=True)
class TextPage:
    """One page of hits, best first.

    total: the number of matching documents.  Exact whenever every posting was
    looked at: always when fewer documents match than ``offset + limit``, and
    usually otherwise.  When the search skipped blocks of postings that could
    not reach the page, it is an upper bound: the matches counted plus the size
    of the skipped blocks (one word), or whoosh's estimate, the size of the
    smallest posting list involved (several words).
    """

    hits: tuple[TextHit, ...]
    total: int


class FullTextIndex:
    """Upserts from one writer at a time; searches from any number of threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._searchers: list = []
        self._searchers_lock = threading.Lock()
        self._generation = 0
        self._closed = False
        self._cache = SegmentCache()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._check_format()
            storage = FileStorage(str(self.path))
            if index.exists(storage, indexname=_INDEX_NAME):
                self._ix = storage.open_index(indexname=_INDEX_NAME)
            else:
                self._ix = storage.create_index(_schema(), indexname=_INDEX_NAME)
                (self.path / _FORMAT_FILE).write_text(json.dumps({"format": FORMAT}) + "\n")
        except IndexFailure:
            raise
        except Exception as exc:
            raise index_failure("cannot open the full-text index", exc, self.path, name=str(self.path)) from exc

    def _check_format(self) -> None:
        fmt = self.path / _FORMAT_FILE
        if not fmt.exists():
            if any(self.path.glob(f"_{_INDEX_NAME}_*.toc")):
                raise IndexFailure("full-text index without a format marker; rebuild it", name=str(self.path))
            return
        try:
            version = json.loads(fmt.read_text())["format"]
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexFailure("unreadable full-text format marker; rebuild it", name=str(self.path)) from exc
        if version != FORMAT:
            raise IndexFailure(f"full-text index format {version!r} is not known (this version reads {FORMAT})",
                               name=str(self.path))

    # --- writing ------------------------------------------------------------------------

    def add(self, docs: Sequence[TextDoc], *, mark: int | None = None) -> None:
        """Upsert *docs* by digest and store *mark*, all in one commit (atomic: all or nothing)."""
        if mark is not None and (not isinstance(mark, int) or mark < 0):
            raise ValueError(f"mark must be a non-negative integer, not {mark!r}")
        latest: dict[str, TextDoc] = {}
        for doc in docs:
            if not isinstance(doc, TextDoc):
                raise TypeError(f"expected TextDoc, not {type(doc).__name__}")
            latest[doc.digest] = doc  # the last of a batch wins, as a later batch would
        if not latest and mark is None:
            return
        self._require_open()
        with self._write_lock:
            try:
                writer = self._ix.writer(timeout=_LOCK_TIMEOUT, limitmb=256)
            except Exception as exc:
                raise index_failure("cannot lock the full-text index for writing", exc, self.path, name=str(self.path)) from exc
            try:
                lookup = self._lookup_searcher(writer)
                # Upsert: a lexicon lookup per digest, and a delete only for those already there
                # (update_document runs a query per document, which grows with the segments).
                for doc in latest.values():
                    if ("digest", doc.digest) in lookup.reader():
                        writer.delete_by_term("digest", doc.digest, searcher=lookup)
                    writer.add_document(**_fields(doc))
                if mark is not None:
                    writer.delete_by_term("kind", _MARK_KIND, searcher=lookup)
                    writer.add_document(digest=f"~mark:{mark}", kind=_MARK_KIND)
                # A bulk batch (a rebuild) lands as its own segment: merging 50k-document segments in
                # pure Python made each commit slower than the last (measured: 73 s, then 209 s per
                # 50,000 documents by 200,000).  Small batches let whoosh merge small segments.
                writer.commit(merge=len(latest) < BULK_BATCH)
            except BaseException as exc:
                writer.cancel()
                if isinstance(exc, Exception):
                    raise index_failure("cannot write the full-text index", exc, self.path, name=str(self.path)) from exc
                raise
            self._generation += 1

    def _lookup_searcher(self, writer):
        """A searcher over exactly the writer's committed segments, for finding what to replace.

        whoosh's own (``writer.searcher()``) opens every segment afresh: ~0.5 s at
        1,000,000 documents, on every add.  This thread's searcher already has
        them open; with the write lock held no commit can slip in, so once it is
        up to date it shows the writer's segments in the writer's order, and its
        document numbers are the writer's.  Checked, not assumed.
        """
        searcher = self._searcher()
        ours = [r.segment().segment_id() for r, _ in searcher.reader().leaf_readers() if hasattr(r, "_perdoc")]
        if ours == [segment.segment_id() for segment in writer.segments]:
            return searcher
        return writer.searcher()

    def reset(self) -> None:
        """Empty the index (a rebuild starts from nothing); the mark goes back to 0."""
        self._require_open()
        with self._write_lock:
            try:
                writer = self._ix.writer(timeout=_LOCK_TIMEOUT)
                writer.commit(mergetype=CLEAR)
            except Exception as exc:
                raise index_failure("cannot empty the full-text index", exc, self.path, name=str(self.path)) from exc
            self._generation += 1

    # --- reading ------------------------------------------------------------------------

    def mark(self) -> int:
        searcher = self._searcher()
        docnum = searcher.document_number(kind=_MARK_KIND)
        if docnum is None:
            return 0
        return int(searcher.reader().column_reader("digest")[docnum].split(":", 1)[1])

    def count(self) -> int:
        searcher = self._searcher()
        marks = 1 if searcher.document_number(kind=_MARK_KIND) is not None else 0
        return searcher.doc_count() - marks

    def search(self, text: str, *, vkn: str | None = None, date_from: dt.date | None = None,
               date_to: dt.date | None = None, kind: str | None = None, scope: TextScope | None = None,
               max_log_index: int | None = None, limit: int = 100, offset: int = 0) -> TextPage:
        """Documents matching every word of *text* (plain words, not a query language), best first."""
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
        if not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
            raise ValueError(f"offset must be between 0 and {MAX_OFFSET}")
        words = query_words(text)
        if not words:
            return TextPage(hits=(), total=0)
        filters = filter_query(vkn=vkn, kind=kind, scope=scope, cache=self._cache)
        if filters is wq.NullQuery:
            return TextPage(hits=(), total=0)
        dates = None
        if date_from is not None or date_to is not None:
            dates = (date_from.toordinal() if date_from else 1, date_to.toordinal() if date_to else 2**31 - 1)
            if dates[0] > dates[1]:
                return TextPage(hits=(), total=0)
        if max_log_index is not None and max_log_index < 0:
            return TextPage(hits=(), total=0)
        for attempt in (1, 2):
            searcher = self._searcher()
            if not searcher.doc_count():
                return TextPage(hits=(), total=0)
            try:
                return self._run(searcher, words, filters, dates, max_log_index, limit, offset)
            except FileNotFoundError as exc:
                # A file of an old commit vanished under this thread's searcher: reopen once.
                self._local.generation = -1
                if attempt == 2:
                    raise IndexFailure(f"full-text search failed: {exc}", name=str(self.path)) from exc
            except Exception as exc:
                raise IndexFailure(f"full-text search failed: {exc}", name=str(self.path)) from exc
        raise AssertionError("unreachable")

    def _run(self, searcher, words, filters, dates, max_log_index, limit, offset) -> TextPage:
        args = (filters, dates, max_log_index, offset + limit)
        scan = TermScan(searcher, self._cache, words[0], *args) if len(words) == 1 else None
        if scan is None or not scan.applies():
            scan = WordsScan(searcher, self._cache, words, *args)
        if scan.applies():
            hits, total = scan.run()
            return TextPage(hits=tuple(TextHit(d, score) for d, score in hits[offset:]), total=total)
        words_query = text_query(words)
        q = Require(words_query, filters) if filters is not None else words_query
        collector = PageCollector(offset + limit, self._cache, dates=dates, max_log=max_log_index)
        searcher.search_with_collector(q, collector)
        hits = collector.page()[offset:]
        if collector.skipped_times:
            total = max(collector.total, estimate(searcher, q))
        else:
            total = collector.total
        return TextPage(hits=tuple(TextHit(d, score) for d, score in hits), total=total)

    def close(self) -> None:
        with self._searchers_lock:
            self._closed = True
            for searcher in self._searchers:
                searcher.close()
            self._searchers.clear()

    def _require_open(self) -> None:
        if self._closed:
            raise ValueError("the full-text index is closed")

    def _open_searcher(self, previous=None):
        """A searcher on the latest commit, reusing *previous*'s unchanged segment readers.

        Opening a segment reader costs ~25 ms (measured: 530 ms for the 20
        segments of 1,000,000 documents), so after a commit only new or changed
        segments are opened.  Not whoosh's ``Searcher.refresh()``: it matches
        segments by id alone, so deletions made since (upserts, the mark) stay
        invisible and segments merged away come back.  Here a reader is reused
        only if its segment has the same id *and* the same number of deleted
        documents (deletions only ever grow).

        A commit deletes the previous table of contents and the files of
        merged segments; whoosh opens some files (columns) only when first
        needed, so every file a search reads is opened here, and a vanished
        file means retrying on the newer commit (an open file stays readable
        after it is deleted).
        """
        old = {}
        if previous is not None:
            for reader, _offset in previous.reader().leaf_readers():
                if hasattr(reader, "_perdoc"):
                    old[reader.segment().segment_id()] = reader
        for attempt in range(5):
            opened, reused = [], []
            try:
                toc = self._ix._read_toc()
                readers = []
                for segment in toc.segments:
                    reader = old.get(segment.segment_id())
                    if reader is not None and reader.segment().deleted_count() == segment.deleted_count():
                        reused.append(reader)
                    else:
                        reader = SegmentReader(self._ix.storage, toc.schema, segment, generation=toc.generation)
                        opened.append(reader)
                        self._preload(reader)
                    readers.append(reader)
                # Always a MultiReader (even of one): a reused reader keeps the generation it was
                # opened at, and the searcher must report the new one to be seen as up to date.
                top = MultiReader(readers, generation=toc.generation) if readers else EmptyReader(toc.schema)
                searcher = Searcher(top, weighting=FastBM25(self._cache), fromindex=self._ix)
            except FileNotFoundError:
                for reader in opened:
                    reader.close()
                if attempt == 4:
                    raise
                continue
            kept = {id(r) for r in reused}
            for reader in old.values():
                if id(reader) not in kept:
                    reader.close()
            self._cache.keep_only({s.segment_id() for s in toc.segments} | set(self._other_segments()))
            return searcher
        raise AssertionError("unreachable")

    def _other_segments(self) -> set[str]:
        """Segments still read by other threads' searchers (their column copies stay cached)."""
        out = set()
        for searcher in self._searchers:
            for reader, _offset in searcher.reader().leaf_readers():
                if hasattr(reader, "_perdoc") and not reader.is_closed:
                    out.add(reader.segment().segment_id())
        return out

    def _preload(self, reader) -> None:
        if not reader.doc_count_all():
            return
        for field, typecode in (("date", "i"), ("log", "q"), ("_text_len", "B")):
            self._cache.column(reader, field, typecode)
        reader.column_reader("digest")[0]  # opens the column file
        reader.deleted_docs_set  # noqa: B018 - read now, while the file exists

    def _searcher(self):
        """This thread's searcher, reopened if a commit happened since it was opened.

        One per thread: whoosh's readers seek and read shared file handles,
        which is not safe across threads.  Not ``Searcher.refresh()``: it
        reuses segment readers by segment id, so deletions made since (upserts,
        the mark) stay invisible, and segments merged away or cleared come back.
        """
        self._require_open()
        local = self._local
        searcher = getattr(local, "searcher", None)
        generation = self._generation
        if searcher is not None and local.generation == generation and searcher.up_to_date():
            return searcher
        with self._searchers_lock:
            self._require_open()
            if searcher is not None:
                self._searchers.remove(searcher)
            # The previous searcher is not closed: its unchanged readers live on in the new one,
            # and _open_searcher closed the others.
            fresh = self._open_searcher(searcher)
            self._searchers.append(fresh)
            local.searcher, local.generation = fresh, generation
        return fresh


def _fields(doc: TextDoc) -> dict:
    names = fold_turkish(doc.names[:MAX_NAMES_CHARS])
    body = fold_turkish(doc.body[:MAX_BODY_CHARS])
    party = set()
    for role, pid in doc.parties:
        token = key(pid)
        if token:
            party.add(token)
            if role in INSPECTABLE_ROLES:
                party.add("i:" + token)
    tenants = {key(t) or NO_TENANT for t in doc.tenants}
    values = {
        "digest": doc.digest,
        "text": _tokens(names, body),
        "kind": doc.kind,
        "party": " ".join(sorted(party)),
        "tenant": " ".join(sorted(tenants)),
        "log": doc.log_index,
    }
    if doc.issue_date is not None:
        values["date"] = doc.issue_date.toordinal()
    return values


def _tokens(names: str, body: str) -> str:
    """The ``text`` field's tokens, space-separated: name prefixes, long name words whole, body words."""
    out: list[str] = []
    for word in WORD_RE.findall(names):
        word = word[:MAX_TOKEN]
        out.extend(word[:n] for n in range(1, min(len(word), PREFIX_MAX) + 1))
        if len(word) > PREFIX_MAX:
            out.append(word)
    out.extend(word[:MAX_TOKEN] for word in WORD_RE.findall(body))
    return " ".join(out)

