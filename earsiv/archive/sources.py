"""Turning what a user names (files, folders, ZIP archives) into ingest sources.

ZIP archives are read in memory, member by member, and never extracted to
disk, so a hostile archive cannot write anywhere.  An archive is refused whole,
before anything in it is ingested, if a member has an absolute or ``..`` path,
is a link or device, or if the sizes it declares exceed the limits; a member
that turns out larger than declared is cut off at the limit and rejected.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .ingest import Source

__all__ = ["ZipLimits", "expand", "count_inputs"]


@dataclass(frozen=True, slots=True)
class ZipLimits:
    max_members: int = 100_000
    max_member_bytes: int = 64 * 1024 * 1024
    max_total_bytes: int = 4 * 1024 * 1024 * 1024
    max_ratio: float = 200.0  # uncompressed / compressed, per member and overall


def _is_zip(path: Path) -> bool:
    if path.suffix.lower() != ".zip":
        return False
    return zipfile.is_zipfile(path)


def _walk(path: Path) -> Iterator[Path]:
    if path.is_dir():
        for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for f in sorted(filenames):
                if not f.startswith("."):
                    yield Path(dirpath) / f
    else:
        yield path


def count_inputs(paths: Iterable[Path]) -> int:
    """A quick count for progress bars (a ZIP counts as its members)."""
    n = 0
    for root in paths:
        for p in _walk(root):
            if _is_zip(p):
                try:
                    with zipfile.ZipFile(p) as zf:
                        n += sum(1 for i in zf.infolist() if not i.is_dir())
                except (OSError, zipfile.BadZipFile):
                    n += 1
            else:
                n += 1
    return n


def expand(paths: Iterable[Path], *, max_file_bytes: int = 64 * 1024 * 1024, limits: ZipLimits = ZipLimits()) -> Iterator[Source]:
    for root in paths:
        if not root.exists() and not root.is_symlink():
            yield Source(str(root), error="no such file or directory")
            continue
        for p in _walk(root):
            if p.is_symlink() and not p.exists():
                yield Source(str(p), error="broken symbolic link")
            elif _is_zip(p):
                yield from _zip_sources(p, limits)
            else:
                yield _file_source(p, max_file_bytes)


def _file_source(p: Path, max_bytes: int) -> Source:
    try:
        size = p.stat().st_size
        if size > max_bytes:
            return Source(str(p), error=f"{size} bytes is over the limit of {max_bytes} bytes")
        return Source(str(p), p.read_bytes())
    except OSError as exc:
        return Source(str(p), error=f"cannot read: {exc.strerror or exc}")


def _member_problem(info: zipfile.ZipInfo, limits: ZipLimits) -> str | None:
    name = info.filename
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return f"member {name!r} has an absolute path"
    if ".." in pure.parts:
        return f"member {name!r} has a '..' path"
    mode = info.external_attr >> 16
    if mode and (stat.S_ISLNK(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return f"member {name!r} is a link or special file"
    if info.file_size > limits.max_member_bytes:
        return f"member {name!r} would expand to {info.file_size} bytes (limit {limits.max_member_bytes})"
    if info.compress_size and info.file_size / info.compress_size > limits.max_ratio and info.file_size > 1024 * 1024:
        return f"member {name!r} has a compression ratio of {info.file_size / info.compress_size:.0f}:1 (limit {limits.max_ratio:.0f}:1)"
    return None


def _zip_sources(path: Path, limits: ZipLimits) -> Iterator[Source]:
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        yield Source(str(path), error=f"not a readable ZIP archive: {exc}")
        return
    with zf:
        members = [i for i in zf.infolist() if not i.is_dir()]
        problem = None
        if len(members) > limits.max_members:
            problem = f"{len(members)} members is over the limit of {limits.max_members}"
        total = sum(i.file_size for i in members)
        if problem is None and total > limits.max_total_bytes:
            problem = f"would expand to {total} bytes (limit {limits.max_total_bytes})"
        for info in members:
            problem = problem or _member_problem(info, limits)
        if problem is not None:
            yield Source(str(path), error=f"ZIP archive refused, nothing in it was ingested: {problem}")
            return
        for info in members:
            name = f"{path}:{info.filename}"
            if info.flag_bits & 0x1:
                yield Source(name, error="encrypted ZIP member")
                continue
            try:
                with zf.open(info) as fh:
                    data = fh.read(limits.max_member_bytes + 1)
            except (OSError, zipfile.BadZipFile, RuntimeError, EOFError) as exc:
                yield Source(name, error=f"cannot read ZIP member: {exc}")
                continue
            if len(data) > limits.max_member_bytes or len(data) != info.file_size:
                yield Source(name, error="ZIP member is larger than its header declares; refused")
                continue
            yield Source(name, data)
