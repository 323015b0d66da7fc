"""Inspection packages end to end: `earsiv package` on a real archive, checked by outside tools.

The oracles are independent of the code that writes packages: bagit-python
(Library of Congress) for the bag, `openssl ts -verify` for the tokens, the
corpus files themselves for "byte for byte", and the bundled verifier run by
a Python that cannot import earsiv.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import importlib.util
import itertools
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import bagit
import pytest

from earsiv.archive.archive import Archive
from earsiv.archive.package.verify import verify_package
from earsiv.archive.sources import expand
from earsiv.indexer.query import SearchQuery
from tests.conftest import CORPUS, Cli

BATCHES = ["efatura", "earsiv", "eirsaliye"]  # one ingest each: several checkpoints
EDEFTER = Path(__file__).resolve().parents[1] / "assets" / "edefter"


def _all_rows(home: Path) -> list:
    arch = Archive.open(home)
    try:
        rows, q = [], SearchQuery(limit=1000)
        while True:
            page = arch.index.search(q)
            rows.extend(page.rows)
            if not page.next_cursor:
                return rows
            q = q.after(page.next_cursor)
    finally:
        arch.index.close()


def _pick_vkn(rows) -> tuple[str, str, str, str]:
    """A VKN that is supplier in some documents and customer in others, of several kinds, on several days.

    Returns (vkn, from, to, excluded_date): the period ends the day before the
    VKN's latest document, so at least one of its documents lies outside.
    """
    seen = collections.defaultdict(list)
    for r in rows:
        if r.issue_date is None:
            continue
        for role, vkn in (("supplier", r.supplier_id), ("customer", r.customer_id)):
            if vkn and vkn.isdigit():
                seen[vkn].append((role, r.kind, r.issue_date))
    best = None
    for vkn, items in seen.items():
        last = max(d for _r, _k, d in items)
        inside = [(role, kind) for role, kind, d in items if d < last]
        if ({"supplier", "customer"} <= {r for r, _k in inside} and len({k for _r, k in inside}) >= 2
                and (best is None or len(inside) > best[0])):
            first = min(d for _r, _k, d in items)
            best = (len(inside), vkn, first, last)
    assert best, "the corpus no longer has a VKN on both sides of documents of several kinds"
    _n, vkn, first, last = best
    return vkn, first.isoformat(), (last - dt.timedelta(days=1)).isoformat(), last.isoformat()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("pkg")
    home = base / "home"
    # Ingested in-process (the ingest command has its own tests), one batch and
    # one checkpoint at a time, so documents are proven by different checkpoints.
    arch = Archive.init(home)
    batches = [[CORPUS / b] for b in BATCHES] + [sorted(EDEFTER.glob("*.xml"))]  # + the project's synthetic ledgers
    for paths in batches:
        results = list(arch.ingest(expand(paths, max_file_bytes=arch.config.max_document_bytes)))
        assert sum(r.status in ("stored", "conflict") for r in results) > 0
        arch.checkpoint()
    arch.close()
    cli = Cli(home)
    rows = _all_rows(home)
    vkn, date_from, date_to, excluded = _pick_vkn(rows)
    out = base / "period.zip"
    info = json.loads(cli.run("package", "--vkn", vkn, "--from", date_from, "--to", date_to, "--iso", "-o", str(out), "--json").stdout)
    corpus = {hashlib.sha256(p.read_bytes()).hexdigest(): p for b in BATCHES for p in (CORPUS / b).rglob("*.xml")}
    return {"cli": cli, "home": home, "out": out, "info": info, "rows": rows, "vkn": vkn,
            "from": date_from, "to": date_to, "excluded": excluded, "corpus": corpus, "base": base}


def _extract(zip_path: Path, dest: Path) -> Path:
    with zipfile.ZipFile(zip_path) as zf:
        tops = {n.split("/", 1)[0] for n in zf.namelist()}
        assert len(tops) == 1, "a serialised bag has a single top-level directory (RFC 8493 4.2)"
        zf.extractall(dest)
    return dest / tops.pop()


def _manifest(bag: Path) -> dict:
    return json.loads((bag / "data/manifest.json").read_text(encoding="utf-8"))


def test_package_holds_exactly_the_period_for_the_vkn(setup, tmp_path):
    bag = _extract(setup["out"], tmp_path)
    m = _manifest(bag)
    vkn, lo, hi = setup["vkn"], setup["from"], setup["to"]
    digests = {r["digest"] for r in m["documents"]}
    assert m["document_count"] == len(digests) == setup["info"]["documents"] > 0
    # Independent oracle: a scan of every row, filtered here by supplier/customer and date.
    must = {r.digest for r in setup["rows"] if r.issue_date and lo <= r.issue_date.isoformat() <= hi
            and vkn in (r.supplier_id, r.customer_id)}
    outside = {r.digest for r in setup["rows"] if r.issue_date and r.issue_date.isoformat() == setup["excluded"]
               and vkn in (r.supplier_id, r.customer_id)}
    assert must <= digests
    assert outside and not outside & digests, "a document after the period was packaged"
    roles = collections.Counter(r["supplier_id"] == vkn for r in m["documents"])
    assert roles[True] and roles[False], "the VKN should be supplier in some and customer in others"
    assert len({r["kind"] for r in m["documents"]}) >= 2
    # Every packaged document has the VKN as some party, on a day inside the period (read from the index tables).
    db = sqlite3.connect(setup["home"] / "index.sqlite")
    for r in m["documents"]:
        assert lo <= r["issue_date"] <= hi
        parties = {p for (p,) in db.execute("select party_id from document_parties where digest=?", (r["digest"],))}
        assert vkn in parties, r["digest"]
    db.close()


def test_originals_are_byte_for_byte_and_named_by_kind_id_ettn(setup, tmp_path):
    bag = _extract(setup["out"], tmp_path)
    m = _manifest(bag)
    names = set()
    for r in m["documents"]:
        path = bag / r["file"]
        assert path.read_bytes() == setup["corpus"][r["digest"]].read_bytes()
        rel = Path(r["file"]).relative_to("data/documents")
        assert rel.parts[0] == r["kind"]
        if r["ettn"]:
            assert r["ettn"].lower() in rel.name.lower()
        names.add(str(rel).lower())
        leaf = json.loads((bag / "data/evidence" / r["digest"] / "leaf.json").read_bytes())
        assert leaf["digest"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert len(names) == len(m["documents"]), "file names must be unique (case-insensitively)"
    with open(bag / "data/manifest.csv", encoding="utf-8", newline="") as f:
        import csv

        csv_rows = list(csv.DictReader(f))
    assert [(c["digest"], c["file"], c["issue_date"]) for c in csv_rows] == [(r["digest"], r["file"], r["issue_date"]) for r in m["documents"]]


def test_bagit_python_validates_the_package(setup, tmp_path):
    bag = _extract(setup["out"], tmp_path)
    b = bagit.Bag(str(bag))
    b.validate()  # raises BagValidationError on any problem
    assert b.is_valid()
    info = b.info
    assert {"Source-Organization", "Bagging-Date", "Payload-Oxum", "External-Description"} <= info.keys()
    assert setup["vkn"] in info["External-Description"] and setup["from"] in info["External-Description"]
    assert {"VERIFY.txt", "verifier.py", "bag-info.txt", "bagit.txt", "manifest-sha256.txt"} <= set(b.tagfile_entries())


def test_openssl_accepts_every_token_and_signature(setup, tmp_path):
    bag = _extract(setup["out"], tmp_path)
    cps = sorted(p for p in (bag / "data/checkpoints").iterdir() if p.name.isdigit())
    assert len(cps) >= 2, "documents of several ingests should be proven by several checkpoints"
    for cp in cps:
        ts = subprocess.run(["openssl", "ts", "-verify", "-data", str(cp), "-in", f"{cp}.tsr", "-token_in",
                             "-CAfile", str(bag / "data/keys/tsa-anchors.pem"), "-partial_chain"],
                            capture_output=True, text=True)
        assert ts.returncode == 0 and "Verification: OK" in ts.stdout, (cp.name, ts.stdout, ts.stderr)
        sig = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(bag / "data/keys/archive-key.pem"),
                              "-rawin", "-in", str(cp), "-sigfile", f"{cp}.sig"], capture_output=True, text=True)
        assert sig.returncode == 0, sig.stderr
    # consistency proofs: each consecutive pair and each to the newest
    sizes = [int(p.name) for p in cps]
    links = {p.name for p in (bag / "data/consistency").iterdir()}
    want = {f"{a:016d}-{b:016d}.json" for a, b in itertools.pairwise(sizes)} | {f"{a:016d}-{sizes[-1]:016d}.json" for a in sizes[:-1]}
    assert want <= links


def test_verify_txt_commands_work_as_written(setup, tmp_path):
    bag = _extract(setup["out"], tmp_path)
    text = (bag / "VERIFY.txt").read_text()
    assert "python3 verifier.py ." in text and "openssl ts -verify" in text and "sha256sum -c manifest-sha256.txt" in text
    for manifest in ("manifest-sha256.txt", "tagmanifest-sha256.txt"):
        r = subprocess.run(["sha256sum", "-c", manifest], cwd=bag, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    # Step 5 as a shell would do it, for one document: leaf hash, then the steps to the root.
    r = _manifest(bag)["documents"][0]
    proof = json.loads((bag / "data/evidence" / r["digest"] / "proof.json").read_text())
    leaf = (bag / "data/evidence" / r["digest"] / "leaf.json").read_bytes()
    assert hashlib.sha256(b"\0" + leaf).hexdigest() == proof["leaf_hash"]
    value = proof["leaf_hash"]
    for step in proof["steps"]:
        assert value in (step["left"], step["right"])
        value = hashlib.sha256(b"\1" + bytes.fromhex(step["left"]) + bytes.fromhex(step["right"])).hexdigest()
        assert value == step["result"]
    assert f"root: {value}" in (bag / proof["checkpoint"]).read_text()
    # Step 4's loop, run by a shell as printed: every token checked as of its own stamp time.
    loop = re.search(r"\n( +for c in data/checkpoints.*?\n +done\n +done)\n", text, re.DOTALL).group(1)
    assert '-attime "$at"' in loop
    ran = subprocess.run(["bash", "-euc", textwrap.dedent(loop)], cwd=bag, capture_output=True, text=True)
    tokens = len(list((bag / "data/checkpoints").glob("*.tsr*")))
    assert ran.returncode == 0 and ran.stdout.count("Verification: OK") == tokens, ran.stdout + ran.stderr


def _standalone(target: Path, cwd: Path) -> subprocess.CompletedProcess:
    # -I: ignore PYTHON* variables and the script's directory; -S: no site-packages,
    # so earsiv (installed in the venv) cannot be imported even by accident.
    return subprocess.run([sys.executable, "-I", "-S", str(target / "verifier.py"), str(target)],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def test_bundled_verifier_runs_without_earsiv(setup, tmp_path):
    bag = _extract(setup["out"], tmp_path)
    probe = subprocess.run([sys.executable, "-I", "-S", "-c", "import earsiv"], cwd=tmp_path, capture_output=True)
    assert probe.returncode != 0, "the isolated interpreter can import earsiv: the test would prove nothing"
    r = _standalone(bag, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{setup['info']['documents']} documents: everything verifies" in r.stdout
    # It reads the zip as received, too.
    z = subprocess.run([sys.executable, "-I", "-S", str(bag / "verifier.py"), str(setup["out"])], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert z.returncode == 0, z.stdout + z.stderr


def test_the_package_is_held_against_keys_obtained_outside_it(setup, tmp_path):
    """VERIFY.txt names the archive key's fingerprint and the anchors; both verifiers compare
    the package's keys with ones the inspector brings, and refuse a package whose keys differ."""
    bag = _extract(setup["out"], tmp_path)
    fingerprint = Cli(setup["home"]).json("status")["key_fingerprint"]
    text = (bag / "VERIFY.txt").read_text()
    assert fingerprint in text and "obtained separately" in text and "--key-fingerprint HEX" in text
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", "data/keys/archive-key.pem", "-outform", "DER"],
                         cwd=bag, capture_output=True, check=True).stdout
    assert hashlib.sha256(der).hexdigest() == fingerprint  # VERIFY.txt step 0 as written
    # The anchors are the built-in TSA's certificate: what the home holds, not what a token carries.
    assert (bag / "data/keys/tsa-anchors.pem").read_bytes() == (setup["home"] / "tsa/tsa-cert.pem").read_bytes()

    def standalone(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-I", "-S", str(bag / "verifier.py"), str(bag), *extra],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)

    assert standalone("--key-fingerprint", fingerprint).returncode == 0
    other = "0" * 64
    r = standalone("--key-fingerprint", other)
    assert r.returncode == 1 and "FAILED data/keys/archive-key.pem: its fingerprint is" in r.stdout, r.stdout
    # Anchors brought from outside that are not the TSA's: every token fails.
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(stranger / "k.pem"), "-out", str(stranger / "c.pem"), "-days", "2",
                    "-subj", "/CN=not the TSA"], check=True, capture_output=True)
    r = standalone("--tsa-anchors", str(stranger / "c.pem"))
    assert r.returncode == 1 and ".tsr: the time-stamp token over" in r.stdout, r.stdout
    assert standalone("--tsa-anchors", str(setup["home"] / "tsa/tsa-cert.pem")).returncode == 0
    # The same through `earsiv verify-package`.
    cli = Cli(tmp_path / "no-home")
    assert not cli.json("verify-package", str(setup["out"]), "--key-fingerprint", other, check=1)["ok"]
    assert not cli.json("verify-package", str(setup["out"]), "--tsa-anchors", str(stranger / "c.pem"), check=1)["ok"]
    assert cli.json("verify-package", str(setup["out"]), "--key-fingerprint", fingerprint,
                    "--tsa-anchors", str(setup["home"] / "tsa/tsa-cert.pem"))["ok"]


