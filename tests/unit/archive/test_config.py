"""Settings of an archive home read from config.toml: where it keeps its store and index (relative to the home,
so a copy is a home of its own), and how often the store is self-tested."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from earsiv.archive.config import load_config, write_default_config
from earsiv.archive.errors import ConfigError


def test_a_new_home_records_its_store_and_index_relative_to_itself(tmp_path):
    home = tmp_path / "home"
    cfg = write_default_config(home, env={})
    text = (home / "config.toml").read_text()
    assert 'url = "file:store"' in text and 'url = "sqlite:///index.sqlite"' in text
    assert str(tmp_path) not in text
    assert cfg.store_url == (home / "store").as_uri() and cfg.store_path == home / "store"
    assert cfg.db_url == f"sqlite:///{home / 'index.sqlite'}"


def test_given_places_inside_the_home_are_recorded_relative_and_outside_ones_as_given(tmp_path):
    home = tmp_path / "home"
    write_default_config(home, store_url=(home / "data" / "store").as_uri(),
                         db_url=f"sqlite:///{tmp_path / 'fast' / 'index.sqlite'}", env={})
    text = (home / "config.toml").read_text()
    assert 'url = "file:data/store"' in text
    assert f'url = "sqlite:///{tmp_path}/fast/index.sqlite"' in text
    cfg = load_config(home, env={})
    assert cfg.store_path == home / "data" / "store"
    assert cfg.db_url == f"sqlite:///{tmp_path / 'fast' / 'index.sqlite'}"


def test_relative_places_follow_a_copy_of_the_home(tmp_path):
    home = tmp_path / "home"
    write_default_config(home, env={})
    shutil.copytree(home, tmp_path / "copy")
    cfg = load_config(tmp_path / "copy", env={})
    assert cfg.store_path == tmp_path / "copy" / "store"
    assert cfg.db_url == f"sqlite:///{tmp_path / 'copy' / 'index.sqlite'}"


def old_home(tmp_path: Path) -> Path:
    """A home as versions before relative places wrote it: absolute paths into itself."""
    home = tmp_path / "old"
    write_default_config(home, env={})
    config = home / "config.toml"
    text = config.read_text().replace('"file:store"', f'"{(home / "store").as_uri()}"')
    config.write_text(text.replace('"sqlite:///index.sqlite"', f'"sqlite:///{home / "index.sqlite"}"'))
    (home / "store").mkdir()
    (home / "index.sqlite").touch()
    return home


def test_an_old_home_with_absolute_paths_into_itself_still_opens(tmp_path):
    home = old_home(tmp_path)
    cfg = load_config(home, env={})
    assert cfg.store_path == home / "store" and cfg.db_url == f"sqlite:///{home / 'index.sqlite'}"


@pytest.mark.parametrize("section", ["store", "index"])
def test_a_copy_of_an_old_home_is_refused_with_the_line_to_edit(tmp_path, section):
    home = old_home(tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(home, copy)
    if section == "index":  # only the index line is still absolute
        config = copy / "config.toml"
        config.write_text(config.read_text().replace(f'"{(home / "store").as_uri()}"', '"file:store"'))
    with pytest.raises(ConfigError) as caught:
        load_config(copy, env={})
    message = str(caught.value)
    assert f"{copy / 'config.toml'}: [{section}] url points at {home}" in message
    assert f"a copy of the home at {home}" in message
    fix = 'url = "file:store"' if section == "store" else 'url = "sqlite:///index.sqlite"'
    assert f"edit the line under [{section}] in {copy / 'config.toml'} to read: {fix}" in message
    assert caught.value.exit_code == 2


def test_an_absolute_place_outside_a_home_without_its_own_is_not_a_copy(tmp_path):
    home = tmp_path / "home"
    write_default_config(home, store_url=(tmp_path / "srv" / "store").as_uri(),
                         db_url=f"sqlite:///{tmp_path / 'ssd' / 'index.sqlite'}", env={})
    cfg = load_config(home, env={})
    assert cfg.store_path == tmp_path / "srv" / "store"


def test_relative_places_in_the_environment_are_relative_to_the_home(tmp_path):
    home = tmp_path / "home"
    write_default_config(home, env={})
    cfg = load_config(home, env={"EARSIV_STORE_URL": "file:other", "EARSIV_DB_URL": "sqlite:///other.sqlite"})
    assert cfg.store_path == home / "other" and cfg.db_url == f"sqlite:///{home / 'other.sqlite'}"


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


def test_a_replica_is_optional_written_down_and_overridden_by_the_environment(tmp_path):
    home = tmp_path / "home"
    cfg = write_default_config(home, env={})
    assert cfg.replica_url == "" and cfg.audit_days == 30
    other = tmp_path / "other-disk" / "replica"
    home2 = tmp_path / "home2"
    cfg2 = write_default_config(home2, env={"EARSIV_REPLICA_URL": other.as_uri()})
    assert cfg2.replica_url == other.as_uri() and f'url = "{other.as_uri()}"' in (home2 / "config.toml").read_text()
    inside = write_default_config(tmp_path / "home3", replica_url=(tmp_path / "home3" / "copy").as_uri(), env={})
    assert 'url = "file:copy"' in (tmp_path / "home3" / "config.toml").read_text()  # relative, like the store
    assert inside.replica_url == (tmp_path / "home3" / "copy").resolve().as_uri()
    s3 = "s3://dr-bucket?endpoint=http://127.0.0.1:9000&region=eu-central-1"
    assert load_config(home, env={"EARSIV_REPLICA_URL": s3}).replica_url == s3


@pytest.mark.parametrize(("url", "message"), [
    ("ftp://elsewhere/x", "unsupported replica URL"),
    ("s3://?endpoint=x", "unsupported replica URL"),
])
def test_a_replica_url_that_makes_no_sense_is_refused(tmp_path, url, message):
    with pytest.raises(ConfigError, match=message):
        write_default_config(tmp_path / "home", replica_url=url, env={})
    assert not (tmp_path / "home" / "config.toml").exists()


def test_the_replica_cannot_be_the_store(tmp_path):
    home = tmp_path / "home"
    with pytest.raises(ConfigError, match="is the store itself"):
        write_default_config(home, replica_url=(home / "store").as_uri(), env={})


# --- where the data lives (LAW.md L3) -----------------------------------------------------

def _with_store(home, lines: str) -> None:
    """[store] with *lines* instead of its location settings (the first of each in the file are [store]'s)."""
    import re

    cfg = home / "config.toml"
    text = cfg.read_text(encoding="utf-8")
    for key in ("location", "provider", "region", "outside_turkey_acknowledged"):
        text = re.sub(rf"(?m)^{key} = .*\n", "", text, count=1)
    cfg.write_text(text.replace("\n[store]\n", "\n[store]\n" + lines, 1), encoding="utf-8")


def test_a_primary_store_outside_turkey_warns_at_every_start_unless_acknowledged(tmp_path, caplog):
    import logging

    import pytest

    from earsiv.archive.archive import Archive
    from earsiv.archive.config import load_config
    from earsiv.archive.errors import ConfigError

    home = tmp_path / "home"
    Archive.init(home).close()
    assert load_config(home).store_location.country == ""  # not stated until the operator says
    _with_store(home, 'location = "de"\nprovider = "AWS"\nregion = "eu-central-1"\noutside_turkey_acknowledged = false\n')
    with caplog.at_level(logging.WARNING, logger="earsiv.archive"), Archive.open(home) as arch:
        assert arch.status().to_json()["locations"]["primary"] == {
            "country": "DE", "provider": "AWS", "region": "eu-central-1", "outside_turkey_acknowledged": False}
    assert any("outside Türkiye (DE (AWS, eu-central-1))" in r.getMessage() for r in caplog.records)
    caplog.clear()
    _with_store(home, 'location = "DE"\noutside_turkey_acknowledged = true\n')
    with caplog.at_level(logging.WARNING, logger="earsiv.archive"), Archive.open(home):
        pass
    assert not [r for r in caplog.records if "Türkiye" in r.getMessage()]
    _with_store(home, 'location = "Turkey"\n')
    with pytest.raises(ConfigError, match="ISO 3166"):
        load_config(home)
