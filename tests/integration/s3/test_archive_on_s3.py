"""The archive on a real SeaweedFS: where things live, what the law says, and what an attacker cannot do.

"Attacker" means someone holding the bucket owner's keys and calling the S3
API directly with boto3, without any of our code in the way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from earsiv.archive.archive import Archive
from earsiv.archive.blobs import blob_key
from earsiv.archive.sources import expand
from earsiv.archive.stores.s3 import S3Store
from tests.conftest import CORPUS

UTC = dt.UTC
# Years 2009 … 2025 between them, one without a date of its own, a BOM, an envelope,
# two invoices of one issuer (a dictionary), a response.
FILES = [
    "efatura/sk-akgips_20251120150604701835.xml",
    "efatura/sk-akgips_20251120150604712956.xml",
    "efatura/gib121_TEVKIFAT.xml",
    "efatura/responses/gib121_KabulUygulamaYanitiOrnegi.xml",
    "earsiv/bdog_sample.xml",
    "earsiv/gibfw_SerbestMeslekMakbuzu.xml",
    "eirsaliye/gib121_Irsaliye-Ornek1.xml",
    "efatura/envelopes/gibpkt_1_TEMEL_FATURA_ZARF.xml",
]


def law(year: int) -> dt.datetime:
    """LAW.md L2: 31 Dec of year+10, 23:59:59 Europe/Istanbul (UTC+3 since 2016) = 20:59:59Z."""
    return dt.datetime(year + 10, 12, 31, 20, 59, 59, tzinfo=UTC)


def versions(client, bucket: str, prefix: str = "") -> list[dict]:
    out, kwargs = [], {"Bucket": bucket, "Prefix": prefix}
    while True:
        page = client.list_object_versions(**kwargs)
        out.extend(page.get("Versions", []))
        if not page.get("IsTruncated"):
            return out
        kwargs.update(KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"])


@pytest.fixture
def ingested(s3_home: Path) -> tuple[Path, dict[str, str]]:
    with Archive.open(s3_home) as arch:
        results = list(arch.ingest(expand([CORPUS / f for f in FILES])))
        arch.inspect_pending()
    assert [r.status for r in results].count("rejected") == 0, results
    return s3_home, {Path(r.path).name: r.digest for r in results}


def test_init_keeps_secrets_in_the_home_and_the_archive_in_the_bucket(s3_home, s3_env, bucket, attacker):
    assert {p.name for p in s3_home.iterdir()} >= {"config.toml", "keys", "tsa", "index.sqlite"}
    assert not (s3_home / "store").exists()
    assert s3_env.store_url(bucket) in (s3_home / "config.toml").read_text()
    keys = {v["Key"] for v in versions(attacker, bucket)}
    assert "earsiv.json" in keys
    assert any(k.startswith("keys/tsa-") for k in keys) and any(k.startswith("keys/") and "tsa-" not in k for k in keys)
    assert not any("PRIVATE" in attacker.get_object(Bucket=bucket, Key=k)["Body"].read().decode() for k in keys if k.startswith("keys/"))


def test_the_store_holds_blobs_dictionaries_and_the_log(ingested, bucket, attacker):
    keys = {v["Key"] for v in versions(attacker, bucket)}
    for prefix in ("blobs/", "dicts/", "log/leaves/", "log/checkpoints/"):
        assert any(k.startswith(prefix) for k in keys), prefix


def test_retain_until_of_every_stored_blob_is_the_law_for_its_year(ingested, attacker, bucket):
    home, digests = ingested
    now = dt.datetime.now(UTC)
    longest = dt.datetime.min.replace(tzinfo=UTC)
    with Archive.open(home) as arch:
        for name, digest in digests.items():
            row = arch.index.get(digest)
            year = row.issue_date.year if row.issue_date else row.received_at.astimezone(dt.timezone(dt.timedelta(hours=3))).year
            want = law(year)
            head = attacker.head_object(Bucket=bucket, Key=blob_key(digest))
            assert head["ObjectLockMode"] == "COMPLIANCE", name
            got = head["ObjectLockRetainUntilDate"]
            if want > now + dt.timedelta(days=1, minutes=5):
                assert got == want, (name, year)
            else:  # the legal period is over already: locked for a day, never left unlocked
                assert now < got <= now + dt.timedelta(days=1, minutes=5), (name, year, got)
            longest = max(longest, got)
    # The log outlives every document it proves.
    for v in versions(attacker, bucket, "log/"):
        head = attacker.head_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
        assert head["ObjectLockMode"] == "COMPLIANCE" and head["ObjectLockRetainUntilDate"] >= longest, v["Key"]


def test_the_bucket_owner_can_neither_delete_nor_shorten_any_stored_version(ingested, attacker, bucket):
    all_versions = versions(attacker, bucket)
    # Archive objects, not canaries (only init's self-test leaves one now).
    assert len([v for v in all_versions if not v["Key"].startswith("canary/")]) > 15
    soon = dt.datetime.now(UTC) + dt.timedelta(hours=2)
    for v in all_versions:
        key, vid = v["Key"], v["VersionId"]
        with pytest.raises(attacker.exceptions.ClientError):
            attacker.delete_object(Bucket=bucket, Key=key, VersionId=vid, BypassGovernanceRetention=True)
        with pytest.raises(attacker.exceptions.ClientError):
            attacker.put_object_retention(
                Bucket=bucket, Key=key, VersionId=vid, Retention={"Mode": "COMPLIANCE", "RetainUntilDate": soon}
            )
        with pytest.raises(attacker.exceptions.ClientError):
            attacker.put_object_retention(Bucket=bucket, Key=key, VersionId=vid, Retention={"Mode": "GOVERNANCE", "RetainUntilDate": soon})
    assert len(versions(attacker, bucket)) == len(all_versions)
    assert {(v["Key"], v["VersionId"]) for v in versions(attacker, bucket)} == {(v["Key"], v["VersionId"]) for v in all_versions}


def test_a_legal_hold_object_cannot_be_removed(ingested, attacker, bucket):
    home, digests = ingested
    digest = digests["bdog_sample.xml"]
    with Archive.open(home) as arch:
        arch.set_legal_hold(digest, True, reason="inspection 2026/17")
    head = attacker.head_object(Bucket=bucket, Key=blob_key(digest))
    assert head["ObjectLockLegalHoldStatus"] == "ON"
    with pytest.raises(attacker.exceptions.ClientError):
        attacker.delete_object(Bucket=bucket, Key=blob_key(digest), VersionId=head["VersionId"], BypassGovernanceRetention=True)
    with Archive.open(home) as arch:
        assert arch.store.retention(blob_key(digest)).legal_hold is True
        assert hashlib.sha256(arch.original(digest)).hexdigest() == digest


def test_an_overwrite_or_a_delete_marker_never_changes_what_the_archive_reads(ingested, attacker, bucket):
    home, digests = ingested
    forged = digests["gib121_TEVKIFAT.xml"]
    hidden = digests["gib121_Irsaliye-Ornek1.xml"]
    far = dt.datetime(2099, 1, 1, tzinfo=UTC)
    attacker.put_object(Bucket=bucket, Key=blob_key(forged), Body=b"forged", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=far)
    attacker.delete_object(Bucket=bucket, Key=blob_key(hidden))  # a plain delete: a marker on top
    bundles = sorted(v["Key"] for v in versions(attacker, bucket, "log/leaves/"))
    attacker.delete_object(Bucket=bucket, Key=bundles[-1])  # hide the end of the log too
    assert attacker.get_object(Bucket=bucket, Key=blob_key(forged))["Body"].read() == b"forged"
    with Archive.open(home) as arch:
        assert hashlib.sha256(arch.original(forged)).hexdigest() == forged
        assert hashlib.sha256(arch.original(hidden)).hexdigest() == hidden
        size = arch.log.size
        assert size == 2 * len(FILES)  # each document's leaf and its first holding's
        # A writer after the tampering still appends at the true end of the log.
        results = list(arch.ingest(expand([CORPUS / "efatura/gib121_HASTANE.xml"])))
        assert results[0].status in ("stored", "conflict") and arch.log.size == size + 2
        assert results[0].digest in arch.log.read_leaf(size).decode()
    with Archive.open(home) as arch:
        assert arch.log.size == size + 2
        assert arch.index.get(results[0].digest).log_index == size


def test_a_later_version_of_a_log_bundle_is_reported_not_read(s3_store, attacker, bucket):
    from earsiv.archive.errors import WriteOnceViolation
    from earsiv.archive.stores.base import PutItem

    far = dt.datetime(2099, 1, 1, tzinfo=UTC)
    s3_store.put_many([PutItem("log/leaves/0000000000000000.jsonl", b"first\n", far)])
    attacker.delete_object(Bucket=bucket, Key="log/leaves/0000000000000000.jsonl")
    # If-None-Match passes over a delete marker: the oldest-version rule must catch it.
    with pytest.raises(WriteOnceViolation, match="readers ignore"):
        S3Store.open(s3_store.url).put_many([PutItem("log/leaves/0000000000000000.jsonl", b"second\n", far)])
    assert S3Store.open(s3_store.url).get("log/leaves/0000000000000000.jsonl") == b"first\n"
    assert S3Store.open(s3_store.url).put_many([PutItem("log/leaves/0000000000000000.jsonl", b"first\n", far)]) == [False]
