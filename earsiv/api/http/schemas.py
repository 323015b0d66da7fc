"""The API's own schemas: what clients send and what they get back.

They are deliberately separate from the index rows (``DocumentRow``) and the
stored format (log leaves): the index may grow a column without the API
changing, and the API may be versioned without touching what is stored.
Each output model is built from the domain object by one ``from_domain``
class method, so the mapping lives in one place.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from earsiv.archive.archive import Status
from earsiv.archive.audit import Finding
from earsiv.archive.ingest import IngestResult
from earsiv.archive.sources import printable
from earsiv.documents.metadata import KINDS
from earsiv.indexer.accessdb import HoldingRow
from earsiv.indexer.rows import DocumentRow

__all__ = [
    "ACCESS_EVENT_HEADER",
    "CheckpointOut",
    "DocumentOut",
    "FindingOut",
    "HealthResponse",
    "HoldingOut",
    "IngestResponse",
    "IngestResultOut",
    "Kind",
    "LegalHoldIn",
    "LegalHoldOut",
    "PendingOut",
    "ReferenceOut",
    "SearchResponse",
    "StatusResponse",
    "VerifyResponse",
]

# Sent with every answer to an inspector: the log indexes of its access event (one leaf per taxpayer,
# comma-separated: ``str(AccessEvents)``).
ACCESS_EVENT_HEADER = "Earsiv-Access-Event"

# The kinds as an enum, so OpenAPI lists the values a client may send.
Kind = Enum("Kind", {k.replace("-", "_").upper(): k for k in KINDS}, type=str)

SignatureStatus = Literal["consistent", "invalid", "unsigned", "unverifiable", "pending"]
SignatureTrust = Literal["trusted", "untrusted"]
TrustReason = Literal["no-configured-root", "unknown-root", "not-valid-at-signing", "not-a-ca", "no-signing-time"]
SignerRelation = Literal["supplier", "other", "unknown"]
IngestStatus = Literal["stored", "duplicate", "conflict", "rejected"]
Amount = str  # a decimal as written in the document ("100.00" stays "100.00"); never a float


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IngestResultOut(_Out):
    path: str = Field(description="The file as the client named it; `upload.zip:member` for ZIP members.")
    status: IngestStatus = Field(
        description="stored (new); duplicate (the same bytes were already kept); conflict (stored, but another "
        "document the caller may see has the same ETTN); rejected (not archived: `error` says why)."
    )
    digest: str | None = Field(description="sha256 of the bytes received, lower-case hex; null if unreadable.")
    kind: str | None
    error: str | None
    code: str | None = Field(default=None, description="Why a file was rejected, for machines: not-xml, hostile-xml, "
                             "too-large, unreadable, invalid-document.")
    log_index: int | None = Field(description="Position of the document's leaf in the archive log (new documents).")
    size: int
    stored_size: int
    conflicts_with: list[str] = Field(description="Digests of earlier documents with the same ETTN that the caller "
                                      "may see (an admin: all); `conflict` only when it names one.")
    flags: list[str] = Field(description="Findings that did not stop archiving (e.g. a VKN that fails its checksum).")
    shared: bool = Field(default=False, description="Stored as this tenant's holding of bytes the archive already "
                         "kept for another tenant: one copy of the bytes, a holding (retention, legal hold) of its own.")

    @classmethod
    def from_domain(cls, r: IngestResult) -> IngestResultOut:
        return cls.model_validate(r.to_json())


class IngestResponse(_Out):
    results: list[IngestResultOut] = Field(description="One result per file, in the order received.")
    counts: dict[IngestStatus, int] = Field(description="How many files got each status.")


class ReferenceOut(_Out):
    type: str
    id: str | None
    ettn: str | None


class HoldingOut(_Out):
    """One tenant's holding of a document: who it was archived for, when, and how long it is kept."""

    tenant: str | None = Field(description="The taxpayer (VKN/TCKN) it was archived for; null if archived without one.")
    received_at: dt.datetime
    retain_until: dt.datetime = Field(description="Nothing of this holding can be deleted before this instant.")
    legal_hold: bool
    source_name: str | None
    log_index: int = Field(description="The log leaf that made the holding (the document's own leaf for the first).")

    @classmethod
    def from_domain(cls, h: HoldingRow) -> HoldingOut:
        return cls(tenant=h.tenant or None, received_at=h.received_at, retain_until=h.retain_until,
                   legal_hold=h.legal_hold, source_name=printable(h.source_name) if h.source_name else None, log_index=h.log_index)


