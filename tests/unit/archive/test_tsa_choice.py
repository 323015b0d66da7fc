"""Which time-stamp authorities an archive uses, and what it trusts them through, follows its
configuration and environment; a TSA that could not be checked cannot be configured."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from earsiv.archive.config import load_config
from earsiv.archive.errors import ConfigError
from earsiv.archive.tsa.authorities import HttpTSA, KamuSMTSA, LocalTSA
from earsiv.archive.tsa.configured import make_tsas as _make_tsas


@pytest.fixture
def anchors(tmp_path_factory):
    """A PEM file holding one real certificate (a local TSA's) to trust."""
    d = tmp_path_factory.mktemp("anchor")
    tsa = LocalTSA.create(d / "tsa")
    (d / "anchors.pem").write_bytes(tsa.certificate.public_bytes(serialization.Encoding.PEM))
    return d / "anchors.pem", tsa.certificate


def _config(home, monkeypatch, url: str, trust=None, allow_http: bool = True):
    monkeypatch.setenv("EARSIV_TSA_URL", url)
    if trust is None:
        monkeypatch.delenv("EARSIV_TSA_TRUST", raising=False)
    else:
        monkeypatch.setenv("EARSIV_TSA_TRUST", str(trust))
    monkeypatch.setenv("EARSIV_TSA_ALLOW_HTTP", "1" if allow_http else "0")
    return load_config(home)


def test_empty_url_is_the_built_in_tsa(home, monkeypatch):
    [tsa] = _make_tsas(_config(home, monkeypatch, ""))
    assert isinstance(tsa, LocalTSA)


def test_a_url_is_an_rfc3161_http_tsa_checking_tokens_against_its_anchors(home, monkeypatch, anchors):
    monkeypatch.delenv("EARSIV_TSA_KAMUSM_CUSTOMER", raising=False)
    [tsa] = _make_tsas(_config(home, monkeypatch, "https://127.0.0.1:9/tsa", anchors[0]))
    assert type(tsa) is HttpTSA
    assert tsa.anchors == [anchors[1]]


def test_an_external_tsa_without_anchors_is_refused_naming_the_setting(home, monkeypatch):
    with pytest.raises(ConfigError, match="no trust anchors.*EARSIV_TSA_TRUST"):
        _config(home, monkeypatch, "https://tsa.example/tsr")


@pytest.mark.parametrize(("content", "message"), [
    (None, "cannot read the trust anchors"),
    (b"not a certificate\n", "holds no certificate"),
    (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a PEM file of certificates"),
])
def test_an_unusable_trust_file_is_refused(home, monkeypatch, tmp_path, content, message):
    path = tmp_path / "trust.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        _config(home, monkeypatch, "https://tsa.example/tsr", path)


def test_plain_http_needs_the_explicit_setting(home, monkeypatch, anchors):
    with pytest.raises(ConfigError, match="plain http.*EARSIV_TSA_ALLOW_HTTP=1"):
        _config(home, monkeypatch, "http://tsa.example/tsr", anchors[0], allow_http=False)
    assert _config(home, monkeypatch, "http://tsa.example/tsr", anchors[0]).tsa_allow_http


def test_kamusm_credentials_from_the_environment_select_kamusm(home, monkeypatch, anchors):
    monkeypatch.setenv("EARSIV_TSA_KAMUSM_CUSTOMER", "12345")
    monkeypatch.setenv("EARSIV_TSA_KAMUSM_PASSWORD", "s3cret")
    [tsa] = _make_tsas(_config(home, monkeypatch, "http://127.0.0.1:9/tsa", anchors[0]))
    assert isinstance(tsa, KamuSMTSA) and tsa.anchors == [anchors[1]]
    assert "s3cret" not in repr(tsa)


def test_kamusm_without_a_password_is_a_configuration_error(home, monkeypatch, anchors):
    monkeypatch.setenv("EARSIV_TSA_KAMUSM_CUSTOMER", "12345")
    monkeypatch.delenv("EARSIV_TSA_KAMUSM_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="EARSIV_TSA_KAMUSM_PASSWORD"):
        _make_tsas(_config(home, monkeypatch, "http://127.0.0.1:9/tsa", anchors[0]))


def _append(home, text: str) -> None:
    path = home / "config.toml"
    path.write_text(path.read_text().replace('stamps = 1\n', text))


def test_several_tsas_from_the_config_file_each_with_its_own_anchors(home, monkeypatch, anchors, tmp_path):
    for var in ("EARSIV_TSA_URL", "EARSIV_TSA_TRUST", "EARSIV_TSA_KAMUSM_CUSTOMER"):
        monkeypatch.delenv(var, raising=False)
    other = LocalTSA.create(tmp_path / "other")
    (home / "other.pem").write_bytes(other.certificate.public_bytes(serialization.Encoding.PEM))
    path = home / "config.toml"
    path.write_text(path.read_text().replace('url = ""\ntrust = ""', f'url = "https://a.example/tsr"\ntrust = "{anchors[0]}"'))
    _append(home, 'stamps = 2\n[[tsa.also]]\nurl = "https://b.example/tsr"\ntrust = "other.pem"\n')
    cfg = load_config(home)
    first, second = _make_tsas(cfg)
    assert (first.url, first.anchors) == ("https://a.example/tsr", [anchors[1]])
    assert (second.url, second.anchors) == ("https://b.example/tsr", [other.certificate])  # relative to the home
    assert cfg.tsa_stamps == 2


def test_two_stamps_need_two_external_tsas(home, monkeypatch, anchors):
    monkeypatch.delenv("EARSIV_TSA_URL", raising=False)
    _append(home, "stamps = 2\n")
    with pytest.raises(ConfigError, match="stamps = 2 needs two external TSAs"):
        load_config(home)
    monkeypatch.setenv("EARSIV_TSA_URL", "https://a.example/tsr")
    monkeypatch.setenv("EARSIV_TSA_TRUST", str(anchors[0]))
    with pytest.raises(ConfigError, match="stamps = 2 needs two external TSAs"):
        load_config(home)


def test_stamps_must_be_one_or_two(home, monkeypatch):
    monkeypatch.delenv("EARSIV_TSA_URL", raising=False)
    _append(home, "stamps = 3\n")
    with pytest.raises(ConfigError, match="stamps = 3"):
        load_config(home)