@pytest.mark.slow
def test_verify_package_accepts_it_without_a_home(setup, tmp_path):
    cli = Cli(tmp_path / "no-such-home")
    r = cli.run("verify-package", str(setup["out"]))
    assert "everything verifies" in r.stdout.decode()
    assert not (tmp_path / "no-such-home").exists()
    report = cli.json("verify-package", str(setup["out"]))
    assert report["ok"] and report["documents"] == setup["info"]["documents"]
    unpacked = verify_package(_extract(setup["out"], tmp_path / "x"))  # an unpacked package verifies the same
    assert unpacked.ok and unpacked.documents == report["documents"] and unpacked.checkpoints == report["checkpoints"]


def _rezip(src: Path, dst: Path, change: dict[str, bytes | None]) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = change.get(info.filename, zin.read(info))
            if data is not None:
                zout.writestr(info.filename, data)


def _flip(data: bytes) -> bytes:
    i = len(data) // 2
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


@pytest.mark.slow
def test_tampering_with_any_file_is_found_and_named(setup, tmp_path):
    # A smaller package (one kind) keeps the loop short; every one of its files is tampered with.
    vkn = setup["vkn"]
    kinds = collections.Counter(r["kind"] for r in json.loads(
        zipfile.ZipFile(setup["out"]).read(f"{setup['out'].stem}/data/manifest.json"))["documents"])
    kind = kinds.most_common()[-1][0]
    small = tmp_path / "small.zip"
    setup["cli"].run("package", "--vkn", vkn, "--from", setup["from"], "--to", setup["to"], "--kind", kind, "-o", str(small))
    with zipfile.ZipFile(small) as zf:
        members = [n for n in zf.namelist() if not n.endswith("/")]
        originals = {n: zf.read(n) for n in members}
    assert len(members) > 15
    bad = tmp_path / "bad.zip"
    for name in members:
        rel = name.split("/", 1)[1]
        _rezip(small, bad, {name: _flip(originals[name])})
        report = verify_package(bad)
        assert not report.ok, f"flipping a byte of {rel} went unnoticed"
        assert rel in {f.file for f in report.findings}, (rel, report.findings)
        # The stand-alone verifier finds it too, on the unpacked package.
        shutil.rmtree(tmp_path / "x", ignore_errors=True)
        bag = _extract(bad, tmp_path / "x")
        if rel != "verifier.py":  # a changed verifier cannot vouch for itself; the tag manifest names it above
            r = _standalone(bag, tmp_path)
            assert r.returncode == 1 and f"FAILED {rel}:" in r.stdout, (rel, r.stdout, r.stderr)
    # Nothing vouches for the tag manifest itself: a change to any of its lines
    # must still be reported, naming it (beside the tag file of that line).
    tag = next(n for n in members if n.endswith("/tagmanifest-sha256.txt"))
    lines = originals[tag].split(b"\n")
    for i, line in enumerate(lines):
        if not line:
            continue
        changed = b"\n".join(lines[:i] + [_flip(line[:64]) + line[64:]] + lines[i + 1:])
        _rezip(small, bad, {tag: changed})
        report = verify_package(bad)
        assert not report.ok and any("tagmanifest-sha256.txt" in f"{f.file} {f.problem}" for f in report.findings), line
    # And through the command, for one document.
    doc = next(n for n in members if "/data/documents/" in n)
    _rezip(small, bad, {doc: _flip(originals[doc])})
    r = setup["cli"].run("verify-package", str(bad), check=1)
    assert f"FAILED {doc.split('/', 1)[1]}:" in r.stdout.decode()


