"""The find page's lists (``ArchiveService.find``) on both databases and both full-text engines.

The database sorts, pages and totals a list (``Index.ordered``), and whole rows are read for the
page shown only; past ``FIND_MAX`` its count and totals come from SQL aggregates.  Checked here
against a find in Python (every match read as a whole row and sorted by Python's own comparisons,
kept below as ``_python_find``) on the shared corpus and on synthetic invoices with several
currencies, odd amounts, Turkish names and equal dates: the rows shown, their order, the count and
the totals per currency must be equal.  And what is read: whole rows for the page only, no row of
the list, the same statements at two archive sizes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import re
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

import earsiv.indexer.db as indexdb
from earsiv.archive import service_web
from earsiv.archive.access import Principal
from earsiv.archive.archive import Archive
from earsiv.archive.config import ENV_DB
from earsiv.archive.ingest import Source
from earsiv.archive.service import ArchiveService
from earsiv.archive.service_web import SORTS
from earsiv.archive.sources import expand
from earsiv.indexer.query import SearchQuery
from earsiv.indexer.sortkeys import text_key
from tests.conftest import corpus_files
from tests.helpers.synthetic import CUSTOMER, SUPPLIERS, invoice

TENANT = CUSTOMER
NAMES = ("Örnek Tedarikçi A.Ş.", "İSTANBUL Kırtasiye Ltd.", "ışık gıda", "", "Çelik Yapı", "Cem Ltd", "Istanbul Işık",
         "ozan ticaret", "Zeki Ltd", "  Ümit Gıda")
# Amounts as a document may write them: several scales, a sign, an exponent, 27 digits, none at all,
# and 18 digits, the most SQLite adds as integers (27 of them overflow one 64-bit sum, not two halves).
AMOUNTS = ("100.50", "7", "0.001", "-12.00", "1.5E+3", "1234567890123456789012345.25", "99999.9", None,
           "999999999999999999")
CURRENCIES = ("TRY", "USD", "EUR", "TRY", None)


def _synthetic(n: int) -> bytes:
    """Invoice *n*: a supplier, a name, an amount and a currency of the lists above, ten a day."""
    data = invoice(n, supplier=SUPPLIERS[n % 3], day=dt.date(2025, 1, 1) + dt.timedelta(days=n // 10)).decode()
    data = data.replace("Örnek Tedarikçi A.Ş.", NAMES[n % len(NAMES)])
    if n % 3 == 0:  # a time of issue: equal dates ordered by it
        data = data.replace("</cbc:IssueDate>", f"</cbc:IssueDate><cbc:IssueTime>{n % 24:02d}:00:00</cbc:IssueTime>")
    amount, currency = AMOUNTS[n % len(AMOUNTS)], CURRENCIES[n % len(CURRENCIES)]
    payable = f"<cbc:PayableAmount currencyID=\"TRY\">{100 + n}.50</cbc:PayableAmount>"
    if amount is None:
        data = data.replace(payable, "")
    else:
        cur = f' currencyID="{currency}"' if currency else ""
        data = data.replace(payable, f"<cbc:PayableAmount{cur}>{amount}</cbc:PayableAmount>")
    data = re.sub(r"<cbc:DocumentCurrencyCode>TRY</cbc:DocumentCurrencyCode>",
                  f"<cbc:DocumentCurrencyCode>{currency}</cbc:DocumentCurrencyCode>" if currency else "", data)
    return data.encode()


def _ingest(arch: Archive, sources: list[Source]) -> None:
    results = list(arch.ingest(sources, tenant=TENANT))
    assert sum(r.status == "stored" for r in results) > 0.9 * len(sources)
    arch.text.catch_up()


def _open(kind: str, home: Path, request: pytest.FixtureRequest, mp: pytest.MonkeyPatch) -> Archive:
    mp.delenv(ENV_DB, raising=False)
    if kind == "postgresql":
        cluster = request.getfixturevalue("pg_cluster")
        name = f"find_{home.name}"
        mp.setenv(ENV_DB, cluster.create_database(name))
        request.addfinalizer(lambda: cluster.drop_database(name))
    return Archive.init(home)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    with pytest.MonkeyPatch.context() as mp:
        home = tmp_path_factory.mktemp(f"lists_{request.param}")
        arch = _open(request.param, home, request, mp)
        try:
            _ingest(arch, [*expand(corpus_files()), *(Source(f"syn{n}.xml", _synthetic(n)) for n in range(240))])
            ac = arch.access
            acc = ac.add_principal("acc", "accountant", (TENANT,), by="test")
            insp = ac.add_principal("insp", "inspector", (), by="test")
            ac.add_grant("insp", SUPPLIERS[1], dt.date(2025, 1, 1), dt.date(2025, 12, 31),
                         dt.datetime.now(dt.UTC) + dt.timedelta(days=1), "VDK 2026/1", by="test")
            yield {"service": ArchiveService(arch), "who": {"acc": acc, "insp": insp, "admin": Principal("ops", "admin")}}
        finally:
            arch.close()


# sort -> the key Python compares (None: no value, last either way round); amounts as Decimals, names by
# the Turkish alphabetical order (``text_key``, whose order its unit tests check letter by letter).
PY_KEYS = {
    "date": lambda r: None if r.issue_date is None else (r.issue_date, r.issue_time or ""),
    "id": lambda r: text_key(r.doc_id),
    "kind": lambda r: r.kind or None,
    "supplier": lambda r: text_key(r.supplier_name or r.supplier_id),
    "customer": lambda r: text_key(r.customer_name or r.customer_id),
    "amount": lambda r: None if r.payable_amount is None else (r.currency or "", r.payable_amount),
    "received": lambda r: r.log_index,
}


def _python_find(svc: ArchiveService, who: Principal, q: SearchQuery, sort: str, descending: bool, offset: int,
                 page_size: int, find_max: int) -> tuple[list, int, dict[str, Decimal], bool, list[str]]:
    """The find in Python: every match up to *find_max* read as a whole row (the engine's order: newest,
    or full text's best), sorted by ``PY_KEYS``, equal keys newest first."""
    asked = dataclasses.replace(q, cursor=None)
    scoped, _grants = svc.archive.access.scoped(who, dataclasses.replace(asked, limit=1000))
    rows: list = []
    page_q = scoped
    while len(rows) <= find_max:
        page = svc.archive.search(page_q)
        rows.extend(page.rows)
        if not page.next_cursor:
            break
        page_q = page_q.after(page.next_cursor)
    cut = len(rows) > find_max
    rows = rows[:find_max]
    totals: dict[str, Decimal] = {}
    with decimal.localcontext(prec=decimal.MAX_PREC):  # exact, past the default context's 28 digits
        for r in rows:
            if r.payable_amount is not None:
                cur = r.currency or "?"
                totals[cur] = totals.get(cur, Decimal(0)) + r.payable_amount
    key = PY_KEYS[sort]
    newest = sorted(rows, key=lambda r: (r.sort_date, r.digest), reverse=True)
    present = sorted((r for r in newest if key(r) is not None), key=key, reverse=descending)  # stable: ties newest
    ordered = present + [r for r in newest if key(r) is None]
    shown = ordered[offset: offset + page_size]
    return (list(svc.disclosure.rows(who, shown, asked)), len(rows), dict(sorted(totals.items())), cut,
            [r.digest for r in ordered])


QUERIES = (
    SearchQuery(),
    SearchQuery(vkn=SUPPLIERS[1]),
    SearchQuery(vkn=SUPPLIERS[2], date_from=dt.date(2025, 1, 5), date_to=dt.date(2025, 1, 20)),
    SearchQuery(supplier=SUPPLIERS[0], amount_min=Decimal(0)),
    SearchQuery(kind="e-fatura"),
    SearchQuery(text="kırtasiye"),
    SearchQuery(text="istanbul", vkn=SUPPLIERS[1]),
    SearchQuery(text="fatura"),
)


def _exact(totals: dict[str, Decimal]) -> dict[str, str]:
    return {k: str(v) for k, v in totals.items()}  # equal values and equal exponents (what the page prints)


def test_lists_equal_those_sorted_in_python(world) -> None:
    svc = world["service"]
    compared = 0
    for name, who in world["who"].items():
        for q in QUERIES:
            for sort in SORTS:
                for descending, offset in ((True, 0), (False, 0), (True, 50)):
                    py_rows, py_count, py_totals, py_cut, _ = _python_find(svc, who, q, sort, descending, offset, 50,
                                                                            service_web.FIND_MAX)
                    found = svc.find(who, q, sort=sort, descending=descending, offset=offset, page_size=50)
                    where = (name, q, sort, descending, offset)
                    assert [r.digest for r in found.rows] == [r.digest for r in py_rows], where
                    assert found.rows == py_rows, where
                    assert (found.count, found.cut, found.listed) == (py_count, py_cut, py_count), where
                    assert _exact(found.totals) == _exact(py_totals), where
                    compared += bool(py_rows)
    assert compared > 300  # most combinations show rows: the comparison is not of empty pages


def test_past_the_cap_count_and_totals_are_of_the_listed_or_when_asked_of_every_match(world, monkeypatch) -> None:
    svc = world["service"]
    on_pg = svc.archive.index.db.dialect.name == "postgresql"
    monkeypatch.setattr(service_web, "FIND_MAX", 60)
    seen_cut = 0
    for name, who in world["who"].items():
        for q in QUERIES:
            for sort in ("amount", "supplier", "date"):
                py_rows, py_count, py_totals, py_cut, _ = _python_find(svc, who, q, sort, False, 50, 50, 60)
                _r, all_count, all_totals, _c, _o = _python_find(svc, who, q, sort, False, 0, 1, 10**9)
                where = (name, q, sort)
                found = svc.find(who, q, sort=sort, descending=False, offset=50, page_size=50)
                assert found.rows == py_rows and found.cut == py_cut and found.listed == py_count, where
                assert (found.count, _exact(found.totals), found.counted) == (py_count, _exact(py_totals), False)
                countable = py_cut and name != "insp" and (q.text is None or on_pg)
                assert found.countable == countable, where
                asked = svc.find(who, q, sort=sort, descending=False, offset=50, page_size=50, count_all=True)
                assert asked.rows == py_rows and asked.counted == countable, where
                if countable:  # every match, from count(*) and grouped sums
                    assert (asked.count, _exact(asked.totals)) == (all_count, _exact(all_totals)), where
                    seen_cut += all_count > 60
                else:
                    assert (asked.count, _exact(asked.totals)) == (py_count, _exact(py_totals)), where
    assert seen_cut >= 6


def test_the_page_says_when_the_order_covers_only_the_newest(world, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from earsiv.api.http import create_app
    from tests.helpers.web import sign_in

    svc = world["service"]
    if svc.archive.index.db.dialect.name != "sqlite":
        pytest.skip("the page's words do not depend on the database; the SQLite home serves them")
    monkeypatch.setattr(service_web, "FIND_MAX", 60)
    token = svc.archive.access.create_token("acc", by="test").token
    with TestClient(create_app(svc.archive.home), base_url="http://127.0.0.1") as client:
        sign_in(client, token)
        page = client.get("/ui/documents", params={"all": "1", "sort": "amount"}).text
        heading = re.search(r'<h2 id="results">(.*?)</h2>', page, re.DOTALL)[1]
        assert heading.startswith("60 belge (ilk 60)"), heading
        assert 'id="cut"' in page and "en yeni 60 belgeyi" in page and "Sayfa 1 / 2" in page
        link = re.search(r'<a id="count-all" href="([^"]+)"', page)[1].replace("&amp;", "&")
        assert "all=1" in link and "count=all" in link
        counted = client.get(link).text
        total = len(_python_find(svc, world["who"]["acc"], SearchQuery(), "date", True, 0, 1, 10**9)[4])
        heading = re.search(r'<h2 id="results">(.*?)</h2>', counted, re.DOTALL)[1]
        assert heading.startswith(f"{total} belge<"), heading
        assert 'id="count-all"' not in counted and "Sayfa 1 / 2" in counted
        # the next page of "list all" is still a list, and still counted
        next_page = re.search(r'<a rel="next" href="([^"]+)"', counted)[1].replace("&amp;", "&")
        assert "all=1" in next_page and "count=all" in next_page
        small = client.get("/ui/documents", params={"vkn": SUPPLIERS[2], "from": "05.01.2025", "to": "06.01.2025"})
        assert 'id="cut"' not in small.text


# -- what is read -----------------------------------------------------------------------------------


class _Reads:
    """Whole rows made from the index's answers, digests of a list read into Python, and statements sent by
    this thread (the full-text feed reads beside it in its own), while counting."""

    def __init__(self, arch: Archive, mp: pytest.MonkeyPatch) -> None:
        self.whole = self.narrow = self.statements = 0
        self.counting: int | None = None  # the thread counted
        whole, matching = indexdb.row_from_db, arch.index.matching

        def count_whole(v):
            self.whole += self._mine()
            return whole(v)

        def count_narrow(*args, **kwargs):
            out = matching(*args, **kwargs)
            self.narrow += self._mine() * len(out)
            return out

        mp.setattr(indexdb, "row_from_db", count_whole)
        mp.setattr(arch.index, "matching", count_narrow)
        sa.event.listen(arch.index.db.engine, "before_cursor_execute", self._statement)

    def _mine(self) -> bool:
        return self.counting == threading.get_ident()

    def _statement(self, *_args) -> None:
        self.statements += self._mine()

    def of(self, work) -> tuple[int, int, int]:
        self.whole = self.narrow = self.statements = 0
        self.counting = threading.get_ident()
        try:
            work()
        finally:
            self.counting = None
        return self.whole, self.narrow, self.statements


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_whole_rows_are_read_for_the_page_only_whatever_the_archive_size(kind, tmp_path, request,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service_web, "FIND_MAX", 100)
    arch = _open(kind, tmp_path / "home", request, monkeypatch)
    try:
        svc = ArchiveService(arch)
        reads = _Reads(arch, monkeypatch)
        acc = arch.access.add_principal("acc", "accountant", (TENANT,), by="test")
        asks = [(SearchQuery(), "amount"), (SearchQuery(vkn=SUPPLIERS[1]), "supplier"), (SearchQuery(text="kalem"), "date")]
        by_size = []
        for first, count in ((0, 400), (400, 800)):
            _ingest(arch, [Source(f"syn{n}.xml", _synthetic(n)) for n in range(first, first + count)])
            seen = []
            for q, sort in asks:
                found = None

                def find(q=q, sort=sort):
                    nonlocal found
                    found = svc.find(acc, q, sort=sort, offset=50, page_size=50)

                whole, narrow, statements = reads.of(find)
                assert len(found.rows) == 50 and found.cut
                seen.append((whole, narrow, statements))
            by_size.append(seen)
        small, large = by_size
        # The page's 50 whole rows and as many statements at 400 documents as at 1,200 (and, by the same
        # reads, at a million); no row of the list is read into Python, except the embedded engine's
        # hits (digests, the cap + 1) whose order it keeps.
        assert small == large
        assert [whole for whole, _n, _s in small] == [50, 50, 50]
        assert [narrow for _w, narrow, _s in small] == [0, 0, 0 if svc.archive.index.has_text_search else 101]
        # BEGIN, the page's digests, the totals (and the amounts SQLite cannot add), whether the list was
        # cut, the page's rows, its holdings (and the embedded engine's hits: no count, it has them)
        assert all(statements <= 8 for _w, _n, statements in small), small
    finally:
        arch.close()
