"""Hostile ZIP archives: refused whole or member by member, never extracted, never a bomb.

Decisions these tests pin down:
- a dangerous member path (``..``, absolute, drive letter, backslash traversal)
  or a link/special member refuses the whole archive before anything in it is
  ingested, even its good members;
- a bomb is refused from the sizes it declares, before any decompression;
- a member that lies about its size, fails its CRC, has a broken deflate
  stream or is encrypted is rejected on its own, and the others go on;
- a ZIP inside a ZIP is not opened: it is a member that is not XML, rejected
  as ``NotXML`` ("looks like a ZIP archive").
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import uuid
import zipfile
import zlib
from pathlib import Path

import hostile_assets as assets
import pytest

from earsiv.archive.sources import ZipLimits, expand

GOOD = assets.good_invoice(900)


def _expand(path: Path, **limits) -> list:
    return list(expand([path], limits=ZipLimits(**limits)))


def _refused_whole(sources: list, path: Path, says: str) -> None:
    assert len(sources) == 1, [(s.name, s.error) for s in sources]
    src = sources[0]
    assert src.name == str(path) and src.data is None
    assert src.error.startswith("ZIP archive refused, nothing in it was ingested: ")
    assert re.search(says, src.error), src.error


# -- at the source level ---------------------------------------------------


@pytest.fixture(scope="module")
def token() -> str:
    return f"earsiv-hostile-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def zip_dir(tmp_path_factory, token) -> dict[str, tuple[Path, str]]:
    d = tmp_path_factory.mktemp("zips")
    out = {}
    for name, (data, says) in assets.zip_cases(token).items():
        p = d / f"{name}.zip"
        p.write_bytes(data)
        out[name] = (p, says)
    return out


@pytest.mark.parametrize("name", sorted(assets.zip_cases("x")))
def test_dangerous_archive_is_refused_whole(zip_dir, name: str) -> None:
    path, says = zip_dir[name]
    # The good member is really there: refusing it is the archive-level policy.
    with zipfile.ZipFile(path) as zf:
        assert "ok.xml" in zf.namelist()
    _refused_whole(_expand(path), path, says)


def test_too_many_members_is_refused_whole(tmp_path) -> None:
    path = tmp_path / "too_many_members.zip"
    path.write_bytes(assets.too_many_members_zip(51))
    _refused_whole(_expand(path, max_members=50), path, r"declares 51 members, over the limit of 50")
    assert len(_expand(path, max_members=51)) == 51


def test_good_and_bad_members_each_get_their_own_answer(tmp_path) -> None:
    inner = assets.raw_zip([assets.member("inner.xml", GOOD)])
    members = [
        assets.member("good.xml", GOOD),
        assets.member("encrypted.xml", GOOD, flags=0x1),
        assets.member("bad_crc.xml", GOOD, crc=zlib.crc32(GOOD) ^ 0xFFFF),
        assets.member("broken_deflate.xml", GOOD, payload=b"\xff" * 40, compress_size=40),
        assets.member("header_says_smaller.xml", GOOD, file_size=100),
        assets.member("header_says_bigger.xml", GOOD, file_size=len(GOOD) + 500),
        assets.member("nested.zip", inner),
        assets.member("sub/dir/also_good.xml", GOOD + b"\n"),
    ]
    path = tmp_path / "mixed_members.zip"
    path.write_bytes(assets.raw_zip(members))
    got = {s.name.split(":", 1)[1]: s for s in _expand(path)}
    assert list(got) == [m.name for m in members]
    assert all(s.name.startswith(f"{path}:") for s in got.values())
    assert got["good.xml"].data == GOOD and got["good.xml"].error is None
    assert got["sub/dir/also_good.xml"].data == GOOD + b"\n"
    assert "encrypted" in got["encrypted.xml"].error
    assert re.search(r"corrupt.*CRC", got["bad_crc.xml"].error), got["bad_crc.xml"].error
    assert got["broken_deflate.xml"].error and got["broken_deflate.xml"].data is None
    for lie in ("header_says_smaller.xml", "header_says_bigger.xml"):
        assert got[lie].data is None and got[lie].error, lie
    # The nested archive comes out as bytes; the parser refuses it (see the CLI test).
    assert got["nested.zip"].data == inner


def test_a_lying_bomb_is_read_no_further_than_its_header_says(tmp_path) -> None:
    """Header: 100 bytes. Stream: 200 MB of zeros. Only the declared bytes are ever inflated."""
    path = tmp_path / "header_lies_bomb.zip"
    path.write_bytes(assets.raw_zip([assets.bomb_member("zeros.xml", 200 << 20, file_size=100)]))
    (src,) = _expand(path)
    assert src.data is None and re.search(r"corrupt.*CRC", src.error), src.error


def test_not_a_zip_and_truncated_zip_are_named(tmp_path) -> None:
    fake = tmp_path / "not_a_zip.zip"
    fake.write_bytes(b"just text\n")
    whole = assets.raw_zip([assets.member("a.xml", GOOD), assets.member("b.xml", GOOD)])
    cut = tmp_path / "truncated.zip"
    cut.write_bytes(whole[: len(whole) - 30])
    for p in (fake, cut):
        (src,) = _expand(p)
        assert src.name == str(p) and src.error.startswith("not a readable ZIP archive"), src.error


def test_bomb_memory_is_bounded_in_a_fresh_process(zip_dir, tmp_path) -> None:
    """Peak RSS growth while expanding each bomb stays far below the bomb's 200 MB."""
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc/self/status (VmHWM)")
    # VmHWM, not ru_maxrss: the latter starts at the forked parent's peak.
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from earsiv.archive.sources import expand\n"
        "def hwm():\n"
        "    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')) * 1024\n"
        "before = hwm()\n"
        "out = [(s.error or '')[:60] for s in expand([Path(p) for p in sys.argv[1:]])]\n"
        "print(hwm() - before); print(out)\n"
    )
    lying = tmp_path / "header_lies_bomb.zip"
    lying.write_bytes(assets.raw_zip([assets.bomb_member("zeros.xml", 200 << 20, file_size=100)]))
    paths = [zip_dir["zip_bomb_200mb"][0], zip_dir["zip_bomb_ratio"][0], lying]
    out = subprocess.run([sys.executable, "-c", script, *map(str, paths)], capture_output=True, timeout=60, check=True, text=True)
    growth = int(out.stdout.splitlines()[0])
    assert growth < 20 * 1024 * 1024, f"peak RSS grew by {growth} bytes: {out.stdout}"


