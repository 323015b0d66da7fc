"""The SQL metadata index on real SQLite files (WAL), through its public API.

Records are hand-made ``DocumentMetadata`` with synthetic VKNs (10 digits
starting with 9, never a real taxpayer).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import random
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.dialects import sqlite as sqlite_dialect

from earsiv.documents.metadata import (
    DocumentMetadata,
    EDefterInfo,
    Party,
    Reference,
    SignatureReport,
)
from earsiv.indexer.db import Index
from earsiv.indexer.errors import IndexFailure
from earsiv.indexer.models import metadata as models_metadata
from earsiv.indexer.query import SearchQuery, search_parameters, search_statement
from earsiv.indexer.records import IndexRecord

UTC = dt.UTC
T0 = dt.datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
SUP_A, SUP_B, CUS_X, CUS_Y = "9000000001", "9000000002", "9000000101", "9000000102"


def digest_of(n: int) -> str:
    return hashlib.sha256(f"document {n}".encode()).hexdigest()


def record(
    n: int,
    *,
    supplier: str | None = SUP_A,
    customer: str | None = CUS_X,
    issue_date: dt.date | None = dt.date(2024, 1, 15),
    kind: str = "e-fatura",
    profile: str | None = "TICARIFATURA",
    type_code: str | None = "SATIS",
    doc_id: str | None = None,
    ettn: str | None = None,
    amount: Decimal | None = Decimal("118.00"),
    tenant: str | None = None,
    signature: SignatureReport | None = None,
    references: tuple[Reference, ...] = (),
    flags: tuple[str, ...] = (),
    extra_parties: tuple[Party, ...] = (),
    edefter: EDefterInfo | None = None,
) -> IndexRecord:
    parties = []
    if supplier:
        parties.append(Party("supplier", "VKN", supplier, f"Tedarikci {supplier[-3:]}"))
    if customer:
        parties.append(Party("customer", "VKN", customer, f"Musteri {customer[-3:]}"))
    meta = DocumentMetadata(
        kind=kind,
        root="Invoice",
        namespace="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
        profile=profile,
        type_code=type_code,
        doc_id=doc_id or f"ABC2024{n:09d}",
        ettn=ettn or f"{n:08x}-0000-4000-8000-{n:012x}",
        issue_date=issue_date,
        issue_time="10:11:12",
        currency="TRY",
        payable_amount=amount,
        tax_amount=None if amount is None else (amount / Decimal("5.9")).quantize(Decimal("0.01")),
        series="ABC",
        year=issue_date.year if issue_date else None,
        sequence=n,
        parties=tuple(parties) + extra_parties,
        references=references,
        edefter=edefter,
        signed=True,
        stylesheets=1,
        line_count=3,
        flags=flags,
    )
    return IndexRecord(
        digest=digest_of(n),
        size=1000 + n,
        stored_size=100 + n,
        dict_digest=None,
        log_index=n,
        received_at=T0 + dt.timedelta(minutes=n),
        retain_until=T0 + dt.timedelta(days=11 * 366),
        legal_hold=False,
        tenant=tenant,
        source_name=f"{n}.xml",
        metadata=meta,
        signature=signature,
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "index.sqlite"


@pytest.fixture
def index(db_path: Path):
    ix = Index(f"sqlite:///{db_path}")
    ix.upgrade()
    yield ix
    ix.close()


def digests(page) -> list[str]:
    return [row.digest for row in page.rows]


def search_all(ix: Index, **filters) -> set[str]:
    """Every digest matching *filters*, following cursors to the end."""
    found: list[str] = []
    q = SearchQuery(limit=1000, **filters)
    while True:
        page = ix.search(q)
        found.extend(digests(page))
        if page.next_cursor is None:
            break
        q = q.after(page.next_cursor)
    assert len(found) == len(set(found)), "a document was returned twice"
    return set(found)


# -- storing and reading back ----------------------------------------------------


def test_round_trip_keeps_every_value_exactly(index: Index) -> None:
    signer = SignatureReport(
        status="consistent",
        reason=None,
        signer_subject="CN=Test Signer",
        signer_id="12345678901",
        # aware but not UTC: must come back as the same instant, in UTC
        signing_time=dt.datetime(2024, 1, 15, 13, 0, tzinfo=dt.timezone(dt.timedelta(hours=3))),
        cert_not_before=dt.datetime(2023, 1, 1, tzinfo=UTC),
        cert_not_after=dt.datetime(2026, 1, 1, tzinfo=UTC),
        cert_valid_at_signing=True,
        references=3,
        details=("digest ok", "chain ok"),
    )
    ed = EDefterInfo(
        vkn=SUP_B,
        period_start=dt.date(2024, 1, 1),
        period_end=dt.date(2024, 1, 31),
        ledger_type="yevmiye",
        control_number="YEV202401000001",
        berat_guid=None,
        entry_count=42,
        seal="ab" * 32,
        gib_approved=False,
    )
    refs = (Reference("despatch", "IRS2024000000001", "AAAA0000-0000-4000-8000-00000000000A"),)
    rec = record(
        1,
        amount=Decimal("1234567890123.45"),
        signature=signer,
        references=refs,
        flags=("vkn-checksum:supplier", "issue-time"),
        edefter=ed,
        tenant=SUP_A,
    )
    index.add([rec])
    row = index.get(rec.digest)
    assert row is not None
    assert row.payable_amount == Decimal("1234567890123.45")
    assert str(row.payable_amount) == "1234567890123.45"
    assert row.tax_amount == rec.metadata.tax_amount
    assert row.issue_date == dt.date(2024, 1, 15)
    assert row.references == refs
    assert row.flags == ("vkn-checksum:supplier", "issue-time")
    assert (row.supplier_id, row.supplier_scheme, row.customer_id) == (SUP_A, "VKN", CUS_X)
    assert row.signing_time == dt.datetime(2024, 1, 15, 10, 0, tzinfo=UTC)
    assert row.signing_time.utcoffset() == dt.timedelta(0)
    assert row.received_at == rec.received_at and row.received_at.tzinfo is not None
    assert row.signature == signer
    assert (row.edefter_vkn, row.edefter_period_end, row.edefter_entry_count) == (SUP_B, dt.date(2024, 1, 31), 42)
    assert (row.edefter_seal, row.edefter_gib_approved) == ("ab" * 32, False)
    assert (row.size, row.stored_size, row.log_index, row.tenant, row.legal_hold) == (1001, 101, 1, SUP_A, False)
    assert row.signed is True and row.signature_status == "consistent"
    encoded = json.loads(json.dumps(row.to_json()))
    assert encoded["payable_amount"] == "1234567890123.45"
    assert encoded["issue_date"] == "2024-01-15"
    assert encoded["references"] == [{"type": "despatch", "id": refs[0].id, "ettn": refs[0].ettn}]
    assert index.get(digest_of(2)) is None


def test_amounts_keep_their_written_scale_and_precision(index: Index) -> None:
    amounts = [Decimal("100.00"), Decimal(100), Decimal("0.10"), Decimal("12345678901234567890.123456789")]
    index.add([record(i, amount=a) for i, a in enumerate(amounts)])
    for i, a in enumerate(amounts):
        got = index.get(digest_of(i)).payable_amount
        assert got == a and str(got) == str(a)  # same value and same exponent


def test_add_is_idempotent_and_keeps_the_first_version(index: Index) -> None:
    index.add([record(1), record(2)])
    before = index.dump()
    index.add([record(1), record(2)])
    index.add([record(1, amount=Decimal("999.99"))])  # same digest: left as it is
    assert index.dump() == before
    index.add([record(3), record(3)])  # duplicate inside one batch
    assert index.stats().documents == 3
    assert index.get(digest_of(1)).payable_amount == Decimal("118.00")


def test_a_batch_is_one_transaction(index: Index) -> None:
    index.add([record(1)])
    clash = dataclasses.replace(record(2), log_index=1)  # two documents at one log position
    with pytest.raises(IndexFailure):
        index.add([record(3), clash])
    assert index.get(digest_of(3)) is None


def test_naive_datetimes_are_refused_by_records() -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(record(1), received_at=dt.datetime(2024, 1, 1))


# -- searching -------------------------------------------------------------------------


def test_vkn_matches_either_party_and_nothing_else(index: Index) -> None:
    index.add(
        [
            record(1, supplier=SUP_A, customer=CUS_X),
            record(2, supplier=SUP_B, customer=SUP_A),  # SUP_A as customer
            record(3, supplier=SUP_B, customer=CUS_Y),
            record(4, supplier=SUP_A, customer=SUP_A),  # self-billed: one row, not two
            record(5, supplier=SUP_B, customer=None, extra_parties=(Party("delivery-customer", "VKN", SUP_A, None),)),
            record(6, supplier=None, customer=None, kind="yevmiye",
                   edefter=EDefterInfo(SUP_A, dt.date(2024, 1, 1), dt.date(2024, 1, 31), "yevmiye",
                                       None, None, 1, None)),
        ]
    )
    page = index.search(SearchQuery(vkn=SUP_A))
    assert sorted(digests(page)) == sorted(digest_of(n) for n in (1, 2, 4, 5, 6))
    assert len(page.rows) == 5 and page.next_cursor is None
    assert set(digests(index.search(SearchQuery(vkn=CUS_Y)))) == {digest_of(3)}
    assert digests(index.search(SearchQuery(vkn="9999999999"))) == []


def test_date_range_is_inclusive_and_results_are_newest_first(index: Index) -> None:
    days = [dt.date(2024, 1, d) for d in (1, 9, 10, 11, 20, 21, 31)]
    index.add([record(i, issue_date=day) for i, day in enumerate(days)])
    index.add([record(99, issue_date=None)])  # no issue date: never in a date range
    page = index.search(SearchQuery(vkn=SUP_A, date_from=dt.date(2024, 1, 10), date_to=dt.date(2024, 1, 20)))
    assert [r.issue_date for r in page.rows] == [dt.date(2024, 1, 20), dt.date(2024, 1, 11), dt.date(2024, 1, 10)]
    only_to = index.search(SearchQuery(date_to=dt.date(2024, 1, 9)))
    assert [r.issue_date for r in only_to.rows] == [dt.date(2024, 1, 9), dt.date(2024, 1, 1)]
    everything = index.search(SearchQuery())
    assert everything.rows[-1].digest == digest_of(99)  # undated sorts last
    assert [r.issue_date for r in everything.rows[:-1]] == sorted(days, reverse=True)


@pytest.mark.parametrize("with_vkn", [False, True])
def test_each_filter_selects_exactly_its_documents(index: Index, with_vkn: bool) -> None:
    index.add(
        [
            record(1, kind="e-fatura", profile="TEMELFATURA", type_code="SATIS", amount=Decimal("10.00")),
            record(2, kind="e-arsiv", profile="EARSIVFATURA", type_code="SATIS", amount=Decimal("10.01")),
            record(3, kind="e-fatura", profile="TICARIFATURA", type_code="IADE", amount=Decimal("99.99")),
            record(4, kind="e-irsaliye", profile="TEMELIRSALIYE", type_code="SEVK", amount=None,
                   doc_id="IRS2024000000004", ettn="ABCDEF01-2345-4678-9ABC-DEF012345678", tenant=SUP_B),
            record(5, kind="e-fatura", amount=Decimal("100.00"), customer=CUS_Y,
                   signature=SignatureReport(status="invalid", reason="digest mismatch")),
        ]
    )
    vkn = {"vkn": SUP_A} if with_vkn else {}
    n = digest_of
    cases = [
        ({"kind": "e-fatura"}, {n(1), n(3), n(5)}),
        ({"profile": "EARSIVFATURA"}, {n(2)}),
        ({"type_code": "IADE"}, {n(3)}),
        ({"doc_id": "IRS2024000000004"}, {n(4)}),
        ({"ettn": "abcdef01-2345-4678-9abc-def012345678"}, {n(4)}),  # other case than stored
        ({"amount_min": Decimal("10.01")}, {n(2), n(3), n(5)}),
        ({"amount_max": Decimal("10.01")}, {n(1), n(2)}),
        ({"amount_min": Decimal("10.00"), "amount_max": "99.99"}, {n(1), n(2), n(3)}),
        ({"tenant": SUP_B}, {n(4)}),
        ({"signature_status": "invalid"}, {n(5)}),
        ({"signature_status": "pending"}, {n(1), n(2), n(3), n(4)}),
        ({"kind": "e-fatura", "amount_max": Decimal(50)}, {n(1)}),
    ]
    for filters, expected in cases:
        assert search_all(index, **vkn, **filters) == expected, filters


def test_keyset_pages_return_every_row_once_despite_concurrent_inserts(index: Index) -> None:
    rng = random.Random(7)
    start = dt.date(2023, 1, 1)
    # several documents share each day, so pages split inside a day
    original = [record(i, issue_date=start + dt.timedelta(days=rng.randrange(40))) for i in range(300)]
    index.add(original)
    for filters in ({"vkn": SUP_A}, {}, {"kind": "e-fatura", "date_from": dt.date(2023, 1, 5)}):
        q = SearchQuery(limit=7, **filters)
        seen: list[str] = []
        keys: list[tuple[dt.date, str]] = []
        next_new = 10_000 + len(filters) * 1000
        while True:
            page = index.search(q)
            seen.extend(digests(page))
            keys.extend((r.sort_date, r.digest) for r in page.rows)
            # inserts between requests, on both sides of the cursor
            index.add([record(next_new, issue_date=start + dt.timedelta(days=rng.randrange(40))),
                       record(next_new + 1, issue_date=start + dt.timedelta(days=rng.randrange(40)))])
            next_new += 2
            if page.next_cursor is None:
                break
            q = q.after(page.next_cursor)
        assert len(seen) == len(set(seen))
        wanted = {r.digest for r in original if r.metadata.issue_date >= filters.get("date_from", start)}
        assert wanted <= set(seen)
        assert keys == sorted(keys, reverse=True)


def test_last_page_has_no_cursor_and_exact_fit_is_not_followed_by_an_empty_page(index: Index) -> None:
    index.add([record(i) for i in range(10)])
    first = index.search(SearchQuery(limit=5))
    assert len(first.rows) == 5 and first.next_cursor
    second = index.search(SearchQuery(limit=5, cursor=first.next_cursor))
    assert len(second.rows) == 5 and second.next_cursor is None
    assert not set(digests(first)) & set(digests(second))


def test_vkn_and_date_query_is_an_index_range_scan(index: Index) -> None:
    """The benchmarked query must walk the party index and stop early, on SQLite."""
    q = SearchQuery(vkn=SUP_A, date_from=dt.date(2020, 1, 1), date_to=dt.date(2024, 12, 31))
    shape, values = search_parameters(q, 101)
    compiled = search_statement(shape).compile(dialect=sqlite_dialect.dialect())
    bound = compiled.construct_params({**values, "date_from": "2020-01-01", "date_to": "2024-12-31"})
    sql, params = str(compiled), [bound[name] for name in compiled.positiontup]
    with sqlite3.connect(index.url.removeprefix("sqlite:///")) as con:
        plan = [row[3] for row in con.execute("EXPLAIN QUERY PLAN " + sql, params)]
    assert any("COVERING INDEX ix_document_parties_party_id_sort_date_digest" in step for step in plan), plan
    assert any("documents USING INDEX sqlite_autoindex_documents_1 (digest=?)" in step for step in plan), plan
    assert not any("SCAN document_parties" in step or "SCAN documents" in step for step in plan), plan
    assert not any("DISTINCT" in step for step in plan), plan  # dedupe follows the index order


# -- query validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"date_from": dt.date(2024, 2, 1), "date_to": dt.date(2024, 1, 31)},
        {"limit": 0},
        {"limit": 1001},
        {"limit": True},
        {"amount_min": 1.5},
        {"amount_min": "abc"},
        {"amount_min": Decimal("NaN")},
        {"amount_min": Decimal(10), "amount_max": Decimal("9.99")},
        {"kind": "fatura"},
        {"signature_status": "ok"},
        {"cursor": "not-a-cursor"},
        {"vkn": "  "},
        {"date_from": dt.datetime(2024, 1, 1)},
    ],
)
def test_search_query_refuses_nonsense(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SearchQuery(**kwargs)


def test_search_query_normalises_amounts_to_decimal() -> None:
    q = SearchQuery(amount_min=10, amount_max="20.50", limit=1000)
    assert q.amount_min == Decimal(10) and q.amount_max == Decimal("20.50")


# -- signatures, holds, metadata -------------------------------------------------------------


def test_pending_signatures_then_reports(index: Index) -> None:
    index.add([record(i) for i in (3, 1, 2)] + [record(4, signature=SignatureReport(status="unsigned"))])
    assert index.pending_signatures() == [digest_of(1), digest_of(2), digest_of(3)]  # log order
    assert index.pending_signatures(limit=2) == [digest_of(1), digest_of(2)]
    index.set_signature(digest_of(2), SignatureReport(status="consistent", signer_subject="CN=x", references=2))
    index.set_signatures([(digest_of(1), SignatureReport(status="unverifiable", reason="no certificate")),
                          (digest_of(3), SignatureReport(status="invalid", reason="bad digest"))])
    assert index.pending_signatures() == []
    assert index.get(digest_of(1)).signature == SignatureReport(status="unverifiable", reason="no certificate")
    assert index.get(digest_of(2)).signer_subject == "CN=x"
    assert index.stats().by_signature_status == {"invalid": 1, "unsigned": 1, "unverifiable": 1, "consistent": 1}


def test_signature_for_unknown_digest_fails_and_records_nothing(index: Index) -> None:
    index.add([record(1)])
    with pytest.raises(IndexFailure):
        index.set_signatures([(digest_of(1), SignatureReport(status="consistent")),
                              (digest_of(2), SignatureReport(status="consistent"))])
    assert index.pending_signatures() == [digest_of(1)]


def test_legal_hold_retention_ettn_lookup_and_stats(index: Index) -> None:
    shared = "0F0F0F0F-AAAA-4BBB-8CCC-DDDDDDDDDDDD"
    index.add([record(1, ettn=shared), record(2, ettn=shared.lower(), kind="e-arsiv"), record(3)])
    assert index.digests_with_ettn(shared.lower()) == sorted([digest_of(1), digest_of(2)])
    assert index.digests_with_ettn(" " + shared + " ") == sorted([digest_of(1), digest_of(2)])
    index.set_legal_hold(digest_of(1), True)
    later = dt.datetime(2040, 1, 1, tzinfo=UTC)
    index.set_retain_until(digest_of(1), later)
    row = index.get(digest_of(1))
    assert row.legal_hold is True and row.retain_until == later
    with pytest.raises(IndexFailure):
        index.set_legal_hold(digest_of(9), True)
    stats = index.stats()
    assert (stats.documents, stats.bytes_original, stats.bytes_stored) == (3, 1001 + 1002 + 1003, 101 + 102 + 103)
    assert stats.by_kind == {"e-arsiv": 1, "e-fatura": 2}
    assert stats.pending_signatures == 3
    assert json.dumps(stats.to_json())


def test_meta_values_and_reset(index: Index) -> None:
    assert index.meta_get("log-size") is None
    index.meta_set("log-size", "10")
    index.meta_set("log-size", "12")
    assert index.meta_get("log-size") == "12"
    index.add([record(1), record(2, references=(Reference("billing", "ABC1", None),))])
    index.reset()
    assert index.dump() == []
    assert index.meta_get("log-size") is None
    index.add([record(1)])  # the schema is still there
    assert index.stats().documents == 1


# -- derived index: rebuilt equals live ---------------------------------------------------------


def test_dump_is_equal_whatever_the_order_records_arrive_in(tmp_path: Path) -> None:
    records = [
        record(i, supplier=[SUP_A, SUP_B][i % 2], issue_date=dt.date(2024, 1, 1 + i % 28),
               references=(Reference("despatch", f"IRS{i}", None),) if i % 3 == 0 else (),
               flags=("id-pattern",) if i % 5 == 0 else ())
        for i in range(60)
    ]
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)
    a = Index(f"sqlite:///{tmp_path / 'a.sqlite'}")
    b = Index(f"sqlite:///{tmp_path / 'b.sqlite'}")
    for ix in (a, b):
        ix.upgrade()
        ix.meta_set("dictionary:" + SUP_A, "ab" * 32)
    a.add(records)
    for i in range(0, 60, 7):
        b.add(shuffled[i : i + 7])
    a.set_signature(digest_of(4), SignatureReport(status="consistent"))
    b.set_signature(digest_of(4), SignatureReport(status="consistent"))
    dump_a, dump_b = a.dump(), b.dump()
    assert dump_a == dump_b
    assert {d["table"] for d in dump_a} == {"documents", "document_parties", "document_refs", "holdings", "index_meta",
                                               "index_counts"}
    assert json.dumps(dump_a)  # JSON-safe
    # The running totals are what a scan of the rows would say.
    st = a.stats()
    assert (st.documents, st.pending_signatures, st.by_signature_status) == (60, 59, {"pending": 59, "consistent": 1})
    assert st.bytes_original == sum(r.size for r in records) and sum(st.by_kind.values()) == 60
    b.set_legal_hold(digest_of(7), True)  # one fact differs -> dumps differ
    assert a.dump() != b.dump()
    a.close()
    b.close()


# -- schema and migrations ---------------------------------------------------------------------------


def test_migrations_produce_exactly_the_models(index: Index, db_path: Path) -> None:
    index.upgrade()  # idempotent
    engine = sa.create_engine(f"sqlite:///{db_path}")
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        assert compare_metadata(ctx, models_metadata) == []
        # the comparison is able to see a difference
        changed = sa.MetaData()
        for table in models_metadata.sorted_tables:
            table.to_metadata(changed)
        sa.Table("documents", changed, sa.Column("extra", sa.Integer()), extend_existing=True)
        assert any(diff[0] == "add_column" for diff in compare_metadata(ctx, changed))
        versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
    assert versions == ["0013"]
    engine.dispose()


def test_create_all_and_migration_give_the_same_sqlite_schema(index: Index, tmp_path: Path, db_path: Path) -> None:
    other = tmp_path / "create_all.sqlite"
    engine = sa.create_engine(f"sqlite:///{other}")
    models_metadata.create_all(engine)
    engine.dispose()

    def schema(path: Path) -> dict[str, list]:
        with sqlite3.connect(path) as con:
            names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                               "AND name NOT IN ('alembic_version') ORDER BY name")]
            return {
                name: [
                    con.execute(f"PRAGMA table_info('{name}')").fetchall(),
                    # (name, unique, origin, partial): the leading seq is creation order
                    sorted(row[1:] for row in con.execute(f"PRAGMA index_list('{name}')")),
                    sorted(con.execute(f"PRAGMA foreign_key_list('{name}')").fetchall()),
                    {ix[1]: con.execute(f"PRAGMA index_info('{ix[1]}')").fetchall()
                     for ix in con.execute(f"PRAGMA index_list('{name}')")},
                ]
                for name in names
            }

    assert schema(db_path) == schema(other)


def test_schema_and_searches_compile_for_postgresql() -> None:
    """Portable types only: the same models must render on PostgreSQL (no server here)."""
    from sqlalchemy.dialects import postgresql

    pg = postgresql.dialect()
    for table in models_metadata.sorted_tables:
        ddl = str(sa.schema.CreateTable(table).compile(dialect=pg))
        assert "sqlite" not in ddl.lower()
    q = SearchQuery(vkn=SUP_A, date_from=dt.date(2024, 1, 1), date_to=dt.date(2024, 2, 1), kind="e-fatura",
                    amount_min=Decimal(1), cursor=None)
    sql = str(search_statement(search_parameters(q, 101)[0]).compile(dialect=pg))
    assert "SELECT DISTINCT document_parties.sort_date" in sql and "%(vkn)s" in sql


def test_sqlite_runs_in_wal_with_foreign_keys(index: Index, db_path: Path) -> None:
    index.add([record(1)])
    with sqlite3.connect(db_path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # foreign_keys is per connection: check it on the Index's own connections
    with index.db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def test_concurrent_writers_and_readers_on_one_file(db_path: Path, index: Index) -> None:
    """WAL + BEGIN IMMEDIATE + busy timeout: two processes' worth of Index
    objects on one file neither fail with "database is locked" nor lose rows."""
    import threading

    other = Index(f"sqlite:///{db_path}")
    errors: list[BaseException] = []

    def writer(ix: Index, base: int) -> None:
        try:
            for b in range(15):
                ix.add([record(base + b * 10 + i) for i in range(10)])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(60):
                index.search(SearchQuery(vkn=SUP_A, limit=50))
                other.stats()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(index, 0)), threading.Thread(target=writer, args=(other, 1000)),
               threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.close()
    assert errors == []
    assert index.stats().documents == 300


# -- errors stay ours -----------------------------------------------------------------------------------


def test_a_broken_database_file_gives_index_failure(tmp_path: Path) -> None:
    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(b"this is not a database, just bytes\n" * 200)
    ix = Index(f"sqlite:///{broken}")
    with pytest.raises(IndexFailure) as caught:
        ix.upgrade()
    assert isinstance(caught.value.__cause__, sa.exc.SQLAlchemyError)
    for call in (lambda: ix.get(digest_of(1)), lambda: ix.search(SearchQuery(vkn=SUP_A)),
                 lambda: ix.add([record(1)]), ix.stats, ix.dump, ix.pending_signatures):
        with pytest.raises(IndexFailure):
            call()
    ix.close()


def test_a_damaged_page_gives_index_failure(index: Index, db_path: Path) -> None:
    index.add([record(i) for i in range(200)])
    index.close()
    with sqlite3.connect(db_path) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db_path.read_bytes())
    page = 4096
    for offset in range(2 * page, len(data), page):  # keep the header and schema page
        data[offset : offset + 64] = b"\xff" * 64
    db_path.write_bytes(bytes(data))
    ix = Index(f"sqlite:///{db_path}")
    with pytest.raises(IndexFailure):
        ix.dump()
    ix.close()


def test_unusable_urls_give_index_failure(tmp_path: Path) -> None:
    with pytest.raises(IndexFailure):
        Index("nosuchdialect://x/y")
    ix = Index(f"sqlite:///{tmp_path / 'missing-dir' / 'index.sqlite'}")
    with pytest.raises(IndexFailure):
        ix.upgrade()


def test_upgrading_an_index_from_before_holdings_gives_each_document_its_first_holding(index: Index) -> None:
    from alembic import command
    from alembic.config import Config

    from earsiv.indexer.db import MIGRATIONS

    index.add([record(i, tenant=[None, "1111111111"][i % 2]) for i in range(6)])
    index.set_legal_hold(digest_of(2), True)
    before = [r for r in index.dump() if r["table"] == "holdings"]
    assert len(before) == 6
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with index.db.write("downgrade") as conn:  # back to the schema of revision 0001, documents kept
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
        assert "holdings" not in sa.inspect(conn).get_table_names()
        assert conn.scalar(sa.text("SELECT count(*) FROM documents")) == 6
    index.upgrade()
    assert [r for r in index.dump() if r["table"] == "holdings"] == before


def test_a_query_shape_builds_its_statement_once() -> None:
    """The statement cache hits: the same shape is the same statement object, scoped or not."""
    from earsiv.indexer.query import search_parameters as params_of

    scoped = SearchQuery(vkn=SUP_A, tenant="1111111111", tenants=frozenset({"1111111111"}))
    shape, _ = params_of(scoped, 10)
    again, _ = params_of(SearchQuery(vkn=SUP_B, tenant="2222222222", tenants=frozenset({"2222222222"})), 10)
    assert shape == again
    assert search_statement(shape) is search_statement(again)
    info = search_statement.cache_info()
    search_statement(shape)
    assert search_statement.cache_info().hits == info.hits + 1


def test_compliance_queries_give_numbers_in_order_disposables_and_holdings(index: Index) -> None:
    """The serial scan, the disposal rule and a tenant's holdings, on every database (rerun on PostgreSQL)."""
    recs = [record(n, tenant=SUP_A) for n in (1, 2, 3, 6, 7)]
    recs.append(dataclasses.replace(record(7, tenant=SUP_A), digest=digest_of(77), log_index=77))  # number 7 twice
    recs.append(record(9, tenant=SUP_A, issue_date=dt.date(2024, 1, 2)))  # dated before number 7
    recs.append(record(20, supplier=SUP_B, tenant=SUP_B))
    index.add(recs)
    window = [(dt.date(2024, 1, 1), dt.date(2024, 12, 31))]
    rows = [tuple(r) for batch in index.reports.numbers(SUP_A, window) for r in batch]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [("e-fatura", "ABC", 2024, n) for n in (1, 2, 3, 6, 7, 7, 9)]
    assert str(rows[-1][4])[:10] == "2024-01-02"
    assert not list(index.reports.numbers(SUP_A, [(dt.date(2025, 1, 1), dt.date(2025, 12, 31))]))
    # Disposal: past every retention with no hold, and not yet disposed of; a hold keeps one.
    later = T0 + dt.timedelta(days=12 * 366)
    index.set_legal_hold(digest_of(2), True)
    with index.transaction() as w:
        w.set_disposed(digest_of(3), later, 500)
    gone = {x.digest for batch in index.disposal.candidates(later, SUP_A) for x in batch}
    assert gone == {digest_of(n) for n in (1, 6, 7, 77, 9)}
    assert not list(index.disposal.candidates(T0, None))  # nothing before its retention ends
    assert index.disposal.still_disposable([digest_of(1), digest_of(2), digest_of(20)], later, SUP_A) == {digest_of(1)}
    assert set(index.disposal.disposed([digest_of(3), digest_of(1)])) == {digest_of(3)}
    # A tenant's holdings in log order, a page at a time.
    first = index.held_by(SUP_A, -1, 4)
    rest = index.held_by(SUP_A, first[-1][0], 100)
    assert [r.digest for _h, r in first + rest] == [digest_of(n) for n in (1, 2, 3, 6, 7, 9, 77)]


