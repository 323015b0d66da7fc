"""Two directories written as one (``stores.replicated``): what the contract suite cannot see."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from pathlib import Path

import pytest

from earsiv.archive.errors import StoreError
from earsiv.archive.stores.base import PutItem, Restoring
from earsiv.archive.stores.local import LocalStore
from earsiv.archive.stores.replicated import ReplicatedStore, copies_of

FUTURE = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
DATA = b"<Invoice>the original</Invoice>"
DIGEST = hashlib.sha256(DATA).hexdigest()
KEY = f"blobs/{DIGEST[:2]}/{DIGEST}"


def _intact(data: bytes) -> bool:
    return hashlib.sha256(data).hexdigest() == DIGEST


@pytest.fixture
def pair(tmp_path: Path) -> tuple[ReplicatedStore, Path, Path]:
    store = ReplicatedStore(LocalStore(tmp_path / "p"), LocalStore(tmp_path / "r"))
    store.put_many([PutItem(KEY, DATA, FUTURE)])
    return store, tmp_path / "p" / "objects" / KEY, tmp_path / "r" / "objects" / KEY


def _damage(path: Path) -> None:
    path.chmod(0o644)
    path.write_bytes(path.read_bytes().replace(b"original", b"0riginal"))


def test_every_object_goes_to_both_with_its_retention_and_holds(pair):
    store, p, r = pair
    assert p.read_bytes() == r.read_bytes() == DATA
    later = FUTURE + dt.timedelta(days=1)
    store.extend_retention(KEY, later)
    store.set_legal_hold(KEY, True)
    for _name, copy in copies_of(store):
        assert copy.retention(KEY).retain_until == later and copy.retention(KEY).legal_hold


def test_a_lost_or_damaged_primary_is_answered_by_the_replica(pair, caplog):
    store, p, _r = pair
    _damage(p)
    with caplog.at_level(logging.WARNING):
        assert store.get(KEY, verify=_intact) == DATA
    assert store.replica_reads == 1 and "read from the replica" in caplog.text
    p.unlink()
    assert store.get(KEY) == DATA  # without a check: only a missing object goes to the replica


def test_both_damaged_gives_the_primary_bytes_for_the_caller_to_name(pair):
    store, p, r = pair
    _damage(p)
    _damage(r)
    assert store.get(KEY, verify=_intact) == p.read_bytes()
    p.unlink()
    r.unlink()
    with pytest.raises(StoreError, match="missing"):
        store.get(KEY)


def test_a_replica_holding_other_bytes_does_not_undo_the_write(tmp_path: Path, caplog):
    primary, replica = LocalStore(tmp_path / "p"), LocalStore(tmp_path / "r")
    replica.put_many([PutItem(KEY, b"damaged long ago", FUTURE)])
    store = ReplicatedStore(primary, replica)
    with caplog.at_level(logging.ERROR):
        assert store.put_many([PutItem(KEY, DATA, FUTURE)]) == [True]
    assert primary.get(KEY) == DATA and "earsiv repair" in caplog.text


def test_restore_puts_back_the_bytes_and_keeps_the_retention(pair):
    store, p, _r = pair
    primary = store.primary
    assert isinstance(primary, Restoring)
    store.set_legal_hold(KEY, True)
    assert primary.restore(PutItem(KEY, DATA, FUTURE)) is False  # intact: nothing to do
    _damage(p)
    assert primary.restore(PutItem(KEY, DATA, FUTURE - dt.timedelta(days=9))) is True
    assert p.read_bytes() == DATA and oct(p.stat().st_mode & 0o777) == "0o444"
    kept = LocalStore(p.parents[len(KEY.split("/"))]).retention(KEY)
    assert kept.retain_until == FUTURE and kept.legal_hold  # a restore never shortens or lifts anything
