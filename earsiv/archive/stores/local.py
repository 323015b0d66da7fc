"""The local write-once directory store: the embedded default (see ``stores.base``)."""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import fcntl
import functools
import hashlib
import itertools
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from earsiv.archive import faults
from earsiv.archive.errors import RetentionError, StoreError, StoreFull, WriteOnceViolation
from earsiv.archive.stores.base import ObjectRetention, PutItem, check_key
from earsiv.errors import disk_full, full_detail

__all__ = ["LocalStore", "fsync_dir"]

UTC = dt.UTC
log = logging.getLogger(__name__)
_RECORD_START = b'{"key":'  # every journal line starts so: "key" sorts before the other fields


def _libc_syncfs():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.syncfs
    except (OSError, AttributeError):  # not Linux: fall back to fsync per file
        return None


_SYNCFS = _libc_syncfs()
_STAGED = itertools.count()  # one counter per process: two stores on one root never pick one name
TMP_MAX_AGE = 3600.0  # seconds after which a staged file whose writer is unknown is removed


@functools.cache
def _host_mark() -> str:
    """This host, PID namespace and boot, in 12 hex digits: where a process id in a staged file's name means something."""
    parts = [socket.gethostname()]
    with contextlib.suppress(OSError):
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    with contextlib.suppress(OSError):
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


