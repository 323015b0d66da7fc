"""One damaged or missing object never stops the archive (the r4 reproduction and its kin).

Each case damages one object of a real archive (a blob, a dictionary, a bundle's last
newline, a hash tile, a checkpoint's signature), then checks what a user sees: ``verify
--all`` names the object and exits 1; new documents are still taken; intact documents are
still served and proven; ``reindex`` finishes, reports what it could not read, and leaves an
archive every command opens.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.helpers.streams import write_stream


@pytest.fixture
def archive(home: Path, tmp_path: Path) -> tuple[Cli, dict[str, dict], Path]:
    write_stream(tmp_path / "A", 0, 40, issuers=2, seed=3)
    write_stream(tmp_path / "B", 40, 20, issuers=2, seed=3)
    cli = Cli(home)
    results = {r["digest"]: r for r in cli.jsonl("ingest", str(tmp_path / "A"))}
    return cli, results, tmp_path / "B"


def _flip(path: Path, at: int | None = None) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if at is None else at
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def _leaves(home: Path) -> list[dict]:
    out = []
    for bundle in sorted((home / "store/objects/log/leaves").glob("*.jsonl")):
        out += [json.loads(line) for line in bundle.read_bytes().splitlines() if line.strip()]
    return out


def _still_works(cli: Cli, home: Path, results: dict, more: Path, damaged: set[str], *, named: str) -> None:
    # verify --all names the damage and fails.
    v = cli.run("verify", "--all", check=None)
    assert v.returncode == 1 and named in v.stdout.decode(), v.stdout.decode()[-3000:]
    # New documents are taken.
    new = cli.jsonl("ingest", str(more))
    assert {r["status"] for r in new} <= {"stored", "conflict"} and len(new) == 20
    # Intact documents are served byte for byte and proven.
    intact = sorted(set(results) - damaged)[:5]
    for d in intact:
        assert hashlib.sha256(cli.run("get", d).stdout).hexdigest() == d
        assert cli.run("verify", d).returncode == 0
    # reindex finishes and reports what it could not read; every command opens afterwards.
    r = cli.run("reindex", check=None)
    assert r.returncode in (0, 1), r.stderr.decode()[-3000:]
    assert b"Traceback" not in r.stderr
    st = cli.json("status")
    assert st["documents"] >= len(results) - len(damaged) + 20
    for d in intact:
        assert hashlib.sha256(cli.run("get", d).stdout).hexdigest() == d
    assert cli.run("search", "--limit", "1").returncode == 0


def test_a_damaged_blob(archive, home):
    cli, results, more = archive
    digest = sorted(results)[7]
    _flip(home / "store/objects/blobs" / digest[:2] / digest)
    _still_works(cli, home, results, more, {digest}, named=digest)
    got = cli.run("get", digest, check=None)
    assert got.returncode == 1 and b"damaged" in got.stderr and b"Traceback" not in got.stderr


def test_a_missing_blob(archive, home):
    cli, results, more = archive
    digest = sorted(results)[3]
    path = home / "store/objects/blobs" / digest[:2] / digest
    path.chmod(0o644)
    os.unlink(path)
    _still_works(cli, home, results, more, {digest}, named=digest)


def test_a_damaged_dictionary_names_what_depends_on_it(archive, home):
    cli, results, more = archive
    docs = [e for e in _leaves(home) if e["type"] == "document" and e["blob"]["dict"]]
    used = docs[0]["blob"]["dict"]
    dependents = {e["digest"] for e in docs if e["blob"]["dict"] == used}
    _flip(home / "store/objects/dicts" / used[:2] / used)
    v = cli.run("verify", "--all", check=None).stdout.decode()
    assert all(d in v for d in dependents)  # every document that needs it is named
    _still_works(cli, home, results, more, dependents, named=used)


def test_a_bundle_without_its_last_newline(archive, home):
    cli, results, more = archive
    bundles = sorted((home / "store/objects/log/leaves").glob("*.jsonl"))
    path = bundles[0]
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:-1])
    _still_works(cli, home, results, more, set(), named=path.name)


def test_a_damaged_hash_tile_is_found_and_proofs_still_come(archive, home):
    from earsiv.archive.log.tiles import tile_keys

    cli, results, more = archive
    latest = max(int(p.name) for p in (home / "store/objects/log/checkpoints").iterdir() if p.name.isdigit())
    tile = home / "store/objects" / next(tile_keys(latest))  # the one every proof against it needs
    _flip(tile, at=5)
    # Proofs that pass through the damaged tile are made from the leaves instead.
    for d in sorted(results)[:5]:
        assert cli.run("verify", d).returncode == 0
    _still_works(cli, home, results, more, set(), named="log/tile/0")
