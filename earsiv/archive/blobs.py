"""Blob encoding: zstd frames of the original bytes, with per-issuer dictionaries of each tenant.

Invoices from one issuer share most of their bytes (the same embedded XSLT,
often 100+ KiB).  A raw-content zstd dictionary made of an earlier document of
the same issuer lets the next one be stored in a few KiB.  A dictionary is an
immutable, content-addressed object of its own (``dicts/…``) with the longest
retention of the blobs that use it, so every blob stays independently
decodable given its dictionary: ``zstd -d -D DICT < BLOB``.

A dictionary is made of one tenant's document, so it serves that tenant only
(``stream_key``): compressed sizes are a function of the dictionary's bytes,
and a tenant whose documents were compressed with another tenant's invoice
could read that invoice back from its own sizes, guess by guess (a compression
oracle).  The issuer is what a document *claims*; the tenant is who archived it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

import zstandard

from earsiv.archive.errors import StoreError, VerificationError, WriteOnceViolation
from earsiv.errors import StorageFull

__all__ = [
    "LEVEL",
    "DictionaryBook",
    "DictionaryRetention",
    "EncodedBlob",
    "blob_key",
    "decode",
    "dict_key",
    "encode",
    "frame_alt",
    "stream_key",
]

log = logging.getLogger("earsiv.blobs")

LEVEL = 3
# A document whose dictionary-compressed frame is larger than this share of its
# size no longer looks like its issuer's earlier documents (a new stylesheet,
# a new template): it seeds a new dictionary for that issuer.
RESEED_RATIO = 0.08
RESEED_MIN_BYTES = 16 * 1024
MAX_DICT_BYTES = 1024 * 1024  # zstd level 3 cannot look back further anyway
MIN_DICT_BYTES = 8 * 1024  # smaller documents gain nothing from a dictionary


def blob_key(digest: str, alt: str | None = None) -> str:
    """``blobs/<d[:2]>/<d>``, or ``blobs/<d[:2]>/<d>.<alt>`` for a blob kept under its alternative key."""
    return f"blobs/{digest[:2]}/{digest}" + (f".{alt}" if alt else "")


def frame_alt(frame: bytes) -> str:
    """The alternative-key suffix of a frame: the first 16 hex digits of its sha256 (FORMAT.md §4)."""
    return hashlib.sha256(frame).hexdigest()[:16]


def dict_key(digest: str) -> str:
    return f"dicts/{digest[:2]}/{digest}"


def stream_key(tenant: str | None, issuer: str | None) -> str | None:
    """The dictionary stream of a document: ``<tenant>/<issuer>`` (``-`` for no tenant), None without an issuer.

    *issuer* is the document entry's ``issuer`` (``<kind>/<supplier VKN>``), *tenant* that of
    its first holding, i.e. the tenant whose documents the stream's dictionaries are made of
    (FORMAT.md §4).
    """
    if issuer is None:
        return None
    return f"{tenant or '-'}/{issuer}"


@dataclass(frozen=True, slots=True)
class EncodedBlob:
    digest: str  # sha256 of the original
    frame: bytes  # zstd frame
    dict_digest: str | None
    new_dict: tuple[str, bytes] | None = None  # (digest, frame) of a dictionary this document seeded


def _cctx(d: zstandard.ZstdCompressionDict | None) -> zstandard.ZstdCompressor:
    # write_checksum: zstd's own XXH64 lets `zstd -t` spot a damaged frame
    # without our code; content size lets readers allocate once.
    return zstandard.ZstdCompressor(level=LEVEL, dict_data=d, write_checksum=True, write_content_size=True)


def encode(data: bytes, raw_dict: zstandard.ZstdCompressionDict | None = None) -> bytes:
    return _cctx(raw_dict).compress(data)


_local = threading.local()


def _compressor(key: str | None, d: zstandard.ZstdCompressionDict | None) -> zstandard.ZstdCompressor:
    """A compressor per thread and dictionary: building one per document costs more than using it."""
    cache = getattr(_local, "cctx", None)
    if cache is None:
        cache = _local.cctx = OrderedDict()
    c = cache.get(key)
    if c is None:
        c = cache[key] = _cctx(d)
        while len(cache) > 32:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return c


def decode(frame: bytes, raw_dict: bytes | None = None, *, expected_size: int | None = None) -> bytes:
    d = zstandard.ZstdCompressionDict(raw_dict, dict_type=zstandard.DICT_TYPE_RAWCONTENT) if raw_dict else None
    try:
        params = zstandard.get_frame_parameters(frame)
        size = params.content_size if params.content_size > 0 else (expected_size or 0)
        dctx = zstandard.ZstdDecompressor(dict_data=d)
        if size:
            return dctx.decompress(frame, max_output_size=size)
        return b"".join(dctx.read_to_iter(frame))
    except zstandard.ZstdError as exc:
        raise VerificationError(f"blob does not decode: {exc}") from exc


class DictionaryBook:
    """Chooses the dictionary of each stream (``stream_key``: tenant and issuer) and keeps recent ones ready.

    ``fetch(dict_digest) -> raw bytes`` reads a dictionary back from the store
    (for decoding, or when a process meets a stream another process seeded).
    The stream → dictionary map is derived state: it is rebuilt from the log
    leaves, which record the dictionary each document seeded, its issuer and
    (in its first holding) its tenant.  The "issuer" of the methods below is a
    stream key.
    """

    def __init__(self, fetch, *, resolve=None, store=None, capacity: int = 24) -> None:
        self._fetch = fetch
        self._resolve = resolve  # issuer -> dictionary digest known from earlier runs, or None
        # store(dict_digest, frame, retain_until): makes a new dictionary durable.  Called before
        # any blob may use it, so that no blob ever depends on a dictionary a crash lost.
        self._store = store
        self._capacity = capacity
        self._issuers: dict[str, str] = {}
        self._cache: OrderedDict[str, tuple[bytes, zstandard.ZstdCompressionDict]] = OrderedDict()
        self._lock = threading.Lock()
        self._seeding: dict[str, threading.Lock] = {}
        self._unusable: set[str] = set()  # dictionaries found damaged or missing: never compressed with

    def known(self, issuer: str, dict_digest: str) -> None:
        with self._lock:
            self._issuers[issuer] = dict_digest

    def issuers(self) -> dict[str, str]:
        with self._lock:
            return dict(self._issuers)

    def raw(self, dict_digest: str) -> bytes:
        return self._get(dict_digest)[0]

    def _get(self, dict_digest: str) -> tuple[bytes, zstandard.ZstdCompressionDict]:
        with self._lock:
            hit = self._cache.get(dict_digest)
            if hit is not None:
                self._cache.move_to_end(dict_digest)
                return hit
        raw = self._fetch(dict_digest)
        if hashlib.sha256(raw).hexdigest() != dict_digest:
            raise StoreError(f"dictionary {dict_digest} does not match its name")
        return self._remember(dict_digest, raw)

    def _remember(self, dict_digest: str, raw: bytes) -> tuple[bytes, zstandard.ZstdCompressionDict]:
        zd = zstandard.ZstdCompressionDict(raw, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        zd.precompute_compress(level=LEVEL)
        with self._lock:
            self._cache[dict_digest] = (raw, zd)
            while len(self._cache) > self._capacity:
                self._cache.popitem(last=False)
        return raw, zd

    def encode(self, data: bytes, digest: str, issuer: str | None, until=None) -> EncodedBlob:
        """Compress *data*, with its issuer's dictionary when that pays.

        *until* is the document's retain-until: a dictionary it seeds is stored, durably,
        with at least that retention before this returns (and before anyone else uses it).
        """
        if issuer is None or len(data) < MIN_DICT_BYTES:
            return EncodedBlob(digest, _compressor(None, None).compress(data), None)
        current = self._current(issuer)
        if current is not None:
            frame = self._with(current, data)
            if self._good(frame, data):
                return EncodedBlob(digest, frame, current)
        # Seed, one thread per issuer at a time: two workers meeting a new
        # issuer together must not both make it a dictionary.
        with self._lock:
            seed_lock = self._seeding.setdefault(issuer, threading.Lock())
        with seed_lock:
            latest = self._current(issuer)
            if latest is not None and latest != current:
                frame = self._with(latest, data)
                if self._good(frame, data):
                    return EncodedBlob(digest, frame, latest)
                current = latest
            return self._seed(data, digest, issuer, current, until)

    def _current(self, issuer: str) -> str | None:
        """The issuer's dictionary, if it can be read: a damaged one is dropped, and the issuer seeds anew."""
        with self._lock:
            current = self._issuers.get(issuer)
        if current is None and self._resolve is not None:
            current = self._resolve(issuer)
            if current is not None:
                self.known(issuer, current)
        if current is not None and current in self._unusable:
            return None
        if current is not None:
            try:
                self._get(current)
            except (StoreError, VerificationError) as exc:
                log.warning("dictionary %s of %s cannot be read (%s): documents of this issuer seed a new one",
                            current, issuer, exc)
                with self._lock:
                    self._unusable.add(current)
                return None
        return current

    def _with(self, dict_digest: str, data: bytes) -> bytes:
        return _compressor(dict_digest, self._get(dict_digest)[1]).compress(data)

    @staticmethod
    def _good(frame: bytes, data: bytes) -> bool:
        return len(frame) <= max(RESEED_MIN_BYTES, RESEED_RATIO * len(data))

    def _seed(self, data: bytes, digest: str, issuer: str, current: str | None, until) -> EncodedBlob:
        # This document becomes the issuer's dictionary for what follows.  The
        # document itself is stored with the previous dictionary if that was
        # any good, else plainly: it must not depend on itself.
        plain = _compressor(None, None).compress(data)
        frame = self._with(current, data) if current is not None else None
        if frame is None or len(frame) >= len(plain):
            frame, used = plain, None
        else:
            used = current
        raw = data[-MAX_DICT_BYTES:]
        new_digest = hashlib.sha256(raw).hexdigest()
        dict_frame = plain if raw is data else encode(raw)
        if self._store is not None:
            try:
                self._store(new_digest, dict_frame, until)
            except StorageFull:
                raise  # the whole write fails: nothing is taken, the user is told
            except (StoreError, WriteOnceViolation) as exc:
                # Its key holds a damaged object: this document seeds nothing, and is kept as it is.
                log.warning("dictionary %s cannot be stored (%s): %s is kept without seeding", new_digest, exc, digest)
                return EncodedBlob(digest, frame, used)
        self._remember(new_digest, raw)
        self.known(issuer, new_digest)
        return EncodedBlob(digest, frame, used, (new_digest, dict_frame))


class DictionaryRetention:
    """Keeps each dictionary at least as long as the longest-kept blob that uses it (FORMAT.md §4)."""

    def __init__(self, store, capacity: int = 4096) -> None:
        self._store = store
        self._known: OrderedDict[str, object] = OrderedDict()  # dict digest -> retain-until known to be set
        self._capacity = capacity
        self._lock = threading.Lock()

    def keep(self, digest: str, until) -> None:
        key = dict_key(digest)
        with self._lock:
            known = self._known.get(digest)
        if known is None:
            known = self._store.retention(key).retain_until
        if until > known:  # type: ignore[operator]
            self._store.extend_retention(key, until)
            known = until
        with self._lock:
            self._known[digest] = known
            self._known.move_to_end(digest)
            while len(self._known) > self._capacity:
                self._known.popitem(last=False)
