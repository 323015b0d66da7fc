"""Merkle tree hashing, proofs and their verification (RFC 6962 §2.1, RFC 9162 §2.1).

    leaf hash = SHA-256(0x00 || leaf data)
    node hash = SHA-256(0x01 || left || right)
    MTH({})   = SHA-256("")
    MTH(D[n]) = node(MTH(D[0:k]), MTH(D[k:n]))   k = largest power of two < n

The proof builders ask a ``subtree(lo, hi)`` function for MTH(D[lo:hi]) of the node ranges a
proof needs (O(log n) of them): the log answers from its stored hash tiles (``tiles.py``), so
a proof reads O(log n) tiles and rehashes no leaf.  ``inclusion_proof`` and
``consistency_proof`` also take a plain list of leaf hashes, for tests and rebuilds.

Verification follows the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2 literally, because
those are what an outside verifier will implement; they raise `VerificationError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from earsiv.archive.errors import VerificationError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleAccumulator",
    "consistency_path",
    "consistency_proof",
    "inclusion_path",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what} must be bytes, not {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise ValueError(f"{what} must be {HASH_SIZE} bytes, got {len(value)}")


def _range_root(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    """MTH(D[start:end]) for ``start < end`` without copying the leaf list.

    Folding leaves left to right into a stack of perfect subtrees (merge while the two
    topmost have equal size) and then joining the stack right to left yields exactly the
    RFC 6962 tree: the left part of every split is the largest perfect subtree.
    """
    stack: list[bytes] = []
    sizes: list[int] = []
    for i in range(start, end):
        h = leaves[i]
        size = 1
        while sizes and sizes[-1] == size:
            h = node_hash(stack.pop(), h)
            size += sizes.pop()
        stack.append(h)
        sizes.append(size)
    h = stack[-1]
    for left in reversed(stack[:-1]):
        h = node_hash(left, h)
    return h


def _size(leaf_hashes: Sequence[bytes], size: int | None) -> int:
    if size is None:
        return len(leaf_hashes)
    if not 0 <= size <= len(leaf_hashes):
        raise ValueError(f"tree size {size} outside 0..{len(leaf_hashes)} known leaves")
    return size


def root(leaf_hashes: Sequence[bytes], size: int | None = None) -> bytes:
    """The tree head MTH over the first ``size`` (default: all) already-hashed leaves."""
    n = _size(leaf_hashes, size)
    if n == 0:
        return EMPTY_ROOT
    return _range_root(leaf_hashes, 0, n)


def inclusion_path(index: int, size: int, subtree: Callable[[int, int], bytes]) -> list[bytes]:
    """PATH(index, D[size]) of RFC 6962 §2.1.1, ordered from the leaf upwards."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} outside a tree of size {size}")
    # Walk down from the root; every step keeps the half holding the leaf and records the
    # other half's hash. The path is read bottom-up, so it is reversed at the end.
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        mid = lo + k
        if index < mid:
            path.append(subtree(mid, hi))
            hi = mid
        else:
            path.append(subtree(lo, mid))
            lo = mid
    path.reverse()
    return path


def consistency_path(old_size: int, new_size: int, subtree: Callable[[int, int], bytes]) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of RFC 6962 §2.1.2."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"need 0 <= old_size ({old_size}) <= new_size ({new_size})")
    if old_size == 0 or old_size == new_size:
        return []
    # SUBPROOF(m, D[lo:hi], b) unrolled: descend while m < size; when the old tree is
    # exactly a subtree we stop, and add that subtree's hash only if it is not the old root
    # itself (b false), because the verifier already holds the old root.
    proof: list[bytes] = []
    lo, hi, m, whole_old_tree = 0, new_size, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        mid = lo + k
        if m <= k:
            proof.append(subtree(mid, hi))
            hi = mid
        else:
            proof.append(subtree(lo, mid))
            lo = mid
            m -= k
            whole_old_tree = False
    if not whole_old_tree:
        proof.append(subtree(lo, hi))
    proof.reverse()
    return proof


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes], size: int | None = None) -> list[bytes]:
    """``inclusion_path`` over a list of leaf hashes (the first *size* of them)."""
    n = _size(leaf_hashes, size)
    return inclusion_path(index, n, lambda lo, hi: _range_root(leaf_hashes, lo, hi))


