"""The RFC 4998 hash tree of hash-tree renewals: every leaf's reduced hash tree leads to the root.

(Bouncy Castle checks real records against these trees in tests/e2e/test_evidence_record.py.)
"""

from __future__ import annotations

import hashlib

import pytest

from earsiv.archive.ers import levels, node, recover_root, reduced_tree


def leaves(n: int) -> list[tuple[bytes, bytes]]:
    return [(hashlib.sha384(b"doc %d" % i).digest(), hashlib.sha384(b"chain %d" % i).digest()) for i in range(n)]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 17])
def test_every_leaf_leads_to_the_root_and_no_other_document_does(n):
    pairs = leaves(n)
    tree = levels("sha384", [node("sha384", p) for p in pairs])
    root = tree[-1][0]
    for i, pair in enumerate(pairs):
        assert recover_root("sha384", list(pair), reduced_tree(tree, i)) == root
        forged = [hashlib.sha384(b"other").digest(), pair[1]]
        assert recover_root("sha384", forged, reduced_tree(tree, i)) != root


def test_a_node_hashes_its_children_in_ascending_order():
    a, b = hashlib.sha384(b"a").digest(), hashlib.sha384(b"b").digest()
    low, high = sorted([a, b])
    assert node("sha384", [a, b]) == node("sha384", [b, a]) == hashlib.sha384(low + high).digest()
    # Three leaves: the third goes up unchanged and meets the pair's node one level up.
    tree = levels("sha384", [a, b, a])
    assert tree[1] == [node("sha384", [a, b]), a] and tree[2] == [node("sha384", [node("sha384", [a, b]), a])]


# -- the book: a command reads no run it has read before ---------------------------------------------

def _put_run(store, seq: int, first: int, n: int) -> None:
    import datetime as dt

    from earsiv.archive.ers import Evidence, Item, Run, ers_key
    from earsiv.archive.stores.base import PutItem

    items = tuple(Item(first + 2 * i, hashlib.sha256(b"%d" % (first + 2 * i)).hexdigest(),
                       hashlib.sha384(b"doc %d" % i).digest(), hashlib.sha384(b"chain %d" % i).digest())
                  for i in range(n))
    run = Run(seq, "sha384", dt.datetime(2026, 12, 7, tzinfo=dt.UTC), first, first + 2 * n, Evidence(first + 2 * n, (), False),
              items)
    until = dt.datetime(2040, 1, 1, tzinfo=dt.UTC)
    store.put_many([PutItem(ers_key(seq, ".json"), run.encode(), until), PutItem(ers_key(seq, ".tsr"), b"token", until)])


def _run_reads(m) -> list[str]:
    return [k for k in m.keys.get("get", []) if k.startswith("log/ers/") and k.endswith(".json")]


def test_heads_read_each_run_once_per_home_and_covering_reads_one(tmp_path):
    from earsiv.archive.ers import ErsBook
    from earsiv.archive.stores.local import LocalStore
    from tests.helpers.counting_store import CountingStore

    store = CountingStore(LocalStore(tmp_path / "store"))
    heads_file = tmp_path / "home/cache/hash-tree-heads.json"
    for seq in (1, 2, 3):
        _put_run(store, seq, first=(seq - 1) * 20, n=10)
    with store.measure() as m:
        heads = ErsBook(store, heads_file).heads()
    assert [(h.seq, h.first, h.end, h.documents) for h in heads] == [(1, 0, 20, 10), (2, 20, 40, 10), (3, 40, 60, 10)]
    assert len(_run_reads(m)) == 3
    # Another process (status, evidence): the heads come from the home, no run is read.
    with store.measure() as m:
        book = ErsBook(store, heads_file)
        assert book.heads() == heads
    assert _run_reads(m) == []
    # A new run is read once; the run covering a leaf is the only one read to find it.
    _put_run(store, 4, first=60, n=5)
    with store.measure() as m:
        assert [h.seq for h in book.heads()] == [1, 2, 3, 4]
        assert book.covering(22).seq == 2 and book.covering(23) is None  # odd leaves are no documents
    assert _run_reads(m) == ["log/ers/0000000000000004.json", "log/ers/0000000000000002.json"]
    # The heads agree with the runs they stand for (root included), and a spoiled cache is read again.
    from earsiv.archive.ers import Run, RunHead

    assert book.heads()[1] == RunHead.of(Run.parse(2, store.get("log/ers/0000000000000002.json")))
    heads_file.write_text("not json")
    with store.measure() as m:
        assert ErsBook(store, heads_file).heads() == book.heads()
    assert len(_run_reads(m)) == 4
