"""Turning what a user names (files, folders, ZIP archives) into ingest sources.

Every input a user names yields at least one source, and every problem is a
source with an error naming the file, so nothing vanishes silently: a missing
path, a dangling link, a directory that cannot be listed, a FIFO or device, an
unreadable or oversized file all come back as ``rejected`` with the reason.

Names are shown back (ingest lines, JSON answers, a holding's file name), so a name made of
what a file system or a ZIP archive allows is made printable first (``printable``): control
characters (CR, LF, ESC, ...), line separators and bidirectional overrides each become
U+FFFD, which no terminal, log line, JSON consumer or spreadsheet acts on.
The one deliberate exception: inside a folder, names starting with ``.``
(``.git``, ``.DS_Store``) are skipped; naming such a file directly ingests it.

Only regular files are read, opened non-blocking (a FIFO swapped in after the
check cannot hang the ingest) and never beyond the size limit (a file that
grows, or a ``/proc`` file that claims size 0, cannot fill memory).

ZIP archives are read in memory, member by member, and never extracted to
disk, so a hostile archive cannot write anywhere.  An archive is refused whole,
before anything in it is ingested, if its end record declares too many
members (checked before the central directory is loaded), if a member has an
absolute, drive or ``..`` path (with ``/`` or ``\\``), is a link or device, or if
the sizes it declares exceed the limits or a plausible compression ratio.  A
member is read no further than its declared size; one that is encrypted,
corrupt (CRC, deflate stream) or whose size does not match its header is
rejected on its own and the other members go on.  A ZIP inside a ZIP is not
opened: it is a member that is not XML, and is rejected as such.
"""

from __future__ import annotations

import errno
import lzma
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from earsiv.archive.ingest import Source

__all__ = ["ZipLimits", "count_inputs", "expand", "printable"]

# C0 and C1 controls and DEL; line and paragraph separators; bidirectional marks,
# embeddings, overrides and isolates (a name that reads backwards on screen).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c]")


def printable(name: str) -> str:
    """*name* with every character that could act on a terminal, a log or a reader's eye replaced by U+FFFD."""
    return _UNPRINTABLE.sub("\ufffd", name)


@dataclass(frozen=True, slots=True)
class ZipLimits:
    max_members: int = 100_000
    max_member_bytes: int = 64 * 1024 * 1024
    max_total_bytes: int = 4 * 1024 * 1024 * 1024
    max_ratio: float = 200.0  # uncompressed / compressed, per member and overall


# Below this a high ratio is harmless (a small, very repetitive XML file).
_RATIO_FLOOR = 1024 * 1024
_READ_CHUNK = 1024 * 1024
# What reading a damaged member can raise: zipfile's own errors, and those of
# the decompressors it does not translate (zlib.error, lzma.LZMAError).
_MEMBER_ERRORS = (OSError, EOFError, RuntimeError, ValueError, zipfile.BadZipFile, zlib.error, lzma.LZMAError)
_OPEN_ERRORS = (OSError, EOFError, ValueError, OverflowError, struct.error, zipfile.BadZipFile, NotImplementedError)
_SPECIAL = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a directory"),
)


class _Refused(Exception):
    """A path that yields an error source instead of data."""


def expand(paths: Iterable[Path], *, max_file_bytes: int = 64 * 1024 * 1024, limits: ZipLimits = ZipLimits()) -> Iterator[Source]:
    """One source per file or ZIP member under *paths*, in order; problems become error sources."""
    for root in paths:
        for p, problem in _walk(Path(root)):
            if problem is not None:
                yield Source(printable(str(p)), error=problem)
            elif _is_zip_name(p):
                yield from _zip_sources(p, limits)
            else:
                yield _file_source(p, max_file_bytes)


def count_inputs(paths: Iterable[Path]) -> int:
    """A quick count for progress bars (a ZIP counts as its members)."""
    n = 0
    for root in paths:
        for p, problem in _walk(Path(root)):
            if problem is None and _is_zip_name(p):
                try:
                    with _open_regular(p) as fh:
                        declared = _declared_members(fh)
                        n += max(1, declared or 0)
                except (_Refused, *_OPEN_ERRORS):
                    n += 1
            else:
                n += 1
    return n


