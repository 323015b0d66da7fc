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
