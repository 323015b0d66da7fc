"""The archive core end to end, through the real `earsiv` command.

One suite for every deployment: written against ``deployment`` (``tests/helpers/deployment.py``),
it runs here on the embedded default and, as the same test functions, on SeaweedFS + PostgreSQL
in ``tests/integration/s3/test_core_scaleout.py`` (which fails if the two drift apart).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from tests.conftest import CORPUS, Cli
from tests.helpers.deployment import Embedded

SAMPLE = [
    "efatura/sk-akgips_20251120150604701835.xml",  # real, signed, CRLF
    "efatura/sk-akgips_20251120150604712956.xml",  # same issuer
    "efatura/gib121_TEVKIFAT.xml",  # shares ID+UUID with OZELMATRAH
    "efatura/gib121_OZELMATRAH.xml",
    "efatura/responses/gib121_KabulUygulamaYanitiOrnegi.xml",
    "earsiv/bdog_sample.xml",  # real signed e-Arşiv
    "earsiv/gibfw_SerbestMeslekMakbuzu.xml",  # BOM, non-UBL
    "eirsaliye/gib121_Irsaliye-Ornek1.xml",
    "efatura/envelopes/gibpkt_1_TEMEL_FATURA_ZARF.xml",
]


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def deployment(home: Path) -> Embedded:
    return Embedded(home)


@pytest.fixture
def ingested(deployment) -> tuple[Cli, dict[str, dict]]:
    cli = deployment.cli
    results = cli.jsonl("ingest", *[str(CORPUS / s) for s in SAMPLE])
    return cli, {Path(r["path"]).name: r for r in results}


def test_ingest_json_contract(ingested):
    _cli, res = ingested
    assert len(res) == len(SAMPLE)
    for name, r in res.items():
        assert {"path", "status", "digest", "kind", "error"} <= r.keys()
        assert r["status"] in ("stored", "conflict"), r
        assert r["digest"] == sha(next(CORPUS.rglob(name)))
        assert r["error"] is None
    assert res["bdog_sample.xml"]["kind"] == "e-arsiv"
    assert res["gib121_Irsaliye-Ornek1.xml"]["kind"] == "e-irsaliye"
    assert res["gibpkt_1_TEMEL_FATURA_ZARF.xml"]["kind"] == "zarf"
    assert res["gibfw_SerbestMeslekMakbuzu.xml"]["kind"] == "other"


def test_same_ettn_in_a_different_document_is_kept_and_reported_as_conflict(ingested):
    _cli, res = ingested
    first, second = res["gib121_TEVKIFAT.xml"], res["gib121_OZELMATRAH.xml"]
    assert first["digest"] != second["digest"]
    assert second["status"] == "conflict" and first["digest"] in second["conflicts_with"]


def test_the_same_bytes_again_store_nothing_new(ingested, deployment):
    cli, res = ingested
    before = set(deployment.keys())
    again = cli.jsonl("ingest", str(CORPUS / SAMPLE[0]))
    assert [r["status"] for r in again] == ["duplicate"]
    assert again[0]["digest"] == res[Path(SAMPLE[0]).name]["digest"]
    assert set(deployment.keys()) == before  # nothing appended, so not even a checkpoint


def test_get_returns_the_original_byte_for_byte(ingested, tmp_path):
    cli, res = ingested
    for rel in SAMPLE:
        r = res[Path(rel).name]
        out = tmp_path / "out.xml"
        cli.run("get", r["digest"], "-o", str(out))
        assert out.read_bytes() == (CORPUS / rel).read_bytes(), rel
    bom = res["gibfw_SerbestMeslekMakbuzu.xml"]["digest"]
    assert cli.run("get", bom).stdout.startswith(b"\xef\xbb\xbf")


def test_search_by_vkn_as_either_party_and_by_date_kind_id_ettn(ingested):
    cli, res = ingested
    show = cli.json("show", res["gib121_Irsaliye-Ornek1.xml"]["digest"])
    supplier, customer = show["supplier_id"], show["customer_id"]
    assert supplier and customer
    as_supplier = {d["digest"] for d in cli.json("search", "--vkn", supplier)}
    as_customer = {d["digest"] for d in cli.json("search", "--vkn", customer)}
    assert show["digest"] in as_supplier and show["digest"] in as_customer
    hits = cli.json("search", "--kind", "e-arsiv")
    assert [h["digest"] for h in hits] == [res["bdog_sample.xml"]["digest"]]
    for key in ("digest", "kind", "id", "ettn", "issue_date", "supplier_id", "customer_id"):
        assert key in hits[0]
    by_id = cli.json("search", "--id", hits[0]["id"])
    assert {h["digest"] for h in by_id} == {hits[0]["digest"]}
    by_ettn = cli.json("search", "--ettn", hits[0]["ettn"].upper())
    assert hits[0]["digest"] in {h["digest"] for h in by_ettn}
    day = hits[0]["issue_date"]
    assert hits[0]["digest"] in {h["digest"] for h in cli.json("search", "--from", day, "--to", day)}
    assert hits[0]["digest"] not in {h["digest"] for h in cli.json("search", "--to", "2000-01-01")}


def test_signatures_are_inspected_after_ingest(ingested):
    cli, res = ingested
    signed = cli.json("show", res["sk-akgips_20251120150604701835.xml"]["digest"])
    assert signed["signature_status"] == "consistent", signed  # xmlsec1 verifies this one too
    assert signed["signer_id"] and signed["cert_valid_at_signing"] is True
    broken = cli.json("show", res["bdog_sample.xml"]["digest"])
    assert broken["signature_status"] == "invalid"  # so does xmlsec1: its digests do not match
    unsigned = cli.json("show", res["gib121_TEVKIFAT.xml"]["digest"])
    assert unsigned["signature_status"] in ("unsigned", "invalid", "unverifiable")
    assert cli.json("status")["pending"]["signature_checks"] == 0


def _flip(data: bytes) -> bytes:
    out = bytearray(data)
    out[len(out) // 2] ^= 0x01
    return bytes(out)


def test_verify_all_passes_then_names_a_damaged_blob(ingested, deployment):
    cli, res = ingested
    ok = cli.json("verify", "--all")
    assert ok["ok"] and ok["checked"] == len(SAMPLE)
    victim = res["bdog_sample.xml"]["digest"]
    deployment.damage(f"blobs/{victim[:2]}/{victim}", _flip)
    bad = cli.json("verify", "--all", check=1)
    assert not bad["ok"]
    assert [f["subject"] for f in bad["failures"]] == [victim]
    text = cli.run("verify", victim, check=1).stdout.decode()
    assert victim in text and "FAILED" in text


def test_verify_names_a_changed_log_leaf(ingested, deployment):
    cli, _res = ingested
    bundle = deployment.keys("log/leaves/")[0]
    deployment.damage(bundle, lambda b: b.replace(b'"kind":"e-fatura"', b'"kind":"e-fatur4"', 1))
    bad = cli.json("verify", "--all", check=1)
    # The bundle itself is named (its leaves no longer hash to the tile a signed checkpoint
    # proves), not only the checkpoints whose roots stop matching.
    assert [f["subject"] for f in bad["failures"] if "do not hash to the tile" in f["problem"]] == [bundle], bad


def test_evidence_verifies_with_openssl_alone(ingested, tmp_path):
    cli, res = ingested
    digest = res["sk-akgips_20251120150604712956.xml"]["digest"]
    out = tmp_path / "ev"
    cli.run("evidence", digest, "-o", str(out))
    names = {p.name for p in out.iterdir()}
    assert {"leaf.json", "proof.json", "checkpoint.txt", "checkpoint.tsr", "tsa-anchors.pem", "README.txt"} <= names
    readme = (out / "README.txt").read_text()
    printed = re.search(r"openssl ts -verify -data checkpoint.txt -in checkpoint.tsr .*", readme)
    assert printed, readme
    cmd = printed.group(0)
    # The certificates are checked as of the stamp's own time, so the command still works
    # once the TSA certificate has expired: -attime is the token's genTime.
    assert "-partial_chain -attime " in cmd
    at = int(cmd.rsplit(" ", 1)[1])
    shown = subprocess.run(["openssl", "ts", "-reply", "-in", "checkpoint.tsr", "-token_in", "-token_out", "-text"],
                           cwd=out, capture_output=True, text=True, check=True).stdout
    stamped = re.search(r"Time stamp: (.*)", shown).group(1)
    gen = subprocess.run(["date", "-u", "-d", stamped, "+%s"], capture_output=True, text=True, check=True).stdout
    assert at == int(gen), (at, shown)
    done = subprocess.run(cmd.split(), cwd=out, capture_output=True, text=True)
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stdout + done.stderr
    # The same check made on a day after the anchor expired fails without the stamp's time:
    # openssl's -attime stands in for that day (the anchor here lives 50 years).
    anchor = x509.load_pem_x509_certificate((out / "tsa-anchors.pem").read_bytes())
    later = str(int(anchor.not_valid_after_utc.timestamp()) + 86400)
    expired = subprocess.run([*cmd.split()[:-1], later], cwd=out, capture_output=True, text=True)
    assert expired.returncode != 0 and "expired" in expired.stdout + expired.stderr, expired.stdout
    assert hashlib.sha256((out / "original.xml").read_bytes()).hexdigest() == digest
    assert json.loads((out / "leaf.json").read_bytes())["digest"] == digest
    # The token must not verify over anything else.
    (out / "checkpoint.txt").write_bytes((out / "checkpoint.txt").read_bytes() + b"x")
    bad = subprocess.run(cmd.split(), cwd=out, capture_output=True, text=True)
    assert bad.returncode != 0


def test_one_time_stamp_per_checkpoint_never_per_document(ingested, deployment):
    cli, _ = ingested
    cli.run("ingest", str(CORPUS / "efatura"), check=1)  # the corpus holds one malformed file
    names = [k.rsplit("/", 1)[1] for k in deployment.keys("log/checkpoints/")]
    tokens = [n for n in names if n.endswith(".tsr")]
    checkpoints = [n for n in names if n.isdigit()]
    status = cli.json("status")
    assert len(tokens) == len(checkpoints) <= 4
    assert status["documents"] > 40 and status["last_checkpoint"]["stamped"]
    assert status["last_checkpoint"]["size"] == status["log_size"]


def test_reindex_rebuilds_an_index_equal_to_the_live_one(ingested, deployment):
    from earsiv.archive.archive import Archive

    cli, _ = ingested
    held = cli.json("search", "--kind", "e-arsiv")[0]["digest"]
    cli.run("legal-hold", held, "on", "--reason", "inspection 2026/17")
    with Archive.open(deployment.home) as arch:
        live = arch.index.dump()
    deployment.lose_index()  # everything in it must come back from the store alone
    cli.run("reindex")
    with Archive.open(deployment.home) as arch:
        rebuilt = arch.index.dump()
        assert arch.index.get(held).legal_hold is True
    assert rebuilt == live
    assert any(row.get("legal_hold") for table in live for row in ([table] if isinstance(table, dict) else []) if isinstance(row, dict)) or "legal_hold" in json.dumps(live, default=str)


def test_a_crash_between_log_and_index_is_repaired_on_open(deployment):
    """Killed at the archive's fault point: blobs and leaves durable, the index never told."""
    from earsiv.archive.archive import Archive

    cli, home = deployment.cli, deployment.home
    doc = CORPUS / "efatura/gib121_HASTANE.xml"
    crashed = cli.run("ingest", str(doc), check=None, env={"EARSIV_FAULT": "ledger.after-bundle"})
    assert crashed.returncode == -9 and b"SIGKILL at ledger.after-bundle" in crashed.stderr
    with Archive.open(home) as arch:  # opening catches the index up with the log
        row = arch.index.get(sha(doc))
        assert row is not None and row.kind == "e-fatura" and row.log_index == 0
        assert arch.log.size == 2  # the document's leaf and its first holding's
        (holding,) = arch.index.access.holdings_of([sha(doc)])[sha(doc)]
        assert (holding.tenant, holding.log_index) == ("", 1)
    assert cli.jsonl("ingest", str(doc))[0]["status"] == "duplicate"
    assert b"0 problems" in cli.run("verify", "--all").stdout


