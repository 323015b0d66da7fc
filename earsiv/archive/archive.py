"""The archive: one object that owns the store, the log, the keys and the index.

It is the only owner of the unit of work (blob → leaf → index), and the only
place that knows how an archive home is laid out:

    HOME/config.toml                   settings (see config.py)
    HOME/keys/archive-signing-key.pem  signs checkpoints (0600)
    HOME/tsa/                          the built-in TSA's key and certificate
    HOME/store/                        the local object store: the archive itself
    HOME/index.sqlite                  the SQL index (derived, rebuildable)
    HOME/cache/                        derived caches
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Self
from urllib.parse import urlparse

from cryptography import x509

from earsiv.archive import blobs
from earsiv.archive.access import AccessControl, apply_access_leaf
from earsiv.archive.config import CONFIG_FILE, Config, load_config, write_default_config
from earsiv.archive.errors import (
    ConfigError,
    DocumentNotFound,
    StoreError,
    TSAError,
    VerificationError,
)
from earsiv.archive.ingest import Ingestor, IngestResult, Source, holding_row
from earsiv.archive.keys import PublicKey, Signer
from earsiv.archive.log.log import Log, decode_entry, encode_entry
from earsiv.archive.retention import RetentionPolicy
from earsiv.archive.stores.base import ObjectStore, PutItem
from earsiv.archive.stores.local import LocalStore
from earsiv.archive.tsa.authorities import HttpTSA, KamuSMTSA, LocalTSA
from earsiv.documents.parse import parse_document
from earsiv.documents.signature import inspect_signature
from earsiv.documents.xmlsafe import parse_xml
from earsiv.indexer.db import Index
from earsiv.indexer.query import SearchPage, SearchQuery
from earsiv.indexer.records import IndexRecord

if TYPE_CHECKING:
    from earsiv.archive.textsearch import TextSearch

__all__ = ["ARCHIVE_OBJECT", "Archive", "Status", "open_store"]

ARCHIVE_OBJECT = "earsiv.json"
FORMAT_NAME, FORMAT_VERSION = "earsiv-archive", 1
UTC = dt.UTC
FAR_FUTURE_FLOOR = dt.timedelta(days=366)


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

    def to_json(self) -> dict:
        ratio = self.bytes_stored / self.bytes_original if self.bytes_original else None
        return {
            "documents": self.documents,
            "bytes_original": self.bytes_original,
            "bytes_stored": self.bytes_stored,
            "stored_ratio": round(ratio, 5) if ratio is not None else None,
            "log_size": self.log_size,
            "last_checkpoint": self.last_checkpoint,
            "pending": {"signature_checks": self.pending_signatures, "unstamped_checkpoints": self.unstamped_checkpoints,
                        "fulltext": self.pending_fulltext},
            "by_kind": self.by_kind,
            "by_signature": self.by_signature,
        }


def _open_store(cfg: Config, *, self_test: bool = False) -> ObjectStore:
    return open_store(cfg.store_url, allow_unenforced_lock=cfg.allow_unenforced_lock, self_test=self_test)


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
        self._check_format()
        self.signer = Signer.load(self.home / "keys")
        self.tsa = _make_tsa(config)
        self.policy = RetentionPolicy(years_after_year_end=config.retention_years)
        self.index = Index(config.db_url)
        self.index.upgrade()
        self.log = Log(self.store, f"earsiv:{config.archive_id}", self.home / "cache")
        self.dictionaries = blobs.DictionaryBook(self._fetch_dict, resolve=self._resolve_dict)
        self._dict_retention: dict[str, dt.datetime] = {}
        self._max_until = self._load_max_until()
        self._last_checkpoint = time.monotonic()
        self._cp_lock = threading.Lock()
        # One writer of "log leaf + index rows" at a time in this process, so
        # the index's log_size never runs ahead of leaves not yet indexed.
        self.write_lock = threading.RLock()
        self.stamp_error: str | None = None
        self.access = AccessControl(self)
        self._text: TextSearch | None = None
        self.catch_up()

    # -- life cycle --------------------------------------------------------
    @classmethod
    def init(cls, home: Path, *, store_url: str | None = None, db_url: str | None = None) -> Archive:
        """Create a home and its store; on any failure leave the home as it was."""
        home = Path(home)
        made = [p for p in (home / CONFIG_FILE, home / "keys", home / "tsa", home / "store") if not p.exists()]
        try:
            cfg = cls._init(home, store_url, db_url)
        except BaseException:
            for p in made:
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            raise
        return cls(load_config(cfg.home))

    @classmethod
    def _init(cls, home: Path, store_url: str | None, db_url: str | None) -> Config:
        cfg = write_default_config(home, store_url=store_url, db_url=db_url)
        store = _open_store(cfg, self_test=True)  # first: an unreachable or unenforcing store stops us here
        if store.exists(ARCHIVE_OBJECT):
            raise ConfigError(f"{store.url} already holds an archive; point a home at it with its own config.toml")
        Signer.create(cfg.home / "keys")
        tsa = LocalTSA.create(cfg.home / "tsa")
        far = dt.datetime(9999, 12, 31, tzinfo=UTC)
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
                PutItem(ARCHIVE_OBJECT, json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n", far),
                PutItem(f"keys/{signer.public.key_id}.pem", signer.public.pem, far),
                PutItem(f"keys/tsa-{_cert_id(tsa.certificate_pem)}.pem", tsa.certificate_pem, far),
            ]
        )
        store.close()
        return cfg

    @classmethod
    def open(cls, home: Path) -> Archive:
        return cls(load_config(home))

    @property
    def text(self) -> TextSearch:
        """The full-text index (HOME/fulltext), opened on first use."""
        if self._text is None:
            from earsiv.archive.textsearch import TextSearch

            self._text = TextSearch(self)
        return self._text

    def search(self, q: SearchQuery) -> SearchPage:
        """A page of documents: from the full-text index when *q* has text, else from SQL."""
        return self.text.search(q) if q.text is not None else self.index.search(q)

    def close(self) -> None:
        try:
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

    def _check_format(self) -> None:
        try:
            doc = json.loads(self.store.get(ARCHIVE_OBJECT))
        except (StoreError, ValueError) as exc:
            raise StoreError(f"{self.store.url} is not an earsiv archive store ({exc})") from exc
        if doc.get("format") != FORMAT_NAME or doc.get("version") != FORMAT_VERSION:
            raise StoreError(
                f"{self.store.url} holds format {doc.get('format')!r} version {doc.get('version')!r}; "
                f"this software reads {FORMAT_NAME} version {FORMAT_VERSION} only"
            )

    # -- retention bookkeeping used by the ingest ---------------------------
    def _load_max_until(self) -> dt.datetime:
        raw = self.index.meta_get("max_retain_until")
        return dt.datetime.fromisoformat(raw) if raw else dt.datetime.now(UTC) + FAR_FUTURE_FLOOR

    def log_retention(self, until: dt.datetime) -> dt.datetime:
        """Log objects are kept as long as the longest-kept document so far."""
        if until > self._max_until:
            self._max_until = until
            self.index.meta_set("max_retain_until", until.isoformat())
        return self._max_until

    def _fetch_dict(self, digest: str) -> bytes:
        return blobs.decode(self.store.get(blobs.dict_key(digest)))

    def _resolve_dict(self, issuer: str) -> str | None:
        return self.index.meta_get(f"dict/{issuer}")

    def dictionary_puts(self, digest: str, until: dt.datetime) -> list[PutItem]:
        key = blobs.dict_key(digest)
        known = self._dict_retention.get(digest)
        if known is None and self.store.exists(key):
            known = self.store.retention(key).retain_until
        if known is None:
            # Seeded by a document still in flight: store it now, with this blob.
            raw = self.dictionaries.raw(digest)
            self._dict_retention[digest] = until
            return [PutItem(key, blobs.encode(raw), until)]
        if until > known:
            self.store.extend_retention(key, until)
            known = until
        self._dict_retention[digest] = known
        return []

    def after_append(self, log_size: int, own_entries: list[dict] | None = None) -> None:
        # Leaves of other writers that appeared meanwhile are indexed here too
        # (adding is idempotent), so "log_size" never claims leaves that a
        # writer which crashed before its index commit left unindexed.
        foreign = self.log.take_foreign()
        if foreign:
            self._replay_pairs(foreign)  # they precede our own leaves in the log
        if own_entries:
            self.record_seeds(own_entries)
        self.index.meta_set("log_size", str(log_size))
        if time.monotonic() - self._last_checkpoint >= self.config.checkpoint_interval:
            self.checkpoint()

    # -- operations --------------------------------------------------------
    def ingest(self, sources: Iterable[Source], *, tenant: str | None = None, batch_size: int = 64) -> Iterator[IngestResult]:
        yield from Ingestor(self, tenant=tenant, batch_size=batch_size).run(sources)

    def checkpoint(self):
        """Sign a checkpoint of the log and have it stamped.

        A TSA failure does not lose anything: the checkpoint is stored and
        signed, ``stamp_error`` says what went wrong, and the next call stamps
        it.  Callers that must report it (the CLI) look at ``stamp_error``.
        """
        with self._cp_lock:
            self._last_checkpoint = time.monotonic()
            try:
                cp = self.log.make_checkpoint(self.signer, self.tsa, self.log_retention(self._max_until))
            except TSAError as exc:
                self.stamp_error = str(exc)
                return None
            self.stamp_error = None
            if cp is not None:
                self._remember_tsa_cert(cp.size)
            return cp

    def _remember_tsa_cert(self, size: int) -> None:
        if not isinstance(self.tsa, HttpTSA):
            return
        # An external TSA's certificate is kept in the store beside the
        # tokens it signed, so the store alone can be verified later.
        _cp, _sig, token = self.log.load_checkpoint(size)
        if token is None:
            return
        from earsiv.archive.tsa.tokens import token_certificates

        for pem in token_certificates(token):
            key = f"keys/tsa-{_cert_id(pem)}.pem"
            self.store.put_many([PutItem(key, pem, dt.datetime(9999, 12, 31, tzinfo=UTC))])

    def original(self, digest: str) -> bytes:
        """The exact bytes received, checked against their name on the way out."""
        row = self.index.get(digest)
        dict_digest = row.dict_digest if row is not None else None
        frame = self.store.get(blobs.blob_key(digest))
        raw_dict = self.dictionaries.raw(dict_digest) if dict_digest else None
        try:
            data = blobs.decode(frame, raw_dict)
        except VerificationError as exc:
            raise VerificationError(f"blob {digest} is damaged: {exc.detail}", name=digest) from exc
        if hashlib.sha256(data).hexdigest() != digest:
            raise VerificationError(f"blob {digest} does not hash to its name", name=digest)
        return data

    def inspect_pending(self, progress: Callable[[int], None] | None = None, *, batch: int = 64) -> int:
        """Inspect signatures of documents indexed as pending; return how many."""
        done = 0
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="sig") as pool:
            while True:
                digests = self.index.pending_signatures(limit=batch)
                if not digests:
                    return done
                reports = list(pool.map(self._inspect, digests))
                self.index.set_signatures(list(zip(digests, reports)))
                done += len(digests)
                if progress:
                    progress(len(digests))

    def _inspect(self, digest: str):
        data = self.original(digest)
        return inspect_signature(data, name=digest)

    def append_event(self, entry: dict, retain_until: dt.datetime | None = None) -> int:
        """Append one leaf that is not a document, mirror it in the index; return its log index."""
        with self.write_lock:
            index = self.log.append([encode_entry(entry)], self.log_retention(retain_until or self._max_until))
            self._apply(index, entry)
            self.after_append(index + 1)
        return index

    def _holders(self, digest: str, tenant: str | None):
        holdings = self.index.access.holdings_of([digest]).get(digest, [])
        if tenant is not None and all(h.tenant != tenant for h in holdings):
            raise DocumentNotFound(f"tenant {tenant or '(none)'} holds no document with digest {digest}", name=digest)
        return holdings

    def set_legal_hold(self, digest: str, on: bool, reason: str = "", tenant: str | None = None) -> int:
        """Hold or release one tenant's holding (*tenant*), or every holding (None).

        The blob stays under an object-store legal hold while any holding is held.
        """
        self._row(digest)
        with self.write_lock:
            holdings = self._holders(digest, tenant)
            held = any(on if tenant is None or h.tenant == tenant else h.legal_hold for h in holdings)
            self.store.set_legal_hold(blobs.blob_key(digest), held)
            entry = {"v": 1, "type": "legal-hold", "digest": digest, "on": on, "reason": reason, "at": _now_iso()}
            if tenant is not None:
                entry["tenant"] = tenant
            return self.append_event(entry, max(h.retain_until for h in holdings))

    def extend_blob_retention(self, digest: str, until: dt.datetime) -> None:
        """Keep a blob (and its dictionary) at least until *until*: a new holding may outlast the others."""
        row = self._row(digest)
        self.store.extend_retention(blobs.blob_key(digest), until)
        if row.dict_digest:
            self.dictionary_puts(row.dict_digest, until)

    def extend_retention(self, digest: str, until: dt.datetime, tenant: str | None = None) -> int:
        self._row(digest)
        until = until.astimezone(UTC)
        with self.write_lock:
            holdings = self._holders(digest, tenant)
            row = self._row(digest)
            self.store.extend_retention(blobs.blob_key(digest), max(until, *(h.retain_until for h in holdings)))
            if row.dict_digest:
                self.dictionary_puts(row.dict_digest, until)
            entry = {"v": 1, "type": "retention", "digest": digest, "retain_until": until.isoformat().replace("+00:00", "Z"),
                     "at": _now_iso()}
            if tenant is not None:
                entry["tenant"] = tenant
            return self.append_event(entry, until)

    def _apply(self, idx: int, entry: dict) -> None:
        """Mirror a leaf that is not a document in the index (live and on replay)."""
        kind = entry["type"]
        if kind == "legal-hold":
            self.index.set_legal_hold(entry["digest"], bool(entry["on"]), entry.get("tenant"))
        elif kind == "retention":
            self.index.set_retain_until(entry["digest"], dt.datetime.fromisoformat(entry["retain_until"]), entry.get("tenant"))
        elif kind == "holding":
            self.index.access.add_holdings([holding_row(idx, entry)])
        elif not apply_access_leaf(self.index, idx, entry):
            raise StoreError(f"log leaf {idx} has type {kind!r}, which this software does not know")

    def _row(self, digest: str):
        row = self.index.get(digest)
        if row is None:
            raise DocumentNotFound(f"no document with digest {digest} in this archive", name=digest)
        return row

    # -- the index is derived: rebuild and catch up --------------------------
    def catch_up(self) -> int:
        """Index leaves the index has not seen (after a crash between log and index)."""
        done = int(self.index.meta_get("log_size") or 0)
        self.log.refresh()
        if done >= self.log.size:
            return 0
        return self._replay(done)

    def reindex(self, progress: Callable[[int], None] | None = None) -> int:
        self.index.reset()
        # The issuer -> dictionary map is derived state too: learnt again from the leaves.
        self.dictionaries = blobs.DictionaryBook(self._fetch_dict, resolve=self._resolve_dict)
        self.log.refresh()
        n = self._replay(0, progress)
        self.inspect_pending()
        self.text.rebuild()
        return n

    def _replay(self, start: int, progress: Callable[[int], None] | None = None) -> int:
        self.log.take_foreign()  # all of them are replayed below
        count = self._replay_pairs(self.log.iter_leaves(start), progress)
        self.index.meta_set("log_size", str(self.log.size))
        if self._max_until > self._load_max_until():
            self.index.meta_set("max_retain_until", self._max_until.isoformat())
        self.after_append(self.log.size)
        return count

    def record_seeds(self, entries: Iterable[dict]) -> None:
        """Remember, in log order, which dictionary each issuer's newest seed made.

        Derived from the leaves (``issuer``, ``seeds_dict``), so a rebuilt index
        holds the same map as the live one whatever order workers seeded in.
        """
        latest: dict[str, str] = {}
        for e in entries:
            if e.get("type") == "document" and e.get("seeds_dict") and e.get("issuer"):
                latest[e["issuer"]] = e["seeds_dict"]
        for issuer, digest in latest.items():
            self.index.meta_set(f"dict/{issuer}", digest)

    def _replay_pairs(self, pairs, progress: Callable[[int], None] | None = None) -> int:
        pending: list[IndexRecord] = []
        held: list = []  # holding rows, indexed right after the documents they hold
        seeds: list[dict] = []
        count = 0

        def flush() -> None:
            if pending:
                self.index.add(pending)
                pending.clear()
            if held:
                self.index.access.add_holdings(held)
                held.clear()

        for idx, leaf in pairs:
            entry = decode_entry(leaf)
            kind = entry["type"]
            if kind == "document":
                if entry.get("seeds_dict") and entry.get("issuer"):
                    self.dictionaries.known(entry["issuer"], entry["seeds_dict"])
                    seeds.append(entry)
                pending.append(self._record_from_leaf(idx, entry))
            elif kind == "holding":
                held.append(holding_row(idx, entry))
            else:
                flush()
                self._apply(idx, entry)
            count += 1
            if len(pending) + len(held) >= 512:
                flush()
            if progress:
                progress(1)
        flush()
        self.record_seeds(seeds)
        return count

    def _record_from_leaf(self, idx: int, entry: dict) -> IndexRecord:
        digest = entry["digest"]
        blob = entry["blob"]
        raw_dict = self.dictionaries.raw(blob["dict"]) if blob.get("dict") else None
        data = blobs.decode(self.store.get(blobs.blob_key(digest)), raw_dict)
        if hashlib.sha256(data).hexdigest() != digest:
            raise VerificationError(f"blob {digest} does not hash to its name", name=digest)
        tree = parse_xml(data, name=entry.get("name") or digest)
        meta = parse_document(data, name=entry.get("name") or digest, tree=tree)
        self._max_until = max(self._max_until, dt.datetime.fromisoformat(entry["retain_until"]))
        return IndexRecord(
            digest=digest,
            size=entry["size"],
            stored_size=blob["stored_size"],
            dict_digest=blob.get("dict"),
            log_index=idx,
            received_at=dt.datetime.fromisoformat(entry["received_at"]),
            retain_until=dt.datetime.fromisoformat(entry["retain_until"]),
            legal_hold=False,
            tenant=entry.get("tenant"),
            source_name=entry.get("name"),
            metadata=meta,
            # A leaf written before holdings had leaves of their own names its tenant.
            first_holding="tenant" in entry,
        )

    # -- reporting ---------------------------------------------------------
    def status(self) -> Status:
        st = self.index.stats()
        sizes = self.log.checkpoint_sizes()
        last = None
        unstamped = 0
        for size in sizes:
            if not self.store.exists(f"log/checkpoints/{size:016d}.tsr"):
                unstamped += 1
        if sizes:
            cp, _sig, token = self.log.load_checkpoint(sizes[-1])
            last = {
                "size": cp.size,
                "root": cp.root.hex(),
                "time": cp.time.isoformat(),
                "stamped": token is not None,
                "tsa": "built-in local TSA (not a qualified time-stamp)" if not self.config.tsa_url else self.config.tsa_url,
            }
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
            unstamped_checkpoints=unstamped,
            pending_fulltext=self.text.lag(),
            by_kind=dict(st.by_kind),
            by_signature=dict(st.by_signature_status),
        )

    def archive_key(self) -> PublicKey:
        return self.signer.public

    def tsa_certificates(self) -> list[x509.Certificate]:
        certs = []
        for key in self.store.list("keys/tsa-"):
            certs.append(x509.load_pem_x509_certificate(self.store.get(key)))
        return certs


def _make_tsa(config: Config):
    """The configured time-stamp authority.

    Empty URL: the built-in local TSA.  With EARSIV_TSA_KAMUSM_CUSTOMER and
    EARSIV_TSA_KAMUSM_PASSWORD in the environment (secrets never go in the
    config file): Kamu SM's authenticated service at that URL.  Otherwise any
    RFC 3161 HTTP TSA.
    """
    if not config.tsa_url:
        return LocalTSA.load(config.home / "tsa")
    customer = os.environ.get("EARSIV_TSA_KAMUSM_CUSTOMER")
    if customer:
        password = os.environ.get("EARSIV_TSA_KAMUSM_PASSWORD")
        if not password or not customer.isdigit():
            raise ConfigError("Kamu SM needs EARSIV_TSA_KAMUSM_CUSTOMER (digits) and EARSIV_TSA_KAMUSM_PASSWORD")
        return KamuSMTSA(config.tsa_url, int(customer), password)
    return HttpTSA(config.tsa_url)


def _cert_id(pem: bytes) -> str:
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(pem)
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _now_iso() -> str:
    return dt.datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
