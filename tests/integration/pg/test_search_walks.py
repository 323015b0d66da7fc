"""A scoped search reads what its scope holds, not the archive: counted by PostgreSQL itself.

Before the holdings ``(tenant, sort_date, digest)`` index, a text search within a tenant and a
year walked every document of the period newest first and checked each one's holding and words
(2.6 s at 1,000,000 documents): the cost followed the archive.  Here a small tenant among many
documents asks words within a year, and the tuples the statement read (its own transaction's
counters, ``pg_stat_get_xact_tuples_*``, for every table and index it could touch) must stay
within a bound set by what the tenant holds.  An inspector's window (one VKN in a period) the
same, through the parties' ``(party_id, sort_date, digest)`` index.  No timing: counts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
import sqlalchemy as sa

from earsiv.documents.metadata import DocumentMetadata, Party
from earsiv.documents.textterms import DocumentText
from earsiv.indexer.db import Index
from earsiv.indexer.models import document_parties, document_text, documents, holdings
from earsiv.indexer.query import SearchQuery, search_parameters, search_statement
from earsiv.indexer.records import IndexRecord
from earsiv.indexer.rows import document_values, holding_values, party_values
from earsiv.indexer.textsql import tsvector_literal

UTC = dt.UTC
DOCS = 30_000
SMALL = "1111111111"  # holds every 500th document
BIG = "2222222222"  # holds all the others
INSPECTED = "3333333333"  # the customer of every 400th document
YEAR = {"date_from": dt.date(2022, 1, 1), "date_to": dt.date(2022, 12, 31)}


def _records() -> list[IndexRecord]:
    out = []
    for i in range(DOCS):
        day = dt.date(2021, 1, 1) + dt.timedelta(days=i % 1460)
        customer = INSPECTED if i % 400 == 0 else f"44444{i % 97:05d}"
        meta = DocumentMetadata(kind="e-fatura", root="Invoice", namespace=None, doc_id=f"WLK{i:06d}", issue_date=day,
                                parties=(Party("supplier", "VKN", "5555555555", None), Party("customer", "VKN", customer, None)))
        received = dt.datetime(2025, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=i)
        out.append(IndexRecord(
            digest=hashlib.sha256(b"walk %d" % i).hexdigest(), size=100, stored_size=10, dict_digest=None,
            log_index=i, received_at=received, retain_until=received + dt.timedelta(days=4000), legal_hold=False,
            tenant=SMALL if i % 500 == 0 else BIG, source_name=None, metadata=meta,
            # every document has the word: the words never narrow the walk, only the key can
            text=DocumentText("YILDIZ GIDA ANONİM ŞİRKETİ", "domates biber")))
    return out


def _copy(ix: Index, records: list[IndexRecord]) -> None:
    """The rows ``Index.add`` writes, sent with COPY: 30,000 documents in seconds, not a minute."""
    tables = {documents: [document_values(r) for r in records],
              document_parties: [p for r in records for p in party_values(r)],
              holdings: [holding_values(r) for r in records],
              document_text: [{"digest": r.digest, "terms": tsvector_literal(r.text)} for r in records]}
    raw = ix.db.engine.raw_connection()
    try:
        with raw.cursor() as cur:
            for table, rows in tables.items():
                names = [c.name for c in table.columns]
                json_cols = {c.name for c in table.columns if isinstance(c.type, sa.JSON)}
                with cur.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as cp:
                    for row in rows:
                        cp.write_row([json.dumps(row[c]) if c in json_cols and row.get(c) is not None else row.get(c)
                                      for c in names])
        raw.commit()
    finally:
        raw.close()


@pytest.fixture(scope="module")
def index(pg_cluster):
    url = pg_cluster.create_database("search_walks")
    ix = Index(url)
    ix.upgrade()
    records = _records()
    ix.add(records[:100])  # the ordinary way, so the COPY below is checked against it
    _copy(ix, records[100:])
    with ix.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    ix.records = records
    yield ix
    ix.close()
    pg_cluster.drop_database("search_walks")


_READ = sa.text("""
    SELECT coalesce(sum(pg_stat_get_xact_tuples_returned(c.oid) + pg_stat_get_xact_tuples_fetched(c.oid)), 0)
    FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'i')