def test_get_returns_what_the_store_keeps_and_evidence_names_it(ingested, deployment):
    """The store holds each document's blob under its digest, and the log leaves that name them."""
    _cli, res = ingested
    blobs = set(deployment.keys("blobs/"))
    assert {f"blobs/{r['digest'][:2]}/{r['digest']}" for r in res.values()} <= blobs
    leaves = b"".join(deployment.read(k) for k in deployment.keys("log/leaves/"))
    assert all(r["digest"].encode() in leaves for r in res.values())


def test_status_reports_bytes_checkpoint_and_pending_work(ingested):
    cli, _ = ingested
    st = cli.json("status")
    assert st["documents"] == len(SAMPLE)
    assert 0 < st["bytes_stored"] < st["bytes_original"]
    assert st["last_checkpoint"]["stamped"] is True
    assert set(st["pending"]) == {"signature_checks", "unstamped_checkpoints", "oldest_unstamped", "fulltext"}
    assert st["pending"]["oldest_unstamped"] is None  # nothing waits for a stamp
    # The archive key's fingerprint, to publish out of band, and the TSA it trusts.
    assert re.fullmatch(r"[0-9a-f]{64}", st["key_fingerprint"])
    assert st["tsa"]["stamps"] == 1 and st["tsa"]["authorities"][0]["url"] == ""
    assert st["tsa"]["warnings"] == []  # the built-in TSA's certificate lives 50 years
    # The CLI ingest waited for signatures and the full-text index.
    assert st["pending"]["signature_checks"] == 0 and st["pending"]["fulltext"] == 0


