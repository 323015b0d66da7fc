"""Keeping documents: the ledger (append, durable, mirrored, checkpointed), object stores, the Merkle log, time-stamps, ingest, access, evidence, packages; and the use cases the interfaces share (``service``)."""

__all__: list[str] = []
