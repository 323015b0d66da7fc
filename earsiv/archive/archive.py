"""The archive: where an archive home is opened and its parts are put together.

This is the composition root, and the only place that knows how a home is laid out:

    HOME/config.toml                   settings (see config.py)
    HOME/keys/archive-signing-key.pem  signs checkpoints (0600)
    HOME/tsa/                          the built-in TSA's key and certificate
    HOME/store/                        the local object store: the archive itself
    HOME/index.sqlite                  the SQL index (derived, rebuildable)
    HOME/fulltext/                     the full-text index (derived, rebuildable)
    HOME/cache/                        the log's lock file, the last stamping outcome

Each service gets the few parts it uses: the ledger appends (``ledger.py``), the
checkpointer signs and stamps (``checkpointer.py``), ingest, holdings and access decide
what to append, ``originals`` reads documents back.  ``Archive`` keeps short delegating
methods for the interfaces (CLI, HTTP) and the tests.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlparse

from earsiv.archive import blobs, faults
from earsiv.archive.access import AccessControl
from earsiv.archive.checkpointer import Checkpointer
from earsiv.archive.config import CONFIG_FILE, Config, load_config, write_default_config
from earsiv.archive.errors import (
    ConfigError,
    DocumentNotFound,
    StoreError,
    StoreUnavailable,
    VerificationError,
    WriteOnceViolation,
)
from earsiv.archive.ers import ErsBook
from earsiv.archive.holdings import Holdings
from earsiv.archive.ingest import Ingestor, IngestParts, IngestResult, Logged, Source
from earsiv.archive.keyrotation import HomeKeys
from earsiv.archive.keys import PublicKey, Signer
from earsiv.archive.ledger import Ledger, LogRetention
from earsiv.archive.log.checkpoints import checkpoint_key
from earsiv.archive.log.entries import DocumentEntry
from earsiv.archive.log.log import Log
from earsiv.archive.mirror import Mirror
from earsiv.archive.originals import Originals
from earsiv.archive.rebuild import Report, rebuild_log
from earsiv.archive.renewal import RenewalBook
from earsiv.archive.retention import RetentionPolicy
from earsiv.archive.signatures import SignatureChecks
from earsiv.archive.stores.base import ObjectStore, PutItem
from earsiv.archive.stores.local import LocalStore
from earsiv.archive.stores.replicated import ReplicatedStore, copies_of
from earsiv.archive.trust import load_trust
from earsiv.archive.tsa.configured import make_tsas, tsa_status
from earsiv.documents.metadata import DocumentMetadata
from earsiv.documents.parse import parse_document
from earsiv.documents.signature import inspect_signature
from earsiv.documents.textextract import extract_text
from earsiv.documents.xmlsafe import parse_xml
from earsiv.errors import StorageFull
from earsiv.indexer.db import Index, Ordered, Tally
from earsiv.indexer.query import SearchPage, SearchQuery
from earsiv.indexer.records import IndexRecord

if TYPE_CHECKING:
    from cryptography import x509

    from earsiv.archive.log.checkpoints import Checkpoint
    from earsiv.archive.textsearch import FullText

__all__ = ["ARCHIVE_OBJECT", "LOG_LAYOUT", "Archive", "Status", "open_store"]

log = logging.getLogger("earsiv.archive")
ARCHIVE_OBJECT = "earsiv.json"
FORMAT_NAME, FORMAT_VERSION = "earsiv-archive", 1
# The index's record that its log catalog and the store's hash tiles are complete (format
# 1.1, FORMAT.md §12).  An index without it (older, or reset) gets them in one pass.
LOG_LAYOUT = "tiles-1"
UTC = dt.UTC
FOREVER = dt.datetime(9999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Status:
    documents: int
    bytes_original: int
    bytes_stored: int
    log_size: int
    last_checkpoint: dict | None
    pending_signatures: int
    unstamped_checkpoints: int
    pending_fulltext: int
    by_kind: dict
    by_signature: dict
    last_stamp: dict | None = None
    signature_trust: dict | None = None
    audit: dict | None = None
    replica: dict | None = None
    oldest_unstamped: str | None = None  # when the oldest checkpoint still without its token was made
    tsa: dict | None = None
    key_fingerprint: str | None = None  # sha256 of the archive key's DER SubjectPublicKeyInfo: compare it out of band
    keys: dict | None = None  # the first key, the key in force, and every rotation
    locations: dict | None = None  # where each store's bytes sit, as configured (LAW.md L3)

    def to_json(self) -> dict:
        ratio = self.bytes_stored / self.bytes_original if self.bytes_original else None
        return {
            "documents": self.documents,
            "bytes_original": self.bytes_original,
            "bytes_stored": self.bytes_stored,
            "stored_ratio": round(ratio, 5) if ratio is not None else None,
            "log_size": self.log_size,
            "last_checkpoint": self.last_checkpoint,
            "last_stamp_attempt": self.last_stamp,
            "pending": {"signature_checks": self.pending_signatures, "unstamped_checkpoints": self.unstamped_checkpoints,
                        "oldest_unstamped": self.oldest_unstamped, "fulltext": self.pending_fulltext},
            "tsa": self.tsa,
            "key_fingerprint": self.key_fingerprint,
            "keys": self.keys,
            "by_kind": self.by_kind,
            "by_signature": self.by_signature,
            "signature_trust": self.signature_trust,
            "audit": self.audit,
            "replica": self.replica,
            "locations": self.locations,
        }


def _open_store(cfg: Config, *, self_test: bool = False) -> ObjectStore:
    """The home's store; with a replica configured, both, written together (``stores.replicated``)."""
    store = open_store(cfg.store_url, allow_unenforced_lock=cfg.allow_unenforced_lock, self_test=self_test)
    if not cfg.replica_url:
        return store
    try:
        replica = open_store(cfg.replica_url, allow_unenforced_lock=cfg.allow_unenforced_lock, self_test=self_test)
    except BaseException:
        store.close()
        raise
    return ReplicatedStore(store, replica)