def test_usage_errors_exit_2_and_missing_documents_exit_1(deployment):
    cli = deployment.cli
    assert cli.run("search", "--from", "yesterday", check=2).returncode == 2
    assert cli.run("show", "not-a-digest", check=2).returncode == 2
    assert cli.run("verify", check=2).returncode == 2
    assert cli.run("show", "0" * 64, check=1).returncode == 1


def test_an_uninitialised_home_gives_a_clear_error(tmp_path):
    proc = Cli(tmp_path / "nothing").run("status", check=2)
    assert b"earsiv init" in proc.stderr


def test_the_full_audit_reads_the_store_and_finds_a_document_missing_from_the_index(ingested, home):
    import sqlite3

    cli, res = ingested
    victim = res["gib121_Irsaliye-Ornek1.xml"]["digest"]
    with sqlite3.connect(home / "index.sqlite") as db:
        db.execute("PRAGMA foreign_keys = ON")
        for table in ("document_parties", "document_refs"):
            db.execute(f"DELETE FROM {table} WHERE digest = ?", (victim,))
        db.execute("DELETE FROM documents WHERE digest = ?", (victim,))
    report = cli.json("verify", "--all", check=1)
    assert report["checked"] == len(SAMPLE)
    assert [(f["subject"], "missing from the index" in f["problem"]) for f in report["failures"]] == [(victim, True)]
    cli.run("reindex")
    assert cli.json("verify", "--all")["ok"]