def _is_zip_name(path: Path) -> bool:
    return path.suffix.lower() == ".zip"


# -- files and folders -----------------------------------------------------

def _walk(root: Path) -> Iterator[tuple[Path, str | None]]:
    """(path, problem) for every file under *root*; *problem* is None for a readable candidate."""
    try:
        st = root.stat()
    except FileNotFoundError:
        yield root, ("broken symbolic link" if root.is_symlink() else "no such file or directory")
        return
    except OSError as exc:
        yield root, f"cannot access: {exc.strerror or exc}"
        return
    if not stat.S_ISDIR(st.st_mode):
        yield root, _not_regular(st)
        return
    errors: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=errors.append, followlinks=False):
        while errors:
            exc = errors.pop(0)
            yield Path(exc.filename or dirpath), f"cannot list directory: {exc.strerror or exc}"
        here = Path(dirpath)
        for d in sorted(dirnames):
            if not d.startswith(".") and (here / d).is_symlink():
                yield here / d, "symbolic link to a directory, not followed (name its target to ingest it)"
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not (here / d).is_symlink())
        for f in sorted(filenames):
            if f.startswith("."):
                continue
            p = here / f
            try:
                yield p, _not_regular(p.stat())
            except FileNotFoundError:
                yield p, "broken symbolic link" if p.is_symlink() else "vanished while listing"
            except OSError as exc:
                yield p, f"cannot access: {exc.strerror or exc}"
    while errors:
        exc = errors.pop(0)
        yield Path(exc.filename or root), f"cannot list directory: {exc.strerror or exc}"


def _not_regular(st: os.stat_result) -> str | None:
    for test, what in _SPECIAL:
        if test(st.st_mode):
            return f"is {what}, not a regular file"
    return None if stat.S_ISREG(st.st_mode) else "is not a regular file"


def _open_regular(p: Path) -> BinaryIO:
    """Open *p* for reading without blocking, and only if it is a regular file."""
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _Refused(f"cannot read: {exc.strerror or exc}") from exc
    try:
        problem = _not_regular(os.fstat(fd))
        if problem is not None:
            raise _Refused(problem)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_at_most(fh: BinaryIO, limit: int) -> bytes:
    """Up to limit + 1 bytes, so that "over the limit" is seen without reading on."""
    parts, got = [], 0
    while got <= limit:
        chunk = fh.read(min(_READ_CHUNK, limit + 1 - got))
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _file_source(p: Path, max_bytes: int) -> Source:
    name = printable(str(p))
    try:
        with _open_regular(p) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                return Source(name, error=f"{size} bytes is over the limit of {max_bytes} bytes")
            data = _read_at_most(fh, max_bytes)
    except _Refused as exc:
        return Source(name, error=str(exc))
    except OSError as exc:
        if exc.errno == errno.EAGAIN:
            return Source(name, error="is not a regular file")
        return Source(name, error=f"cannot read: {exc.strerror or exc}")
    if len(data) > max_bytes:
        return Source(name, error=f"over the limit of {max_bytes} bytes (it grew while being read)")
    return Source(name, data)


# -- ZIP archives ----------------------------------------------------------

_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"


def _declared_members(fh: BinaryIO) -> int | None:
    """The member count the end-of-central-directory record declares (None if absent).

    Read before :class:`zipfile.ZipFile` loads the central directory, so that
    an archive claiming millions of members is refused before millions of
    ``ZipInfo`` objects exist.
    """
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    tail_len = min(size, 22 + 65535)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        return None
    count = struct.unpack_from("<H", tail, at + 10)[0]
    if count != 0xFFFF or at < 20 or tail[at - 20 : at - 16] != _ZIP64_LOCATOR:
        return count
    (z64_offset,) = struct.unpack_from("<Q", tail, at - 20 + 8)
    if z64_offset + 56 > size:
        return None
    fh.seek(z64_offset)
    record = fh.read(56)
    if record[:4] != _ZIP64_EOCD:
        return None
    return struct.unpack_from("<Q", record, 32)[0]


