"""The S3 Object Lock store: the scale-out place where the archive keeps its bytes.

(Over 500 lines on purpose: every rule of write-once on a versioned bucket — which version is
the object, create-exclusive, reads in one request, retention and holds — is one argument
about the same few S3 calls, and reads best in one place; the client, the URL and the error
translation are in ``s3api.py``, the self-test in ``s3selftest.py``.)

Any S3-compatible server with Object Lock (AWS S3, MinIO, Ceph RGW, SeaweedFS)
behind the same small interface as :class:`~earsiv.archive.stores.local.LocalStore`.
The bucket must have Object Lock enabled (and so versioning); credentials come
from the standard ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` environment.

What keeps what, and why:

* **Retention is the server's, not ours.**  Every PUT carries Object Lock mode
  COMPLIANCE and the item's retain-until (rounded *up* to the second, S3's
  precision), so not even the bucket owner can delete a version or shorten its
  retention.  A retain-until already in the past (an old document whose legal
  period has run out) is locked for :data:`MIN_LOCK` from now instead: every
  object is locked, none longer than needed by more than a day.  Extension is
  ``PutObjectRetention`` with a later date; a shorter one is refused here with
  :class:`RetentionError` before the server is asked.  Legal hold is S3 legal hold.
* **Integrity on the wire.**  Each PUT sends ``x-amz-checksum-sha256`` (the
  server refuses the body if it does not match) and keeps the hex SHA-256 in
  the object's metadata; each GET asks for the checksum (``ChecksumMode``) and
  the bytes are re-hashed here against it before anyone sees them.
* **Write-once under versioning: the oldest version of a key is the object.**
  A versioned bucket never overwrites: a second PUT of a key makes a second
  version, and a plain DELETE only stacks a delete marker on top.  So:

  1. Writers create exclusively with ``If-None-Match: *`` (SeaweedFS, AWS and
     MinIO honour it; on a server that answers 501 the header is dropped and
     step 2 alone decides).  A 412 means the key exists: its bytes are compared
     and an equal write is "already there", another is :class:`WriteOnceViolation`.
  2. ``If-None-Match`` passes over a key whose latest version is a delete
     marker, and a server may ignore it; so after every successful PUT the
     writer lists the key's versions.  If its own version is not the oldest,
     it lost: the older bytes decide (equal: "already there"; other:
     :class:`WriteOnceViolation`).  The loser's version stays (it is locked
     too) and is never read.  Two racing writers therefore agree on one winner
     without any lock between them, which is what ``Log.append`` relies on.
  3. Readers never return a later version someone PUT with the owner's keys,
     and a delete marker hides nothing.  An everyday read still costs one
     request, because the store remembers which version is the object:

     * ``get(key)`` (exact) GETs the version this process wrote or resolved
       before (an LRU of :data:`MAX_CACHED_VERSIONS` keys); only a key it
       has never seen is resolved by listing its versions first.
     * ``get(key, verify=…)`` of a key whose version is not known GETs the
       newest version in one request and returns it if the caller's check
       accepts it (a blob that decodes to its digest: every genuine version
       of a content-addressed key holds the same bytes).  Anything else (a
       forged later version, damage) sends it to the exact read.
     * ``exists(key)`` is one HEAD of the newest version (none for a key
       whose version is known).
     * A 404 is ambiguous: no such key, or a delete marker on top.  AWS and
       MinIO flag the latter (``x-amz-delete-marker``), SeaweedFS does not,
       so every 404 of a GET or HEAD is settled by the version listing.

* **Self-test** (:meth:`S3Store.self_test`, the steps in ``s3selftest``): some
  S3 implementations accept the lock headers and do not enforce them (moto lets
  a COMPLIANCE retention be shortened).  The test checks that Object Lock and
  versioning are on, and on a canary object ``canary/<uuid>`` locked for
  :data:`CANARY_LOCK` that a versioned delete and a retention shortening are
  both refused.  The canary can then not be deleted for a day, which is the
  proof the test was real; so it runs where it matters (``earsiv init``, the
  destination of ``migrate-store``, ``serve`` at start and on a schedule), not
  at every open (``S3Store.open(url, self_test=False)``).

Every botocore exception is translated at the edge (``s3api``) and leaves this
module as ``StoreError``, ``WriteOnceViolation`` or ``RetentionError``
(``raise … from exc``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from earsiv.archive.errors import LockNotEnforced, RetentionError, StoreError, WriteOnceViolation
from earsiv.archive.stores.base import ObjectRetention, PutItem, SelfTestResult, check_key
from earsiv.archive.stores.s3api import COMPLIANCE, S3Api, S3Failure, S3Location, b64_sha256, checksum_problem
from earsiv.archive.stores.s3selftest import CANARY_LOCK, BucketCalls, bucket_failures

__all__ = ["CANARY_LOCK", "MAX_CACHED_VERSIONS", "MAX_STAGED", "MIN_LOCK", "LockNotEnforced", "S3Location", "S3Store"]

log = logging.getLogger(__name__)

UTC = dt.UTC
MIN_LOCK = dt.timedelta(days=1)
# Keys whose oldest version this process knows: 65,536 keys of ~60 bytes plus a
# version id each, a few MiB at most, and enough for the working set of a log.
MAX_CACHED_VERSIONS = 65_536
# Staged PUTs remembered for put_many; an item staged and never put or discarded
# (a caller that died half-way) is forgotten after this many newer ones.
MAX_STAGED = 4_096


def _ceil_second(t: dt.datetime) -> dt.datetime:
    """S3 keeps whole seconds: round up, so the server never holds less than asked."""
    t = t.astimezone(UTC)
    return t.replace(microsecond=0) + dt.timedelta(seconds=1) if t.microsecond else t


def _lock_until(until: dt.datetime, now: dt.datetime | None = None) -> dt.datetime:
    floor = (now or dt.datetime.now(UTC)) + MIN_LOCK
    return max(_ceil_second(until), floor.replace(microsecond=0))


_CONTENT_ADDRESSED = ("blobs/", "dicts/")
_MISSING = ("NoSuchKey", "NoSuchVersion", "404")


class _LRU:
    """key -> oldest version id, at most *maxsize* keys, the least recently used dropped first.

    Forgetting is always safe: a key not here is resolved by listing again.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._map: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            vid = self._map.get(key)
            if vid is not None:
                self._map.move_to_end(key)
            return vid

    def put(self, key: str, vid: str) -> None:
        with self._lock:
            self._map[key] = vid
            self._map.move_to_end(key)
            while len(self._map) > self.maxsize:
                self._map.popitem(last=False)

    def pop(self, key: str) -> None:
        with self._lock:
            self._map.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._map.clear()

    def __len__(self) -> int:
        return len(self._map)


