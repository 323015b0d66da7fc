"""One SQL database behind one SQLAlchemy URL: engines, transactions, the error edge, the dialect.

The index runs on SQLite (embedded default) and PostgreSQL (scale-out).  What differs between
them lives in one small object, a ``Dialect``, instead of ``if postgres:`` branches inside
methods.  Every SQLAlchemy, Alembic and driver error leaving this package becomes
``IndexFailure`` (``raise ... from exc``) at ``Database.edge``.

Transactions: ``write`` begins IMMEDIATE on SQLite (the write lock is taken before anything is
read, so no lost update) and READ COMMITTED on PostgreSQL, made safe by ON CONFLICT;
``snapshot`` is one consistent view for reads of several statements; ``read`` is for a single
statement, with no transaction at all.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import sqlalchemy as sa

from earsiv.indexer.errors import IndexFailure, index_failure

__all__ = ["Database", "Dialect", "PostgreSQLDialect", "SQLiteDialect"]

_TX = "earsiv_tx"
_BEGIN = {"write": "BEGIN IMMEDIATE", "snapshot": "BEGIN"}
# Serialises concurrent migrations of one PostgreSQL database (two archive processes
# starting at once): a transaction-scoped advisory lock, any fixed key.
_PG_MIGRATION_LOCK = 0x6561727369760001
# SQLite's answers when the -shm file of WAL mode cannot be made or grown: the disk is full
# (or the directory is not writable).  SQLITE_FULL, SQLITE_IOERR_SHMOPEN, SQLITE_IOERR_SHMSIZE.
_NO_ROOM_FOR_SHM = frozenset({13, 4618, 4874})
log = logging.getLogger(__name__)


class Dialect(Protocol):
    """What SQLite and PostgreSQL do differently, and nothing else."""

    name: str
    # PostgreSQL keeps several writers going at once (READ COMMITTED); SQLite has one writer.
    concurrent_writers: bool
    # Whether the database holds the documents' words and answers text queries itself
    # (PostgreSQL text search); otherwise the archive keeps an embedded full-text index.
    text_search: bool
    # Whether its NUMERIC is exact, so that SUM of the amounts' numeric column is the exact total
    # (PostgreSQL); SQLite's is a float, and its totals are added as scaled integers of the text.
    exact_numeric: bool

    def insert_ignore(self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        """Insert *rows*, skipping those whose primary key is there already."""

    def insert_new(self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]],
                   key: Sequence[sa.Column[Any]], returning: sa.Column[Any] | None = None) -> set[Any] | None:
        """Insert rows the caller found missing; on a concurrent database, skip those another writer added since.

        With *returning*, the values of that column of the rows this call inserted.
        """

    def upsert(self, conn: sa.Connection, table: sa.Table, values: dict[str, Any], update: dict[str, Any]) -> None:
        """Insert *values*, or update the row with the same primary key with *update*."""

    def empty(self, conn: sa.Connection, tables: Sequence[sa.Table]) -> None:
        """Delete every row of *tables* (children first)."""

    def scan(self, conn: sa.Connection, stmt: sa.Select, batch: int) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of *stmt* as the driver gives them, *batch* at a time, without holding them all: a
        million-row report scan spends most of its time making rows, and SQLAlchemy's cost twice the driver's.
        Values are the driver's: dates are ISO text on SQLite, ``date`` on PostgreSQL."""

    def lock_migrations(self, conn: sa.Connection) -> None:
        """Keep two processes from migrating at once."""


