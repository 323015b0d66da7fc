"""The access model on a real archive: holdings, tokens, grants, scopes, access events, rebuild.

The oracle for what an inspector may see is computed here from the corpus files themselves
(parties with their roles, issue dates), not from the index being tested.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from earsiv.archive import blobs
from earsiv.archive.access import Principal
from earsiv.archive.archive import Archive
from earsiv.archive.errors import DocumentNotFound, Forbidden, NotFound, Unauthenticated
from earsiv.archive.evidence import leaf_evidence
from earsiv.archive.sources import expand
from earsiv.documents.errors import InvalidDocument
from earsiv.documents.parse import parse_document
from earsiv.documents.xmlsafe import parse_xml
from earsiv.errors import InvalidInput
from earsiv.indexer.query import SearchQuery
from tests.conftest import CORPUS, MALFORMED

UTC = dt.UTC
A, B, C = "1111111111", "2222222222", "3333333333"  # synthetic tenant VKNs
INSPECTABLE = {"supplier", "customer", "despatch-supplier", "delivery-customer", "owner"}
FILES = sorted(p for sub in ("efatura", "eirsaliye", "earsiv") for p in (CORPUS / sub).rglob("*.xml")
               if str(p.relative_to(CORPUS)) not in MALFORMED)


def _facts(path: Path) -> dict:
    data = path.read_bytes()
    meta = parse_document(data, name=path.name, tree=parse_xml(data, name=path.name))
    return {"digest": hashlib.sha256(data).hexdigest(), "date": meta.issue_date,
            "parties": {(p.role, p.id.strip()) for p in meta.parties if p.id}}


@pytest.fixture(scope="module")
def arch(tmp_path_factory):
    home = tmp_path_factory.mktemp("access") / "home"
    a = Archive.init(home)
    half = len(FILES) // 2
    list(a.ingest(expand(FILES[:half]), tenant=A))
    list(a.ingest(expand(FILES[half:]), tenant=B))
    yield a
    a.close()


@pytest.fixture(scope="module")
def facts() -> dict[str, dict]:
    out = {}
    for p in FILES:
        try:
            f = _facts(p)
        except InvalidDocument:  # files the archive rejects are not archived either
            pass
        else:
            out[f["digest"]] = f
    return out


def _all(arch: Archive, who: Principal, **filters) -> set[str]:
    q = SearchQuery(limit=1000, **filters)
    out: set[str] = set()
    while True:
        page, _event = arch.access.search(who, q)
        out |= {r.digest for r in page.rows}
        if not page.next_cursor:
            return out
        q = q.after(page.next_cursor)


def _held(arch: Archive, tenant: str) -> set[str]:
    return {d for d, hs in arch.index.access.holdings_of([r["digest"] for r in arch.index.dump()
                                                         if r["table"] == "documents"]).items()
            if any(h.tenant == tenant for h in hs)}


# -- holdings ---------------------------------------------------------------------------------
def test_same_bytes_for_two_tenants_is_one_blob_and_two_holdings(arch):
    path = FILES[0]  # archived for A by the fixture
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    blobs_before = sorted(arch.store.list("blobs/"))
    log_before = arch.log.size
    (again,) = list(arch.ingest(expand([path]), tenant=A))
    assert again.status == "duplicate" and arch.log.size == log_before  # same tenant: nothing new
    (other,) = list(arch.ingest(expand([path]), tenant=C))
    assert other.status == "stored" and other.shared and other.stored_size == 0
    assert sorted(arch.store.list("blobs/")) == blobs_before  # no second copy of the bytes
    leaf = json.loads(arch.log.read_leaf(other.log_index))
    assert leaf["type"] == "holding" and leaf["digest"] == digest and leaf["tenant"] == C
    holdings = arch.index.access.holdings_of([digest])[digest]
    assert sorted(h.tenant for h in holdings) == [A, C]
    # The document's own leaf (what admins, inspectors and packages are shown) names no
    # tenant and no file name: those are each holding's, in its own leaf.
    doc_index = arch.index.get(digest).log_index
    own = json.loads(arch.log.read_leaf(doc_index))
    assert own["type"] == "document" and "tenant" not in own and "name" not in own
    first = json.loads(arch.log.read_leaf(doc_index + 1))
    assert (first["type"], first["digest"], first["tenant"], first["name"]) == ("holding", digest, A, path.name)
    # Each tenant's principal sees the document; a tenant without a holding does not.
    for tenant, sees in ((A, True), (C, True), (B, False)):
        who = Principal(f"acct-{tenant}", "accountant", frozenset({tenant}))
        if sees:
            assert arch.access.document(who, digest)[0].digest == digest
        else:
            with pytest.raises(DocumentNotFound):
                arch.access.document(who, digest)


def _named(facts: dict, tenant: str) -> set[str]:
    """Documents in *tenant*'s name: it is an inspectable party (what an inspector of it could be shown)."""
    return {d for d, f in facts.items() if any(role in INSPECTABLE and pid == tenant for role, pid in f["parties"])}


