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


# --- retention classes ------------------------------------------------------------------

def test_retention_classes_per_kind_never_below_the_law():
    from earsiv.archive.retention import ISTANBUL

    p = RetentionPolicy(10, by_kind=(("e-arsiv", 5),))
    received = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    assert retain_until(dt.date(2025, 3, 1), received, p, "e-arsiv").astimezone(ISTANBUL).year == 2030
    assert retain_until(dt.date(2025, 3, 1), received, p, "e-fatura").astimezone(ISTANBUL).year == 2035
    for bad in ((("e-arsiv", 4),), (("yevmiye", 5),), (("berat", 9),)):
        with pytest.raises(ValueError, match="out of range"):
            RetentionPolicy(10, by_kind=bad)
    with pytest.raises(ValueError, match="out of range 5"):
        RetentionPolicy(3)
    # A five-year default still keeps ledgers and berats ten years.
    short = RetentionPolicy(5, name="VUK-253")
    assert retain_until(dt.date(2025, 1, 31), received, short, "kebir").astimezone(ISTANBUL).year == 2035
    assert retain_until(dt.date(2025, 1, 31), received, short, "e-fatura").astimezone(ISTANBUL).year == 2030


def test_config_retention_classes_are_read_and_checked(tmp_path):
    from earsiv.archive.archive import Archive
    from earsiv.archive.config import load_config
    from earsiv.archive.errors import ConfigError

    home = tmp_path / "home"
    Archive.init(home).close()
    cfg = home / "config.toml"
    base = cfg.read_text(encoding="utf-8")
    cfg.write_text(base + '\n[retention.kinds]\ne-arsiv = 5\n', encoding="utf-8")
    assert load_config(home).retention_kinds == (("e-arsiv", 5),)
    for bad in ('e-arsiv = 2', 'yevmiye = 5', 'nonsense = 10'):
        cfg.write_text(base + f"\n[retention.kinds]\n{bad}\n", encoding="utf-8")
        with pytest.raises(ConfigError):
            load_config(home)


def test_an_ingest_keeps_each_kind_as_its_class_says(tmp_path):
    from earsiv.archive.archive import Archive
    from earsiv.archive.ingest import Source
    from earsiv.archive.retention import ISTANBUL
    from tests.conftest import CORPUS

    home = tmp_path / "home"
    Archive.init(home).close()
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + "\n[retention.kinds]\ne-arsiv = 5\n", encoding="utf-8")
    with Archive.open(home) as arch:
        files = ["earsiv/bil_gib-e-archive-invoice.xml", "efatura/sk-akgips_20251120150604701835.xml"]
        results = list(arch.ingest([Source(f, (CORPUS / f).read_bytes()) for f in files]))
        years = [arch.index.get(r.digest).retain_until.astimezone(ISTANBUL).year for r in results]
    assert years == [2023 + 5, 2025 + 10]
