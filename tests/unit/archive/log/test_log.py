"""The log on its own: bundles by position, the edge from tiles, proofs from tiles, concurrent writers."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import random

import pytest

from earsiv.archive.errors import VerificationError
from earsiv.archive.log import merkle, tiles
from earsiv.archive.log.checkpoints import Checkpoint
from earsiv.archive.log.entries import (
    ENTRY_TYPES,
    AccessEntry,
    AuditFindingEntry,
    AuditPassEntry,
    BlobRef,
    DisposalEntry,
    DocumentEntry,
    GrantEntry,
    GrantRevokeEntry,
    HoldingEntry,
    KeyEntry,
    LegalHoldEntry,
    PrincipalEntry,
    RepairEntry,
    RetentionEntry,
    TokenEntry,
    TokenRevokeEntry,
    decode,
    format_time,
)
from earsiv.archive.log.log import Log, PositionTaken, bundle_key
from earsiv.archive.log.proofs import InclusionProof
from earsiv.archive.stores.base import PutItem
from earsiv.archive.stores.local import LocalStore
from tests.helpers.counting_store import CountingStore

UTC = dt.UTC
FUTURE = dt.datetime(2099, 1, 1, tzinfo=UTC)
KEY = "ab" * 32


class _Catalog:
    """The index's log catalog, as a dict: the bundles a test appended."""

    def __init__(self) -> None:
        self.bundles: dict[int, int] = {}

    def bundle_containing(self, index: int):
        starts = [f for f in self.bundles if f <= index]
        if not starts:
            return None
        first = max(starts)
        return (first, self.bundles[first]) if index < first + self.bundles[first] else None


def _leaves(first: int, count: int) -> list[bytes]:
    return [json.dumps({"n": i}).encode() for i in range(first, first + count)]


def _checkpoint(log: Log, store) -> Checkpoint:
    """What the checkpointer does, without signing: tiles first, then the checkpoint of this size."""
    snap = log.snapshot()
    store.put_many([PutItem(k, d, FUTURE) for k, d in snap.tiles.items()])
    log.tiles_written(snap.tiles)
    return Checkpoint(log.origin, snap.size, snap.root, dt.datetime.now(UTC), KEY)


@pytest.fixture
def store(tmp_path):
    return CountingStore(LocalStore(tmp_path / "store"))


def test_opening_an_existing_log_reads_its_checkpoint_and_tail_and_appending_finds_nothing_foreign(store):
    """The defect this guards: a new process replayed every leaf on its first write."""
    catalog = _Catalog()
    first = Log(store, "earsiv:test", catalog)
    for n in range(40):  # 40 bundles, 1,000 leaves
        at = first.append(_leaves(first.size, 25), FUTURE)
        catalog.bundles[at] = 25
    cp = _checkpoint(first, store)
    tail = first.append(_leaves(1000, 5), FUTURE)  # after the checkpoint
    catalog.bundles[tail] = 5

    second = Log(store, "earsiv:test", catalog)
    with store.measure() as opening:
        second.load(cp)
        followed = second.follow()
    assert [f for f, _leaves in followed] == [1000]  # the tail only
    assert second.size == 1005 and second.root() == first.root()
    assert opening.keys.get("get", []) == [*tiles.tile_keys(1000), bundle_key(1000)]
    with store.measure() as appending:
        at = second.append(_leaves(1005, 1), FUTURE)
        foreign = second.follow()
    assert at == 1005 and foreign == []  # nothing foreign: its own leaves are no one else's
    assert appending.calls["get"] == 0 and appending.calls["list"] == 0


def test_two_writers_take_turns_at_the_end_and_agree_on_one_log(store):
    catalog = _Catalog()
    a, b = Log(store, "o", catalog), Log(store, "o", catalog)
    a.append(_leaves(0, 3), FUTURE)
    with pytest.raises(PositionTaken):
        b.append(_leaves(0, 2), FUTURE)  # b did not know about a's bundle
    assert [first for first, _ in b.follow()] == [0]
    assert b.append(_leaves(3, 2), FUTURE) == 3
    assert [first for first, _ in a.follow()] == [3]
    assert a.size == b.size == 5 and a.root() == b.root()