def test_a_tenant_sees_exactly_its_holdings_and_what_is_in_its_name(arch, facts):
    for tenant in (A, B):
        who = Principal(f"int-{tenant}", "integrator", frozenset({tenant}))
        assert _all(arch, who) == _held(arch, tenant) | _named(facts, tenant)
    both = Principal("acct-ab", "accountant", frozenset({A, B}))
    assert _all(arch, both) == _held(arch, A) | _held(arch, B) | _named(facts, A) | _named(facts, B)
    # A real taxpayer of the corpus, holding nothing here, sees the documents naming it.
    vkn = next(pid for f in facts.values() for role, pid in f["parties"] if role == "supplier")
    assert _all(arch, Principal("acct-v", "accountant", frozenset({vkn}))) == _named(facts, vkn) != set()


def test_legal_hold_on_one_holding_keeps_the_blob_held_until_every_holding_is_released(arch):
    digest = hashlib.sha256(FILES[1].read_bytes()).hexdigest()
    (res,) = list(arch.ingest(expand([FILES[1]]), tenant=C))
    assert res.shared
    key = blobs.blob_key(digest)

    def held() -> tuple[bool, dict[str, bool]]:
        hs = arch.index.access.holdings_of([digest])[digest]
        return arch.store.retention(key).legal_hold, {h.tenant: h.legal_hold for h in hs}

    arch.set_legal_hold(digest, True, "case 1", tenant=A)
    arch.set_legal_hold(digest, True, "case 2", tenant=C)
    assert held() == (True, {A: True, C: True})
    arch.set_legal_hold(digest, False, tenant=A)
    assert held() == (True, {A: False, C: True})  # C's hold still keeps the bytes
    assert arch.index.get(digest).legal_hold is True
    arch.set_legal_hold(digest, False, tenant=C)
    assert held() == (False, {A: False, C: False})
    with pytest.raises(DocumentNotFound):
        arch.set_legal_hold(digest, True, tenant=B)  # B holds no such document


def test_retention_extended_for_one_holding_reaches_the_blob_not_the_other_holding(arch):
    digest = hashlib.sha256(FILES[0].read_bytes()).hexdigest()
    list(arch.ingest(expand([FILES[0]]), tenant=C))  # C's holding (if another test has not made it)
    before = {h.tenant: h.retain_until for h in arch.index.access.holdings_of([digest])[digest]}
    later = max(before.values()) + dt.timedelta(days=400)
    arch.extend_retention(digest, later, tenant=C)
    after = {h.tenant: h.retain_until for h in arch.index.access.holdings_of([digest])[digest]}
    assert after[C] == later and after[A] == before[A]
    assert arch.store.retention(blobs.blob_key(digest)).retain_until >= later