def test_a_missing_file_is_named(setup, tmp_path):
    with zipfile.ZipFile(setup["out"]) as zf:
        names = zf.namelist()
    top = setup["out"].stem
    for victim in (next(n for n in names if "/data/documents/" in n), next(n for n in names if n.endswith(".tsr")),
                   f"{top}/data/keys/tsa-anchors.pem"):
        bad = tmp_path / "missing.zip"
        _rezip(setup["out"], bad, {victim: None})
        rel = victim.split("/", 1)[1]
        if victim.endswith(".tsr"):  # through the command once
            out = Cli(tmp_path / "h").run("verify-package", str(bad), check=1).stdout.decode()
            assert f"FAILED {rel}: missing" in out, out
        report = verify_package(bad)
        assert any(f.file == rel and f.problem.startswith("missing") for f in report.findings), report.findings


@pytest.mark.slow
def test_a_package_of_an_unknown_vkn_is_empty_but_valid(setup, tmp_path):
    known = {v for r in setup["rows"] for v in (r.supplier_id, r.customer_id, r.edefter_vkn) if v}
    vkn = next(f"{n:010d}" for n in range(1000000007, 1000009999) if f"{n:010d}" not in known)
    out = tmp_path / "empty.zip"
    r = setup["cli"].run("package", "--vkn", vkn, "--from", "2000-01-01", "--to", "2030-12-31", "-o", str(out))
    assert "empty" in r.stdout.decode()
    v = Cli(tmp_path / "h").run("verify-package", str(out))
    assert "0 documents" in v.stdout.decode() and "no documents" in v.stdout.decode()
    bag = _extract(out, tmp_path / "x")
    bagit.Bag(str(bag)).validate()
    assert "no documents" in (bag / "bag-info.txt").read_text() and "NO DOCUMENTS" in (bag / "VERIFY.txt").read_text()
    assert _manifest(bag)["document_count"] == 0
    assert _standalone(bag, tmp_path).returncode == 0


