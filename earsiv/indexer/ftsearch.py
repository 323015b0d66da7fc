"""How full-text queries run: whoosh's BM25 and top-N collection, made fast enough in pure Python.

Everything here answers to ``FullTextIndex.search`` and returns the same
hits, scores and order that stock whoosh would (a test asks whoosh itself):

- ``PageCollector``: through whoosh's matchers, ordered by (score, date,
  digest) with block skipping kept; the fallback of the block scans in
  ``ftscan`` (which answer when whoosh's posting layout is the expected one).
- ``SegmentCache``: per-segment in-memory copies of the columns read per
  posting (field lengths for BM25, dates).
- ``Require`` / ``WindowQuery``: unscored filters (whoosh's ``Require`` fixed;
  inspector windows from one party's postings and the date column).
"""

from __future__ import annotations

import array
import math
import re
import sys
import threading
from heapq import heappush, heapreplace

from whoosh import columns
from whoosh import query as wq
from whoosh.collectors import TopCollector
from whoosh.matching import ListMatcher, NullMatcher
from whoosh.matching.wrappers import RequireMatcher
from whoosh.scoring import BM25F, BM25FScorer
from whoosh.util.numeric import byte_to_length

from earsiv.documents.textextract import fold_turkish

__all__ = [
    "MAX_QUERY_WORDS",
    "MAX_TOKEN",
    "NO_TENANT",
    "WORD_RE",
    "FastBM25",
    "FastBM25Scorer",
    "LazyDigest",
    "PageCollector",
    "Require",
    "SegmentCache",
    "WindowQuery",
    "estimate",
    "filter_query",
    "key",
    "load_column",
    "query_words",
    "scope_query",
    "text_query",
]

WORD_RE = re.compile(r"\w+")
MAX_TOKEN = 100  # longer words are cut (whoosh keys terms on bytes; nobody types 100 letters)
MAX_QUERY_WORDS = 16
NO_TENANT = "-"


def key(value: str) -> str:
    """A party or tenant id as one keyword token (ids from hostile documents may hold spaces)."""
    return "".join(value.split())


class PageCollector(TopCollector):
    """Top N by (score desc, issue date desc, digest asc), with whoosh's block skipping kept.

    whoosh breaks score ties by internal document number, which moves as
    segments merge; ties must be broken by date and digest so that pages stay
    stable.  The quality threshold handed to whoosh is one step *below* the
    worst kept score, so blocks holding an equal score are still read.
    Dates come from an in-memory copy of the segment's column (see
    ``SegmentCache``); digests are read only when score and date both tie.
    """

    def __init__(self, limit: int, cache: SegmentCache, *, dates: tuple[int, int] | None,
                 max_log: int | None) -> None:
        # replace=0: whoosh would swap in a matcher that stops early once the page is full, and
        # then the count of matches is lost; block skipping alone keeps most of the gain.
        super().__init__(limit=limit, replace=0)
        self._cache = cache
        self._date_bounds = dates
        self._max_log = max_log

    def set_subsearcher(self, subsearcher, offset):
        super().set_subsearcher(subsearcher, offset)
        reader = subsearcher.reader()
        self._dates = self._cache.column(reader, "date", "i")
        self._digests = reader.column_reader("digest")
        self._logs = self._cache.column(reader, "log", "q") if self._max_log is not None else None

    def collect(self, sub_docnum):
        dates = self._dates
        # Filters on columns first: a rejected document is never scored.
        if self._date_bounds is not None and not self._date_bounds[0] <= dates[sub_docnum] <= self._date_bounds[1]:
            return 0
        if self._logs is not None and self._logs[sub_docnum] > self._max_log:
            return 0
        score = self.matcher.score()
        self.total += 1
        items = self.items
        full = len(items) >= self.limit
        if full and score < items[0][0]:
            return 0
        entry = (score, dates[sub_docnum], LazyDigest(self._digests, sub_docnum))
        if not full:
            heappush(items, entry)
            if len(items) >= self.limit:
                self.minscore = math.nextafter(items[0][0], -math.inf)
        elif entry > items[0]:
            heapreplace(items, entry)
            self.minscore = math.nextafter(items[0][0], -math.inf)
        return 0 - score

    def page(self) -> list[tuple[str, float]]:
        """(digest, score) pairs, best first."""
        ranked = sorted(self.items, reverse=True)
        return [(lazy.digest, score) for score, _date, lazy in ranked]


