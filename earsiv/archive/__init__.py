"""Keeping documents: object stores, retention, the Merkle log, time-stamps, ingest, evidence."""

__all__: list[str] = []