# -- through the CLI -------------------------------------------------------


def test_cli_on_hostile_zips(home, zip_dir, tmp_path, token) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    mixed = inputs / "good_and_bad.zip"
    bad_xml = b"<Invoice><cbc:ID>cut"
    inner = assets.raw_zip([assets.member("inner.xml", assets.good_invoice(903))])
    mixed.write_bytes(
        assets.raw_zip(
            [
                assets.member("good.xml", assets.good_invoice(901)),
                assets.member("bad.xml", bad_xml),
                assets.member("nested.zip", inner),
                assets.member("encrypted.xml", assets.good_invoice(904), flags=0x1),
                assets.member("bad_crc.xml", assets.good_invoice(905), crc=0),
            ]
        )
    )
    many = inputs / "too_many_members.zip"
    many.write_bytes(assets.too_many_members_zip(ZipLimits().max_members + 1))
    loose_good = inputs / "loose_good.xml"
    loose_good.write_bytes(assets.good_invoice(902))
    dangerous = [zip_dir[n][0] for n in sorted(zip_dir)]

    before = home.snapshot()
    neighbours = tmp_path.parent
    around_before = {p.name for p in neighbours.iterdir()}
    work_before = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if home.path not in p.parents and p != home.path}
    run = home.ingest(*dangerous, many, mixed, loose_good)
    after = home.snapshot()

    assert run.returncode == 1
    by_path = run.by_path()
    for p in dangerous:
        r = by_path.pop(str(p))
        assert r["status"] == "rejected" and r["error"].startswith("ZIP archive refused, nothing in it was ingested"), r
        assert re.search(zip_dir[p.stem][1], r["error"]), r["error"]
    r = by_path.pop(str(many))
    assert r["status"] == "rejected" and "100001 members" in r["error"], r
    assert by_path.pop(f"{mixed}:good.xml")["status"] == "stored"
    assert by_path.pop(str(loose_good))["status"] == "stored"
    assert re.search(r"not well-formed", by_path.pop(f"{mixed}:bad.xml")["error"])
    assert re.search(r"ZIP archive", by_path.pop(f"{mixed}:nested.zip")["error"])
    assert "encrypted" in by_path.pop(f"{mixed}:encrypted.xml")["error"]
    assert "CRC" in by_path.pop(f"{mixed}:bad_crc.xml")["error"]
    assert by_path == {}, by_path

    # Only the two good documents were added; nothing from a refused archive.
    assert after.documents == before.documents + 2
    good_digests = {hashlib.sha256(assets.good_invoice(n)).hexdigest() for n in (901, 902)}
    assert {k.rsplit("/", 1)[1] for k in before.new_objects(after) if k.startswith("blobs/")} == good_digests
    assert hashlib.sha256(GOOD).hexdigest() not in str(after.objects)

    # Nothing was written outside the home: not beside the inputs, not in the
    # working directory, not in TMPDIR, not next to the test directory, and no
    # file carrying the token anywhere a traversal could have aimed.
    work_after = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if home.path not in p.parents and p != home.path}
    assert work_after - work_before <= {"ingest.stdout", "ingest.stderr", "ingest.hwm"}
    assert list(home.cwd.iterdir()) == [] and list(home.tmp.iterdir()) == []
    assert {p.name for p in neighbours.iterdir()} == around_before
    for top in (neighbours.parent, Path("/tmp"), Path("/")):
        if top.is_dir():
            assert not [n for n in os.listdir(top) if token in n], top
    for dirpath, _dirs, files in os.walk(neighbours.parent):
        assert not [f for f in files if token in f], dirpath


def test_cli_bomb_finishes_fast_with_bounded_memory(home, zip_dir, tmp_path) -> None:
    small = tmp_path / "small.xml"
    small.write_bytes(assets.good_invoice(950))
    reference = home.ingest(small)
    bombs = [zip_dir["zip_bomb_200mb"][0], zip_dir["zip_bomb_ratio"][0]]
    lying = tmp_path / "header_lies_bomb.zip"
    lying.write_bytes(assets.raw_zip([assets.bomb_member("zeros.xml", 200 << 20, file_size=100)]))
    before = home.snapshot()
    run = home.ingest(*bombs, lying, timeout=60)
    assert run.returncode == 1 and [r["status"] for r in run.results] == ["rejected"] * 3, run.results
    assert home.snapshot() == before
    # The whole process, imports included, stays far below one bomb's 200 MB
    # expansion, and within a few MB of an ingest of one small file.
    if run.peak_rss_bytes < 0:
        pytest.skip("needs /proc/self/status (VmHWM)")
    assert run.peak_rss_bytes < reference.peak_rss_bytes + 30 * 1024 * 1024, (run.peak_rss_bytes, reference.peak_rss_bytes)
    assert run.peak_rss_bytes < 200 * 1024 * 1024
    assert run.seconds < reference.seconds + 5
