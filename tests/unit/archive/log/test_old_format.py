"""A log written by earsiv as of 79c268e (before hash tiles and the log catalog) keeps reading.

The asset (``tests/assets/log-format-2026-11``, made by the script beside it with that code)
holds every entry type of the time.  Opened by today's code with a fresh index, it gets its
tiles and catalog in one pass, every fact comes back, and it then works like any archive.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from earsiv.archive.archive import Archive
from earsiv.archive.audit import verify_all
from earsiv.archive.evidence import verify_document
from earsiv.archive.ingest import Source
from earsiv.archive.log.entries import ENTRY_TYPES, decode
from earsiv.archive.log.tiles import tile_keys

ASSET = Path(__file__).resolve().parents[3] / "assets" / "log-format-2026-11" / "home"
SUPPLIER, CUSTOMER = "1234567803", "3333333331"


@pytest.fixture
def old_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(ASSET, home)
    for p in home.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    config = (home / "config.toml").read_text()
    assert 'url = "file:store"' in config and str(ASSET) not in config  # the copy is a home of its own
    return home


def test_every_leaf_of_the_old_format_decodes_to_a_typed_entry():
    types = set()
    for bundle in sorted((ASSET / "store/objects/log/leaves").iterdir()):
        for leaf in bundle.read_bytes().splitlines():
            entry = decode(leaf)
            assert entry.TYPE == json.loads(leaf)["type"]
            types.add(entry.TYPE)
    # The asset exercises every entry type of its time (the audit's entries and key rotation came after it).
    assert types == set(ENTRY_TYPES) - {"audit-finding", "audit-pass", "repair", "disposal", "archive-key"}


def test_an_old_archive_opens_replays_and_gets_its_tiles(old_home: Path):
    with Archive.open(old_home) as arch:
        assert arch.log.size == 30
        store = arch.store
        for size in (10, 20, 30):  # partial tiles of every old checkpoint, written by the one pass
            assert all(store.exists(k) for k in tile_keys(size))
        assert arch.index.log.latest_checkpoint(stamped=True).size == 30
        assert arch.index.stats().documents == 9
        held = arch.index.access.holdings_of([r.digest for r in arch.index.search(_all()).rows])
        tenants = sorted(h.tenant for hs in held.values() for h in hs)
        assert tenants.count(CUSTOMER) == 2 and tenants.count(SUPPLIER) == 8 and tenants.count("") == 1
        # The legal hold went on for every holding, then off for the supplier's only.
        first = min((hs for hs in held.values() if len(hs) == 2), key=lambda hs: hs[0].log_index)
        assert {h.tenant: h.legal_hold for h in first} == {SUPPLIER: False, CUSTOMER: True}
        extended = [h for hs in held.values() for h in hs if h.retain_until.year == 2040]
        assert len(extended) == 1 and extended[0].tenant == SUPPLIER
        assert [p.name for p in arch.access.principals()] == ["acme", "ayse"]
        (token,) = arch.index.access.tokens("acme")
        assert token.revoked_at is not None
        (grant,) = arch.index.access.grants(inspector="ayse")
        assert grant.revoked_at is not None
        (event,) = arch.index.access.access_events(vkn=SUPPLIER)
        assert event.principal == "ayse" and event.documents == 8
        checked, findings = verify_all(arch)
        assert (checked, findings) == (9, [])
        old = min(arch.index.search(_all()).rows, key=lambda r: r.log_index)
        assert verify_document(arch, old.digest).log_index == old.log_index


def test_an_old_archive_takes_new_documents_and_rebuilds_equal(old_home: Path):
    with Archive.open(old_home) as arch:
        new = (ASSET.parent.parent / "edefter" / "4700012349-202501-K-000000.xml").read_bytes()
        (res,) = arch.ingest([Source("kebir.xml", new)], tenant=SUPPLIER)
        assert res.status == "stored" and res.log_index == 30
    with Archive.open(old_home) as arch:
        assert arch.log.size == 32
        assert verify_all(arch)[1] == []
        arch.inspect_pending()  # the rebuild inspects every signature; the live index must have too
        live = arch.index.dump()
        arch.reindex()
        assert arch.index.dump() == live


def _all():
    from earsiv.indexer.query import SearchQuery

    return SearchQuery(limit=1000, date_from=dt.date(1, 1, 2))