def consistency_proof(old_size: int, new_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """``consistency_path`` over a list of leaf hashes."""
    if not 0 <= old_size <= new_size <= len(leaf_hashes):
        raise ValueError(
            f"need 0 <= old_size ({old_size}) <= new_size ({new_size}) <= {len(leaf_hashes)} leaves"
        )
    return consistency_path(old_size, new_size, lambda lo, hi: _range_root(leaf_hashes, lo, hi))


def _fail(message: str) -> VerificationError:
    return VerificationError(message)


def _check_proof_hashes(proof: Iterable[bytes], what: str) -> list[bytes]:
    items = list(proof)
    for i, p in enumerate(items):
        if not isinstance(p, (bytes, bytearray)) or len(p) != HASH_SIZE:
            raise _fail(f"{what} element {i} is not a {HASH_SIZE}-byte hash")
    return items


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root_hash: bytes
) -> None:
    """Check that ``leaf`` (a leaf hash) is leaf ``index`` of the tree ``root_hash`` of ``size``.

    RFC 9162 §2.1.3.2; the step numbers below are the RFC's.
    """
    path = _check_proof_hashes(proof, "inclusion proof")
    if len(leaf) != HASH_SIZE or len(root_hash) != HASH_SIZE:
        raise _fail("leaf hash and root must be 32-byte hashes")
    # 1. The index must lie inside the tree.
    if not 0 <= index < size:
        raise _fail(f"leaf index {index} outside a tree of size {size}")
    # 2.-3.
    fn, sn = index, size - 1
    r = bytes(leaf)
    # 4.
    for p in path:
        if sn == 0:  # 4a: the proof is longer than the tree is tall
            raise _fail("inclusion proof is too long")
        if fn & 1 or fn == sn:  # 4b: p is a left sibling
            r = node_hash(p, r)
            # A left child without a right sibling (fn == sn, even) moves up unchanged
            # until it is a right child or the leftmost node.
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1  # 4c
        sn >>= 1
    # 5.
    if sn != 0:
        raise _fail("inclusion proof is too short")
    if r != root_hash:
        raise _fail("inclusion proof does not lead to the root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree ``old_root`` of ``old_size`` is a prefix of ``new_root``.

    RFC 9162 §2.1.4.2 for 0 < old_size < new_size; the trivial cases follow
    transparency-dev/merkle (an empty tree is a prefix of every tree; equal sizes need equal
    roots), and in both the proof must be empty.
    """
    path = _check_proof_hashes(proof, "consistency proof")
    if len(old_root) != HASH_SIZE or len(new_root) != HASH_SIZE:
        raise _fail("roots must be 32-byte hashes")
    if not 0 <= old_size <= new_size:
        raise _fail(f"old size {old_size} is not within 0..new size {new_size}")
    if old_size == 0 or old_size == new_size:
        if path:
            raise _fail("consistency proof must be empty for these sizes")
        if old_size == new_size and old_root != new_root:
            raise _fail("trees of equal size have different roots")
        return
    # 1.
    if not path:
        raise _fail("consistency proof is empty")
    # 2. When the old tree is a perfect subtree, its root is the proof's implicit start.
    if old_size & (old_size - 1) == 0:
        path.insert(0, bytes(old_root))
    # 3.
    fn, sn = old_size - 1, new_size - 1
    # 4.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.
    fr = sr = path[0]
    # 6.
    for c in path[1:]:
        if sn == 0:  # 6a
            raise _fail("consistency proof is too long")
        if fn & 1 or fn == sn:  # 6b
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1  # 6c
        sn >>= 1
    # 7.
    if sn != 0:
        raise _fail("consistency proof is too short")
    if fr != old_root:
        raise _fail("consistency proof does not lead to the old root")
    if sr != new_root:
        raise _fail("consistency proof does not lead to the new root")


class MerkleAccumulator:
    """The right edge of a growing tree: one hash per set bit of its size.

    ``append`` is amortised O(1) hashing and ``root`` O(log n), so a log of millions of
    leaves never re-hashes its past to publish a checkpoint. ``hashes`` and ``size`` are
    the whole state: persist them and rebuild with ``MerkleAccumulator(size, hashes)``.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0:
            raise ValueError(f"size must not be negative, got {size}")
        # The perfect subtrees of a tree of size n are its set bits, largest first.
        if len(hashes) != (size).bit_count():
            raise ValueError(
                f"a tree of size {size} has {(size).bit_count()} edge hashes, got {len(hashes)}"
            )
        for h in hashes:
            _check_hash(h, "edge hash")
        self._size = size
        self._hashes = [bytes(h) for h in hashes]

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """Roots of the perfect subtrees along the right edge, largest (leftmost) first."""
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf *hash* (use `leaf_hash` on the data first)."""
        _check_hash(leaf, "leaf hash")
        h = bytes(leaf)
        # Each trailing 1 bit of the old size is a perfect subtree the same size as what we
        # carry, so they merge exactly like a binary increment carries.
        n = self._size
        while n & 1:
            h = node_hash(self._hashes.pop(), h)
            n >>= 1
        self._hashes.append(h)
        self._size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        if not self._hashes:
            return EMPTY_ROOT
        h = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            h = node_hash(left, h)
        return h

    def __repr__(self) -> str:
        return f"MerkleAccumulator(size={self._size}, root={self.root().hex()})"