class DocumentOut(_Out):
    """What the index knows about one document, and the holdings of it the caller may see."""

    digest: str
    kind: str
    root: str
    namespace: str | None
    profile: str | None
    type_code: str | None
    doc_id: str | None
    ettn: str | None
    issue_date: dt.date | None
    issue_time: str | None = Field(description="As written in the document (forms vary).")
    currency: str | None
    payable_amount: Amount | None
    tax_amount: Amount | None
    series: str | None
    year: int | None
    sequence: int | None
    supplier_scheme: str | None
    supplier_id: str | None
    supplier_name: str | None
    customer_scheme: str | None
    customer_id: str | None
    customer_name: str | None
    signed: bool
    stylesheets: int
    line_count: int
    flags: list[str] = Field(description="Findings that did not stop archiving (a VKN that fails its checksum, a "
                             "placeholder ETTN...), and `not-held-by-taxpayer`: shown in the name of a taxpayer "
                             "(an inspector's grant, a tenant's own) that holds no copy of it, i.e. archived by "
                             "someone else.")
    references: list[ReferenceOut]
    edefter_vkn: str | None
    edefter_period_start: dt.date | None
    edefter_period_end: dt.date | None
    edefter_ledger_type: str | None
    edefter_control_number: str | None
    edefter_berat_guid: str | None
    edefter_entry_count: int | None
    edefter_seal: str | None
    edefter_gib_approved: bool | None
    signature_status: SignatureStatus = Field(description="`consistent`: the bytes match the signature (its references "
                                              "and SignatureValue verify with the certificate in KeyInfo) -- "
                                              "nothing about who signed; never read it as 'valid'.")
    signature_trust: SignatureTrust | None = Field(description="For a consistent signature: `trusted` when the signer "
                                                   "certificate chains, at its signing time, to a configured root.")
    signature_trust_reason: TrustReason | None = Field(description="Why `untrusted`; `no-configured-root` when the "
                                                       "archive has no trust roots (the default: none are shipped).")
    signature_chain: list[str] | None = Field(description="Certificate subjects from the signer up to the root "
                                              "(or as far as the chain went).")
    signature_trust_store: str | None = Field(description="Which set of roots the trust was judged against; "
                                              "`status` shows the current one (differing: `earsiv reindex`).")
    signer_relation: SignerRelation | None = Field(description="For a consistent signature: `supplier` when the "
                                                   "certificate's VKN/TCKN is the supplier's, `other` when not "
                                                   "(often an özel entegratör's seal), `unknown` when either is missing.")
    signature: str = Field(description="What was checked, in words, e.g. `consistent; untrusted: no configured "
                                       "root; signer is not the supplier`.")
    signature_reason: str | None
    signer_subject: str | None
    signer_id: str | None
    signing_time: dt.datetime | None
    cert_not_before: dt.datetime | None
    cert_not_after: dt.datetime | None
    cert_valid_at_signing: bool | None
    signature_references: int | None
    signature_details: list[str] | None
    size: int
    stored_size: int | None = Field(description="Bytes of the stored blob; null when it depends on a document the "
                                    "caller may not see (the blob's dictionary is made of one).")
    dict_digest: str | None = Field(description="The blob's compression dictionary (the digest of its bytes); null "
                                    "without one, or when the caller may not see the document it is made of.")
    log_index: int
    holdings: list[HoldingOut] = Field(
        description="The holdings the caller may see: all for an admin, its tenants' for an integrator or "
        "accountant, none for an inspector (who sees documents through grants, not holdings)."
    )

    @classmethod
    def from_domain(cls, row: DocumentRow, holdings: list[HoldingRow] | None = None) -> DocumentOut:
        # Only the fields this schema names: a column added to the index
        # does not reach clients until it is added here on purpose.  The
        # document row's own holding summary (first tenant, longest
        # retention, any hold) is not among them: it would tell one tenant
        # about another's holding.
        data: dict[str, Any] = row.to_json()
        data["holdings"] = [HoldingOut.from_domain(h) for h in holdings or ()]
        return cls.model_validate({k: data[k] for k in cls.model_fields})


