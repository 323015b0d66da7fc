"""What only the S3 store has: versions, the server's lock as the last word, the wire checksum.

The behaviour every store shares is the contract (``test_store_contract.py``);
how many requests each operation costs is ``test_s3_requests.py``.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
from botocore.response import StreamingBody

from earsiv.archive.errors import StoreError, WriteOnceViolation
from earsiv.archive.stores import s3
from earsiv.archive.stores.base import PutItem
from earsiv.archive.stores.s3 import S3Location, S3Store

UTC = dt.UTC
FUTURE = dt.datetime(2099, 1, 1, tzinfo=UTC)


def test_list_pages_through_many_keys(s3_env, bucket):
    url = s3_env.store_url(bucket)
    s = S3Store(S3Location.parse(url))
    keys = [f"dicts/{i:03d}" for i in range(25)]
    s.put_many([PutItem(k, k.encode(), FUTURE) for k in reversed(keys)])
    s._page_size = 4  # small pages: the listing crosses 7 of them
    assert list(s.list("dicts/")) == keys


def test_past_retention_is_locked_for_a_day_not_left_unlocked(s3_store):
    s3_store.put_many([PutItem("old", b"expired law", dt.datetime(2010, 12, 31, 20, 59, 59, tzinfo=UTC))])
    until = s3_store.retention("old").retain_until
    now = dt.datetime.now(UTC)
    assert now + dt.timedelta(hours=23) < until <= now + dt.timedelta(days=1, seconds=5)
    with pytest.raises(WriteOnceViolation):  # our check says "over"; the server's lock does not
        s3_store.delete("old", now=until + dt.timedelta(seconds=1))
    assert s3_store.get("old") == b"expired law"


def test_retain_until_is_rounded_up_never_down(s3_store):
    asked = dt.datetime(2040, 6, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    s3_store.put_many([PutItem("r", b"x", asked)])
    assert s3_store.retention("r").retain_until == dt.datetime(2040, 6, 1, 12, 0, 1, tzinfo=UTC)


def test_bytes_changed_on_the_wire_are_refused_by_the_checksum(s3_env, bucket):
    s = S3Store(S3Location.parse(s3_env.store_url(bucket)))

    def flip_a_byte(request, **_):
        body = request.body if isinstance(request.body, bytes) else request.body.read()
        request.body = body[:-1] + bytes([body[-1] ^ 1])

    s.client.meta.events.register("before-send.s3.PutObject", flip_a_byte)
    with pytest.raises(StoreError, match="changed on the wire"):
        s.put_many([PutItem("wire", b"the original bytes", FUTURE)])
    assert not S3Store(S3Location.parse(s3_env.store_url(bucket))).exists("wire")


def _damage(parsed, **_):  # as a disk or a proxy would: the body no longer matches its checksum
    data = parsed["Body"].read()
    parsed["Body"] = StreamingBody(io.BytesIO(data[:-1] + b"?"), len(data))


def test_a_damaged_object_is_caught_on_get_with_or_without_verify(s3_env, bucket):
    s = S3Store(S3Location.parse(s3_env.store_url(bucket)))
    s.put_many([PutItem("dmg", b"checked on every read", FUTURE), PutItem("blobs/dm/g", b"a blob", FUTURE)])
    s.client.meta.events.register("after-call.s3.GetObject", _damage)
    for key in ("dmg", "blobs/dm/g"):
        with pytest.raises(StoreError, match="SHA-256"):
            s.get(key)
        with pytest.raises(StoreError, match="SHA-256"):
            s.get(key, verify=lambda b: True)  # the caller's check never overrides the wire checksum
        with pytest.raises(StoreError, match="SHA-256"):
            S3Store(S3Location.parse(s3_env.store_url(bucket)), client=s.client).get(key, verify=lambda b: True)


def test_a_delete_marker_hides_nothing(s3_store, attacker, bucket):
    s3_store.put_many([PutItem("blobs/hi/dden", b"still here", FUTURE), PutItem("log/leaves/0000000000000000.jsonl", b"l\n", FUTURE)])
    for key in ("blobs/hi/dden", "log/leaves/0000000000000000.jsonl"):
        attacker.delete_object(Bucket=bucket, Key=key)  # a plain delete: a marker on top
        fresh = S3Store.open(s3_store.url, self_test=False)
        assert fresh.exists(key)
        assert key in list(fresh.list(key))
        assert S3Store.open(s3_store.url, self_test=False).get(key, verify=lambda b: True) in (b"still here", b"l\n")
        assert S3Store.open(s3_store.url, self_test=False).get(key) in (b"still here", b"l\n")


def test_staged_puts_are_bounded_and_a_forgotten_one_is_put_again(s3_env, bucket, monkeypatch):
    monkeypatch.setattr(s3, "MAX_STAGED", 2)
    s = S3Store.open(s3_env.store_url(bucket), self_test=False)
    staged = [s.stage(PutItem(f"blobs/st/{i}", f"staged {i}".encode(), FUTURE)) for i in range(5)]
    assert len(s._staged) == 2  # the bookkeeping itself is private; its bound is the point here
    # The three forgotten ones are PUT again by put_many, racing their own
    # stage(): either PUT may come first ("written" or "already there"), and
    # every item is durable when put_many returns.
    written = s.put_many(staged)
    assert written[3:] == [True, True] and len(written) == 5
    fresh = S3Store.open(s3_env.store_url(bucket), self_test=False)
    assert [fresh.get(f"blobs/st/{i}") for i in range(5)] == [f"staged {i}".encode() for i in range(5)]
    assert len(s._staged) == 0


def test_close_finishes_staged_puts_and_refuses_new_work(s3_env, bucket):
    s = S3Store.open(s3_env.store_url(bucket), self_test=False)
    s.stage(PutItem("blobs/cl/ose", b"in flight at close", FUTURE))
    s.close()
    assert S3Store.open(s3_env.store_url(bucket), self_test=False).get("blobs/cl/ose") == b"in flight at close"
    with pytest.raises(StoreError, match="closed"):
        s.stage(PutItem("blobs/cl/late", b"too late", FUTURE))
    s.close()


def test_no_botocore_exception_escapes(s3_env, bucket, tmp_path):
    import boto3
    import botocore.exceptions
    from botocore.config import Config

    from tests.helpers.seaweed import free_ports

    nowhere = f"http://127.0.0.1:{free_ports(1)[0]}"
    quick = boto3.client("s3", endpoint_url=nowhere, region_name="us-east-1", config=Config(retries={"max_attempts": 1}))
    dead = S3Store(S3Location(bucket, nowhere, "us-east-1"), client=quick)
    missing = S3Store(S3Location("no-such-bucket-here", s3_env.endpoint, "us-east-1"))
    calls = [
        lambda s: s.put_many([PutItem("a", b"x", FUTURE)]),
        lambda s: s.put_many([PutItem("a", b"x", FUTURE), PutItem("b", b"y", FUTURE)]),
        lambda s: s.get("a"),
        lambda s: s.get("a", verify=lambda b: True),
        lambda s: s.exists("a"),
        lambda s: list(s.list("")),
        lambda s: s.retention("a"),
        lambda s: s.extend_retention("a", FUTURE),
        lambda s: s.set_legal_hold("a", True),
        lambda s: s.delete("a"),
        lambda s: s.size("a"),
        lambda s: s.self_test(),
    ]
    vendor = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
    for store in (dead, missing):
        for call in calls:
            with pytest.raises(StoreError) as info:
                call(store)
            assert not isinstance(info.value, vendor)
            if store is dead:  # the cause is kept, for whoever debugs it (raise ... from exc)
                chain, exc = [], info.value.__cause__
                while exc is not None:
                    chain.append(exc)
                    exc = exc.__cause__
                assert any(isinstance(e, vendor) for e in chain), (call, info.value)
    with pytest.raises(StoreError, match="does not exist"):
        missing.self_test()
