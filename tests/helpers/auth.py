"""Principals and tokens for tests, made through the archive's own access rules."""

from __future__ import annotations

from pathlib import Path

from earsiv.archive.archive import Archive

__all__ = ["bearer", "make_principal"]


def make_principal(home: Path, name: str, role: str, tenants: tuple[str, ...] = (), *, expires_at=None) -> str:
    """Add principal *name* (if new) and return a fresh token for it.

    Call it before a server opens the home: the archive is opened here.
    """
    with Archive.open(home) as arch:
        if arch.index.access.principal(name) is None:
            arch.access.add_principal(name, role, tenants, by="test")
        return arch.access.create_token(name, expires_at, by="test").token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
