"""How many requests each S3 store operation sends, counted on the wire, and that no shortcut reads a forgery.

Counted with botocore's own event system (``before-send``: one event per HTTP
request actually sent, retries included) on the store's client, against a real
SeaweedFS.  A store opened afresh knows nothing, as in a new CLI process.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from earsiv.archive.stores import s3
from earsiv.archive.stores.base import PutItem
from earsiv.archive.stores.s3 import S3Store
from earsiv.archive.stores.s3api import b64_sha256

UTC = dt.UTC
FUTURE = dt.datetime(2099, 1, 1, tzinfo=UTC)
BLOB_DATA = b"<Invoice>the original bytes</Invoice>"
BLOB = f"blobs/{hashlib.sha256(BLOB_DATA).hexdigest()[:2]}/{hashlib.sha256(BLOB_DATA).hexdigest()}"
BUNDLE, BUNDLE_DATA = "log/leaves/0000000000000000.jsonl", b'{"leaf":0}\n'


class Sent:
    """The operations a store's client sends, in order."""

    def __init__(self, store: S3Store) -> None:
        self.ops: list[str] = []
        store.client.meta.events.register("before-send.s3", self._sent)

    def _sent(self, event_name: str, **_) -> None:
        self.ops.append(event_name.rsplit(".", 1)[-1])

    def take(self) -> list[str]:
        out, self.ops = self.ops, []
        return out


def is_blob(data: bytes) -> bool:
    """What a caller's check does: the bytes are what the key names (here: the blob's digest)."""
    return hashlib.sha256(data).hexdigest() == BLOB.rsplit("/", 1)[1]


@pytest.fixture
def url(s3_env, bucket) -> str:
    return s3_env.store_url(bucket)


@pytest.fixture
def written(url) -> S3Store:
    """The process that wrote a blob and a log bundle (and so knows the bundle's version)."""
    writer = S3Store.open(url, self_test=False)
    writer.put_many([PutItem(BLOB, BLOB_DATA, FUTURE), PutItem(BUNDLE, BUNDLE_DATA, FUTURE)])
    yield writer
    writer.close()


def fresh(url: str) -> tuple[S3Store, Sent]:
    store = S3Store.open(url, self_test=False)
    return store, Sent(store)


def test_opening_for_an_everyday_command_sends_nothing(url):
    _store, sent = fresh(url)
    assert sent.take() == []


def test_a_verified_get_of_an_intact_object_is_one_request(written, url):
    reader, sent = fresh(url)
    assert reader.get(BLOB, verify=is_blob) == BLOB_DATA
    assert sent.take() == ["GetObject"]
    assert reader.get(BUNDLE, verify=lambda b: b == BUNDLE_DATA) == BUNDLE_DATA
    assert sent.take() == ["GetObject"]


def test_an_object_this_process_wrote_is_read_in_one_request(written):
    sent = Sent(written)
    assert written.get(BUNDLE) == BUNDLE_DATA  # exact: by the version its PUT made
    assert sent.take() == ["GetObject"]
    assert written.get(BUNDLE, verify=lambda b: False) == BUNDLE_DATA  # the known version needs no check
    assert sent.take() == ["GetObject"]
    assert written.get(BLOB, verify=is_blob) == BLOB_DATA
    assert sent.take() == ["GetObject"]


def test_an_exact_get_of_a_key_never_seen_lists_once_then_reads_by_version(written, url):
    reader, sent = fresh(url)
    assert reader.get(BUNDLE) == BUNDLE_DATA
    assert sent.take() == ["ListObjectVersions", "GetObject"]
    assert reader.get(BUNDLE) == BUNDLE_DATA
    assert sent.take() == ["GetObject"]


def test_exists_is_one_head_and_a_404_is_settled_by_the_listing(written, url):
    reader, sent = fresh(url)
    assert reader.exists(BLOB) and reader.exists(BUNDLE)
    assert sent.take() == ["HeadObject", "HeadObject"]
    known = Sent(written)
    assert written.exists(BUNDLE)  # its own version is known: nothing to ask
    assert known.take() == []
    # SeaweedFS answers a key under a delete marker with a plain 404, as it
    # answers a key that never was: only the listing can tell them apart.
    assert not reader.exists("log/leaves/0000000000000064.jsonl")
    assert sent.take() == ["HeadObject", "ListObjectVersions"]


def test_retention_of_a_known_key_is_one_head(written):
    sent = Sent(written)
    assert written.retention(BUNDLE).retain_until == FUTURE
    assert sent.take() == ["HeadObject"]


def forge(attacker, bucket: str, key: str, data: bytes) -> None:
    """With the owner's keys: a delete marker, then other bytes, carefully checksummed, on top."""
    attacker.delete_object(Bucket=bucket, Key=key)
    b64, hexdigest = b64_sha256(data)
    attacker.put_object(Bucket=bucket, Key=key, Body=data, ChecksumAlgorithm="SHA256", ChecksumSHA256=b64,
                        Metadata={"sha256": hexdigest}, ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=FUTURE)


def test_a_forged_later_version_is_never_returned_the_oldest_is(written, url, attacker, bucket):
    forge(attacker, bucket, BLOB, b"<Invoice>forged</Invoice>")
    forge(attacker, bucket, BUNDLE, b'{"leaf":"forged"}\n')
    assert attacker.get_object(Bucket=bucket, Key=BUNDLE)["Body"].read() == b'{"leaf":"forged"}\n'
    reader, sent = fresh(url)
    assert reader.get(BLOB, verify=is_blob) == BLOB_DATA
    assert sent.take() == ["GetObject", "ListObjectVersions", "GetObject"]  # the newest fails the check: the oldest
    assert reader.get(BUNDLE, verify=lambda b: b == BUNDLE_DATA) == BUNDLE_DATA
    assert sent.take() == ["GetObject", "ListObjectVersions", "GetObject"]
    assert reader.get(BUNDLE) == BUNDLE_DATA  # exact, and now known
    assert sent.take() == ["GetObject"]
    # Where the object's version is known, even a check that accepts anything cannot make the forgery the answer.
    known = Sent(written)
    assert written.get(BUNDLE, verify=lambda b: True) == BUNDLE_DATA
    assert known.take() == ["GetObject"]
    assert fresh(url)[0].get(BLOB) == BLOB_DATA


def test_a_key_under_a_delete_marker_is_read_through_the_listing(written, url, attacker, bucket):
    attacker.delete_object(Bucket=bucket, Key=BLOB)
    reader, sent = fresh(url)
    assert reader.get(BLOB, verify=is_blob) == BLOB_DATA
    assert sent.take() == ["GetObject", "ListObjectVersions", "GetObject"]
    assert reader.exists(BLOB)
    assert sent.take() == []  # resolved above


def test_the_version_cache_is_bounded_and_forgetting_costs_one_listing(url, monkeypatch):
    monkeypatch.setattr(s3, "MAX_CACHED_VERSIONS", 2)
    store = S3Store.open(url, self_test=False)
    keys = [f"log/checkpoints/{n:016d}" for n in (1, 2, 3)]
    for k in keys:  # one at a time: the cache learns them in this order
        store.put_many([PutItem(k, k.encode(), FUTURE)])
    sent = Sent(store)
    assert store.get(keys[2]) == keys[2].encode()
    assert sent.take() == ["GetObject"]
    assert store.get(keys[0]) == keys[0].encode()  # the least recently used, forgotten
    assert sent.take() == ["ListObjectVersions", "GetObject"]
    store.close()
