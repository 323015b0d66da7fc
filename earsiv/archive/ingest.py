"""Ingest: the one unit of work that takes a document into the archive.

For a group of documents (a "group commit"):

1. prepare, in parallel: sha256 the bytes, parse them (refusing hostile or
   non-XML input with a specific error), compress with the issuer's dictionary;
2. store every new blob (and any dictionary it seeded), durably, in one flush;
3. append one log leaf per stored document, as one bundle, durably;
4. add the documents to the SQL index in one transaction;
5. only then answer ``stored`` / ``duplicate`` / ``conflict`` / ``rejected``.

A crash before 3 leaves orphan blobs and nothing visible; a crash between 3
and 4 is repaired when the archive is next opened (the index catches up with
the log).  Signature inspection is not on this path: documents are indexed as
``pending`` and a worker inspects them after (``Archive.inspect_pending``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from earsiv.archive.blobs import EncodedBlob, blob_key, dict_key
from earsiv.archive.log.log import encode_entry
from earsiv.archive.retention import retain_until
from earsiv.archive.stores.base import PutItem
from earsiv.documents.errors import InvalidDocument
from earsiv.documents.metadata import DocumentMetadata
from earsiv.documents.parse import parse_document
from earsiv.documents.xmlsafe import parse_xml
from earsiv.indexer.accessdb import HoldingRow
from earsiv.indexer.records import IndexRecord

if TYPE_CHECKING:
    from earsiv.archive.archive import Archive

__all__ = ["STATUSES", "IngestResult", "Ingestor", "Source", "holding_row"]

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
            "path": self.path,
            "status": self.status,
            "digest": self.digest,
            "kind": self.kind,
            "error": self.error,
            "code": self.code,
            "log_index": self.log_index,
            "size": self.size,
            "stored_size": self.stored_size,
            "conflicts_with": self.conflicts_with,
            "flags": self.flags,
            "shared": self.shared,
        }


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


def _issuer_of(meta: DocumentMetadata) -> str | None:
    party = meta.supplier
    if party is None or not party.id:
        return None
    return f"{meta.kind}/{party.id}"


def _iso(t: dt.datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Ingestor:
    def __init__(self, archive: Archive, *, tenant: str | None = None, batch_size: int = 64, workers: int | None = None) -> None:
        self.archive = archive
        self.tenant = tenant
        self.batch_size = batch_size
        self.workers = workers or max(2, os.cpu_count() or 2)

    # -- stage 1 -----------------------------------------------------------
    def _prepare(self, src: Source) -> _Prepared:
        p = _Prepared(src)
        if src.error is not None or src.data is None:
            p.error = src.error or "unreadable"
            p.code = "unreadable"
            return p
        data = src.data
        p.digest = hashlib.sha256(data).hexdigest()
        p.received_at = dt.datetime.now(UTC)
        try:
            tree = parse_xml(data, name=src.name, max_bytes=self.archive.config.max_document_bytes)
            p.metadata = parse_document(data, name=src.name, tree=tree)
        except InvalidDocument as exc:
            p.error, p.code = exc.detail, exc.code
            return p
        del tree
        p.issuer = _issuer_of(p.metadata)
        p.blob = self.archive.dictionaries.encode(data, p.digest, p.issuer)
        p.retain_until = retain_until(p.metadata.issue_date, p.received_at, self.archive.policy)
        # The slow part of storing (writing the bytes) happens here, in
        # parallel; the commit only links and flushes.
        p.staged = self.archive.store.stage(PutItem(blob_key(p.digest), p.blob.frame, p.retain_until))
        return p

    # -- stages 2-5 --------------------------------------------------------
    def _commit(self, batch: list[_Prepared]) -> list[IngestResult]:
        arch = self.archive
        results: list[IngestResult] = []
        ok = [p for p in batch if p.error is None and p.digest is not None]
        held = arch.index.kinds_of([p.digest for p in ok])
        mine = self.tenant or ""
        holdings = arch.index.access.holdings_of([p.digest for p in ok if p.digest in held])
        new_holdings: list[tuple[IngestResult, dict]] = []
        ettn_holders = arch.index.digests_with_ettns(
            [p.metadata.ettn for p in ok if p.metadata and p.metadata.ettn and "ettn-pattern" not in p.metadata.flags]
        )
        puts: list[PutItem] = []
        entries: list[tuple[IngestResult, dict, IndexRecord, dict]] = []
        seen: dict[str, IngestResult] = {}
        ettns: dict[str, str] = {}
        new_dicts: dict[str, bytes] = {}
        dict_until: dict[str, dt.datetime] = {}
        for p in batch:
            name = p.source.name
            if p.error is not None:
                results.append(IngestResult(name, "rejected", p.digest, error=p.error, size=len(p.source.data or b""), code=p.code))
                continue
            assert p.digest is not None
            if p.digest in held or p.digest in seen:
                kind = held.get(p.digest) or seen[p.digest].kind
                others = holdings.get(p.digest, [])
                if p.digest in held and p.digest not in seen and all(h.tenant != mine for h in others):
                    # The same bytes archived for another tenant: one blob, a new holding.
                    res = IngestResult(name, "stored", p.digest, kind, size=len(p.source.data or b""),
                                       flags=list(p.metadata.flags) if p.metadata else [], shared=True)
                    assert p.retain_until is not None and p.received_at is not None
                    if p.retain_until > max(h.retain_until for h in others):
                        arch.extend_blob_retention(p.digest, p.retain_until)
                    new_holdings.append((res, {
                        "v": 1, "type": "holding", "digest": p.digest, "tenant": self.tenant,
                        "received_at": _iso(p.received_at), "retain_until": _iso(p.retain_until),
                        "name": os.path.basename(name)[:255],
                    }))
                    seen[p.digest] = res
                    results.append(res)
                else:
                    results.append(IngestResult(name, "duplicate", p.digest, kind, size=len(p.source.data or b"")))
                if p.staged is not None:
                    arch.store.discard(p.staged)
                if p.blob is not None and p.blob.new_dict is not None:
                    # It seeded its issuer's dictionary before we knew it was a
                    # duplicate; later documents may already use that dictionary.
                    new_dicts[p.blob.new_dict[0]] = p.blob.new_dict[1]
                    dict_until[p.blob.new_dict[0]] = max(p.retain_until, dict_until.get(p.blob.new_dict[0], p.retain_until))
                continue
            meta, blob = p.metadata, p.blob
            assert meta is not None and blob is not None
            conflicts: list[str] = []
            # A placeholder or malformed ETTN (%UUID%, ##UUID##) names nothing:
            # equal placeholders are not a conflict between documents.
            if meta.ettn and "ettn-pattern" not in meta.flags:
                key = meta.ettn.lower()
                conflicts = [d for d in ettn_holders.get(key, []) if d != p.digest]
                if key in ettns:
                    conflicts.append(ettns[key])
                ettns.setdefault(key, p.digest)
            until, now = p.retain_until, p.received_at
            assert until is not None and now is not None and p.staged is not None
            puts.append(p.staged)
            if blob.new_dict is not None:
                new_dicts[blob.new_dict[0]] = blob.new_dict[1]
                dict_until[blob.new_dict[0]] = max(until, dict_until.get(blob.new_dict[0], until))
            if blob.dict_digest is not None:
                dict_until[blob.dict_digest] = max(until, dict_until.get(blob.dict_digest, until))
            res = IngestResult(
                name,
                "conflict" if conflicts else "stored",
                p.digest,
                meta.kind,
                size=len(p.source.data or b""),
                stored_size=len(blob.frame),
                conflicts_with=sorted(set(conflicts)),
                flags=list(meta.flags),
            )
            entry = {
                "v": 1,
                "type": "document",
                "digest": p.digest,
                "size": res.size,
                "blob": {"codec": "zstd", "dict": blob.dict_digest, "stored_size": len(blob.frame)},
                "received_at": _iso(now),
                "retain_until": _iso(until),
                "kind": meta.kind,
                "id": meta.doc_id,
                "ettn": meta.ettn,
                "issue_date": meta.issue_date.isoformat() if meta.issue_date else None,
                "issuer": p.issuer,
                "seeds_dict": blob.new_dict[0] if blob.new_dict else None,
                "conflicts_with": res.conflicts_with,
            }
            record = IndexRecord(
                digest=p.digest,
                size=res.size,
                stored_size=len(blob.frame),
                dict_digest=blob.dict_digest,
                log_index=-1,
                received_at=dt.datetime.fromisoformat(entry["received_at"]),
                retain_until=dt.datetime.fromisoformat(entry["retain_until"]),
                legal_hold=False,
                tenant=None,
                source_name=None,
                metadata=meta,
                first_holding=False,
            )
            # Who archived it, and under which file name, is the holding's: its own leaf,
            # right after the document's, so that the document's leaf names no tenant.
            holding = {"v": 1, "type": "holding", "digest": p.digest, "tenant": self.tenant,
                       "received_at": entry["received_at"], "retain_until": entry["retain_until"],
                       "name": os.path.basename(name)[:255]}
            seen[p.digest] = res
            entries.append((res, entry, record, holding))
            results.append(res)
        if entries or new_dicts:
            # A dictionary is stored with (or before) the first blob that needs
            # it, and kept at least as long as the longest-kept of those blobs.
            for digest, until in dict_until.items():
                if digest in new_dicts:
                    puts.append(PutItem(dict_key(digest), new_dicts[digest], until))
                else:
                    puts.extend(arch.dictionary_puts(digest, until))
            arch.store.put_many(puts)
        if entries or new_holdings:
            self._append(entries, new_holdings)
        return results

    def _append(self, entries: list[tuple[IngestResult, dict, IndexRecord, dict]],
                new_holdings: list[tuple[IngestResult, dict]]) -> None:
        """One bundle: each new document's leaf followed by its first holding, then later holdings."""
        arch = self.archive
        leaves: list[bytes] = []
        for _r, e, _rec, h in entries:
            leaves += [encode_entry(e), encode_entry(h)]
        leaves += [encode_entry(e) for _r, e in new_holdings]
        batch_until = max([rec.retain_until for _r, _e, rec, _h in entries]
                          + [dt.datetime.fromisoformat(e["retain_until"]) for _r, e in new_holdings])
        with arch.write_lock:
            first = arch.log.append(leaves, arch.log_retention(batch_until))
            records, rows = [], []
            for i, (res, _e, rec, h) in enumerate(entries):
                res.log_index = first + 2 * i
                records.append(_with_index(rec, first + 2 * i))
                rows.append(holding_row(first + 2 * i + 1, h))
            for i, (res, e) in enumerate(new_holdings, start=first + 2 * len(entries)):
                res.log_index = i
                rows.append(holding_row(i, e))
            arch.index.add(records)
            arch.index.access.add_holdings(rows)
            arch.after_append(first + len(leaves), [e for _r, e, _rec, _h in entries])

    def run(self, sources: Iterable[Source]) -> Iterator[IngestResult]:
        """Ingest *sources*; yield one result per source, in order, each after it is durable."""
        # Work in flight is bounded by count and by bytes, so memory stays flat
        # whatever the size of the job or of its documents.
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
                size = len(prepared.source.data or b"")
                inflight -= size
                batch_bytes += size
                batch.append(prepared)
                if len(batch) >= self.batch_size or batch_bytes >= MAX_BATCH_BYTES or (exhausted and not pending):
                    yield from self._commit(batch)
                    batch, batch_bytes = [], 0
            if batch:
                yield from self._commit(batch)


def _with_index(rec: IndexRecord, index: int) -> IndexRecord:
    from dataclasses import replace

    return replace(rec, log_index=index)


def holding_row(idx: int, entry: dict) -> HoldingRow:
    """The index row of a ``holding`` leaf: a later tenant's holding of a stored document."""
    return HoldingRow(entry["digest"], entry.get("tenant") or "", idx, dt.datetime.fromisoformat(entry["received_at"]),
                      dt.datetime.fromisoformat(entry["retain_until"]), False, entry.get("name"))
