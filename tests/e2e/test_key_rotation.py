"""Key rotation (`earsiv key rotate`): the whole history verifies, and nothing but the chain is accepted.

Real parts only: the `earsiv` command, openssl for every signature a README tells a verifier
to check, both package verifiers (the stand-alone one under an interpreter that cannot import
earsiv), and an attacker who kept a copy of the old private key or brings a key of their own.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from earsiv.archive.archive import Archive
from earsiv.archive.errors import VerificationError
from earsiv.archive.keys import KEY_FILE, Signer
from earsiv.archive.log import merkle
from earsiv.archive.log.checkpoints import Checkpoint
from earsiv.archive.log.entries import KeyEntry
from earsiv.archive.log.proofs import InclusionProof
from earsiv.archive.package.verify import verify_package
from tests.conftest import CORPUS, Cli

BEFORE = "efatura/sk-akgips_20251120150604701835.xml"
AFTER = "efatura/sk-akgips_20251120150604712956.xml"  # same supplier: one package holds both
VKN = "0111275461"


def _package(cli: Cli, out: Path) -> Path:
    cli.run("package", "--vkn", VKN, "--from", "2025-01-01", "--to", "2025-12-31", "-o", str(out))
    dest = out.with_suffix("")
    with zipfile.ZipFile(out) as zf:
        zf.extractall(dest)
    return next(dest.iterdir())


def _standalone(bag: Path, fingerprint: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-I", "-S", str(bag / "verifier.py"), str(bag), "--key-fingerprint",
                           fingerprint], cwd=bag.parent, capture_output=True, text=True, timeout=120)


def _remanifest(bag: Path) -> None:
    """What a forger does after changing files: the BagIt manifests made to agree again."""
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(bag).as_posix()}"
             for p in sorted((bag / "data").rglob("*")) if p.is_file()]
    (bag / "manifest-sha256.txt").write_text("\n".join(lines) + "\n")
    tags = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in sorted(bag.iterdir())
            if p.is_file() and p.name != "tagmanifest-sha256.txt"]
    (bag / "tagmanifest-sha256.txt").write_text("\n".join(tags) + "\n")


def _resign_head(bag: Path, key: Ed25519PrivateKey) -> Path:
    """The package's newest checkpoint, made to name *key* and signed by it (its root unchanged)."""
    head = max(p for p in (bag / "data/checkpoints").iterdir() if p.name.isdigit())
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    body = re.sub(rb"key: [0-9a-f]{64}\n", f"key: {hashlib.sha256(public).hexdigest()}\n".encode(), head.read_bytes())
    head.write_bytes(body)
    head.with_name(head.name + ".sig").write_bytes(key.sign(body))
    return head


def _problems(bag: Path, fingerprint: str) -> tuple[str, str]:
    """What each verifier says: the stand-alone one's output, the archive's report."""
    standalone = _standalone(bag, fingerprint)
    assert standalone.returncode == 1, standalone.stdout + standalone.stderr
    report = verify_package(bag, key_fingerprint=fingerprint)
    assert not report.ok
    return standalone.stdout, json.dumps(report.to_json()["failures"])


@pytest.fixture
def rotated(home: Path, tmp_path: Path) -> dict:
    cli = Cli(home)
    cli.run("ingest", str(CORPUS / BEFORE))
    stolen = (home / "keys" / KEY_FILE).read_bytes()  # what a thief of the old key holds
    before = _package(cli, tmp_path / "before.zip")
    first = cli.json("status")["key_fingerprint"]
    rotation = cli.json("key", "rotate", "--reason", "suspected compromise")
    cli.run("ingest", str(CORPUS / AFTER))
    after = _package(cli, tmp_path / "after.zip")
    return {"cli": cli, "home": home, "first": first, "rotation": rotation, "before": before, "after": after,
            "stolen": serialization.load_pem_private_key(stolen, None)}


