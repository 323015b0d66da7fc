"""The S3 Object Lock store: the scale-out place where the archive keeps its bytes.

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
  3. Readers (``get``, ``exists``, ``list``, ``retention``) always resolve a
     key to its oldest non-delete-marker version.  A later version someone
     PUT with the owner's keys, or a delete marker, never changes what the
     archive reads.

* **Start-up self-test** (:meth:`S3Store.self_test`): some S3 implementations
  accept the lock headers and do not enforce them (moto lets a COMPLIANCE
  retention be shortened).  Before the archive runs on a bucket it checks that
  Object Lock and versioning are on, and on a canary object ``canary/<uuid>``
  locked for :data:`CANARY_LOCK` that a versioned delete and a retention
  shortening are both refused.  The canary can then not be deleted for a day;
  that is expected: a few bytes per start, and proof the test was real.

Every botocore exception is translated here, at the edge, into ``StoreError``,
``WriteOnceViolation`` or ``RetentionError`` (``raise … from exc``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlparse

from earsiv.archive.errors import RetentionError, StoreError, WriteOnceViolation
from earsiv.archive.stores.base import ObjectRetention, PutItem, check_key

__all__ = ["CANARY_LOCK", "MIN_LOCK", "LockNotEnforced", "S3Location", "S3Store"]

log = logging.getLogger(__name__)

UTC = dt.UTC
MIN_LOCK = dt.timedelta(days=1)
CANARY_LOCK = dt.timedelta(days=1)
COMPLIANCE = "COMPLIANCE"
DEFAULT_WORKERS = 16
_SESSION = None  # made on first use, never at import
_SESSION_LOCK = threading.Lock()
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class LockNotEnforced(StoreError):
    """The bucket does not enforce Object Lock; the archive refuses to run on it."""

    code = "lock-not-enforced"


@dataclass(frozen=True, slots=True)
class S3Location:
    """``s3://BUCKET?endpoint=http://127.0.0.1:8333&region=us-east-1`` (both query parts optional)."""

    bucket: str
    endpoint: str | None = None
    region: str | None = None
    workers: int = DEFAULT_WORKERS

    def __post_init__(self) -> None:
        if not _BUCKET_RE.match(self.bucket) or ".." in self.bucket:
            raise ValueError(f"{self.bucket!r} is not a valid S3 bucket name")
        if self.endpoint is not None and urlparse(self.endpoint).scheme not in ("http", "https"):
            raise ValueError(f"S3 endpoint {self.endpoint!r} must be http(s)://host:port")
        if not 1 <= self.workers <= 256:
            raise ValueError(f"workers={self.workers} is out of range 1..256")

    @classmethod
    def parse(cls, url: str) -> S3Location:
        parts = urlparse(url)
        if parts.scheme != "s3" or not parts.netloc or parts.path not in ("", "/"):
            raise ValueError(f"{url!r} is not s3://BUCKET[?endpoint=…&region=…]")
        query = parse_qs(parts.query, strict_parsing=bool(parts.query))
        unknown = set(query) - {"endpoint", "region", "workers"}
        if unknown:
            raise ValueError(f"{url!r}: unknown setting(s) {', '.join(sorted(unknown))}")
        one = {k: v[-1] for k, v in query.items()}
        return cls(parts.netloc, one.get("endpoint"), one.get("region"), int(one.get("workers", DEFAULT_WORKERS)))

    @property
    def url(self) -> str:
        query = {k: v for k, v in (("endpoint", self.endpoint), ("region", self.region)) if v}
        return f"s3://{self.bucket}" + (f"?{urlencode(query, safe=':/')}" if query else "")


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode") or "")


def _ceil_second(t: dt.datetime) -> dt.datetime:
    """S3 keeps whole seconds: round up, so the server never holds less than asked."""
    t = t.astimezone(UTC)
    return t.replace(microsecond=0) + dt.timedelta(seconds=1) if t.microsecond else t


def _lock_until(until: dt.datetime, now: dt.datetime | None = None) -> dt.datetime:
    floor = (now or dt.datetime.now(UTC)) + MIN_LOCK
    return max(_ceil_second(until), floor.replace(microsecond=0))


def _b64_sha256(data: bytes) -> tuple[str, str]:
    digest = hashlib.sha256(data).digest()
    return base64.b64encode(digest).decode("ascii"), digest.hex()


