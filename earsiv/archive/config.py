"""Configuration of an archive home: one TOML file plus environment overrides.

``HOME/config.toml`` is written by ``earsiv init``.  The environment wins over
the file so that other tools can drive the same home against other parts:

    EARSIV_STORE_URL   file:///path  (S3 comes with the scale-out work)
    EARSIV_DB_URL      an SQLAlchemy URL, e.g. sqlite:////path/index.sqlite
    EARSIV_TSA_URL     an RFC 3161 HTTP TSA; empty for the built-in local TSA

Secrets never go into this file; they come from the environment.
"""

from __future__ import annotations

import os
import tomllib
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

from .errors import ConfigError

__all__ = ["Config", "CONFIG_FILE", "load_config", "write_default_config"]

CONFIG_FILE = "config.toml"
ENV_STORE, ENV_DB, ENV_TSA = "EARSIV_STORE_URL", "EARSIV_DB_URL", "EARSIV_TSA_URL"


@dataclass(frozen=True, slots=True)
class Config:
    home: Path
    archive_id: str
    store_url: str
    db_url: str
    tsa_url: str  # "" = built-in local TSA
    retention_years: int = 10
    checkpoint_interval: float = 5.0  # seconds between checkpoints while documents arrive
    max_document_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        scheme = urlparse(self.store_url).scheme
        if scheme not in ("file",):
            raise ConfigError(f"unsupported store URL {self.store_url!r}: expected file:///path")
        if not self.db_url.split(":", 1)[0].startswith(("sqlite", "postgresql")):
            raise ConfigError(f"unsupported index URL {self.db_url!r}: expected sqlite:/// or postgresql+psycopg://")
        if self.tsa_url and urlparse(self.tsa_url).scheme not in ("http", "https"):
            raise ConfigError(f"TSA URL {self.tsa_url!r} must be http(s)://, or empty for the built-in TSA")
        if not 1 <= self.retention_years <= 100:
            raise ConfigError(f"retention_years {self.retention_years} is out of range 1..100")

    @property
    def store_path(self) -> Path:
        return Path(urlparse(self.store_url).path)


def write_default_config(home: Path) -> Config:
    home = home.resolve()
    path = home / CONFIG_FILE
    if path.exists():
        raise ConfigError(f"{path} already exists; this home is initialised")
    archive_id = str(uuid.uuid4())
    text = (
        "# earsiv archive home. Environment variables EARSIV_STORE_URL, EARSIV_DB_URL and\n"
        "# EARSIV_TSA_URL override the values below. Never put secrets here.\n"
        "[archive]\n"
        f'id = "{archive_id}"\n'
        "\n[store]\n"
        f'url = "{(home / "store").as_uri()}"\n'
        "\n[index]\n"
        f'url = "sqlite:///{home / "index.sqlite"}"\n'
        "\n[tsa]\n"
        "# empty: the built-in local TSA (tokens are marked as locally stamped)\n"
        'url = ""\n'
        "\n[retention]\n"
        "# TTK 82: ten years after the end of the document's calendar year (LAW.md L2)\n"
        "years = 10\n"
        "\n[checkpoints]\n"
        "interval_seconds = 5.0\n"
    )
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return load_config(home)


def load_config(home: Path, env: dict[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    home = home.resolve()
    path = home / CONFIG_FILE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{home} is not an archive home (no {CONFIG_FILE}); run `earsiv init` first") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    try:
        cfg = Config(
            home=home,
            archive_id=str(raw["archive"]["id"]),
            store_url=str(raw.get("store", {}).get("url") or (home / "store").as_uri()),
            db_url=str(raw.get("index", {}).get("url") or f"sqlite:///{home / 'index.sqlite'}"),
            tsa_url=str(raw.get("tsa", {}).get("url", "")),
            retention_years=int(raw.get("retention", {}).get("years", 10)),
            checkpoint_interval=float(raw.get("checkpoints", {}).get("interval_seconds", 5.0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: missing or malformed setting ({exc})") from exc
    overrides = {}
    if env.get(ENV_STORE):
        overrides["store_url"] = env[ENV_STORE]
    if env.get(ENV_DB):
        overrides["db_url"] = env[ENV_DB]
    if ENV_TSA in env:
        overrides["tsa_url"] = env[ENV_TSA]
    return replace(cfg, **overrides) if overrides else cfg
