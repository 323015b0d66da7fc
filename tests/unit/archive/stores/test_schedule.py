"""When a server self-tests its store, and what a failed test stops (``stores.schedule``).

The store here is a stand-in whose self-test passes, fails or cannot run as
the test says, and the clock is a number the test moves; the real test on a
real bucket is ``tests/integration/s3/test_self_test.py``.
"""

from __future__ import annotations

import datetime as dt

import pytest

from earsiv.archive.errors import LockNotEnforced, StoreError
from earsiv.archive.stores.base import SelfTestResult
from earsiv.archive.stores.local import LocalStore
from earsiv.archive.stores.schedule import RETRY_AFTER, SelfTestSchedule

HOUR = 3600.0


class Bucket:
    """A store's self-test surface: ``outcome`` is "ok", "fails" or "unreachable"."""

    def __init__(self) -> None:
        self.outcome = "ok"
        self.runs = 0
        self.last_self_test: SelfTestResult | None = None

    def self_test(self) -> SelfTestResult:
        self.runs += 1
        now = dt.datetime.now(dt.UTC)
        if self.outcome == "unreachable":
            raise StoreError("connection refused")
        if self.outcome == "fails":
            self.last_self_test = SelfTestResult(now, False, ("a versioned delete was accepted",))
            raise LockNotEnforced("bucket b does not enforce write-once storage: a versioned delete was accepted.")
        self.last_self_test = SelfTestResult(now, True)
        return self.last_self_test


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def bucket() -> Bucket:
    return Bucket()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_it_runs_at_start_and_then_every_so_many_hours(bucket, clock):
    schedule = SelfTestSchedule(bucket, 24, clock=clock)
    schedule.start()
    assert bucket.runs == 1
    clock.now += 23.9 * HOUR
    schedule.run_if_due()
    assert bucket.runs == 1
    clock.now += 0.2 * HOUR
    schedule.run_if_due()
    schedule.run_if_due()
    assert bucket.runs == 2 and bucket.last_self_test.ok


def test_a_bucket_failing_at_start_stops_the_start(bucket, clock):
    bucket.outcome = "fails"
    with pytest.raises(LockNotEnforced):
        SelfTestSchedule(bucket, 24, clock=clock).start()
    bucket.outcome = "unreachable"
    with pytest.raises(StoreError, match="connection refused"):
        SelfTestSchedule(bucket, 24, clock=clock).start()


def test_a_failed_scheduled_test_refuses_writes_until_a_later_one_passes(bucket, clock):
    schedule = SelfTestSchedule(bucket, 24, clock=clock)
    schedule.start()
    schedule.check_writes()
    bucket.outcome = "fails"
    clock.now += 24 * HOUR
    schedule.run_if_due()  # never raises: the worker goes on
    with pytest.raises(LockNotEnforced, match="refused because the last self-test of the store failed") as info:
        schedule.check_writes()
    assert "versioned delete was accepted" in str(info.value) and "Reads keep working" in str(info.value)
    assert bucket.last_self_test.failures == ("a versioned delete was accepted",)
    # While it fails, it is retried sooner than the schedule.
    clock.now += RETRY_AFTER
    schedule.run_if_due()
    assert bucket.runs == 3
    with pytest.raises(LockNotEnforced):
        schedule.check_writes()
    bucket.outcome = "ok"
    clock.now += RETRY_AFTER
    schedule.run_if_due()
    schedule.check_writes()
    assert bucket.runs == 4


def test_a_test_that_cannot_run_changes_no_verdict_and_is_retried(bucket, clock):
    schedule = SelfTestSchedule(bucket, 24, clock=clock)
    schedule.start()
    bucket.outcome = "unreachable"
    clock.now += 24 * HOUR
    schedule.run_if_due()
    schedule.check_writes()  # an outage is not a bucket that stopped enforcing
    bucket.outcome = "fails"
    schedule.run()
    bucket.outcome = "unreachable"
    clock.now += RETRY_AFTER
    schedule.run_if_due()
    with pytest.raises(LockNotEnforced):
        schedule.check_writes()  # nor does it lift a refusal
    assert bucket.runs == 4


def test_zero_hours_means_only_at_start(bucket, clock):
    schedule = SelfTestSchedule(bucket, 0, clock=clock)
    schedule.start()
    clock.now += 1000 * HOUR
    schedule.run_if_due()
    assert bucket.runs == 1


def test_a_store_without_a_self_test_has_nothing_to_schedule(tmp_path, clock):
    schedule = SelfTestSchedule(LocalStore(tmp_path), 24, clock=clock)
    schedule.start()
    schedule.run()
    clock.now += 48 * HOUR
    schedule.run_if_due()
    schedule.check_writes()
    assert schedule.store is None
