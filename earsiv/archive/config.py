"""Configuration of an archive home: one TOML file plus environment overrides.

``HOME/config.toml`` is written by ``earsiv init``.  The environment wins over
the file so that other tools can drive the same home against other parts:

    EARSIV_STORE_URL   file:///path (file:path: relative to the home), or
                       s3://BUCKET?endpoint=http://127.0.0.1:8333&region=us-east-1
                       (S3 credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)
    EARSIV_DB_URL      an SQLAlchemy URL, e.g. sqlite:////path/index.sqlite (sqlite:///path: relative to the home)
    EARSIV_TSA_URL     an RFC 3161 HTTP TSA; empty for the built-in local TSA
    EARSIV_TSA_TRUST   a PEM file of that TSA's trust anchors (its CA, or its pinned certificates);
                       required with an external TSA: a token that does not chain to one is refused
    EARSIV_TSA_ALLOW_HTTP=1
                       accept a plain http:// TSA (Kamu SM's is one; see tsa/settings.py for what it exposes)
    EARSIV_REPLICA_URL a second store, at another site, that every object is also written to
                       (the same forms as EARSIV_STORE_URL; ``earsiv repair`` restores from it)
    EARSIV_SIGNATURE_TRUST
                       roots for signature trust: a PEM bundle or a directory of
                       certificates ([signatures] trust; see archive/trust.py)
    EARSIV_ALLOW_UNENFORCED_LOCK=1
                       development only: run on an S3 bucket that fails the
                       Object Lock self-test (logged loudly whenever the store is opened)

Secrets never go into this file; they come from the environment.  ``init``
records the store URL it was given (``EARSIV_STORE_URL`` at that moment) in the
file, so a home made for S3 keeps opening its bucket without the variable.

Places inside the home are recorded relative to it, so a copy of the home
(``cp -a``, a restored backup) is a home of its own:

    file:store                  HOME/store  (a ``file:`` URL whose path does not start with /)
    sqlite:///index.sqlite      HOME/index.sqlite  (SQLAlchemy's relative form: three slashes)

Absolute forms (``file:///srv/store``, ``sqlite:////srv/index.sqlite``) mean
what they say, as in homes made before; but an absolute path outside the home,
in a home that has its own ``store/`` or ``index.sqlite``, is what a copy of an
older home looks like, and is refused: the copy would write into the original.
"""

from __future__ import annotations

import os
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from earsiv.archive.errors import ConfigError
from earsiv.archive.retention import RetentionPolicy
from earsiv.archive.tsa.settings import TSASetting
from earsiv.documents.metadata import KINDS

__all__ = ["CONFIG_FILE", "Config", "StoreLocation", "load_config", "write_default_config"]

CONFIG_FILE = "config.toml"
ENV_STORE, ENV_DB, ENV_TSA, ENV_REPLICA = "EARSIV_STORE_URL", "EARSIV_DB_URL", "EARSIV_TSA_URL", "EARSIV_REPLICA_URL"
ENV_ALLOW_UNENFORCED = "EARSIV_ALLOW_UNENFORCED_LOCK"
ENV_SIGNATURE_TRUST = "EARSIV_SIGNATURE_TRUST"
ENV_TSA_TRUST, ENV_TSA_ALLOW_HTTP = "EARSIV_TSA_TRUST", "EARSIV_TSA_ALLOW_HTTP"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
HOME_STORE_URL, HOME_DB_URL = "file:store", "sqlite:///index.sqlite"


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """Where a store's bytes sit (L3: the primary copy of Turkish taxpayers' documents is expected in
    Türkiye): an ISO 3166 country code ("" = not stated), the provider and its region, as configured."""

    country: str = ""
    provider: str = ""
    region: str = ""

    def __post_init__(self) -> None:
        if self.country and not (len(self.country) == 2 and self.country.isascii() and self.country.isupper()):
            raise ConfigError(f"store location {self.country!r} is not an ISO 3166 country code such as \"TR\"")

    @property
    def in_turkey(self) -> bool | None:
        return None if not self.country else self.country == "TR"

    def describe(self) -> str:
        where = self.country or "location not stated"
        extra = ", ".join(x for x in (self.provider, self.region) if x)
        return f"{where} ({extra})" if extra else where

    def to_json(self) -> dict[str, str | None]:
        return {"country": self.country or None, "provider": self.provider or None, "region": self.region or None}