class S3Store:
    """An S3 bucket with Object Lock, as an :class:`~earsiv.archive.stores.base.ObjectStore`."""

    def __init__(self, location: S3Location, *, client=None, allow_unenforced_lock: bool = False) -> None:
        self.location = location
        self.bucket = location.bucket
        self.url = location.url
        self.allow_unenforced_lock = allow_unenforced_lock
        self.last_self_test: SelfTestResult | None = None
        self._api = S3Api(location, client)
        self._conditional = True  # cleared if the server answers 501 to If-None-Match
        # key -> its oldest version id: immutable while the object is retained.
        self._oldest = _LRU(MAX_CACHED_VERSIONS)
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False
        self._staged: OrderedDict[str, Future] = OrderedDict()  # token -> PUT started by stage()
        self._staged_ids = itertools.count(1)
        self._page_size: int | None = None  # listing page size; None = the server's (1000 on S3)

    @classmethod
    def open(cls, url: str, *, allow_unenforced_lock: bool = False, self_test: bool = True) -> S3Store:
        """The store at *url*; with *self_test*, only after the bucket passed :meth:`self_test`.

        Everyday commands open with ``self_test=False``: the test leaves a canary
        locked for a day, so it runs at ``init``, for a ``migrate-store``
        destination and in the service (at start and on a schedule).
        """
        try:
            store = cls(S3Location.parse(url), allow_unenforced_lock=allow_unenforced_lock)
        except ValueError as exc:
            raise StoreError(str(exc), name=url) from exc
        if allow_unenforced_lock:
            _warn_unenforced(store.url)
        elif self_test:
            try:
                store.self_test()
            except BaseException:
                store.close()
                raise
        return store

    @property
    def client(self):
        """The botocore S3 client.  For instrumentation (``client.meta.events``), not for calls."""
        return self._api.client

    def _call(self, operation: str, key: str | None = None, /, **kwargs) -> dict:
        return self._api.call(operation, key, **kwargs)

    def _fail(self, failure: S3Failure) -> StoreError:
        return self._api.fail(failure)

    # -- writing ---------------------------------------------------------------
    def stage(self, item: PutItem) -> PutItem:
        """Start the PUT now, in the background; ``put_many`` waits for it.

        An object is visible at its key as soon as its PUT completes, but the
        archive reads only what a log leaf names, and a leaf is written only
        after ``put_many`` returned: an early blob is invisible until then (and
        a harmless orphan if the process dies first).  Starting PUTs while
        later documents are still being parsed keeps the connection pool busy.
        """
        if item.staged is not None:
            return item
        future = self._executor().submit(self._put_one, item)
        token = f"s3put-{next(self._staged_ids)}"
        with self._lock:
            self._staged[token] = future
            while len(self._staged) > MAX_STAGED:
                # Never put nor discarded.  Forgetting it is safe: a later
                # put_many of its token simply PUTs again ("already there").
                self._staged.popitem(last=False)
        return PutItem(item.key, item.data, item.retain_until, token)

    def discard(self, item: PutItem) -> None:
        # A started PUT cannot be taken back (the object is locked); wait for
        # it so that no work outlives the caller, and forget it.
        future = self._take_staged(item)
        if future is not None:
            future.exception()

    def _take_staged(self, item: PutItem):
        if item.staged is None:
            return None
        with self._lock:
            return self._staged.pop(item.staged, None)

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                raise StoreError(f"the store {self.url} is closed", name=self.url)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.location.workers, thread_name_prefix="s3put")
            return self._pool

    def put_many(self, items: Sequence[PutItem]) -> list[bool]:
        """Every PUT completed (durable, DESIGN.md invariant 4) before this returns."""
        if len(items) <= 1 and all(i.staged is None for i in items):
            return [self._put_one(i) for i in items]
        pool = self._executor()
        futures = [self._take_staged(item) or pool.submit(self._put_one, item) for item in items]
        results: list[bool] = []
        first_error: BaseException | None = None
        for f in futures:  # wait for all: the caller must know every PUT finished, one way or the other
            try:
                results.append(f.result())
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                first_error = first_error or exc
        if first_error is not None:
            raise first_error
        return results

    def restore(self, item: PutItem) -> bool:
        """Put back an object the bucket lost; True if it was written.

        For ``earsiv repair`` only, with bytes it checked.  An object that is there is never
        replaced: its oldest version is the object (module doc), so a bucket can lose an
        object (through the server's file system, or a bucket never written) but not hold
        other bytes under it through the API; an object there with other bytes is reported.
        """
        if not self.exists(item.key):
            return self.put_many([PutItem(item.key, item.data, item.retain_until)])[0]
        if self.get(item.key) != item.data:
            raise StoreError(f"{item.key} in {self.url} holds other bytes; S3 keeps an object's oldest version, "
                             "so it is not replaced", name=item.key)
        return False

    def _put_one(self, item: PutItem) -> bool:
        for attempt in range(6):
            try:
                return self._put_once(item)
            except _ConflictInFlight:
                time.sleep(0.05 * 2**attempt)  # another conditional PUT of this key is in flight
        raise StoreError(f"S3 kept answering 409 to a conditional PUT of {item.key}", name=item.key)

    def _put_once(self, item: PutItem) -> bool:
        b64, hexdigest = b64_sha256(item.data)
        args = {
            "Body": item.data,
            # AWS wants the algorithm header on every PUT with a lock; the value is ours.
            "ChecksumAlgorithm": "SHA256",
            "ChecksumSHA256": b64,
            "Metadata": {"sha256": hexdigest},
            "ObjectLockMode": COMPLIANCE,
            "ObjectLockRetainUntilDate": _lock_until(item.retain_until),
        }
        try:
            try:
                resp = self._call("put_object", item.key, **args, **({"IfNoneMatch": "*"} if self._conditional else {}))
            except S3Failure as failure:
                if failure.code in ("NotImplemented", "501") and self._conditional:
                    log.warning("%s does not implement If-None-Match; write-once rests on the oldest-version rule", self.url)
                    self._conditional = False
                    resp = self._call("put_object", item.key, **args)
                else:
                    raise
        except S3Failure as failure:
            if failure.code in ("ConditionalRequestConflict", "409"):
                raise _ConflictInFlight() from failure
            if failure.code in ("PreconditionFailed", "412"):
                return self._same_or_raise(item)
            if failure.code in ("BadDigest", "XAmzContentSHA256Mismatch", "InvalidDigest"):
                raise StoreError(f"S3 refused {item.key}: the bytes changed on the wire ({failure.code})", name=item.key) from failure
            raise self._fail(failure) from failure
        mine = resp.get("VersionId")
        if not mine or mine == "null":
            raise StoreError(f"bucket {self.bucket} did not version {item.key}: versioning is off", name=item.key)
        if item.key.startswith(_CONTENT_ADDRESSED):
            # A blob or dictionary is named by the sha256 of its content: every
            # genuine version of its key holds the same bytes, and a forged older
            # one (put, then hidden by a delete marker) is what readers get and
            # what fixity then reports as damage.  So the version listing that
            # decides a race for other keys (log bundles, checkpoints) would
            # prove nothing here; skipping it saves a LIST per document.
            return True
        oldest = self._resolve(item.key, cached=False)
        if oldest == mine:
            return True
        if oldest is None:
            raise StoreError(f"{item.key} was written (version {mine}) but the server does not list it", name=item.key)
        # Someone else's version is older: theirs is the object, ours is never read.
        return self._same_or_raise(item, ignored=mine)

    def _same_or_raise(self, item: PutItem, ignored: str | None = None) -> bool:
        existing = self.get(item.key)
        if existing != item.data:
            extra = f"; the refused bytes remain as version {ignored}, which readers ignore" if ignored else ""
            raise WriteOnceViolation(f"object {item.key} already exists with other content; refusing to overwrite{extra}", name=item.key)
        if item.retain_until > self.retention(item.key).retain_until:
            self.extend_retention(item.key, item.retain_until)
        return False

    # -- which version is the object -----------------------------------------
    def _versions(self, key: str) -> tuple[list[str], list[str]]:
        """(real version ids, delete marker ids) of exactly *key*; real ones newest first (S3's order)."""
        real: list[str] = []
        markers: list[str] = []
        kwargs: dict = {"Prefix": key}
        while True:
            try:
                page = self._call("list_object_versions", None, **kwargs)
            except S3Failure as failure:
                raise self._fail(failure) from failure
            real.extend(v["VersionId"] for v in page.get("Versions", []) if v["Key"] == key)
            markers.extend(m["VersionId"] for m in page.get("DeleteMarkers", []) if m["Key"] == key)
            if not page.get("IsTruncated"):
                return real, markers
            kwargs = {"Prefix": key, "KeyMarker": page.get("NextKeyMarker"), "VersionIdMarker": page.get("NextVersionIdMarker")}

    def _resolve(self, key: str, *, cached: bool = True) -> str | None:
        if cached:
            vid = self._oldest.get(key)
            if vid is not None:
                return vid
        real, _markers = self._versions(key)
        if not real:
            return None
        self._oldest.put(key, real[-1])
        return real[-1]

    def _version_of(self, key: str) -> str:
        check_key(key)
        vid = self._resolve(key)
        if vid is None:
            raise StoreError(f"object {key} is missing from {self.url}", name=key)
        return vid

    def _by_version(self, key: str, operation: str, **kwargs) -> tuple[str, dict]:
        """*operation* on the object's version: (version id, response).

        A cached version that is gone (disposed of by another process once its
        retention ended) is forgotten and the key resolved once more.
        """
        for _attempt in range(2):
            vid = self._version_of(key)
            try:
                return vid, self._call(operation, key, VersionId=vid, **kwargs)
            except S3Failure as failure:
                if failure.code not in _MISSING:
                    raise self._fail(failure) from failure
                self._oldest.pop(key)
        raise StoreError(f"object {key} is missing from {self.url}", name=key)

    # -- reading ---------------------------------------------------------------
    def get(self, key: str, *, verify: Callable[[bytes], bool] | None = None) -> bytes:
        """The object's bytes, checked against its SHA-256 (see the module doc for the requests)."""
        check_key(key)
        if verify is None or self._oldest.get(key) is not None:
            return self._get_exact(key)  # by the known version: one GET, and never a later one
        try:
            resp = self._call("get_object", key, ChecksumMode="ENABLED")
        except S3Failure as failure:
            if failure.code not in _MISSING:
                raise self._fail(failure) from failure
            return self._get_exact(key)  # no such key, or a delete marker on top
        newest = resp.get("VersionId")
        data = self._body(key, resp)
        damage = checksum_problem(resp, data)
        if damage is None and verify(data):
            return data
        # A later version over the object (forged over a delete marker) or
        # damage: the object is the oldest version, whatever it holds.
        if newest is not None and newest == self._resolve(key):
            if damage is not None:
                raise StoreError(f"object {key} (version {newest}) {damage}", name=key)
            return data  # the object itself; the caller's check reports it
        return self._get_exact(key)

    def _get_exact(self, key: str) -> bytes:
        vid, resp = self._by_version(key, "get_object", ChecksumMode="ENABLED")
        data = self._body(key, resp)
        damage = checksum_problem(resp, data)
        if damage is not None:
            raise StoreError(f"object {key} (version {vid}) {damage}", name=key)
        return data

    def _body(self, key: str, resp: dict) -> bytes:
        try:
            return resp["Body"].read()
        except Exception as exc:  # a broken stream (urllib3/botocore) while reading the body
            raise StoreError(f"cannot read object {key} from {self.url}: {exc}", name=key) from exc

    def exists(self, key: str) -> bool:
        check_key(key)
        if self._oldest.get(key) is not None:
            return True
        try:
            self._call("head_object", key)
            return True
        except S3Failure as failure:
            if failure.code not in _MISSING:
                raise self._fail(failure) from failure
        # No such key, or a delete marker on top of it (see the module doc).
        return self._resolve(key) is not None

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def list(self, prefix: str) -> Iterator[str]:
        """Keys with at least one real version, so a delete marker hides nothing."""
        paging = {"MaxKeys": self._page_size} if self._page_size else {}
        kwargs: dict = {"Prefix": prefix, **paging}
        last = None
        while True:
            try:
                page = self._call("list_object_versions", None, **kwargs)
            except S3Failure as failure:
                raise self._fail(failure) from failure
            # S3 lists keys in UTF-8 byte order, which is code point order: sorted already.
            for v in page.get("Versions", []):
                if v["Key"] != last:
                    last = v["Key"]
                    yield last
            if not page.get("IsTruncated"):
                return
            kwargs = {"Prefix": prefix, **paging, "KeyMarker": page.get("NextKeyMarker"), "VersionIdMarker": page.get("NextVersionIdMarker")}

    def _head(self, key: str) -> dict:
        return self._by_version(key, "head_object")[1]

    # -- retention -------------------------------------------------------------
    def retention(self, key: str) -> ObjectRetention:
        head = self._head(key)
        until = head.get("ObjectLockRetainUntilDate")
        if until is None or head.get("ObjectLockMode") != COMPLIANCE:
            raise StoreError(f"object {key} in {self.url} carries no COMPLIANCE retention", name=key)
        return ObjectRetention(until.astimezone(UTC), head.get("ObjectLockLegalHoldStatus") == "ON")

    def extend_retention(self, key: str, until: dt.datetime) -> None:
        current = self.retention(key).retain_until
        if until.tzinfo is None:
            raise ValueError("retain-until must be timezone-aware")
        if until < current:
            raise RetentionError(
                f"retention of {key} can only be extended: {until.isoformat()} is before {current.isoformat()}", name=key
            )
        target = _ceil_second(until)
        if target <= current:
            return
        try:
            self._call(
                "put_object_retention", key, VersionId=self._version_of(key),
                Retention={"Mode": COMPLIANCE, "RetainUntilDate": target},
            )  # fmt: skip
        except S3Failure as failure:
            raise self._fail(failure) from failure

    def set_legal_hold(self, key: str, on: bool) -> None:
        try:
            self._call("put_object_legal_hold", key, VersionId=self._version_of(key), LegalHold={"Status": "ON" if on else "OFF"})
        except S3Failure as failure:
            raise self._fail(failure) from failure

    def delete(self, key: str, *, now: dt.datetime | None = None) -> None:
        """Dispose of every version of *key*; the server's lock is the last word."""
        now = now or dt.datetime.now(UTC)
        current = self.retention(key)
        if current.legal_hold:
            raise WriteOnceViolation(f"object {key} is under legal hold; it cannot be deleted", name=key)
        if now < current.retain_until:
            raise WriteOnceViolation(
                f"object {key} is retained until {current.retain_until.isoformat()}; it cannot be deleted before", name=key
            )
        real, markers = self._versions(key)
        for vid in [*reversed(real), *markers]:
            try:
                self._call("delete_object", key, VersionId=vid)
            except S3Failure as failure:
                if failure.code in ("AccessDenied", "403"):
                    raise WriteOnceViolation(f"the server refuses to delete {key} version {vid}: still locked", name=key) from failure
                raise self._fail(failure) from failure
        with self._lock:
            self._oldest.pop(key, None)

    # -- self-test and life cycle ----------------------------------------------
    def self_test(self) -> SelfTestResult:
        """Check that the bucket enforces write-once (steps in ``s3selftest``); remember the outcome.

        Raises :class:`LockNotEnforced` naming what failed, unless the store was
        opened with ``allow_unenforced_lock`` (development only: nothing is
        tested then, and the result says it was skipped).
        """
        now = dt.datetime.now(UTC)
        if self.allow_unenforced_lock:
            _warn_unenforced(self.url)
            self.last_self_test = SelfTestResult(now, ok=False, skipped=True)
            return self.last_self_test
        try:
            failed = bucket_failures(BucketCalls(self._api))
        except StoreError as exc:
            self.last_self_test = SelfTestResult(now, ok=False, failures=(f"the self-test could not run: {exc}",))
            raise
        self.last_self_test = SelfTestResult(now, ok=not failed, failures=tuple(failed))
        if failed:
            raise LockNotEnforced(
                f"bucket {self.bucket} at {self.url} does not enforce write-once storage: "
                + "; ".join(failed)
                + ". The archive refuses to run on it (--allow-unenforced-lock exists for development only)."
            )
        return self.last_self_test

    def close(self) -> None:
        """Wait for PUTs in flight, then let go of the thread pool, the caches and the connections."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
            self._staged.clear()
        if pool is not None:
            pool.shutdown(wait=True)
        self._oldest.clear()
        self._api.close()


def _warn_unenforced(url: str) -> None:
    banner = "!" * 78
    log.warning(
        "\n%s\n!!! --allow-unenforced-lock: the Object Lock self-test of %s is SKIPPED.\n"
        "!!! Nothing guarantees that stored documents cannot be deleted or shortened.\n"
        "!!! For development only; never use this with real documents.\n%s",
        banner, url, banner,
    )  # fmt: skip


class _ConflictInFlight(Exception):
    """AWS answers 409 while another conditional PUT of the key is in flight: try again."""