def test_the_whole_history_verifies_across_a_rotation(rotated, tmp_path):
    cli, home, first, rot = rotated["cli"], rotated["home"], rotated["first"], rotated["rotation"]
    new = rot["new_key"]
    assert rot["old_key"] == rot["first_key"] == first != new
    # Status: the archive key (what is compared with paper) stays the first; the key in force and the history.
    st = cli.json("status")
    assert st["key_fingerprint"] == st["keys"]["first"] == first and st["keys"]["current"] == new
    assert [k["key_id"] for k in st["keys"]["history"]] == [first, new]
    assert st["keys"]["history"][1]["introduced_at_leaf"] == rot["log_index"]
    assert "suspected compromise" in cli.run("status").stdout.decode()
    # Checkpoints before the introduction are signed by the old key, after it by the new one.
    sizes = sorted(int(p.stem) for p in (home / "store/objects/log/checkpoints").glob("*.sig"))
    assert min(sizes) <= rot["log_index"] < max(sizes)
    for size in sizes:
        body = (home / "store/objects/log/checkpoints" / f"{size:016d}").read_text()
        assert f"key: {first if size <= rot['log_index'] else new}\n" in body, (size, body)
    # The old private key is gone from the home; its public key stays in the store.
    assert sorted(p.name for p in (home / "keys").iterdir()) == [KEY_FILE]
    assert Signer.load(home / "keys").public.key_id == new
    assert (home / "store/objects/keys" / f"{first}.pem").exists()
    # Every verifier of the archive accepts it.
    assert cli.run("verify", "--all").returncode == 0
    assert cli.json("audit", "--restart")["ok"]
    # Reindexing reads the whole log again, following the chain: no checkpoint is refused on the way.
    rebuilt = cli.run("reindex").stderr.decode()
    assert "checkpoint" not in rebuilt and "refused" not in rebuilt, rebuilt
    assert cli.json("status")["keys"]["current"] == new
    assert cli.run("verify", "--all").returncode == 0
    # Packages made before and after the rotation, held against the FIRST key's fingerprint.
    for bag in (rotated["before"], rotated["after"]):
        assert cli.run("verify-package", str(bag), "--key-fingerprint", first).returncode == 0
        r = _standalone(bag, first)
        assert r.returncode == 0 and "everything verifies" in r.stdout, r.stdout + r.stderr
        # VERIFY.txt's loop, run by a shell as printed: each checkpoint with the key it names.
        text = (bag / "VERIFY.txt").read_text()
        loop = re.search(r"\n( +for c in data/checkpoints.*?\n +done\n +done)\n", text, re.DOTALL).group(1)
        ran = subprocess.run(["bash", "-euc", textwrap.dedent(loop)], cwd=bag, capture_output=True, text=True)
        cps = len([p for p in (bag / "data/checkpoints").iterdir() if p.name.isdigit()])
        assert ran.returncode == 0 and ran.stdout.count("Signature Verified Successfully") == cps, ran.stdout + ran.stderr
        head = re.search(r"-inkey (\S+) -rawin \\\n +-in (data/checkpoints/\d+) -sigfile (\S+)", text)
        one = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", head.group(1), "-rawin", "-in",
                              head.group(2), "-sigfile", head.group(3)], cwd=bag, capture_output=True, text=True)
        assert one.returncode == 0, (head.groups(), one.stdout, one.stderr)
    assert "4b. Later signing keys" in (rotated["after"] / "VERIFY.txt").read_text()
    assert not (rotated["before"] / "data/keys/introductions").exists()
    assert (rotated["after"] / "data/keys/introductions" / f"{rot['log_index']:016d}.json").exists()
    # The key certificate lists the hand-over under the first key.
    page = cli.run("key-certificate").stdout.decode()
    grouped = " ".join(new[i:i + 4] for i in range(0, 16, 4))
    assert grouped in page and "since log entry" in page


def test_the_evidence_readme_commands_check_the_hand_over_with_openssl(rotated, tmp_path):
    cli = rotated["cli"]
    digest = hashlib.sha256((CORPUS / AFTER).read_bytes()).hexdigest()
    ev = tmp_path / "ev"
    cli.run("evidence", digest, "-o", str(ev))
    readme = (ev / "README.txt").read_text()
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", "archive-key.pem", "-outform", "DER"], cwd=ev,
                         capture_output=True, check=True).stdout
    assert hashlib.sha256(der).hexdigest() == rotated["first"]  # the folder's archive key is the first
    commands = [line.strip() for line in readme.splitlines() if line.strip().startswith("openssl pkeyutl")]
    assert "openssl pkeyutl -verify -pubin -inkey key-1.pem -rawin -in checkpoint.txt -sigfile checkpoint.sig" in commands
    for cmd in commands:
        cmd = cmd.replace("PREV", "archive-key.pem").replace("key-K", "key-1")
        done = subprocess.run(cmd.split(), cwd=ev, capture_output=True, text=True)
        assert done.returncode == 0 and "Signature Verified Successfully" in done.stdout, (cmd, done.stdout, done.stderr)
    # The hand-over was signed by the old key, not by anyone: a statement changed by a byte fails.
    (ev / "key-1.txt").write_bytes((ev / "key-1.txt").read_bytes().replace(b"old:", b"OLD:"))
    bad = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "archive-key.pem", "-rawin", "-in",
                          "key-1.txt", "-sigfile", "key-1.old.sig"], cwd=ev, capture_output=True, text=True)
    assert bad.returncode != 0
    # The introduction's leaf is in the checkpoint the evidence uses.
    intro = json.loads((ev / "key-1.json").read_text())
    InclusionProof.from_json(intro)
    assert intro["root"] == re.search(r"root: (\w+)", (ev / "checkpoint.txt").read_text()).group(1)


