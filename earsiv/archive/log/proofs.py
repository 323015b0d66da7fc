"""The one shape of an inclusion proof and of a consistency proof, wherever they are handed out.

Evidence folders, prints, packages and the access log all carry these objects (FORMAT.md §9).
Both validate themselves when made or read: a proof object that does not verify cannot exist,
so nothing hands one out unchecked.

    {"v": 1, "type": "inclusion", "log_index": i, "tree_size": n, "leaf_hash": hex,
     "hashes": [hex, ...], "steps": [{"left": hex, "right": hex, "result": hex}, ...], "root": hex}

    {"v": 1, "type": "consistency", "old_size": m, "new_size": n, "old_root": hex,
     "new_root": hex, "hashes": [hex, ...]}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from earsiv.archive.errors import VerificationError
from earsiv.archive.log import merkle

__all__ = ["PROOF_VERSION", "ConsistencyProof", "InclusionProof"]

PROOF_VERSION = 1


def _hex(value: Any, what: str) -> bytes:
    try:
        out = bytes.fromhex(value)
    except (TypeError, ValueError) as exc:
        raise VerificationError(f"{what} is not hex") from exc
    if len(out) != merkle.HASH_SIZE:
        raise VerificationError(f"{what} is not a 32-byte hash")
    return out


@dataclass(frozen=True, slots=True)
class InclusionProof:
    log_index: int
    tree_size: int
    leaf_hash: bytes
    hashes: tuple[bytes, ...]
    root: bytes

    def __post_init__(self) -> None:
        merkle.verify_inclusion(self.log_index, self.tree_size, self.leaf_hash, self.hashes, self.root)

    def steps(self) -> list[dict[str, str]]:
        """The RFC 9162 §2.1.3.2 algorithm spelled out: each step one ``sha256(0x01||left||right)``."""
        fn, sn = self.log_index, self.tree_size - 1
        r = self.leaf_hash
        steps = []
        for p in self.hashes:
            if fn % 2 == 1 or fn == sn:
                left, right = p, r
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
            else:
                left, right = r, p
            r = merkle.node_hash(left, right)
            steps.append({"left": left.hex(), "right": right.hex(), "result": r.hex()})
            fn >>= 1
            sn >>= 1
        return steps

    def to_json(self) -> dict[str, Any]:
        return {"v": PROOF_VERSION, "type": "inclusion", "log_index": self.log_index, "tree_size": self.tree_size,
                "leaf_hash": self.leaf_hash.hex(), "hashes": [h.hex() for h in self.hashes], "steps": self.steps(),
                "root": self.root.hex()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InclusionProof:
        """Read (and verify) a proof; its ``steps`` are checked against the recomputed path, not trusted."""
        if data.get("v") != PROOF_VERSION or data.get("type") != "inclusion":
            raise VerificationError(f"not an inclusion proof of version {PROOF_VERSION}")
        try:
            proof = cls(int(data["log_index"]), int(data["tree_size"]), _hex(data["leaf_hash"], "leaf_hash"),
                        tuple(_hex(h, "proof hash") for h in data["hashes"]), _hex(data["root"], "root"))
        except (KeyError, TypeError, ValueError) as exc:
            raise VerificationError(f"malformed inclusion proof: {exc!r}") from exc
        if "steps" in data and data["steps"] != proof.steps():
            raise VerificationError("the proof's steps do not follow from its hashes")
        return proof


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    hashes: tuple[bytes, ...]

    def __post_init__(self) -> None:
        merkle.verify_consistency(self.old_size, self.new_size, self.old_root, self.new_root, self.hashes)

    def to_json(self) -> dict[str, Any]:
        return {"v": PROOF_VERSION, "type": "consistency", "old_size": self.old_size, "new_size": self.new_size,
                "old_root": self.old_root.hex(), "new_root": self.new_root.hex(),
                "hashes": [h.hex() for h in self.hashes]}
