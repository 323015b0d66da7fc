"""The SQL metadata index: SQLite (embedded default) or PostgreSQL.

The index is derived (invariant 5): ``reset`` plus a replay of the log must give what
``dump`` shows for the live index.  Reads are methods here (documents) and on ``access``
(holdings, principals, tokens, grants, access events) and ``log`` (where the log's objects
are); every write goes through ``transaction()`` (``writer.IndexWriter``), so one log
bundle is mirrored in one transaction.  Errors become ``IndexFailure`` at ``database.Database``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import decimal
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Self

import sqlalchemy as sa

from earsiv.documents.metadata import SignatureReport
from earsiv.indexer.accessdb import AccessIndex
from earsiv.indexer.auditdb import AuditIndex
from earsiv.indexer.database import Database
from earsiv.indexer.disposaldb import DisposalIndex
from earsiv.indexer.jobdb import JobIndex
from earsiv.indexer.lists import SORTS, count_statement, digests_statement, ordered_statement
from earsiv.indexer.logcatalog import LogCatalog
from earsiv.indexer.models import (
    document_refs,
    documents,
    holdings,
    index_counts,
    index_meta,
    jobs,
    metadata,
    web_sessions,
)
from earsiv.indexer.query import (
    HALF,
    SearchPage,
    SearchQuery,
    encode_cursor,
    odd_amounts_statement,
    search_parameters,
    search_statement,
    tally_statement,
    visible_statement,
)
from earsiv.indexer.records import IndexRecord
from earsiv.indexer.reportdb import ReportIndex
from earsiv.indexer.rows import (
    RAW_COLUMNS,
    DocumentRow,
    IndexStats,
    index_key,
    json_safe,
    row_from_db,
)
from earsiv.indexer.sessiondb import SessionIndex
from earsiv.indexer.sortkeys import EXACT
from earsiv.indexer.writer import IndexWriter, meta_key

__all__ = ["MIGRATIONS", "DocumentRow", "Index", "IndexStats", "Ordered", "SearchPage", "SearchQuery", "Tally", "exact_sum"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Bound parameters per IN (...) list; SQLite allows 32766 per statement.
_IN_CHUNK = 5000
# Child tables first: deleting rows must not trip a foreign key.
_TABLES_CHILDREN_FIRST = tuple(reversed(metadata.sorted_tables))
_GET = sa.select(*RAW_COLUMNS).where(documents.c.digest == sa.bindparam("digest"))
_HEAD_REVISION = "0013"  # the newest migration: opening skips Alembic when the index is there


def exact_sum(amounts: Iterable[tuple[str | None, Decimal | None]]) -> dict[str, Decimal]:
    """Sum of the amounts per currency (None and "" as "?"), exactly; amounts of None are skipped."""
    totals: dict[str, Decimal] = {}
    zero = Decimal(0)
    with decimal.localcontext(EXACT):
        for currency, amount in amounts:
            if amount is not None:
                cur = currency or "?"
                totals[cur] = totals.get(cur, zero) + amount
    return dict(sorted(totals.items()))


@dataclasses.dataclass(frozen=True, slots=True)
class Ordered:
    """A page of a sorted list (``Index.ordered``): its digests, and of the whole list its size and totals."""

    page: list[str]
    listed: int  # documents in the list (at most its cap)
    totals: dict[str, Decimal]  # their payable amounts summed per currency, exactly
    cut: bool  # more matched than the cap: the list is of the newest


@dataclasses.dataclass(frozen=True, slots=True)
class Tally:
    """How many documents a query matches, and their payable amounts summed per currency (exact)."""

    count: int
    totals: dict[str, Decimal]


class Index:
    """The metadata index behind one SQLAlchemy URL."""

    def __init__(self, url: str, *, echo: bool = False, cache_mib: int = 16) -> None:
        """*cache_mib*: SQLite page cache per connection; bulk loads of millions
        of rows (reindex) go several times faster with a few hundred MiB."""
        self.db = Database(url, echo=echo, cache_mib=cache_mib)
        self.url = url
        self.access = AccessIndex(self.db, self.transaction)
        self.log = LogCatalog(self.db)
        self.audit = AuditIndex(self.db, self.meta_get)
        self.sessions = SessionIndex(self.db)
        self.jobs = JobIndex(self.db)
        self.reports = ReportIndex(self.db)
        self.disposal = DisposalIndex(self.db)

    def __repr__(self) -> str:
        return f"Index({self.db.engine.url.render_as_string(hide_password=True)!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -----------------------------------------------------------

    def upgrade(self) -> None:
        """Bring the schema to the newest migration; a no-op when it is there.

        Opening an index that is up to date reads one row and never imports Alembic (a tenth
        of a second on every command).
        """
        if self._revision() == _HEAD_REVISION:
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.db.write("cannot migrate the index") as conn:
            self.db.dialect.lock_migrations(conn)
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def _revision(self) -> str | None:
        try:
            with self.db.read("cannot read the index's schema version") as conn:
                return conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
        except Exception:  # noqa: BLE001 - no table yet (a new index) or unreadable: let the migration say
            return None

    def close(self) -> None:
        self.db.close()

    # -- writing ----------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self, what: str = "cannot write to the index") -> Iterator[IndexWriter]:
        """One write transaction: everything done through the writer commits together, or nothing does."""
        with self.db.write(what) as conn:
            yield IndexWriter(conn, self.db.dialect)

    def add(self, records: Sequence[IndexRecord]) -> None:
        """Index *records* in one transaction; digests already indexed are left as they are."""
        with self.transaction(f"cannot index {len(records)} documents") as w:
            w.add_documents(records)

    def set_signature(self, digest: str, report: SignatureReport) -> None:
        self.set_signatures([(digest, report)])

    def set_signatures(self, items: Sequence[tuple[str, SignatureReport]]) -> None:
        """Record signature inspections, all in one transaction."""
        with self.transaction("cannot record signature reports") as w:
            w.set_signatures(items)

    def set_legal_hold(self, digest: str, on: bool, tenant: str | None = None) -> None:
        """Hold or release one holding (*tenant*), or every holding of the document (None)."""
        with self.transaction(f"cannot update holdings of {digest}") as w:
            w.set_holding(digest, tenant, legal_hold=bool(on))

    def set_retain_until(self, digest: str, until: Any, tenant: str | None = None) -> None:
        # The archive decides whether a change is allowed (retention only grows); the index
        # mirrors what the log says.
        with self.transaction(f"cannot update holdings of {digest}") as w:
            w.set_holding(digest, tenant, retain_until=until)

    def meta_get(self, key: str) -> str | None:
        key = meta_key(key)
        with self.db.read(f"cannot read index setting {key!r}") as conn:
            return conn.scalar(sa.select(index_meta.c.value).where(index_meta.c.key == key))

    def meta_get_many(self, keys: Sequence[str]) -> dict[str, str]:
        """key -> value for those of *keys* that are set (one query per chunk)."""
        wanted = {meta_key(k): k for k in keys}
        stored = sorted(wanted)
        out: dict[str, str] = {}
        with self.db.read("cannot read index settings") as conn:
            for i in range(0, len(stored), _IN_CHUNK):
                stmt = sa.select(index_meta.c.key, index_meta.c.value).where(index_meta.c.key.in_(stored[i : i + _IN_CHUNK]))
                out.update((wanted[k], v) for k, v in conn.execute(stmt))
        return out

    def meta_set(self, key: str, value: str) -> None:
        with self.transaction(f"cannot write index setting {key!r}") as w:
            w.meta_set(key, value)

    def reset(self) -> None:
        """Delete every row (reindex starts from empty); the schema stays."""
        with self.db.write("cannot empty the index") as conn:
            self.db.dialect.empty(conn, _TABLES_CHILDREN_FIRST)

    # -- reading ----------------------------------------------------------

    def pending_signatures(self, limit: int = 1000) -> list[str]:
        """Digests whose signature was not inspected yet, oldest log entry first."""
        stmt = (
            sa.select(documents.c.digest)
            .where(documents.c.signature_status == "pending")
            .order_by(documents.c.log_index)
            .limit(limit)
        )
        with self.db.read("cannot list pending signatures") as conn:
            return list(conn.scalars(stmt))

    def get(self, digest: str) -> DocumentRow | None:
        with self.db.read(f"cannot read {digest}") as conn:
            row = conn.execute(_GET, {"digest": digest}).first()
        return None if row is None else row_from_db(row)

    def held_by(self, tenant: str, after: int, limit: int) -> list[tuple[int, DocumentRow]]:
        """(holding's log index, document) of what *tenant* holds, after the holding *after*, in log order."""
        h = holdings.c
        stmt = (sa.select(h.log_index, *RAW_COLUMNS).join(holdings, h.digest == documents.c.digest)
                .where(h.tenant == index_key(tenant), h.log_index > after).order_by(h.log_index).limit(limit))
        with self.db.read(f"cannot read the holdings of {tenant}") as conn:
            return [(r[0], row_from_db(r[1:])) for r in conn.execute(stmt)]

    @property
    def has_text_search(self) -> bool:
        """Whether text queries are answered here (PostgreSQL text search), in one query with the rest."""
        return self.db.dialect.text_search

    def search(self, q: SearchQuery) -> SearchPage:
        """A keyset page, newest first; with ``q.text`` only where ``has_text_search``."""
        if q.text is not None and not self.has_text_search:
            raise ValueError("a full-text query is answered by the full-text index, not by this database")
        if q.sees_nothing:
            return SearchPage((), None)
        # One row more than asked says whether a next page exists, without a
        # second query and without handing out a cursor to an empty page.
        shape, params = search_parameters(q, q.limit + 1)
        if q.text is not None and params["text_query"] is None:
            return SearchPage((), None)  # no word in what was typed
        with self.db.read("search failed") as conn:
            raw = conn.execute(search_statement(shape), params).all()
        rows = tuple(row_from_db(r) for r in raw[: q.limit])
        more = len(raw) > q.limit
        return SearchPage(rows, encode_cursor(rows[-1].sort_date, rows[-1].digest) if more else None)

    def matching(self, q: SearchQuery, limit: int) -> list[str]:
        """The digests of the first *limit* matches of *q*, newest first; with ``q.digests`` (the hits of
        the embedded full-text engine) those that match, in ``q.digests``' order."""
        if q.text is not None and not self.has_text_search:
            raise ValueError("a full-text query is answered by the full-text index, not by this database")
        if q.sees_nothing or q.digests == ():
            return []
        shape, params = search_parameters(dataclasses.replace(q, cursor=None, digests=None), limit)
        if q.text is not None and params["text_query"] is None:
            return []
        stmt = digests_statement(shape | {"only_digests"} if q.digests is not None else shape)
        with self.db.read("cannot list the matches") as conn:
            if q.digests is None:
                return list(conn.scalars(stmt, params))
            found: set[str] = set()
            for i in range(0, len(q.digests), _IN_CHUNK):
                found.update(conn.scalars(stmt, {**params, "only_digests": list(q.digests[i : i + _IN_CHUNK])}))
        return [d for d in dict.fromkeys(q.digests) if d in found][:limit]

    def tally(self, q: SearchQuery) -> Tally:
        """Count and totals of every match of *q*, from SQL aggregates: no row is read to make them."""
        if q.text is not None and not self.has_text_search:
            raise ValueError("a full-text query is answered by the full-text index, not by this database")
        if q.digests is not None:
            raise ValueError("a tally is of a query, not of a list of digests")
        if q.sees_nothing:
            return Tally(0, {})
        shape, params = search_parameters(dataclasses.replace(q, cursor=None), 0)
        if q.text is not None and params["text_query"] is None:
            return Tally(0, {})
        shape -= {"fetch"}
        params.pop("fetch")
        with self.db.snapshot("cannot count the matches") as conn:
            return self._tally(conn, shape, params, limited=False)

    def _tally(self, conn: sa.Connection, shape: frozenset[str], params: dict[str, Any], *, limited: bool) -> Tally:
        exact = self.db.dialect.exact_numeric
        parts: list[tuple[str | None, Decimal | None]] = []
        count = 0
        odd = False
        for row in conn.execute(tally_statement(shape, exact, limited), params):
            if exact:
                count += row[1]
                parts.append((row[0], row[2]))
                continue
            currency, scale, n, high, low, odd_ones = row
            count += n
            if scale is not None:  # (high * HALF + low) units of 10**-scale
                parts.append((currency, Decimal(high * HALF + low).scaleb(-scale, EXACT)))
            odd = odd or bool(odd_ones)
        if odd:
            parts.extend((c, Decimal(a)) for c, a in conn.execute(odd_amounts_statement(shape, limited), params))
        return Tally(count, exact_sum(parts))

    def ordered(self, q: SearchQuery, cap: int, sort: str, *, descending: bool, offset: int, size: int) -> Ordered:
        """The list of the newest *cap* matches of *q* (with ``q.digests``: those of them that match),
        in *sort*'s order (``lists.SORTS``): the digests from *offset* (at most *size*), and how many
        the list holds, their totals, and whether more than *cap* matched.

        The database sorts, pages and totals it: a page reads its own digests only, however many
        the list holds (four statements at most, in one snapshot).
        """
        if q.text is not None and not self.has_text_search:
            raise ValueError("a full-text query is answered by the full-text index, not by this database")
        if sort not in SORTS:
            raise ValueError(f"cannot sort by {sort!r}; by one of {', '.join(SORTS)}")
        if q.sees_nothing or q.digests == ():
            return Ordered([], 0, {}, False)
        fetch = cap if q.digests is None else min(cap, len(q.digests))
        shape, params = search_parameters(dataclasses.replace(q, cursor=None), fetch)
        if q.text is not None and params["text_query"] is None:
            return Ordered([], 0, {}, False)
        dialect = self.db.dialect.name
        with self.db.snapshot("cannot list the matches") as conn:
            page = list(conn.scalars(ordered_statement(shape, sort, descending, dialect),
                                     {**params, "page_size": size, "page_offset": offset}))
            tally = self._tally(conn, shape, params, limited=True)
            cut = False
            if q.digests is None and tally.count >= cap:
                cut = conn.scalar(count_statement(shape), {**params, "fetch": cap + 1}) > cap
        return Ordered(page, tally.count, tally.totals, cut)

    def visible(self, digests: Sequence[str], scope: SearchQuery) -> set[str]:
        """Those of *digests* held here that the scope of *scope* (tenants, windows) lets one see."""
        if scope.sees_nothing:
            return set()
        shape, params = search_parameters(dataclasses.replace(scope, cursor=None), 1)
        shape = frozenset(k for k in shape if k == "scope" or k.startswith(("w", "scope_")))
        params = {k: v for k, v in params.items() if k in shape}
        out: set[str] = set()
        wanted = sorted(set(digests))
        with self.db.read("cannot check visibility") as conn:
            for i in range(0, len(wanted), _IN_CHUNK):
                out.update(conn.scalars(visible_statement(shape), {**params, "digests": wanted[i : i + _IN_CHUNK]}))
        return out

    def related(self, row: DocumentRow, limit: int = 50) -> list[tuple[str, str]]:
        """(how, digest) of the documents the index ties to *row*, each once, in this order:

        ``names``     those its references name (by ETTN, else by number): the waybill an answer
                      answers, the invoices an envelope carries, the ledger a berat is of;
        ``named-by``  those whose references name it by its ETTN (or by its number, if it has no
                      ETTN: a ledger named by its berats' control number);
        ``seal``      e-Defter: the ledgers and berats of the same owner that carry its seal.

        Up to *limit* of each; who may see which is the caller's question (``AccessControl``).
        """
        d, r = documents.c, document_refs.c
        found: list[tuple[str, str]] = []
        seen = {row.digest}
        ettns = sorted({index_key(x.ettn.strip().lower()) for x in row.references if x.ettn})
        ids = sorted({index_key(x.id) for x in row.references if x.id and not x.ettn})
        asks: list[tuple[str, Any]] = []
        if ettns:
            asks.append(("names", sa.select(d.digest).where(d.ettn_key.in_(ettns))))
        if ids:
            asks.append(("names", sa.select(d.digest).where(d.doc_id.in_(ids))))
        if row.ettn:
            asks.append(("named-by", sa.select(r.digest).where(r.ref_ettn == index_key(row.ettn.strip().lower()))))
        elif row.doc_id:
            asks.append(("named-by", sa.select(r.digest).where(r.ref_id == index_key(row.doc_id), r.ref_ettn.is_(None))))
        if row.edefter_seal and row.edefter_vkn:
            asks.append(("seal", sa.select(d.digest).where(d.edefter_seal == row.edefter_seal,
                                                          d.edefter_vkn == row.edefter_vkn)))
        with self.db.read(f"cannot read what is related to {row.digest}") as conn:
            for how, stmt in asks:
                for digest in conn.scalars(stmt.distinct().order_by(stmt.selected_columns[0]).limit(limit + 1)):
                    if digest not in seen:
                        seen.add(digest)
                        found.append((how, digest))
        return found

    def digests_with_ettn(self, ettn: str) -> list[str]:
        key = index_key(ettn.strip().lower())
        stmt = sa.select(documents.c.digest).where(documents.c.ettn_key == key).order_by(documents.c.digest)
        with self.db.read(f"cannot look up ETTN {ettn!r}") as conn:
            return list(conn.scalars(stmt))

    def kinds_of(self, digests: Sequence[str]) -> dict[str, str]:
        """digest -> kind for those of *digests* the index holds (one query per chunk)."""
        out: dict[str, str] = {}
        wanted = sorted(set(digests))
        with self.db.read("cannot look up digests") as conn:
            for i in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[i : i + _IN_CHUNK]
                stmt = sa.select(documents.c.digest, documents.c.kind).where(documents.c.digest.in_(chunk))
                out.update((k, v) for k, v in conn.execute(stmt))
        return out

    def digests_with_ettns(self, ettns: Sequence[str]) -> dict[str, list[str]]:
        """lower-cased ETTN -> digests holding it, for every given ETTN held at all."""
        wanted = {index_key(e): e for e in {e.strip().lower() for e in ettns}}
        keys = sorted(wanted)
        out: dict[str, list[str]] = {}
        with self.db.read("cannot look up ETTNs") as conn:
            for i in range(0, len(keys), _IN_CHUNK):
                stmt = (
                    sa.select(documents.c.ettn_key, documents.c.digest)
                    .where(documents.c.ettn_key.in_(keys[i : i + _IN_CHUNK]))
                    .order_by(documents.c.digest)
                )
                for key, digest in conn.execute(stmt):
                    out.setdefault(wanted[key], []).append(digest)
        return out

    def stats(self) -> IndexStats:
        """Totals from the running counts (a few rows, whatever the number of documents)."""
        with self.db.read("cannot compute index statistics") as conn:
            counts = {k: int(v) for k, v in conn.execute(sa.select(index_counts.c.key, index_counts.c.value))}
        by_kind = {k[5:]: v for k, v in counts.items() if k.startswith("kind/") and v}
        by_status = {k[10:]: v for k, v in counts.items() if k.startswith("signature/") and v}
        return IndexStats(
            documents=counts.get("documents", 0),
            bytes_original=counts.get("bytes_original", 0),
            bytes_stored=counts.get("bytes_stored", 0),
            pending_signatures=by_status.get("pending", 0),
            by_kind=dict(sorted(by_kind.items())),
            by_signature_status=dict(sorted(by_status.items())),
        )

    def dump(self) -> list[dict[str, Any]]:
        """Every row of every table, JSON-safe, in a fixed order.

        Two indexes holding the same facts dump equal lists, whatever the
        order the facts arrived in and whatever the database: rows are
        ordered here by primary key in code-point order, not by the
        database's collation (PostgreSQL's may ignore punctuation).
        """
        out: list[dict[str, Any]] = []
        with self.db.snapshot("cannot dump the index") as conn:
            for table in sorted(metadata.sorted_tables, key=lambda t: t.name):
                if table.name in (web_sessions.name, jobs.name):  # signed-in browsers, take-away jobs: no fact about the archive
                    continue
                key = [c.name for c in table.primary_key.columns]
                stmt = sa.select(table)
                if table is index_counts:  # a total that went back to 0 is no fact
                    stmt = stmt.where(index_counts.c.value != 0)
                rows = [dict(row) for row in conn.execute(stmt).mappings()]
                rows.sort(key=lambda row: tuple(row[k] for k in key))
                out.extend({"table": table.name, **{k: json_safe(v) for k, v in row.items()}} for row in rows)
        return out