# -- take-away jobs (indexer/jobdb.py): kept in the index so that every serve node sees them -----


def _job(job_id: str, principal: str = "acc", node: str = "n1", at: dt.datetime | None = None):
    from earsiv.indexer.jobdb import JobRow

    at = at or dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)
    return JobRow(id=job_id, principal=principal, kind="zip-xml", query="{}", label="x", state="queued", done=0,
                  total=None, skipped=0, node=node, created_at=at, heartbeat_at=at, finished_at=None,
                  expires_at=None, size=None, sha256=None, error=None, digests=None, event=None)


def test_jobs_are_capped_per_principal_claimed_once_by_their_node_and_left_out_of_the_dump(index):
    t0 = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)
    assert index.jobs.add(_job("a" * 32, at=t0), cap=2) == 0
    assert index.jobs.add(_job("b" * 32, at=t0 + dt.timedelta(seconds=1)), cap=2) == 1
    assert index.jobs.add(_job("c" * 32), cap=2) == 2  # refused: two are queued
    assert index.jobs.get("c" * 32) is None
    assert index.jobs.add(_job("d" * 32, principal="other", at=t0 + dt.timedelta(seconds=2)), cap=2) == 0  # its own count
    assert index.jobs.claim("n2", t0) is None  # queued on n1: n2 never takes it (its result is n1's file)
    first = index.jobs.claim("n1", t0)
    assert first.id == "a" * 32 and first.state == "running"
    assert [index.jobs.claim("n1", t0).id for _ in range(2)] == ["b" * 32, "d" * 32]  # oldest first
    assert index.jobs.claim("n1", t0) is None
    assert [r.id for r in index.jobs.of("acc")] == ["b" * 32, "a" * 32]  # newest first
    assert not any(row["table"] == "jobs" for row in index.dump())  # no fact about the archive


