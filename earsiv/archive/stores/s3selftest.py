"""What an S3 bucket must enforce before the archive keeps anything in it.

Some S3 implementations accept the Object Lock headers and then do not enforce
them (moto lets a COMPLIANCE retention be shortened), so the headers alone prove
nothing.  The test asks the bucket, then tries on a canary object what an
attacker with the owner's keys would try:

1. Object Lock is enabled on the bucket (``GetObjectLockConfiguration``);
2. versioning is enabled (the write-once rule rests on versions, see s3store);
3. a PUT with a COMPLIANCE retain-until is accepted and keeps it;
4. shortening that retention is refused;
5. deleting that version (``DeleteObject`` with ``VersionId``) is refused.

The canary is ``canary/<uuid>``, locked for ``CANARY_LOCK`` (one day).  It can
then not be deleted before that day is over, by anyone: that is expected, and
is what the test proves.  One tiny object per start of the archive.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from typing import TYPE_CHECKING

from earsiv.archive.stores.s3 import CANARY_LOCK, COMPLIANCE, _b64_sha256, _S3Failure

if TYPE_CHECKING:
    from earsiv.archive.stores.s3 import S3Store

__all__ = ["bucket_failures"]

UTC = dt.UTC


def bucket_failures(store: S3Store) -> list[str]:
    """What *store*'s bucket fails to enforce, each in words a user can act on; empty if nothing."""
    failed: list[str] = []
    try:  # step 1
        cfg = store._call("get_object_lock_configuration").get("ObjectLockConfiguration", {})
        if cfg.get("ObjectLockEnabled") != "Enabled":
            failed.append("Object Lock is not enabled on the bucket")
    except _S3Failure as failure:
        if failure.code == "NoSuchBucket":
            raise store._fail(failure) from failure
        failed.append(f"Object Lock is not enabled on the bucket ({failure.code})")
    try:  # step 2
        if store._call("get_bucket_versioning").get("Status") != "Enabled":
            failed.append("versioning is not enabled on the bucket")
    except _S3Failure as failure:
        failed.append(f"the bucket's versioning cannot be read ({failure.code})")
    if not failed:
        failed.extend(_canary(store))
    return failed


def _canary(store: S3Store) -> list[str]:
    key = f"canary/{uuid.uuid4()}"
    now = dt.datetime.now(UTC).replace(microsecond=0)
    data = f"earsiv object-lock canary {now.isoformat()}\n".encode()
    b64, _ = _b64_sha256(data)
    failed: list[str] = []
    try:  # step 3
        resp = store._call(
            "put_object", key, Body=data, ChecksumAlgorithm="SHA256", ChecksumSHA256=b64,
            ObjectLockMode=COMPLIANCE, ObjectLockRetainUntilDate=now + CANARY_LOCK,
        )  # fmt: skip
    except _S3Failure as failure:
        return [f"a PUT with a COMPLIANCE lock was refused ({failure.code}: {failure.message})"]
    vid = resp.get("VersionId")
    if not vid or vid == "null":
        return ["a PUT got no version id: versioning does not work"]
    try:
        head = store._call("head_object", key, VersionId=vid)
    except _S3Failure as failure:
        head = {}
        failed.append(f"the canary cannot be read back ({failure.code})")
    if head.get("ObjectLockMode") != COMPLIANCE or head.get("ObjectLockRetainUntilDate") is None:
        failed.append("the COMPLIANCE retention of a PUT was not kept")
    with contextlib.suppress(_S3Failure):  # step 4: must fail
        store._call(
            "put_object_retention", key, VersionId=vid,
            Retention={"Mode": COMPLIANCE, "RetainUntilDate": now + dt.timedelta(hours=1)},
        )  # fmt: skip
        failed.append("a retention shortening of a COMPLIANCE-locked object was accepted")
    with contextlib.suppress(_S3Failure):  # step 5: must fail
        store._call("delete_object", key, VersionId=vid)
        failed.append("a versioned delete of a COMPLIANCE-locked object was accepted")
    return failed
