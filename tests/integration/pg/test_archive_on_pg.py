"""The archive end to end with its index on PostgreSQL (``EARSIV_DB_URL``).

init → ingest the shared corpus → signature inspection → search → legal hold
→ reindex from the store, which must rebuild an index equal to the live one
(invariant 5).  The same corpus ingested into an archive on the embedded
SQLite default must answer every search the same way.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from earsiv.archive.archive import Archive
from earsiv.archive.config import ENV_DB
from earsiv.archive.sources import expand
from earsiv.indexer.query import SearchQuery
from tests.conftest import CORPUS, corpus_files

HOSTILE_TEMPLATE = CORPUS / "efatura" / "gib121_OTV.xml"


def _comparable(dump: list[dict]) -> list[dict]:
    # Everything, the issuer -> dictionary hints included: they are recorded
    # in log order, live and on reindex alike.
    return dump


def _hostile_invoice(tmp: Path) -> tuple[Path, str, str]:
    """A real invoice with a 6 KB random cbc:ID and a 4 KB random supplier VKN."""
    text = HOSTILE_TEMPLATE.read_text(encoding="utf-8")
    long_id = "ABC" + secrets.token_hex(3000)
    long_vkn = "9" + secrets.token_hex(2000)
    text, n_id = re.subn(r"(</cbc:ProfileID>\s*<cbc:ID>)[^<]*(</cbc:ID>)", rf"\g<1>{long_id}\g<2>", text, count=1)
    text, n_vkn = re.subn(r'(<cac:AccountingSupplierParty>.*?schemeID="VKN">)[^<]*(<)', rf"\g<1>{long_vkn}\g<2>",
                          text, count=1, flags=re.DOTALL)
    assert n_id == n_vkn == 1
    path = tmp / "hostile-long-id.xml"
    path.write_text(text, encoding="utf-8")
    return path, long_id, long_vkn


def _run(home: Path, files: list[Path]) -> Archive:
    arch = Archive.init(home)
    results = list(arch.ingest(expand(files)))
    assert len(results) == len(files)
    assert {r.status for r in results} <= {"stored", "conflict", "rejected"}
    assert sum(r.status in ("stored", "conflict") for r in results) > 0.9 * len(files)
    arch.inspect_pending()
    return arch


@pytest.fixture(scope="module")
def archives(pg_cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Archive, Archive, str, str]]:
    tmp = tmp_path_factory.mktemp("archive-on-pg")
    hostile, long_id, long_vkn = _hostile_invoice(tmp)
    files = [*corpus_files(), hostile]
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(ENV_DB, raising=False)
        lite = _run(tmp / "sqlite-home", files)
        name = "archive_on_pg"
        url = pg_cluster.create_database(name)
        mp.setenv(ENV_DB, url)
        pg = _run(tmp / "pg-home", files)
    yield lite, pg, long_id, long_vkn
    lite.close()
    pg.close()
    pg_cluster.drop_database(name)


def test_the_archive_really_runs_on_postgresql(archives) -> None:
    lite, pg, *_ = archives
    assert pg.config.db_url.startswith("postgresql+psycopg://") and pg.index.db.engine.dialect.name == "postgresql"
    assert lite.index.db.engine.dialect.name == "sqlite"
    assert not (pg.home / "index.sqlite").exists()
    status = pg.status().to_json()
    assert status["documents"] > 90 and status["pending"]["signature_checks"] == 0
    assert status["by_kind"] == lite.status().to_json()["by_kind"]


def test_searches_answer_the_same_on_both_archives(archives) -> None:
    lite, pg, *_ = archives
    every = lite.index.search(SearchQuery(limit=1000))
    assert len(every.rows) > 90
    vkns = sorted({r.supplier_id for r in every.rows if r.supplier_id} | {r.customer_id for r in every.rows if r.customer_id})
    queries = [SearchQuery(limit=1000), SearchQuery(limit=3), SearchQuery(kind="e-arsiv"), SearchQuery(signature_status="consistent")]
    queries += [SearchQuery(vkn=v, limit=2) for v in vkns]
    queries += [SearchQuery(doc_id=r.doc_id) for r in every.rows[::9] if r.doc_id]
    for q in queries:
        while True:
            a, b = lite.index.search(q), pg.index.search(q)
            assert [r.digest for r in a.rows] == [r.digest for r in b.rows], q
            # everything but the arrival facts of each archive
            skip = {"received_at", "retain_until", "log_index", "stored_size", "dict_digest"}
            for ra, rb in zip(a.rows, b.rows, strict=True):
                da, db = ra.to_json(), rb.to_json()
                assert {k: v for k, v in da.items() if k not in skip} == {k: v for k, v in db.items() if k not in skip}
            assert a.next_cursor == b.next_cursor
            if a.next_cursor is None:
                break
            q = q.after(a.next_cursor)
    assert any(r.signature_status == "consistent" for r in every.rows)  # xmlsec-verifiable invoices are in the corpus


def test_a_multi_kb_id_is_archived_and_found_on_both(archives) -> None:
    lite, pg, long_id, long_vkn = archives
    for arch in (lite, pg):
        page = arch.index.search(SearchQuery(doc_id=long_id))
        assert len(page.rows) == 1
        assert [r.digest for r in arch.index.search(SearchQuery(vkn=long_vkn)).rows] == [page.rows[0].digest]
        assert arch.original(page.rows[0].digest).count(long_id.encode()) == 1  # the original keeps it whole


def test_access_rules_answer_the_same_on_both(archives) -> None:
    """Holdings, tokens, grants and access events on PostgreSQL (then rebuilt by the test below)."""
    import datetime as dt
    import hashlib

    from earsiv.archive.access import Principal

    lite, pg, *_ = archives
    tenant, files = "1111111111", sorted((CORPUS / "efatura").glob("gib121_*.xml"))[:6]
    answers = []
    for arch in (lite, pg):
        assert {r.status for r in arch.ingest(expand(files), tenant=tenant)} == {"stored"}  # second holdings
        arch.access.add_principal("acct", "accountant", [tenant], by="test")
        token = arch.access.create_token("acct", by="test").token
        assert arch.access.authenticate(token) == Principal("acct", "accountant", frozenset({tenant}))
        arch.access.add_principal("insp", "inspector", by="test")
        row = arch.index.get(hashlib.sha256(files[0].read_bytes()).hexdigest())
        arch.access.add_grant("insp", row.supplier_id, dt.date(2000, 1, 1), dt.date(2030, 1, 1),
                              dt.datetime.now(dt.UTC) + dt.timedelta(days=1), "order", by="test")
        acct = arch.access.search(Principal("acct", "accountant", frozenset({tenant})), SearchQuery(limit=1000))[0]
        insp, event = arch.access.search(Principal("insp", "inspector"), SearchQuery(limit=1000))
        events = arch.index.access.access_events(principal="insp")
        answers.append(([r.digest for r in acct.rows], [r.digest for r in insp.rows], [(e.vkn, e.documents) for e in events]))
        assert event == (events[-1].log_index,)  # one granted taxpayer: one leaf
    assert answers[0] == answers[1]
    # The accountant sees what its tenant holds, and what names its tenant (held by others; flagged
    # not-held-by-taxpayer where shown), the same on both.
    assert {hashlib.sha256(f.read_bytes()).hexdigest() for f in files} <= set(answers[0][0]) and answers[0][1]


def test_reindex_on_postgresql_rebuilds_the_live_index(archives) -> None:
    _lite, pg, *_ = archives
    first = pg.index.search(SearchQuery(kind="e-arsiv", limit=1)).rows[0]
    pg.set_legal_hold(first.digest, True, "inspection 2026/17")
    live = pg.index.dump()
    assert any(row.get("legal_hold") for row in live if row["table"] == "documents")
    pg.reindex()
    rebuilt = pg.index.dump()
    assert _comparable(rebuilt) == _comparable(live)
    assert len(rebuilt) == len(live)
    assert pg.index.get(first.digest).legal_hold is True
