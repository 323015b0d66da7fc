"""Keeping documents: the ledger (append, durable, mirrored, checkpointed), object stores, the Merkle log, time-stamps, ingest, access, evidence, packages."""

__all__: list[str] = []
