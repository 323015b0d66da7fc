"""The use cases' own rules, called as the CLI and the HTTP routes call them.

The routes and commands are tested end to end elsewhere (tests/integration/test_authorization_matrix.py,
tests/e2e/); here are the rules that used to live in them: the operator, the file name a
caller gets, which fields of a row a caller sees, when a cached copy is current, what a
listing logs for an inspector, and user input as InvalidInput.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json

import pytest

from earsiv.archive.access import Principal
from earsiv.archive.archive import Archive
from earsiv.archive.errors import DocumentNotFound, Forbidden
from earsiv.archive.ingest import Source
from earsiv.archive.service import ArchiveService, search_query
from earsiv.errors import InvalidInput
from tests.conftest import CORPUS

DOC = "efatura/gib121_TicariFaturaOrnegi.xml"
A, B = "1111111111", "2222222222"
OPERATOR = Principal.operator("ops")


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    home = tmp_path_factory.mktemp("service") / "home"
    Archive.init(home).close()
    with ArchiveService.open(home) as svc:
        data = (CORPUS / DOC).read_bytes()
        list(svc.ingest(OPERATOR, [Source("a-copy.xml", data)], A))
        list(svc.ingest(OPERATOR, [Source("b-copy.xml", data)], B))
        svc.add_principal(OPERATOR, "int-b", "integrator", [B])
        svc.add_principal(OPERATOR, "insp", "inspector")
        yield svc


@pytest.fixture(scope="module")
def digest() -> str:
    return hashlib.sha256((CORPUS / DOC).read_bytes()).hexdigest()


def test_the_operator_is_an_admin_no_token_can_be():
    assert (OPERATOR.name, OPERATOR.role, OPERATOR.is_admin, OPERATOR.is_operator) == ("cli:ops", "admin", True, True)
    assert Principal.operator("").name == "cli"
    with pytest.raises(InvalidInput, match="not a principal name"):
        Principal("cli:ops", "admin")  # the operator's name is no principal's
    assert not Principal("ops", "admin").is_operator


def test_work_on_the_home_s_files_is_the_operator_s(service):
    with pytest.raises(Forbidden, match="operator"):
        service.reindex(Principal("root", "admin"))
    with pytest.raises(Forbidden, match="operator"):
        service.migrate_store(Principal("root", "admin"), "file:///nowhere")


def test_changes_name_who_made_them(service):
    row = service.add_principal(OPERATOR, "new-one", "accountant", [A])
    leaf = json.loads(service.archive.log.read_leaf(service.archive.log.size - 1))
    assert (row.name, leaf["type"], leaf["by"]) == ("new-one", "principal", "cli:ops")


def test_a_legal_hold_names_who_set_and_lifted_it_and_lifting_needs_a_reason(service, digest):
    admin = Principal("boss", "admin")
    service.legal_hold(admin, digest, True, "dava 2026/12", tenant=A)
    leaf = json.loads(service.archive.log.read_leaf(service.archive.log.size - 1))
    assert (leaf["type"], leaf["on"], leaf["by"], leaf["reason"]) == ("legal-hold", True, "boss", "dava 2026/12")
    size = service.archive.log.size
    for reason in ("", "   "):
        with pytest.raises(InvalidInput, match="needs a reason"):
            service.legal_hold(admin, digest, False, reason, tenant=A)
    assert service.archive.log.size == size  # nothing written, still held
    held = {h.tenant: h.legal_hold for h in service.archive.index.access.holdings_of([digest])[digest]}
    assert held == {A: True, B: False}
    change = service.legal_hold(OPERATOR, digest, False, " dava bitti ", tenant=A)
    leaf = json.loads(service.archive.log.read_leaf(change.log_index))
    assert (leaf["on"], leaf["by"], leaf["reason"]) == (False, "cli:ops", "dava bitti")


def test_the_file_name_is_the_caller_s_own_holding_s(service, digest):
    assert service.original(Principal("int-b", "integrator", frozenset({B})), digest).filename == "b-copy.xml"
    assert service.original(OPERATOR, digest).filename == "a-copy.xml"  # an admin: the first holding's
    assert service.print_copy(OPERATOR, digest, "xml").filename.endswith(".xml")


def test_only_an_admin_sees_the_summary_of_every_holding(service, digest):
    admin = service.show(OPERATOR, digest)
    assert admin.hidden_fields == ("tenant", "source_name") and {h.tenant for h in admin.holdings} == {A, B}
    tenant = service.show(Principal("int-b", "integrator", frozenset({B})), digest)
    assert "legal_hold" in tenant.hidden_fields and [h.tenant for h in tenant.holdings] == [B]


def test_a_cached_copy_is_current_only_for_who_may_see_it_and_never_for_an_inspector(service, digest):
    assert service.copy_is_current(OPERATOR, digest)
    assert not service.copy_is_current(Principal("insp", "inspector"), digest)
    with pytest.raises(DocumentNotFound):
        service.copy_is_current(Principal("int-a", "integrator", frozenset({"3333333333"})), digest)


def test_an_inspector_s_listing_is_one_access_event_even_when_empty(service):
    insp = Principal("insp", "inspector")
    listing = service.listing(insp, search_query(limit=5), max_rows=10)
    assert listing.rows == [] and listing.event is not None
    (index,) = listing.event  # grants of one taxpayer: one leaf
    leaf = json.loads(service.archive.log.read_leaf(index))
    assert (leaf["action"], leaf["documents"], leaf["params"]["max"]) == ("export", [], 10)
    assert service.listing(OPERATOR, search_query(), max_rows=10).event is None


def test_what_a_user_typed_is_invalid_input(service):
    with pytest.raises(InvalidInput, match="after"):
        search_query(date_from=dt.date(2024, 2, 1), date_to=dt.date(2024, 1, 1))
    with pytest.raises(InvalidInput, match="cursor"):
        search_query(cursor="not-a-cursor")
    with pytest.raises(InvalidInput, match="expire in the past"):
        service.create_token(OPERATOR, "insp", dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(InvalidInput, match="period"):
        service.add_grant(OPERATOR, "insp", A, dt.date(2024, 2, 1), dt.date(2024, 1, 1),
                          dt.datetime.now(dt.UTC) + dt.timedelta(days=1), "order")


def test_the_proof_status_reads_the_log_catalog_not_the_status(service, digest, monkeypatch):
    """A document page's proof section: which checkpoint covers the leaf and whether it is stamped, from two
    lookups in the index; `status()` (which reads every hash-tree run and TSA anchor) is never asked."""
    monkeypatch.setattr(service.archive, "status", lambda: pytest.fail("a document page must not compute the status"))
    row = service.archive.index.get(digest)
    proof = service.proof_status(row)
    first = service.archive.index.log.first_stamped_after(row.log_index)
    assert proof["covered"] and proof["stamped"] and proof["checkpoint"]["size"] == first.size > row.log_index
    later = dataclasses.replace(row, log_index=service.archive.log.size + 5)  # a leaf no checkpoint covers yet
    assert service.proof_status(later) == {"log_index": later.log_index, "covered": False, "stamped": False,
                                           "checkpoint": None}
