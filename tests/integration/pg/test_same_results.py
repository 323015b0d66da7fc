"""The same facts in SQLite and in PostgreSQL give the same answers.

One varied data set (parties in several roles, self-billing, undated
documents, many documents per day, Turkish names, amounts with different
scales, tenants, signature reports, legal holds, longer retention) is
indexed into both databases in different batch orders.  Then a battery of
``SearchQuery`` combinations is paged through on both: every page must hold
equal ``DocumentRow`` values in the same order with the same next cursor, and
a cursor handed out by one database must continue identically on the other.
The dumps (invariant 5) and every other read must agree too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import random
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from earsiv.documents.metadata import EDefterInfo, Party, Reference, SignatureReport
from earsiv.indexer.db import Index
from earsiv.indexer.query import SearchQuery
from tests.helpers.postgres import PostgresCluster
from tests.unit.indexer.test_db import digest_of, record

UTC = dt.UTC
VKNS = [f"90000000{i:02d}" for i in range(12)]
KINDS = ["e-fatura", "e-arsiv", "e-irsaliye", "e-smm"]
PROFILES = ["TEMELFATURA", "TICARIFATURA", "EARSIVFATURA", None]
TYPES = ["SATIS", "IADE", "TEVKIFAT", None]
N = 700


def _dataset() -> list:
    rng = random.Random(2024)
    out = []
    for i in range(N):
        supplier = rng.choice(VKNS)
        customer = rng.choice(VKNS + [None, f"1{i:010d}"])  # some TCKN one-offs, some without a customer
        extra = ()
        if i % 17 == 0:
            extra = (Party("delivery-customer", "VKN", rng.choice(VKNS), "Teslim Alan Şirketi"),)
        if i % 23 == 0:
            customer = supplier  # self-billed: the VKN twice in one document
        day = None if i % 41 == 0 else dt.date(2023, 1, 1) + dt.timedelta(days=rng.randrange(400))
        amount = None if i % 13 == 0 else Decimal(rng.randrange(0, 10**11)).scaleb(-rng.choice((0, 2, 4)))
        if i % 11 == 0:
            amount = Decimal(f"{rng.randrange(10**6)}.0000")  # scale kept: 5.0000 is not 5
        signature = None
        if i % 5 == 1:
            signature = SignatureReport(status="consistent", signer_subject="CN=Ömer Çağlar İşgüzar", references=2,
                                        signing_time=dt.datetime(2024, 1, 1, 12, tzinfo=UTC) + dt.timedelta(hours=i),
                                        details=("chain ok",))
        elif i % 5 == 2:
            signature = SignatureReport(status="invalid", reason="digest mismatch")
        edefter = None
        kind = rng.choice(KINDS)
        if i % 29 == 0:
            kind = "yevmiye"
            edefter = EDefterInfo(supplier, dt.date(2024, 1, 1), dt.date(2024, 1, 31), "yevmiye", f"Y{i}", None,
                                  i, "cd" * 32)
        out.append(
            record(
                i,
                supplier=supplier,
                customer=customer,
                issue_date=day,
                kind=kind,
                profile=rng.choice(PROFILES),
                type_code=rng.choice(TYPES),
                doc_id=f"ABC2024{i % 97:09d}",  # IDs repeat across documents
                ettn=f"{i % 311:08X}-0000-4000-8000-{i:012x}",
                amount=amount,
                tenant=rng.choice([None, VKNS[0], VKNS[1]]),
                signature=signature,
                references=((Reference("despatch", f"IRS{i % 50}", None),) if i % 4 == 0 else ())
                + ((Reference("invoice", None, f"{(i // 2) % 311:08x}-0000-4000-8000-{i // 2:012X}"),) if i % 6 == 0 else ())
                + ((Reference("invoice", f"ABC2024{(i + 1) % 97:09d}", None),) if i % 10 == 0 else ()),
                flags=("id-pattern",) if i % 9 == 0 else (),
                extra_parties=extra,
                edefter=edefter,
            )
        )
    return out


def _fill(ix: Index, records: list, seed: int) -> None:
    ix.upgrade()
    shuffled = records[:]
    random.Random(seed).shuffle(shuffled)
    step = 37 + seed
    for i in range(0, len(shuffled), step):
        ix.add(shuffled[i : i + step])
    ix.set_signatures([(digest_of(i), SignatureReport(status="unverifiable", reason="no cert"))
                       for i in range(3, N, 50)])
    for i in range(0, N, 61):
        ix.set_legal_hold(digest_of(i), True)
        ix.set_retain_until(digest_of(i), dt.datetime(2045, 6, 30, 21, tzinfo=UTC))
    ix.meta_set("log_size", str(N))


@pytest.fixture(scope="module")
def both(pg_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Index, Index]]:
    records = _dataset()
    lite = Index(f"sqlite:///{Path(tmp_path_factory.mktemp('same')) / 'index.sqlite'}")
    name = "same_results"
    pg = Index(pg_cluster.create_database(name))
    _fill(lite, records, 1)
    _fill(pg, records, 2)
    yield lite, pg
    lite.close()
    pg.close()
    pg_cluster.drop_database(name)


def _queries() -> list[dict]:
    rng = random.Random(99)
    dates = [None, dt.date(2023, 3, 1), dt.date(2023, 6, 15), dt.date(2024, 1, 31)]
    filters = {
        "vkn": [VKNS[0], VKNS[3], "1000000000" + "7"],
        "kind": KINDS + ["yevmiye"],
        "profile": ["TICARIFATURA", "EARSIVFATURA"],
        "type_code": ["IADE", "SATIS"],
        "doc_id": ["ABC2024000000005"],
        "ettn": ["0000000a-0000-4000-8000-00000000000a", "0000000A-0000-4000-8000-000000000141"],
        "amount_min": [Decimal(0), Decimal("123456.78"), Decimal(500000000)],
        "amount_max": [Decimal("0.5"), Decimal("999999.9999"), Decimal(700000000)],
        "tenant": [VKNS[0], VKNS[1]],
        "signature_status": ["pending", "consistent", "invalid", "unverifiable"],
    }
    out: list[dict] = [{}]
    out += [{name: v} for name, values in filters.items() for v in values]
    for a, b in itertools.combinations(filters, 2):
        out.append({a: rng.choice(filters[a]), b: rng.choice(filters[b])})
    for _ in range(40):
        q = {name: rng.choice(values) for name, values in filters.items() if rng.random() < 0.3}
        out.append(q)
    with_dates = []
    for q in out:
        lo, hi = rng.choice(dates), rng.choice(dates)
        if lo and hi and lo > hi:
            lo, hi = hi, lo
        with_dates.append({**q, "date_from": lo, "date_to": hi})
    queries = out + with_dates
    for q in queries:
        if "amount_min" in q and "amount_max" in q and q["amount_min"] > q["amount_max"]:
            q["amount_min"], q["amount_max"] = q["amount_max"], q["amount_min"]
    return queries


QUERIES = _queries()


def _pages(ix: Index, q: SearchQuery) -> list:
    pages = []
    while True:
        page = ix.search(q)
        pages.append(page)
        if page.next_cursor is None:
            return pages
        q = q.after(page.next_cursor)


def test_the_search_battery_is_not_trivial(both: tuple[Index, Index]) -> None:
    lite, _ = both
    sizes = [sum(len(p.rows) for p in _pages(lite, SearchQuery(limit=1000, **q))) for q in QUERIES]
    assert len(QUERIES) > 150
    assert sum(1 for n in sizes if n > 0) > 120  # most queries find something
    assert sum(1 for n in sizes if n > 20) > 40  # many span several pages at limit 7
    assert max(sizes) == N


@pytest.mark.parametrize(("limit", "queries"), [(7, QUERIES[::4]), (100, QUERIES)], ids=["limit-7", "limit-100"])
def test_every_page_is_the_same_on_both_databases(both: tuple[Index, Index], limit: int, queries: list) -> None:
    lite, pg = both
    for filters in queries:
        q = SearchQuery(limit=limit, **filters)
        a, b = _pages(lite, q), _pages(pg, q)
        assert [p.next_cursor for p in a] == [p.next_cursor for p in b], filters
        for pa, pb in zip(a, b, strict=True):
            assert pa.rows == pb.rows, filters  # whole rows: values, types, order
        keys = [(r.sort_date, r.digest) for p in a for r in p.rows]
        assert keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys), filters


def test_a_cursor_from_one_database_continues_on_the_other(both: tuple[Index, Index]) -> None:
    lite, pg = both
    for filters in QUERIES[:: 5]:
        q = SearchQuery(limit=5, **filters)
        first = lite.search(q)
        if first.next_cursor is None:
            continue
        assert pg.search(q.after(first.next_cursor)) == lite.search(q.after(first.next_cursor))


def test_rows_keep_exact_values_on_both(both: tuple[Index, Index]) -> None:
    lite, pg = both
    records = _dataset()
    for rec in records[:: 7]:
        a, b = lite.get(rec.digest), pg.get(rec.digest)
        assert a == b
        assert a.payable_amount == rec.metadata.payable_amount
        assert str(b.payable_amount) == str(rec.metadata.payable_amount)  # same exponent: 5.00 stays 5.00
        assert b.received_at == rec.received_at and b.received_at.tzinfo is UTC
    assert any(str(r.metadata.payable_amount).endswith(".0000") for r in records if r.metadata.payable_amount)


def test_dumps_stats_and_lookups_agree(both: tuple[Index, Index]) -> None:
    lite, pg = both
    dump = lite.dump()
    assert dump == pg.dump()
    assert len([row for row in dump if row["table"] == "documents"]) == N
    assert lite.stats() == pg.stats()
    assert lite.pending_signatures(limit=50) == pg.pending_signatures(limit=50)
    ettns = [f"{i:08X}-0000-4000-8000-{i:012x}" for i in range(40)]
    assert lite.digests_with_ettns(ettns) == pg.digests_with_ettns(ettns)
    assert lite.digests_with_ettn(ettns[3].lower()) == pg.digests_with_ettn(ettns[3]) != []
    digests = [digest_of(i) for i in range(0, N + 20, 3)]
    assert lite.kinds_of(digests) == pg.kinds_of(digests)
    assert lite.meta_get("log_size") == pg.meta_get("log_size") == str(N)


def test_related_documents_agree(both: tuple[Index, Index]) -> None:
    """What a document page links (references by ETTN and by number, who names it, e-Defter seals)."""
    lite, pg = both
    kinds: set[str] = set()
    for i in range(0, N, 2):
        row = lite.get(digest_of(i))
        found = lite.related(row)
        assert found == pg.related(pg.get(digest_of(i))), i
        kinds.update(how for how, _d in found)
    assert kinds == {"names", "named-by", "seal"}


def test_one_fact_changed_on_one_side_is_seen(both: tuple[Index, Index]) -> None:
    """The comparisons above can fail: one legal hold more on the PG side is seen."""
    lite, pg = both
    page = SearchQuery(limit=1000)
    assert not pg.get(digest_of(1)).legal_hold
    pg.set_legal_hold(digest_of(1), True)
    try:
        assert lite.dump() != pg.dump()
        assert lite.search(page).rows != pg.search(page).rows
    finally:
        pg.set_legal_hold(digest_of(1), False)
    assert lite.dump() == pg.dump()


def test_dataset_has_the_edge_cases_it_claims() -> None:
    records = _dataset()
    assert any(r.metadata.issue_date is None for r in records)
    assert any(r.metadata.customer and r.metadata.supplier and r.metadata.customer.id == r.metadata.supplier.id
               for r in records)
    days = [r.metadata.issue_date for r in records if r.metadata.issue_date]
    assert len(days) - len(set(days)) > 100  # many documents share a day: pages split inside days
    assert dataclasses.is_dataclass(records[0])
