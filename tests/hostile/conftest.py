"""Shared machinery of the hostile-input tests (DESIGN.md invariant 7).

``earsiv ingest`` runs as a real subprocess: a hostile input must not hang it
(every run has a timeout), its temporary files are confined (``TMPDIR`` points
into the test's own directory), and its peak memory is measured per process
with ``os.wait4``.  ``init``, ``status`` and ``get`` run the same click
commands in-process (``CliRunner``), only because a process start costs ~1 s.

The asset builders (``assets/make_assets.py``) are registered as the module
``hostile_assets`` so that test modules can parametrize over them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"
HERE = Path(__file__).resolve().parent


def _load_assets():
    spec = importlib.util.spec_from_file_location("hostile_assets", HERE / "assets" / "make_assets.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["hostile_assets"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


if "hostile_assets" not in sys.modules:
    _load_assets()

from earsiv.api.cli import cli  # noqa: E402

_EARSIV = Path(sys.executable).with_name("earsiv")


@dataclass
class Run:
    returncode: int
    results: list[dict]
    stdout: str
    stderr: str
    maxrss_bytes: int
    seconds: float

    def by_path(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for r in self.results:
            assert r["path"] not in out, f"{r['path']} reported twice"
            out[r["path"]] = r
        return out


@dataclass(frozen=True)
class Snapshot:
    documents: int
    log_size: int
    objects: dict  # path under store/objects -> sha256 of its bytes

    def new_objects(self, after: "Snapshot") -> set[str]:
        return set(after.objects) - set(self.objects)


class Home:
    """An archive home driven through the `earsiv` CLI."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.path = work / "home"
        self.cwd = work / "cwd"
        self.tmp = work / "tmp"
        for d in (self.cwd, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        self.cli("init")

    def cli(self, *args: str) -> bytes:
        result = CliRunner().invoke(cli, ["--home", str(self.path), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout_bytes

    def status(self) -> dict:
        return json.loads(self.cli("status", "--json"))

    def get(self, digest: str) -> bytes:
        return self.cli("get", digest)

    def snapshot(self) -> Snapshot:
        st = self.status()
        root = self.path / "store" / "objects"
        objects = {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }
        return Snapshot(st["documents"], st["log_size"], objects)

    def ingest(self, *paths: Path | str, timeout: float = 120) -> Run:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")}
        env["TMPDIR"] = str(self.tmp)
        cmd = [str(_EARSIV), "--home", str(self.path), "ingest", "--json", *map(str, paths)]
        out_path, err_path = self.work / "ingest.stdout", self.work / "ingest.stderr"
        started = time.monotonic()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(cmd, cwd=self.cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
            # wait4 rather than Popen.wait: it gives this one child's peak RSS.
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() - started > timeout:
                    os.killpg(proc.pid, signal.SIGKILL)
                    os.wait4(proc.pid, 0)
                    pytest.fail(f"earsiv ingest did not finish within {timeout} s: {cmd}")
                time.sleep(0.02)
            proc.returncode = os.waitstatus_to_exitcode(status)
        stdout = out_path.read_text(encoding="utf-8")
        stderr = err_path.read_text(encoding="utf-8", errors="replace")
        try:
            results = [json.loads(line) for line in stdout.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            pytest.fail(f"ingest --json printed something that is not JSON ({exc}):\n{stdout}\n{stderr}")
        assert "Traceback" not in stderr, stderr
        return Run(proc.returncode, results, stdout, stderr, usage.ru_maxrss * 1024, time.monotonic() - started)


def listing(top: Path, skip: Path | None = None) -> set[str]:
    """Every path under *top* (not following links), except those under *skip*."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(top):
        if skip is not None and Path(dirpath) == skip:
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if skip is None or p != skip:
                found.add(str(p.relative_to(top)))
    return found


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path)


@pytest.fixture(scope="module")
def module_home(tmp_path_factory) -> Home:
    return Home(tmp_path_factory.mktemp("home"))