@dataclass(frozen=True, slots=True)
class Config:
    home: Path
    archive_id: str
    store_url: str
    db_url: str
    tsa_url: str  # "" = built-in local TSA
    retention_years: int = 10
    retention_kinds: tuple[tuple[str, int], ...] = ()  # retention classes: (document kind, years)
    checkpoint_interval: float = 5.0  # seconds between checkpoints while documents arrive
    max_document_bytes: int = 64 * 1024 * 1024
    allow_unenforced_lock: bool = False  # development only: skip the S3 Object Lock self-test
    self_test_hours: float = 24.0  # `serve` re-runs the store's self-test this often; 0: only at start
    replica_url: str = ""  # a second store every object is also written to; "" = none
    audit_days: float = 30.0  # `serve` audits the whole archive once in this many days; 0: never on its own
    # `serve`'s rate limits per principal: requests a minute on average, and the burst allowed
    inspector_per_minute: float = 60.0
    inspector_burst: int = 30
    access_log_per_minute: float = 30.0
    access_log_burst: int = 10
    jobs_keep_hours: float = 24.0  # a take-away job's result is downloadable this long after it ends
    jobs_per_principal: int = 2  # jobs one principal may have queued or running at once
    jobs_workers: int = 1  # jobs a serve process runs at once (their prints share the print workers)
    signature_trust: str = ""  # roots for signature trust (a file or directory); "" = only the shipped ones
    # Time-stamp authorities beyond the URL: the anchors of tsa_url (a PEM file), whether it is
    # Kamu SM, whether plain http:// is accepted, further TSAs as (url, trust file, kamusm), and
    # how many independent TSAs stamp each checkpoint (1 or 2).
    tsa_trust: str = ""
    tsa_kamusm: bool = False
    tsa_allow_http: bool = False
    tsa_also: tuple[tuple[str, str, bool], ...] = ()
    tsa_stamps: int = 1
    tsa_authorities: tuple[TSASetting, ...] = field(default=(), init=False, compare=False, repr=False)
    store_location: StoreLocation = StoreLocation()
    replica_location: StoreLocation = StoreLocation()
    # A primary store outside Türkiye is allowed once the operator says it knows (L3): then no warning.
    outside_turkey_acknowledged: bool = False

    def location_warnings(self, *, unstated: bool = False) -> list[str]:
        """What to warn about where the data lives; *unstated*: also a primary store whose location is not stated."""
        loc = self.store_location
        if loc.in_turkey is False and not self.outside_turkey_acknowledged:
            return [(f"the primary store is configured outside Türkiye ({loc.describe()}): Turkish taxpayers' e-documents "
                    "are expected to have their primary copy in Türkiye (VUK 397/433/509, LAW.md L3). If this is "
                    "lawful for your taxpayers, set outside_turkey_acknowledged = true under [store] in config.toml")]
        if unstated and loc.in_turkey is None:
            return [("the primary store's location is not stated: set location = \"TR\" (and provider, region) under "
                    "[store] in config.toml, so that status and packages can say where the data lives (LAW.md L3)")]
        return []

    def __post_init__(self) -> None:
        _check_store_url(self.store_url, "store")
        if self.replica_url:
            _check_store_url(self.replica_url, "replica")
            if self.replica_url.rstrip("/") == self.store_url.rstrip("/"):
                raise ConfigError(f"the replica {self.replica_url!r} is the store itself; give it another place")
        if not self.db_url.split(":", 1)[0].startswith(("sqlite", "postgresql")):
            raise ConfigError(f"unsupported index URL {self.db_url!r}: expected sqlite:/// or postgresql+psycopg://")
        self._check_tsas()
        for kind, _years in self.retention_kinds:
            if kind not in KINDS:
                raise ConfigError(f"[retention.kinds] {kind!r} is not a document kind; kinds: {', '.join(sorted(KINDS))}")
        try:
            RetentionPolicy(self.retention_years, by_kind=self.retention_kinds)
        except ValueError as exc:
            raise ConfigError(f"[retention] {exc}") from exc
        if not 0 <= self.audit_days <= 3660:
            raise ConfigError(f"audit period_days {self.audit_days} is out of range 0..3660 (0: serve does not audit)")
        if not 0 <= self.self_test_hours <= 24 * 366:
            raise ConfigError(f"self_test_hours {self.self_test_hours} is out of range 0..8784 (0: only when serve starts)")
        for name in ("inspector_per_minute", "access_log_per_minute"):
            if not 0 < getattr(self, name) <= 1e6:
                raise ConfigError(f"[limits] {name} {getattr(self, name)} is out of range (0, 1000000]")
        for name in ("inspector_burst", "access_log_burst"):
            if not 1 <= getattr(self, name) <= 1e6:
                raise ConfigError(f"[limits] {name} {getattr(self, name)} is out of range 1..1000000")

    def _check_tsas(self) -> None:
        """Every external TSA valid with its anchors (``TSASetting``); the second-stamp rule."""
        entries = ([(self.tsa_url, self.tsa_trust, self.tsa_kamusm)] if self.tsa_url else []) + list(self.tsa_also)
        made = tuple(TSASetting(url, Path(trust) if trust else None, kamusm=kamusm, allow_http=self.tsa_allow_http)
                     for url, trust, kamusm in entries)
        object.__setattr__(self, "tsa_authorities", made)
        if self.tsa_also and not self.tsa_url:
            raise ConfigError("[[tsa.also]] lists further TSAs, but [tsa] url is empty: the built-in TSA is not "
                              "independent; put the first external TSA under [tsa] url")
        if self.tsa_stamps not in (1, 2):
            raise ConfigError(f"[tsa] stamps = {self.tsa_stamps}: 1 (one TSA stamps each checkpoint) or 2 "
                              "(two independent TSAs do)")
        if self.tsa_stamps == 2 and len(made) < 2:
            raise ConfigError("[tsa] stamps = 2 needs two external TSAs: the url under [tsa] and at least one "
                              "[[tsa.also]] with its own url and trust")
        if sum(1 for s in made if s.kamusm) > 1:
            raise ConfigError("more than one TSA is marked kamusm = true; the Kamu SM credentials are for one")

    @property
    def store_scheme(self) -> str:
        return urlparse(self.store_url).scheme

    @property
    def store_path(self) -> Path:
        return Path(urlparse(self.store_url).path)


