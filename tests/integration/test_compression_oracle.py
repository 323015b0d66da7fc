"""A tenant cannot read another tenant's documents through compressed sizes or dictionary digests.

The attack (from the issue "Hostile tenants and hostile documents"): tenant B archives invoices
of its supplier S.  Tenant A, which also knows S's invoices (it is one of S's customers), archives
probes that claim S as their supplier: copies of an invoice of S it has, each with another guess
of B's customer VKN.  When dictionaries are per claimed issuer and shared by every tenant, each
probe is compressed with a dictionary made of B's invoice, and the right guess compresses best:
the ingest answer's ``stored_size`` tells A which customer B's invoice names, and the probe's
``dict_digest`` is the digest of B's invoice.

The oracle here needs no model of zstd: the probes are archived twice, in an archive where B
archived its invoices first and in one where B archived nothing, and every size and every
digest A is shown must be the same in both.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from earsiv.archive.access import Principal
from earsiv.archive.archive import Archive
from earsiv.archive.ingest import Source
from earsiv.archive.service import ArchiveService
from earsiv.documents.parse import parse_document
from tests.helpers.streams import bench_synth

A, B = "1000000009", "2000000007"  # synthetic tenants
PROBES = 8


def _stream_docs(count: int) -> list[bytes]:
    """The first *count* invoices of one issuer's stream, with their customers told apart."""
    return [d.data for d in bench_synth().Stream(issuers=1, seed=11).docs(0, count)]


@pytest.fixture(scope="module")
def invoices() -> tuple[list[bytes], list[bytes]]:
    """(B's invoices of S, A's probes claiming S): probe *i* is an invoice of S with guess *i* as customer."""
    docs = _stream_docs(12)
    metas = [parse_document(d) for d in docs]
    secret = docs[0]  # B's invoice; its customer is what A wants to learn
    target = metas[0].customer.id
    # An invoice of S that A has, to a customer other than B's.
    mine_i = next(i for i, m in enumerate(metas) if m.customer.id != target)
    mine, mine_customer = docs[mine_i], metas[mine_i].customer.id.encode()
    guesses = [m.customer.id for m in metas if m.customer.id not in (target, metas[mine_i].customer.id)]
    guesses = list(dict.fromkeys(guesses))[: PROBES - 1]
    guesses.insert(len(guesses) // 2, target)
    assert len(set(guesses)) == len(guesses) >= 4
    probes = [mine.replace(mine_customer, g.encode()) for g in guesses]
    return [secret, *(d for i, d in enumerate(docs[1:], 1) if i != mine_i)][:4], probes


def _probe(home: Path, b_docs: list[bytes], probes: list[bytes]) -> tuple[list[int], list[dict], set[str]]:
    """Archive B's invoices (if any), then A's probes; what A is told and shown, and B's digests."""
    with Archive.init(home) as arch:
        if b_docs:
            done = list(arch.ingest([Source(f"b{i}.xml", d) for i, d in enumerate(b_docs)], tenant=B))
            assert {r.status for r in done} <= {"stored", "conflict"}, done
    a_int = Principal("a-int", "integrator", frozenset({A}))
    with ArchiveService.open(home) as service:
        answers = []
        for i, p in enumerate(probes):  # one request each, as an attacker would send them
            (res,) = list(service.ingest(a_int, [Source(f"probe{i}.xml", p)], A))
            assert res.status in ("stored", "conflict"), res
            answers.append(res)
        shown = [service.show(a_int, r.digest).row for r in answers]
    views = [{"stored_size": r.stored_size, "dict_digest": r.dict_digest} for r in shown]
    return [r.stored_size for r in answers], views, {hashlib.sha256(d).hexdigest() for d in b_docs}


def test_probes_claiming_another_tenants_supplier_learn_nothing_from_sizes(tmp_path, invoices):
    b_docs, probes = invoices
    with_b = _probe(tmp_path / "with-b", b_docs, probes)
    without_b = _probe(tmp_path / "without-b", [], probes)
    sizes, views, b_digests = with_b
    # What A is told about its probes does not depend on what B archived.
    assert sizes == without_b[0]
    assert views == without_b[1]
    # And it never names one of B's documents.
    assert not {v["dict_digest"] for v in views} & b_digests


def test_a_shared_holding_shows_no_size_or_dictionary_of_the_first_holders_stream(tmp_path):
    """B archives bytes A already keeps: the blob is A's, compressed with A's dictionary (made of another
    invoice only A holds); B may see the document, not the size or the name of A's dictionary."""
    docs = _stream_docs(3)
    home = tmp_path / "home"
    with Archive.init(home) as arch:
        list(arch.ingest([Source(f"a{i}.xml", d) for i, d in enumerate(docs)], tenant=A))
        shared = hashlib.sha256(docs[2]).hexdigest()
        row = arch.index.get(shared)
        assert row.dict_digest is not None  # compressed with a dictionary of A's stream
    a_acct = Principal("a-acct", "accountant", frozenset({A}))
    b_int = Principal("b-int", "integrator", frozenset({B}))
    with ArchiveService.open(home) as service:
        (res,) = list(service.ingest(b_int, [Source("mine.xml", docs[2])], B))
        assert res.status == "stored" and res.shared and res.stored_size == 0
        b_view = service.show(b_int, shared).row
        assert (b_view.stored_size, b_view.dict_digest) == (None, None)
        (b_row,) = service.search(b_int, service_query(shared)).rows
        assert (b_row.stored_size, b_row.dict_digest) == (None, None)
        a_view = service.show(a_acct, shared).row
        assert (a_view.stored_size, a_view.dict_digest) == (row.stored_size, row.dict_digest)
        admin = service.show(Principal.operator("test"), shared).row
        assert (admin.stored_size, admin.dict_digest) == (row.stored_size, row.dict_digest)


def service_query(digest: str):
    from earsiv.archive.service_types import search_query

    return search_query(digests=(digest,))
