"""The embedded full-text index: a tantivy index in its own directory, derived from the log.

Everything in it can be rebuilt from the store (DESIGN.md, invariant 5).  tantivy never
sees raw text: words are folded, cut and stemmed by ``documents.textterms`` and handed over
as space-separated tokens, so what matches is decided there, the same way as for the
PostgreSQL engine (``textsql``).

Fields (format 2):

- ``digest``: the identity (raw, stored: the only value read back from a hit).
- ``names``: every prefix of every folded name word (edge n-grams made here): a query word
  is one term lookup whether it is a whole name word or the start of one.
- ``words``: each folded body word followed by its stem, repeats kept.
- ``kind``, ``party`` (``vkn`` for any role, ``i:vkn`` for INSPECTABLE_ROLES), ``tenant``
  (``-`` = held without a tenant): filters, never scored.
- ``date`` (date ordinal, 0 = none) and ``log`` (leaf index): indexed for range filters.
- ``recency`` (fast): ``2 ** (1 + days * 1e-6) - 2`` for the days since 2000-01-01, so that
  tantivy's ``weight_by_field`` (score × log2(2 + value)) multiplies BM25 by
  ``1 + days * 1e-6``: equal scores come out newest first, in the one collection pass,
  and scores differing by more than 0.2 % (five years) keep their order.  A day moves a
  score by 1e-6 of itself, 16 times what a float32 score resolves.

One special document (digest ``~mark``) holds the caller's mark in its ``log`` field and is
replaced in the same commit as the documents it accounts for: a crash loses at most the
batch in flight, never the agreement between the documents and the mark.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import tantivy

from earsiv.documents.textextract import INSPECTABLE_ROLES, extract_text
from earsiv.documents.textterms import document_terms, fold_turkish, query_terms
from earsiv.indexer.errors import IndexFailure, index_failure
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

FORMAT = 2  # 1 was whoosh (removed; such a directory is emptied and rebuilt from the log)
_FORMAT_FILE = "earsiv-fulltext.json"
MAX_LIMIT = 1000
MAX_OFFSET = MAX_TEXT_OFFSET  # one bound with the cursors that carry the offset
NO_TENANT = "-"
_MARK = "~mark"
_LOCK_TIMEOUT = 60.0  # seconds to wait for another process's writer
_WRITER_HEAP = 48_000_000  # bytes of tantivy's indexing buffer (one thread)
_BULK_HEAP = 160_000_000  # a rebuild's buffer: fewer, larger segments
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_EPOCH = dt.date(2000, 1, 1).toordinal()
_PER_DAY = 1e-6
log = logging.getLogger("earsiv.fulltext")


def key(value: str) -> str:
    """A party or tenant id as one keyword (ids from hostile documents may hold spaces)."""
    return "".join(value.split())


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("digest", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("names", tokenizer_name="whitespace", index_option="freq")
    sb.add_text_field("words", tokenizer_name="whitespace", index_option="freq")
    sb.add_text_field("kind", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("party", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("tenant", tokenizer_name="raw", index_option="basic")
    sb.add_integer_field("date", indexed=True, fast=True)
    sb.add_integer_field("log", indexed=True, fast=True)
    sb.add_float_field("recency", fast=True)
    return sb.build()


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
        if not isinstance(self.log_index, int) or isinstance(self.log_index, bool) or not 0 <= self.log_index < 2**62:
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
    named: one of these is a party in one of INSPECTABLE_ROLES, any date.
    With several, a document matches if it satisfies any.
    """

    tenants: frozenset[str] | None = None
    windows: tuple[tuple[str, dt.date, dt.date], ...] | None = None
    named: frozenset[str] | None = None

    def __post_init__(self) -> None:
        for axis in (self.tenants, self.named):
            if axis is not None and not all(isinstance(t, str) for t in axis):
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
    """One page of hits, best first: by BM25 score, equal scores newest first (see ``recency``;
    the same day: tantivy's own order, stable while the index does not change).
    total: the exact number of matching documents."""

    hits: tuple[TextHit, ...]
    total: int