def _check_store_url(url: str, what: str) -> None:
    scheme = urlparse(url).scheme
    if scheme == "s3":
        from earsiv.archive.stores.s3 import S3Location

        try:
            S3Location.parse(url)
        except ValueError as exc:
            raise ConfigError(f"unsupported {what} URL: {exc}") from exc
    elif scheme != "file":
        raise ConfigError(f"unsupported {what} URL {url!r}: expected file:///path or s3://BUCKET?endpoint=…&region=…")


def write_default_config(home: Path, *, store_url: str | None = None, db_url: str | None = None,
                         replica_url: str | None = None, env: dict[str, str] | None = None) -> Config:
    """Write HOME/config.toml; the store is *store_url*, else $EARSIV_STORE_URL, else HOME/store;
    the index is *db_url*, else HOME/index.sqlite ($EARSIV_DB_URL still overrides it at every start,
    and is the place for a URL with a password)."""
    env = os.environ if env is None else env
    home = home.resolve()
    path = home / CONFIG_FILE
    if path.exists():
        raise ConfigError(f"{path} already exists; this home is initialised")
    store_url = _relative_store(home, store_url or env.get(ENV_STORE) or HOME_STORE_URL)
    if '"' in store_url or "\\" in store_url or "\n" in store_url:
        raise ConfigError(f"store URL {store_url!r} cannot be written to {CONFIG_FILE}")
    replica_url = replica_url or env.get(ENV_REPLICA) or ""
    replica_url = _relative_store(home, replica_url) if replica_url else ""
    if '"' in replica_url or "\\" in replica_url or "\n" in replica_url:
        raise ConfigError(f"replica URL {replica_url!r} cannot be written to {CONFIG_FILE}")
    db_url = _relative_db(home, db_url or HOME_DB_URL)
    if '"' in db_url or "\\" in db_url or "\n" in db_url:
        raise ConfigError(f"index URL {db_url!r} cannot be written to {CONFIG_FILE}")
    Config(home, "-", _resolve_store(home, store_url), _resolve_db(home, db_url), "",  # refuse a bad URL first
           replica_url=_resolve_store(home, replica_url) if replica_url else "")
    archive_id = str(uuid.uuid4())
    text = (
        "# earsiv archive home. Environment variables EARSIV_STORE_URL, EARSIV_DB_URL and\n"
        "# EARSIV_TSA_URL override the values below. Never put secrets here.\n"
        "[archive]\n"
        f'id = "{archive_id}"\n'
        "\n[store]\n"
        f'url = "{store_url}"\n'
        "# development only: run on an S3 bucket that fails the Object Lock self-test\n"
        "allow_unenforced_lock = false\n"
        "# `serve` self-tests an S3 bucket at start and then every this many hours (0: only at start)\n"
        "self_test_hours = 24\n"
        "# where this store's bytes sit (LAW.md L3: the primary copy is expected in Türkiye): an ISO\n"
        "# country code, the provider and its region; `status` and packages state them\n"
        'location = ""\n'
        'provider = ""\n'
        'region = ""\n'
        "# a primary store outside Türkiye warns at every start unless this is true\n"
        "outside_turkey_acknowledged = false\n"
        "\n[replica]\n"
        "# a second store at another site (another disk, another bucket or provider, with Object\n"
        "# Lock too): every object is also written there, and `earsiv repair` restores from it\n"
        f'url = "{replica_url}"\n'
        'location = ""\n'
        'provider = ""\n'
        'region = ""\n'
        "\n[audit]\n"
        "# `serve` reads and checks every object once in this many days (0: only `earsiv audit`)\n"
        "period_days = 30\n"
        "\n[index]\n"
        f'url = "{db_url}"\n'
        "\n[tsa]\n"
        "# empty: the built-in local TSA (tokens are marked as locally stamped). An external TSA needs\n"
        "# trust: a PEM file of its CA or pinned certificates (relative to this home); tokens that\n"
        "# do not chain to it are refused. See docs/DEPLOY.md, \"Time-stamp authorities\".\n"
        'url = ""\n'
        'trust = ""\n'
        "# Kamu SM (credentials from EARSIV_TSA_KAMUSM_CUSTOMER / _PASSWORD, never here)\n"
        "kamusm = false\n"
        "# plain http:// TSAs (Kamu SM's is one): requests travel in clear; tokens are still checked\n"
        "allow_http = false\n"
        "# 2: every checkpoint is stamped by two independent TSAs (url and a [[tsa.also]])\n"
        "stamps = 1\n"
        "# further TSAs, tried in order when one fails:\n"
        "# [[tsa.also]]\n"
        '# url = "https://tsa.example/tsr"\n'
        '# trust = "tsa-example-ca.pem"\n'
        "\n[retention]\n"
        "# TTK 82: ten years after the end of the document's calendar year (LAW.md L2)\n"
        "years = 10\n"
        "\n[signatures]\n"
        "# roots a signer certificate must chain to, at signing time, for a signature to be called\n"
        "# trusted: a PEM bundle or a directory of certificates (relative to this home). Empty: only\n"
        "# the roots shipped with earsiv, which today are none (docs/SIGNATURES.md). After a change,\n"
        "# run `earsiv reindex`. EARSIV_SIGNATURE_TRUST overrides it.\n"
        'trust = ""\n'
        "# retention classes: years per document kind where a shorter keeping is lawful (VUK 253: at\n"
        "# least 5; e-Defter ledgers and berats at least 10); they apply to what is archived from now\n"
        "# on, since a stored retention is never shortened.  Example:\n"
        "# [retention.kinds]\n"
        "# e-arsiv = 5\n"
        "\n[checkpoints]\n"
        "interval_seconds = 5.0\n"
        "\n[limits]\n"
        "# `serve`, per principal: an inspector's requests (each is an access event kept for years)\n"
        "# and reads of the access log, a minute on average and in one burst; over them: 429\n"
        "inspector_per_minute = 60\n"
        "inspector_burst = 30\n"
        "access_log_per_minute = 30\n"
        "access_log_burst = 10\n"
        "\n[jobs]\n"
        "# `serve`: bulk take-away (ZIP, CSV, XLSX of a result list) runs as jobs; a result is kept\n"
        "# this many hours after its job ends, then deleted; a principal may have this many jobs\n"
        "# queued or running (more: 429); this many jobs run at once\n"
        "keep_hours = 24\n"
        "per_principal = 2\n"
        "workers = 1\n"
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
        store_url = str(raw.get("store", {}).get("url") or HOME_STORE_URL)
        db_url = str(raw.get("index", {}).get("url") or HOME_DB_URL)
        _refuse_copy(home, path, store_url, db_url)
        settings = dict(
            home=home,
            archive_id=str(raw["archive"]["id"]),
            store_url=_resolve_store(home, store_url),
            db_url=_resolve_db(home, db_url),
            **_tsa(home, raw.get("tsa", {})),
            retention_years=int(raw.get("retention", {}).get("years", 10)),
            retention_kinds=tuple(sorted((str(k), int(v)) for k, v in raw.get("retention", {}).get("kinds", {}).items())),
            checkpoint_interval=float(raw.get("checkpoints", {}).get("interval_seconds", 5.0)),
            allow_unenforced_lock=_flag(raw.get("store", {}).get("allow_unenforced_lock", False), "allow_unenforced_lock"),
            self_test_hours=_number(raw.get("store", {}).get("self_test_hours", 24.0), "self_test_hours"),
            replica_url=_resolve_replica(home, str(raw.get("replica", {}).get("url") or "")),
            audit_days=_number(raw.get("audit", {}).get("period_days", 30.0), "period_days"),
            signature_trust=_resolve_path(home, str(raw.get("signatures", {}).get("trust") or "")),
            store_location=_location(raw.get("store", {})),
            replica_location=_location(raw.get("replica", {})),
            outside_turkey_acknowledged=_flag(raw.get("store", {}).get("outside_turkey_acknowledged", False),
                                              "outside_turkey_acknowledged"),
            **_limits(raw.get("limits", {})),
            **_jobs(raw.get("jobs", {})),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: missing or malformed setting ({exc})") from exc
    # One construction with the environment applied: a file setting the environment corrects
    # (a plain-HTTP TSA that EARSIV_TSA_ALLOW_HTTP accepts) must not be refused on its own.
    overrides: dict = {}
    if env.get(ENV_STORE):
        overrides["store_url"] = _resolve_store(home, env[ENV_STORE])
    if env.get(ENV_DB):
        overrides["db_url"] = _resolve_db(home, env[ENV_DB])
    if ENV_TSA in env:
        overrides["tsa_url"] = env[ENV_TSA]
    if env.get(ENV_TSA_TRUST):
        overrides["tsa_trust"] = str(Path(env[ENV_TSA_TRUST]).expanduser().resolve())
    if ENV_TSA_ALLOW_HTTP in env:
        overrides["tsa_allow_http"] = _flag(env[ENV_TSA_ALLOW_HTTP], ENV_TSA_ALLOW_HTTP)
    if ENV_REPLICA in env:
        overrides["replica_url"] = _resolve_replica(home, env[ENV_REPLICA])
    if ENV_SIGNATURE_TRUST in env:
        overrides["signature_trust"] = _resolve_path(home, env[ENV_SIGNATURE_TRUST])
    if ENV_ALLOW_UNENFORCED in env:
        overrides["allow_unenforced_lock"] = _flag(env[ENV_ALLOW_UNENFORCED], ENV_ALLOW_UNENFORCED)
    try:
        return Config(**(settings | overrides))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: malformed setting ({exc})") from exc


def _tsa(home: Path, raw: dict) -> dict:
    """The [tsa] table and its [[tsa.also]] entries; trust files relative to the home."""
    def trust(value: object) -> str:
        return str(home / str(value)) if value else ""

    also = raw.get("also", [])
    if not isinstance(also, list) or not all(isinstance(a, dict) for a in also):
        raise ConfigError("[[tsa.also]] entries must be tables with url and trust")
    stamps = raw.get("stamps", 1)
    if isinstance(stamps, bool) or not isinstance(stamps, int):
        raise ConfigError(f"[tsa] stamps must be 1 or 2, not {stamps!r}")
    return {
        "tsa_url": str(raw.get("url", "")),
        "tsa_trust": trust(raw.get("trust")),
        "tsa_kamusm": _flag(raw.get("kamusm", False), "[tsa] kamusm"),
        "tsa_allow_http": _flag(raw.get("allow_http", False), "[tsa] allow_http"),
        "tsa_stamps": stamps,
        "tsa_also": tuple((str(a.get("url", "")), trust(a.get("trust")), _flag(a.get("kamusm", False), "kamusm"))
                          for a in also),
    }


def _location(table: dict) -> StoreLocation:
    return StoreLocation(str(table.get("location", "")).strip().upper(), str(table.get("provider", "")).strip(),
                         str(table.get("region", "")).strip())


def _limits(raw: dict) -> dict:
    """The [limits] table; a home made before it has none and gets the defaults."""
    out: dict = {}
    for name in ("inspector_per_minute", "access_log_per_minute"):
        if name in raw:
            out[name] = _number(raw[name], name)
    for name in ("inspector_burst", "access_log_burst"):
        if name in raw:
            value = raw[name]
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"[limits] {name} must be a whole number, not {value!r}")
            out[name] = value
    return out


def _jobs(raw: dict) -> dict:
    """The [jobs] table (keep_hours, per_principal, workers); a home made before it has none."""
    out: dict = {}
    if "keep_hours" in raw:
        out["jobs_keep_hours"] = _number(raw["keep_hours"], "[jobs] keep_hours")
    for name in ("per_principal", "workers"):
        if name in raw:
            value = raw[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"[jobs] {name} must be a whole number of at least 1, not {value!r}")
            out[f"jobs_{name}"] = value
    if out.get("jobs_keep_hours", 1) <= 0:
        raise ConfigError("[jobs] keep_hours must be more than 0")
    return out


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, not {value!r}")
    return float(value)


def _flag(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}")


# -- places inside the home, relative to it ------------------------------------------------


def _sqlite_path(url: str) -> str | None:
    """The file of an SQLite URL as written (relative or absolute), or None for other databases and memory."""
    scheme, sep, rest = url.partition(":///")
    if not sep or scheme.split("+", 1)[0] != "sqlite":
        return None
    path = rest.split("?", 1)[0]
    return None if path in ("", ":memory:") else path


def _file_path(url: str) -> str | None:
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return None
    return unquote(parsed.path)


def _resolve_store(home: Path, url: str) -> str:
    """``file:store`` is HOME/store; every other URL is as written."""
    path = _file_path(url)
    if path is None or path.startswith("/"):
        return url
    return (home / path).resolve().as_uri()


def _resolve_path(home: Path, path: str) -> str:
    """A file or directory named in the configuration: relative to the home."""
    return str((home / path).resolve()) if path else ""


def _resolve_replica(home: Path, url: str) -> str:
    return _resolve_store(home, url) if url else ""


def _resolve_db(home: Path, url: str) -> str:
    """``sqlite:///index.sqlite`` is HOME/index.sqlite; every other URL is as written."""
    path = _sqlite_path(url)
    if path is None or path.startswith("/"):
        return url
    scheme, _sep, rest = url.partition(":///")
    query = rest[len(path):]
    return f"{scheme}:///{(home / path).resolve()}{query}"


def _inside(home: Path, path: str) -> str | None:
    """*path* relative to *home* if it lies inside it."""
    try:
        return Path(path).resolve().relative_to(home).as_posix()
    except ValueError:
        return None


def _relative_store(home: Path, url: str) -> str:
    path = _file_path(url)
    rel = _inside(home, path) if path and path.startswith("/") else None
    return f"file:{rel}" if rel and rel != "." else url


def _relative_db(home: Path, url: str) -> str:
    path = _sqlite_path(url)
    rel = _inside(home, path) if path and path.startswith("/") else None
    if not rel or rel == ".":
        return url
    scheme, _sep, rest = url.partition(":///")
    return f"{scheme}:///{rel}{rest[len(path):]}"


def _refuse_copy(home: Path, config: Path, store_url: str, db_url: str) -> None:
    """Refuse an absolute store or index outside the home when the home has its own: a copy of an older home.

    Homes made before relative locations recorded HOME/store and HOME/index.sqlite as
    absolute paths; a copy of such a home (``cp -a``, a restored backup) would write into
    the original's store and index.
    """
    checks = (("store", _file_path(store_url), home / "store", HOME_STORE_URL),
              ("index", _sqlite_path(db_url), home / "index.sqlite", HOME_DB_URL))
    for section, path, own, relative in checks:
        if path is None or not path.startswith("/") or _inside(home, path) is not None or not own.exists():
            continue
        origin = Path(path).parent
        raise ConfigError(
            f"{config}: [{section}] url points at {path}, outside this home, but this home has its own {own.name}: "
            f"it looks like a copy of the home at {origin} made with an absolute path in its configuration, and it "
            f"would write into that home's {section}. To use this home's own {own.name}, edit the line under "
            f'[{section}] in {config} to read: url = "{relative}". If this home is meant to use {path}, move its '
            f"{own.name} aside."
        )
