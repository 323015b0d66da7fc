"""Copy an archive's store to another store (e.g. from the embedded directory to S3).

Every object is copied with its retain-until and legal hold, then read back from
the destination and compared byte for byte before it counts as copied.  The copy
is resumable: objects already at the destination with the same bytes are only
checked.  Nothing is ever deleted from the source; switching the home to the new
store is a separate, explicit step (``switch_home``), taken only after every object
verified.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from earsiv.archive.archive import ARCHIVE_OBJECT, Archive
from earsiv.archive.config import CONFIG_FILE
from earsiv.archive.errors import ArchiveError, ConfigError, StoreError, VerificationError
from earsiv.archive.stores.base import ObjectStore, PutItem

__all__ = ["MigrationReport", "copy_objects", "destination_url", "migrate_store", "set_config_url", "switch_home"]

BATCH = 64


@dataclass(slots=True)
class MigrationReport:
    source: str
    destination: str
    copied: int = 0
    already_there: int = 0
    bytes: int = 0
    holds: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_json(self) -> dict:
        return {"source": self.source, "destination": self.destination, "copied": self.copied,
                "already_there": self.already_there, "bytes": self.bytes, "legal_holds": self.holds,
                "ok": self.ok, "failures": self.failures}


def destination_url(to: str) -> str:
    """``--to`` is a store URL, or a TOML config file whose [store] url names one."""
    if "://" in to:
        return to
    path = Path(to)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return str(raw["store"]["url"])
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"--to {to}: neither a store URL nor a config file with [store] url ({exc})") from exc


def _keys(store: ObjectStore) -> Iterator[str]:
    # The descriptor last: a destination that has earsiv.json holds a whole archive.
    for key in store.list(""):
        if key != ARCHIVE_OBJECT and not key.startswith("canary/"):
            yield key
    yield ARCHIVE_OBJECT


def migrate_store(arch: Archive, dest: ObjectStore, progress: Callable[[int], None] | None = None) -> MigrationReport:
    src = arch.store
    report = MigrationReport(src.url, dest.url)
    if dest.exists(ARCHIVE_OBJECT) and dest.get(ARCHIVE_OBJECT) != src.get(ARCHIVE_OBJECT):
        raise ConfigError(f"{dest.url} already holds another archive; refusing to mix two archives")
    batch: list[str] = []
    for key in _keys(src):
        batch.append(key)
        if len(batch) >= BATCH or key == ARCHIVE_OBJECT:
            copy_objects(src, dest, batch, report)
            if progress:
                progress(len(batch))
            batch = []
    return report


def copy_objects(src: ObjectStore, dest: ObjectStore, keys: list[str], report: MigrationReport) -> None:
    items, holds = [], []
    for key in keys:
        try:
            data = src.get(key)
            ret = src.retention(key)
        except StoreError as exc:
            report.failures.append(f"{key}: cannot read from the source: {exc.detail}")
            continue
        items.append(PutItem(key, data, ret.retain_until))
        if ret.legal_hold:
            holds.append(key)
    try:
        written = dest.put_many(items)
    except ArchiveError as exc:
        report.failures.append(f"batch starting {keys[0]}: {exc.detail}")
        return
    for item, new in zip(items, written):
        try:
            back = dest.get(item.key)
            if hashlib.sha256(back).digest() != hashlib.sha256(item.data).digest():
                raise VerificationError("the copy differs from the source")
            if dest.retention(item.key).retain_until < item.retain_until:
                raise VerificationError("the copy is retained for less time than the source")
        except ArchiveError as exc:
            report.failures.append(f"{item.key}: {exc.detail}")
            continue
        report.bytes += len(item.data)
        if new:
            report.copied += 1
        else:
            report.already_there += 1
    for key in holds:
        try:
            dest.set_legal_hold(key, True)
            report.holds += 1
        except ArchiveError as exc:
            report.failures.append(f"{key}: legal hold not set at the destination: {exc.detail}")


def switch_home(home: Path, url: str) -> None:
    """Point the home's config.toml at *url* (only call after a migration with no failures)."""
    set_config_url(home, "store", url)


def set_config_url(home: Path, section: str, url: str, *, add: bool = False) -> None:
    """Set ``url`` of ``[section]`` in the home's config.toml; with *add*, append the section if missing."""
    if '"' in url or "\\" in url or "\n" in url:
        raise ConfigError(f"URL {url!r} cannot be written to {CONFIG_FILE}")
    path = home / CONFIG_FILE
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    inside = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("["):
            inside = stripped == f"[{section}]"
        elif inside and stripped.startswith("url"):
            lines[i] = f'url = "{url}"'
            break
    else:
        if not add:
            raise ConfigError(f"{path} has no [{section}] url to switch")
        path.write_text(text.rstrip("\n") + f'\n\n[{section}]\nurl = "{url}"\n', encoding="utf-8")
        return
    path.write_text("\n".join(lines), encoding="utf-8")
