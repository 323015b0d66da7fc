"""Between indexer values and index rows: ``IndexRecord`` in, ``DocumentRow`` out.

``DocumentRow`` is what a search answers with; it is neither the table (it
hides the search-only columns) nor the API schema (``to_json`` is a plain
JSON-safe dict the API may reshape).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import NullType

from earsiv.documents.metadata import SIGNATURE_STATUSES, Reference, SignatureReport
from earsiv.documents.sigwords import signature_words
from earsiv.indexer.models import NO_DATE, UTCDateTime, documents
from earsiv.indexer.records import IndexRecord
from earsiv.indexer.sortkeys import amount_key, amount_units, text_key

__all__ = [
    "KEY_MAX_CHARS",
    "RAW_COLUMNS",
    "ROW_COLUMNS",
    "DocumentRow",
    "IndexStats",
    "document_values",
    "holding_values",
    "index_key",
    "json_safe",
    "party_values",
    "ref_values",
    "row_from_db",
    "signature_values",
]


# Longest value kept as it is in an indexed column.  A B-tree entry has a
# size limit (PostgreSQL refuses entries over ~2.7 KB; SQLite spills them to
# overflow pages), and a hostile document may carry a multi-KB cbc:ID or VKN.
# Longer values are indexed in a key form: a prefix, "~" and the SHA-256 of the
# whole value.  Equality stays exact (the search applies the same form to what
# it looks for), the form is the same on every database, and the full value
# is still in the original document.  256 characters are at most 1 KiB of
# UTF-8, well under the limit even inside the (party_id, sort_date, digest)
# index.
KEY_MAX_CHARS = 256


def index_key(value: str | None, limit: int = KEY_MAX_CHARS) -> str | None:
    """*value* as stored in (and looked up from) an indexed column of *limit* characters."""
    if value is None or len(value) <= limit:
        return value
    return value[: limit - 65] + "~" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class DocumentRow:
    digest: str
    kind: str
    root: str
    namespace: str | None
    profile: str | None
    type_code: str | None
    doc_id: str | None
    ettn: str | None
    issue_date: dt.date | None
    issue_time: str | None
    currency: str | None
    payable_amount: Decimal | None
    tax_amount: Decimal | None
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
    flags: tuple[str, ...]
    references: tuple[Reference, ...]
    edefter_vkn: str | None
    edefter_period_start: dt.date | None
    edefter_period_end: dt.date | None
    edefter_ledger_type: str | None
    edefter_control_number: str | None
    edefter_berat_guid: str | None
    edefter_entry_count: int | None
    edefter_seal: str | None
    edefter_gib_approved: bool | None
    signature_status: str
    signature_reason: str | None
    signer_subject: str | None
    signer_id: str | None
    signing_time: dt.datetime | None
    cert_not_before: dt.datetime | None
    cert_not_after: dt.datetime | None
    cert_valid_at_signing: bool | None
    signature_references: int | None
    signature_details: tuple[str, ...] | None
    signature_trust: str | None
    signature_trust_reason: str | None
    signature_chain: tuple[str, ...] | None
    signature_trust_store: str | None
    signer_relation: str | None
    size: int
    stored_size: int
    dict_digest: str | None
    blob_alt: str | None
    log_index: int
    received_at: dt.datetime
    retain_until: dt.datetime
    legal_hold: bool
    tenant: str | None
    source_name: str | None

    @property
    def sort_date(self) -> dt.date:
        return self.issue_date or NO_DATE

    @property
    def signature(self) -> SignatureReport | None:
        if self.signature_status == "pending":
            return None
        return SignatureReport(
            status=self.signature_status,
            reason=self.signature_reason,
            signer_subject=self.signer_subject,
            signer_id=self.signer_id,
            signing_time=self.signing_time,
            cert_not_before=self.cert_not_before,
            cert_not_after=self.cert_not_after,
            cert_valid_at_signing=self.cert_valid_at_signing,
            references=self.signature_references or 0,
            details=self.signature_details or (),
            trust=self.signature_trust,
            trust_reason=self.signature_trust_reason,
            chain=self.signature_chain or (),
            trust_store=self.signature_trust_store,
            signer=self.signer_relation,
        )

    @property
    def signature_words(self) -> tuple[str, str]:
        """What was checked, (Turkish, English): e.g. "tutarlı, güvenilir kök, imzacı = satıcı"."""
        args = (self.signature_status, self.signature_trust, self.signature_trust_reason, self.signer_relation)
        return signature_words(*args, lang="tr"), signature_words(*args, lang="en")

    def to_json(self) -> dict[str, Any]:
        out = {f.name: json_safe(getattr(self, f.name)) for f in dataclasses.fields(self)}
        out["references"] = [{"type": r.type, "id": r.id, "ettn": r.ettn} for r in self.references]
        out["signature"] = self.signature_words[1]  # what was checked, in words
        return out


@dataclass(frozen=True, slots=True)
class IndexStats:
    documents: int
    bytes_original: int
    bytes_stored: int
    pending_signatures: int
    by_kind: dict[str, int]
    by_signature_status: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# DocumentRow field -> documents column, in field order.  A page is read as
# raw driver values (no SQLAlchemy result processing: at 100 rows a page it
# cost more than the query) and converted here by one small function per
# column type; each converter accepts both what SQLite gives (text, 0/1) and
# what PostgreSQL's driver gives (date, datetime, parsed JSON, bool).
_RENAMED = {"references": "refs"}
_FIELDS = tuple(f.name for f in dataclasses.fields(DocumentRow))
ROW_COLUMNS = tuple(documents.c[_RENAMED.get(name, name)] for name in _FIELDS)
RAW_COLUMNS = tuple(sa.type_coerce(c, NullType()).label(c.name) for c in ROW_COLUMNS)


def _utc(v: Any) -> dt.datetime:
    if isinstance(v, str):
        tail = v[19:]
        if "+" in tail or "-" in tail or tail.endswith("Z"):
            v = dt.datetime.fromisoformat(v)
        else:
            # SQLite text written by UTCDateTime: naive UTC.  Parsing it with
            # the offset appended is ~6x faster than datetime.replace(tzinfo=).
            return dt.datetime.fromisoformat(v + "+00:00")
    return v.replace(tzinfo=dt.UTC) if v.tzinfo is None else v.astimezone(dt.UTC)


def _json(v: Any) -> Any:
    return json.loads(v) if isinstance(v, (str, bytes)) else v


def _str_tuple(v: Any) -> tuple[str, ...] | None:
    v = _json(v)
    return None if v is None else tuple(v)


def _refs(v: Any) -> tuple[Reference, ...]:
    return tuple(Reference(t, i, e) for t, i, e in _json(v))


# Per column kind, an expression over ``{x}`` (the raw value), with the cheap
# common cases (NULL, "[]", SQLite's naive-UTC text) decided inline before
# any function call.  Naive datetime text gets its offset appended: parsing
# that is several times faster than datetime.replace(tzinfo=...).
_EXPR = {
    "decimal": "None if {x} is None else _Decimal({x})",
    "refs": "() if {x} == '[]' else _refs({x})",
    "json": "None if {x} is None else () if {x} == '[]' else _str_tuple({x})",
    "utc": "None if {x} is None else _fromiso({x} + '+00:00') if {x}.__class__ is str and len({x}) == 26 else _utc({x})",
    "date": "_date({x}) if {x}.__class__ is str else {x}",
    "bool": "None if {x} is None else bool({x})",
}
_HELPERS = {
    "_Decimal": Decimal,
    "_refs": _refs,
    "_str_tuple": _str_tuple,
    "_utc": _utc,
    "_fromiso": dt.datetime.fromisoformat,
    "_date": dt.date.fromisoformat,
}


def _kind(name: str, column: sa.Column[Any]) -> str | None:
    if name in ("payable_amount", "tax_amount"):
        return "decimal"
    if name == "references":
        return "refs"
    for kind, type_ in (("json", sa.JSON), ("utc", UTCDateTime), ("date", sa.Date), ("bool", sa.Boolean)):
        if isinstance(column.type, type_):
            return kind
    return None


def _compile_row_reader() -> Callable[[Any], DocumentRow]:
    # A page is 100 rows of 56 columns: a generic loop over converters cost
    # as much as the query itself, so the reader is generated once as
    # straight-line code, the way dataclasses generates __init__.  It builds
    # the instance dict with dict(zip(...)) in C, patches the converted
    # columns, and installs it directly: the __init__ of a frozen dataclass
    # alone costs ~12 us for 56 fields, over 1 ms a page.
    lines = ["def row_from_db(v):", "    d = _dict(_zip(_FIELDS, v))"]
    for i, (name, column) in enumerate(zip(_FIELDS, ROW_COLUMNS)):
        kind = _kind(name, column)
        if kind is not None:
            lines.append(f"    x = v[{i}]")
            lines.append(f"    d[{name!r}] = " + _EXPR[kind].format(x="x"))
    lines += ["    row = _new(_cls)", "    _set(row, '__dict__', d)", "    return row", ""]
    namespace: dict[str, Any] = {
        "_FIELDS": _FIELDS,
        "_dict": dict,
        "_zip": zip,
        "_new": object.__new__,
        "_cls": DocumentRow,
        "_set": object.__setattr__,
        **_HELPERS,
    }
    exec(compile("\n".join(lines), "<earsiv.indexer.rows.row_from_db>", "exec"), namespace)  # noqa: S102
    return namespace["row_from_db"]


row_from_db = _compile_row_reader()


def _amount_text(value: Decimal | None) -> str | None:
    # str() of a Decimal reads back as an equal Decimal with the same
    # exponent, so 100.00 stays 100.00 (as written in the document).
    if value is None:
        return None
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"amount must be a finite Decimal, got {value!r}")
    return str(value)


def signature_values(report: SignatureReport | None) -> dict[str, Any]:
    if report is None:
        report = SignatureReport(status="pending")
    if report.status not in SIGNATURE_STATUSES:  # SignatureReport checks too; belt and braces
        raise ValueError(f"unknown signature status {report.status!r}")
    pending = report.status == "pending"
    return {
        "signature_status": report.status,
        "signature_reason": report.reason,
        "signer_subject": report.signer_subject,
        "signer_id": report.signer_id,
        "signing_time": report.signing_time,
        "cert_not_before": report.cert_not_before,
        "cert_not_after": report.cert_not_after,
        "cert_valid_at_signing": report.cert_valid_at_signing,
        "signature_references": None if pending else report.references,
        "signature_details": None if pending else list(report.details),
        "signature_trust": report.trust,
        "signature_trust_reason": report.trust_reason,
        "signature_chain": list(report.chain) if report.trust is not None else None,
        "signature_trust_store": report.trust_store,
        "signer_relation": report.signer,
    }


def document_values(rec: IndexRecord) -> dict[str, Any]:
    m = rec.metadata
    supplier, customer, ed = m.supplier, m.customer, m.edefter
    return {
        "digest": rec.digest,
        "kind": m.kind,
        "root": m.root,
        "namespace": m.namespace,
        "profile": m.profile,
        "type_code": m.type_code,
        "doc_id": index_key(m.doc_id),
        "ettn": m.ettn,
        "ettn_key": index_key(m.ettn.strip().lower()) if m.ettn else None,
        "issue_date": m.issue_date,
        "sort_date": m.issue_date or NO_DATE,
        "issue_time": m.issue_time,
        "currency": m.currency,
        "payable_amount": _amount_text(m.payable_amount),
        "payable_amount_num": m.payable_amount,
        "tax_amount": _amount_text(m.tax_amount),
        "series": m.series,
        "year": m.year,
        "sequence": m.sequence,
        "supplier_scheme": supplier.scheme if supplier else None,
        "supplier_id": supplier.id if supplier else None,
        "supplier_name": supplier.name if supplier else None,
        "customer_scheme": customer.scheme if customer else None,
        "customer_id": customer.id if customer else None,
        "customer_name": customer.name if customer else None,
        "signed": m.signed,
        "stylesheets": m.stylesheets,
        "line_count": m.line_count,
        "flags": list(m.flags),
        "refs": [[r.type, r.id, r.ettn] for r in m.references],
        "edefter_vkn": index_key(ed.vkn) if ed else None,
        "edefter_period_start": ed.period_start if ed else None,
        "edefter_period_end": ed.period_end if ed else None,
        "edefter_ledger_type": ed.ledger_type if ed else None,
        "edefter_control_number": ed.control_number if ed else None,
        "edefter_berat_guid": ed.berat_guid if ed else None,
        "edefter_entry_count": ed.entry_count if ed else None,
        "edefter_seal": index_key(ed.seal) if ed else None,
        "edefter_gib_approved": ed.gib_approved if ed else None,
        **signature_values(rec.signature),
        "size": rec.size,
        "stored_size": rec.stored_size,
        "dict_digest": rec.dict_digest,
        "blob_alt": rec.blob_alt,
        "despatch_date": m.despatch_date,
        "supplier_key": index_key(supplier.id) if supplier and supplier.id else None,
        "sort_id": text_key(m.doc_id),
        "sort_supplier": text_key(supplier and (supplier.name or supplier.id)),
        "sort_customer": text_key(customer and (customer.name or customer.id)),
        "sort_amount": amount_key(m.payable_amount),
        **dict(zip(("payable_units", "payable_scale"), amount_units(m.payable_amount), strict=True)),
        "log_index": rec.log_index,
        "received_at": rec.received_at,
        "retain_until": rec.retain_until,
        "legal_hold": rec.legal_hold,
        "tenant": index_key(rec.tenant),
        "source_name": rec.source_name,
    }


def party_values(rec: IndexRecord) -> list[dict[str, Any]]:
    m = rec.metadata
    sort_date = m.issue_date or NO_DATE
    rows = [
        {
            "digest": rec.digest,
            "position": i,
            "role": p.role,
            "scheme": p.scheme,
            "party_id": index_key(p.id.strip()) if p.id else None,
            "name": p.name,
            "sort_date": sort_date,
        }
        for i, p in enumerate(m.parties)
    ]
    # A ledger's owner is searchable by VKN like any party, even when the
    # parser reported it only in EDefterInfo.
    ed_vkn = index_key(m.edefter.vkn.strip()) if m.edefter and m.edefter.vkn else None
    if ed_vkn and all(r["party_id"] != ed_vkn for r in rows):
        rows.append(
            {
                "digest": rec.digest,
                "position": len(rows),
                "role": "owner",
                "scheme": None,
                "party_id": ed_vkn,
                "name": None,
                "sort_date": sort_date,
            }
        )
    return rows


def holding_values(rec: IndexRecord) -> dict[str, Any]:
    """The holding a document's own leaf makes: for its tenant, or "" for none."""
    return {
        "digest": rec.digest,
        "tenant": index_key(rec.tenant or ""),
        "log_index": rec.log_index,
        "received_at": rec.received_at,
        "retain_until": rec.retain_until,
        "legal_hold": rec.legal_hold,
        "source_name": rec.source_name,
        "sort_date": rec.metadata.issue_date or NO_DATE,
    }


def ref_values(rec: IndexRecord) -> list[dict[str, Any]]:
    # The lookup table keeps the ETTN lower-cased (UUIDs compare without
    # case); the documents.refs column keeps it as written.
    return [
        {
            "digest": rec.digest,
            "position": i,
            "ref_type": r.type,
            "ref_id": index_key(r.id),
            "ref_ettn": index_key(r.ettn.strip().lower()) if r.ettn else None,
        }
        for i, r in enumerate(rec.metadata.references)
    ]


def json_safe(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, memoryview)):  # sort keys (sortkeys)
        return bytes(value).hex()
    if isinstance(value, tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    return value
