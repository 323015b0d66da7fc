"""The object-store contract: what every ``ObjectStore`` must do, whatever keeps the bytes.

Run here on the local write-once directory, alone and as the primary of a replicated
store (``stores.replicated``: two directories written together).  ``tests/integration/s3/test_store_contract.py``
collects every test of this module again, as the same function objects, with
``opener`` bound to a real SeaweedFS bucket; its guard fails if a test added
here cannot run there.  So a test in this module must ask for ``opener`` and
nothing else (``parametrize`` arguments aside); what only one store has lives
in ``test_local.py`` or ``tests/integration/s3/test_s3_store.py``.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from earsiv.archive.errors import RetentionError, StoreError, WriteOnceViolation
from earsiv.archive.stores.base import ObjectStore, PutItem
from earsiv.archive.stores.local import LocalStore
from earsiv.archive.stores.replicated import ReplicatedStore

UTC = dt.UTC
FUTURE = dt.datetime(2099, 1, 1, tzinfo=UTC)
SOONER = dt.datetime(2030, 1, 1, tzinfo=UTC)
BUNDLE = "log/leaves/0000000000000000.jsonl"


@pytest.fixture(params=["local", "replicated"])
def opener(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[[], ObjectStore]]:
    """Opens (again) one and the same fresh store: a new instance shares nothing in memory."""
    opened: list[ObjectStore] = []

    def open_store() -> ObjectStore:
        store: ObjectStore = LocalStore(tmp_path / "store")
        if request.param == "replicated":
            store = ReplicatedStore(store, LocalStore(tmp_path / "replica"))
        opened.append(store)
        return opened[-1]

    yield open_store
    for store in opened:
        store.close()


def test_protocol_is_implemented(opener):
    assert isinstance(opener(), ObjectStore)


def test_put_get_round_trip_keeps_every_byte(opener):
    s = opener()
    data = b"\xef\xbb\xbf<?xml?>\r\n\x00\xff bytes"
    assert s.put_many([PutItem("blobs/aa/x", data, FUTURE)]) == [True]
    assert s.get("blobs/aa/x") == data
    assert opener().get("blobs/aa/x") == data
    assert opener().exists("blobs/aa/x") and not opener().exists("blobs/aa/y")


def test_get_returns_the_object_whatever_verify_says(opener):
    # verify is a hint for choosing between versions, never a filter: the
    # caller checks the bytes itself and reports what it finds.
    opener().put_many([PutItem("blobs/ab/v", b"the object", FUTURE), PutItem(BUNDLE, b"leaf\n", FUTURE)])
    for key, data in (("blobs/ab/v", b"the object"), (BUNDLE, b"leaf\n")):
        assert opener().get(key, verify=lambda b: True) == data
        assert opener().get(key, verify=lambda b: False) == data
        assert opener().get(key, verify=lambda b, want=data: b == want) == data


def test_same_bytes_again_is_not_a_new_write(opener):
    opener().put_many([PutItem("k", b"a", FUTURE)])
    assert opener().put_many([PutItem("k", b"a", FUTURE)]) == [False]


def test_overwrite_with_other_bytes_is_refused_and_changes_nothing(opener):
    opener().put_many([PutItem("k", b"original", FUTURE)])
    with pytest.raises(WriteOnceViolation, match="k"):
        opener().put_many([PutItem("k", b"forgery", FUTURE)])
    assert opener().get("k") == b"original"
    assert opener().get("k", verify=lambda b: b == b"forgery") == b"original"


def test_a_refused_overwrite_cannot_shorten_retention(opener):
    s = opener()
    s.put_many([PutItem("k", b"original", FUTURE)])
    with pytest.raises(WriteOnceViolation):
        s.put_many([PutItem("k", b"forgery", SOONER)])
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
    s.put_many([PutItem("k", b"x", SOONER)])
    s.extend_retention("k", FUTURE)
    with pytest.raises(RetentionError, match="only be extended"):
        s.extend_retention("k", dt.datetime(2031, 1, 1, tzinfo=UTC))
    assert opener().retention("k").retain_until == FUTURE


def test_putting_the_same_bytes_with_a_later_date_extends_retention(opener):
    s = opener()
    s.put_many([PutItem("d", b"dict", SOONER)])
    s.put_many([PutItem("d", b"dict", FUTURE)])
    assert opener().retention("d").retain_until == FUTURE


def test_a_legal_hold_is_set_and_lifted(opener):
    s = opener()
    s.put_many([PutItem("k", b"x", FUTURE)])
    s.set_legal_hold("k", True)
    assert opener().retention("k").legal_hold is True
    opener().set_legal_hold("k", False)
    assert opener().retention("k").legal_hold is False
    assert opener().retention("k").retain_until == FUTURE


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
            stores[i].put_many([PutItem(BUNDLE, f"writer {i}\n".encode(), FUTURE)])
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
    won = f"writer {winners[0].split()[1]}\n".encode()
    assert opener().get(BUNDLE) == won
    assert all(s.get(BUNDLE) == won for s in stores)  # every writer reads the winner, its own bytes or not


def test_put_many_writes_a_bulk_batch_and_answers_in_order(opener):
    s = opener()
    s.put_many([PutItem("blobs/07", b"seven", FUTURE)])
    items = [PutItem(f"blobs/{i:02d}", f"doc {i}".encode() * 50, FUTURE) for i in range(40)]
    items[7] = PutItem("blobs/07", b"seven", FUTURE)
    assert s.put_many(items) == [i != 7 for i in range(40)]
    fresh = opener()
    assert all(fresh.get(it.key) == it.data for it in items)


def test_staged_items_are_stored_by_put_many_and_discarding_is_harmless(opener):
    s = opener()
    s.discard(s.stage(PutItem("blobs/ab/never", b"discarded", FUTURE)))  # may linger as an orphan, never an error
    staged = [s.stage(PutItem(f"blobs/ab/{i}", f"data {i}".encode(), FUTURE)) for i in range(3)]
    assert s.put_many(staged) == [True, True, True]
    assert [opener().get(f"blobs/ab/{i}") for i in range(3)] == [b"data 0", b"data 1", b"data 2"]
    assert opener().retention("blobs/ab/2").retain_until == FUTURE


def test_list_is_sorted_prefix_exact_and_complete(opener):
    s = opener()
    keys = [f"log/checkpoints/{n:016d}{sfx}" for n in (3, 12, 7) for sfx in ("", ".sig", ".tsr")] + ["log/leaves/0", "blobs/x"]
    s.put_many([PutItem(k, k.encode(), FUTURE) for k in keys])
    listed = list(opener().list("log/checkpoints/"))
    assert listed == sorted(k for k in keys if k.startswith("log/checkpoints/"))
    assert list(opener().list("log/checkpoints/0000000000000012")) == [f"log/checkpoints/{12:016d}{x}" for x in ("", ".sig", ".tsr")]
    assert list(opener().list("nothing/")) == []


def test_get_of_a_missing_key_is_a_store_error(opener):
    s = opener()
    with pytest.raises(StoreError, match="missing"):
        s.get("blobs/none")
    with pytest.raises(StoreError, match="missing"):
        s.get("blobs/none", verify=lambda b: True)
    with pytest.raises(StoreError, match="missing"):
        s.retention("blobs/none")
    assert not s.exists("blobs/none")


@pytest.mark.parametrize("key", ["../escape", "/abs", "a/../b", "a//b", "", "a\\b"])
def test_keys_cannot_escape_the_store(opener, key):
    s = opener()
    with pytest.raises(ValueError):
        s.put_many([PutItem(key, b"x", FUTURE)])
    with pytest.raises(ValueError):
        s.get(key)
    with pytest.raises(ValueError):
        s.exists(key)


def test_close_lets_go_and_another_opening_reads_on(opener):
    s = opener()
    s.put_many([PutItem("k", b"kept", FUTURE)])
    s.close()
    s.close()  # twice is harmless: Archive.close and a caller's own cleanup may both call it
    assert opener().get("k") == b"kept"