@pytest.mark.parametrize("seed", [1])
def test_proofs_from_tiles_equal_proofs_from_every_leaf(tmp_path, seed):
    rng = random.Random(seed)
    store = LocalStore(tmp_path / f"s{seed}")
    log = Log(store, "o", _Catalog())
    hashes: list[bytes] = []
    checkpoints: dict[int, bytes] = {}
    while log.size < 70_000:
        count = rng.choice([1, 2, 7, 64, 255, 256, 513, 3000])
        leaves = _leaves(log.size, count)
        log.append(leaves, FUTURE)
        hashes += [merkle.leaf_hash(leaf) for leaf in leaves]
        if rng.random() < 0.4 or log.size in (256, 65536):
            checkpoints[log.size] = _checkpoint(log, store).root
    sizes = sorted(checkpoints)
    for size in sizes:
        assert checkpoints[size] == merkle.root(hashes, size)
        tree = log.tree(size)
        for index in {0, size - 1, size // 2, rng.randrange(size)}:
            path = log.inclusion_proof(index, size)
            assert path == merkle.inclusion_proof(index, hashes, size)
            InclusionProof(index, size, hashes[index], tuple(path), checkpoints[size])
        assert tree.reads <= 2 * (1 + len(list(tiles.tile_keys(size))))  # O(log n) tiles, not O(n) leaves
    for old, new in itertools.pairwise(sizes):
        assert log.consistency_proof(old, new) == merkle.consistency_proof(old, new, hashes)


def test_a_checkpoint_whose_root_neither_tiles_nor_leaves_give_is_refused(tmp_path):
    store = LocalStore(tmp_path / "s")
    catalog = _Catalog()
    log = Log(store, "o", catalog)
    catalog.bundles[log.append(_leaves(0, 10), FUTURE)] = 10
    cp = _checkpoint(log, store)
    forged = Checkpoint("o", 10, hashlib.sha256(b"other").digest(), cp.time, KEY)
    with pytest.raises(VerificationError, match="leaves do not give the root"):
        Log(store, "o", catalog).load(forged)


def _one_of_each() -> list:
    now = dt.datetime(2026, 12, 6, 20, 45, 14, 123456, tzinfo=UTC)
    d = "cd" * 32
    return [
        DocumentEntry(d, 10, BlobRef(5, "ef" * 32), now, FUTURE, "e-fatura", "X1", "uuid", "2025-01-01", "e-fatura/1",
                      None, ("01" * 32,)),
        HoldingEntry(d, "1234567803", now, FUTURE, "a.xml"),
        LegalHoldEntry(d, True, "why", now, "1234567803"),
        RetentionEntry(d, FUTURE, now),
        PrincipalEntry("ayse", "inspector", (), False, now, "cli:root"),
        TokenEntry("0123456789abcdef", "ayse", "aa" * 32, None, now, "cli:root"),
        TokenRevokeEntry("0123456789abcdef", now, "cli:root"),
        GrantEntry("0123456789abcdef", "ayse", "1234567803", dt.date(2025, 1, 1), dt.date(2025, 12, 31), FUTURE,
                   "VDK", now, "cli:root"),
        GrantRevokeEntry("0123456789abcdef", now, "cli:root"),
        AccessEntry("ayse", "inspector", "view", ({"id": "g", "vkn": "1234567803", "reference": "VDK"},),
                    {"digest": d}, (d,), now),
        AuditFindingEntry(f"blobs/{d[:2]}/{d}", "primary", "blob does not hash to its name", now),
        AuditPassEntry(now, now, 12, 30, 4096, 1),
        RepairEntry(f"blobs/{d[:2]}/{d}", "primary", "replica", "ab" * 32, now, "cli:root"),
        DisposalEntry(d, 10, dt.datetime(2019, 12, 31, 20, 59, 59, tzinfo=UTC), "TTK 82 ended", "ab" * 32, now,
                      "cli:root"),
        KeyEntry("aa" * 32, "bb" * 32, "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n",
                 now, "cli:root", "scheduled", "c2ln", "c2ln"),
    ]


def test_every_entry_type_encodes_canonically_and_decodes_to_itself():
    entries = _one_of_each()
    assert {e.TYPE for e in entries} == set(ENTRY_TYPES)
    for e in entries:
        leaf = e.encode()
        assert b"\n" not in leaf and leaf == json.dumps(json.loads(leaf), sort_keys=True, separators=(",", ":"),
                                                         ensure_ascii=False).encode()
        back = decode(leaf)
        assert type(back) is type(e) and back.encode() == leaf
    assert '"at":"2026-12-06T20:45:14.123456Z"' in entries[2].encode().decode()  # the one persisted time format
    assert format_time(dt.datetime(2026, 1, 1, 3, tzinfo=dt.timezone(dt.timedelta(hours=3)))) == "2026-01-01T00:00:00.000000Z"


def test_a_reader_refuses_unknown_versions_and_types_and_ignores_unknown_fields():
    leaf = _one_of_each()[1].encode()
    data = json.loads(leaf)
    with pytest.raises(VerificationError, match="unknown format version"):
        decode(json.dumps({**data, "v": 2}).encode())
    with pytest.raises(VerificationError, match="does not know"):
        decode(json.dumps({**data, "type": "shredding"}).encode())
    assert decode(json.dumps({**data, "later": 1}).encode()).TYPE == "holding"
    with pytest.raises(VerificationError, match="malformed holding"):
        decode(json.dumps({**data, "digest": "nothex"}).encode())


def test_a_proof_cannot_be_made_or_read_when_it_does_not_verify():
    hashes = [merkle.leaf_hash(leaf) for leaf in _leaves(0, 11)]
    root = merkle.root(hashes)
    proof = InclusionProof(3, 11, hashes[3], tuple(merkle.inclusion_proof(3, hashes)), root)
    assert InclusionProof.from_json(proof.to_json()) == proof
    with pytest.raises(VerificationError):
        InclusionProof(4, 11, hashes[3], proof.hashes, root)
    doc = proof.to_json()
    doc["steps"][0]["result"] = "00" * 32
    with pytest.raises(VerificationError, match="steps"):
        InclusionProof.from_json(doc)


def test_tile_keys_read_back_to_their_place():
    for level, index, width in [(0, 0, 256), (0, 5, 17), (1, 1234067, 256), (3, 999, 1)]:
        assert tiles.parse_tile_key(tiles.tile_key(level, index, width)) == (level, index, width)
    assert tiles.tile_key(1, 1234067) == "log/tile/1/x001/x234/067"
    for bad in ("log/tile/0/1", "log/tile/0/x000/001", "log/leaves/0", "log/tile/0/000.p/256"):
        with pytest.raises(ValueError):
            tiles.parse_tile_key(bad)


def test_a_damaged_tile_is_found_and_proofs_come_from_the_leaves(tmp_path):
    store = LocalStore(tmp_path / "s")
    catalog = _Catalog()
    log = Log(store, "o", catalog)
    hashes = []
    for first in range(0, 600, 100):
        leaves = _leaves(first, 100)
        catalog.bundles[log.append(leaves, FUTURE)] = 100
        hashes += [merkle.leaf_hash(leaf) for leaf in leaves]
    cp = _checkpoint(log, store)
    full = store.root / "objects" / tiles.tile_key(0, 1)  # leaves 256..511, under the leaf's path
    partial = store.root / "objects" / tiles.tile_key(0, 2, 600 - 512)  # the edge of size 600
    for path in (full, partial):
        path.chmod(0o644)
        data = bytearray(path.read_bytes())
        data[40] ^= 1
        path.write_bytes(bytes(data))
    reopened = Log(store, "o", catalog)
    reopened.load(cp)  # the damaged edge tile is computed from the leaves, not believed
    assert reopened.root() == cp.root and tiles.tile_key(0, 2, 88) in reopened.damaged_tiles
    with pytest.raises(VerificationError):  # the stored tile leads elsewhere ...
        InclusionProof(300, 600, hashes[300], tuple(reopened.inclusion_proof(300, 600)), cp.root)
    path = reopened.inclusion_proof(300, 600, from_leaves=True)  # ... the leaves lead to the root
    assert path == merkle.inclusion_proof(300, hashes, 600)
    InclusionProof(300, 600, hashes[300], tuple(path), cp.root)
