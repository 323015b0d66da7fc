"""A copy of a home (`cp -a`) is a home of its own; a copy of an older home is refused, not run on the original."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import CORPUS, Cli

A = [CORPUS / "efatura/sk-akgips_20251120150604701835.xml", CORPUS / "earsiv/bdog_sample.xml"]
B = [CORPUS / "efatura/gib121_TEVKIFAT.xml"]


def test_a_copied_home_writes_into_its_own_store_and_index(cli: Cli, home: Path, tmp_path: Path):
    cli.jsonl("ingest", *map(str, A))
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(home), str(copy)], check=True)
    cc = Cli(copy)
    assert [r["status"] for r in cc.jsonl("ingest", *map(str, B))] == ["stored"]
    assert cc.json("status")["documents"] == len(A) + len(B)
    assert cli.json("status")["documents"] == len(A)  # the original is untouched
    assert cli.json("verify", "--all")["ok"] and cc.json("verify", "--all")["ok"]


def test_a_copy_of_a_home_with_absolute_paths_is_refused(cli: Cli, home: Path, tmp_path: Path):
    cli.jsonl("ingest", *map(str, A))
    config = home / "config.toml"  # as versions before relative places wrote it
    config.write_text(config.read_text().replace('"file:store"', f'"{(home / "store").as_uri()}"'))
    assert cli.json("status")["documents"] == len(A)  # the old form still works in place
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(home), str(copy)], check=True)
    proc = Cli(copy).run("ingest", *map(str, B), check=2)
    err = proc.stderr.decode()
    assert f"[store] url points at {home / 'store'}, outside this home" in err, err
    assert 'url = "file:store"' in err and "Traceback" not in err
    assert cli.json("status")["documents"] == len(A)
