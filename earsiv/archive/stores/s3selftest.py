"""What an S3 bucket must enforce before the archive keeps anything in it.

Some S3 implementations accept the Object Lock headers and then do not enforce
them (moto lets a COMPLIANCE retention be shortened), so the headers alone prove
nothing.  The test asks the bucket, then tries on a canary object what an
attacker with the owner's keys would try:

1. Object Lock is enabled on the bucket (``GetObjectLockConfiguration``);
2. versioning is enabled (the write-once rule rests on versions, see ``stores.s3``);
3. a PUT with a COMPLIANCE retain-until is accepted and keeps it;
4. shortening that retention is refused;
5. deleting that version (``DeleteObject`` with ``VersionId``) is refused.

The canary is ``canary/<uuid>``, locked for :data:`CANARY_LOCK` (one day).  It
can then not be deleted before that day is over, by anyone: that is expected,
and is what the test proves.  The test runs at ``earsiv init``, when
``migrate-store`` opens its destination, when ``serve`` starts and then on the
service's schedule, never for an everyday CLI command: one tiny object per run.

The steps run against the few raw calls of :class:`Bucket`; :class:`BucketCalls`
makes them on a real bucket through ``stores.s3api`` (the store's edge), and a
test can hand in any other.  Nothing here knows ``S3Store``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Protocol

from earsiv.archive.stores.s3api import COMPLIANCE, S3Api, S3Failure, b64_sha256

__all__ = ["CANARY_LOCK", "CANARY_PREFIX", "Bucket", "BucketCalls", "Refused", "bucket_failures"]

UTC = dt.UTC
CANARY_LOCK = dt.timedelta(days=1)
CANARY_PREFIX = "canary/"


class Refused(Exception):
    """The server answered a bucket call with an error (*code* as S3 names it)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class Bucket(Protocol):
    """The raw calls of the self-test, each raising :class:`Refused` when the server says no.

    Failures that are not an answer of the server (no connection, no bucket)
    are raised as the store's own errors and end the test.
    """

    def lock_enabled(self) -> bool: ...

    def versioning_enabled(self) -> bool: ...

    def put_locked(self, key: str, data: bytes, until: dt.datetime) -> str | None:
        """PUT with COMPLIANCE retention until *until*; the new version id."""

    def compliance_until(self, key: str, version: str) -> dt.datetime | None:
        """The COMPLIANCE retain-until of that version, None if it has none."""

    def set_compliance_until(self, key: str, version: str, until: dt.datetime) -> None: ...

    def delete_version(self, key: str, version: str) -> None: ...


class BucketCalls:
    """:class:`Bucket` on a real server: an answer of the server becomes :class:`Refused`.

    A missing bucket or a failed connection stays the store's error: the test
    could not run, which is not the same as a bucket that failed it.
    """

    def __init__(self, api: S3Api) -> None:
        self._api = api

    def _call(self, operation: str, key: str | None = None, **kwargs) -> dict:
        try:
            return self._api.call(operation, key, **kwargs)
        except S3Failure as failure:
            if failure.code == "NoSuchBucket":
                raise self._api.fail(failure) from failure
            raise Refused(failure.code, failure.message) from failure

    def lock_enabled(self) -> bool:
        cfg = self._call("get_object_lock_configuration").get("ObjectLockConfiguration", {})
        return cfg.get("ObjectLockEnabled") == "Enabled"

    def versioning_enabled(self) -> bool:
        return self._call("get_bucket_versioning").get("Status") == "Enabled"

    def put_locked(self, key: str, data: bytes, until: dt.datetime) -> str | None:
        b64, _hex = b64_sha256(data)
        resp = self._call(
            "put_object", key, Body=data, ChecksumAlgorithm="SHA256", ChecksumSHA256=b64,
            ObjectLockMode=COMPLIANCE, ObjectLockRetainUntilDate=until,
        )  # fmt: skip
        return resp.get("VersionId")

    def compliance_until(self, key: str, version: str) -> dt.datetime | None:
        head = self._call("head_object", key, VersionId=version)
        return head.get("ObjectLockRetainUntilDate") if head.get("ObjectLockMode") == COMPLIANCE else None

    def set_compliance_until(self, key: str, version: str, until: dt.datetime) -> None:
        self._call("put_object_retention", key, VersionId=version, Retention={"Mode": COMPLIANCE, "RetainUntilDate": until})

    def delete_version(self, key: str, version: str) -> None:
        self._call("delete_object", key, VersionId=version)


def bucket_failures(bucket: Bucket) -> list[str]:
    """What *bucket* fails to enforce, each in words a user can act on; empty if nothing."""
    failed: list[str] = []
    try:  # step 1
        if not bucket.lock_enabled():
            failed.append("Object Lock is not enabled on the bucket")
    except Refused as refused:
        failed.append(f"Object Lock is not enabled on the bucket ({refused.code})")
    try:  # step 2
        if not bucket.versioning_enabled():
            failed.append("versioning is not enabled on the bucket")
    except Refused as refused:
        failed.append(f"the bucket's versioning cannot be read ({refused.code})")
    if not failed:
        failed.extend(_canary(bucket))
    return failed


def _canary(bucket: Bucket) -> list[str]:
    key = f"{CANARY_PREFIX}{uuid.uuid4()}"
    now = dt.datetime.now(UTC).replace(microsecond=0)
    data = f"earsiv object-lock canary {now.isoformat()}\n".encode()
    try:  # step 3
        vid = bucket.put_locked(key, data, now + CANARY_LOCK)
    except Refused as refused:
        return [f"a PUT with a COMPLIANCE lock was refused ({refused.code}: {refused.message})"]
    if not vid or vid == "null":
        return ["a PUT got no version id: versioning does not work"]
    failed: list[str] = []
    try:
        kept = bucket.compliance_until(key, vid)
    except Refused as refused:
        kept = None
        failed.append(f"the canary cannot be read back ({refused.code})")
    if kept is None:
        failed.append("the COMPLIANCE retention of a PUT was not kept")
    try:  # step 4: must be refused
        bucket.set_compliance_until(key, vid, now + dt.timedelta(hours=1))
        failed.append("a retention shortening of a COMPLIANCE-locked object was accepted")
    except Refused:
        pass
    try:  # step 5: must be refused
        bucket.delete_version(key, vid)
        failed.append("a versioned delete of a COMPLIANCE-locked object was accepted")
    except Refused:
        pass
    return failed