# -- tokens -----------------------------------------------------------------------------------
def test_token_lifecycle(arch):
    now = dt.datetime.now(UTC)
    arch.access.add_principal("tok-user", "accountant", [A], by="test")
    new = arch.access.create_token("tok-user", now + dt.timedelta(hours=1), by="test")
    assert arch.access.authenticate(new.token) == Principal("tok-user", "accountant", frozenset({A}))
    with pytest.raises(Unauthenticated, match="expired"):
        arch.access.authenticate(new.token, now=now + dt.timedelta(hours=2))
    forged = new.token[:-1] + ("A" if new.token[-1] != "A" else "B")
    for bad in (forged, "", "Bearer x", new.token + "x", "earsiv_" + "0" * 16 + "_" + "A" * 43):
        with pytest.raises(Unauthenticated):
            arch.access.authenticate(bad)
    # Only the hash is kept: the token appears nowhere in the store, its sha256 in one leaf.
    digest = hashlib.sha256(new.token.encode()).hexdigest()
    bundles = b"".join(arch.store.get(k) for k in arch.store.list("log/leaves/"))
    assert new.token.encode() not in bundles and bundles.count(digest.encode()) == 1
    other = arch.access.create_token("tok-user", by="test")
    arch.access.revoke_token(new.id, by="test")
    with pytest.raises(Unauthenticated, match="revoked"):
        arch.access.authenticate(new.token)
    assert arch.access.authenticate(other.token).name == "tok-user"  # revoking one leaves the other
    arch.access.set_principal("tok-user", disabled=True, by="test")
    with pytest.raises(Unauthenticated, match="disabled"):
        arch.access.authenticate(other.token)
    arch.access.set_principal("tok-user", disabled=False, by="test")
    with pytest.raises(InvalidInput, match="past"):
        arch.access.create_token("tok-user", now - dt.timedelta(days=1), by="test")
    with pytest.raises(NotFound):
        arch.access.create_token("nobody", by="test")


def test_roles_and_links_are_checked(arch):
    with pytest.raises(InvalidInput, match="not linked to tenants"):
        arch.access.add_principal("insp-x", "inspector", [A], by="test")
    with pytest.raises(InvalidInput, match="unknown role"):
        arch.access.add_principal("who", "root", by="test")
    integ = Principal("i", "integrator", frozenset({A, B}))
    assert arch.access.ingest_tenant(integ, A) == A
    with pytest.raises(Forbidden, match="say which tenant"):
        arch.access.ingest_tenant(integ, None)
    with pytest.raises(Forbidden, match="not linked"):
        arch.access.ingest_tenant(integ, C)
    with pytest.raises(Forbidden):
        arch.access.ingest_tenant(Principal("a", "accountant", frozenset({A})), A)
    assert arch.access.ingest_tenant(Principal("one", "integrator", frozenset({B})), None) == B