def _member_problem(info: zipfile.ZipInfo, limits: ZipLimits) -> str | None:
    name = info.filename
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or name.startswith(("/", "\\")):
        return f"member {name!r} has an absolute path"
    if len(name) > 1 and name[1] == ":":
        return f"member {name!r} has a drive letter path"
    if ".." in pure.parts:
        return f"member {name!r} has a '..' path"
    mode = info.external_attr >> 16
    if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "a special file (device, FIFO or socket)"
        return f"member {name!r} is {kind}"
    if info.is_dir() and info.file_size:
        return f"member {name!r} is a directory entry with {info.file_size} bytes of content"
    if info.file_size > limits.max_member_bytes:
        return f"member {name!r} would expand to {info.file_size} bytes (limit {limits.max_member_bytes})"
    if info.file_size > _RATIO_FLOOR and info.file_size > limits.max_ratio * max(1, info.compress_size):
        ratio = info.file_size / max(1, info.compress_size)
        return f"member {name!r} has a compression ratio of {ratio:.0f}:1 (limit {limits.max_ratio:.0f}:1), a ZIP bomb"
    return None


def _archive_problem(fh: BinaryIO, zf: zipfile.ZipFile, limits: ZipLimits) -> str | None:
    members = zf.infolist()
    if len(members) > limits.max_members:
        return f"{len(members)} members is over the limit of {limits.max_members}"
    for info in members:
        problem = _member_problem(info, limits)
        if problem is not None:
            return problem
    total = sum(i.file_size for i in members)
    if total > limits.max_total_bytes:
        return f"would expand to {total} bytes (limit {limits.max_total_bytes})"
    archive_size = os.fstat(fh.fileno()).st_size
    if total > _RATIO_FLOOR and total > limits.max_ratio * max(1, archive_size):
        return f"would expand {total / max(1, archive_size):.0f}-fold (limit {limits.max_ratio:.0f}), a ZIP bomb"
    return None


def _zip_sources(path: Path, limits: ZipLimits) -> Iterator[Source]:
    try:
        fh = _open_regular(path)
    except _Refused as exc:
        yield Source(printable(str(path)), error=str(exc))
        return
    with fh:
        try:
            declared = _declared_members(fh)
            if declared is not None and declared > limits.max_members:
                yield Source(printable(str(path)), error=f"ZIP archive refused, nothing in it was ingested: it declares {declared} members, over the limit of {limits.max_members}")
                return
            fh.seek(0)
            zf = zipfile.ZipFile(fh)
        except _OPEN_ERRORS as exc:
            yield Source(printable(str(path)), error=f"not a readable ZIP archive: {exc}")
            return
        with zf:
            problem = _archive_problem(fh, zf, limits)
            if problem is not None:
                yield Source(printable(str(path)), error=f"ZIP archive refused, nothing in it was ingested: {problem}")
                return
            for info in zf.infolist():
                if not info.is_dir():
                    yield _member_source(path, zf, info, limits)


def _member_source(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ZipLimits) -> Source:
    name = printable(f"{path}:{info.filename}")
    if info.flag_bits & 0x1:
        return Source(name, error="encrypted ZIP member (no password is ever tried)")
    try:
        with zf.open(info) as fh:
            data = _read_at_most(fh, min(info.file_size, limits.max_member_bytes))
    except zipfile.BadZipFile as exc:
        return Source(name, error=f"corrupt ZIP member: {exc}")
    except _MEMBER_ERRORS as exc:
        return Source(name, error=f"cannot read ZIP member: {type(exc).__name__}: {exc}")
    if len(data) != info.file_size:
        return Source(name, error=f"ZIP member has {len(data)} bytes but its header declares {info.file_size}; refused")
    return Source(name, data)
