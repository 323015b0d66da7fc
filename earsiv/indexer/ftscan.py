"""Block scans: full-text queries answered from whoosh's raw posting blocks.

whoosh walks postings through several Python calls each (matcher, collector,
scorer, ``skip_to``); these loops decode a block at once and score it in one
comprehension, with the same BM25 arithmetic as whoosh (``FastBM25Scorer``),
so hits, scores and order are whoosh's own (a test asks whoosh).  They read
whoosh 2.7's W3 codec internals; when the layout is not that one,
``applies()`` says no and ``ftsearch.PageCollector`` answers instead.
"""

from __future__ import annotations

from bisect import bisect_right
from heapq import heappush, heapreplace
from itertools import accumulate

from whoosh.codec.whoosh3 import W3LeafMatcher

from earsiv.indexer.errors import IndexFailure
from earsiv.indexer.ftsearch import FastBM25, FastBM25Scorer, LazyDigest, SegmentCache

__all__ = ["TermScan", "WordsScan"]


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