def test_iso_image_lists_every_file_of_the_package(setup):
    iso = setup["out"].with_suffix(".iso")
    assert setup["info"]["iso"] == str(iso) and iso.stat().st_size > 0
    with zipfile.ZipFile(setup["out"]) as zf:
        want = {n.split("/", 1)[1]: zf.getinfo(n).file_size for n in zf.namelist() if not n.endswith("/")}
    if shutil.which("xorriso"):  # an independent reader of the image (Debian package, ./dev installs it)
        r = subprocess.run(["xorriso", "-indev", str(iso), "-find", "/", "-type", "f"], capture_output=True, text=True)
        got = {line.strip().strip("'").lstrip("/") for line in r.stdout.splitlines() if line.startswith("'")}
        assert got == set(want), set(want) ^ got
    else:
        from earsiv.archive.package.iso import iso_listing

        got = {k.lstrip("/"): v for k, v in iso_listing(iso).items()}
        assert got == want


@pytest.mark.slow
def test_pdf_flag_adds_a_printable_copy_of_every_document(setup, tmp_path):
    out = tmp_path / "pdf.zip"
    kinds = collections.Counter(r["kind"] for r in json.loads(
        zipfile.ZipFile(setup["out"]).read(f"{setup['out'].stem}/data/manifest.json"))["documents"])
    kind = kinds.most_common()[-1][0]  # the rarest kind: few documents, a quick print run
    args = ("package", "--vkn", setup["vkn"], "--from", setup["from"], "--to", setup["to"], "--kind", kind, "--pdf", "-o", str(out))
    if importlib.util.find_spec("earsiv.render") is None or importlib.util.find_spec("weasyprint") is None:
        r = setup["cli"].run(*args, check=2)
        assert "earsiv.render" in r.stderr.decode() and not out.exists()
        return
    setup["cli"].run(*args)
    bag = _extract(out, tmp_path / "x")
    rows = _manifest(bag)["documents"]
    assert rows and all(r["pdf"] and (bag / r["pdf"]).read_bytes().startswith(b"%PDF-") for r in rows)
    assert all(Path(r["pdf"]).stem == Path(r["file"]).stem for r in rows)
    bagit.Bag(str(bag)).validate()
    assert verify_package(out).ok



