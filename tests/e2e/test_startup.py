"""Fast commands: what `earsiv --help`, `status`, `search` and `show` import.

Python's start-up is most of a short command's time: `earsiv --help` importing the archive
took half a second.  Help imports click and small modules only; reading commands on a local
store load neither the renderer (WeasyPrint), nor S3 (boto3), nor migrations (Alembic), nor
the full-text index (tantivy) unless they search words.  Checked by module, not by the clock,
which a shared machine makes noisy.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import CORPUS

DOC = "efatura/gib121_TicariFaturaOrnegi.xml"
NOT_FOR_HELP = ("sqlalchemy", "weasyprint", "boto3", "botocore", "tantivy", "alembic", "lxml", "cryptography",
                "fastapi", "uvicorn", "earsiv.archive.archive", "earsiv.indexer")
NOT_FOR_READING = ("weasyprint", "boto3", "botocore", "alembic", "tantivy", "fastapi", "uvicorn")

PROBE = """
import atexit, json, os, sys
atexit.register(lambda: open(os.environ["PROBE_OUT"], "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["earsiv", *json.loads(os.environ["PROBE_ARGS"])]
from earsiv.api.cli import main
main()
"""


def _imported(tmp_path, *args: str, home=None) -> set[str]:
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")}
    env |= {"PROBE_OUT": str(out), "PROBE_ARGS": json.dumps([*(["--home", str(home)] if home else []), *args])}
    proc = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    return set(json.loads(out.read_text()))


def _heavy(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


def _commands() -> list[list[str]]:
    from earsiv.api.cli import cli

    out = []
    for name, cmd in cli.commands.items():
        out.append([name])
        out.extend([name, sub] for sub in getattr(cmd, "commands", {}))
    return out


@pytest.mark.parametrize("command", [[], *_commands()], ids=lambda c: " ".join(c) or "earsiv")
def test_help_imports_click_and_small_modules_only(tmp_path, command):
    assert _heavy(_imported(tmp_path, *command, "--help"), NOT_FOR_HELP) == []


def test_reading_commands_import_only_what_they_use(cli, home, tmp_path):
    cli.run("ingest", str(CORPUS / DOC))
    digest = hashlib.sha256((CORPUS / DOC).read_bytes()).hexdigest()
    for command in (["status"], ["status", "--json"], ["search"], ["search", "--vkn", "1234567890", "--json"],
                    ["show", digest], ["show", digest, "--json"]):
        assert _heavy(_imported(tmp_path, *command, home=home), NOT_FOR_READING) == [], command
    # Words are searched in the full-text index, which is what tantivy is for.
    assert "tantivy" in _imported(tmp_path, "search", "-q", "fatura", home=home)
