"""Ingest: the one unit of work that takes documents into the archive.

For a group of documents (a "group commit"):

1. prepare, in parallel: sha256 the bytes, parse them (refusing hostile or non-XML input
   with a specific error), compress with the dictionary of the tenant's stream for the
   claimed issuer (never another tenant's: ``blobs.stream_key``; a dictionary a document
   seeds is stored, durably, before any blob may use it), and start writing the blob;
2. decide, from the index, what each document is: new, a new holding of bytes another
   tenant keeps, a duplicate, or rejected;
3. make the new documents' blobs durable, in one flush (an orphan blob a crash left under
   the same key is used if it decodes to the document, else the blob goes under its
   alternative key, FORMAT.md §4);
4. hand the entries to the ledger, which decides again under its write lock (another
   writer may have logged the same document meanwhile), appends them as one bundle and
   mirrors them into the index;
5. only then answer ``stored`` / ``duplicate`` / ``conflict`` / ``rejected``.

A crash before 4 leaves orphan blobs and nothing visible; a crash inside 4 is repaired by
the ledger.  Signature inspection is not on this path: documents are indexed as ``pending``
and checked beside the ingest (``SignatureChecks``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from earsiv.archive import blobs, faults
from earsiv.archive.errors import VerificationError, WriteOnceViolation
from earsiv.archive.ledger import Batch
from earsiv.archive.log.entries import BlobRef, DocumentEntry, Entry, HoldingEntry
from earsiv.archive.retention import retain_until
from earsiv.archive.stores.base import PutItem
from earsiv.documents.errors import InvalidDocument
from earsiv.documents.parse import parse_document
from earsiv.documents.textextract import DocumentText, extract_text
from earsiv.documents.xmlsafe import parse_xml
from earsiv.indexer.records import IndexRecord

if TYPE_CHECKING:
    from earsiv.archive.blobs import DictionaryBook, DictionaryRetention, EncodedBlob
    from earsiv.archive.holdings import Holdings
    from earsiv.archive.ledger import Ledger
    from earsiv.archive.retention import RetentionPolicy
    from earsiv.archive.stores.base import ObjectStore
    from earsiv.documents.metadata import DocumentMetadata
    from earsiv.indexer.db import Index

__all__ = ["STATUSES", "IngestParts", "IngestResult", "Ingestor", "Logged", "Source"]

STATUSES = ("stored", "duplicate", "conflict", "rejected")
MAX_INFLIGHT_BYTES = 96 * 1024 * 1024  # read but not yet prepared
MAX_BATCH_BYTES = 96 * 1024 * 1024  # prepared, waiting for the group commit
UTC = dt.UTC


@dataclass(frozen=True, slots=True)
class Source:
    name: str  # file path or "archive.zip:member" as the user will recognise it
    data: bytes | None = None
    error: str | None = None  # the source could not even be read


@dataclass(slots=True)
class IngestResult:
    path: str
    status: str
    digest: str | None = None
    kind: str | None = None
    error: str | None = None
    log_index: int | None = None
    size: int = 0
    stored_size: int = 0
    conflicts_with: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    code: str | None = None  # machine-readable reason of a rejection: not-xml, hostile-xml, too-large, unreadable
    shared: bool = False  # stored as a new holding of bytes another tenant's holding already keeps

    def to_json(self) -> dict:
        return {
            "path": self.path, "status": self.status, "digest": self.digest, "kind": self.kind, "error": self.error,
            "code": self.code, "log_index": self.log_index, "size": self.size, "stored_size": self.stored_size,
            "conflicts_with": self.conflicts_with, "flags": self.flags, "shared": self.shared,
        }


@dataclass(frozen=True, slots=True)
class IngestParts:
    """The parts of an archive the ingest uses, and nothing else."""

    ledger: Ledger
    store: ObjectStore
    index: Index
    dictionaries: DictionaryBook
    dictionary_retention: DictionaryRetention
    holdings: Holdings
    policy: RetentionPolicy
    max_document_bytes: int


@dataclass(frozen=True, slots=True)
class Logged:
    """What one group appended: leaves [first, first + count), and the documents they name, as parsed."""

    first: int
    count: int
    documents: dict[str, tuple[DocumentMetadata, DocumentText | None]]


@dataclass(slots=True)
class _Prepared:
    source: Source
    digest: str | None = None
    metadata: DocumentMetadata | None = None
    blob: EncodedBlob | None = None
    issuer: str | None = None
    error: str | None = None
    code: str | None = None
    received_at: dt.datetime | None = None
    retain_until: dt.datetime | None = None
    staged: PutItem | None = None  # the blob, written invisibly by the worker
    alt: str | None = None  # set when the blob goes under its alternative key
    reused: bool = False  # an orphan blob already holds exactly this document: nothing to write
    text: DocumentText | None = None  # what full-text search takes in, read while the tree was there

    @property
    def size(self) -> int:
        return len(self.source.data or b"")


@dataclass(slots=True)
class _Plan:
    """What a group is, decided from the index: new documents, new holdings, the rest."""

    results: list[IngestResult]
    new: list[tuple[_Prepared, IngestResult]]
    shared: list[tuple[_Prepared, IngestResult]]


def _issuer_of(meta: DocumentMetadata) -> str | None:
    party = meta.supplier
    if party is None or not party.id:
        return None
    return f"{meta.kind}/{party.id}"


def _name(p: _Prepared) -> str:
    return os.path.basename(p.source.name)[:255]


class Ingestor:
    def __init__(self, parts: IngestParts, *, tenant: str | None = None, batch_size: int = 64,
                 workers: int | None = None,
                 on_durable: Callable[[list[tuple[str, bytes]]], None] | None = None,
                 on_logged: Callable[[Logged], None] | None = None) -> None:
        self.parts = parts
        self.tenant = tenant
        self.batch_size = batch_size
        self.workers = workers or max(2, os.cpu_count() or 2)
        # Told (digest, bytes) of each group's new documents once they are durable, while the
        # bytes are still in memory: e.g. to check their signatures beside the ingest.
        self.on_durable = on_durable
        # Told what each group appended, with the parsed documents it names (new and newly
        # held): e.g. for the full-text index to take them in without reading them again.
        self.on_logged = on_logged

    # -- 1: prepare (in worker threads) -----------------------------------------------
    def _prepare(self, src: Source) -> _Prepared:
        p = _Prepared(src)
        if src.error is not None or src.data is None:
            p.error, p.code = src.error or "unreadable", "unreadable"
            return p
        data = src.data
        p.digest = hashlib.sha256(data).hexdigest()
        p.received_at = dt.datetime.now(UTC)
        try:
            tree = parse_xml(data, name=src.name, max_bytes=self.parts.max_document_bytes)
            p.metadata = parse_document(data, name=src.name, tree=tree)
        except InvalidDocument as exc:
            p.error, p.code = exc.detail, exc.code
            return p
        p.text = extract_text(tree, p.metadata)
        del tree
        p.issuer = _issuer_of(p.metadata)
        p.retain_until = retain_until(p.metadata.issue_date, p.received_at, self.parts.policy, p.metadata.kind)
        # The stream is this tenant's: its sizes depend on nothing another tenant archived.  A document
        # that turns out to be another tenant's bytes already (a shared holding) keeps that tenant's blob.
        stream = blobs.stream_key(self.tenant, p.issuer)
        p.blob = self.parts.dictionaries.encode(data, p.digest, stream, p.retain_until)
        # The slow part of storing (writing the bytes) happens here, in parallel; the commit
        # only links and flushes.
        p.staged = self.parts.store.stage(PutItem(blobs.blob_key(p.digest), p.blob.frame, p.retain_until))
        faults.point("ingest.after-stage")
        return p

    # -- 2: decide -----------------------------------------------------------------------
    def _decide(self, batch: list[_Prepared]) -> _Plan:
        index = self.parts.index
        ok = [p for p in batch if p.error is None and p.digest is not None]
        kinds = index.kinds_of([p.digest for p in ok])  # type: ignore[misc]
        holders = index.access.holdings_of([p.digest for p in ok if p.digest in kinds])
        ettns = index.digests_with_ettns([p.metadata.ettn for p in ok if p.metadata and p.metadata.ettn
                                          and "ettn-pattern" not in p.metadata.flags])
        mine = self.tenant or ""
        plan = _Plan([], [], [])
        seen: dict[str, IngestResult] = {}
        batch_ettns: dict[str, str] = {}
        for p in batch:
            if p.error is not None or p.digest is None:
                plan.results.append(IngestResult(p.source.name, "rejected", p.digest, error=p.error, size=p.size,
                                                 code=p.code))
                continue
            assert p.metadata is not None
            flags = list(p.metadata.flags)
            if p.digest in kinds or p.digest in seen:
                kind = kinds.get(p.digest) or seen[p.digest].kind
                others = holders.get(p.digest, [])
                if p.digest not in seen and all(h.tenant != mine for h in others):
                    # The same bytes archived for another tenant: one blob, a new holding.
                    res = IngestResult(p.source.name, "stored", p.digest, kind, size=p.size, flags=flags, shared=True)
                    plan.shared.append((p, res))
                    seen[p.digest] = res
                else:
                    res = IngestResult(p.source.name, "duplicate", p.digest, kind, size=p.size)
                plan.results.append(res)
                continue
            # A placeholder or malformed ETTN (%UUID%, ##UUID##) names nothing: equal
            # placeholders are not a conflict between documents.
            conflicts: list[str] = []
            if p.metadata.ettn and "ettn-pattern" not in p.metadata.flags:
                key = p.metadata.ettn.lower()
                conflicts = [d for d in ettns.get(key, []) if d != p.digest]
                if key in batch_ettns:
                    conflicts.append(batch_ettns[key])
                batch_ettns.setdefault(key, p.digest)
            assert p.blob is not None
            res = IngestResult(p.source.name, "conflict" if conflicts else "stored", p.digest, p.metadata.kind,
                               size=p.size, stored_size=len(p.blob.frame), conflicts_with=sorted(set(conflicts)),
                               flags=flags)
            plan.new.append((p, res))
            seen[p.digest] = res
            plan.results.append(res)
        return plan

    # -- 3: blobs durable ------------------------------------------------------------------
    def _store_blobs(self, plan: _Plan, batch: list[_Prepared]) -> None:
        store = self.parts.store
        new = {p.digest: p for p, _res in plan.new}
        for p in batch:  # staged blobs of documents that need none
            if p.staged is not None and p.digest not in new:
                store.discard(p.staged)
            p.staged = None if p.digest not in new else p.staged
        items = [p.staged for p in new.values() if p.staged is not None]
        for _attempt in range(len(new) + 1):
            try:
                store.put_many(items)
                break
            except WriteOnceViolation as exc:
                p = new.get(_digest_of_key(exc.name))
                if p is None or p.alt is not None or p.reused:
                    raise
                self._orphan(p)
                # The failed call dropped what was staged: everything goes again, from the bytes.
                items = [_blob_item(q) for q in new.values() if not q.reused]
        else:  # pragma: no cover - each round settles one key
            raise WriteOnceViolation("could not store the blobs of a group: keys keep changing hands")
        for p in new.values():
            p.staged = None
        # Each dictionary is kept as long as the longest-kept blob that uses it.
        longest: dict[str, dt.datetime] = {}
        for p in new.values():
            if p.blob is not None and p.blob.dict_digest and p.retain_until is not None:
                d = p.blob.dict_digest
                longest[d] = max(p.retain_until, longest.get(d, p.retain_until))
        for d, until in longest.items():
            self.parts.dictionary_retention.keep(d, until)
        faults.point("ledger.after-blobs")

    def _orphan(self, p: _Prepared) -> None:
        """The blob's key holds other bytes that no leaf names (what a crash left): use them, or step aside."""
        assert p.digest is not None and p.blob is not None
        existing = self.parts.store.get(blobs.blob_key(p.digest))
        for dict_digest in dict.fromkeys([p.blob.dict_digest, None]):
            try:
                raw = self.parts.dictionaries.raw(dict_digest) if dict_digest else None
                data = blobs.decode(existing, raw)
            except VerificationError:
                continue
            if hashlib.sha256(data).hexdigest() == p.digest:
                p.blob = dataclasses.replace(p.blob, frame=existing, dict_digest=dict_digest)
                p.reused = True
                return
        p.alt = blobs.frame_alt(p.blob.frame)

    # -- 4: log and index -------------------------------------------------------------------
    def _build(self, batch: list[_Prepared], stored: set[str]) -> tuple[Batch, _Plan]:
        """The entries of the group, decided again under the ledger's write lock."""
        plan = self._decide(batch)
        entries: list[Entry] = []
        records: dict[str, IndexRecord] = {}
        untils: list[dt.datetime] = []
        for p, res in plan.new:
            if p.digest not in stored:
                raise RuntimeError(f"{p.digest} became a new document only after its blob was skipped")
            doc, rec = self._document(p, res)
            entries += [doc, HoldingEntry(p.digest, self.tenant, doc.received_at, doc.retain_until, _name(p))]  # type: ignore[arg-type]
            records[doc.digest] = rec
            untils.append(doc.retain_until)
        holders = self.parts.index.access.holdings_of([p.digest for p, _res in plan.shared])  # type: ignore[misc]
        for p, _res in plan.shared:
            assert p.digest is not None and p.received_at is not None and p.retain_until is not None
            longest = max((h.retain_until for h in holders.get(p.digest, [])), default=None)
            if longest is None or p.retain_until > longest:
                row = self.parts.index.get(p.digest)
                if row is not None:
                    self.parts.holdings.keep_blob(row, p.retain_until)
            entries.append(HoldingEntry(p.digest, self.tenant, p.received_at, p.retain_until, _name(p)))
            untils.append(p.retain_until)
        return Batch(entries, records, max(untils, default=None)), plan

    def _document(self, p: _Prepared, res: IngestResult) -> tuple[DocumentEntry, IndexRecord]:
        meta, blob = p.metadata, p.blob
        assert meta is not None and blob is not None and p.digest is not None
        assert p.received_at is not None and p.retain_until is not None
        alt = p.alt
        res.stored_size = len(blob.frame)
        doc = DocumentEntry(
            digest=p.digest, size=p.size, blob=BlobRef(len(blob.frame), blob.dict_digest, alt),
            received_at=p.received_at, retain_until=p.retain_until, kind=meta.kind, id=meta.doc_id, ettn=meta.ettn,
            issue_date=meta.issue_date.isoformat() if meta.issue_date else None, issuer=p.issuer,
            seeds_dict=blob.new_dict[0] if blob.new_dict else None, conflicts_with=tuple(res.conflicts_with),
        )
        # Who archived it, and under which file name, is the holding's: its own leaf, right
        # after the document's, so that the document's leaf names no tenant.
        rec = IndexRecord(
            digest=p.digest, size=p.size, stored_size=len(blob.frame), dict_digest=blob.dict_digest, log_index=-1,
            received_at=doc.received_at, retain_until=doc.retain_until, legal_hold=False, tenant=None,
            source_name=None, metadata=meta, first_holding=False, blob_alt=alt, text=p.text,
        )
        return doc, rec

    def _commit(self, batch: list[_Prepared]) -> list[IngestResult]:
        plan = self._decide(batch)
        self._store_blobs(plan, batch)
        stored = {p.digest for p, _res in plan.new}
        final: list[_Plan] = []

        def build() -> Batch:
            entries, decided = self._build(batch, stored)  # type: ignore[arg-type]
            final[:] = [decided]
            return entries

        done = self.parts.ledger.append(build)
        decided = final[0] if final else plan
        if done is not None:
            index = done.first
            for _p, res in decided.new:
                res.log_index = index
                index += 2  # the document's leaf, then its first holding's
            for _p, res in decided.shared:
                res.log_index = index
                index += 1
        if self.on_durable is not None and decided.new:
            self.on_durable([(p.digest, p.source.data) for p, _res in decided.new])  # type: ignore[misc]
        if self.on_logged is not None and done is not None:
            self.on_logged(Logged(done.first, done.count, {
                p.digest: (p.metadata, p.text) for p, _res in (*decided.new, *decided.shared)  # type: ignore[misc]
            }))
        return decided.results

    # -- the loop ------------------------------------------------------------------------------
    def run(self, sources: Iterable[Source]) -> Iterator[IngestResult]:
        """Ingest *sources*; yield one result per source, in order, each after it is durable."""
        # Work in flight is bounded by count and by bytes, so memory stays flat whatever the
        # size of the job or of its documents.
        window = self.batch_size * 2
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="ingest") as pool:
            pending: deque = deque()
            inflight = 0
            batch: list[_Prepared] = []
            batch_bytes = 0
            it = iter(sources)
            exhausted = False
            while True:
                while not exhausted and len(pending) < window and inflight < MAX_INFLIGHT_BYTES:
                    try:
                        src = next(it)
                    except StopIteration:
                        exhausted = True
                        break
                    inflight += len(src.data or b"")
                    pending.append(pool.submit(self._prepare, src))
                if not pending:
                    break
                prepared = pending.popleft().result()
                inflight -= prepared.size
                batch_bytes += prepared.size
                batch.append(prepared)
                if len(batch) >= self.batch_size or batch_bytes >= MAX_BATCH_BYTES or (exhausted and not pending):
                    yield from self._commit(batch)
                    batch, batch_bytes = [], 0
            if batch:
                yield from self._commit(batch)


def _blob_item(p: _Prepared) -> PutItem:
    assert p.digest is not None and p.blob is not None and p.retain_until is not None
    return PutItem(blobs.blob_key(p.digest, p.alt), p.blob.frame, p.retain_until)


def _digest_of_key(key: str | None) -> str | None:
    """The digest a blob key names (``blobs/ab/<digest>``), else None."""
    if key and key.startswith("blobs/"):
        return key.rsplit("/", 1)[1].split(".", 1)[0]
    return None
