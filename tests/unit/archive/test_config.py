"""Settings of an archive home that are read from config.toml (more in the modules that use them)."""

from __future__ import annotations

import pytest

from earsiv.archive.config import load_config, write_default_config
from earsiv.archive.errors import ConfigError


def test_the_store_is_self_tested_daily_by_default_and_it_is_written_down(tmp_path):
    cfg = write_default_config(tmp_path / "home", env={})
    assert cfg.self_test_hours == 24
    assert "self_test_hours = 24" in (tmp_path / "home/config.toml").read_text()


@pytest.mark.parametrize("value,hours", [("0", 0.0), ("6", 6.0), ("0.5", 0.5)])
def test_self_test_hours_is_read_and_zero_means_only_at_start(tmp_path, value, hours):
    write_default_config(tmp_path / "home", env={})
    text = (tmp_path / "home/config.toml").read_text().replace("self_test_hours = 24", f"self_test_hours = {value}")
    (tmp_path / "home/config.toml").write_text(text)
    assert load_config(tmp_path / "home", env={}).self_test_hours == hours


@pytest.mark.parametrize("value", ["-1", "nan", '"daily"', "100000"])
def test_a_self_test_interval_that_makes_no_sense_is_refused(tmp_path, value):
    write_default_config(tmp_path / "home", env={})
    text = (tmp_path / "home/config.toml").read_text().replace("self_test_hours = 24", f"self_test_hours = {value}")
    (tmp_path / "home/config.toml").write_text(text)
    with pytest.raises(ConfigError, match="self_test_hours"):
        load_config(tmp_path / "home", env={})