def test_a_checkpoint_the_old_key_signs_after_the_rotation_is_refused(rotated):
    cli, home, first = rotated["cli"], rotated["home"], rotated["first"]
    bag = rotated["after"]
    _resign_head(bag, rotated["stolen"])
    _remanifest(bag)
    standalone, report = _problems(bag, first)
    for text in (standalone, report):
        assert "the key in force after" in text, text
    # The archive itself refuses it too.
    with Archive.open(home) as arch:
        cp = Checkpoint.parse((home / "store/objects/log/checkpoints").joinpath(
            f"{arch.log.size:016d}").read_bytes())
        forged = Checkpoint(cp.origin, cp.size, cp.root, cp.time, first)
        with pytest.raises(VerificationError, match="retired"):
            arch.keys.ring().verify_checkpoint(rotated["stolen"].sign(forged.body()), forged)
    assert cli.run("verify", "--all").returncode == 0  # the store was not touched


def test_a_key_introduced_without_the_old_keys_signature_is_refused(rotated, tmp_path):
    cli, home, first = rotated["cli"], rotated["home"], rotated["first"]
    intruder = Ed25519PrivateKey.generate()
    pem = intruder.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    with Archive.open(home) as arch:
        in_force = arch.keys.ring().current.key_id
        at = dt.datetime.now(dt.UTC)
        entry = KeyEntry(in_force, Signer(intruder).public.key_id, pem.decode(), at, "intruder", "",
                         "", "")
        statement = entry.statement(arch.log.origin)
        sig = base64.b64encode(intruder.sign(statement)).decode()
        # Signed by the intruder's key twice: the key in force never handed over.
        index = arch.ledger.append_entry(KeyEntry(entry.old, entry.new, entry.public_key, at, "intruder", "", sig, sig))
        arch.checkpoint()
        assert arch.keys.ring().current.key_id == in_force  # refused: the key in force stays
        size = arch.log.size
    # The archive went on signing with its own key; verify and the audit name the refused entry.
    body = (home / "store/objects/log/checkpoints" / f"{size:016d}").read_text()
    assert f"key: {in_force}\n" in body
    found = cli.json("verify", "--all", check=1)
    assert [f["subject"] for f in found["failures"]] == [f"log leaf {index}"], found
    assert "signature of the key it succeeds" in found["failures"][0]["problem"]
    audit = cli.json("audit", "--restart", check=1)
    assert not audit["ok"] and f"log leaf {index}" in json.dumps(audit)
    # A package whose newest checkpoint the intruder signed, carrying that introduction: refused.
    bag = _package(cli, tmp_path / "intruded.zip")
    head = _resign_head(bag, intruder)
    with Archive.open(home) as arch:  # the entry's real inclusion proof in that checkpoint
        n = int(head.name)
        leaf = arch.log.read_leaf(index)
        proof = InclusionProof(index, n, merkle.leaf_hash(leaf), tuple(arch.log.inclusion_proof(index, n)),
                               Checkpoint.parse(head.read_bytes()).root)
    intro = {"leaf": leaf.decode(), **proof.to_json(), "checkpoint": f"data/checkpoints/{n:016d}"}
    folder = bag / "data/keys/introductions"
    folder.mkdir(exist_ok=True)
    (folder / f"{index:016d}.json").write_text(json.dumps(intro))
    _remanifest(bag)
    standalone, report = _problems(bag, first)
    assert "old key's signature of the hand-over does not verify" in standalone, standalone
    assert "key introduction refused" in report and "signature of the key it succeeds" in report, report
    for text in (standalone, report):
        assert "the key in force after" in text, text
    shutil.rmtree(bag.parent)


def test_a_process_running_during_the_rotation_signs_with_the_new_key_after_it(tmp_path):
    """As `serve` would be: opened before the rotation, writing after it, in the same home."""
    from earsiv.archive.ingest import Source

    home = tmp_path / "home"
    with Archive.init(home) as first:
        list(first.ingest([Source("a.xml", (CORPUS / BEFORE).read_bytes())]))
        old = first.archive_key().key_id
    running = Archive.open(home)
    try:
        assert running.signer.public.key_id == old
        with Archive.open(home) as operator:
            done = operator.rotate_key(reason="scheduled", by="test")
        list(running.ingest([Source("b.xml", (CORPUS / AFTER).read_bytes())]))
        cp = running.checkpoint()
        assert cp is not None and cp.size > done["log_index"]
        assert cp.key_id == done["new_key"] != old
        assert running.signer.public.key_id == done["new_key"]
    finally:
        running.close()
    assert Cli(home).run("verify", "--all").returncode == 0