class SQLiteDialect:
    name = "sqlite"
    concurrent_writers = False
    # SQLite FTS5 was measured: joined with a date filter, seconds per query at 1M documents.
    text_search = False
    exact_numeric = False

    def insert_ignore(self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        if rows:
            conn.execute(table.insert().prefix_with("OR IGNORE"), rows)

    def insert_new(self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]],
                   key: Sequence[sa.Column[Any]], returning: sa.Column[Any] | None = None) -> set[Any] | None:
        # BEGIN IMMEDIATE holds the write lock since the caller's SELECT: nobody inserted
        # these rows in between, and a clash on another unique column must fail loudly.
        if rows:
            conn.execute(table.insert(), rows)
        return None if returning is None else {row[returning.name] for row in rows}

    def upsert(self, conn: sa.Connection, table: sa.Table, values: dict[str, Any], update: dict[str, Any]) -> None:
        from sqlalchemy.dialects import sqlite

        stmt = sqlite.insert(table).values(**values)
        conn.execute(stmt.on_conflict_do_update(index_elements=list(table.primary_key.columns), set_=update))

    def empty(self, conn: sa.Connection, tables: Sequence[sa.Table]) -> None:
        for table in tables:
            conn.execute(table.delete())

    def scan(self, conn: sa.Connection, stmt: sa.Select, batch: int) -> Iterator[list[tuple[Any, ...]]]:
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        values = compiled.construct_params()
        # Dates bound as SQLAlchemy stores them on SQLite (ISO text), not through sqlite3's deprecated adapter.
        params = [v.isoformat() if isinstance(v, dt.date) else v for v in (values[k] for k in compiled.positiontup or ())]
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(str(compiled), params)
            while rows := cursor.fetchmany(batch):
                yield rows
        finally:
            cursor.close()

    def lock_migrations(self, conn: sa.Connection) -> None:
        pass  # BEGIN IMMEDIATE already excludes every other writer


class PostgreSQLDialect:
    name = "postgresql"
    concurrent_writers = True
    text_search = True
    exact_numeric = True

    def insert_ignore(self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        self.insert_new(conn, table, rows, list(table.primary_key.columns))  # type: ignore[arg-type]

    def insert_new(self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]],
                   key: Sequence[sa.Column[Any]], returning: sa.Column[Any] | None = None) -> set[Any] | None:
        """Under READ COMMITTED another writer may insert the same keys after the caller's SELECT.

        ON CONFLICT DO NOTHING waits for that writer and then skips its rows instead of failing;
        a clash on anything but *key* still fails.  Without *returning*, psycopg sends the rows
        as one pipelined executemany of a prepared statement.
        """
        from sqlalchemy.dialects import postgresql

        if not rows:
            return None if returning is None else set()
        stmt = postgresql.insert(table).on_conflict_do_nothing(index_elements=list(key))
        if returning is None:
            conn.execute(stmt, rows)
            return None
        result = conn.execute(stmt.returning(returning), rows)
        return set(result.scalars())

    def upsert(self, conn: sa.Connection, table: sa.Table, values: dict[str, Any], update: dict[str, Any]) -> None:
        from sqlalchemy.dialects import postgresql

        stmt = postgresql.insert(table).values(**values)
        conn.execute(stmt.on_conflict_do_update(index_elements=list(table.primary_key.columns), set_=update))

    def empty(self, conn: sa.Connection, tables: Sequence[sa.Table]) -> None:
        # One statement, no dead rows left behind for VACUUM.
        names = ", ".join(conn.dialect.identifier_preparer.format_table(t) for t in tables)
        conn.exec_driver_sql(f"TRUNCATE {names}")

    def scan(self, conn: sa.Connection, stmt: sa.Select, batch: int) -> Iterator[list[tuple[Any, ...]]]:
        # A named (server-side) cursor: the rows stay on the server until fetched; it needs the
        # transaction a snapshot connection is in.
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        conn.exec_driver_sql("SELECT 1")  # begin the snapshot's transaction before the cursor is declared
        cursor = conn.connection.driver_connection.cursor(name="earsiv_scan")  # type: ignore[union-attr]
        try:
            cursor.execute(str(compiled), compiled.construct_params())
            while rows := cursor.fetchmany(batch):
                yield rows
        finally:
            cursor.close()

    def lock_migrations(self, conn: sa.Connection) -> None:
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))


