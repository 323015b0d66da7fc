"""What the SQLite suite checks through SQLite itself, checked on a real PostgreSQL;
and what only matters once two engines or two writers are involved.

Tests taking ``index_url`` run on both databases (see conftest.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import re
import secrets
import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from earsiv.documents.metadata import EDefterInfo, Party, Reference, SignatureReport
from earsiv.indexer.db import Index
from earsiv.indexer.errors import IndexFailure
from earsiv.indexer.models import metadata as models_metadata
from earsiv.indexer.query import SearchQuery, search_parameters, search_statement
from earsiv.indexer.rows import KEY_MAX_CHARS
from tests.helpers.postgres import PostgresCluster
from tests.unit.indexer.test_db import (
    SUP_A,
    SUP_B,
    digest_of,
    record,
    search_all,
)

# -- schema and migrations ---------------------------------------------------------------


def _diff(url: str, target: sa.MetaData) -> list:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            return compare_metadata(ctx, target)
    finally:
        engine.dispose()


def test_migrations_produce_exactly_the_models_on_postgresql(pg_url: str) -> None:
    ix = Index(pg_url)
    ix.upgrade()
    ix.upgrade()  # idempotent
    ix.close()
    assert _diff(pg_url, models_metadata) == []
    # the comparison is able to see a difference, on this engine too
    changed = sa.MetaData()
    for table in models_metadata.sorted_tables:
        table.to_metadata(changed)
    sa.Table("documents", changed, sa.Column("extra", sa.Integer()), extend_existing=True)
    sa.Index("ix_extra", changed.tables["document_refs"].c.ref_type)
    kinds = {d[0] for d in _diff(pg_url, changed)}
    assert {"add_column", "add_index"} <= kinds
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == ["0013"]
        types = {
            name: kind
            for name, kind in conn.exec_driver_sql(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'documents'"
            )
        }
    engine.dispose()
    # exact amounts and aware instants are native types on PostgreSQL
    assert types["payable_amount_num"] == "numeric"
    assert types["received_at"] == types["signing_time"] == "timestamp with time zone"
    assert types["issue_date"] == "date" and types["legal_hold"] == "boolean"


def test_create_all_and_migration_give_the_same_postgresql_schema(pg_cluster: PostgresCluster, pg_url: str) -> None:
    ix = Index(pg_url)
    ix.upgrade()
    ix.close()
    other = pg_cluster.create_database("create_all_schema")
    try:
        engine = sa.create_engine(other)
        models_metadata.create_all(engine)
        engine.dispose()

        def schema(url: str) -> dict:
            engine = sa.create_engine(url)
            insp = sa.inspect(engine)
            out = {
                name: (
                    [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(name)],
                    sorted((i["name"], tuple(i["column_names"]), i["unique"]) for i in insp.get_indexes(name)),
                    insp.get_pk_constraint(name),
                    sorted(json.dumps(fk, sort_keys=True, default=str) for fk in insp.get_foreign_keys(name)),
                    sorted(json.dumps(u, sort_keys=True) for u in insp.get_unique_constraints(name)),
                )
                for name in insp.get_table_names()
                if name != "alembic_version"
            }
            engine.dispose()
            return out

        migrated, created = schema(pg_url), schema(other)
        assert set(migrated) == {"documents", "document_parties", "document_refs", "index_meta", "holdings", "principals",
                                 "principal_tenants", "tokens", "grants", "access_events", "log_bundles", "log_checkpoints", "index_counts",
                                 "audit_findings", "document_text", "web_sessions", "jobs"}
        assert migrated == created
    finally:
        pg_cluster.drop_database("create_all_schema")


def test_two_processes_migrating_one_empty_database_at_once(pg_url: str) -> None:
    """Two archive processes starting together: the advisory lock lets one
    migrate and the other find the schema in place, neither fails."""
    indexes = [Index(pg_url) for _ in range(3)]
    barrier = threading.Barrier(len(indexes))
    errors: list[BaseException] = []

    def upgrade(ix: Index) -> None:
        barrier.wait()
        try:
            ix.upgrade()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=upgrade, args=(ix,)) for ix in indexes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    indexes[0].add([record(1)])
    assert indexes[2].get(digest_of(1)) is not None
    for ix in indexes:
        ix.close()


def test_vkn_and_date_query_walks_the_party_index_on_postgresql(pg_url: str) -> None:
    """The benchmarked query must be an ordered walk of the party index that
    stops after a page, not a sort of everything the VKN ever had."""
    ix = Index(pg_url)
    ix.upgrade()
    rng = random.Random(5)
    # one busy supplier among many small ones: for a VKN with a handful of
    # documents a bitmap scan and a sort is the better plan, and PostgreSQL
    # rightly takes it; the walk matters when a VKN has thousands
    busy, small = "9000000000", [f"90000{i:05d}" for i in range(1, 300)]
    start = dt.date(2020, 1, 1)
    ix.add([record(i, supplier=busy if i % 3 == 0 else rng.choice(small), customer=f"91000{i:05d}",
                   issue_date=start + dt.timedelta(days=rng.randrange(1500))) for i in range(4000)])
    q = SearchQuery(vkn=busy, date_from=dt.date(2020, 1, 1), date_to=dt.date(2024, 12, 31))
    shape, values = search_parameters(q, 101)
    with ix.db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        compiled = search_statement(shape).compile(dialect=conn.dialect)
        plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.construct_params(values)).scalars())
    ix.close()
    assert "Scan Backward using ix_document_parties_party_id_sort_date_digest" in plan, plan
    assert "on document_parties" not in plan.replace("ix_document_parties_party_id_sort_date_digest on document_parties", ""), plan
    # at most the page itself is sorted (the join may come back in any order)
    sorted_rows = [int(m) for m in re.findall(r"Sort  \(cost=[\d.]+ rows=(\d+)", plan)]
    assert all(n <= 101 for n in sorted_rows), plan


# -- the index is derived: same facts, same dump, on both databases ----------------------------


def test_dump_is_equal_whatever_the_order_records_arrive_in(index_url: str) -> None:
    """The SQLite suite's invariant-5 test, on each database in turn."""
    records = [
        record(i, supplier=[SUP_A, SUP_B][i % 2], issue_date=dt.date(2024, 1, 1 + i % 28),
               references=(Reference("despatch", f"IRS{i}", None),) if i % 3 == 0 else (),
               flags=("id-pattern",) if i % 5 == 0 else ())
        for i in range(60)
    ]
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)
    a = Index(index_url)
    a.upgrade()
    a.meta_set("dictionary:" + SUP_A, "ab" * 32)
    a.add(records)
    a.set_signature(digest_of(4), SignatureReport(status="consistent"))
    live = a.dump()
    a.reset()
    assert a.dump() == []
    a.meta_set("dictionary:" + SUP_A, "ab" * 32)
    for i in range(0, 60, 7):
        a.add(shuffled[i : i + 7])
    a.set_signature(digest_of(4), SignatureReport(status="consistent"))
    assert a.dump() == live
    assert {d["table"] for d in live} == {"documents", "document_parties", "document_refs", "holdings", "index_meta",
                                                 "index_counts"}
    a.set_legal_hold(digest_of(7), True)  # one fact differs -> dumps differ
    assert a.dump() != live
    a.close()


