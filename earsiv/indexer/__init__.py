"""Derived, rebuildable storage: the SQL index (SQLite/PostgreSQL) and the full-text index."""

__all__: list[str] = []
