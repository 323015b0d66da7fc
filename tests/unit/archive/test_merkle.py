"""RFC 6962 / RFC 9162 Merkle tree math.

Known answers come from the Certificate Transparency reference vectors as published in
transparency-dev/merkle (Apache-2.0): leaves and roots from ``testonly/constants.go``
(LeafInputs, RootHashes, CompactTrees), inclusion and consistency proofs from
``proof/verify_test.go`` (inclusionProofs, consistencyProofs; there leaf numbers are
1-based). The property tests compare against a second implementation written here straight
from the recursive definitions in RFC 6962 §2.1, so the iterative code is checked against
the RFC text and not against itself.
"""

from __future__ import annotations

import hashlib

import pytest

from earsiv.archive.errors import VerificationError
from earsiv.archive.log.merkle import (
    EMPTY_ROOT,
    MerkleAccumulator,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

h = bytes.fromhex

# transparency-dev/merkle testonly/constants.go LeafInputs()
CT_LEAVES = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
# RootHashes(), indexed by tree size 0..8
CT_ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
# NodeHashes() level 0 (the leaf hashes) and the pieces CompactTrees() refers to
CT_LEAF_HASHES = [
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
    h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
    h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
    h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
    h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
    h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
]
N1 = [
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
    h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
    h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
]
N2 = [
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
]
N3 = h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
L0 = CT_LEAF_HASHES
CT_COMPACT = [
    [],
    [L0[0]],
    [N1[0]],
    [N1[0], L0[2]],
    [N2[0]],
    [N2[0], L0[4]],
    [N2[0], N1[2]],
    [N2[0], N1[2], L0[6]],
    [N3],
]
# proof/verify_test.go inclusionProofs: (1-based leaf, size, proof)
CT_INCLUSION = [
    (1, 1, []),
    (1, 8, [L0[1], N1[1], N2[1]]),
    (6, 8, [L0[4], N1[3], N2[0]]),
    (3, 3, [N1[0]]),
    (2, 5, [L0[0], N1[1], L0[4]]),
]
# consistencyProofs: (size1, size2, proof)
CT_CONSISTENCY = [
    (1, 1, []),
    (1, 8, [L0[1], N1[1], N2[1]]),
    (6, 8, [N1[2], N1[3], N2[0]]),
    (2, 5, [N1[1], L0[4]]),
    (6, 7, [N1[2], L0[6], N2[0]]),
]


# --- a reference written from the recursive definitions of RFC 6962 §2.1 ---------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


LEAVES64 = [leaf_hash(b"leaf %d" % i) for i in range(64)]


def _flip(proof: list[bytes], i: int, bit: int) -> list[bytes]:
    changed = bytearray(proof[i])
    changed[bit // 8] ^= 1 << (bit % 8)
    return proof[:i] + [bytes(changed)] + proof[i + 1 :]


# --- known answers ------------------------------------------------------------------


def test_leaf_and_node_hash_use_the_rfc_prefixes():
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    assert [leaf_hash(x) for x in CT_LEAVES] == CT_LEAF_HASHES


@pytest.mark.parametrize("size", range(9))
def test_roots_match_ct_vectors(size):
    hashes = [leaf_hash(x) for x in CT_LEAVES[:size]]
    assert root(hashes) == CT_ROOTS[size]
    acc = MerkleAccumulator()
    acc.extend(hashes)
    assert acc.size == size
    assert acc.root() == CT_ROOTS[size]
    assert list(acc.hashes) == CT_COMPACT[size]


def test_empty_tree_root_is_sha256_of_nothing():
    assert root([]) == EMPTY_ROOT == CT_ROOTS[0]
    assert MerkleAccumulator().root() == EMPTY_ROOT


@pytest.mark.parametrize(("leaf", "size", "proof"), CT_INCLUSION)
def test_inclusion_proofs_match_ct_vectors(leaf, size, proof):
    hashes = CT_LEAF_HASHES[:size]
    assert inclusion_proof(leaf - 1, hashes) == proof
    verify_inclusion(leaf - 1, size, hashes[leaf - 1], proof, CT_ROOTS[size])
    # the corruptions of transparency-dev's corruptInclusionProof()
    some_hash = h("abacaba000000000000000000000000000000000000000000060061e00123456")
    index, r, lh = leaf - 1, CT_ROOTS[size], hashes[leaf - 1]
    probes = [
        (index - 1, size, lh, proof, r),
        (index + 1, size, lh, proof, r),
        (index ^ 2, size, lh, proof, r),
        (index, size * 2, lh, proof, r),
        (index, size // 2, lh, proof, r),
        (index, size, some_hash, proof, r),
        (index, size, lh, proof, EMPTY_ROOT),
        (index, size, lh, proof, some_hash),
        (index, size, lh, proof + [r], r),
        (index, size, lh, [r] + proof, r),
    ]
    if proof:
        probes.append((index, size, lh, proof[:-1], r))
    if len(proof) > 1:
        probes.append((index, size, lh, [proof[0], some_hash] + proof[1:], r))
    for probe in probes:
        with pytest.raises(VerificationError):
            verify_inclusion(*probe)


@pytest.mark.parametrize(("size1", "size2", "proof"), CT_CONSISTENCY)
def test_consistency_proofs_match_ct_vectors(size1, size2, proof):
    assert consistency_proof(size1, size2, CT_LEAF_HASHES) == proof
    verify_consistency(size1, size2, CT_ROOTS[size1], CT_ROOTS[size2], proof)


# --- every size and index against the RFC definitions --------------------------------


@pytest.mark.parametrize("size", range(1, 65))
def test_inclusion_every_index(size):
    d = LEAVES64[:size]
    r = root(d)
    assert r == ref_mth(d) == root(LEAVES64, size)
    for i in range(size):
        proof = inclusion_proof(i, d)
        assert proof == ref_path(i, d)
        assert inclusion_proof(i, LEAVES64, size) == proof  # a prefix, without slicing
        verify_inclusion(i, size, d[i], proof, r)
        # Any single-bit change anywhere in the proof, leaf or root breaks it.
        for j in range(len(proof)):
            for bit in (0, 7, 100, 255):
                with pytest.raises(VerificationError):
                    verify_inclusion(i, size, d[i], _flip(proof, j, bit), r)
        with pytest.raises(VerificationError):
            verify_inclusion(i, size, _flip([d[i]], 0, 3)[0], proof, r)
        with pytest.raises(VerificationError):
            verify_inclusion(i, size, d[i], proof, _flip([r], 0, 200)[0])
        # Wrong index, wrong size, missing or extra elements.
        for other in range(size):
            if other != i:
                with pytest.raises(VerificationError):
                    verify_inclusion(other, size, d[i], proof, r)
        # (A wrong size is not always detectable from the path alone: leaf 0 of trees of
        # size 3 and 4 has the same path shape. A checkpoint binds size and root together.)
        with pytest.raises(VerificationError):
            verify_inclusion(i, size, d[i], proof + [r], r)
        with pytest.raises(VerificationError):
            verify_inclusion(i, size, d[i], [r] + proof, r)
        if proof:
            with pytest.raises(VerificationError):
                verify_inclusion(i, size, d[i], proof[:-1], r)


@pytest.mark.parametrize("new_size", range(1, 65))
def test_consistency_every_pair(new_size):
    d = LEAVES64[:new_size]
    new_root = root(d)
    for old_size in range(1, new_size + 1):
        old_root = root(d[:old_size])
        proof = consistency_proof(old_size, new_size, d)
        assert proof == (ref_subproof(old_size, d, True) if old_size < new_size else [])
        verify_consistency(old_size, new_size, old_root, new_root, proof)
        if old_size == new_size:
            with pytest.raises(VerificationError):
                verify_consistency(old_size, new_size, old_root, _flip([new_root], 0, 1)[0], [])
            continue
        for j in range(len(proof)):
            for bit in (0, 9, 254):
                with pytest.raises(VerificationError):
                    verify_consistency(old_size, new_size, old_root, new_root, _flip(proof, j, bit))
        with pytest.raises(VerificationError):
            verify_consistency(old_size, new_size, _flip([old_root], 0, 5)[0], new_root, proof)
        with pytest.raises(VerificationError):
            verify_consistency(old_size, new_size, old_root, _flip([new_root], 0, 5)[0], proof)
        with pytest.raises(VerificationError):
            verify_consistency(old_size, new_size, new_root, old_root, proof)
        with pytest.raises(VerificationError):
            verify_consistency(old_size, new_size, old_root, new_root, [])
        with pytest.raises(VerificationError):
            verify_consistency(old_size, new_size, old_root, new_root, proof[:-1])
        with pytest.raises(VerificationError):
            verify_consistency(old_size, new_size, old_root, new_root, proof + [old_root])
        with pytest.raises(VerificationError):
            verify_consistency(old_size, new_size, old_root, new_root, [proof[0]] + proof)
        for bad_old in {old_size - 1, old_size + 1, old_size ^ 2} - {old_size}:
            if 0 < bad_old < new_size:
                with pytest.raises(VerificationError):
                    verify_consistency(bad_old, new_size, old_root, new_root, proof)
        # (As with inclusion, a wrong *new* size can share the path shape; the signed
        # checkpoint is what binds the new size to its root.)


def test_consistency_trivial_cases_follow_transparency_dev():
    a, b = LEAVES64[0], LEAVES64[1]
    verify_consistency(0, 0, a, a, [])
    verify_consistency(0, 5, a, b, [])  # the empty tree is a prefix of every tree
    verify_consistency(3, 3, b, b, [])
    with pytest.raises(VerificationError):
        verify_consistency(3, 3, a, b, [])
    with pytest.raises(VerificationError):
        verify_consistency(0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])
    with pytest.raises(VerificationError):
        verify_consistency(2, 1, a, b, [])  # time travel
    with pytest.raises(VerificationError):
        verify_consistency(1, 2, a, b, [])


def test_verifiers_reject_malformed_hashes():
    d = LEAVES64[:4]
    proof = inclusion_proof(1, d)
    with pytest.raises(VerificationError):
        verify_inclusion(1, 4, d[1], [proof[0][:31]] + proof[1:], root(d))
    with pytest.raises(VerificationError):
        verify_inclusion(1, 4, d[1][:31], proof, root(d))
    with pytest.raises(VerificationError):
        verify_inclusion(0, 0, d[0], [], EMPTY_ROOT)
    with pytest.raises(VerificationError):
        verify_consistency(2, 4, root(d[:2]), root(d), [b""] + consistency_proof(2, 4, d))


def test_builders_refuse_misuse():
    with pytest.raises(ValueError):
        inclusion_proof(4, LEAVES64[:4])
    with pytest.raises(ValueError):
        inclusion_proof(0, [])
    with pytest.raises(ValueError):
        inclusion_proof(3, LEAVES64[:8], size=3)
    with pytest.raises(ValueError):
        root(LEAVES64[:8], size=9)
    with pytest.raises(ValueError):
        consistency_proof(5, 4, LEAVES64[:8])
    with pytest.raises(ValueError):
        consistency_proof(2, 9, LEAVES64[:8])


# --- the accumulator ------------------------------------------------------------------


def test_accumulator_tracks_root_at_every_size_and_restores():
    acc = MerkleAccumulator()
    for n, leaf in enumerate(LEAVES64, start=1):
        acc.append(leaf)
        assert acc.root() == ref_mth(LEAVES64[:n])
        restored = MerkleAccumulator(acc.size, acc.hashes)
        assert restored.root() == acc.root()
        restored.append(LEAVES64[0])
        acc_copy = MerkleAccumulator(n, acc.hashes)
        acc_copy.append(LEAVES64[0])
        assert restored.root() == acc_copy.root() == root(LEAVES64[:n] + [LEAVES64[0]])


def test_accumulator_on_a_large_log_matches_the_batch_root():
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(50_001)]
    acc = MerkleAccumulator()
    acc.extend(leaves)
    assert acc.size == 50_001
    assert len(acc.hashes) == (50_001).bit_count()
    assert acc.root() == root(leaves)
    # and the proofs over that log still verify against it
    for i in (0, 32_767, 32_768, 50_000):
        verify_inclusion(i, acc.size, leaves[i], inclusion_proof(i, leaves), acc.root())
    old = MerkleAccumulator()
    old.extend(leaves[:40_000])
    verify_consistency(40_000, 50_001, old.root(), acc.root(), consistency_proof(40_000, 50_001, leaves))


def test_accumulator_refuses_inconsistent_state():
    with pytest.raises(ValueError):
        MerkleAccumulator(3, [LEAVES64[0]])  # size 3 needs two edge hashes
    with pytest.raises(ValueError):
        MerkleAccumulator(1, [b"short"])
    with pytest.raises(ValueError):
        MerkleAccumulator(-1, [])
    with pytest.raises(ValueError):
        MerkleAccumulator().append(b"not a hash")
