"""Shared fixtures: the corpus by path, fresh archive homes, and the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
MALFORMED = {
    "efatura/responses/gibpkt_7_UYGULAMA_YANITI_IADE.xml",
    "eirsaliye/responses/izjv_draft-receiptAdvice.xml",
}


def corpus_files() -> list[Path]:
    """Every document of the shared corpus (not GİB's rules), sorted."""
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix.lower() == ".xml" and "gib-rules" not in p.parts)


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"the shared corpus is missing at {CORPUS}")
    return CORPUS


class Cli:
    """Runs the installed `earsiv` command for real, as a user or another tool would."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def run(self, *args: str, check: int | None = 0, input: bytes | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """*env*: variables added to a clean environment, e.g. ``{"EARSIV_FAULT": "store.journal:torn#2"}``."""
        exe = Path(sys.executable).with_name("earsiv")
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")}, **(env or {})}
        proc = subprocess.run([str(exe), "--home", str(self.home), *args], capture_output=True, input=input, env=env, timeout=600)
        if check is not None and proc.returncode != check:
            raise AssertionError(
                f"earsiv {' '.join(args)} exited {proc.returncode}, expected {check}\n"
                f"stdout: {proc.stdout.decode(errors='replace')[-3000:]}\nstderr: {proc.stderr.decode(errors='replace')[-3000:]}"
            )
        return proc

    def json(self, *args: str, check: int | None = 0):
        out = self.run(*args, "--json", check=check).stdout.decode()
        return json.loads(out)

    def jsonl(self, *args: str, check: int | None = 0) -> list[dict]:
        out = self.run(*args, "--json", check=check).stdout.decode()
        return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    from earsiv.archive.archive import Archive

    h = tmp_path / "home"
    Archive.init(h).close()
    return h


@pytest.fixture
def cli(home: Path) -> Cli:
    return Cli(home)
