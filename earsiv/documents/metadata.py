"""What reading a document tells: plain, immutable values.

These classes are the contract between parsing (``parse.py``), signature
inspection (``signature.py``) and the SQL index (``indexer/``).  They are not the
stored format (the store keeps only the original bytes and log leaves) and not
the API schema.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = [
    "KINDS",
    "SIGNATURE_STATUSES",
    "SIGNER_RELATIONS",
    "TRUST_REASONS",
    "TRUST_VERDICTS",
    "DocumentMetadata",
    "EDefterInfo",
    "Party",
    "Reference",
    "SignatureReport",
]

# kind -> what it is; the value users type in `earsiv search --kind`.
KINDS: dict[str, str] = {
    "e-fatura": "UBL-TR Invoice (e-Fatura profiles: TEMELFATURA, TICARIFATURA, IHRACAT, ...)",
    "e-arsiv": "UBL-TR Invoice with profile EARSIVFATURA",
    "e-smm": "UBL-TR Invoice with profile EARSIVBELGE (serbest meslek makbuzu)",
    "e-mm": "UBL-TR CreditNote (e-Müstahsil makbuzu)",
    "e-irsaliye": "UBL-TR DespatchAdvice",
    "irsaliye-yaniti": "UBL-TR ReceiptAdvice (answer to a waybill)",
    "uygulama-yaniti": "UBL-TR ApplicationResponse (KABUL/RED, system responses)",
    "zarf": "StandardBusinessDocument envelope",
    "yevmiye": "e-Defter journal ledger (edefter:defter, entriesType journal)",
    "kebir": "e-Defter general ledger (edefter:defter, entriesType ledger)",
    "berat": "e-Defter berat (edefter:berat), including GİB-approved berats",
    "other": "well-formed XML of no recognised kind",
}

# What a signature inspection establishes, in three separate answers (issue 17):
#   status   consistent: the bytes match the signature (references and SignatureValue verify
#            with the certificate in KeyInfo) -- nothing more; never called "valid";
#   trust    trusted: the signer certificate chains, at signing time, to a configured root;
#   signer   supplier: the certificate's VKN/TCKN is the supplier's.
# Trust and signer are answered only for a consistent signature (None otherwise).
SIGNATURE_STATUSES = ("consistent", "invalid", "unsigned", "unverifiable", "pending")
TRUST_VERDICTS = ("trusted", "untrusted")
# why a consistent signature is untrusted
TRUST_REASONS = ("no-configured-root", "unknown-root", "not-valid-at-signing", "not-a-ca", "no-signing-time")
SIGNER_RELATIONS = ("supplier", "other", "unknown")


@dataclass(frozen=True, slots=True)
class Party:
    role: str  # supplier | customer | despatch-supplier | delivery-customer | sender | receiver | owner
    scheme: str | None  # VKN | TCKN | other schemeID | None
    id: str | None
    name: str | None


@dataclass(frozen=True, slots=True)
class Reference:
    type: str  # billing | despatch | response | order | receipt | envelope-content | berat-of | other
    id: str | None
    ettn: str | None = None


@dataclass(frozen=True, slots=True)
class EDefterInfo:
    vkn: str | None
    period_start: dt.date | None
    period_end: dt.date | None
    ledger_type: str | None  # yevmiye | kebir | None (berat carries what it seals)
    control_number: str | None  # gl-cor:uniqueID, YEV/KEB + YYYYMM + 6 digits
    berat_guid: str | None
    entry_count: int | None
    # sha256 hex of the ledger's ds:SignatureValue text (whitespace removed):
    # equal on a ledger and on the berat that seals it.
    seal: str | None
    gib_approved: bool = False


@dataclass(frozen=True, slots=True)
class DocumentMetadata:
    kind: str
    root: str  # local name of the root element
    namespace: str | None
    profile: str | None = None
    type_code: str | None = None
    doc_id: str | None = None
    ettn: str | None = None
    issue_date: dt.date | None = None
    issue_time: str | None = None  # as written in the document
    currency: str | None = None
    payable_amount: Decimal | None = None
    tax_amount: Decimal | None = None
    series: str | None = None
    year: int | None = None
    sequence: int | None = None
    parties: tuple[Party, ...] = ()
    references: tuple[Reference, ...] = ()
    edefter: EDefterInfo | None = None
    despatch_date: dt.date | None = None  # a waybill's cbc:ActualDespatchDate (L12's 7 days run from it)
    signed: bool = False
    stylesheets: int = 0
    line_count: int = 0
    texts: tuple[str, ...] = ()  # names, item names, notes: for full-text search
    flags: tuple[str, ...] = ()  # e.g. "vkn-checksum:supplier", "id-pattern", "issue-time"

    def party(self, *roles: str) -> Party | None:
        return next((p for p in self.parties if p.role in roles), None)

    @property
    def supplier(self) -> Party | None:
        return self.party("supplier", "despatch-supplier", "sender", "owner")

    @property
    def customer(self) -> Party | None:
        return self.party("customer", "delivery-customer", "receiver")


@dataclass(frozen=True, slots=True)
class SignatureReport:
    status: str  # one of SIGNATURE_STATUSES
    reason: str | None = None
    signer_subject: str | None = None
    signer_id: str | None = None  # OID 2.5.4.5 of the signer certificate subject
    signing_time: dt.datetime | None = None
    cert_not_before: dt.datetime | None = None
    cert_not_after: dt.datetime | None = None
    cert_valid_at_signing: bool | None = None
    references: int = 0
    details: tuple[str, ...] = field(default=())
    trust: str | None = None  # one of TRUST_VERDICTS, for a consistent signature
    trust_reason: str | None = None  # one of TRUST_REASONS when untrusted
    chain: tuple[str, ...] = ()  # subjects from the signer to the configured root, when trusted
    trust_store: str | None = None  # id of the set of roots the trust was decided against
    signer: str | None = None  # one of SIGNER_RELATIONS, for a consistent signature

    def __post_init__(self) -> None:
        if self.status not in SIGNATURE_STATUSES:
            raise ValueError(f"unknown signature status {self.status!r}")
        if self.trust is not None and self.trust not in TRUST_VERDICTS:
            raise ValueError(f"unknown trust verdict {self.trust!r}")
        if (self.trust_reason is not None) != (self.trust == "untrusted") or \
                (self.trust_reason is not None and self.trust_reason not in TRUST_REASONS):
            raise ValueError(f"trust reason {self.trust_reason!r} does not fit trust {self.trust!r}")
        if self.signer is not None and self.signer not in SIGNER_RELATIONS:
            raise ValueError(f"unknown signer relation {self.signer!r}")
        if self.status != "consistent" and (self.trust is not None or self.signer is not None):
            raise ValueError(f"a {self.status} signature has no trust or signer verdict")
