"""Inputs that are not readable files: each is named, said what it is, and nothing hangs.

A FIFO must not block the ingest (it is never opened for a blocking read), a
character device such as /dev/zero must not be read forever, and a directory
that cannot be listed or a link that cannot be followed must not vanish
silently.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import hostile_assets as assets
import pytest

ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0
ROOT_REASON = "running as root: root reads files whatever their permission bits, so the case cannot occur"


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    d = tmp_path / "inputs"
    d.mkdir()
    folder = d / "folder"
    folder.mkdir()
    (folder / "good.xml").write_bytes(assets.good_invoice(501))
    (folder / "dangling.xml").symlink_to(d / "no-such-target.xml")
    os.mkfifo(folder / "pipe.xml")
    (folder / "linked_dir").symlink_to(tmp_path, target_is_directory=True)
    fifo = d / "fifo.xml"
    os.mkfifo(fifo)
    fifo_zip = d / "fifo.zip"
    os.mkfifo(fifo_zip)
    oversize = d / "oversize.xml"
    with open(oversize, "wb") as fh:  # sparse: no 64 MiB written
        fh.truncate(64 * 1024 * 1024 + 1)
    locked = d / "no_permission.xml"
    locked.write_bytes(assets.good_invoice(502))
    locked.chmod(0)
    locked_dir = d / "no_permission_dir"
    locked_dir.mkdir()
    (locked_dir / "inside.xml").write_bytes(assets.good_invoice(503))
    locked_dir.chmod(0)
    yield {
        "missing": d / "does-not-exist.xml",
        "folder": folder,
        "fifo": fifo,
        "fifo_zip": fifo_zip,
        "oversize": oversize,
        "locked": locked,
        "locked_dir": locked_dir,
        "dangling_top": folder / "dangling.xml",
    }
    locked_dir.chmod(0o755)


_CHILD = """
import json, resource, sys
from pathlib import Path
from earsiv.archive.sources import expand
# A regression that reads /dev/zero to the end must fail, not fill the machine.
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
out = {}
for s in expand([Path(p) for p in sys.argv[1:]]):
    out[s.name] = {"error": s.error, "data": None if s.data is None else s.data.decode("latin-1")}
print(json.dumps(out))
"""


def _by_name(paths) -> dict[str, SimpleNamespace]:
    """expand() in a child with a deadline and a memory cap: a FIFO opened for a
    blocking read, or a device read without end, fails the test instead of hanging it."""
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, *map(str, paths)], capture_output=True, timeout=30, text=True, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("expand() blocked (a FIFO opened, or a device read without end)")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {
        name: SimpleNamespace(name=name, error=v["error"], data=None if v["data"] is None else v["data"].encode("latin-1"))
        for name, v in json.loads(proc.stdout).items()
    }


def test_sources_name_each_problem(tree) -> None:
    got = _by_name([tree["missing"], tree["folder"], tree["fifo"], tree["fifo_zip"], tree["oversize"], Path("/dev/zero")])
    folder = tree["folder"]
    assert got[str(tree["missing"])].error == "no such file or directory"
    assert got[str(folder / "good.xml")].data == assets.good_invoice(501)
    assert got[str(folder / "dangling.xml")].error == "broken symbolic link"
    assert "FIFO" in got[str(folder / "pipe.xml")].error
    assert "symbolic link to a directory" in got[str(folder / "linked_dir")].error
    assert "FIFO" in got[str(tree["fifo"])].error
    assert "FIFO" in got[str(tree["fifo_zip"])].error
    assert got[str(tree["oversize"])].error == f"{64 * 1024 * 1024 + 1} bytes is over the limit of {64 * 1024 * 1024} bytes"
    assert "character device" in got["/dev/zero"].error
    assert len(got) == 9
    for name, src in got.items():
        assert (src.data is None) != (src.error is None), name


@pytest.mark.skipif(ROOT_USER, reason=ROOT_REASON)
def test_unreadable_file_and_directory_are_named(tree) -> None:
    got = _by_name([tree["locked"], tree["locked_dir"]])
    assert "Permission denied" in got[str(tree["locked"])].error
    assert "cannot list directory" in got[str(tree["locked_dir"])].error


def test_cli_on_filesystem_oddities(home, tree) -> None:
    before = home.snapshot()
    inputs = [tree["missing"], tree["folder"], tree["fifo"], tree["fifo_zip"], tree["oversize"], tree["dangling_top"]]
    run = home.ingest(*inputs, timeout=60)  # a FIFO that blocked would end in the timeout
    assert run.returncode == 1
    by_path = {}
    for r in run.results:  # the dangling link is named twice (top level and in the folder)
        by_path.setdefault(r["path"], []).append(r)
    good = by_path.pop(str(tree["folder"] / "good.xml"))
    assert [g["status"] for g in good] == ["stored"]
    expected = {
        str(tree["missing"]): "no such file or directory",
        str(tree["folder"] / "dangling.xml"): "broken symbolic link",
        str(tree["folder"] / "pipe.xml"): "FIFO",
        str(tree["folder"] / "linked_dir"): "not followed",
        str(tree["fifo"]): "FIFO",
        str(tree["fifo_zip"]): "FIFO",
        str(tree["oversize"]): "over the limit",
    }
    assert set(by_path) == set(expected)
    for path, words in expected.items():
        for r in by_path[path]:
            assert r["status"] == "rejected" and words in r["error"], r
    after = home.snapshot()
    assert after.documents == before.documents + 1
    assert len([k for k in before.new_objects(after) if k.startswith("blobs/")]) == 1


@pytest.mark.skipif(ROOT_USER, reason=ROOT_REASON)
def test_cli_on_unreadable_inputs(home, tree) -> None:
    before = home.snapshot()
    run = home.ingest(tree["locked"], tree["locked_dir"])
    assert run.returncode == 1
    assert {r["status"] for r in run.results} == {"rejected"}
    assert {r["path"] for r in run.results} == {str(tree["locked"]), str(tree["locked_dir"])}
    assert home.snapshot() == before
