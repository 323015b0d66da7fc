"""Hostile tenants: what one tenant could learn of another's documents, or do in its name, and cannot.

Each test performs the attack through the use cases the CLI and HTTP API share
(``ArchiveService``), as a tenant's principal would, and checks what it is shown against what it
may see.  (The compression oracle has its own file, ``test_compression_oracle.py``; the matrix of
every endpoint and caller is ``test_authorization_matrix.py``.)
"""

from __future__ import annotations

import hashlib
import json

import pytest

from earsiv.archive.access import Principal
from earsiv.archive.archive import Archive
from earsiv.archive.ingest import Source
from earsiv.archive.service import ArchiveService
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