def test_dump_orders_keys_by_code_point_not_by_collation(index_url: str) -> None:
    ix = Index(index_url)
    ix.upgrade()
    keys = ["log_size", "log-size", "Log_size", "logsize", "log size", "ğ", "z", "İ"]
    for k in keys:
        ix.meta_set(k, "1")
    assert [row["key"] for row in ix.dump()] == sorted(keys)
    ix.close()


# -- two writers on one PostgreSQL ------------------------------------------------------------


def test_two_writers_adding_the_same_documents_at_once(pg_url: str) -> None:
    """Two processes catching up the same log leaves: both add the same digests
    in overlapping batches at the same instant.  Neither may fail (no unique
    violation, no deadlock), and the index ends up as if one had done it."""
    a, b = Index(pg_url), Index(pg_url)
    a.upgrade()
    records = [record(i, supplier=[SUP_A, SUP_B][i % 3 == 0],
                      references=(Reference("billing", f"R{i}", None),) if i % 4 == 0 else ()) for i in range(400)]
    errors: list[BaseException] = []
    rounds = 20
    barrier = threading.Barrier(2)

    def writer(ix: Index, reverse: bool) -> None:
        try:
            for r in range(rounds):
                batch = records[r * 20 : r * 20 + 40]  # overlaps the next round
                barrier.wait(timeout=30)
                ix.add(batch[::-1] if reverse else batch)
                ix.meta_set("log_size", str(r))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(a, False)), threading.Thread(target=writer, args=(b, True))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [], errors
    assert a.stats().documents == 400
    got = a.dump()
    a.reset()
    a.add(records)
    a.meta_set("log_size", str(rounds - 1))
    assert got == a.dump()
    a.close()
    b.close()