def test_a_failed_init_leaves_the_home_as_it_was_and_can_be_retried(tmp_path):
    home = tmp_path / "home"
    proc = Cli(home).run("init", "--store", "file:///proc/earsiv-cannot-be-here", check=3)
    assert b"earsiv: error" in proc.stderr
    assert not home.exists() or list(home.iterdir()) == []
    Cli(home).run("init")
    assert Cli(home).json("status")["documents"] == 0
    again = Cli(home).run("init", check=2)
    assert b"already" in again.stderr


def test_reindex_equals_live_for_the_whole_corpus_repeatedly(tmp_path):
    """Many issuers, several documents each in one batch, seeded by parallel workers."""
    from earsiv.archive.archive import Archive
    from earsiv.archive.sources import expand
    from tests.conftest import MALFORMED, corpus_files

    files = [p for p in corpus_files() if str(p.relative_to(CORPUS)) not in MALFORMED]
    for attempt in range(3):
        home = tmp_path / f"home{attempt}"
        with Archive.init(home) as arch:
            list(arch.ingest(expand(files)))
            arch.inspect_pending()
            live = arch.index.dump()
            arch.reindex()
            assert arch.index.dump() == live, f"attempt {attempt}"


def test_reindex_says_nothing_is_wrong_while_it_rebuilds(tmp_path):
    """The full-text feed woke during a rebuild and looked for leaf 0 in the log's catalog being
    rebuilt: every `earsiv reindex` warned "the index's log catalog is behind; run `earsiv reindex`"."""
    import sys

    home = tmp_path / "home"
    cli = [sys.executable, "-m", "earsiv.api.cli", "--home", str(home)]
    subprocess.run([*cli, "init"], check=True, capture_output=True)
    subprocess.run([*cli, "ingest", str(CORPUS / "efatura/gib121_TicariFaturaOrnegi.xml")], check=True, capture_output=True)
    done = subprocess.run([*cli, "reindex"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr.lower(), done.stderr
    status = subprocess.run([*cli, "status", "--json"], capture_output=True, text=True, check=True)
    assert '"documents": 1' in status.stdout
