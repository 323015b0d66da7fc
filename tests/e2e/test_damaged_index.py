"""A damaged SQL index names itself and its cure; following the cure gives the archive back whole."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import CORPUS, Cli

FILES = [CORPUS / "efatura/sk-akgips_20251120150604701835.xml", CORPUS / "efatura/gib121_TEVKIFAT.xml",
         CORPUS / "earsiv/bdog_sample.xml"]


def test_a_damaged_index_header_says_what_to_do_and_doing_it_heals(cli: Cli, home: Path, tmp_path: Path):
    digests = [r["digest"] for r in cli.jsonl("ingest", *map(str, FILES))]
    index = home / "index.sqlite"
    with open(index, "r+b") as fh:  # the 16-byte magic "SQLite format 3\0" and the page size after it
        fh.write(b"\xde\xad\xbe\xef" * 5)
    for command in (("status",), ("search",), ("ingest", str(CORPUS / "efatura/gib121_OZELMATRAH.xml"))):
        err = cli.run(*command, check=3).stderr.decode()
        assert f"the SQL index at {index} cannot be read (SQLite says: file is not a database)" in err, err
        assert "it is derived from the store" in err and "move it aside" in err and "`earsiv reindex`" in err
        assert "Traceback" not in err

    index.rename(tmp_path / "index.sqlite.damaged")  # what the message says
    cli.run("reindex")
    assert cli.json("status")["documents"] == len(FILES)
    assert {r["digest"] for r in cli.json("search")} == set(digests)
    assert cli.json("verify", "--all")["ok"]