class LazyDigest:
    """Orders like the digest, reversed (the heap keeps the largest keys; ties go to the smaller digest)."""

    __slots__ = ("_column", "_digest", "_docnum")

    def __init__(self, column, docnum: int) -> None:
        self._column, self._docnum, self._digest = column, docnum, None

    @property
    def digest(self) -> str:
        if self._digest is None:
            self._digest = self._column[self._docnum]
        return self._digest

    def __lt__(self, other: LazyDigest) -> bool:
        return self.digest > other.digest

    def __gt__(self, other: LazyDigest) -> bool:
        return self.digest < other.digest

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LazyDigest) and self.digest == other.digest

    __hash__ = None  # type: ignore[assignment]


class SegmentCache:
    """In-memory copies of per-document columns, per immutable segment.

    whoosh reads a column value with a seek, a read and a struct unpack per
    document; BM25 reads the field length of every posting that way and the
    collector reads each date: profiled, ~40 % of a query.  A segment never
    changes (deletions are kept apart), so the copies are keyed by segment id,
    shared by all threads, and dropped when the segment goes away.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[tuple[str, str], object] = {}

    def column(self, reader, field: str, typecode: str):
        seg = reader.segment() if hasattr(reader, "_perdoc") else None
        if seg is None:  # not a plain segment reader: whoosh's own (slower) column reader
            return reader.column_reader(field)
        key = (seg.segment_id(), field)
        data = self._data.get(key)
        if data is None:
            data = load_column(reader, field, typecode)
            with self._lock:
                self._data[key] = data
        return data

    def keep_only(self, segment_ids: set[str]) -> None:
        with self._lock:
            for key in [k for k in self._data if k[0] not in segment_ids]:
                del self._data[key]


def load_column(reader, field: str, typecode: str) -> array.array:
    """A numeric column of one segment as an array; lengths columns (``_text_len``) included."""
    doccount = reader.doc_count_all()
    perdoc = reader._perdoc
    if not perdoc.has_column(field):
        return array.array(typecode, bytes(array.array(typecode).itemsize * doccount))
    col = perdoc.column_reader(field, columns.NumericColumn(typecode, default=0))
    try:
        values = array.array(typecode, col._dbfile.get(col._basepos, col._count * col._fixedlen))
    except AttributeError:  # another whoosh layout: slower, same values
        return array.array(typecode, (col[i] for i in range(doccount)))
    if col._fixedlen > 1 and sys.byteorder == "little":
        values.byteswap()  # whoosh writes numeric columns big-endian
    if len(values) < doccount:
        values.extend([0] * (doccount - len(values)))
    return values


class FastBM25(BM25F):
    """whoosh's BM25F with the field lengths read from an in-memory copy (same arithmetic, same scores)."""

    def __init__(self, cache: SegmentCache) -> None:
        super().__init__()
        self._cache = cache

    def scorer(self, searcher, fieldname, text, qf=1):
        scorer = super().scorer(searcher, fieldname, text, qf=qf)
        reader = searcher.reader()
        if type(scorer) is BM25FScorer and hasattr(reader, "_perdoc"):
            return FastBM25Scorer(scorer, self._cache.column(reader, f"_{fieldname}_len", "B"))
        return scorer


class FastBM25Scorer(BM25FScorer):
    def __init__(self, base: BM25FScorer, lengths: array.array) -> None:
        self.__dict__.update(base.__dict__)
        k1, b, avgfl = base.K1, base.B, base.avgfl
        # bm25() computes tf + K1 * ((1 - B) + B * fl / avgfl); the second term depends on the length byte only.
        self._norm = [k1 * ((1 - b) + b * (byte_to_length(lb) if lb else 1) / avgfl) for lb in range(256)]
        self._lengths = lengths
        self._k1p1 = k1 + 1

    def score(self, matcher):
        tf = matcher.weight()
        return self.idf * ((tf * self._k1p1) / (tf + self._norm[self._lengths[matcher.id()]]))


class _RequireMatcher(RequireMatcher):
    """whoosh's RequireMatcher, fixed: after a quality skip that did not move the scored side,
    the intersection is already on a common document, and re-seeking it trips an assertion."""

    def skip_to_quality(self, minquality):
        skipped = self.a.skip_to_quality(minquality)
        if skipped and self.a.is_active() and self.b.is_active() and self.a.id() != self.b.id():
            self.child._find_next()
        return skipped