# -- inspectors -------------------------------------------------------------------------------
def test_an_inspector_sees_exactly_the_granted_vkn_and_period(arch, facts):
    # The VKN with the most documents as an inspectable party, and a period holding some of them.
    counts: dict[str, list] = {}
    for f in facts.values():
        for role, pid in f["parties"]:
            if role in INSPECTABLE and f["date"]:
                counts.setdefault(pid, []).append(f["date"])
    vkn, dates = max(counts.items(), key=lambda kv: len(set(kv[1])))
    dates = sorted(set(dates))
    start, end = dates[0], dates[len(dates) // 2]
    arch.access.add_principal("insp", "inspector", by="test")
    grant = arch.access.add_grant("insp", vkn, start, end, dt.datetime.now(UTC) + dt.timedelta(days=1), "order 1",
                                  by="test")
    expected = {d for d, f in facts.items() if f["date"] and start <= f["date"] <= end
                and any(role in INSPECTABLE and pid == vkn for role, pid in f["parties"])}
    assert expected
    insp = Principal("insp", "inspector")
    before = arch.log.size
    assert _all(arch, insp) == expected
    # A query for another VKN, or another period, shows nothing.
    assert _all(arch, insp, vkn="9999999999") == set()
    assert _all(arch, insp, date_from=end + dt.timedelta(days=1), date_to=end + dt.timedelta(days=400)) == set()
    # Every one of those requests is an access event, in the log, naming what it showed.
    events = arch.index.access.access_events(principal="insp")
    assert len(events) == 3 and all(e.log_index >= before for e in events)
    # Filed under the granted VKN; the queries no grant could answer used none, so under none.
    assert [e.vkn for e in events] == [vkn, "", ""] and [e.documents for e in events] == [len(expected), 0, 0]
    first = json.loads(arch.log.read_leaf(events[0].log_index))
    assert first["action"] == "search" and set(first["documents"]) <= expected
    assert first["grants"] == [{"id": grant.id, "vkn": vkn, "reference": "order 1"}]
    # Viewing one document is an event too; a document outside the grant is "not found".
    some = min(expected)
    row, (event,) = arch.access.document(insp, some, "original")  # one taxpayer's grant: one leaf
    assert row.digest == some and json.loads(arch.log.read_leaf(event))["documents"] == [some]
    outside = min(set(facts) - expected)
    with pytest.raises(DocumentNotFound):
        arch.access.document(insp, outside)
    # The event's proof: inclusion in a signed, stamped checkpoint.
    proof = leaf_evidence(arch, event)
    assert json.loads(proof["leaf"])["action"] == "original" and proof["proof"]["tree_size"] > event


def test_envelope_senders_expired_and_revoked_grants_show_nothing(arch, facts):
    insp = Principal("insp2", "inspector")
    arch.access.add_principal("insp2", "inspector", by="test")
    far = (dt.date(1990, 1, 1), dt.date(2100, 1, 1))
    # A VKN that appears only as an envelope's sender/receiver is not a party to inspect.
    envelope_only = {pid for f in facts.values() for role, pid in f["parties"] if role in ("sender", "receiver")}
    envelope_only -= {pid for f in facts.values() for role, pid in f["parties"] if role in INSPECTABLE}
    now = dt.datetime.now(UTC)
    for vkn in sorted(v for v in envelope_only if v.isdigit() and len(v) in (10, 11))[:2]:
        arch.access.add_grant("insp2", vkn, *far, now + dt.timedelta(days=1), "envelopes", by="test")
        assert _all(arch, insp, vkn=vkn) == set(), vkn
    vkn = next(pid for f in facts.values() for role, pid in f["parties"] if role == "supplier" and f["date"])
    past = now - dt.timedelta(days=10)
    arch.access.add_grant("insp2", vkn, *far, past + dt.timedelta(days=1), "expired", by="test", now=past)
    assert _all(arch, insp, vkn=vkn) == set()
    live = arch.access.add_grant("insp2", vkn, *far, now + dt.timedelta(days=1), "live", by="test")
    assert _all(arch, insp, vkn=vkn)
    arch.access.revoke_grant(live.id, by="test")
    assert _all(arch, insp, vkn=vkn) == set()


# -- full text within a scope -------------------------------------------------------------------
def test_full_text_search_stays_within_the_scope(arch, facts):
    arch.text.catch_up()
    assert arch.text.lag() == 0
    row = next(r for r in (arch.index.get(d) for d in sorted(facts)) if r and r.supplier_name and len(r.supplier_name) > 5)
    word = max(row.supplier_name.split(), key=len).lower()
    admin = Principal("root", "admin")
    everyone = _all(arch, admin, text=word)
    assert row.digest in everyone
    for tenant in (A, B, row.supplier_id):
        who = Principal(f"t-{tenant}", "accountant", frozenset({tenant}))
        assert _all(arch, who, text=word) == everyone & (_held(arch, tenant) | _named(facts, tenant))
    assert row.digest in _all(arch, Principal("t-s", "accountant", frozenset({row.supplier_id})), text=word)
    nobody = Principal("insp-none", "inspector")
    assert _all(arch, nobody, text=word) == set()


# -- derived: a rebuilt index equals the live one -------------------------------------------------
def test_reindex_rebuilds_holdings_principals_tokens_grants_and_events(arch):
    # Whatever other tests of this module ran in this process, each kind of leaf is in the log:
    arch.access.add_principal("rx-insp", "inspector", by="test")
    arch.access.add_principal("rx-acct", "accountant", [A], by="test")
    arch.access.create_token("rx-insp", by="test")
    some = arch.index.get(hashlib.sha256(FILES[0].read_bytes()).hexdigest())
    arch.access.add_grant("rx-insp", some.supplier_id, dt.date(2000, 1, 1), dt.date(2030, 1, 1),
                          dt.datetime.now(UTC) + dt.timedelta(days=1), "rebuild", by="test")
    _all(arch, Principal("rx-insp", "inspector"))
    list(arch.ingest(expand([FILES[2]]), tenant=C))  # a later holding
    arch.inspect_pending()  # the rebuild inspects every signature; the live index must have too
    live = arch.index.dump()
    tables = {r["table"] for r in live}
    assert {"holdings", "principals", "principal_tenants", "tokens", "grants", "access_events"} <= tables
    arch.text.catch_up()
    word_hits = _all(arch, Principal("root", "admin"), text="fatura")
    assert word_hits
    arch.reindex()
    rebuilt = arch.index.dump()
    for a, b in zip(live, rebuilt, strict=True):
        assert a == b, {k: (a.get(k), b.get(k)) for k in a if a.get(k) != b.get(k)}
    assert _all(arch, Principal("root", "admin"), text="fatura") == word_hits