class FullTextIndex:
    """Upserts from one writer at a time (per process: a lock; across processes: tantivy's); searches from any thread."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._write_lock = threading.Lock()
        self._held = None  # a writer kept between commits (add(hold=True)) until release()
        self._closed = False
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._check_format()
            schema = _schema()
            if tantivy.Index.exists(str(self.path)):
                self._ix = tantivy.Index.open(str(self.path))
            else:
                # The marker first: a crash between the two leaves a marked, empty or half-made
                # index, which opens (or is made) again, never an unmarked one.
                tmp = self.path / (_FORMAT_FILE + ".tmp")
                tmp.write_text(json.dumps({"format": FORMAT}) + "\n")
                os.replace(tmp, self.path / _FORMAT_FILE)
                self._ix = tantivy.Index(schema, path=str(self.path), reuse=True)
            self.schema = self._ix.schema
        except IndexFailure:
            raise
        except Exception as exc:
            raise index_failure("cannot open the full-text index", exc, self.path, name=str(self.path)) from exc

    def _check_format(self) -> None:
        fmt = self.path / _FORMAT_FILE
        if not fmt.exists():
            if any(self.path.iterdir()):
                # A crash while an earlier version made the index (it wrote the marker last).
                # The index is derived: emptied, the log fills it again.
                log.warning("the full-text index at %s has no format marker (a crash while it was made): it is "
                            "emptied and rebuilt from the log", self.path)
                self._empty()
            return
        try:
            version = json.loads(fmt.read_text())["format"]
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexFailure("unreadable full-text format marker; rebuild it", name=str(self.path)) from exc
        if version == 1:
            # whoosh's index, from before tantivy: derived, so emptied; the log fills it again.
            log.warning("the full-text index at %s is of the old whoosh format: it is emptied and rebuilt "
                        "from the log", self.path)
            self._empty()
            return
        if version != FORMAT:
            raise IndexFailure(f"full-text index format {version!r} is not known (this version reads {FORMAT})",
                               name=str(self.path))

    def _empty(self) -> None:
        for child in self.path.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()

    # --- writing ------------------------------------------------------------------------

    def add(self, docs: Sequence[TextDoc], *, mark: int | None = None, bulk: bool = False,
            hold: bool = False) -> None:
        """Upsert *docs* by digest and store *mark*, all in one commit (atomic: all or nothing).

        *bulk*: a rebuild's batch, with a larger indexing buffer.  *hold*: keep the writer (and
        tantivy's lock) for the next add, so that merges go on in the background between
        commits instead of being waited for; ``release`` lets it go.
        """
        if mark is not None and (not isinstance(mark, int) or isinstance(mark, bool) or not 0 <= mark < 2**62):
            raise ValueError(f"mark must be a non-negative integer, not {mark!r}")
        latest: dict[str, TextDoc] = {}
        for doc in docs:
            if not isinstance(doc, TextDoc):
                raise TypeError(f"expected TextDoc, not {type(doc).__name__}")
            latest[doc.digest] = doc  # the last of a batch wins, as a later batch would
        if not latest and mark is None:
            return
        made = [_document(doc) for doc in latest.values()]  # before the lock: pure Python work
        self._write(made, list(latest), mark, bulk=bulk, hold=hold)

    def reset(self) -> None:
        """Empty the index (a rebuild starts from nothing); the mark goes back to 0."""
        self._write([], [], None, clear=True)

    def release(self) -> None:
        """Let merges finish and drop a writer kept by ``add(hold=True)``."""
        with self._write_lock:
            if self._held is not None:
                writer, self._held = self._held, None
                self._release(writer)

    def _write(self, made: list[tantivy.Document], digests: list[str], mark: int | None, *,
               bulk: bool = False, clear: bool = False, hold: bool = False) -> None:
        self._require_open()
        with self._write_lock:
            writer, self._held = self._held, None
            if writer is None:
                writer = self._writer(_BULK_HEAP if bulk else _WRITER_HEAP)
            try:
                if clear:
                    writer.delete_all_documents()
                for digest in digests:
                    writer.delete_documents_by_term("digest", digest)
                for doc in made:
                    writer.add_document(doc)
                if mark is not None:
                    writer.delete_documents_by_term("digest", _MARK)
                    writer.add_document(tantivy.Document(digest=_MARK, kind=_MARK, log=mark))
                writer.commit()
                writer.garbage_collect_files()
            except BaseException as exc:
                with contextlib.suppress(Exception):  # the first error is the one to report
                    writer.rollback()
                self._release(writer)
                if isinstance(exc, Exception):
                    raise index_failure("cannot write the full-text index", exc, self.path,
                                        name=str(self.path)) from exc
                raise
            if hold:
                self._held = writer
            else:
                self._release(writer)
            self._ix.reload()

    def _writer(self, heap: int):
        """tantivy's writer; another process may hold it a while (waited for, up to a minute)."""
        deadline = time.monotonic() + _LOCK_TIMEOUT
        while True:
            try:
                writer = self._ix.writer(heap_size=heap, num_threads=1)
            except ValueError as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise index_failure("cannot lock the full-text index for writing", exc, self.path,
                                        name=str(self.path)) from exc
                time.sleep(0.05)
                continue
            return writer

    def _release(self, writer) -> None:
        """Let merges started by the commit finish, then drop the writer (and its lock)."""
        try:
            writer.wait_merging_threads()
        except Exception as exc:  # noqa: BLE001 - a failed merge leaves the committed segments as they were
            log.warning("full-text merge did not finish: %s", exc)

    # --- reading ------------------------------------------------------------------------

    def mark(self) -> int:
        self._require_open()
        searcher = self._ix.searcher()
        hits = searcher.search(tantivy.Query.term_query(self.schema, "digest", _MARK), 1, count=False).hits
        if not hits:
            return 0
        return int(searcher.fast_field_values("log", [hits[0][1]])[0])

    def count(self) -> int:
        self._require_open()
        searcher = self._ix.searcher()
        marks = searcher.search(tantivy.Query.term_query(self.schema, "digest", _MARK), 1).count
        return searcher.num_docs - marks

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())

    def search(self, text: str, *, vkn: str | None = None, date_from: dt.date | None = None,
               date_to: dt.date | None = None, kind: str | None = None, scope: TextScope | None = None,
               max_log_index: int | None = None, limit: int = 100, offset: int = 0) -> TextPage:
        """Documents matching every word of *text* (plain words, not a query language), best first."""
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
        if not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
            raise ValueError(f"offset must be between 0 and {MAX_OFFSET}")
        self._require_open()
        query = self._query(text, vkn=vkn, date_from=date_from, date_to=date_to, kind=kind, scope=scope,
                            max_log_index=max_log_index)
        if query is None:
            return TextPage(hits=(), total=0)
        try:
            return self._run(self._ix.searcher(), query, limit, offset)
        except ValueError as exc:
            raise IndexFailure(f"full-text search failed: {exc}", name=str(self.path)) from exc

    def _query(self, text: str, *, vkn, date_from, date_to, kind, scope, max_log_index):
        """The tantivy query, or None when nothing can match."""
        schema, Q, must = self.schema, tantivy.Query, tantivy.Occur.Must
        should = tantivy.Occur.Should
        words = query_terms(text)
        if not words:
            return None
        clauses = []
        for w in words:
            alternatives = [(should, Q.term_query(schema, "names", w.word)),
                            (should, Q.term_query(schema, "words", w.word))]
            if w.stem is not None:
                alternatives.append((should, Q.term_query(schema, "words", w.stem)))
            clauses.append((must, Q.boolean_query(alternatives)))
        filters = []
        if vkn is not None:
            filters.append(Q.term_query(schema, "party", key(vkn)))
        if kind is not None:
            filters.append(Q.term_query(schema, "kind", kind))
        if date_from is not None or date_to is not None:
            low = max(date_from.toordinal(), 1) if date_from else 1
            high = date_to.toordinal() if date_to else None
            if high is not None and low > high:
                return None
            filters.append(Q.range_query(schema, "date", tantivy.FieldType.Integer, low, high))
        if max_log_index is not None:
            if max_log_index < 0:
                return None
            filters.append(Q.range_query(schema, "log", tantivy.FieldType.Integer, None, max_log_index))
        if scope is not None and (scope.tenants is not None or scope.windows is not None
                                  or scope.named is not None):
            allowed = []
            if scope.tenants:
                allowed.append((should, Q.term_set_query(schema, "tenant", sorted({key(t) or NO_TENANT
                                                                                   for t in scope.tenants}))))
            named = sorted({"i:" + key(t) for t in scope.named or () if key(t)})
            if named:
                allowed.append((should, Q.term_set_query(schema, "party", named)))
            for vkn_w, start, end in scope.windows or ():
                allowed.append((should, Q.boolean_query([
                    (must, Q.term_query(schema, "party", "i:" + key(vkn_w))),
                    (must, Q.range_query(schema, "date", tantivy.FieldType.Integer,
                                         max(start.toordinal(), 1), end.toordinal())),
                ])))
            if not allowed:
                return None
            filters.append(Q.boolean_query(allowed))
        # Filters narrow, they never score: a constant 0 keeps BM25 of the words alone.
        clauses += [(must, Q.const_score_query(f, 0.0)) for f in filters]
        return clauses[0][1] if len(clauses) == 1 else Q.boolean_query(clauses)

    def _run(self, searcher, query, limit: int, offset: int) -> TextPage:
        result = searcher.search(query, limit, count=True, offset=offset, weight_by_field="recency")
        return TextPage(
            hits=tuple(TextHit(searcher.doc(address)["digest"][0], float(score)) for score, address in result.hits),
            total=result.count,
        )

    def close(self) -> None:
        if not self._closed:
            self.release()
        self._closed = True

    def _require_open(self) -> None:
        if self._closed:
            raise ValueError("the full-text index is closed")


def _document(doc: TextDoc) -> tantivy.Document:
    terms = document_terms(doc.names, doc.body)
    prefixes: list[str] = []
    for word in terms.names:
        prefixes.extend(word[:n] for n in range(1, len(word) + 1))
    party = set()
    for role, pid in doc.parties:
        token = key(pid)
        if token:
            party.add(token)
            if role in INSPECTABLE_ROLES:
                party.add("i:" + token)
    return tantivy.Document(
        digest=doc.digest,
        names=" ".join(prefixes),
        words=" ".join(terms.words),
        kind=doc.kind,
        party=sorted(party),
        tenant=sorted({key(t) or NO_TENANT for t in doc.tenants}),
        date=doc.issue_date.toordinal() if doc.issue_date is not None else 0,
        log=doc.log_index,
        recency=_recency(doc.issue_date),
    )


def _recency(day: dt.date | None) -> float:
    days = max(0, day.toordinal() - _EPOCH) if day is not None else 0
    return 2.0 ** (1.0 + days * _PER_DAY) - 2.0