def test_a_different_document_at_a_taken_log_position_still_fails(pg_url: str) -> None:
    ix = Index(pg_url)
    ix.upgrade()
    ix.add([record(1)])
    with pytest.raises(IndexFailure):
        ix.add([dataclasses.replace(record(2), log_index=1)])
    assert ix.get(digest_of(2)) is None
    ix.close()


# -- hostile values -------------------------------------------------------------------------------


def _noise(n: int) -> str:
    # Incompressible: PostgreSQL compresses long index entries before it
    # checks their size, so a repeated character would not show the problem.
    return secrets.token_hex(n // 2)


def test_multi_kb_identifiers_index_and_are_found_on_both_databases(index_url: str) -> None:
    long_id, long_vkn, long_ettn = "ABC" + _noise(6000), "9" + _noise(4000), "E" + _noise(3000)
    long_ref, long_tenant = "R" + _noise(5000), "T" + _noise(3000)
    hostile = record(
        1,
        doc_id=long_id,
        ettn=long_ettn,
        supplier=long_vkn,
        tenant=long_tenant,
        references=(Reference("despatch", long_ref, long_ettn),),
        extra_parties=(Party("sender", "VKN", "ğüşiöç" * 700, "x"),),
        edefter=EDefterInfo(long_vkn, dt.date(2024, 1, 1), dt.date(2024, 1, 31), "yevmiye", None, None, 1, None),
    )
    neighbour = record(2, doc_id=long_id[:KEY_MAX_CHARS - 65] + "X")  # same prefix, different value
    ix = Index(index_url)
    ix.upgrade()
    ix.add([hostile, neighbour, record(3)])
    assert search_all(ix, doc_id=long_id) == {digest_of(1)}
    assert search_all(ix, vkn=long_vkn) == {digest_of(1)}
    assert search_all(ix, vkn="ğüşiöç" * 700) == {digest_of(1)}
    assert search_all(ix, ettn=long_ettn.upper()) == {digest_of(1)}
    assert search_all(ix, tenant=long_tenant) == {digest_of(1)}
    assert search_all(ix, doc_id=long_id[:-1]) == set()
    assert ix.digests_with_ettn(long_ettn) == [digest_of(1)]
    assert ix.digests_with_ettns([long_ettn]) == {long_ettn.lower(): [digest_of(1)]}
    row = ix.get(digest_of(1))
    # the indexed copy is a bounded key; the untouched value stays in the original
    assert len(row.doc_id) == KEY_MAX_CHARS and row.doc_id.startswith(long_id[:100])
    assert row.ettn == long_ettn and row.supplier_id == long_vkn  # unindexed columns keep the whole value
    ix.close()


def test_exact_amounts_filter_exactly_on_postgresql(pg_url: str) -> None:
    """NUMERIC on PostgreSQL: 17+ digit amounts keep their value in the
    range column too (SQLite's range column is a float, see models.py)."""
    ix = Index(pg_url)
    ix.upgrade()
    amounts = [Decimal("12345678901234567.01"), Decimal("12345678901234567.02"), Decimal("0.1")]
    ix.add([record(i, amount=a) for i, a in enumerate(amounts)])
    assert search_all(ix, amount_min=Decimal("12345678901234567.02")) == {digest_of(1)}
    assert search_all(ix, amount_max=Decimal("0.1")) == {digest_of(2)}
    with ix.db.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT payable_amount_num::text FROM documents ORDER BY log_index").scalars().all()
    assert stored == [str(a) for a in amounts]
    assert [ix.get(digest_of(i)).payable_amount for i in range(3)] == amounts
    ix.close()


def test_instants_come_back_aware_utc_whatever_the_session_time_zone(pg_url: str) -> None:
    ix = Index(pg_url)
    ix.upgrade()
    ist = dt.timezone(dt.timedelta(hours=3))
    signed = SignatureReport(status="consistent", signing_time=dt.datetime(2024, 5, 1, 23, 30, tzinfo=ist))
    ix.add([record(1, signature=signed)])
    ix.close()
    engine_url = sa.engine.make_url(pg_url).update_query_dict({"options": "-c TimeZone=Asia/Tokyo"})
    ix = Index(engine_url.render_as_string(hide_password=False))
    row = ix.get(digest_of(1))
    assert row.signing_time == dt.datetime(2024, 5, 1, 20, 30, tzinfo=dt.UTC)
    assert row.signing_time.tzinfo is dt.UTC and row.received_at.tzinfo is dt.UTC
    (doc,) = [row for row in ix.dump() if row["table"] == "documents"]
    assert doc["signing_time"] == "2024-05-01T20:30:00+00:00"
    ix.close()


# -- errors stay ours ---------------------------------------------------------------------------------


def test_unreachable_server_and_missing_database_give_index_failure(pg_cluster: PostgresCluster) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    for url in (f"postgresql+psycopg://earsiv@127.0.0.1:{closed_port}/x?connect_timeout=3",
                pg_cluster.url("no_such_database")):
        ix = Index(url)
        calls = (Index.upgrade, lambda i: i.get(digest_of(1)), lambda i: i.search(SearchQuery(vkn=SUP_A)),
                 lambda i: i.add([record(1)]), Index.stats, Index.dump, lambda i: i.meta_set("k", "v"))
        for call in calls:
            with pytest.raises(IndexFailure) as caught:
                call(ix)
            assert isinstance(caught.value.__cause__, sa.exc.SQLAlchemyError)
        ix.close()


def test_a_setting_keyed_by_a_hostile_vkn_is_kept_on_both_databases(index_url: str) -> None:
    """The archive keys settings by issuer ("dict/e-fatura/<VKN>"); PostgreSQL
    enforces the key column's VARCHAR(200) that SQLite ignores."""
    ix = Index(index_url)
    ix.upgrade()
    long_key, other = "dict/e-fatura/" + _noise(4000), "dict/e-fatura/" + _noise(4000)
    ix.meta_set(long_key, "ab" * 32)
    ix.meta_set(long_key, "cd" * 32)
    assert ix.meta_get(long_key) == "cd" * 32
    assert ix.meta_get(other) is None and ix.meta_get(long_key[:-1]) is None
    (row,) = ix.dump()
    assert len(row["key"]) == 200 and row["key"].startswith("dict/e-fatura/")
    ix.close()


def test_migration_0006_sends_old_valid_verdicts_back_to_pending_on_postgresql(pg_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    from earsiv.indexer.db import MIGRATIONS

    ix = Index(pg_url)
    ix.upgrade()
    ix.reset()
    ix.add([record(i) for i in range(3)])
    ix.set_signature(digest_of(1), SignatureReport(status="consistent", signer_id="1234567803"))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with ix.db.write("downgrade") as conn:  # an index as 0005 left it, one verdict 'valid'
        config.attributes["connection"] = conn
        command.downgrade(config, "0005")
        conn.execute(sa.text("UPDATE documents SET signature_status = 'valid' WHERE digest = :d"), {"d": digest_of(1)})
        conn.execute(sa.text("UPDATE index_counts SET key = 'signature/valid' WHERE key = 'signature/consistent'"))
    ix.upgrade()
    assert ix.get(digest_of(1)).signature_status == "pending" and ix.get(digest_of(1)).signer_id is None
    assert ix.stats().by_signature_status == {"pending": 3}
    assert ix.pending_signatures() == [digest_of(i) for i in range(3)]
    ix.close()
