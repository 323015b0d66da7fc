"""Lawful disposal (L1, L2): what passed its retention goes, provably; the rest cannot, by any path.

The archive holds real corpus documents of several ages for two taxpayers: a 2009 invoice
whose TTK retention ended in 2019, older ones under a legal hold, under a retention extended,
shared with another taxpayer, and a 2025 invoice kept until 2035.  Each test tries one way to
get rid of something it must not, and one way that must work.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import subprocess

import pytest

from earsiv.archive import blobs
from earsiv.archive.access import Principal
from earsiv.archive.archive import Archive
from earsiv.archive.disposal import _dispose_batch, make_plan
from earsiv.archive.errors import Conflict, DocumentNotFound, Forbidden, RetentionError, WriteOnceViolation
from earsiv.archive.ingest import Source
from earsiv.archive.keys import PublicKey
from earsiv.archive.log.entries import DisposalEntry, decode
from earsiv.archive.service import ArchiveService
from earsiv.errors import InvalidInput
from tests.conftest import CORPUS

OPERATOR = Principal.operator("ops")
A, B = "1234567803", "3333333331"
TODAY = dt.date.today()
FILES = {
    "old": "efatura/gib121_TicariFaturaOrnegi.xml",         # 2009: kept until 2019-12-31
    "held": "efatura/gibpkt_2_TICARI_FATURA.xml",           # 2013: until 2023, but under a legal hold
    "tenant-held": "efatura/gibpkt_3_TICARI_FATURA.xml",    # 2013: A's and B's, B's holding held
    "extended": "efatura/gibpkt_7_TICARI_FATURA.xml",       # 2013: retention extended to 2040
    "shared": "efatura/gib121_OTV.xml",                     # 2012: A's and B's, both past retention
    "new": "efatura/sk-akgips_20251120150604701835.xml",    # 2025: until 2035
}


@pytest.fixture
def world(tmp_path):
    home = tmp_path / "home"
    Archive.init(home).close()
    with ArchiveService.open(home) as svc:
        dig = {}
        for key, rel in FILES.items():
            (r,) = svc.ingest(OPERATOR, [Source(f"{key}.xml", (CORPUS / rel).read_bytes())], A)
            dig[key] = r.digest
        for key in ("tenant-held", "shared"):
            list(svc.ingest(OPERATOR, [Source(f"{key}-b.xml", (CORPUS / FILES[key]).read_bytes())], B))
        svc.legal_hold(OPERATOR, dig["held"], True, "tax inspection 2024/17")
        svc.legal_hold(OPERATOR, dig["tenant-held"], True, "B's dispute", tenant=B)
        svc.archive.extend_retention(dig["extended"], dt.datetime(2040, 12, 31, tzinfo=dt.UTC))
        yield svc, dig, tmp_path


def _exists(svc, digest: str) -> bool:
    row = svc.archive.index.get(digest)
    return svc.archive.store.exists(blobs.blob_key(digest, row.blob_alt))


def test_only_what_passed_every_retention_with_no_hold_is_planned(world):
    svc, dig, _ = world
    assert {x.digest for x in svc.disposal_candidates(OPERATOR, A, TODAY)} == {dig["old"]}
    # Without a taxpayer, the blob A and B both hold past retention goes too; the held ones never.
    assert {x.digest for x in svc.disposal_candidates(OPERATOR, None, TODAY)} == {dig["old"], dig["shared"]}
    assert svc.disposal_plan(OPERATOR, A, TODAY, "TTK 82 ended").documents == 1
    # A day before the 2009 invoice's retention ended: nothing.
    assert svc.disposal_plan(OPERATOR, A, dt.date(2019, 12, 31), "too early").documents == 0


def test_dispose_two_steps_leaf_first_certificate_signed_evidence_stays(world):
    svc, dig, tmp = world
    plan = svc.disposal_plan(OPERATOR, None, TODAY, "TTK 82: ten years ended")
    cert = svc.dispose(OPERATOR, None, TODAY, "TTK 82: ten years ended", plan.digest, tmp / "cert")
    assert (cert.disposed, cert.kept) == (2, 0)
    for key in ("old", "shared"):
        assert not _exists(svc, dig[key])
        with pytest.raises(DocumentNotFound, match="disposed of"):
            svc.archive.original(dig[key])
    for key in ("held", "tenant-held", "extended", "new"):
        assert _exists(svc, dig[key]) and svc.archive.original(dig[key])
    # The tombstone: a leaf of the log, proving when, why, by whom, under which plan.
    gone = svc.archive.index.disposal.disposed([dig["old"]])[dig["old"]]
    entry = decode(svc.archive.log.read_leaf(gone[1]))
    assert isinstance(entry, DisposalEntry)
    assert (entry.digest, entry.reason, entry.plan, entry.by) == (dig["old"], "TTK 82: ten years ended", plan.digest,
                                                                  "cli:ops")
    # The certificate: JSON Lines signed by the archive's key, naming each document and its leaf.
    jsonl, sums, sig, key, pdf = cert.files
    PublicKey(key.read_bytes()).verify(base64.b64decode(sig.read_text()), sums.read_bytes(), what="certificate")
    assert sums.read_text() == f"{hashlib.sha256(jsonl.read_bytes()).hexdigest()}  {jsonl.name}\n"
    # And with standard tools only, as FORMAT.md §8b says.
    (tmp / "sig.bin").write_bytes(base64.b64decode(sig.read_text()))
    run = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(key), "-rawin", "-in", str(sums),
                          "-sigfile", str(tmp / "sig.bin")], capture_output=True, text=True)
    assert "Signature Verified Successfully" in run.stdout, run.stdout + run.stderr
    assert subprocess.run(["sha256sum", "-c", sums.name], cwd=sums.parent, capture_output=True).returncode == 0
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert lines[0]["plan"] == plan.digest and lines[-1]["summary"] == {"disposed": 2, "kept": 0}
    assert {(x["digest"], x["state"]) for x in lines[1:-1]} == {(dig["old"], "disposed"), (dig["shared"], "disposed")}
    assert pdf.read_bytes().startswith(b"%PDF-")
    # Evidence still proves the document existed (its own leaf) and when it went (the disposal leaf).
    info, _ = svc.write_evidence(OPERATOR, dig["old"], tmp / "ev")
    assert "original.xml" not in info["files"] and "disposal.json" in info["files"]
    disposal = json.loads((tmp / "ev" / "disposal.json").read_text())
    assert json.loads(disposal["leaf"])["type"] == "disposal"
    leaf = json.loads((tmp / "ev" / "leaf.json").read_bytes())
    assert (leaf["type"], leaf["digest"]) == ("document", dig["old"])
    # A verification says the blob is gone on purpose, and the audit finds no damage in it.
    (finding,) = svc.verify(OPERATOR, [dig["old"]]).findings
    assert "disposed of" in finding.problem
    assert not [f for f in svc.verify(OPERATOR, None).findings if dig["old"] in f.subject]
    # Nothing to hold or keep any more; and a second run finds nothing to dispose of.
    with pytest.raises(RetentionError, match="disposed of"):
        svc.legal_hold(OPERATOR, dig["old"], True, "too late")
    assert svc.disposal_plan(OPERATOR, None, TODAY, "again").documents == 0
    # The index is derived: a rebuild from the store alone knows what was disposed of.
    svc.reindex(OPERATOR)
    assert set(svc.archive.index.disposal.disposed(list(dig.values()))) == {dig["old"], dig["shared"]}


def test_a_plan_that_changed_is_refused_whole(world):
    svc, dig, tmp = world
    plan = svc.disposal_plan(OPERATOR, A, TODAY, "r")
    with pytest.raises(Conflict):
        svc.dispose(OPERATOR, A, TODAY, "r", "0" * 64, tmp / "c1")
    with pytest.raises(Conflict):  # same plan, another reason: another plan
        svc.dispose(OPERATOR, A, TODAY, "another reason", plan.digest, tmp / "c2")
    svc.legal_hold(OPERATOR, dig["old"], True, "a dispute came up")
    with pytest.raises(Conflict):
        svc.dispose(OPERATOR, A, TODAY, "r", plan.digest, tmp / "c3")
    assert _exists(svc, dig["old"])


def test_a_hold_set_after_the_plan_check_keeps_the_document(world):
    svc, dig, tmp = world
    arch = svc.archive
    now = dt.datetime.now(dt.UTC)
    (batch,) = arch.index.disposal.candidates(now, A)
    svc.legal_hold(OPERATOR, dig["old"], True, "just now")  # between listing and the locked check
    with (tmp / "cert.jsonl").open("w") as fh:
        assert _dispose_batch(arch, batch, "a" * 64, "r", "t", now, now, A, fh) == (0, 1)
    assert "no longer disposable" in (tmp / "cert.jsonl").read_text()
    assert _exists(svc, dig["old"]) and not arch.index.disposal.disposed([dig["old"]])


def test_the_store_has_the_last_word(world, monkeypatch):
    """Even if the index were wrong (or lied), the store's own retention keeps the bytes and no leaf is written."""
    svc, dig, tmp = world
    arch = svc.archive
    now = dt.datetime.now(dt.UTC)
    rows = {k: arch.index.get(dig[k]) for k in ("new", "held")}
    from earsiv.indexer.disposaldb import Disposable

    forged = [Disposable(r.digest, r.kind, r.doc_id, r.ettn, r.issue_date, r.size,
                         dt.datetime(2001, 1, 1, tzinfo=dt.UTC), r.blob_alt, r.log_index) for r in rows.values()]
    monkeypatch.setattr(arch.index.disposal, "still_disposable", lambda digests, cutoff, tenant: set(digests))
    size = arch.log.size
    with (tmp / "cert.jsonl").open("w") as fh:
        assert _dispose_batch(arch, forged, "a" * 64, "r", "t", now, now, None, fh) == (0, 2)
    assert arch.log.size == size  # no tombstone for what stays
    assert all(_exists(svc, r.digest) for r in rows.values())
    for r in rows.values():  # and the store refuses a direct delete
        with pytest.raises(WriteOnceViolation):
            arch.store.delete(blobs.blob_key(r.digest, r.blob_alt))


