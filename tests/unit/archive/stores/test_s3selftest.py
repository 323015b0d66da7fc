"""The self-test's steps, each failure named, against a bucket that lies in one way at a time.

The bucket here is a plain object with the six calls of ``s3selftest.Bucket``:
no S3, no moto.  A real SeaweedFS passes (``tests/integration/s3/test_self_test.py``)
and moto fails step 4 there.
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest

from earsiv.archive.errors import StoreError
from earsiv.archive.stores.s3selftest import CANARY_LOCK, CANARY_PREFIX, Refused, bucket_failures

STORES = Path(__file__).resolve().parents[4] / "earsiv" / "archive" / "stores"


class HonestBucket:
    """Enforces everything, as SeaweedFS, AWS and MinIO do."""

    def __init__(self) -> None:
        self.puts: list[tuple[str, dt.datetime]] = []

    def lock_enabled(self) -> bool:
        return True

    def versioning_enabled(self) -> bool:
        return True

    def put_locked(self, key: str, data: bytes, until: dt.datetime) -> str | None:
        self.puts.append((key, until))
        return "v1"

    def compliance_until(self, key: str, version: str) -> dt.datetime | None:
        return self.puts[-1][1]

    def set_compliance_until(self, key: str, version: str, until: dt.datetime) -> None:
        raise Refused("AccessDenied", "retention cannot be shortened")

    def delete_version(self, key: str, version: str) -> None:
        raise Refused("AccessDenied", "locked")


def test_an_enforcing_bucket_passes_with_one_canary_locked_for_a_day():
    bucket = HonestBucket()
    assert bucket_failures(bucket) == []
    [(key, until)] = bucket.puts
    assert key.startswith(CANARY_PREFIX)
    assert dt.timedelta(hours=23) < until - dt.datetime.now(dt.UTC) <= CANARY_LOCK


class NoLock(HonestBucket):
    def lock_enabled(self) -> bool:
        return False


class NoVersioning(HonestBucket):
    def versioning_enabled(self) -> bool:
        raise Refused("AccessDenied", "no permission")


class Shortens(HonestBucket):  # moto
    def set_compliance_until(self, key, version, until) -> None:
        return None


class Deletes(HonestBucket):
    def delete_version(self, key, version) -> None:
        return None


class ForgetsTheLock(HonestBucket):
    def compliance_until(self, key, version):
        return None


class Unversioned(HonestBucket):
    def put_locked(self, key, data, until):
        return "null"


class RefusesLockedPuts(HonestBucket):
    def put_locked(self, key, data, until):
        raise Refused("InvalidRequest", "Object Lock headers not supported")


@pytest.mark.parametrize(
    "bucket,named",
    [
        (NoLock(), ["Object Lock is not enabled on the bucket"]),
        (NoVersioning(), ["the bucket's versioning cannot be read (AccessDenied)"]),
        (Shortens(), ["a retention shortening of a COMPLIANCE-locked object was accepted"]),
        (Deletes(), ["a versioned delete of a COMPLIANCE-locked object was accepted"]),
        (ForgetsTheLock(), ["the COMPLIANCE retention of a PUT was not kept"]),
        (Unversioned(), ["a PUT got no version id: versioning does not work"]),
        (RefusesLockedPuts(), ["a PUT with a COMPLIANCE lock was refused (InvalidRequest: Object Lock headers not supported)"]),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, list) else "",
)
def test_each_failure_is_named_and_nothing_else(bucket, named):
    assert bucket_failures(bucket) == named


def test_a_bucket_without_lock_gets_no_canary():
    bucket = NoLock()
    bucket_failures(bucket)
    assert bucket.puts == []


def test_a_test_that_cannot_run_is_an_error_not_a_verdict():
    class Unreachable(HonestBucket):
        def lock_enabled(self) -> bool:
            raise StoreError("S3 get_object_lock_configuration failed: connection refused")

    with pytest.raises(StoreError, match="connection refused"):
        bucket_failures(Unreachable())


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_the_stores_import_each_other_one_way_only():
    graph = {p.stem: {m.rsplit(".", 1)[1] for m in _imports(p) if m.startswith("earsiv.archive.stores.")}
             for p in STORES.glob("*.py")}
    assert "s3" not in graph["s3selftest"] and "s3" not in graph["s3api"]

    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph.get(start, ()))

    cycles = sorted(m for m in graph if reaches(m, m))
    assert not cycles, f"import cycle through {cycles} (function-level imports count too)"


def test_no_code_reaches_into_a_store_s_private_members():
    private = {"_call", "_fail", "_api", "_client", "_oldest", "_staged", "_S3Failure", "_resolve", "_versions"}
    offenders = []
    for path in sorted((STORES.parents[1]).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in private:
                owner = node.value
                if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                    offenders.append(f"{path.relative_to(STORES.parents[2])}:{node.lineno} .{node.attr}")
            elif isinstance(node, ast.ImportFrom) and any(a.name in private for a in node.names):
                offenders.append(f"{path.relative_to(STORES.parents[2])}:{node.lineno} imports a private name")
    assert not offenders, offenders