class Require(wq.Require):
    """Documents matching both; scored by the text query only (the filters add nothing)."""

    def matcher(self, searcher, context=None):
        return _RequireMatcher(self.a.matcher(searcher, context), self.b.matcher(searcher, searcher.boolean_context()))


def query_words(text: str) -> list[str]:
    """The distinct folded words of user input, as index terms (query syntax means nothing here)."""
    if not isinstance(text, str):
        return []
    words = (w[:MAX_TOKEN] for w in WORD_RE.findall(fold_turkish(text[:4096])) if w.strip("_"))
    return list(dict.fromkeys(words))[:MAX_QUERY_WORDS]


def text_query(words: list[str]) -> wq.Query:
    """AND of the words: each matches a name by prefix or any word exactly (names or body)."""
    clauses = [wq.Term("text", word) for word in words]
    return clauses[0] if len(clauses) == 1 else wq.And(clauses)


def filter_query(*, vkn, kind, scope, cache: SegmentCache | None = None):
    """The non-scoring restrictions as one query; NullQuery if nothing can match, None if unrestricted."""
    parts: list[wq.Query] = []
    if vkn is not None:
        parts.append(wq.Term("party", key(vkn)) if key(vkn) else wq.NullQuery)
    if kind is not None:
        parts.append(wq.Term("kind", kind) if kind and not kind.startswith("~") else wq.NullQuery)
    if scope is not None and (scope.tenants is not None or scope.windows is not None or scope.named is not None):
        parts.append(scope_query(scope, cache))
    if any(p is wq.NullQuery for p in parts):
        return wq.NullQuery
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else wq.And(parts)


def scope_query(scope, cache: SegmentCache | None = None) -> wq.Query:
    """Tenants OR named parties OR inspector windows of a ``TextScope``."""
    alternatives: list[wq.Query] = []
    if scope.tenants is not None:
        alternatives += [wq.Term("tenant", key(t) or NO_TENANT) for t in sorted(scope.tenants)]
    alternatives += [wq.Term("party", "i:" + key(t)) for t in sorted(scope.named or ()) if key(t)]
    windows = tuple(("i:" + key(vkn), start.toordinal(), end.toordinal())
                    for vkn, start, end in scope.windows or () if key(vkn) and start <= end)
    if windows:
        alternatives.append(WindowQuery(windows, cache))
    if not alternatives:
        return wq.NullQuery
    return alternatives[0] if len(alternatives) == 1 else wq.Or(alternatives)


class WindowQuery(wq.Query):
    """Documents where a party term is present and the issue date is in that term's window.

    Inspector grants name one taxpayer each, so the party's posting list is
    short; its documents' dates are read from the column, per segment.
    """

    def __init__(self, windows: tuple[tuple[str, int, int], ...], cache: SegmentCache | None = None) -> None:
        self.windows = windows
        self.cache = cache
        self.boost = 1.0

    def __eq__(self, other):
        return type(other) is type(self) and other.windows == self.windows

    def __hash__(self):
        return hash(self.windows)

    def __repr__(self):
        return f"WindowQuery({self.windows!r})"

    def copy(self):
        return WindowQuery(self.windows, self.cache)

    def estimate_size(self, ixreader):
        return sum(ixreader.doc_frequency("party", term) for term, _lo, _hi in self.windows)

    def matcher(self, searcher, context=None):
        reader = searcher.reader()
        # A large taxpayer has ~10 % of the documents: whoosh's per-item column read cost 3 µs each.
        dates = self.cache.column(reader, "date", "i") if self.cache is not None else reader.column_reader("date")
        docs: set[int] = set()
        for term, lo, hi in self.windows:
            if ("party", term) in reader:
                # postings() leaves out deleted documents.
                docs.update(d for d in reader.postings("party", term).all_ids() if lo <= dates[d] <= hi)
        return ListMatcher(sorted(docs)) if docs else NullMatcher


def estimate(searcher, q) -> int:
    try:
        return int(q.estimate_min_size(searcher.reader()))
    except Exception:  # noqa: BLE001 - an estimate is best effort; the exact part stands
        return 0