""")


def _tuples_read(ix: Index, q: SearchQuery) -> tuple[int, int]:
    """(rows found, tuples read) by one search statement, counted in its own transaction."""
    shape, params = search_parameters(q, q.limit + 1)
    with ix.db.engine.connect() as conn, conn.begin():
        # The backend's counters not yet flushed to the statistics hold earlier transactions' too.
        before = int(conn.execute(_READ).scalar_one())
        rows = conn.execute(search_statement(shape), params).all()
        return len(rows), int(conn.execute(_READ).scalar_one()) - before


def _expected(ix: Index, keep) -> int:
    return sum(1 for r in ix.records if keep(r))


def _in(day: dt.date | None, start: dt.date, end: dt.date) -> bool:
    return day is not None and start <= day <= end


def test_a_small_tenants_text_search_reads_what_the_tenant_holds(index) -> None:
    found, read = _tuples_read(index, SearchQuery(text="yıldız", tenants=frozenset({SMALL}), **YEAR))
    assert found == _expected(index, lambda r: r.tenant == SMALL and _in(r.metadata.issue_date, *YEAR.values())) > 10
    # ~15 holdings, their words and rows, a few index pages (106 read when written); the period
    # alone is 7,500 documents.
    assert read < 200, read
    # The counter sees a walk of the archive: the same words within the period, no tenant.
    found, read = _tuples_read(index, SearchQuery(text="yıldız", limit=1000, **YEAR))
    assert found == 1001
    assert read > 2000, read


def test_the_same_with_the_tenant_filter_and_two_tenants(index) -> None:
    found, read = _tuples_read(index, SearchQuery(text="gıda", tenant=SMALL))
    assert found == _expected(index, lambda r: r.tenant == SMALL)
    assert read < 600, read
    since = dt.date(2023, 1, 1)
    found, read = _tuples_read(index, SearchQuery(text="gıda", tenants=frozenset({SMALL, "9999999999"}), date_from=since))
    assert found == _expected(index, lambda r: r.tenant == SMALL and r.metadata.issue_date >= since)
    assert read < 300, read


def test_an_inspectors_window_reads_what_the_vkn_names(index) -> None:
    window = ((INSPECTED, *YEAR.values()),)
    found, read = _tuples_read(index, SearchQuery(text="domates", windows=window))
    assert found == _expected(index, lambda r: any(p.id == INSPECTED for p in r.metadata.parties)
                              and _in(r.metadata.issue_date, *YEAR.values())) > 10
    assert read < 500, read


def _plan_indexes(ix: Index, q: SearchQuery) -> set[str]:
    """The indexes PostgreSQL's plan for *q*'s statement scans (EXPLAIN, values bound as the search binds them)."""
    shape, params = search_parameters(q, q.limit + 1)
    stmt = search_statement(shape).params(**params)
    sql = stmt.compile(dialect=ix.db.engine.dialect, compile_kwargs={"literal_binds": True, "render_postcompile": True})
    with ix.db.engine.connect() as conn:
        plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}").scalar_one()

    def walk(node: dict) -> set[str]:
        return ({node["Index Name"]} if "Index Name" in node else set()).union(*(walk(n) for n in node.get("Plans", ())))
    return walk(plan[0]["Plan"])


def test_the_walks_are_the_keys_indexes(index) -> None:
    """The statement a tenant's or a window's search becomes starts from its key's index, never the documents' walk."""
    tenant = _plan_indexes(index, SearchQuery(text="yıldız", tenants=frozenset({SMALL}), **YEAR))
    assert "ix_holdings_tenant_sort_date_digest" in tenant
    window = _plan_indexes(index, SearchQuery(text="domates", windows=((INSPECTED, *YEAR.values()),)))
    assert "ix_document_parties_party_id_sort_date_digest" in window
    for indexes in (tenant, window):
        assert "ix_documents_sort_date_digest" not in indexes
