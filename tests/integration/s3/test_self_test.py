"""The start-up self-test: a bucket that does not enforce Object Lock is refused, by name.

moto is the unenforcing server here on purpose: it accepts the lock headers and
then lets a COMPLIANCE retention be shortened (DESIGN.md, "Real parts").
"""

from __future__ import annotations

import logging

import pytest

from earsiv.archive.errors import StoreError
from earsiv.archive.stores.s3 import LockNotEnforced, S3Location, S3Store


@pytest.fixture
def moto_bucket(monkeypatch):
    moto = pytest.importorskip("moto")
    import boto3

    from earsiv.archive.stores import s3api

    # moto intercepts through handlers a boto3 session copies when it is made:
    # a session made before moto was imported (by an earlier test) would reach
    # for the real AWS.  A fresh one for the duration of this test.
    monkeypatch.setattr(s3api, "_SESSION", None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "moto-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "moto-test")
    with moto.mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="moto-locked", ObjectLockEnabledForBucket=True)
        yield "s3://moto-locked?region=us-east-1"


def test_moto_fails_the_self_test_because_it_lets_retention_be_shortened(moto_bucket):
    with pytest.raises(LockNotEnforced) as info:
        S3Store.open(moto_bucket)
    message = str(info.value)
    assert "retention shortening of a COMPLIANCE-locked object was accepted" in message
    assert "versioned delete" not in message  # moto does refuse that one: the test names only what failed
    assert isinstance(info.value, StoreError) and "moto-locked" in message


def test_allow_unenforced_lock_opens_it_anyway_and_says_so_loudly(moto_bucket, caplog):
    with caplog.at_level(logging.WARNING, logger="earsiv.archive.stores.s3"):
        store = S3Store.open(moto_bucket, allow_unenforced_lock=True)
    assert store.bucket == "moto-locked"
    warning = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert "--allow-unenforced-lock" in warning and "SKIPPED" in warning


def test_seaweedfs_passes_the_self_test(s3_env, bucket, attacker):
    S3Store.open(s3_env.store_url(bucket))  # raises if anything is not enforced
    canaries = attacker.list_object_versions(Bucket=bucket, Prefix="canary/").get("Versions", [])
    assert len(canaries) == 1  # it really wrote one, and could not delete it
    head = attacker.head_object(Bucket=bucket, Key=canaries[0]["Key"], VersionId=canaries[0]["VersionId"])
    assert head["ObjectLockMode"] == "COMPLIANCE"


def test_a_bucket_without_object_lock_is_refused_by_name(s3_env):
    plain = f"plain-{s3_env.port}"
    s3_env.client().create_bucket(Bucket=plain)
    with pytest.raises(LockNotEnforced, match="Object Lock is not enabled on the bucket"):
        S3Store.open(s3_env.store_url(plain))


def test_a_missing_bucket_is_a_clear_store_error(s3_env):
    with pytest.raises(StoreError, match="does not exist"):
        S3Store.open(s3_env.store_url("never-created-bucket"))


def test_archive_open_runs_the_self_test_and_honours_the_development_flag(tmp_path, moto_bucket, monkeypatch):
    from earsiv.archive.archive import Archive

    monkeypatch.setenv("EARSIV_STORE_URL", moto_bucket)
    with pytest.raises(LockNotEnforced, match="retention shortening"):
        Archive.init(tmp_path / "refused")
    monkeypatch.setenv("EARSIV_ALLOW_UNENFORCED_LOCK", "1")
    with Archive.init(tmp_path / "dev") as arch:
        assert isinstance(arch.store, S3Store) and arch.store.exists("earsiv.json")


@pytest.mark.parametrize(
    "url",
    ["s3://", "s3://UPPER", "s3://b/a/path", "s3://bucket?endpoint=ftp://x", "s3://bucket?colour=blue", "s3://ab"],
)
def test_bad_s3_urls_are_refused(url):
    with pytest.raises(ValueError):
        S3Location.parse(url)


def test_s3_url_round_trips():
    loc = S3Location.parse("s3://arsiv-1?endpoint=http://127.0.0.1:8333&region=us-east-1")
    assert (loc.bucket, loc.endpoint, loc.region) == ("arsiv-1", "http://127.0.0.1:8333", "us-east-1")
    assert S3Location.parse(loc.url) == loc
