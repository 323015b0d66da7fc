"""The tamper-evident log: entries and leaves, bundles, hash tiles, checkpoints, RFC 9162 Merkle proofs."""

__all__: list[str] = []
