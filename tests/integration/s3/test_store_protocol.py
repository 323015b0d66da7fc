"""The store protocol, run alike on the local write-once directory and on a real SeaweedFS.

Each test here holds for both stores; what only S3 has (versions, the server's
lock as the last word, the wire checksum) is tested below the shared part.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from earsiv.archive.errors import RetentionError, StoreError, WriteOnceViolation
from earsiv.archive.stores.base import ObjectStore, PutItem
from earsiv.archive.stores.local import LocalStore
from earsiv.archive.stores.s3 import S3Location, S3Store

UTC = dt.UTC
FUTURE = dt.datetime(2099, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["local", "s3"])
def opener(request, tmp_path: Path) -> Callable[[], ObjectStore]:
    """Opens (again) one and the same fresh store: a new instance shares nothing in memory."""
    if request.param == "local":
        return lambda: LocalStore(tmp_path / "store")
    server = request.getfixturevalue("s3_env")
    url = server.store_url(request.getfixturevalue("bucket"))
    return lambda: S3Store(S3Location.parse(url))


def test_protocol_is_implemented(opener):
    assert isinstance(opener(), ObjectStore)


def test_put_get_round_trip_keeps_every_byte(opener):
    s = opener()
    data = b"\xef\xbb\xbf<?xml?>\r\n\x00\xff bytes"
    assert s.put_many([PutItem("blobs/aa/x", data, FUTURE)]) == [True]
    assert opener().get("blobs/aa/x") == data
    assert opener().exists("blobs/aa/x") and not opener().exists("blobs/aa/y")


def test_same_bytes_again_is_not_a_new_write(opener):
    s = opener()
    s.put_many([PutItem("k", b"a", FUTURE)])
    assert opener().put_many([PutItem("k", b"a", FUTURE)]) == [False]


def test_overwrite_with_other_bytes_is_refused_and_changes_nothing(opener):
    s = opener()
    s.put_many([PutItem("k", b"original", FUTURE)])
    with pytest.raises(WriteOnceViolation, match="k"):
        opener().put_many([PutItem("k", b"forgery", FUTURE)])
    assert opener().get("k") == b"original"


def test_a_refused_overwrite_cannot_shorten_retention(opener):
    s = opener()
    s.put_many([PutItem("k", b"original", FUTURE)])
    with pytest.raises(WriteOnceViolation):
        s.put_many([PutItem("k", b"forgery", dt.datetime(2030, 1, 1, tzinfo=UTC))])
    assert opener().retention("k").retain_until == FUTURE


def test_delete_is_refused_before_retention_and_under_hold(opener):
    s = opener()
    s.put_many([PutItem("k", b"x", FUTURE)])
    with pytest.raises(WriteOnceViolation, match="retained until 2099"):
        s.delete("k")
    s.set_legal_hold("k", True)
    assert opener().retention("k").legal_hold is True
    with pytest.raises(WriteOnceViolation, match="legal hold"):
        s.delete("k", now=dt.datetime(2100, 1, 1, tzinfo=UTC))
    assert opener().get("k") == b"x"


def test_retention_extends_and_never_shortens(opener):
    s = opener()
    s.put_many([PutItem("k", b"x", dt.datetime(2030, 1, 1, tzinfo=UTC))])
    s.extend_retention("k", FUTURE)
    with pytest.raises(RetentionError, match="only be extended"):
        s.extend_retention("k", dt.datetime(2031, 1, 1, tzinfo=UTC))
    assert opener().retention("k").retain_until == FUTURE


def test_putting_the_same_bytes_with_a_later_date_extends_retention(opener):
    s = opener()
    s.put_many([PutItem("d", b"dict", dt.datetime(2030, 1, 1, tzinfo=UTC))])
    s.put_many([PutItem("d", b"dict", FUTURE)])
    assert opener().retention("d").retain_until == FUTURE


def test_putting_an_object_again_never_lifts_its_legal_hold(opener):
    s = opener()
    s.put_many([PutItem("k", b"x", FUTURE)])
    s.set_legal_hold("k", True)
    s.put_many([PutItem("k", b"x", FUTURE)])  # e.g. a retried write of the same bytes
    assert opener().retention("k").legal_hold is True


def test_racing_writers_of_one_key_one_wins_the_other_is_refused(opener):
    stores = [opener() for _ in range(6)]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(stores))

    def race(i: int) -> None:
        barrier.wait()
        try:
            stores[i].put_many([PutItem("log/leaves/0000000000000000.jsonl", f"writer {i}\n".encode(), FUTURE)])
            outcomes.append(f"won {i}")
        except WriteOnceViolation:
            outcomes.append("refused")

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o.startswith("won")]
    assert len(winners) == 1 and len(outcomes) == len(stores), outcomes
    assert opener().get("log/leaves/0000000000000000.jsonl") == f"writer {winners[0].split()[1]}\n".encode()


def test_put_many_writes_a_bulk_batch_and_answers_in_order(opener):
    s = opener()
    s.put_many([PutItem("blobs/07", b"seven", FUTURE)])
    items = [PutItem(f"blobs/{i:02d}", "seven" if i == 7 else f"doc {i}".encode() * 50, FUTURE) for i in range(40)]
    items[7] = PutItem("blobs/07", b"seven", FUTURE)
    assert s.put_many(items) == [i != 7 for i in range(40)]
    fresh = opener()
    assert all(fresh.get(it.key) == it.data for it in items)


def test_list_is_sorted_prefix_exact_and_complete(opener):
    s = opener()
    keys = [f"log/checkpoints/{n:016d}{sfx}" for n in (3, 12, 7) for sfx in ("", ".sig", ".tsr")] + ["log/leaves/0", "blobs/x"]
    s.put_many([PutItem(k, k.encode(), FUTURE) for k in keys])
    listed = list(opener().list("log/checkpoints/"))
    assert listed == sorted(k for k in keys if k.startswith("log/checkpoints/"))
    assert list(opener().list("log/checkpoints/0000000000000012")) == [f"log/checkpoints/{12:016d}{x}" for x in ("", ".sig", ".tsr")]
    assert list(opener().list("nothing/")) == []


def test_get_of_a_missing_key_is_a_store_error(opener):
    with pytest.raises(StoreError, match="missing"):
        opener().get("blobs/none")


# -- S3 only ------------------------------------------------------------------


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


def test_a_damaged_object_is_caught_on_get(s3_env, bucket):
    s = S3Store(S3Location.parse(s3_env.store_url(bucket)))
    s.put_many([PutItem("dmg", b"checked on every read", FUTURE)])

    def damage(response, **_):  # as a disk or a proxy would
        body = response["Body"]
        data = body.read()
        import io

        from botocore.response import StreamingBody

        response["Body"] = StreamingBody(io.BytesIO(data[:-1] + b"?"), len(data))

    s.client.meta.events.register("after-call.s3.GetObject", lambda parsed, **kw: damage(parsed))
    with pytest.raises(StoreError, match="SHA-256"):
        s.get("dmg")


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
