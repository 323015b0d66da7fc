"""The SQL metadata index: SQLite (embedded default) or PostgreSQL.

Every SQLAlchemy, Alembic and driver error leaving this module becomes
``IndexFailure`` (``raise ... from exc``), so callers never import SQLAlchemy
to handle failures.  The index is derived (invariant 5): ``reset`` plus
``add`` of every stored document must give what ``dump`` shows for the live
index.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Self

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy.dialects import postgresql

from earsiv.documents.metadata import SignatureReport
from earsiv.indexer.accessdb import AccessIndex
from earsiv.indexer.errors import IndexFailure, index_failure
from earsiv.indexer.models import document_parties, document_refs, documents, holdings, index_meta, metadata
from earsiv.indexer.query import (
    SearchPage,
    SearchQuery,
    encode_cursor,
    search_parameters,
    search_statement,
    visible_statement,
)
from earsiv.indexer.records import IndexRecord
from earsiv.indexer.rows import (
    RAW_COLUMNS,
    DocumentRow,
    IndexStats,
    document_values,
    holding_values,
    index_key,
    json_safe,
    party_values,
    ref_values,
    row_from_db,
    signature_values,
)

__all__ = ["MIGRATIONS", "DocumentRow", "Index", "IndexStats", "SearchPage", "SearchQuery"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_TX = "earsiv_tx"
_BEGIN = {"write": "BEGIN IMMEDIATE", "snapshot": "BEGIN"}
# Bound parameters per IN (...) list; SQLite allows 32766 per statement.
_IN_CHUNK = 5000
# Child tables first: deleting rows must not trip a foreign key.
_TABLES_CHILDREN_FIRST = tuple(reversed(metadata.sorted_tables))
_GET = sa.select(*RAW_COLUMNS).where(documents.c.digest == sa.bindparam("digest"))
# Serialises concurrent migrations of one PostgreSQL database (two archive
# processes starting at once): a transaction-scoped advisory lock, any fixed key.
_PG_MIGRATION_LOCK = 0x6561727369760001
_META_KEY_CHARS = index_meta.c.key.type.length
# SQLite's answers when the -shm file of WAL mode cannot be made or grown: the disk is full
# (or the directory is not writable).  SQLITE_FULL, SQLITE_IOERR_SHMOPEN, SQLITE_IOERR_SHMSIZE.
_NO_ROOM_FOR_SHM = frozenset({13, 4618, 4874})
log = logging.getLogger(__name__)


def _install_sqlite_hooks(engine: sa.Engine, cache_mib: int) -> None:
    """WAL, NORMAL sync, foreign keys, a busy timeout, and real transactions.

    The sqlite3 module's legacy mode emits BEGIN only before DML, so a SELECT
    before an INSERT and DDL would run outside the transaction.  Here the
    driver is put in autocommit and BEGIN is emitted by us: IMMEDIATE for
    writes, so that a write transaction takes the lock before it reads what
    it is about to change (no lost-update window, and migrations are
    atomic); DEFERRED for reads of several statements that must see one
    snapshot; none for single-statement reads, which are atomic by
    themselves and are the hot path of search.
    """

    warned: list[str] = []

    @sa.event.listens_for(engine, "do_connect")
    def _do_connect(dialect: Any, record: Any, cargs: Any, cparams: Any) -> Any:
        # WAL mode keeps its lock table in a -shm file made by the first connection.  On
        # a full disk it cannot be made, and every command would fail on opening the
        # index, reads too.  Then the connection is opened in exclusive locking mode,
        # which keeps that table in memory: it reads (and would write) as usual, and
        # other processes wait for the lock, so it is given back as soon as the
        # connection returns to the pool (see _checkin).
        dbapi = dialect.loaded_dbapi
        where = cargs[0] if cargs else cparams.get("database")
        conn = dbapi.connect(*cargs, **cparams)
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA journal_mode = WAL")
            return conn
        except dbapi.OperationalError as exc:
            conn.close()
            if getattr(exc, "sqlite_errorcode", None) not in _NO_ROOM_FOR_SHM:
                raise
            if not warned:
                warned.append(where)
                log.warning("%s: no room for SQLite's shared-memory file (%s); the index is opened in exclusive mode, "
                            "so other processes wait while this one uses it", where, exc)
        conn = dbapi.connect(*cargs, **cparams)
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        record.info["exclusive"] = True
        return conn

    @sa.event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        if record.info.get("exclusive"):
            record.invalidate()  # closes it, which releases the exclusive lock

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        try:
            cur.execute("PRAGMA busy_timeout = 30000")
            cur.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode: a power cut may lose the last commits of the
            # index but never corrupts it; the index is rebuilt from the store.
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.execute(f"PRAGMA cache_size = {-1024 * int(cache_mib)}")  # negative: KiB
        finally:
            cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get(_TX)
        if mode is not None:
            conn.exec_driver_sql(_BEGIN[mode])


def _meta_key(key: str) -> str:
    # Keys may embed values from documents ("dict/<kind>/<issuer VKN>"), and
    # a hostile VKN is kilobytes long: PostgreSQL enforces VARCHAR(200) where
    # SQLite does not, so both store the same bounded key form.
    return index_key(key, _META_KEY_CHARS)  # type: ignore[return-value]


@contextlib.contextmanager
def _edge(what: str, dbapi_error: type[BaseException] = Exception, path: str | None = None) -> Iterator[None]:
    """Vendor errors become ours; a full disk (ENOSPC, SQLITE_FULL, PostgreSQL's 53100) becomes ``IndexFull``."""
    try:
        yield
    except IndexFailure:
        raise
    except (sa.exc.SQLAlchemyError, CommandError, OSError) as exc:
        raise index_failure(what, exc, path) from exc
    except dbapi_error as exc:
        raise index_failure(what, exc, path) from exc


class Index:
    """The metadata index behind one SQLAlchemy URL."""

    def __init__(self, url: str, *, echo: bool = False, cache_mib: int = 16) -> None:
        """*cache_mib*: SQLite page cache per connection; bulk loads of millions
        of rows (reindex) go several times faster with a few hundred MiB."""
        if not 1 <= cache_mib <= 65536:
            raise ValueError(f"cache_mib must be 1..65536, got {cache_mib!r}")
        self.url = url
        with _edge(f"cannot open index {url!r}", ImportError):
            self._engine = sa.create_engine(url, echo=echo)
        self._pg = self._engine.dialect.name == "postgresql"
        # Where a full disk is reported: the SQLite file (the server's disk is the server's to name).
        self._path = self._engine.url.database if self._engine.dialect.name == "sqlite" else None
        if self._engine.dialect.name == "sqlite":
            _install_sqlite_hooks(self._engine, cache_mib)
        # Option engines share the pool and hooks and say what kind of
        # transaction to begin (see _install_sqlite_hooks).  PostgreSQL
        # writes under READ COMMITTED, made safe by ON CONFLICT (see add);
        # reads of several statements take one REPEATABLE READ snapshot.
        self._writer = self._engine.execution_options(**{_TX: "write"})
        snapshot: dict[str, Any] = {_TX: "snapshot"}
        if self._pg:
            snapshot["isolation_level"] = "REPEATABLE READ"
        self._snapshot = self._engine.execution_options(**snapshot)
        # Single-statement reads need no transaction: on PostgreSQL,
        # autocommit saves the BEGIN and ROLLBACK round trips, a third of
        # the time of a search page (SQLite: no BEGIN is emitted anyway).
        self._reader = self._engine.execution_options(isolation_level="AUTOCOMMIT") if self._pg else self._engine
        self._dbapi_error: type[BaseException] = getattr(self._engine.dialect.loaded_dbapi, "Error", Exception)
        self.access = AccessIndex(self)

    def __repr__(self) -> str:
        return f"Index({self._engine.url.render_as_string(hide_password=True)!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _edge(self, what: str) -> contextlib.AbstractContextManager[None]:
        return _edge(what, self._dbapi_error, self._path)

    # -- schema -----------------------------------------------------------

    def upgrade(self) -> None:
        """Bring the schema to the newest migration; a no-op when it is there."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self._edge("cannot migrate the index"), self._writer.begin() as conn:
            if self._pg:
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def close(self) -> None:
        self._engine.dispose()

    # -- writing ----------------------------------------------------------

    def add(self, records: Sequence[IndexRecord]) -> None:
        """Index *records* in one transaction; digests already indexed are left as they are."""
        unique: dict[str, IndexRecord] = {}
        for rec in records:
            unique.setdefault(rec.digest, rec)
        if not unique:
            return
        with self._edge(f"cannot index {len(unique)} documents"), self._writer.begin() as conn:
            present: set[str] = set()
            wanted = list(unique)
            for i in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[i : i + _IN_CHUNK]
                present.update(conn.scalars(sa.select(documents.c.digest).where(documents.c.digest.in_(chunk))))
            new = [rec for digest, rec in unique.items() if digest not in present]
            if not new:
                return
            if self._pg:
                self._insert_pg(conn, new)
                return
            # BEGIN IMMEDIATE holds the write lock since the SELECT above:
            # nobody can have inserted these digests in between.
            conn.execute(documents.insert(), [document_values(rec) for rec in new])
            parties, refs = [], []
            for rec in new:
                parties.extend(party_values(rec))
                refs.extend(ref_values(rec))
            if parties:
                conn.execute(document_parties.insert(), parties)
            if refs:
                conn.execute(document_refs.insert(), refs)
            first = [holding_values(rec) for rec in new if rec.first_holding]
            if first:
                conn.execute(holdings.insert(), first)

    @staticmethod
    def _insert_pg(conn: sa.Connection, records: list[IndexRecord]) -> None:
        """Insert, skipping whatever another writer committed meanwhile.

        Under READ COMMITTED another writer may insert the same digests after
        our SELECT (two processes catching up the same log leaves).  ON
        CONFLICT DO NOTHING waits for that writer and then skips its rows
        instead of failing the batch; the child rows of a document follow
        from its record alone, so skipping those the other writer already
        inserted leaves what one writer would have.  Digest order makes
        every writer take row locks in one order, so two overlapping batches
        cannot deadlock.  A clash on anything but the digest (one log
        position for two documents) still fails the batch.

        No RETURNING: psycopg then sends the rows as one pipelined
        executemany of a prepared statement, several times faster than the
        multi-row VALUES that RETURNING needs.
        """
        records = sorted(records, key=lambda rec: rec.digest)
        parties, refs = [], []
        for rec in records:
            parties.extend(party_values(rec))
            refs.extend(ref_values(rec))
        for table, rows in ((documents, [document_values(rec) for rec in records]),
                            (document_parties, parties), (document_refs, refs),
                            (holdings, [holding_values(rec) for rec in records if rec.first_holding])):
            if rows:
                key = list(table.primary_key.columns)
                conn.execute(postgresql.insert(table).on_conflict_do_nothing(index_elements=key), rows)

    def set_signature(self, digest: str, report: SignatureReport) -> None:
        self.set_signatures([(digest, report)])

    def set_signatures(self, items: Sequence[tuple[str, SignatureReport]]) -> None:
        """Record signature inspections, all in one transaction."""
        if not items:
            return
        values = [{"b_digest": digest, **signature_values(report)} for digest, report in items]
        stmt = (
            documents.update()
            .where(documents.c.digest == sa.bindparam("b_digest"))
            .values({name: sa.bindparam(name) for name in signature_values(None)})
        )
        with self._edge("cannot record signature reports"), self._writer.begin() as conn:
            result = conn.execute(stmt, values)
            self._check_rowcount(conn, result, len(items), "signature report")

    def set_legal_hold(self, digest: str, on: bool, tenant: str | None = None) -> None:
        """Hold or release one holding (*tenant*), or every holding of the document (None)."""
        self.access.set_holding(digest, tenant, legal_hold=bool(on))

    def set_retain_until(self, digest: str, until: dt.datetime, tenant: str | None = None) -> None:
        # The archive decides whether a change is allowed (retention only
        # grows); the index mirrors what the log says.
        self.access.set_holding(digest, tenant, retain_until=until)

    def _check_rowcount(self, conn: sa.Connection, result: sa.CursorResult[Any], expected: int, what: str) -> None:
        if conn.dialect.supports_sane_multi_rowcount and result.rowcount != expected:
            raise IndexFailure(
                f"{what}: {expected - result.rowcount} of {expected} digests are not in the index; nothing recorded"
            )

    def meta_get(self, key: str) -> str | None:
        key = _meta_key(key)
        with self._edge(f"cannot read index setting {key!r}"), self._reader.connect() as conn:
            return conn.scalar(sa.select(index_meta.c.value).where(index_meta.c.key == key))

    def meta_set(self, key: str, value: str) -> None:
        key = _meta_key(key)
        with self._edge(f"cannot write index setting {key!r}"), self._writer.begin() as conn:
            if self._pg:
                # UPDATE-then-INSERT races under READ COMMITTED; an upsert does not.
                stmt = postgresql.insert(index_meta).values(key=key, value=value)
                conn.execute(stmt.on_conflict_do_update(index_elements=[index_meta.c.key], set_={"value": value}))
                return
            result = conn.execute(index_meta.update().where(index_meta.c.key == key).values(value=value))
            if result.rowcount == 0:
                conn.execute(index_meta.insert().values(key=key, value=value))

    def reset(self) -> None:
        """Delete every row (reindex starts from empty); the schema stays."""
        with self._edge("cannot empty the index"), self._writer.begin() as conn:
            if self._pg:
                # One statement, no dead rows left behind for VACUUM.
                names = ", ".join(conn.dialect.identifier_preparer.format_table(t) for t in _TABLES_CHILDREN_FIRST)
                conn.exec_driver_sql(f"TRUNCATE {names}")
                return
            for table in _TABLES_CHILDREN_FIRST:
                conn.execute(table.delete())

    # -- reading ----------------------------------------------------------

    def pending_signatures(self, limit: int = 1000) -> list[str]:
        """Digests whose signature was not inspected yet, oldest log entry first."""
        stmt = (
            sa.select(documents.c.digest)
            .where(documents.c.signature_status == "pending")
            .order_by(documents.c.log_index)
            .limit(limit)
        )
        with self._edge("cannot list pending signatures"), self._reader.connect() as conn:
            return list(conn.scalars(stmt))

    def get(self, digest: str) -> DocumentRow | None:
        with self._edge(f"cannot read {digest}"), self._reader.connect() as conn:
            row = conn.execute(_GET, {"digest": digest}).first()
        return None if row is None else row_from_db(row)

    def search(self, q: SearchQuery) -> SearchPage:
        if q.sees_nothing:
            return SearchPage((), None)
        # One row more than asked says whether a next page exists, without a
        # second query and without handing out a cursor to an empty page.
        shape, params = search_parameters(q, q.limit + 1)
        with self._edge("search failed"), self._reader.connect() as conn:
            raw = conn.execute(search_statement(shape), params).all()
        rows = tuple(row_from_db(r) for r in raw[: q.limit])
        more = len(raw) > q.limit
        return SearchPage(rows, encode_cursor(rows[-1].sort_date, rows[-1].digest) if more else None)

    def visible(self, digests: Sequence[str], scope: SearchQuery) -> set[str]:
        """Those of *digests* held here that the scope of *scope* (tenants, windows) lets one see."""
        if scope.sees_nothing:
            return set()
        shape, params = search_parameters(dataclasses.replace(scope, cursor=None), 1)
        shape = frozenset(k for k in shape if k == "scope" or k.startswith(("w", "scope_")))
        params = {k: v for k, v in params.items() if k in shape}
        out: set[str] = set()
        wanted = sorted(set(digests))
        with self._edge("cannot check visibility"), self._reader.connect() as conn:
            for i in range(0, len(wanted), _IN_CHUNK):
                out.update(conn.scalars(visible_statement(shape), {**params, "digests": wanted[i : i + _IN_CHUNK]}))
        return out

    def digests_with_ettn(self, ettn: str) -> list[str]:
        key = index_key(ettn.strip().lower())
        stmt = sa.select(documents.c.digest).where(documents.c.ettn_key == key).order_by(documents.c.digest)
        with self._edge(f"cannot look up ETTN {ettn!r}"), self._reader.connect() as conn:
            return list(conn.scalars(stmt))

    def kinds_of(self, digests: Sequence[str]) -> dict[str, str]:
        """digest -> kind for those of *digests* the index holds (one query per chunk)."""
        out: dict[str, str] = {}
        wanted = sorted(set(digests))
        with self._edge("cannot look up digests"), self._reader.connect() as conn:
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
        with self._edge("cannot look up ETTNs"), self._reader.connect() as conn:
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
        d = documents.c
        with self._edge("cannot compute index statistics"), self._snapshot.connect() as conn:
            count, original, stored = conn.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(d.size), 0),
                          sa.func.coalesce(sa.func.sum(d.stored_size), 0))
            ).one()
            by_kind = dict(conn.execute(sa.select(d.kind, sa.func.count()).group_by(d.kind)).all())
            by_status = dict(
                conn.execute(sa.select(d.signature_status, sa.func.count()).group_by(d.signature_status)).all()
            )
        return IndexStats(
            documents=count,
            bytes_original=int(original),
            bytes_stored=int(stored),
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
        with self._edge("cannot dump the index"), self._snapshot.connect() as conn:
            for table in sorted(metadata.sorted_tables, key=lambda t: t.name):
                key = [c.name for c in table.primary_key.columns]
                rows = [dict(row) for row in conn.execute(sa.select(table)).mappings()]
                rows.sort(key=lambda row: tuple(row[k] for k in key))
                out.extend({"table": table.name, **{k: json_safe(v) for k, v in row.items()}} for row in rows)
        return out
