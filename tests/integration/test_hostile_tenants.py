"""Hostile tenants: what one tenant could learn of another's documents, or do in its name, and cannot.

Each test performs the attack through the use cases the CLI and HTTP API share
(``ArchiveService``), as a tenant's principal would, and checks what it is shown against what it
may see.  (The compression oracle has its own file, ``test_compression_oracle.py``; the matrix of
every endpoint and caller is ``test_authorization_matrix.py``.)
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import zipfile

import pytest

from earsiv.archive.access import Principal
from earsiv.archive.archive import Archive
from earsiv.archive.errors import Forbidden
from earsiv.archive.ingest import Source
from earsiv.archive.log.entries import AccessEntry
from earsiv.archive.service import ArchiveService
from earsiv.archive.service_types import search_query
from tests.helpers.rfc9162 import root_from_inclusion
from tests.helpers.synthetic import invoice

A, B = "1000000009", "2000000007"  # synthetic tenants
OPERATOR = Principal.operator("test")


def _twin(data: bytes, n: int) -> bytes:
    """Other bytes, the same ETTN (and ID): what a conflict is."""
    return data.replace(b"</Invoice>", f"<!-- twin {n} --></Invoice>".encode())


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home"
    Archive.init(h).close()
    return h


def _ingest(service: ArchiveService, who: Principal, name: str, data: bytes, tenant: str | None):
    (res,) = list(service.ingest(who, [Source(name, data)], tenant))
    return res


# -- 3: conflicts_with names only what the caller may see ------------------------------------------
def test_an_ingest_answer_names_no_conflicting_document_of_another_tenant(home):
    a_int = Principal("a-int", "integrator", frozenset({A}))
    b_int = Principal("b-int", "integrator", frozenset({B}))
    original = invoice(1, supplier="1234567803", customer="3333333331")
    a_digest = hashlib.sha256(original).hexdigest()
    with ArchiveService.open(home) as service:
        assert _ingest(service, a_int, "a.xml", original, A).status == "stored"
        # B knows (or guesses) the ETTN of an invoice A archived, and archives other bytes with it.
        probe = _ingest(service, b_int, "b.xml", _twin(original, 1), B)
        assert probe.status == "stored" and probe.conflicts_with == [], probe  # not even that one exists
        # A, who holds the first, is told of the conflict with its own document...
        again = _ingest(service, a_int, "a2.xml", _twin(original, 2), A)
        assert again.status == "conflict" and again.conflicts_with == [a_digest]
        # ...and the admin of every one.
        admin = _ingest(service, OPERATOR, "x.xml", _twin(original, 3), None)
        assert admin.status == "conflict"
        assert sorted(admin.conflicts_with) == sorted([a_digest, probe.digest, again.digest])
        # The log keeps the whole truth: B's document's own leaf names A's.
        leaf = json.loads(service.archive.log.read_leaf(service.archive.index.get(probe.digest).log_index))
        assert leaf["conflicts_with"] == [a_digest]


# -- 2: a tenant reads its own part of an inspector's request, with a proof ----------------------------
def _inspection(home, *, day=dt.date(2025, 3, 1)):
    """A's and B's invoices (each its own supplier), an inspector granted both VKNs; the digests."""
    docs = {A: invoice(11, supplier=A, customer="3333333331", day=day),
            B: invoice(12, supplier=B, customer="3333333331", day=day)}
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    with Archive.open(home) as arch:
        for tenant, data in docs.items():
            list(arch.ingest([Source(f"{tenant}.xml", data)], tenant=tenant))
        arch.access.add_principal("insp", "inspector", by="test")
        for vkn in (A, B):
            arch.access.add_grant("insp", vkn, dt.date(2025, 1, 1), dt.date(2025, 12, 31), later,
                                  f"VDK order for {vkn}", by="test")
    return {t: hashlib.sha256(d).hexdigest() for t, d in docs.items()}


def _proves(event) -> bool:
    p = event.proof
    leaf = p["leaf"].encode()
    root = root_from_inclusion(p["proof"]["log_index"], p["proof"]["tree_size"], leaf,
                               [bytes.fromhex(h) for h in p["proof"]["hashes"]])
    return root.hex() == p["proof"]["root"] and json.loads(leaf) == event.event


def test_a_tenant_sees_only_its_own_part_of_an_inspectors_request_and_it_proves_itself(home):
    digests = _inspection(home)
    insp = Principal("insp", "inspector")
    with ArchiveService.open(home) as service:
        page = service.search(insp, search_query())  # both taxpayers' grants at once
        assert {r.digest for r in page.rows} == set(digests.values())
        assert page.event is not None and len(page.event) == 2  # one leaf per taxpayer
        for tenant, other in ((A, B), (B, A)):
            who = Principal(f"int-{tenant}", "integrator", frozenset({tenant}))
            events = [e for e in service.access_log(who).events if e.log_index in page.event]
            assert len(events) == 1, events
            (e,) = events
            text = json.dumps(e.event)
            assert e.vkns == [tenant] and [g["vkn"] for g in e.event["grants"]] == [tenant]
            assert e.event["documents"] == [digests[tenant]]
            assert digests[other] not in text and f"order for {other}" not in text and other not in text
            assert _proves(e) and not e.redacted
        # The inspector and the admin read both parts; together they name everything shown.
        for who in (insp, OPERATOR):
            parts = [e for e in service.access_log(who).events if e.log_index in page.event]
            assert sorted(d for e in parts for d in e.event["documents"]) == sorted(digests.values())
            assert all(_proves(e) for e in parts)


def test_an_older_event_naming_several_taxpayers_is_shown_to_each_redacted_without_its_proof(home):
    """Leaves written before events were per taxpayer name every grant of the request: a tenant gets its
    part, and no proof (the proof would be the whole leaf)."""
    digests = _inspection(home)
    with Archive.open(home) as arch:
        grants = arch.access.grants(OPERATOR, inspector="insp")
        index = arch.ledger.append_entry(AccessEntry(
            "insp", "inspector", "search", tuple({"id": g.id, "vkn": g.vkn, "reference": g.reference} for g in grants),
            {}, tuple(sorted(digests.values())), dt.datetime.now(dt.UTC)))
    with ArchiveService.open(home) as service:
        who = Principal("int-a", "integrator", frozenset({A}))
        (e,) = [e for e in service.access_log(who).events if e.log_index == index]
        assert e.redacted and e.proof is None
        assert e.event["documents"] == [digests[A]] and [g["vkn"] for g in e.event["grants"]] == [A]
        assert digests[B] not in json.dumps(e.event) and B not in json.dumps(e.event)
        (whole,) = [e for e in service.access_log(OPERATOR).events if e.log_index == index]
        assert not whole.redacted and _proves(whole) and len(whole.event["grants"]) == 2


# -- 4: a document planted in another taxpayer's name ---------------------------------------------------
PLANTER, VICTIM, SUPPLIER = A, B, "3333333331"


def _planted(home):
    """B archives its own invoice; A archives one naming B as customer, which B never had.  An inspector
    is granted B.  Returns (B's own digest, the planted digest)."""
    own = invoice(21, supplier=SUPPLIER, customer=VICTIM)
    planted = invoice(22, supplier=SUPPLIER, customer=VICTIM)
    with Archive.open(home) as arch:
        list(arch.ingest([Source("own.xml", own)], tenant=VICTIM))
        list(arch.ingest([Source("planted.xml", planted)], tenant=PLANTER))
        arch.access.add_principal("insp-b", "inspector", by="test")
        arch.access.add_grant("insp-b", VICTIM, dt.date(2025, 1, 1), dt.date(2025, 12, 31),
                              dt.datetime.now(dt.UTC) + dt.timedelta(days=1), "VDK order for B", by="test")
    return hashlib.sha256(own).hexdigest(), hashlib.sha256(planted).hexdigest()


def _flagged(rows) -> dict[str, bool]:
    return {r.digest: "not-held-by-taxpayer" in r.flags for r in rows}


def _pdf_evidence(pdf: bytes) -> dict:
    from pypdf import PdfReader

    (data,) = PdfReader(io.BytesIO(pdf)).attachments["evidence.json"]
    return json.loads(data)


def test_a_document_planted_in_a_taxpayers_name_is_flagged_and_the_taxpayer_sees_it(home, tmp_path):
    own, planted = _planted(home)
    insp = Principal("insp-b", "inspector")
    b_acct = Principal("b-acct", "accountant", frozenset({VICTIM}))
    with ArchiveService.open(home) as service:
        # The inspector sees both in B's name: the planted one flagged, B's own not.
        page = service.search(insp, search_query(vkn=VICTIM))
        assert _flagged(page.rows) == {own: False, planted: True}
        assert "not-held-by-taxpayer" in service.show(insp, planted).row.flags
        assert _pdf_evidence(service.print_copy(insp, planted, "pdf").data)["flags"] == ["not-held-by-taxpayer"]
        assert "flags" not in _pdf_evidence(service.print_copy(insp, own, "pdf").data)
        # B's package says which documents B does not hold itself.
        out = tmp_path / "b.zip"
        service.package(insp, VICTIM, dt.date(2025, 1, 1), dt.date(2025, 12, 31), None, out)
        with zipfile.ZipFile(out) as zf:
            (name,) = [n for n in zf.namelist() if n.endswith("/data/manifest.csv")]
            rows = {r["digest"]: r["held_by_taxpayer"] for r in csv.DictReader(io.StringIO(zf.read(name).decode()))}
            verify = zf.read(next(n for n in zf.namelist() if n.endswith("/VERIFY.txt"))).decode()
        assert rows == {own: "yes", planted: "no"}
        assert f"1 of them are not held by {VICTIM} itself" in verify
        # B sees what is shown in its name: the planted document too (it was "not found"), flagged.
        assert _flagged(service.search(b_acct, search_query()).rows) == {own: False, planted: True}
        view = service.show(b_acct, planted)
        assert "not-held-by-taxpayer" in view.row.flags and view.holdings == []  # not A's holding
        assert service.original(b_acct, planted).data == invoice(22, supplier=SUPPLIER, customer=VICTIM)
        assert service.verify(b_acct, [planted]).ok
        # Its evidence would be the document's own leaf (another tenant's conflicts, its dictionary): refused,
        # and a print of it carries no proof, saying why.
        with pytest.raises(Forbidden, match="no holding of"):
            service.write_evidence(b_acct, planted, tmp_path / "ev")
        ev = _pdf_evidence(service.print_copy(b_acct, planted, "pdf").data)
        assert ev["flags"] == ["not-held-by-taxpayer"] and "leaf" not in ev and "no proof" in ev["error"]
        # The planter sees its own document as any holder does: no flag.
        a_int = Principal("a-int", "integrator", frozenset({PLANTER}))
        assert _flagged(service.search(a_int, search_query()).rows) == {planted: False}


def test_a_tenants_bulk_export_proves_its_own_holdings_and_flags_what_it_does_not_hold(home, tmp_path):
    """Printed in bulk, each PDF's evidence is the caller's own holding's leaf, as for one print (it was the
    document's own leaf, which names other tenants' conflicting documents and the blob's dictionary)."""
    own, planted = _planted(home)
    b_acct = Principal("b-acct", "accountant", frozenset({VICTIM}))
    out = tmp_path / "out.zip"
    with ArchiveService.open(home) as service:
        done = service.export(b_acct, search_query(), "pdf", out, workers=1)
    assert done.summary.written == 2 and not done.summary.failed
    with zipfile.ZipFile(out) as zf:
        evidence = {e["digest"]: e for e in (_pdf_evidence(zf.read(n)) for n in zf.namelist())}
    leaf = json.loads(evidence[own]["leaf"])
    assert (leaf["type"], leaf["tenant"]) == ("holding", VICTIM) and "flags" not in evidence[own]
    assert "leaf" not in evidence[planted] and evidence[planted]["flags"] == ["not-held-by-taxpayer"]