def test_running_jobs_of_a_restarted_or_silent_node_fail_and_finished_ones_expire(index):
    t0 = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)
    later = t0 + dt.timedelta(hours=1)
    for job_id, node in (("a" * 32, "n1"), ("b" * 32, "n2"), ("c" * 32, "n2")):
        index.jobs.add(_job(job_id, principal=job_id, node=node, at=t0), cap=1)
        index.jobs.claim(node, t0)
    assert index.jobs.progress("a" * 32, 1, 3, 0, t0)
    assert index.jobs.fail_running("restarted", t0, later, node="n1") == 1
    assert (index.jobs.get("a" * 32).state, index.jobs.get("a" * 32).error) == ("failed", "restarted")
    assert not index.jobs.progress("a" * 32, 2, 3, 0, t0)  # a failed job's worker is told to stop
    index.jobs.touch("n2", t0 + dt.timedelta(minutes=10))
    assert index.jobs.finish("c" * 32, size=5, sha256="0" * 64, done=3, skipped=0, error=None,
                             now=t0 + dt.timedelta(minutes=10), expires_at=later)
    assert index.jobs.fail_running("gone", t0, later, silent_since=t0 + dt.timedelta(minutes=5)) == 0  # touched
    assert index.jobs.fail_running("gone", t0, later, silent_since=t0 + dt.timedelta(minutes=15)) == 1
    assert index.jobs.get("b" * 32).state == "failed"
    assert index.jobs.expire(later - dt.timedelta(seconds=1), "n2") == []
    assert sorted(index.jobs.expire(later, "n2")) == ["b" * 32, "c" * 32]  # their results were n2's files
    assert {index.jobs.get(j).state for j in ("a" * 32, "b" * 32, "c" * 32)} == {"expired"}
    assert index.jobs.get("c" * 32).size is None
    assert index.jobs.forget(later + dt.timedelta(seconds=1)) == 3
    assert index.jobs.delete("a" * 32) is False
