"""Crash tests: the real ``earsiv`` command killed at the archive's own fault points, then checked.

After any crash the archive must open, take the same files again, prove what it holds, and
have lost nothing it acknowledged (DESIGN.md invariant 4).  ``check_recovered`` is that
check, shared by every crash test.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.helpers.streams import write_stream

__all__ = ["Folders", "check_recovered", "document_leaves"]


class Folders:
    def __init__(self, root: Path) -> None:
        # Three issuers, so dictionaries are seeded and used; A is two groups of the ingest.
        self.a = root / "A"
        self.b = root / "B"
        write_stream(self.a, 0, 90)
        write_stream(self.b, 90, 30)

    def files(self, folder: Path) -> list[Path]:
        return sorted(folder.iterdir())


@pytest.fixture(scope="session")
def folders(tmp_path_factory) -> Folders:
    return Folders(tmp_path_factory.mktemp("crash-docs"))


def document_leaves(home: Path) -> dict[str, int]:
    """digest -> how many ``document`` leaves the store's bundles hold for it."""
    counts: dict[str, int] = {}
    for bundle in sorted((home / "store/objects/log/leaves").glob("*.jsonl")):
        for line in bundle.read_bytes().splitlines():
            entry = json.loads(line)
            if entry["type"] == "document":
                counts[entry["digest"]] = counts.get(entry["digest"], 0) + 1
    return counts


def acknowledged(stdout: bytes) -> dict[str, str]:
    """digest -> path of every document an interrupted ``ingest --json`` answered as kept."""
    out = {}
    for line in stdout.decode(errors="replace").splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue  # the last line may be cut by the kill
        if r.get("status") in ("stored", "conflict", "duplicate"):
            out[r["digest"]] = r["path"]
    return out


def check_recovered(cli: Cli, home: Path, acked: dict[str, str], *folders: Path) -> None:
    from earsiv.archive.archive import Archive

    # Nothing acknowledged was lost: every answered document comes back byte for byte.
    for digest, path in acked.items():
        data = cli.run("get", digest).stdout
        assert hashlib.sha256(data).hexdigest() == digest and data == Path(path).read_bytes()
    # The same files again, and more: every one is taken (stored, or a duplicate of what is kept).
    for folder in folders:
        again = cli.jsonl("ingest", str(folder))
        assert {r["status"] for r in again} <= {"stored", "duplicate", "conflict"}, [r for r in again if r["error"]]
    # One document leaf per document, and everything proves.
    assert set(document_leaves(home).values()) == {1}
    verify = cli.run("verify", "--all", check=None)
    assert verify.returncode == 0 and b" 0 problems" in verify.stdout, verify.stdout.decode()[-2000:]
    audit = cli.json("audit", "--restart", check=None)
    assert audit["ok"] and audit["pass_finished"], audit["failures"][:5]
    # And the index is what a rebuild from the store alone makes of it.
    with Archive.open(home) as arch:
        arch.inspect_pending()
        live = arch.index.dump()
        arch.reindex()
        assert arch.index.dump() == live
