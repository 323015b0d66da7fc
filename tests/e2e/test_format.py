"""docs/FORMAT.md, followed to the letter on a real archive with standard tools only.

The archive is made by earsiv; everything after that uses sha256sum, zstd, openssl, sed,
xxd and a few lines of hashlib that re-implement RFC 9162 here, independently of
earsiv.archive.log.merkle.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CORPUS, Cli

pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("zstd", "openssl", "sha256sum", "xxd", "sed")),
    reason="needs zstd, openssl, sha256sum, xxd and sed (./dev test installs them)",
)

DOCS = [
    "efatura/sk-fullboard_20251120150654847473.xml",
    "efatura/sk-fullboard_20251120150654854382.xml",  # same issuer: compressed with a dictionary
    "efatura/sk-fullboard_20251120150654861231.xml",
    "earsiv/gibfw_SerbestMeslekMakbuzu.xml",
    "eirsaliye/gib121_Irsaliye-Ornek2.xml",
]


def sh(script: str, cwd: Path) -> str:
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1, written out again here on purpose."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, Cli]:
    from earsiv.archive.archive import Archive

    home = tmp_path_factory.mktemp("fmt") / "home"
    Archive.init(home).close()
    cli = Cli(home)
    for d in DOCS:  # one ingest per document: several bundles and checkpoints
        cli.run("ingest", str(CORPUS / d))
    return home / "store" / "objects", cli


def test_descriptor_names_format_and_version(archive):
    objects, _ = archive
    doc = json.loads((objects / "earsiv.json").read_text())
    assert doc["format"] == "earsiv-archive" and doc["version"] == 1


def test_every_blob_decodes_to_its_name_with_zstd_and_sha256sum(archive, tmp_path):
    objects, _ = archive
    entries = [json.loads(line) for b in sorted((objects / "log/leaves").iterdir()) for line in b.read_bytes().splitlines()]
    docs = [e for e in entries if e["type"] == "document"]
    assert len(docs) == len(DOCS)
    used_dict = 0
    for e in docs:
        d = e["digest"]
        blob = objects / "blobs" / d[:2] / d
        if e["blob"]["dict"]:
            used_dict += 1
            k = e["blob"]["dict"]
            out = sh(f"zstd -q -d -c dicts/{k[:2]}/{k} > {tmp_path}/dict && sha256sum < {tmp_path}/dict", objects)
            assert out.split()[0] == k
            out = sh(f"zstd -q -d -c -D {tmp_path}/dict blobs/{d[:2]}/{d} | sha256sum", objects)
        else:
            out = sh(f"zstd -q -d -c blobs/{d[:2]}/{d} | sha256sum", objects)
        assert out.split()[0] == d, d
        assert blob.stat().st_size == e["blob"]["stored_size"]
    assert used_dict >= 2, "same-issuer documents should use a dictionary"


def test_bundles_are_contiguous_and_leaf_hashes_follow_the_recipe(archive):
    objects, _ = archive
    expected = 0
    for b in sorted((objects / "log/leaves").iterdir()):
        assert b.name == f"{expected:016d}.jsonl"
        lines = b.read_bytes().split(b"\n")
        assert lines[-1] == b""  # every leaf ends with 0x0A
        for n, leaf in enumerate(lines[:-1], start=1):
            out = sh(f"(printf '\\000'; sed -n {n}p {b.name} | tr -d '\\n') | sha256sum", b.parent)
            assert out.split()[0] == hashlib.sha256(b"\x00" + leaf).hexdigest()
            entry = json.loads(leaf)
            assert leaf == json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
            assert entry["v"] == 1
        expected += len(lines) - 1


def test_every_checkpoint_root_signature_and_token_verify_with_openssl(archive):
    objects, _ = archive
    leaves = [line for b in sorted((objects / "log/leaves").iterdir()) for line in b.read_bytes().splitlines()]
    cps = objects / "log/checkpoints"
    sizes = sorted(int(p.name) for p in cps.iterdir() if p.name.isdigit())
    assert len(sizes) == len(DOCS)  # one checkpoint after each CLI ingest
    tsa_certs = sorted((objects / "keys").glob("tsa-*.pem"))
    assert len(tsa_certs) == 1
    for size in sizes:
        name = f"{size:016d}"
        body = (cps / name).read_text()
        fields = dict(line.split(": ", 1) for line in body.splitlines()[1:])
        assert body.splitlines()[0] == "earsiv-checkpoint/1"
        assert int(fields["size"]) == size
        assert fields["root"] == mth(leaves[:size]).hex()
        key = objects / "keys" / f"{fields['key']}.pem"
        assert sh(f"openssl pkey -pubin -in {key} -outform DER | sha256sum", cps).split()[0] == fields["key"]
        out = sh(f"openssl pkeyutl -verify -pubin -inkey {key} -rawin -in {name} -sigfile {name}.sig", cps)
        assert "Signature Verified Successfully" in out
        out = sh(f"openssl ts -verify -data {name} -in {name}.tsr -token_in -CAfile {tsa_certs[0]} 2>&1", cps)
        assert "Verification: OK" in out


def test_inclusion_proof_steps_fold_to_the_root_with_xxd_and_sha256sum(archive, tmp_path):
    _objects, cli = archive
    digest = hashlib.sha256((CORPUS / DOCS[1]).read_bytes()).hexdigest()
    ev = tmp_path / "ev"
    cli.run("evidence", digest, "-o", str(ev))
    proof = json.loads((ev / "proof.json").read_text())
    leaf_hash = sh("(printf '\\000'; cat leaf.json) | sha256sum", ev).split()[0]
    assert leaf_hash == proof["leaf_hash"]
    current = leaf_hash
    for step in proof["steps"]:
        assert current in (step["left"], step["right"])
        out = sh(f"(printf '\\001'; printf {step['left']} | xxd -r -p; printf {step['right']} | xxd -r -p) | sha256sum", ev)
        current = out.split()[0]
        assert current == step["result"]
    root = dict(line.split(": ", 1) for line in (ev / "checkpoint.txt").read_text().splitlines()[1:])["root"]
    assert current == root
    assert sha256_file(ev / "original.xml") == digest


def sha256_file(p: Path) -> str:
    return subprocess.run(["sha256sum", str(p)], capture_output=True, text=True, check=True).stdout.split()[0]


def test_retention_journal_matches_the_law_for_each_document(archive):
    objects, _ = archive
    journal = [json.loads(line) for line in (objects.parent / "retention.jsonl").read_text().splitlines()]
    by_key = {}
    for rec in journal:
        by_key.setdefault(rec["key"], []).append(rec["retain_until"])
    for d in DOCS:
        digest = hashlib.sha256((CORPUS / d).read_bytes()).hexdigest()
        until = max(by_key[f"blobs/{digest[:2]}/{digest}"])
        entry_dates = [json.loads(l) for b in sorted((objects / "log/leaves").iterdir()) for l in b.read_bytes().splitlines()]
        issue = next(e["issue_date"] for e in entry_dates if e.get("digest") == digest)
        year = int(issue[:4]) if issue else None
        if year:
            assert until == f"{year + 10}-12-31T20:59:59Z", (d, until)
