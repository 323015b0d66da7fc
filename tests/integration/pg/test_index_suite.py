"""The SQLite index test suite, run unchanged on PostgreSQL.

Every test of ``tests/unit/indexer/test_db.py`` that needs nothing but an
``index`` (and its own parameters) is collected here again, as the same
function object, with ``index`` bound to a freshly migrated PostgreSQL
database: the same assertions, on the other engine.  The tests that are about
SQLite itself (its files, pragmas and query plans) are listed by name below,
with their PostgreSQL counterparts in ``test_index_on_pg.py``; a test added
to the SQLite suite that is neither generic nor listed fails
``test_every_sqlite_test_is_accounted_for``, so the two suites cannot drift
apart silently.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest

from earsiv.indexer.db import Index
from tests.unit.indexer import test_db as sqlite_suite

# Test of the SQLite suite -> why it is not rerun as it is, and what covers it here.
SQLITE_ONLY = {
    "test_dump_is_equal_whatever_the_order_records_arrive_in": "builds sqlite files; test_index_on_pg.py has it for both",
    "test_migrations_produce_exactly_the_models": "opens the sqlite file; test_index_on_pg.py compares on PG",
    "test_create_all_and_migration_give_the_same_sqlite_schema": "PRAGMA table_info; PG: compare_metadata both ways",
    "test_vkn_and_date_query_is_an_index_range_scan": "EXPLAIN QUERY PLAN; PG: EXPLAIN test in test_index_on_pg.py",
    "test_sqlite_runs_in_wal_with_foreign_keys": "SQLite pragmas",
    "test_concurrent_writers_and_readers_on_one_file": "sqlite file; PG: same-digest concurrent writers test",
    "test_a_broken_database_file_gives_index_failure": "a damaged file; PG: unreachable server / missing database",
    "test_a_damaged_page_gives_index_failure": "a damaged file",
    "test_unusable_urls_give_index_failure": "sqlite paths; PG: unreachable server / missing database",
}
_PER_TEST = {"index"}


def _generic_tests() -> dict[str, object]:
    out = {}
    for name, func in vars(sqlite_suite).items():
        if not name.startswith("test_") or not inspect.isfunction(func) or name in SQLITE_ONLY:
            continue
        params = set(inspect.signature(func).parameters)
        parametrized = {
            arg.strip()
            for mark in getattr(func, "pytestmark", [])
            if mark.name == "parametrize"
            for arg in (mark.args[0].split(",") if isinstance(mark.args[0], str) else mark.args[0])
        }
        if params - parametrized <= _PER_TEST:
            out[name] = func
    return out


GENERIC = _generic_tests()
globals().update(GENERIC)  # collected by pytest as tests of this module


@pytest.fixture
def index(pg_url: str) -> Iterator[Index]:
    ix = Index(pg_url)
    ix.upgrade()
    yield ix
    ix.close()


def test_every_sqlite_test_is_accounted_for() -> None:
    every = {n for n, f in vars(sqlite_suite).items() if n.startswith("test_") and inspect.isfunction(f)}
    assert set(SQLITE_ONLY) <= every, "a listed SQLite-only test no longer exists"
    assert every == set(SQLITE_ONLY) | set(GENERIC), sorted(every - set(SQLITE_ONLY) - set(GENERIC))
    # the bulk of the suite is rerun, not explained away
    assert len(GENERIC) >= 15, sorted(GENERIC)
    assert "test_round_trip_keeps_every_value_exactly" in GENERIC
    assert "test_each_filter_selects_exactly_its_documents" in GENERIC