def test_a_tombstone_for_a_retained_document_cannot_even_be_made(world):
    svc, dig, _ = world
    row = svc.archive.index.get(dig["new"])
    with pytest.raises(ValueError, match="not disposable"):
        DisposalEntry(row.digest, row.size, row.retain_until, "r", "a" * 64, dt.datetime.now(dt.UTC), "x")


def test_only_admins_dispose_and_never_ahead_of_time(world):
    svc, _dig, tmp = world
    for who in (Principal("int", "integrator", frozenset({A})), Principal("acc", "accountant", frozenset({A})),
                Principal("insp", "inspector")):
        with pytest.raises(Forbidden):
            svc.disposal_plan(who, A, TODAY, "r")
        with pytest.raises(Forbidden):
            svc.dispose(who, A, TODAY, "r", "0" * 64, tmp / "c")
        with pytest.raises(Forbidden):
            list(svc.disposal_candidates(who, A, TODAY))
    with pytest.raises(InvalidInput, match="future"):
        make_plan(svc.archive, A, TODAY + dt.timedelta(days=2), "r")
    with pytest.raises(InvalidInput, match="reason"):
        make_plan(svc.archive, A, TODAY, " ")


def test_no_http_route_deletes_or_disposes_of_anything(world):
    from fastapi.testclient import TestClient

    from earsiv.api.http.app import create_app

    svc, dig, _ = world
    spec = create_app(svc.home).openapi()
    for path, ops in spec["paths"].items():
        assert "dispos" not in path
        if "delete" in ops:
            # Revoking a token or a grant writes a leaf; deleting a take-away job removes a copy made
            # for its owner under HOME/jobs (never in the store), nothing archived.
            assert path in ("/v1/tokens/{token_id}", "/v1/grants/{grant_id}", "/v1/jobs/{job_id}"), path
    with TestClient(create_app(svc.home)) as client:
        r = client.delete(f"/v1/documents/{dig['old']}")
        assert r.status_code in (401, 404, 405)
    assert _exists(svc, dig["old"])


def test_the_plan_digest_is_reproducible_from_its_parameters_and_digests(world):
    svc, dig, _ = world
    plan = svc.disposal_plan(OPERATOR, A, TODAY, "r")
    h = hashlib.sha256(f"earsiv-disposal-plan/1\n{A}\n{TODAY}\nr\n{dig['old']}\n".encode())
    assert plan.digest == h.hexdigest()