def test_the_vkn_as_e_defter_owner_gets_its_ledgers(setup, tmp_path):
    ledgers = [r for r in setup["rows"] if r.edefter_vkn]
    assert ledgers, "the e-Defter test assets were not indexed"
    owner = ledgers[0].edefter_vkn
    days = sorted(r.issue_date for r in ledgers if r.edefter_vkn == owner)
    out = tmp_path / "ledgers.zip"
    info = json.loads(setup["cli"].run("package", "--vkn", owner, "--from", days[0].isoformat(), "--to",
                                       days[-1].isoformat(), "-o", str(out), "--json").stdout)
    with zipfile.ZipFile(out) as zf:
        m = json.loads(zf.read(f"{out.stem}/data/manifest.json"))
    assert {r["digest"] for r in m["documents"]} == {r.digest for r in ledgers if r.edefter_vkn == owner}
    assert info["documents"] == len(m["documents"]) and all(r["edefter_vkn"] == owner for r in m["documents"])
    assert verify_package(out).ok


def test_paging_through_the_index_loses_and_repeats_nothing(setup, tmp_path):
    from earsiv.archive.package.build import PackageRequest, build_package

    req = PackageRequest(setup["vkn"], dt.date.fromisoformat(setup["from"]), dt.date.fromisoformat(setup["to"]))
    arch = Archive.open(setup["home"])
    try:
        result = build_package(arch, req, tmp_path / "paged.zip", page_size=2)
    finally:
        arch.close()
    with zipfile.ZipFile(result.path) as paged, zipfile.ZipFile(setup["out"]) as whole:
        a = json.loads(paged.read("paged/data/manifest.json"))["documents"]
        b = json.loads(whole.read(f"{setup['out'].stem}/data/manifest.json"))["documents"]
    assert len(a) == len({r["digest"] for r in a}) == result.documents
    assert {r["digest"] for r in a} == {r["digest"] for r in b}