def open_store(url: str, *, allow_unenforced_lock: bool = False, self_test: bool = False) -> ObjectStore:
    """The store at *url*; with *self_test*, an S3 bucket only after its Object Lock self-test passed.

    The self-test leaves a canary locked for a day, so only ``init`` and a
    ``migrate-store`` destination ask for it here; the service runs it itself.
    """
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        from earsiv.archive.stores.s3 import S3Store

        return S3Store.open(url, allow_unenforced_lock=allow_unenforced_lock, self_test=self_test)
    if parsed.scheme == "file":
        return LocalStore(Path(parsed.path))
    raise ConfigError(f"unsupported store URL {url!r}: expected file:///path or s3://BUCKET?endpoint=...")


class Archive:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.home = config.home
        self.store = _open_store(config)
        first_key_id = self._check_format()
        self.policy = RetentionPolicy(years_after_year_end=config.retention_years, by_kind=config.retention_kinds)
        self.index = Index(config.db_url)
        self.trust = load_trust(config.signature_trust)  # a bad trust store stops here, by name
        self.index.upgrade()
        self.dictionaries = blobs.DictionaryBook(self._fetch_dict, resolve=self._resolve_dict,
                                                 store=self._store_dictionary)
        self.dictionary_retention = blobs.DictionaryRetention(self.store)
        self.originals = Originals(self.store, self.dictionaries)
        self.log = Log(self.store, f"earsiv:{config.archive_id}", self.index.log)
        self.keys = HomeKeys(self.home, self.store, self.index, self.log.origin, first_key_id)
        self.ledger = Ledger(log=self.log, index=self.index,
                             mirror=Mirror(self._record_from_leaf, on_seed=self.dictionaries.known),
                             lock_path=self.home / "cache" / "log.lock",
                             checkpoint_interval=config.checkpoint_interval)
        self._tsas: list | None = None
        self.checkpointer = Checkpointer(ledger=self.ledger, store=self.store, keys=self.keys, tsas=self._get_tsas,
                                         origin=self.log.origin, status_file=self.home / "cache" / "stamp.json",
                                         stamps=config.tsa_stamps, on_anchor=self._anchor_recorded)
        # Signed now, stamped later: a slow or absent TSA must not hold up the ingest.
        self.ledger.on_checkpoint_due = lambda: self.checkpointer.checkpoint(stamp=False)
        self.holdings = Holdings(self.ledger, self.store, self.index, self.dictionary_retention)
        self.access = AccessControl(self.ledger, self.index, self.search)
        self._text: FullText | None = None
        self._tsa_certs: list[x509.Certificate] | None = None
        self.renewals = RenewalBook(self.store)
        self.ers = ErsBook(self.store, self.home / "cache" / "hash-tree-heads.json")
        self._open_log()
        try:
            self.keys.settle(self.ledger)  # finishes or undoes a key rotation a crash interrupted
        except StoreError as exc:
            log.warning("%s", exc)  # reading works; signing a checkpoint will say the same

    def _anchor_recorded(self, fingerprint: str) -> None:
        """A configured anchor the checkpointer stored: this home trusts it later even if unconfigured."""
        from earsiv.archive.tsa.stored import confirm

        confirm(self.home, {fingerprint})

    # -- life cycle --------------------------------------------------------
    @classmethod
    def init(cls, home: Path, *, store_url: str | None = None, db_url: str | None = None,
             replica_url: str | None = None) -> Archive:
        """Create a home and its store; on any failure leave the home as it was."""
        home = Path(home)
        made = [p for p in (home / CONFIG_FILE, home / "keys", home / "tsa", home / "store") if not p.exists()]
        try:
            cfg = cls._init(home, store_url, db_url, replica_url)
        except BaseException:
            for p in made:
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            raise
        return cls(load_config(cfg.home))

    @classmethod
    def _init(cls, home: Path, store_url: str | None, db_url: str | None, replica_url: str | None) -> Config:
        from earsiv.archive.tsa.authorities import LocalTSA

        cfg = write_default_config(home, store_url=store_url, db_url=db_url, replica_url=replica_url)
        store = _open_store(cfg, self_test=True)  # first: an unreachable or unenforcing store stops us here
        for _name, copy in copies_of(store):
            if copy.exists(ARCHIVE_OBJECT):
                raise ConfigError(f"{copy.url} already holds an archive; point a home at it with its own config.toml")
        Signer.create(cfg.home / "keys")
        tsa = LocalTSA.create(cfg.home / "tsa")
        signer = Signer.load(cfg.home / "keys")
        doc = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "archive_id": cfg.archive_id,
            "created": dt.datetime.now(UTC).isoformat(),
            "log_key": signer.public.key_id,
        }
        store.put_many(
            [
                PutItem(ARCHIVE_OBJECT, json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n", FOREVER),
                PutItem(f"keys/{signer.public.key_id}.pem", signer.public.pem, FOREVER),
                PutItem(f"keys/tsa-{cert_id(tsa.certificate_pem)}.pem", tsa.certificate_pem, FOREVER),
            ]
        )
        store.close()
        return cfg

    @classmethod
    def open(cls, home: Path) -> Archive:
        config = load_config(home)
        for warning in config.location_warnings():
            log.warning("%s", warning)
        return cls(config)

    def _open_log(self) -> None:
        """The log's state from its latest checkpoint and the tail after it; the index caught up."""
        if self.index.meta_get("log_layout") != LOG_LAYOUT:
            self.rebuild_log(mirror_from=self.ledger.mirrored())
        else:
            latest = self.index.log.latest_checkpoint()
            if latest is not None:
                try:
                    ring = self.keys.ring()
                    cp, sig, _token = self.log.load_checkpoint(latest.size, ring.accepts)
                    ring.verify_checkpoint(sig, cp)
                    self.log.load(cp)
                except (StoreError, VerificationError) as exc:
                    log.warning("cannot start from checkpoint %d (%s): reading the whole log instead", latest.size, exc)
                    self.rebuild_log(mirror_from=self.ledger.mirrored())
        try:
            self.ledger.catch_up()
        except StorageFull as exc:  # reads must still answer, from the index as it is
            behind = self.log.size - self.ledger.mirrored()
            log.warning("the SQL index is %d log entries behind the log and cannot catch up (%s); "
                        "answers leave out what they hold", behind, exc)

    def rebuild_log(self, *, mirror_from: int, progress: Callable[[int], None] | None = None) -> Report:
        """One pass over the whole log: hash tiles and the index's log catalog (``rebuild.py``)."""
        bundles = next(iter(self.store.list("log/leaves/")), None) is not None
        if bundles and progress is None:
            print("earsiv: preparing the log's hash tiles and catalog (once, for an archive or index "
                  "written before them; this reads the whole log) ...", file=sys.stderr)
        with self.ledger.write_lock():
            report = rebuild_log(self.ledger, self.keys, mirror_from=mirror_from, progress=progress,
                                 stamps=self.config.tsa_stamps)
        for what, why in report.problems:
            log.warning("%s: %s", what, why)
        self.index.meta_set("log_layout", LOG_LAYOUT)
        return report

    @property
    def tsa(self):
        return self._get_tsa()

    def _get_tsa(self):
        """The first configured time-stamp authority."""
        return self._get_tsas()[0]

    def _get_tsas(self) -> list:
        """The configured time-stamp authorities, made on first use (stamping is the only user)."""
        if self._tsas is None:
            self._tsas = make_tsas(self.config)
        return self._tsas

    @property
    def text(self) -> FullText:
        """Full-text search, made on first use: in the index database when it has text search
        (PostgreSQL), else the embedded index in HOME/fulltext."""
        if self._text is None:
            from earsiv.archive.textsearch import DatabaseText, EmbeddedText

            if self.index.has_text_search:
                self._text = DatabaseText(self.index)
            else:
                self._text = EmbeddedText(self.home / "fulltext", index=self.index, log=self.log,
                                          read=self.original, mark_note=self.home / "cache" / "fulltext-mark.json")
        return self._text

    def search(self, q: SearchQuery) -> SearchPage:
        """A page of documents: from the full-text index when *q* has text, else from SQL."""
        return self.text.search(q) if q.text is not None else self.index.search(q)

    def ordered(self, q: SearchQuery, cap: int, sort: str, *, descending: bool, offset: int, size: int) -> Ordered:
        """A page of the list of the newest *cap* matches of *q* (full text on the embedded engine: the
        best *cap*) in *sort*'s order, with the list's size and totals (``Index.ordered``)."""
        if q.text is not None and not self.index.has_text_search:
            every = self.text.every_hit(q, cap)
            if every is not None:  # all of them: the SQL index filters them as it sorts
                every_q = dataclasses.replace(q, text=None, digests=tuple(every))
                return self.index.ordered(every_q, cap, sort, descending=descending, offset=offset, size=size)
            hits = self.text.matching(q, cap + 1)
            best = dataclasses.replace(q, text=None, digests=tuple(hits[:cap]))
            found = self.index.ordered(best, cap, sort, descending=descending, offset=offset, size=size)
            return dataclasses.replace(found, cut=len(hits) > cap)
        return self.index.ordered(q, cap, sort, descending=descending, offset=offset, size=size)

    def countable(self, q: SearchQuery) -> bool:
        """Whether ``tally`` can count and total every match of *q* (not words on the embedded engine)."""
        return q.text is None or self.index.has_text_search

    def tally(self, q: SearchQuery) -> Tally | None:
        """Count and totals of every match of *q* from SQL aggregates; None when the engine cannot (embedded full text)."""
        return self.text.tally(q) if q.text is not None else self.index.tally(q)

    def close(self) -> None:
        try:
            if self.ledger.appended:
                self.checkpoint()
        finally:
            try:
                if self._text is not None:
                    self._text.close()
                self.index.close()
            finally:
                self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_format(self) -> str:
        """Refuse a store of another format; return the first key's id (``log_key``)."""
        try:
            doc = json.loads(self.store.get(ARCHIVE_OBJECT))
        except StoreUnavailable:
            raise  # an archive store that does not answer now, not something else
        except (StoreError, ValueError) as exc:
            raise StoreError(f"{self.store.url} is not an earsiv archive store ({exc})") from exc
        if doc.get("format") != FORMAT_NAME or doc.get("version") != FORMAT_VERSION:
            raise StoreError(
                f"{self.store.url} holds format {doc.get('format')!r} version {doc.get('version')!r}; "
                f"this software reads {FORMAT_NAME} version {FORMAT_VERSION} only"
            )
        return str(doc.get("log_key", ""))

    # -- dictionaries ------------------------------------------------------
    def _fetch_dict(self, digest: str) -> bytes:
        key = blobs.dict_key(digest)
        try:
            return blobs.decode(self.store.get(key))
        except VerificationError as exc:
            raise VerificationError(f"dictionary {digest} is damaged: {exc.detail}", name=key) from exc

    def _resolve_dict(self, stream: str) -> str | None:
        return self.index.meta_get(f"dict/{stream}")

    def _store_dictionary(self, digest: str, frame: bytes, until: dt.datetime | None) -> None:
        """A new dictionary, durable before any blob may use it."""
        key = blobs.dict_key(digest)
        try:
            self.store.put_many([PutItem(key, frame, until or self.ledger.retention.until())])
        except WriteOnceViolation:
            # Stored before (a crash, another writer, another zstd build): fine if intact.
            if hashlib.sha256(blobs.decode(self.store.get(key))).hexdigest() != digest:
                raise StoreError(f"dictionary {digest} in the store is damaged; it is not used", name=key) from None
        faults.point("dictionary.after-put")

    # -- operations --------------------------------------------------------
    def ingest_parts(self) -> IngestParts:
        return IngestParts(self.ledger, self.store, self.index, self.dictionaries, self.dictionary_retention,
                           self.holdings, self.policy, self.config.max_document_bytes)

    def ingest(self, sources: Iterable[Source], *, tenant: str | None = None, batch_size: int = 64,
               check_signatures: bool = False) -> Iterator[IngestResult]:
        """Archive *sources*; one result each, given once it is durable.

        *check_signatures*: inspect the new documents' signatures beside the ingest, on the
        second core (``signatures.py``), so that when the last result is given they are done
        too; otherwise they stay pending for ``inspect_pending``.
        """
        checks = SignatureChecks(self.index, self.trust) if check_signatures else None
        try:
            yield from Ingestor(self.ingest_parts(), tenant=tenant, batch_size=batch_size,
                                on_durable=checks.submit if checks else None, on_logged=self.text.take).run(sources)
        finally:
            if checks is not None:
                checks.close()

    def checkpoint(self) -> Checkpoint | None:
        """Sign a checkpoint of the log and have it (and any earlier one left unstamped) stamped.

        A TSA failure does not lose anything: the checkpoint is stored and signed,
        ``stamp_error`` says what went wrong, and a later call stamps it.
        """
        return self.checkpointer.checkpoint()

    @property
    def stamp_error(self) -> str | None:
        return self.checkpointer.stamp_error

    def original(self, digest: str) -> bytes:
        """The exact bytes received, checked against their name on the way out."""
        row = self.index.get(digest)
        if row is None:
            raise DocumentNotFound(f"no document with digest {digest} in this archive", name=digest)
        try:
            return self.originals.read(digest, row.dict_digest, row.blob_alt)
        except (StoreError, VerificationError):
            gone = self.index.disposal.disposed([digest]).get(digest)
            if gone is None:
                raise
            raise DocumentNotFound(f"document {digest} was disposed of on {gone[0].isoformat()} after its retention "
                                   f"(disposal leaf {gone[1]}): its bytes are no longer kept; its evidence still "
                                   "proves it existed and when it went", name=digest) from None

    def inspect_pending(self, progress: Callable[[int], None] | None = None, *, batch: int = 64) -> int:
        """Inspect signatures of documents indexed as pending; return how many."""
        done = 0
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="sig") as pool:
            while True:
                digests = self.index.pending_signatures(limit=batch)
                if not digests:
                    return done
                reports = list(pool.map(self._inspect, digests))
                self.index.set_signatures(list(zip(digests, reports, strict=True)))
                done += len(digests)
                if progress:
                    progress(len(digests))

    def _inspect(self, digest: str):
        try:
            data = self.original(digest)
        except (StoreError, VerificationError, DocumentNotFound) as exc:  # DocumentNotFound: disposed of
            from earsiv.documents.metadata import SignatureReport

            return SignatureReport("unverifiable", reason=f"the stored blob cannot be read: {exc.detail}")
        return inspect_signature(data, name=digest, trust=self.trust)

    def set_legal_hold(self, digest: str, on: bool, reason: str = "", tenant: str | None = None,
                       by: str | None = None) -> int:
        return self.holdings.set_legal_hold(digest, on, reason, tenant, by)

    def extend_retention(self, digest: str, until: dt.datetime, tenant: str | None = None, by: str | None = None) -> int:
        return self.holdings.extend_retention(digest, until, tenant, by)

    def _record_for_text(self, idx: int, entry: DocumentEntry) -> IndexRecord:
        """``_record_from_leaf``, its text handed to full-text search too (a rebuild reads each document once)."""
        rec = self._record_from_leaf(idx, entry)
        self.text.take(Logged(idx, 1, {rec.digest: (rec.metadata, rec.text)}))
        return rec

    def _record_from_leaf(self, idx: int, entry: DocumentEntry) -> IndexRecord:
        """The index record of a document leaf this process did not ingest: its bytes read and parsed again.

        A document whose blob cannot be read (damaged, missing) is still indexed, from what its
        leaf says (kind, ID, ETTN, issue date) and flagged ``blob-unreadable``: it stays found,
        and asking for it says what is wrong instead of "no such document".
        """
        holder = entry.legacy_holder
        name = (holder[1] if holder else None) or entry.digest
        try:
            data = self.originals.read(entry.digest, entry.blob.dict, entry.blob.alt)
        except (StoreError, VerificationError) as exc:
            log.warning("document %s (leaf %d) is indexed from its leaf alone: %s", entry.digest, idx, exc)
            meta, text = _metadata_from_leaf(entry), None
        else:
            tree = parse_xml(data, name=name)
            meta = parse_document(data, name=name, tree=tree)
            text = extract_text(tree, meta)
        return IndexRecord(
            digest=entry.digest, size=entry.size, stored_size=entry.blob.stored_size, dict_digest=entry.blob.dict,
            log_index=idx, received_at=entry.received_at, retain_until=entry.retain_until, legal_hold=False,
            tenant=holder[0] if holder else None, source_name=holder[1] if holder else None, metadata=meta,
            # A leaf written before holdings had leaves of their own names its holder.
            first_holding=holder is not None, blob_alt=entry.blob.alt, text=text,
        )

    # -- the index is derived ------------------------------------------------
    def catch_up(self) -> int:
        """Index leaves the index has not seen (after a crash between log and index)."""
        return self.ledger.catch_up()

    def reindex(self, progress: Callable[[int], None] | None = None) -> int:
        """Rebuild the SQL and full-text indexes, the log catalog and the hash tiles from the store alone."""
        self.index.reset()
        self.text.reset()  # filled beside the SQL index, from the same reading of each document
        self.ledger.retention = LogRetention(self.index)  # learnt again from the leaves too
        # The stream -> dictionary map is derived state too: learnt again from the leaves.
        self.dictionaries = blobs.DictionaryBook(self._fetch_dict, resolve=self._resolve_dict,
                                                 store=self._store_dictionary)
        self.originals.dictionaries = self.dictionaries
        self.ledger.mirror = Mirror(self._record_for_text, on_seed=self.dictionaries.known)
        report = self.rebuild_log(mirror_from=0, progress=progress or (lambda _n: None))
        self.checkpointer.stamp_pending()  # bodies a crash left unsigned are signed now
        self.inspect_pending()
        self.text.catch_up()  # what the feed had not taken in yet
        self.last_rebuild = report
        return report.leaves

    # -- reporting ---------------------------------------------------------
    def status(self) -> Status:
        st = self.index.stats()
        oldest = self.index.log.unfinished(1)
        latest = self.index.log.latest_checkpoint()
        last: dict[str, Any] | None = None
        token = None
        if latest is not None:
            cp, _sig, token = self.log.load_checkpoint(latest.size)
            last = {
                "size": cp.size,
                "root": cp.root.hex(),
                "time": cp.time.isoformat(),
                "stamped": token is not None,
                "tsa": self.config.tsa_url or "built-in local TSA (not a qualified time-stamp)",
            }
            if self.config.tsa_stamps > 1:
                last["second_stamp"] = self.store.exists(checkpoint_key(cp.size, ".tsr2"))
            if token is not None:
                from earsiv.archive.tsa.tokens import token_gen_time

                last["stamp_time"] = token_gen_time(token).isoformat()
        return Status(
            documents=st.documents,
            bytes_original=st.bytes_original,
            bytes_stored=st.bytes_stored,
            log_size=self.log.size,
            last_checkpoint=last,
            pending_signatures=st.pending_signatures,
            unstamped_checkpoints=self.index.log.count_unstamped(),
            pending_fulltext=self.text.lag(),
            by_kind=dict(st.by_kind),
            by_signature=dict(st.by_signature_status),
            last_stamp=self.checkpointer.last_stamp() or None,
            signature_trust={"store": self.trust.id, "roots": [r.subject.rfc4514_string() for r in self.trust.roots],
                             "intermediates": len(self.trust.intermediates)},
            oldest_unstamped=oldest[0].time.isoformat() if oldest and oldest[0].time else None,
            tsa=self._with_hash_trees(self._tsa_status(token)),
            key_fingerprint=self.keys.first.key_id,
            keys=self.keys.status(),
            locations={"primary": {**self.config.store_location.to_json(),
                                   "outside_turkey_acknowledged": self.config.outside_turkey_acknowledged},
                       "replica": self.config.replica_location.to_json() if self.config.replica_url else None},
        )

    def _tsa_status(self, token: bytes | None) -> dict:
        out = tsa_status(self.config, token=token)
        unconfirmed = self.unconfirmed_tsa_certificates()
        out["unconfirmed"] = [{"subject": c.subject.rfc4514_string(), "sha256": _cert_sha256(c),
                               "not_after": c.not_valid_after_utc.isoformat()} for c in unconfirmed]
        out["warnings"] += [
            f"TSA certificate {c['subject']} (sha256 {c['sha256']}) is in the store but was never configured "
            "(an earlier version saved the certificates tokens carried): tokens only it verifies are not "
            "trusted. Compare it with what the TSA publishes, then configure it as an anchor "
            f"(EARSIV_TSA_TRUST, [tsa] trust) or run `earsiv tsa confirm {c['sha256']}`"
            for c in out["unconfirmed"]]
        return out

    def archive_key(self) -> PublicKey:
        """The archive's identity: its first checkpoint-signing key (what the printed key certificate shows)."""
        return self.keys.first

    @property
    def signer(self) -> Signer:
        """The private key in force (after a rotation, not the first key)."""
        return self.keys.signer()

    def rotate_key(self, *, reason: str, by: str) -> dict:
        """A new checkpoint-signing key, introduced in the log by the old one (``keyrotation.py``)."""
        from earsiv.archive.keyrotation import rotate

        return rotate(self.keys, self.ledger, self.checkpoint, reason=reason, by=by)

    def renew_stamps(self, *, everything: bool = False) -> dict[str, Any]:
        """Renew the stamps of the checkpoints whose certificates end soon (all with *everything*),
        one stamp by the configured TSAs over a hash tree of them (``renewal.renew``).

        Each chain is read and verified once: ``cache/renewal-scan.json`` keeps how far the
        stamped checkpoints were read and the first end among them, so a later run reads only
        the checkpoints stamped since, until that end comes within ``RENEW_AHEAD`` (or the
        anchors change, or a renewal is made): then every chain is read again.
        """
        import hashlib

        from cryptography.hazmat.primitives import serialization

        from earsiv.archive.rebuild import checkpoint_parts
        from earsiv.archive.renewal import RENEW_AHEAD, renew

        trusted = self.tsa_certificates()
        anchors = hashlib.sha256(b"".join(sorted(c.public_bytes(serialization.Encoding.DER) for c in trusted))).hexdigest()
        path = self.home / "cache" / "renewal-scan.json"
        try:
            kept = json.loads(path.read_text())
            since, earliest = int(kept["scanned_to"]), dt.datetime.fromisoformat(kept["earliest_end"])
            fresh = kept["anchors"] == anchors and earliest - dt.datetime.now(dt.UTC) >= RENEW_AHEAD
        except (OSError, ValueError, KeyError, TypeError):
            fresh = False
        incremental = fresh and not everything
        if not incremental:
            since, earliest = 0, None
            sizes = [size for size, parts in checkpoint_parts(self.store).items() if ".tsr" in parts]
        else:
            sizes = []
        # The catalog says which checkpoints came since, and which are stamped; the mark moves only
        # over stamped ones, so one stamped late is read when it is (those after it, again till then).
        scanned_to, after, contiguous = since, since, True
        while rows := self.index.log.checkpoints_between(after, 2**62):
            for row in rows:
                contiguous = contiguous and row.state == "stamped"
                if contiguous:
                    scanned_to = row.size
                if incremental and row.state == "stamped":
                    sizes.append(row.size)
            after = rows[-1].size
        done = renew(self.store, sizes, trusted=trusted, stamp=self.checkpointer.stamp_imprint,
                     until=self.ledger.retention.until(), everything=everything)
        # The hash-tree renewals' stamps (RFC 4998 §5.2 inside the evidence records): few, read every time.
        from earsiv.archive.ers import renew_run_stamps

        stamped = renew_run_stamps(self.ers, self.store, stamp=self.checkpointer.stamp_imprint, trusted=trusted,
                                   until=self.ledger.retention.until(), everything=everything)
        if stamped:
            done["hash_trees"] = stamped
        found = done.pop("earliest_end", None)
        if done["renewal"] is not None or "second" in done or (found or earliest) is None:
            path.unlink(missing_ok=True)  # the next run reads every chain again
        else:
            ends = min(e for e in (found, earliest) if e is not None)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"scanned_to": scanned_to, "earliest_end": ends.isoformat(), "anchors": anchors}))
        return done

    def _with_hash_trees(self, tsa: dict[str, Any]) -> dict[str, Any]:
        """*tsa* (``tsa_status``) with the hash-tree renewals: per hash the documents covered and the first
        end among their tokens' certificates, and a warning when that is within 180 days."""
        from cryptography import x509

        from earsiv.archive.renewal import RENEW_AHEAD
        from earsiv.archive.tsa.tokens import token_certificates

        runs: dict[str, dict[str, Any]] = {}
        for run in self.ers.heads():
            mine = runs.setdefault(run.hash, {"runs": 0, "documents": 0, "covered_to": 0, "first_end": None})
            mine["runs"] += 1
            mine["documents"] += run.documents
            mine["covered_to"] = max(mine["covered_to"], run.end)
            pems = token_certificates(self.ers.chain(run)[-1][1])  # its newest stamp; the first cert: the signer's
            signer = x509.load_pem_x509_certificate(pems[0]) if pems else None
            if signer is not None and (mine["first_end"] is None or signer.not_valid_after_utc < mine["first_end"]):
                mine["first_end"] = signer.not_valid_after_utc
        now = dt.datetime.now(dt.UTC)
        for name, mine in runs.items():
            end = mine["first_end"]
            if end is not None and end - now < RENEW_AHEAD:
                tsa["warnings"].append(
                    f"the certificate of a {name} hash-tree renewal's stamp ends on {end.date().isoformat()}: the "
                    "evidence records of its documents rest on it; `earsiv renew` (and `serve`, daily) stamps it "
                    "again before that, under the certificate of the TSA configured then")
            mine["first_end"] = end.isoformat() if end is not None else None
        tsa["hash_trees"] = runs
        return tsa

    def tsa_certificates(self) -> list[x509.Certificate]:
        """The TSA anchors tokens are verified against: those configured now, the built-in TSA's
        certificate, and those recorded in the store as configured anchors (so tokens of a TSA no
        longer in use keep verifying), or confirmed by the operator. Never a certificate taken
        from a token: an earlier version stored those too, and they stay out (``tsa/stored.py``)."""
        from cryptography.hazmat.primitives import serialization

        trusted = self._trusted_tsa_ids()
        pool = {c.public_bytes(serialization.Encoding.DER): c for c in self._stored_tsa_certificates()
                if _cert_sha256(c) in trusted}
        for setting in self.config.tsa_authorities:
            pool.update({c.public_bytes(serialization.Encoding.DER): c for c in setting.anchors})
        return list(pool.values())

    def unconfirmed_tsa_certificates(self) -> list[x509.Certificate]:
        """Certificates in the store (``keys/tsa-*``) that nothing says to trust: saved from tokens by an
        earlier version, most likely; not trusted until configured or confirmed (``earsiv tsa confirm``)."""
        trusted = self._trusted_tsa_ids()
        return [c for c in self._stored_tsa_certificates() if _cert_sha256(c) not in trusted]

    def confirm_tsa_certificates(self, fingerprints: Iterable[str]) -> list[str]:
        """Trust stored certificates the operator checked (by sha256 of the DER); refuses one not unconfirmed."""
        from earsiv.archive.tsa.stored import confirm

        wanted = {f.replace(":", "").lower() for f in fingerprints}
        waiting = {_cert_sha256(c) for c in self.unconfirmed_tsa_certificates()}
        unknown = sorted(wanted - waiting)
        if unknown:
            raise ConfigError(f"no unconfirmed TSA certificate in the store has the sha256 {', '.join(unknown)} "
                              "(`earsiv status` lists those that are)")
        confirm(self.home, wanted)
        return sorted(wanted)

    def _stored_tsa_certificates(self) -> list[x509.Certificate]:
        from cryptography import x509

        if self._tsa_certs is None or self.checkpointer.certificates_added:
            self.checkpointer.certificates_added = False
            self._tsa_certs = [x509.load_pem_x509_certificate(self.store.get(key))
                               for key in self.store.list("keys/tsa-")]
        return self._tsa_certs

    def _trusted_tsa_ids(self) -> set[str]:
        from cryptography import x509

        from earsiv.archive.tsa.authorities import CERT_FILE
        from earsiv.archive.tsa.stored import confirmed

        ids = confirmed(self.home) | {_cert_sha256(c) for s in self.config.tsa_authorities for c in s.anchors}
        builtin = self.home / "tsa" / CERT_FILE
        if builtin.exists():
            ids.add(_cert_sha256(x509.load_pem_x509_certificate(builtin.read_bytes())))
        return ids


def _cert_sha256(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import serialization

    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _metadata_from_leaf(entry: DocumentEntry) -> DocumentMetadata:
    """What a document leaf itself says, for a document whose bytes cannot be read (informative fields)."""
    day = None
    if entry.issue_date:
        try:
            day = dt.date.fromisoformat(entry.issue_date)
        except ValueError:
            day = None
    return DocumentMetadata(kind=entry.kind, root="", namespace=None, doc_id=entry.id, ettn=entry.ettn,
                            issue_date=day, flags=("blob-unreadable",))


def cert_id(pem: bytes) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(pem)
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
