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


# -- where the self-test runs: init, serve (start and schedule), never an everyday command --------


def canaries(attacker, bucket: str) -> int:
    return len(attacker.list_object_versions(Bucket=bucket, Prefix="canary/").get("Versions", []))


def test_init_leaves_one_canary_and_everyday_commands_none(s3_home, s3_env, attacker, bucket):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from earsiv.archive.archive import Archive

    assert canaries(attacker, bucket) == 1  # init's
    with Archive.open(s3_home) as arch:
        assert arch.store.last_self_test is None  # opened without one
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")} | s3_env.env
    exe = str(Path(sys.executable).with_name("earsiv"))
    for args in (["status", "--json"], ["search", "--json"], ["verify", "--all", "--json"]):
        proc = subprocess.run([exe, "--home", str(s3_home), *args], env=env, capture_output=True, timeout=120)
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert canaries(attacker, bucket) == 1


def test_serve_self_tests_at_start_and_on_its_schedule(s3_home, attacker, bucket):
    from earsiv.archive.service import ArchiveService

    service = ArchiveService.open(s3_home, background=True)
    try:
        service.start()
        assert canaries(attacker, bucket) == 2
        first = service.archive.store.last_self_test
        assert first.ok and first.failures == () and not first.skipped
        service.background.self_tests.run()  # what the background worker does when the schedule says so
        assert canaries(attacker, bucket) == 3
        assert service.archive.store.last_self_test.at >= first.at
    finally:
        service.close()


def test_a_failed_scheduled_self_test_refuses_ingests_until_one_passes(s3_home, attacker, bucket):
    """The bucket starts accepting a retention shortening (a proxy, a server upgrade); the service notices."""
    from botocore.awsrequest import AWSResponse
    from fastapi.testclient import TestClient

    from earsiv.api.http import create_app
    from tests.conftest import CORPUS
    from tests.helpers.auth import bearer, make_principal

    admin = bearer(make_principal(s3_home, "admin", "admin"))

    def post(c, rel):
        return c.post("/v1/documents", content=(CORPUS / rel).read_bytes(),
                      headers={"Content-Type": "application/xml", "X-Filename": rel.rsplit("/", 1)[1]})

    def accept_the_shortening(**_):  # the server says yes where it must say no
        return AWSResponse("http://s3/", 200, {}, None), {}

    with TestClient(create_app(s3_home), headers=admin) as c:
        service = c.app.state.service
        assert post(c, "efatura/gib121_TEVKIFAT.xml").status_code == 200
        events = service.archive.store.client.meta.events
        events.register("before-call.s3.PutObjectRetention", accept_the_shortening)
        service.background.self_tests.run()
        events.unregister("before-call.s3.PutObjectRetention", accept_the_shortening)
        result = service.archive.store.last_self_test
        assert not result.ok and result.failures == ("a retention shortening of a COMPLIANCE-locked object was accepted",)
        refused = post(c, "earsiv/bdog_sample.xml")
        assert refused.status_code == 503, refused.text
        body = refused.json()
        assert body["type"] == "urn:earsiv:problem:lock-not-enforced"
        assert "retention shortening" in body["detail"] and "Reads keep working" in body["detail"]
        # Reads keep working.
        listed = c.get("/v1/documents")
        assert listed.status_code == 200 and len(listed.json()["documents"]) == 1
        service.background.self_tests.run()  # the bucket enforces again
        assert service.archive.store.last_self_test.ok
        assert post(c, "earsiv/bdog_sample.xml").status_code == 200


def test_the_development_flag_skips_the_service_s_self_test_too(tmp_path, moto_bucket, monkeypatch, caplog):
    from earsiv.archive.archive import Archive
    from earsiv.archive.service import ArchiveService

    monkeypatch.setenv("EARSIV_STORE_URL", moto_bucket)
    monkeypatch.setenv("EARSIV_ALLOW_UNENFORCED_LOCK", "1")
    Archive.init(tmp_path / "dev").close()
    service = ArchiveService.open(tmp_path / "dev", background=True)
    try:
        with caplog.at_level(logging.WARNING, logger="earsiv.archive.stores.s3"):
            service.start()
        assert service.archive.store.last_self_test.skipped
        assert "SKIPPED" in caplog.text
        service.background.self_tests.check_writes()  # the operator allowed it: documents are taken
    finally:
        service.close()