class LocalStore:
    """A write-once directory: the embedded default.

    Layout: ``ROOT/objects/<key>`` holds the bytes of each object (mode 0444);
    ``ROOT/retention.jsonl`` is an append-only journal of retention facts, one
    JSON object per line (``{"key", "retain_until", "legal_hold"}``); the last
    line for a key wins, and a line that would shorten retention is never
    written.  One journal instead of a side file per object keeps the small
    blobs of a dictionary-compressed stream at one file each.

    A crash or a full disk can leave the journal's last line torn (no
    newline).  Its put never returned, so it holds no acknowledged fact: the
    reader ignores it, and the next append cuts it off (under the journal's
    lock) instead of gluing a new line to it.  A line that cannot be read and
    is not the last is damage: it is skipped, logged and reported by
    ``damage()`` (and ``earsiv verify --all``), and no object is deleted while
    there is any, because the lost line may have held a legal hold or a later
    retain-until (facts the log's leaves also carry).

    Durability: objects are written to a temporary file and linked into place
    (``link`` fails if the name exists, so two writers can never replace each
    other's bytes); then the file system is flushed once for the whole group
    (``syncfs``), or every file and directory is fsynced where that call is
    missing.  Only after that does ``put_many`` return.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.url = self.root.resolve().as_uri()
        self._objects = self.root / "objects"
        self._tmp = self.root / "tmp"
        self._journal = self.root / "retention.jsonl"
        self._lock = threading.Lock()
        self._retention: dict[str, ObjectRetention] | None = None
        self._journal_stamp: tuple | None = None  # _stamp() of the journal the table was read from
        self._damage: list[StoreError] = []
        self._dirs: set[Path] = set()
        try:
            self._objects.mkdir(parents=True, exist_ok=True)
            self._tmp.mkdir(exist_ok=True)
            self._journal.touch(exist_ok=True)
            self._sweep_tmp()
        except OSError as exc:
            raise self._failure(f"cannot open the local store at {self.root}", exc) from exc

    # -- writing ---------------------------------------------------------
    def stage(self, item: PutItem) -> PutItem:
        if item.staged is not None:
            return item
        try:
            return PutItem(item.key, item.data, item.retain_until, str(self._write_tmp(item.data)))
        except OSError as exc:
            raise self._failure(f"cannot write {item.key} to the local store at {self.root}", exc) from exc

    def discard(self, item: PutItem) -> None:
        if item.staged is not None:
            with contextlib.suppress(OSError):
                os.unlink(item.staged)

    def put_many(self, items: Sequence[PutItem]) -> list[bool]:
        if not items:
            return []
        # Order: bytes to temporary files, retention facts to the journal,
        # then link into place, then one flush.  A crash leaves at worst a
        # retention fact for an object that never appeared, never an object
        # without its retention.  (Temporary files are left by a crash only
        # in tmp/, which is swept when the store is opened.)
        written: list[bool] = []
        staged: list[PutItem] = []
        try:
            staged.extend(self.stage(item) for item in items)
            self._journal_append([(i.key, i.retain_until, None) for i in staged])
            new_paths: list[Path] = []
            for item in staged:
                path = self._path(item.key)
                self._ensure_dir(path.parent)
                faults.point("store.put")
                try:
                    os.link(item.staged, path)
                except FileExistsError:
                    # Already there: the same bytes (fine, maybe a later date) or
                    # other bytes (refused; the journal line above cannot shorten
                    # anything, see _load_retention).
                    self._same_or_raise(item, path)
                    written.append(False)
                    continue
                new_paths.append(path)
                written.append(True)
            self._flush(new_paths)
        except OSError as exc:
            raise self._failure(f"cannot write to the local store at {self.root}", exc) from exc
        finally:
            for item in staged:
                self.discard(item)
        return written

    def restore(self, item: PutItem) -> bool:
        """Put back the bytes of a lost or damaged object; True if anything changed.

        The one way an object's file is ever replaced, for ``earsiv repair`` alone, which
        calls it only with bytes it checked against what the log records (a blob's digest,
        a checkpoint's signature, a bundle's leaf hashes) and writes a leaf saying so.  The
        retention fact is appended as for a put (it can only lengthen), the file replaced
        atomically and flushed before this returns.
        """
        path = self._path(item.key)
        with contextlib.suppress(OSError):
            if path.read_bytes() == item.data:
                return False
        try:
            staged = self.stage(PutItem(item.key, item.data, item.retain_until))
            try:
                self._journal_append([(item.key, item.retain_until, None)])
                self._ensure_dir(path.parent)
                os.replace(staged.staged, path)  # type: ignore[arg-type]
                self._flush([path])
            finally:
                self.discard(staged)
        except OSError as exc:
            raise self._failure(f"cannot restore {item.key} in the local store at {self.root}", exc) from exc
        return True

    def _failure(self, what: str, exc: OSError) -> StoreError:
        if disk_full(exc):
            return StoreFull(full_detail(what, self.root))
        return StoreError(f"{what}: {exc}")

    def _ensure_dir(self, d: Path) -> None:
        if d not in self._dirs:
            d.mkdir(parents=True, exist_ok=True)
            self._dirs.add(d)

    def _write_tmp(self, data: bytes) -> Path:
        # Created read-only from the start (the mode applies to later opens;
        # this descriptor may still write).  Unique per process, thread, call;
        # the process id and the host mark let _sweep_tmp tell whether the
        # writer is still alive.
        name = self._tmp / f"{os.getpid()}-{threading.get_ident()}-{next(_STAGED)}-{_host_mark()}"
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                if _SYNCFS is None:
                    fh.flush()
                    os.fsync(fh.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(name)
            raise
        return name

    def _same_or_raise(self, item: PutItem, path: Path) -> None:
        existing = path.read_bytes()
        if existing != item.data:
            raise WriteOnceViolation(f"object {item.key} already exists with other content; refusing to overwrite",
                                     name=item.key)

    def _flush(self, paths: list[Path]) -> None:
        if not paths:
            return
        if _SYNCFS is not None:
            fd = os.open(self.root, os.O_RDONLY)
            try:
                if _SYNCFS(fd) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"syncfs failed: {os.strerror(err)}")
            finally:
                os.close(fd)
            return
        for d in {p.parent for p in paths}:
            fsync_dir(d)

    def _sweep_tmp(self, older_than: float = TMP_MAX_AGE) -> None:
        """Remove staged files that killed writers left.

        A file named by a process of this host (same PID namespace, same boot) goes as
        soon as that process is gone, and stays while it lives, however old.  A file
        whose writer cannot be told (another host or container sharing the directory,
        an older version's name) goes when it is older than *older_than*.
        """
        limit = time.time() - older_than
        removed = 0
        for p in self._tmp.iterdir():
            writer = _writer_pid(p.name)
            try:
                if writer is None:
                    if p.lstat().st_mtime >= limit:
                        continue
                elif writer == os.getpid() or _alive(writer):
                    continue
                p.unlink()
                removed += 1
            except OSError:
                continue
        if removed:
            log.info("%s: removed %d staged files that killed writers left", self._tmp, removed)

    # -- reading ---------------------------------------------------------
    def get(self, key: str, *, verify: Callable[[bytes], bool] | None = None) -> bytes:
        # One file, one version: there is nothing for *verify* to choose
        # between, and the caller checks the bytes anyway.
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise StoreError(f"object {key} is missing from {self.root}") from exc
        except OSError as exc:
            raise StoreError(f"cannot read object {key}: {exc}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def list(self, prefix: str) -> Iterator[str]:
        base = self._objects
        start = base / prefix.rstrip("/") if prefix else base
        if start.is_dir():
            top = start
        else:
            top = start.parent
        keys: list[str] = []
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            rel = Path(dirpath).relative_to(base).as_posix()
            for f in filenames:
                key = f if rel == "." else f"{rel}/{f}"
                if key.startswith(prefix):
                    keys.append(key)
        yield from sorted(keys)

    # -- retention -------------------------------------------------------
    def retention(self, key: str) -> ObjectRetention:
        if not self.exists(key):
            raise StoreError(f"object {key} is missing from {self.root}")
        table = self._load_retention()
        try:
            return table[key]
        except KeyError as exc:
            damaged = f"; {len(self._damage)} damaged line(s) of it may have held it" if self._damage else ""
            raise StoreError(f"object {key} has no retention record in {self._journal}{damaged}", name=key) from exc

    def damage(self) -> list[StoreError]:
        """The journal's unreadable lines that are not its last (a torn last line is no damage)."""
        self._load_retention()
        return list(self._damage)

    def extend_retention(self, key: str, until: dt.datetime) -> None:
        current = self.retention(key)
        if until < current.retain_until:
            raise RetentionError(
                f"retention of {key} can only be extended: {until.isoformat()} is before {current.retain_until.isoformat()}"
            )
        if until == current.retain_until:
            return
        self._journal_append([(key, until, None)])

    def set_legal_hold(self, key: str, on: bool) -> None:
        current = self.retention(key)
        if current.legal_hold != on:
            self._journal_append([(key, None, on)])

    def delete(self, key: str, *, now: dt.datetime | None = None) -> None:
        now = now or dt.datetime.now(UTC)
        current = self.retention(key)
        if self._damage:
            raise WriteOnceViolation(
                f"object {key} is not deleted: {len(self._damage)} line(s) of {self._journal} cannot be read "
                f"(first: {self._damage[0]}); a lost line may have held a legal hold or a later retain-until"
            )
        if current.legal_hold:
            raise WriteOnceViolation(f"object {key} is under legal hold; it cannot be deleted")
        if now < current.retain_until:
            raise WriteOnceViolation(
                f"object {key} is retained until {current.retain_until.isoformat()}; it cannot be deleted before"
            )
        path = self._path(key)
        os.chmod(path, 0o644)
        os.unlink(path)
        fsync_dir(path.parent)

    def close(self) -> None:
        """Drop the in-memory retention table; files and the journal need no closing."""
        with self._lock:
            self._retention = None
            self._journal_size = 0
        self._dirs.clear()

    # -- internals -------------------------------------------------------
    def _path(self, key: str) -> Path:
        check_key(key)
        return self._objects / key

    def _journal_append(self, entries: list[tuple[str, dt.datetime | None, bool | None]]) -> None:
        """Append retention facts: (key, retain_until or None, legal_hold or None)."""
        if not entries:
            return
        lines = b"".join(_journal_line(k, until, hold) for k, until, hold in entries)
        with self._lock:
            try:
                fd = os.open(self._journal, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)  # every appender takes it, so a tail without newline is torn
                    before = _stamp(fd)
                    # In step: the table was read from exactly this file, and no torn tail goes now.
                    in_step = self._retention is not None and before == self._journal_stamp
                    if self._cut_torn_tail(fd, before[0]) != before[0]:
                        in_step = False
                    faults.write("store.journal", lambda data: _append_durably(fd, data), lines)
                    after = _stamp(fd)  # still under the lock: nobody else appended since
                finally:
                    os.close(fd)  # releases the lock
            except OSError as exc:
                raise self._failure(f"cannot append to {self._journal}", exc) from exc
            if in_step and self._retention is not None:
                self._journal_stamp = after
                for k, until, hold in entries:
                    _apply(self._retention, k, until, hold)
            else:
                self._retention = None  # another process wrote too (or a torn tail went): reload on next use

    def _cut_torn_tail(self, fd: int, size: int) -> int:
        """Cut off a last line without its newline (a write a crash or a full disk cut short); return the new size."""
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return size
        end = size
        while end > 0:
            chunk_start = max(0, end - 65536)
            newline = os.pread(fd, end - chunk_start, chunk_start).rfind(b"\n")
            if newline >= 0:
                end = chunk_start + newline + 1
                break
            end = chunk_start
        os.ftruncate(fd, end)
        os.fsync(fd)
        log.warning("%s: cut off a torn last line of %d bytes (the remains of a write that a crash or a full disk "
                    "interrupted; the write it belonged to never succeeded)", self._journal, size - end)
        return end

    def _load_retention(self) -> dict[str, ObjectRetention]:
        with self._lock:
            fd = os.open(self._journal, os.O_RDONLY | os.O_CLOEXEC)
            try:
                stamp = _stamp(fd)  # taken before reading: an append meanwhile means a reload next time
            finally:
                os.close(fd)
            if self._retention is None or stamp != self._journal_stamp:
                table: dict[str, ObjectRetention] = {}
                damage: list[StoreError] = []
                with open(self._journal, "rb") as fh:
                    for number, raw in enumerate(fh, 1):
                        if not raw.endswith(b"\n"):
                            break  # torn last line: the put it belonged to never returned
                        try:
                            key, until, hold = _read_line(raw)
                        except ValueError as exc:
                            salvaged = _salvage(raw)
                            if salvaged is None:
                                damage.append(StoreError(f"not a retention record ({exc})",
                                                         name=f"{self._journal} line {number}"))
                                continue
                            key, until, hold = salvaged
                            log.info("%s line %d: a torn line glued to the next record; the record is read", self._journal, number)
                        _apply(table, key, until, hold)
                if [str(e) for e in damage] != [str(e) for e in self._damage]:
                    for exc in damage:
                        log.warning("%s; skipped (its facts are in the log's leaves too; run `earsiv verify --all`)", exc)
                self._retention, self._journal_stamp, self._damage = table, stamp, damage
            return self._retention


def _writer_pid(name: str) -> int | None:
    """The process that staged a file of this host named *name* (``PID-TID-N-HOSTMARK``), or None."""
    parts = name.split("-")
    if len(parts) != 4 or parts[3] != _host_mark() or not parts[0].isdigit():
        return None
    return int(parts[0])


def _stamp(fd: int) -> tuple[int, int, int, bytes]:
    """What tells one state of the journal from another: size, mtime, inode and the last bytes.

    A torn tail cut off and a line appended can give back the same size within one tick of
    the file system's clock; the last bytes then differ (a torn tail has no final newline).
    """
    st = os.fstat(fd)
    n = min(st.st_size, 64)
    return st.st_size, st.st_mtime_ns, st.st_ino, os.pread(fd, n, st.st_size - n)


def _append_durably(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)


def _read_line(raw: bytes) -> tuple[str, dt.datetime | None, bool | None]:
    """(key, retain_until, legal_hold) of one journal line; ValueError if it is not one."""
    rec = json.loads(raw)
    if not isinstance(rec, dict) or not isinstance(rec.get("key"), str):
        raise ValueError("no key")  # noqa: TRY004 - bad data, not a bad argument: the caller skips the line
    until, hold = rec.get("retain_until"), rec.get("legal_hold")
    if until is not None and not isinstance(until, str) or hold is not None and not isinstance(hold, bool):
        raise ValueError("retain_until or legal_hold of the wrong type")
    when = dt.datetime.fromisoformat(until) if until else None
    if when is not None and when.tzinfo is None:
        raise ValueError("retain_until without a time zone")
    return rec["key"], when, hold


def _salvage(raw: bytes) -> tuple[str, dt.datetime | None, bool | None] | None:
    """The whole record at the end of a line that an older version glued to a torn one, if there is one.

    The torn part never held an acknowledged fact (its write did not return); the
    record after it was written whole by the next append.
    """
    at = raw.rfind(_RECORD_START)
    while at > 0:
        try:
            return _read_line(raw[at:])
        except ValueError:
            at = raw.rfind(_RECORD_START, 0, at)
    return None


def _journal_line(key: str, until: dt.datetime | None, hold: bool | None) -> bytes:
    rec: dict = {"key": key}
    if until is not None:
        rec["retain_until"] = _iso(until)
    if hold is not None:
        rec["legal_hold"] = hold
    return json.dumps(rec, separators=(",", ":"), sort_keys=True).encode() + b"\n"


def _apply(table: dict[str, ObjectRetention], key: str, until: dt.datetime | None, hold: bool | None) -> None:
    """The latest retain-until of any line, and the legal hold of the last line that sets one."""
    prev = table.get(key)
    if prev is not None:
        until = prev.retain_until if until is None or prev.retain_until > until else until
        hold = prev.legal_hold if hold is None else hold
    if until is None:
        return  # a hold line for an object never put: ignore
    table[key] = ObjectRetention(until, bool(hold))


def _iso(t: dt.datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a file created, renamed or removed in it) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
