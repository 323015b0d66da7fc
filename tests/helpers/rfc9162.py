"""RFC 9162 inclusion proofs, written out in the tests so checks do not lean on the archive's code."""

from __future__ import annotations

import hashlib

__all__ = ["root_from_inclusion"]


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """The root that *proof* (RFC 9162 2.1.3.2) gives for *leaf* at *index* of a tree of *size*."""
    def node(left: bytes, right: bytes) -> bytes:
        return hashlib.sha256(b"\x01" + left + right).digest()

    assert 0 <= index < size
    fn, sn, r = index, size - 1, hashlib.sha256(b"\x00" + leaf).digest()
    for p in proof:
        assert sn > 0, "proof longer than the tree"
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0, "proof shorter than the tree"
    return r