_CONTENT_ADDRESSED = ("blobs/", "dicts/")


class S3Store:
    """An S3 bucket with Object Lock, as an :class:`~earsiv.archive.stores.local.ObjectStore`."""

    def __init__(self, location: S3Location, *, client=None) -> None:
        self.location = location
        self.bucket = location.bucket
        self.url = location.url
        self._client = client if client is not None else self._make_client(location)
        self._conditional = True  # cleared if the server answers 501 to If-None-Match
        self._oldest: dict[str, str] = {}  # key -> its oldest version id (immutable while retained)
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._staged: dict[str, object] = {}  # token -> Future of a PUT started by stage()
        self._staged_n = 0
        self._page_size: int | None = None  # listing page size; None = the server's (1000 on S3)

    @classmethod
    def open(cls, url: str, *, allow_unenforced_lock: bool = False) -> S3Store:
        """The store at *url*, after the bucket passed :meth:`self_test` (see module doc)."""
        try:
            store = cls(S3Location.parse(url))
        except ValueError as exc:
            raise StoreError(str(exc), name=url) from exc
        if not allow_unenforced_lock:
            store.self_test()
            return store
        banner = "!" * 78
        log.warning(
            "\n%s\n!!! --allow-unenforced-lock: the Object Lock self-test of %s is SKIPPED.\n"
            "!!! Nothing guarantees that stored documents cannot be deleted or shortened.\n"
            "!!! For development only; never use this with real documents.\n%s",
            banner, store.url, banner,
        )  # fmt: skip
        return store

    @staticmethod
    def _make_client(location: S3Location):
        import boto3
        from botocore.config import Config as BotoConfig

        global _SESSION
        config = BotoConfig(
            max_pool_connections=location.workers + 4,
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=10,
            read_timeout=120,
            # We send ChecksumSHA256 ourselves; no extra CRC32 per request.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_supported",
            s3={"addressing_style": "path"},
        )
        # The standard variables are read at every open (a session would cache
        # the first ones it saw); without them boto3's usual chain applies.
        keys = {}
        if os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
            keys = {
                "aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"],
                "aws_session_token": os.environ.get("AWS_SESSION_TOKEN"),
            }
        try:
            with _SESSION_LOCK:  # one session per process: it caches the parsed API models
                if _SESSION is None:
                    _SESSION = boto3.session.Session()
                return _SESSION.client(
                    "s3", endpoint_url=location.endpoint, region_name=location.region, config=config, **keys
                )
        except Exception as exc:  # botocore raises many unrelated types while configuring
            raise StoreError(f"cannot make an S3 client for {location.url}: {exc}") from exc

    # -- the edge: every call to the server goes through here ---------------
    def _call(self, operation: str, key: str | None = None, /, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            return getattr(self._client, operation)(Bucket=self.bucket, **({"Key": key} if key is not None else {}), **kwargs)
        except NoCredentialsError as exc:
            raise StoreError(f"no S3 credentials for {self.url}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") from exc
        except ClientError as exc:
            raise _S3Failure(operation, key, _error_code(exc), str(exc)) from exc
        except BotoCoreError as exc:
            raise StoreError(f"S3 {operation} of {key or self.bucket} at {self.url} failed: {exc}", name=key) from exc

    def _fail(self, failure: _S3Failure) -> StoreError:
        if failure.code in ("NoSuchBucket",):
            return StoreError(f"bucket {self.bucket} does not exist at {self.url}; create it with Object Lock enabled")
        if failure.code in ("AccessDenied", "403"):
            return StoreError(f"S3 {failure.operation} was denied on {self.url}: {failure.message}", name=failure.key)
        return StoreError(f"S3 {failure.operation} failed on {self.url}: {failure.message}", name=failure.key)

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
        with self._lock:
            self._staged_n += 1
            token = f"s3put-{self._staged_n}"
            self._staged[token] = future
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

    def _put_one(self, item: PutItem) -> bool:
        for attempt in range(6):
            try:
                return self._put_once(item)
            except _ConflictInFlight:
                time.sleep(0.05 * 2**attempt)  # another conditional PUT of this key is in flight
        raise StoreError(f"S3 kept answering 409 to a conditional PUT of {item.key}", name=item.key)

    def _put_once(self, item: PutItem) -> bool:
        b64, hexdigest = _b64_sha256(item.data)
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
            except _S3Failure as failure:
                if failure.code in ("NotImplemented", "501") and self._conditional:
                    log.warning("%s does not implement If-None-Match; write-once rests on the oldest-version rule", self.url)
                    self._conditional = False
                    resp = self._call("put_object", item.key, **args)
                else:
                    raise
        except _S3Failure as failure:
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
            except _S3Failure as failure:
                raise self._fail(failure) from failure
            real.extend(v["VersionId"] for v in page.get("Versions", []) if v["Key"] == key)
            markers.extend(m["VersionId"] for m in page.get("DeleteMarkers", []) if m["Key"] == key)
            if not page.get("IsTruncated"):
                return real, markers
            kwargs = {"Prefix": key, "KeyMarker": page.get("NextKeyMarker"), "VersionIdMarker": page.get("NextVersionIdMarker")}

    def _resolve(self, key: str, *, cached: bool = True) -> str | None:
        if cached:
            with self._lock:
                if key in self._oldest:
                    return self._oldest[key]
        real, _markers = self._versions(key)
        if not real:
            return None
        with self._lock:
            self._oldest[key] = real[-1]
        return real[-1]

    def _version_of(self, key: str) -> str:
        check_key(key)
        vid = self._resolve(key)
        if vid is None:
            raise StoreError(f"object {key} is missing from {self.url}", name=key)
        return vid

    # -- reading ---------------------------------------------------------------
    def get(self, key: str, *, verify=None) -> bytes:
        vid = self._version_of(key)
        try:
            resp = self._call("get_object", key, VersionId=vid, ChecksumMode="ENABLED")
            data = resp["Body"].read()
        except _S3Failure as failure:
            raise self._fail(failure) from failure
        except StoreError:
            raise
        except Exception as exc:  # a broken stream (urllib3/botocore) while reading the body
            raise StoreError(f"cannot read object {key} from {self.url}: {exc}", name=key) from exc
        b64, hexdigest = _b64_sha256(data)
        want_b64 = resp.get("ChecksumSHA256")
        want_hex = (resp.get("Metadata") or {}).get("sha256")
        if want_b64 is None and want_hex is None:
            raise StoreError(f"object {key} (version {vid}) has no SHA-256 checksum to check it against", name=key)
        if (want_b64 is not None and want_b64 != b64) or (want_hex is not None and want_hex != hexdigest):
            raise StoreError(f"object {key} (version {vid}) does not match its SHA-256 checksum: damaged", name=key)
        return data

    def exists(self, key: str) -> bool:
        check_key(key)
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
            except _S3Failure as failure:
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
        vid = self._version_of(key)
        try:
            return self._call("head_object", key, VersionId=vid)
        except _S3Failure as failure:
            raise self._fail(failure) from failure

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
        except _S3Failure as failure:
            raise self._fail(failure) from failure

    def set_legal_hold(self, key: str, on: bool) -> None:
        try:
            self._call("put_object_legal_hold", key, VersionId=self._version_of(key), LegalHold={"Status": "ON" if on else "OFF"})
        except _S3Failure as failure:
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
            except _S3Failure as failure:
                if failure.code in ("AccessDenied", "403"):
                    raise WriteOnceViolation(f"the server refuses to delete {key} version {vid}: still locked", name=key) from failure
                raise self._fail(failure) from failure
        with self._lock:
            self._oldest.pop(key, None)

    # -- start-up self-test ----------------------------------------------------
    def self_test(self) -> None:
        """Refuse a bucket that does not enforce Object Lock (see the module doc and s3selftest)."""
        from earsiv.archive.stores.s3selftest import bucket_failures

        failed = bucket_failures(self)
        if failed:
            raise LockNotEnforced(
                f"bucket {self.bucket} at {self.url} does not enforce write-once storage: "
                + "; ".join(failed)
                + ". The archive refuses to run on it (--allow-unenforced-lock exists for development only)."
            )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


class _S3Failure(StoreError):
    """A ClientError, reduced to what we decide on.

    Methods turn it into a specific error before it leaves; being a StoreError
    it is still one of ours should a path forget to.
    """

    def __init__(self, operation: str, key: str | None, code: str, message: str) -> None:
        super().__init__(f"S3 {operation} failed: {message}", name=key)
        self.operation, self.key, self.code, self.message = operation, key, code, message


class _ConflictInFlight(Exception):
    """AWS answers 409 while another conditional PUT of the key is in flight: try again."""
