"""The counting wrapper of ``tests/helpers/counting_store.py``: counts every call, changes none."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from earsiv.archive import archive as archive_module
from earsiv.archive.archive import Archive
from earsiv.archive.blobs import blob_key
from earsiv.archive.errors import StoreError
from earsiv.archive.sources import expand
from earsiv.archive.stores.base import ObjectStore, PutItem, SelfTesting
from earsiv.archive.stores.local import LocalStore
from tests.conftest import CORPUS
from tests.helpers.counting_store import COUNTED, CountingStore

UTC = dt.UTC
FUTURE = dt.datetime(2099, 1, 1, tzinfo=UTC)
PAST = dt.datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path) -> CountingStore:
    return CountingStore(LocalStore(tmp_path / "store"))


def test_it_is_a_store_and_forwards_what_it_does_not_count(store, tmp_path):
    assert isinstance(store, ObjectStore)
    assert not isinstance(store, SelfTesting)  # a local store has no self-test, and the wrapper does not invent one
    assert store.url == LocalStore(tmp_path / "store").url
    store.put_many([PutItem("k", b"12345", FUTURE)])
    assert store.size("k") == 5  # not in the protocol: the wrapped store's own
    with pytest.raises(AttributeError):
        store.no_such_thing  # noqa: B018


def test_every_method_is_counted_once_per_call_with_its_keys(store):
    store.put_many([PutItem("a", b"1", FUTURE), PutItem("old", b"2", PAST)])
    store.put_many([store.stage(PutItem("b", b"3", FUTURE))])
    store.discard(store.stage(PutItem("c", b"4", FUTURE)))
    assert store.get("a") == b"1" and store.get("b", verify=lambda d: True) == b"3"
    assert store.exists("a") and not store.exists("zz")
    assert list(store.list("")) == ["a", "b", "old"]  # one call, however many keys it yields
    store.retention("a")
    store.extend_retention("a", dt.datetime(2100, 1, 1, tzinfo=UTC))
    store.set_legal_hold("a", True)
    store.delete("old")
    with pytest.raises(StoreError):
        store.get("gone")  # a failed call counts too: it was asked
    store.close()
    assert dict(store.calls) == {"put_many": 2, "stage": 2, "discard": 1, "get": 3, "exists": 2, "list": 1,
                                 "retention": 1, "extend_retention": 1, "set_legal_hold": 1, "delete": 1, "close": 1}
    assert set(store.calls) == set(COUNTED)
    assert store.keys["put_many"] == ["a", "old", "b"]
    assert store.keys["get"] == ["a", "b", "gone"] and store.keys["list"] == [""]
    store.reset()
    assert store.calls == {} and store.keys == {}


def test_measure_counts_only_inside_its_block(store):
    store.put_many([PutItem("a", b"1", FUTURE)])
    with store.measure() as outer:
        store.get("a")
        with store.measure() as inner:
            store.exists("a")
        store.get("a")
    store.get("a")
    assert dict(outer.calls) == {"get": 2, "exists": 1} and outer.total == 3
    assert dict(inner.calls) == {"exists": 1} and inner.keys == {"exists": ["a"]}
    assert store.calls["get"] == 3


def test_counts_are_exact_under_threads(store):
    store.put_many([PutItem("a", b"1", FUTURE)])

    def read() -> None:
        for _ in range(200):
            store.get("a")

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.calls["get"] == 1600 and len(store.keys["get"]) == 1600


def test_an_archive_runs_on_it_and_every_operation_can_be_counted(tmp_path, monkeypatch):
    opened: list[CountingStore] = []
    real = archive_module.open_store

    def counting_open_store(url, **kwargs):
        opened.append(CountingStore(real(url, **kwargs)))
        return opened[-1]

    monkeypatch.setattr(archive_module, "open_store", counting_open_store)
    Archive.init(tmp_path / "home").close()
    with Archive.open(tmp_path / "home") as arch:
        store = opened[-1]
        assert arch.store is store
        with store.measure() as ingest:
            [result] = list(arch.ingest(expand([CORPUS / "efatura/gib121_TEVKIFAT.xml"])))
        assert result.status == "stored"
        assert blob_key(result.digest) in ingest.keys["stage"] + ingest.keys.get("put_many", [])
        with store.measure() as read:
            arch.original(result.digest)
        assert read.keys["get"] == [blob_key(result.digest)]
    assert store.calls["close"] == 1  # Archive.close closes its store