class SearchResponse(_Out):
    documents: list[DocumentOut] = Field(description="Newest issue date first, then by digest.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class FindingOut(_Out):
    subject: str = Field(description="What failed: a digest, `log`, or `checkpoint N`.")
    problem: str

    @classmethod
    def from_domain(cls, f: Finding) -> FindingOut:
        return cls(subject=f.subject, problem=f.problem)


class VerifyResponse(_Out):
    digest: str
    ok: bool = Field(description="True only if blob, log leaf, inclusion proof, signed checkpoint and time-stamp all verify.")
    failures: list[FindingOut]


class CheckpointOut(_Out):
    size: int
    root: str
    time: dt.datetime
    stamped: bool
    tsa: str
    stamp_time: dt.datetime | None = None
    second_stamp: bool | None = Field(default=None, description="With two TSAs configured: whether the second, "
                                      "independent token exists too.")


class PendingOut(_Out):
    signature_checks: int
    unstamped_checkpoints: int
    oldest_unstamped: dt.datetime | None = Field(default=None, description="When the oldest checkpoint still "
                                                 "waiting for its time stamp was made: the gap a TSA outage leaves.")
    fulltext: int = Field(description="Log leaves the full-text index has not taken in yet (it trails the ingest).")


class StampAttemptOut(_Out):
    ok: bool = Field(description="Whether the last request to the time-stamp authority succeeded.")
    error: str | None = Field(description="What the TSA (or the way to it) said, when it failed.")
    at: str = Field(description="When the attempt was made (UTC).")
    checkpoint: int | None = Field(default=None, description="The checkpoint that could not be stamped.")


class AuditPassOut(_Out):
    leaf: int = Field(description="The log leaf that records the pass.")
    started: dt.datetime
    finished: dt.datetime
    leaves: int = Field(description="The pass covered the log up to this checkpoint size.")
    objects: int
    bytes: int
    findings: int


class AuditProgressOut(_Out):
    started: dt.datetime
    position: int = Field(description="The leaf the pass under way has reached.")
    end: int
    done: float = Field(description="Share of the pass done, 0..1.")
    objects: int
    bytes: int
    findings: int


class AuditOut(_Out):
    open_findings: int = Field(description="Damage found and not repaired yet (`earsiv damage-report` lists it).")
    notice_due: dt.datetime | None = Field(
        description="The earliest deadline (detection + 15 days) to notify the tax office of open damage (LAW.md L9).")
    last_full_pass: AuditPassOut | None
    period_days: float = Field(description="`serve` audits every object once in this many days (0: never on its own).")
    overdue: bool | None = Field(default=None, description="The last full pass began longer than a period ago.")
    pass_: AuditProgressOut | None = Field(alias="pass", description="The pass under way, if one is.")


class ReplicaOut(_Out):
    url: str
    complete: bool = Field(description="Every object the primary holds is in the replica too.")
    mode: Literal["synchronous"]
    synced_objects: int | None = None
    synced_up_to: str | None = None
    next: str | None = None
    reads_answered_by_replica: int | None = None


class TSAAnchorOut(_Out):
    subject: str
    sha256: str = Field(description="sha256 of the certificate's DER: compare with what the TSA publishes.")
    not_after: dt.datetime


class TSAOut(_Out):
    url: str = Field(description="Empty for the built-in local TSA.")
    name: str
    kamusm: bool
    anchors: list[TSAAnchorOut] = Field(description="Tokens of this TSA are accepted only if they chain to one of these.")


class HashTreesOut(_Out):
    runs: int
    documents: int = Field(description="Documents stamped by runs of this hash (a document counts once per run).")
    covered_to: int = Field(description="Log leaves before this one are covered; `earsiv renew --hash` goes on from it.")
    first_end: dt.datetime | None = Field(description="The first end among the certificates of the runs' stamps.")


class TSAConfigOut(_Out):
    stamps: int = Field(description="How many independent TSAs stamp each checkpoint (1 or 2).")
    authorities: list[TSAOut]
    warnings: list[str] = Field(default_factory=list, description="Anchors, and the certificate stamps are made "
                                "under now, that expire within 180 days (or have expired); stored TSA certificates "
                                "nothing says to trust.")
    unconfirmed: list[TSAAnchorOut] = Field(
        default_factory=list, description="TSA certificates in the store that were never configured (an earlier "
        "version saved the certificates tokens carried): not trusted until configured or confirmed "
        "(`earsiv tsa confirm`).")
    hash_trees: dict[str, HashTreesOut] = Field(default_factory=dict, description=(
        "Hash-tree renewals (RFC 4998 §5.3) by hash: what they cover, and until when their stamps hold."))


class KeyStepOut(_Out):
    key_id: str
    introduced_at_leaf: int | None = Field(description="The log entry that introduced it; null for the first key.")
    at: str | None
    reason: str
    by: str | None = None
    replaces: str | None = None


class KeysOut(_Out):
    first: str = Field(description="The archive key: the first checkpoint-signing key, whose fingerprint verifiers "
                       "compare with paper.")
    current: str = Field(description="The key that signs checkpoints now.")
    history: list[KeyStepOut] = Field(description="Every key, in order; each later one introduced by a log entry "
                                      "signed by the one before and by itself (`earsiv key rotate`).")

class LocationOut(_Out):
    country: str | None = Field(description="ISO 3166 country code of where the store's bytes sit; null: not stated.")
    provider: str | None
    region: str | None
    outside_turkey_acknowledged: bool | None = Field(
        default=None, description="The operator acknowledged a primary store outside Türkiye (LAW.md L3).")


class LocationsOut(_Out):
    primary: LocationOut
    replica: LocationOut | None


class StatusResponse(_Out):
    documents: int
    bytes_original: int
    bytes_stored: int
    stored_ratio: float | None
    log_size: int
    last_checkpoint: CheckpointOut | None
    last_stamp_attempt: StampAttemptOut | None = Field(
        description="The last attempt to time-stamp a checkpoint, by any process of this home; null if none yet.")
    pending: PendingOut
    by_kind: dict[str, int]
    by_signature: dict[str, int] = Field(description="Documents per signature status (`consistent` means only that "
                                         "the bytes match the signature).")
    signature_trust: dict | None = Field(default=None, description="The configured roots signatures are judged "
                                         "against: `store` (the id recorded with each verdict), `roots` (subjects; "
                                         "empty: every consistent signature is untrusted), `intermediates`.")
    audit: AuditOut | None = Field(default=None, description="What the audit found, its deadlines, its passes.")
    replica: ReplicaOut | None = Field(default=None, description="The second copy at another site, if there is one.")
    tsa: TSAConfigOut | None = Field(default=None, description="The configured time-stamp authorities and their anchors.")
    key_fingerprint: str | None = Field(
        default=None, description="sha256 (hex) of the DER SubjectPublicKeyInfo of the archive key (the first "
        "checkpoint-signing key; later ones are introduced by it, see `keys`): "
        "publish it out of band (paper, a letter) so a verifier can compare it with the key inside a package.")
    keys: KeysOut | None = Field(default=None, description="The first key, the key in force, and every rotation.")
    locations: LocationsOut | None = Field(default=None, description="Where each store's bytes sit, as configured.")

    @classmethod
    def from_domain(cls, st: Status) -> StatusResponse:
        return cls.model_validate(st.to_json())


class HealthResponse(_Out):
    status: Literal["ok"] = "ok"


class LegalHoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: bool = Field(description="true puts the hold on, false lifts it.")
    reason: str = Field(default="", max_length=1000, description="Why (recorded in the log with who); required to lift a hold.")
    tenant: str | None = Field(default=None, pattern=r"^[0-9]{10,11}$",
                               description="Only this tenant's holding; by default every holding of the document.")


class LegalHoldOut(_Out):
    digest: str
    log_index: int = Field(description="The log leaf that records the change.")
    holdings: list[HoldingOut]
