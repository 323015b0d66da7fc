"""What each log entry changes in the index: the one place that dispatches on entry types.

The same code mirrors a bundle this process just appended (the ingest hands over the index
records it already made, so nothing is parsed twice), a bundle another writer appended, and
the whole log during ``reindex``.  A leaf that cannot be taken in (its blob is damaged, it
is not an entry this software knows, it holds a document the index lost) is skipped and
reported, never allowed to stop the rest: an archive with one bad object keeps working.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa

from earsiv.archive.blobs import stream_key
from earsiv.archive.keys import record_introduction
from earsiv.archive.log.entries import (
    AccessEntry,
    AuditFindingEntry,
    AuditPassEntry,
    DisposalEntry,
    DocumentEntry,
    Entry,
    GrantEntry,
    GrantRevokeEntry,
    HoldingEntry,
    KeyEntry,
    LegalHoldEntry,
    PrincipalEntry,
    RepairEntry,
    RetentionEntry,
    TokenEntry,
    TokenRevokeEntry,
)
from earsiv.errors import EarsivError
from earsiv.indexer.accessdb import AccessEventRow, GrantRow, HoldingRow, PrincipalRow, TokenRow
from earsiv.indexer.models import documents

if TYPE_CHECKING:
    from earsiv.indexer.records import IndexRecord
    from earsiv.indexer.writer import IndexWriter

__all__ = ["Mirror", "MirrorReport", "dictionary_source_key", "holding_row"]


def dictionary_source_key(dict_digest: str) -> str:
    """The index setting naming the document a dictionary is made of (the one whose leaf ``seeds_dict`` it)."""
    return f"dictsrc/{dict_digest}"


def holding_row(index: int, e: HoldingEntry) -> HoldingRow:
    return HoldingRow(e.digest, e.tenant or "", index, e.received_at, e.retain_until, False, e.name)


@dataclass(slots=True)
class MirrorReport:
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (log index, why)
    max_retain_until: dt.datetime | None = None

    def longest(self, until: dt.datetime) -> None:
        if self.max_retain_until is None or until > self.max_retain_until:
            self.max_retain_until = until


class Mirror:
    """Applies entries, in log order, through one ``IndexWriter`` (one transaction).

    *build_record(index, entry)* makes the index record of a document this process did not
    just ingest (it reads and parses the original); *on_seed(stream, dict_digest)* is told
    which dictionary each dictionary stream's newest seed made.  A stream is the issuer a
    document names *and* the tenant of its first holding (``blobs.stream_key``): the leaf
    after the document's, so a seed is known once that holding is.
    """

    def __init__(self, build_record: Callable[[int, DocumentEntry], IndexRecord],
                 on_seed: Callable[[str, str], None] | None = None) -> None:
        self._build_record = build_record
        self._on_seed = on_seed

    def apply(self, tx: IndexWriter, items: Sequence[tuple[int, Entry]],
              records: Mapping[str, IndexRecord] | None = None) -> MirrorReport:
        run = _Run(self, tx, records or {})
        for index, entry in items:
            handler = _HANDLERS.get(type(entry))
            if handler is None:  # pragma: no cover - decode() refuses unknown types first
                run.report.skipped.append((index, f"entry type {entry.TYPE!r} has no mirror rule"))
                continue
            handler(run, index, entry)
        run.flush()
        for stream, digest in run.seeds.items():
            tx.meta_set(f"dict/{stream}", digest)
            if self._on_seed is not None:
                self._on_seed(stream, digest)
        # Which document each dictionary is made of: whoever may not see that document is
        # not shown sizes or dictionary names that depend on it (archive/disclosure.py).
        for dict_digest, digest in run.sources.items():
            tx.meta_set(dictionary_source_key(dict_digest), digest)
        return run.report


class _Run:
    """One application of a batch: documents and holdings are gathered and written together."""

    def __init__(self, mirror: Mirror, tx: IndexWriter, records: Mapping[str, IndexRecord]) -> None:
        self.mirror = mirror
        self.tx = tx
        self.records = records
        self.docs: list[IndexRecord] = []
        self.held: list[tuple[int, HoldingRow]] = []
        self.seeds: dict[str, str] = {}  # dictionary stream -> its newest dictionary
        self.seeding: dict[str, tuple[str, str]] = {}  # digest -> (issuer, dictionary), until its first holding
        self.sources: dict[str, str] = {}  # dictionary -> the document it is made of
        self.report = MirrorReport()

    def flush(self) -> None:
        if self.docs:
            self.tx.add_documents(self.docs)
            self.docs.clear()
        if self.held:
            wanted = sorted({h.digest for _i, h in self.held})
            present = set(self.tx.conn.scalars(sa.select(documents.c.digest).where(documents.c.digest.in_(wanted))))
            rows = []
            for index, h in self.held:
                if h.digest in present:
                    rows.append(h)
                else:
                    self.report.skipped.append((index, f"holding of {h.digest}, whose document is not indexed"))
            self.tx.add_holdings(rows)
            self.held.clear()


def _document(run: _Run, index: int, e: DocumentEntry) -> None:
    rec = run.records.get(e.digest)
    if rec is None:
        try:
            rec = run.mirror._build_record(index, e)
        except EarsivError as exc:
            run.report.skipped.append((index, f"document {e.digest}: {exc.detail}"))
            return
    else:
        rec = dataclasses.replace(rec, log_index=index)
    run.docs.append(rec)
    run.report.longest(e.retain_until)
    if e.seeds_dict:
        run.sources[e.seeds_dict] = e.digest
        if e.issuer and e.legacy_holder is not None:  # the old leaf names its first holder itself
            run.seeds[stream_key(e.legacy_holder[0], e.issuer)] = e.seeds_dict  # type: ignore[index]
        elif e.issuer:
            run.seeding[e.digest] = (e.issuer, e.seeds_dict)


def _holding(run: _Run, index: int, e: HoldingEntry) -> None:
    run.held.append((index, holding_row(index, e)))
    run.report.longest(e.retain_until)
    seeded = run.seeding.pop(e.digest, None)
    if seeded is not None:  # the document's first holding: whose stream its dictionary is
        issuer, dict_digest = seeded
        run.seeds[stream_key(e.tenant, issuer)] = dict_digest  # type: ignore[index]  # log order: the newest wins


def _holding_change(run: _Run, index: int, e: LegalHoldEntry | RetentionEntry) -> None:
    run.flush()
    try:
        if isinstance(e, LegalHoldEntry):
            run.tx.set_holding(e.digest, e.tenant, legal_hold=e.on)
        else:
            run.tx.set_holding(e.digest, e.tenant, retain_until=e.retain_until)
            run.report.longest(e.retain_until)
    except EarsivError as exc:  # the index says it holds no such document (skipped at a replay)
        run.report.skipped.append((index, f"{e.TYPE} of {e.digest}: {exc.detail}"))


def _disposal(run: _Run, index: int, e: DisposalEntry) -> None:
    run.flush()
    run.tx.set_disposed(e.digest, e.at, index)


def _principal(run: _Run, index: int, e: PrincipalEntry) -> None:
    run.flush()
    run.tx.put_principal(PrincipalRow(e.name, e.role, e.tenants, e.disabled, e.at, index))


def _token(run: _Run, index: int, e: TokenEntry) -> None:
    run.flush()
    run.tx.put_token(TokenRow(e.id, e.principal, e.sha256, e.at, e.expires_at, None, index))


def _token_revoke(run: _Run, index: int, e: TokenRevokeEntry) -> None:
    run.flush()
    run.tx.revoke_token(e.id, e.at)


def _grant(run: _Run, index: int, e: GrantEntry) -> None:
    run.flush()
    run.tx.put_grant(GrantRow(e.id, e.inspector, e.vkn, e.date_from, e.date_to, e.expires_at, e.reference, e.by,
                              e.at, None, index))


def _grant_revoke(run: _Run, index: int, e: GrantRevokeEntry) -> None:
    run.flush()
    run.tx.revoke_grant(e.id, e.at)


def _access(run: _Run, index: int, e: AccessEntry) -> None:
    run.flush()
    vkns = e.vkns or ("",)
    run.tx.add_access_events([AccessEventRow(index, v, e.principal, e.action, e.at, len(e.documents)) for v in vkns])


def _finding(run: _Run, index: int, e: AuditFindingEntry) -> None:
    run.flush()
    run.tx.add_finding(index, e.object, e.copy, e.problem, e.at)


def _repair(run: _Run, index: int, e: RepairEntry) -> None:
    run.flush()
    run.tx.close_findings(e.object, e.copy, e.at, index)


def _audit_pass(run: _Run, index: int, e: AuditPassEntry) -> None:
    run.flush()
    run.tx.meta_set("audit/last-pass", json.dumps({"leaf": index, **e.to_json()}, sort_keys=True))


def _key(run: _Run, index: int, e: KeyEntry) -> None:
    run.flush()
    record_introduction(run.tx, index, e)


_HANDLERS: dict[type[Entry], Callable[[_Run, int, Entry], None]] = {  # type: ignore[dict-item]
    DocumentEntry: _document,
    HoldingEntry: _holding,
    LegalHoldEntry: _holding_change,
    RetentionEntry: _holding_change,
    PrincipalEntry: _principal,
    TokenEntry: _token,
    TokenRevokeEntry: _token_revoke,
    GrantEntry: _grant,
    GrantRevokeEntry: _grant_revoke,
    AccessEntry: _access,
    AuditFindingEntry: _finding,
    RepairEntry: _repair,
    AuditPassEntry: _audit_pass,
    DisposalEntry: _disposal,
    KeyEntry: _key,
}
