"""How full-text queries run: whoosh's BM25 and top-N collection, made fast enough in pure Python.

Everything here answers to ``FullTextIndex.search`` and returns the same
hits, scores and order that stock whoosh would (a test asks whoosh itself):

- ``TermScan``: one-word queries scored block by block over the raw postings.
- ``PageCollector``: several words, through whoosh's matchers, ordered by
  (score, date, digest) with block skipping kept.
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
from bisect import bisect_right
from heapq import heappush, heapreplace
from itertools import accumulate

from whoosh import columns
from whoosh import query as wq
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.collectors import TopCollector
from whoosh.matching import ListMatcher, NullMatcher
from whoosh.matching.wrappers import RequireMatcher
from whoosh.scoring import BM25F, BM25FScorer
from whoosh.util.numeric import byte_to_length

from earsiv.indexer.errors import IndexFailure
from earsiv.indexer.textextract import fold_turkish

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
    "TermScan",
    "WindowQuery",
    "WordsScan",
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


class TermScan:
    """One-word queries, scored block by block over the raw posting lists.

    A one-word query is the common and the costly case (a frequent name word or
    a short prefix matches a large share of the archive).  Going through
    whoosh's matcher and collector costs ~6 Python calls per posting; this loop
    scores a whole block of postings in one comprehension with the same BM25
    arithmetic, skips blocks whose upper bound cannot reach the page, and
    applies filters as a set of allowed documents per segment.  Whenever the
    layout is not the one expected (another whoosh codec), ``applies()`` says
    no and the generic path answers.
    """

    def __init__(self, searcher, cache: SegmentCache, word: str, filters, dates, max_log, n: int) -> None:
        self.searcher, self.cache, self.word, self.filters = searcher, cache, word, filters
        self.dates, self.max_log, self.n = dates, max_log, n

    def applies(self) -> bool:
        if self.filters is not None:
            # A selective filter (one taxpayer, one tenant) is better driven from its few documents.
            df = self.searcher.doc_frequency("text", self.word)
            if self.filters.estimate_size(self.searcher.reader()) * 8 < df:
                return False
        return self.layout_ok(self.searcher)

    @staticmethod
    def layout_ok(searcher) -> bool:
        if not isinstance(searcher.weighting, FastBM25):
            return False
        return all(hasattr(sub.reader(), "_perdoc") and hasattr(sub.reader(), "_terms")
                   for sub, _offset in searcher.leaf_searchers())

    def run(self) -> tuple[list[tuple[str, float]], int]:
        heap: list = []
        total = 0
        for sub, _offset in self.searcher.leaf_searchers():
            total += self._segment(sub, heap)
        ranked = sorted(heap, reverse=True)
        return [(lazy.digest, score) for score, _date, lazy in ranked], total

    def _segment(self, sub, heap: list) -> int:
        reader = sub.reader()
        if ("text", self.word) not in reader:
            return 0
        btext = self.word.encode("utf-8")
        m = reader._terms.matcher("text", btext, reader.schema["text"].format, scorer=None)
        scorer = self.searcher.weighting.scorer(sub, "text", self.word)
        if not isinstance(m, W3LeafMatcher) or not isinstance(scorer, FastBM25Scorer):
            raise IndexFailure("unexpected whoosh posting layout")
        deleted = reader.deleted_docs_set
        allowed = None
        if self.filters is not None:
            allowed = set(self.filters.matcher(sub, sub.boolean_context()).all_ids())
            if not allowed:
                return 0
        dates = self.cache.column(reader, "date", "i")
        logs = self.cache.column(reader, "log", "q") if self.max_log is not None else None
        digests = reader.column_reader("digest")
        lo, hi = self.dates if self.dates is not None else (None, None)
        idf, k1p1, norm, lengths = scorer.idf, scorer._k1p1, scorer._norm, scorer._lengths
        by_tf: dict[float, list[float]] = {}  # the score of (tf, length byte): most postings have tf 1
        n, total = self.n, 0
        filtered = bool(deleted) or allowed is not None or lo is not None or logs is not None
        while m.is_active():
            if len(heap) >= n and scorer.block_quality(m) < heap[0][0]:
                # No posting of this block can reach the page (ties included: strictly lower).
                total += m._blocklength
                m._next_block()
                continue
            if m._data is None:
                m._read_data()
            raw_ids, raw_weights = m._data[0], m._data[1]
            # whoosh stores ids delta-encoded and decodes them with a Python generator; accumulate is C.
            ids = raw_ids if m._byteids else list(accumulate(raw_ids))
            if raw_weights is None or isinstance(raw_weights, float):
                tf = 1.0 if raw_weights is None else raw_weights
                table = by_tf.get(tf)
                if table is None:
                    table = by_tf[tf] = [idf * ((tf * k1p1) / (tf + norm[lb])) for lb in range(256)]
                scores = [table[lengths[d]] for d in ids]
            else:
                scores = [idf * ((tf * k1p1) / (tf + norm[lengths[d]])) for d, tf in zip(ids, raw_weights, strict=True)]
            if filtered:
                keep = [i for i, d in enumerate(ids) if d not in deleted and (allowed is None or d in allowed)
                        and (lo is None or lo <= dates[d] <= hi) and (logs is None or logs[d] <= self.max_log)]
                ids = [ids[i] for i in keep]
                scores = [scores[i] for i in keep]
            total += len(ids)
            if len(heap) >= n:
                floor = heap[0][0]
                picked = [i for i, score in enumerate(scores) if score >= floor]
            else:
                picked = range(len(ids))
            for i in picked:
                score, d = scores[i], ids[i]
                if len(heap) < n:
                    heappush(heap, (score, dates[d], LazyDigest(digests, d)))
                elif score > heap[0][0] or (score == heap[0][0] and dates[d] >= heap[0][1]):
                    key = (score, dates[d], LazyDigest(digests, d))
                    if key > heap[0]:
                        heapreplace(heap, key)
            m._next_block()
        return total


class _RequireMatcher(RequireMatcher):
    """whoosh's RequireMatcher, fixed: after a quality skip that did not move the scored side,
    the intersection is already on a common document, and re-seeking it trips an assertion."""

    def skip_to_quality(self, minquality):
        skipped = self.a.skip_to_quality(minquality)
        if skipped and self.a.is_active() and self.b.is_active() and self.a.id() != self.b.id():
            self.child._find_next()
        return skipped


class WordsScan:
    """Several words, or one word under a selective filter: an intersection driven by the shortest list.

    whoosh intersects by ``skip_to``, which walks a block one posting at a
    time through several Python calls (profiled: two-thirds of a two-word
    query).  Here the candidates come from the shortest side (the rarest
    word, or the filter's documents when fewer), and each other word is
    probed block by block: a block whose id range holds no candidate is
    passed over on its header alone, the others are decoded at once and
    looked up.  Every candidate is checked, so the total is exact.  Scores
    are whoosh's (each word's BM25, summed rarest first; with two words
    exactly whoosh's sum).
    """

    def __init__(self, searcher, cache: SegmentCache, words: list[str], filters, dates, max_log, n: int) -> None:
        self.searcher, self.cache, self.words, self.filters = searcher, cache, words, filters
        self.dates, self.max_log, self.n = dates, max_log, n

    def applies(self) -> bool:
        return TermScan.layout_ok(self.searcher)

    def run(self) -> tuple[list[tuple[str, float]], int]:
        heap: list = []
        total = 0
        for sub, _offset in self.searcher.leaf_searchers():
            total += self._segment(sub, heap)
        ranked = sorted(heap, reverse=True)
        return [(lazy.digest, score) for score, _date, lazy in ranked], total

    def _segment(self, sub, heap: list) -> int:
        reader = sub.reader()
        if any(("text", w) not in reader for w in self.words):
            return 0
        fmt = reader.schema["text"].format
        lists = []
        for word in self.words:
            m = reader._terms.matcher("text", word.encode("utf-8"), fmt, scorer=None)
            scorer = self.searcher.weighting.scorer(sub, "text", word)
            if not isinstance(m, W3LeafMatcher) or not isinstance(scorer, FastBM25Scorer):
                raise IndexFailure("unexpected whoosh posting layout")
            lists.append((reader.doc_frequency("text", word), m, scorer))
        lists.sort(key=lambda item: item[0])
        deleted = reader.deleted_docs_set
        allowed = None
        if self.filters is not None:
            allowed = set(self.filters.matcher(sub, sub.boolean_context()).all_ids())
            if not allowed:
                return 0
        dates = self.cache.column(reader, "date", "i")
        logs = self.cache.column(reader, "log", "q") if self.max_log is not None else None
        lo, hi = self.dates if self.dates is not None else (None, None)

        if allowed is not None and len(allowed) < lists[0][0]:
            candidates = sorted(allowed)
            tf_maps = []
            probes = lists
        else:
            first = _decode_all(lists[0][1])
            candidates = list(first)
            if allowed is not None:
                candidates = [d for d in candidates if d in allowed]
            tf_maps = [first]
            probes = lists[1:]
        candidates = [d for d in candidates if d not in deleted and (lo is None or lo <= dates[d] <= hi)
                      and (logs is None or logs[d] <= self.max_log)]
        for _df, m, _scorer in probes:
            if not candidates:
                return 0
            found = _probe(m, candidates)
            candidates = [d for d in candidates if d in found]
            tf_maps.append(found)
        if not candidates:
            return 0

        lengths = lists[0][2]._lengths
        norm, k1p1 = lists[0][2]._norm, lists[0][2]._k1p1
        idfs = [scorer.idf for _df, _m, scorer in lists]
        digests = reader.column_reader("digest")
        n = self.n
        for d in candidates:
            nd = norm[lengths[d]]
            score = 0.0
            for idf, tfs in zip(idfs, tf_maps, strict=True):
                tf = tfs[d]
                score += idf * ((tf * k1p1) / (tf + nd))
            if len(heap) < n:
                heappush(heap, (score, dates[d], LazyDigest(digests, d)))
            elif score > heap[0][0] or (score == heap[0][0] and dates[d] >= heap[0][1]):
                entry = (score, dates[d], LazyDigest(digests, d))
                if entry > heap[0]:
                    heapreplace(heap, entry)
        return len(candidates)


def _block(m) -> tuple[list[int], object]:
    """The decoded ids of the matcher's current block and its weights (a sequence, or one float for all)."""
    if m._data is None:
        m._read_data()
    raw_ids, raw_weights = m._data[0], m._data[1]
    ids = raw_ids if m._byteids else list(accumulate(raw_ids))
    return ids, 1.0 if raw_weights is None else raw_weights


def _decode_all(m) -> dict[int, float]:
    out: dict[int, float] = {}
    while m.is_active():
        ids, weights = _block(m)
        if isinstance(weights, float):
            out.update(dict.fromkeys(ids, weights))
        else:
            out.update(zip(ids, weights, strict=True))
        m._next_block()
    return out


def _probe(m, candidates: list[int]) -> dict[int, float]:
    """tf of each candidate (sorted) present in *m*'s postings; blocks without candidates are not decoded."""
    out: dict[int, float] = {}
    i, count = 0, len(candidates)
    while m.is_active() and i < count:
        maxid = m._maxid
        if candidates[i] > maxid:
            m._next_block()
            continue
        j = bisect_right(candidates, maxid, i)
        ids, weights = _block(m)
        if isinstance(weights, float):
            present = set(ids)
            out.update((d, weights) for d in candidates[i:j] if d in present)
        else:
            block = dict(zip(ids, weights, strict=True))
            out.update((d, block[d]) for d in candidates[i:j] if d in block)
        i = j
        m._next_block()
    return out


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


def filter_query(*, vkn, kind, scope):
    """The non-scoring restrictions as one query; NullQuery if nothing can match, None if unrestricted."""
    parts: list[wq.Query] = []
    if vkn is not None:
        parts.append(wq.Term("party", key(vkn)) if key(vkn) else wq.NullQuery)
    if kind is not None:
        parts.append(wq.Term("kind", kind) if kind and not kind.startswith("~") else wq.NullQuery)
    if scope is not None and (scope.tenants is not None or scope.windows is not None):
        parts.append(scope_query(scope))
    if any(p is wq.NullQuery for p in parts):
        return wq.NullQuery
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else wq.And(parts)


def scope_query(scope) -> wq.Query:
    """Tenants OR inspector windows of a ``TextScope``."""
    alternatives: list[wq.Query] = []
    if scope.tenants is not None:
        alternatives += [wq.Term("tenant", key(t) or NO_TENANT) for t in sorted(scope.tenants)]
    windows = tuple(("i:" + key(vkn), start.toordinal(), end.toordinal())
                    for vkn, start, end in scope.windows or () if key(vkn) and start <= end)
    if windows:
        alternatives.append(WindowQuery(windows))
    if not alternatives:
        return wq.NullQuery
    return alternatives[0] if len(alternatives) == 1 else wq.Or(alternatives)


class WindowQuery(wq.Query):
    """Documents where a party term is present and the issue date is in that term's window.

    Inspector grants name one taxpayer each, so the party's posting list is
    short; its documents' dates are read from the column, per segment.
    """

    def __init__(self, windows: tuple[tuple[str, int, int], ...]) -> None:
        self.windows = windows
        self.boost = 1.0

    def __eq__(self, other):
        return type(other) is type(self) and other.windows == self.windows

    def __hash__(self):
        return hash(self.windows)

    def __repr__(self):
        return f"WindowQuery({self.windows!r})"

    def copy(self):
        return WindowQuery(self.windows)

    def estimate_size(self, ixreader):
        return sum(ixreader.doc_frequency("party", term) for term, _lo, _hi in self.windows)

    def matcher(self, searcher, context=None):
        reader = searcher.reader()
        dates = reader.column_reader("date")
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
