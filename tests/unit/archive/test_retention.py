"""Retain-until per LAW.md L1 and L2."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from earsiv.archive.retention import VUK_POLICY, RetentionPolicy, retain_until

IST = ZoneInfo("Europe/Istanbul")
RECEIVED = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)


def test_ttk_default_is_ten_years_after_the_end_of_the_documents_year():
    until = retain_until(dt.date(2021, 1, 12), RECEIVED)
    assert until.astimezone(IST) == dt.datetime(2031, 12, 31, 23, 59, 59, tzinfo=IST)
    assert until == dt.datetime(2031, 12, 31, 20, 59, 59, tzinfo=dt.UTC)


def test_vuk_example_from_the_law():
    # LAW.md L1: an invoice dated 2014-10-01 is kept until 2019-12-31.
    until = retain_until(dt.date(2014, 10, 1), RECEIVED, VUK_POLICY)
    assert until.astimezone(IST).date() == dt.date(2019, 12, 31)


@pytest.mark.parametrize("day", [dt.date(2021, 1, 1), dt.date(2021, 12, 31)])
def test_first_and_last_day_of_a_year_give_the_same_end(day):
    assert retain_until(day, RECEIVED).astimezone(IST).date() == dt.date(2031, 12, 31)


def test_undated_document_counts_from_the_year_it_was_received():
    assert retain_until(None, RECEIVED).astimezone(IST).date() == dt.date(2036, 12, 31)


def test_received_on_new_years_eve_in_istanbul_counts_that_local_year():
    late = dt.datetime(2025, 12, 31, 22, 30, tzinfo=dt.UTC)  # 01:30 on 1 Jan 2026 in Istanbul
    assert retain_until(None, late).astimezone(IST).date() == dt.date(2036, 12, 31)


def test_absurdly_old_date_never_shortens_retention_below_the_receipt_year():
    assert retain_until(dt.date(1900, 1, 1), RECEIVED).astimezone(IST).date() == dt.date(2036, 12, 31)


def test_policy_bounds_are_checked():
    with pytest.raises(ValueError):
        RetentionPolicy(years_after_year_end=0)