def _install_sqlite_hooks(engine: sa.Engine, cache_mib: int) -> None:
    """WAL, NORMAL sync, foreign keys, a busy timeout, and real transactions.

    The sqlite3 module's legacy mode emits BEGIN only before DML, so a SELECT before an
    INSERT and DDL would run outside the transaction.  Here the driver is put in autocommit
    and BEGIN is emitted by us: IMMEDIATE for writes, so that a write transaction takes the
    lock before it reads what it is about to change (no lost-update window, and migrations
    are atomic); DEFERRED for reads of several statements that must see one snapshot; none
    for single-statement reads, which are atomic by themselves and are the hot path of search.
    """

    warned: list[str] = []

    @sa.event.listens_for(engine, "do_connect")
    def _do_connect(dialect: Any, record: Any, cargs: Any, cparams: Any) -> Any:
        # WAL mode keeps its lock table in a -shm file made by the first connection.  On a
        # full disk it cannot be made, and every command would fail on opening the index,
        # reads too.  Then the connection is opened in exclusive locking mode, which keeps
        # that table in memory: it reads (and would write) as usual, and other processes
        # wait for the lock, so it is given back as soon as the connection returns to the
        # pool (see _checkin).
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
            # NORMAL in WAL mode: a power cut may lose the last commits of the index but never
            # corrupts it; the index is rebuilt from the store.
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


def _alembic_error(exc: Exception) -> bool:
    module = type(exc).__module__
    return module.startswith("alembic.")


class Database:
    """Engines and transactions of one database, and the one place its errors are translated."""

    def __init__(self, url: str, *, echo: bool = False, cache_mib: int = 16) -> None:
        if not 1 <= cache_mib <= 65536:
            raise ValueError(f"cache_mib must be 1..65536, got {cache_mib!r}")
        self.url = url
        with self._translated(f"cannot open index {url!r}", ImportError):
            self.engine = sa.create_engine(url, echo=echo)
        name = self.engine.dialect.name
        # Where a full disk or a damaged file is reported: the SQLite file (a server's disk is its own).
        self.path = self.engine.url.database if name == "sqlite" else None
        if name == "postgresql":
            self.dialect: Dialect = PostgreSQLDialect()
        elif name == "sqlite":
            self.dialect = SQLiteDialect()
            _install_sqlite_hooks(self.engine, cache_mib)
        else:
            raise IndexFailure(f"unsupported index database {name!r}: use sqlite:/// or postgresql+psycopg://")
        # Option engines share the pool and hooks and say what kind of transaction to begin.
        self._writer = self.engine.execution_options(**{_TX: "write"})
        snapshot: dict[str, Any] = {_TX: "snapshot"}
        if name == "postgresql":
            snapshot["isolation_level"] = "REPEATABLE READ"
        self._snapshot = self.engine.execution_options(**snapshot)
        # Single-statement reads need no transaction: on PostgreSQL, autocommit saves the BEGIN
        # and ROLLBACK round trips, a third of the time of a search page.
        self._reader = self.engine.execution_options(isolation_level="AUTOCOMMIT") if name == "postgresql" else self.engine
        self._dbapi_error: type[BaseException] = getattr(self.engine.dialect.loaded_dbapi, "Error", Exception)

    def __repr__(self) -> str:
        return f"Database({self.engine.url.render_as_string(hide_password=True)!r})"

    @contextlib.contextmanager
    def _translated(self, what: str, dbapi_error: type[BaseException] = Exception) -> Iterator[None]:
        """Vendor errors become ours: ``IndexFull`` for a full disk, ``IndexDamaged`` for a broken file."""
        try:
            yield
        except IndexFailure:
            raise
        except Exception as exc:
            if not isinstance(exc, (sa.exc.SQLAlchemyError, OSError, dbapi_error)) and not _alembic_error(exc):
                raise
            raise index_failure(what, exc, getattr(self, "path", None), server=self._server()) from exc

    def _server(self) -> str | None:
        """The database server's URL without its password, or None for a file (SQLite)."""
        engine = getattr(self, "engine", None)
        if engine is None or engine.url.get_backend_name() == "sqlite":
            return None
        return engine.url.render_as_string(hide_password=True)

    def edge(self, what: str) -> contextlib.AbstractContextManager[None]:
        """Translate every database error inside into ``IndexFailure`` naming *what* failed."""
        return self._translated(what, getattr(self, "_dbapi_error", Exception))

    @contextlib.contextmanager
    def write(self, what: str) -> Iterator[sa.Connection]:
        with self.edge(what), self._writer.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def snapshot(self, what: str) -> Iterator[sa.Connection]:
        with self.edge(what), self._snapshot.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def read(self, what: str) -> Iterator[sa.Connection]:
        with self.edge(what), self._reader.connect() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()
