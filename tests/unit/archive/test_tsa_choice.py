"""Which time-stamp authority an archive uses follows its configuration and environment."""

from __future__ import annotations

import pytest

from earsiv.archive.archive import _make_tsa
from earsiv.archive.config import load_config
from earsiv.archive.errors import ConfigError
from earsiv.archive.tsa.authorities import HttpTSA, KamuSMTSA, LocalTSA


def _config(home, monkeypatch, url: str):
    monkeypatch.setenv("EARSIV_TSA_URL", url)
    return load_config(home)


def test_empty_url_is_the_built_in_tsa(home, monkeypatch):
    assert isinstance(_make_tsa(_config(home, monkeypatch, "")), LocalTSA)


def test_a_url_is_an_rfc3161_http_tsa(home, monkeypatch):
    monkeypatch.delenv("EARSIV_TSA_KAMUSM_CUSTOMER", raising=False)
    tsa = _make_tsa(_config(home, monkeypatch, "http://127.0.0.1:9/tsa"))
    assert type(tsa) is HttpTSA


def test_kamusm_credentials_from_the_environment_select_kamusm(home, monkeypatch):
    monkeypatch.setenv("EARSIV_TSA_KAMUSM_CUSTOMER", "12345")
    monkeypatch.setenv("EARSIV_TSA_KAMUSM_PASSWORD", "s3cret")
    tsa = _make_tsa(_config(home, monkeypatch, "http://127.0.0.1:9/tsa"))
    assert isinstance(tsa, KamuSMTSA)
    assert "s3cret" not in repr(tsa)


def test_kamusm_without_a_password_is_a_configuration_error(home, monkeypatch):
    monkeypatch.setenv("EARSIV_TSA_KAMUSM_CUSTOMER", "12345")
    monkeypatch.delenv("EARSIV_TSA_KAMUSM_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="EARSIV_TSA_KAMUSM_PASSWORD"):
        _make_tsa(_config(home, monkeypatch, "http://127.0.0.1:9/tsa"))
