"""Shared machinery of the hostile-input tests (DESIGN.md invariant 7).

``earsiv ingest`` runs as a real subprocess (the entry point's ``main``): a
hostile input must not hang it (every run has a timeout), its temporary files
are confined (``TMPDIR`` points into the test's own directory), and its peak
memory (VmHWM) is noted as it exits.  ``init``, ``status`` and ``get`` run the same click
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

from earsiv.api.cli import cli

# The `earsiv` entry point, plus a note of this process's peak RSS at exit.
# VmHWM rather than ru_maxrss: the latter keeps the high-water mark of the
# (v)forked pytest process from before exec, hundreds of MB that are not ours.
_MEASURED_CLI = """
import atexit, os, sys

def _note_peak():
    with open("/proc/self/status") as fh:
        kb = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    with open(os.environ["HOSTILE_HWM_FILE"], "w") as out:
        out.write(str(kb * 1024))

if os.path.exists("/proc/self/status"):
    atexit.register(_note_peak)
sys.argv[0] = "earsiv"
from earsiv.api.cli import main
main()
"""


@dataclass
class Run:
    returncode: int
    results: list[dict]
    stdout: str
    stderr: str
    peak_rss_bytes: int  # -1 where /proc is missing
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

    def new_objects(self, after: Snapshot) -> set[str]:
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

    def ingest(self, *paths: Path | str, timeout: float = 120, signatures: bool = True) -> Run:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")}
        env["TMPDIR"] = str(self.tmp)
        hwm_path = self.work / "ingest.hwm"
        hwm_path.unlink(missing_ok=True)
        env["HOSTILE_HWM_FILE"] = str(hwm_path)
        args = ["--home", str(self.path), "ingest", "--json", *([] if signatures else ["--no-signatures"]), *map(str, paths)]
        cmd = [sys.executable, "-c", _MEASURED_CLI, *args]
        out_path, err_path = self.work / "ingest.stdout", self.work / "ingest.stderr"
        started = time.monotonic()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(cmd, cwd=self.cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                pytest.fail(f"earsiv ingest did not finish within {timeout} s: {args}")
        seconds = time.monotonic() - started
        peak = int(hwm_path.read_text()) if hwm_path.exists() else -1
        stdout = out_path.read_text(encoding="utf-8")
        stderr = err_path.read_text(encoding="utf-8", errors="replace")
        try:
            results = [json.loads(line) for line in stdout.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            pytest.fail(f"ingest --json printed something that is not JSON ({exc}):\n{stdout}\n{stderr}")
        assert "Traceback" not in stderr, stderr
        return Run(proc.returncode, results, stdout, stderr, peak, seconds)


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
