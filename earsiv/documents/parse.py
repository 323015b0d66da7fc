"""Detect what a document is and read its metadata.

One pass of compiled XPath over an already parsed tree: the caller parses once
(``xmlsafe.parse_xml``) and shares the tree with signature inspection.  Nothing
here rejects a well-formed document: unknown XML becomes kind ``other`` and
every imperfection (placeholder IDs, bad checksums, odd times, unknown
profiles) becomes a flag, because the archive must keep what it is given (L3,
DESIGN invariant 7).

Only short header fields are read as text.  Embedded stylesheets are base64
text of 100+ KiB; no XPath here takes the string value of an element that can
contain them, so they are never copied.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from decimal import Decimal, InvalidOperation

from lxml import etree

from earsiv.documents.identifiers import (
    ETTN_PATTERN,
    ID_PATTERN,
    classify_party_id,
    is_placeholder,
    split_invoice_id,
)
from earsiv.documents.metadata import DocumentMetadata, EDefterInfo, Party, Reference
from earsiv.documents.xmlsafe import parse_xml

__all__ = ["KNOWN_PROFILES", "NS", "document_supplier", "parse_document"]

_UBL = "urn:oasis:names:specification:ubl:schema:xsd:"
NS = {
    "cbc": _UBL + "CommonBasicComponents-2",
    "cac": _UBL + "CommonAggregateComponents-2",
    "ext": _UBL + "CommonExtensionComponents-2",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xades": "http://uri.etsi.org/01903/v1.3.2#",
    "sh": "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader",
    "ef": "http://www.efatura.gov.tr/package-namespace",
    "edefter": "http://www.edefter.gov.tr",
    "xbrli": "http://www.xbrl.org/2003/instance",
    "gl-cor": "http://www.xbrl.org/int/gl/cor/2006-10-25",
    "gl-bus": "http://www.xbrl.org/int/gl/bus/2006-10-25",
    "gl-muc": "http://www.xbrl.org/int/gl/muc/2006-10-25",
}

# Profiles of the GİB code lists (UBL-TR_Codelist, 2025) plus the e-SMM/e-MM
# profile and the 2013 system-response profile; anything else is flagged.
KNOWN_PROFILES = frozenset(
    {
        "TEMELFATURA", "TICARIFATURA", "YOLCUBERABERFATURA", "IHRACAT", "OZELFATURA",
        "KAMU", "HKS", "ENERJI", "ILAC_TIBBICIHAZ", "IDIS", "YATIRIMTESVIK",
        "EARSIVFATURA", "EARSIVBELGE", "TEMELIRSALIYE", "HKSIRSALIYE", "IDISIRSALIYE",
        "UBL-TR-PROFILE-1",
    }
)

# root (namespace, local name) -> (kind or None when the profile decides, type-code element)
_UBL_ROOTS = {
    (_UBL + "Invoice-2", "Invoice"): (None, "InvoiceTypeCode"),
    (_UBL + "CreditNote-2", "CreditNote"): ("e-mm", "CreditNoteTypeCode"),
    (_UBL + "DespatchAdvice-2", "DespatchAdvice"): ("e-irsaliye", "DespatchAdviceTypeCode"),
    (_UBL + "ReceiptAdvice-2", "ReceiptAdvice"): ("irsaliye-yaniti", "ReceiptAdviceTypeCode"),
    (_UBL + "ApplicationResponse-2", "ApplicationResponse"): ("uygulama-yaniti", None),
}
# e-Fatura numbering (L11) binds invoices, e-MM and waybills; responses use UUIDs as IDs.
_NUMBERED = {"Invoice", "CreditNote", "DespatchAdvice", "ReceiptAdvice"}

_PARTY_ROLES = (
    ("AccountingSupplierParty", "supplier"),
    ("AccountingCustomerParty", "customer"),
    ("DespatchSupplierParty", "despatch-supplier"),
    ("DeliveryCustomerParty", "delivery-customer"),
    ("SenderParty", "sender"),
    ("ReceiverParty", "receiver"),
)

_REFERENCES = (
    ("cac:BillingReference/cac:InvoiceDocumentReference", "billing"),
    ("cac:DespatchDocumentReference", "despatch"),
    ("cac:DocumentResponse/cac:DocumentReference", "response"),
    ("cac:OrderReference", "order"),
    ("cac:ReceiptDocumentReference", "receipt"),
)

_TIME = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,7})?)?(?:Z|[+-](?:0\d|1[0-4]):[0-5]\d)?$")
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:Z|[+-]\d{2}:\d{2})?$")
_CONTROL_NUMBER = re.compile(r"^(?:YEV|KEB)\d{12}$")
_WS = re.compile(r"\s+")


def _x(path: str) -> etree.XPath:
    return etree.XPath(path, namespaces=NS, smart_strings=False)


# Compiled once: evaluating a compiled XPath costs microseconds, compiling it does not.
_TEXT = {name: _x(f"normalize-space(cbc:{name})") for name in (
    "ID", "UUID", "ProfileID", "IssueDate", "IssueTime", "DocumentCurrencyCode",
    "InvoiceTypeCode", "CreditNoteTypeCode", "DespatchAdviceTypeCode", "ReceiptAdviceTypeCode",
)}
_HAS = {name: _x(f"boolean(cbc:{name})") for name in ("IssueDate", "IssueTime")}
_RESPONSE_CODE = _x("normalize-space(cac:DocumentResponse[1]/cac:Response/cbc:ResponseCode)")
# L12: a receipt advice answers within 7 days of this date, not of the waybill's IssueDate.
_DESPATCH_DATE = _x("normalize-space(cac:Shipment/cac:Delivery/cac:Despatch/cbc:ActualDespatchDate)")
_PAYABLE = _x("cac:LegalMonetaryTotal/cbc:PayableAmount")
_TAX_AMOUNTS = _x("cac:TaxTotal/cbc:TaxAmount")
_PARTY_IDS = _x("cac:PartyIdentification/cbc:ID")
_PARTY_NAME = _x("normalize-space(cac:PartyName/cbc:Name)")
_PERSON_NAME = _x("normalize-space(concat(cac:Person/cbc:FirstName, ' ', cac:Person/cbc:FamilyName))")
_PARTY_CHILD = _x("cac:Party")
_REF_ID = _x("normalize-space(cbc:ID)")
_REF_UUID = _x("normalize-space(cbc:UUID)")
_REF_PATHS = [(_x(path), kind) for path, kind in _REFERENCES]
_LINES = _x("count(cac:InvoiceLine | cac:CreditNoteLine | cac:DespatchLine | cac:ReceiptLine)")
_ITEM_NAMES = _x(
    "(cac:InvoiceLine | cac:CreditNoteLine | cac:DespatchLine | cac:ReceiptLine)/cac:Item/cbc:Name/text()"
)
_NOTES = _x("cbc:Note/text()")
_XSLT_FILE = (
    "substring(cac:Attachment/cbc:EmbeddedDocumentBinaryObject/@filename,"
    " string-length(cac:Attachment/cbc:EmbeddedDocumentBinaryObject/@filename) - 4) = '.xslt'"
)
# TR1.0 application responses carry their stylesheet in the DocumentReference they answer with.
_STYLESHEETS = _x(
    "count(cac:AdditionalDocumentReference["
    f"translate(normalize-space(cbc:DocumentType), 'xslt', 'XSLT') = 'XSLT' or {_XSLT_FILE}]"
    f" | cac:DocumentResponse/cac:DocumentReference[{_XSLT_FILE}])"
)

_SBDH = _x("sh:StandardBusinessDocumentHeader")
_SB_TEXT = {name: _x(f"normalize-space(sh:DocumentIdentification/sh:{name})") for name in (
    "InstanceIdentifier", "Type", "CreationDateAndTime",
)}
_SB_IDENTIFIER = _x("normalize-space(sh:Identifier)")
_SB_CONTACT = _x("normalize-space(sh:ContactInformation[normalize-space(sh:ContactTypeIdentifier) = $t]/sh:Contact)")
_SB_ELEMENT_TYPE = _x("normalize-space(ef:Package/Elements[1]/ElementType)")
_SB_CONTENTS = _x("ef:Package/Elements/ElementList/*")

_ED_XBRL = _x("xbrli:xbrl")
_ED_VKN = _x("normalize-space(xbrli:context[1]/xbrli:entity/xbrli:identifier)")
_ED_SEGMENT_ID = _x("normalize-space(xbrli:context[1]/xbrli:entity/xbrli:segment/gl-cor:uniqueID)")
_ED_ENTRIES = _x("normalize-space(xbrli:context[1]/xbrli:entity/xbrli:segment/gl-bus:numberOfEntries)")
_ED_INFO = {name: _x(f"normalize-space(gl-cor:accountingEntries/gl-cor:documentInfo/gl-cor:{name})") for name in (
    "entriesType", "uniqueID", "periodCoveredStart", "periodCoveredEnd", "creationDate",
)}
_ED_CURRENCY = _x("normalize-space(gl-cor:accountingEntries/gl-cor:documentInfo/gl-muc:defaultCurrency)")
_ED_MEASURE = _x("normalize-space(xbrli:unit[starts-with(normalize-space(xbrli:measure), 'iso4217:')][1]/xbrli:measure)")
_ED_ORG_NAME = _x(
    "normalize-space(gl-cor:accountingEntries/gl-cor:entityInformation/gl-bus:organizationIdentifiers"
    "[gl-bus:organizationDescription = 'Kurum Unvanı' or gl-bus:organizationDescription = 'Adı Soyadı']"
    "[1]/gl-bus:organizationIdentifier)"
)
_ED_ACCOUNTANT = _x(
    "gl-cor:accountingEntries/gl-cor:entityInformation/gl-bus:accountantInformation/gl-bus:accountantName/text()"
)
_ED_HEADERS = _x("count(gl-cor:accountingEntries/gl-cor:entryHeader)")
_ED_DETAILS = _x("count(gl-cor:accountingEntries/gl-cor:entryHeader/gl-cor:entryDetail)")
_ED_LEDGER_SIGVALUE = _x("ds:Signature/ds:SignatureValue/text()")
_ED_BERAT_SIGVALUE = _x("ds:SignatureValue/text()")
_DS_SIGNATURE = f"{{{NS['ds']}}}Signature"
_EDEFTER_KINDS = {"journal": "yevmiye", "ledger": "kebir"}


def parse_document(data: bytes, *, name: str = "<bytes>", tree: etree._ElementTree | None = None) -> DocumentMetadata:
    """Metadata of one document; raises only what ``parse_xml`` raises for non-XML input."""
    if tree is None:
        tree = parse_xml(data, name=name)
    root = tree.getroot()
    qname = etree.QName(root)
    ns, local = qname.namespace, qname.localname
    if (ns, local) in _UBL_ROOTS:
        return _parse_ubl(root, ns, local)
    if ns == NS["sh"] and local == "StandardBusinessDocument":
        return _parse_envelope(root, ns, local)
    if ns == NS["edefter"] and local in ("defter", "berat"):
        return _parse_edefter(root, ns, local)
    return DocumentMetadata(kind="other", root=local, namespace=ns, signed=_signed(root))


def document_supplier(data: bytes, *, name: str = "<bytes>", tree: etree._ElementTree | None = None) -> Party | None:
    """``parse_document(...).supplier``, without reading the rest of a UBL document.

    Signature inspection compares the signer with the supplier for every document; the full
    metadata (texts, amounts, references) would cost it a tenth of its time again.
    """
    if tree is None:
        tree = parse_xml(data, name=name)
    root = tree.getroot()
    qname = etree.QName(root)
    if (qname.namespace, qname.localname) in _UBL_ROOTS:
        parties = [p for p in _ubl_parties(root, []) if p.role in ("supplier", "despatch-supplier", "sender")]
        return DocumentMetadata(kind="other", root=qname.localname, namespace=qname.namespace,
                                parties=tuple(parties)).supplier
    return parse_document(data, name=name, tree=tree).supplier


# --- UBL-TR ---------------------------------------------------------------------------


def _parse_ubl(root: etree._Element, ns: str, local: str) -> DocumentMetadata:
    flags: list[str] = []
    kind, type_field = _UBL_ROOTS[(ns, local)]
    profile = _TEXT["ProfileID"](root) or None
    if profile is None or profile.upper() not in KNOWN_PROFILES:
        flags.append("unknown-profile")
    if kind is None:
        kind = {"EARSIVFATURA": "e-arsiv", "EARSIVBELGE": "e-smm"}.get((profile or "").upper(), "e-fatura")
    type_code = (_TEXT[type_field](root) if type_field else _RESPONSE_CODE(root)) or None

    doc_id = _TEXT["ID"](root) or None
    if is_placeholder(doc_id):
        flags.append("id-placeholder")
    elif local in _NUMBERED and not ID_PATTERN.match(doc_id):
        flags.append("id-pattern")
    ettn = _TEXT["UUID"](root) or None
    if not ettn or not ETTN_PATTERN.match(ettn):
        flags.append("ettn-pattern")

    issue_date = _date(_TEXT["IssueDate"](root) if _HAS["IssueDate"](root) else None, "issue-date", flags)
    issue_time = _TEXT["IssueTime"](root) if _HAS["IssueTime"](root) else None
    if issue_time is not None and not _TIME.match(issue_time):
        flags.append("issue-time")

    payable, pay_currency = _amount(_PAYABLE(root), flags)
    tax = _sum_amounts(_TAX_AMOUNTS(root), flags)
    currency = _TEXT["DocumentCurrencyCode"](root) or pay_currency

    parties = _ubl_parties(root, flags)
    despatch_date = None
    if local == "DespatchAdvice":
        despatch_date = _date(_DESPATCH_DATE(root) or None, "despatch-date", flags)
    split = split_invoice_id(doc_id)
    texts = [p.name for p in parties if p.name]
    texts += [t.strip() for t in _ITEM_NAMES(root)]
    texts += [t.strip() for t in _NOTES(root)]
    return DocumentMetadata(
        kind=kind,
        root=local,
        namespace=ns,
        profile=profile,
        type_code=type_code,
        doc_id=doc_id,
        ettn=ettn,
        issue_date=issue_date,
        issue_time=issue_time,
        currency=currency or None,
        payable_amount=payable,
        tax_amount=tax,
        series=split[0] if split else None,
        year=split[1] if split else None,
        sequence=split[2] if split else None,
        parties=tuple(parties),
        references=tuple(_ubl_references(root)),
        despatch_date=despatch_date,
        signed=_signed(root),
        stylesheets=int(_STYLESHEETS(root)),
        line_count=int(_LINES(root)),
        texts=_dedupe(texts),
        flags=_dedupe(flags),
    )


def _ubl_parties(root: etree._Element, flags: list[str]) -> list[Party]:
    parties = []
    for element, role in _PARTY_ROLES:
        for holder in root.iterchildren(f"{{{NS['cac']}}}{element}"):
            # Invoices wrap the party (…Party/cac:Party); ApplicationResponse's SenderParty is one.
            party = next(iter(_PARTY_CHILD(holder)), holder)
            scheme, pid = _party_id(party)
            name = _PARTY_NAME(party) or _PERSON_NAME(party) or None
            parties.append(Party(role=role, scheme=scheme, id=pid, name=name))
            flags.extend(f"{flag}:{role}" for flag in classify_party_id(scheme, pid))
    return parties


def _party_id(party: etree._Element) -> tuple[str | None, str | None]:
    """The VKN/TCKN identification if there is one, else the first identification."""
    first = None
    for node in _PARTY_IDS(party):
        scheme = (node.get("schemeID") or "").strip() or None
        value = _WS.sub("", node.text or "") or None
        if scheme and scheme.upper() in ("VKN", "TCKN"):
            return scheme.upper(), value
        if first is None and value:
            first = (scheme, value)
    return first or (None, None)


def _ubl_references(root: etree._Element) -> list[Reference]:
    refs = []
    for path, kind in _REF_PATHS:
        for node in path(root):
            rid = _REF_ID(node) or None
            uuid = _REF_UUID(node) or None
            # Waybill answers often put the waybill's ETTN in cbc:ID.
            ettn = uuid or (rid if rid and ETTN_PATTERN.match(rid) else None)
            if rid or ettn:
                refs.append(Reference(type=kind, id=rid, ettn=ettn))
    return refs


# --- envelopes ------------------------------------------------------------------------


def _parse_envelope(root: etree._Element, ns: str, local: str) -> DocumentMetadata:
    flags: list[str] = []
    parties: list[Party] = []
    header = next(iter(_SBDH(root)), None)
    instance = type_code = created = None
    if header is not None:
        instance = _SB_TEXT["InstanceIdentifier"](header) or None
        type_code = _SB_TEXT["Type"](header) or None
        created = _SB_TEXT["CreationDateAndTime"](header) or None
        for role in ("sender", "receiver"):
            holder = header.find(f"{{{NS['sh']}}}{role.capitalize()}")
            if holder is not None:
                parties.extend(_envelope_parties(holder, role, flags))
    # CreationDateAndTime is an xs:dateTime: the date and the time as written after the 'T'.
    issue_date = _date(created[:10] if created else None, "issue-date", flags)
    issue_time = created[11:] or None if created else None
    refs = []
    for doc in _SB_CONTENTS(root):
        rid = _TEXT["ID"](doc) or None
        uuid = _TEXT["UUID"](doc) or None
        if rid or uuid:
            refs.append(Reference(type="envelope-content", id=rid, ettn=uuid))
    return DocumentMetadata(
        kind="zarf",
        root=local,
        namespace=ns,
        profile=_SB_ELEMENT_TYPE(root) or None,
        type_code=type_code,
        ettn=instance,
        issue_date=issue_date,
        issue_time=issue_time,
        parties=tuple(parties),
        references=tuple(refs),
        signed=_signed(root),
        texts=_dedupe([p.name for p in parties if p.name]),
        flags=_dedupe(flags),
    )


def _envelope_parties(holder: etree._Element, role: str, flags: list[str]) -> list[Party]:
    """The VKN/TCKN party first (what inspectors search), then the mailbox alias."""
    name = _SB_CONTACT(holder, t="UNVAN") or None
    number = _WS.sub("", _SB_CONTACT(holder, t="VKN_TCKN")) or None
    identifier = _SB_IDENTIFIER(holder) or None
    out = []
    if number:
        scheme = "TCKN" if len(number) == 11 else "VKN"
        out.append(Party(role=role, scheme=scheme, id=number, name=name))
        flags.extend(f"{flag}:{role}" for flag in classify_party_id(scheme, number))
    if identifier and identifier != number:
        out.append(Party(role=role, scheme="SBDH", id=identifier, name=name))
    return out


# --- e-Defter -------------------------------------------------------------------------


def _parse_edefter(root: etree._Element, ns: str, local: str) -> DocumentMetadata:
    """Ledger (``edefter:defter``) or berat (``edefter:berat``).

    The seal links a ledger to its berats: sha256 (hex) of the ledger's
    ``ds:Signature/ds:SignatureValue`` with whitespace removed; a berat carries
    a copy of that value as ``/edefter:berat/ds:SignatureValue``, so both get
    the same seal.  A berat that carries a ``HashValue`` instead has no seal.

    GİB approval: edefter.xsd gives a berat exactly one ``ds:Signature`` child,
    the taxpayer's.  GİB approves a berat by sealing it with its own mali mühür,
    and the only place the schema leaves for that second signature is a XAdES
    counter-signature inside the taxpayer's signature
    (``xades:UnsignedSignatureProperties/xades:CounterSignature/ds:Signature``).
    A berat is therefore taken as GİB-approved when it carries any
    ``ds:Signature`` besides its top-level one.  This is structural: whether
    that signature is valid and really GİB's (signer VKN 3900383669) is for
    signature inspection to establish, not for the parser.
    """
    flags: list[str] = []
    xbrl = next(iter(_ED_XBRL(root)), None)
    is_berat = local == "berat"
    if xbrl is None:
        flags.append("edefter-structure")
        info = EDefterInfo(None, None, None, None, None, None, None, None)
        kind = "berat" if is_berat else "other"
        return DocumentMetadata(kind=kind, root=local, namespace=ns, edefter=info, signed=_signed(root),
                                flags=tuple(flags))

    entries_type = _ED_INFO["entriesType"](xbrl)
    ledger_type = _EDEFTER_KINDS.get(entries_type)
    if ledger_type is None:
        flags.append("edefter-entries-type")
    kind = "berat" if is_berat else (ledger_type or "other")
    control = _ED_INFO["uniqueID"](xbrl) or None
    if control is None or not _CONTROL_NUMBER.match(control):
        flags.append("edefter-control-number")
    vkn = _ED_VKN(xbrl) or None
    scheme = "TCKN" if vkn and len(vkn) == 11 else "VKN"
    flags.extend(f"{flag}:owner" for flag in classify_party_id(scheme, vkn))
    period_start = _date(_ED_INFO["periodCoveredStart"](xbrl)[:10] or None, "edefter-period", flags)
    period_end = _date(_ED_INFO["periodCoveredEnd"](xbrl)[:10] or None, "edefter-period", flags)
    created = _ED_INFO["creationDate"](xbrl)
    issue_date = _date(created[:10] or None, "issue-date", flags)

    sig_values = (_ED_BERAT_SIGVALUE if is_berat else _ED_LEDGER_SIGVALUE)(root)
    seal = None
    if sig_values:
        seal = hashlib.sha256(_WS.sub("", "".join(sig_values)).encode("ascii", "replace")).hexdigest()
    elif is_berat:
        flags.append("berat-no-seal")
    gib_approved = False
    if is_berat:
        signatures = root.iter(_DS_SIGNATURE)
        gib_approved = next(signatures, None) is not None and next(signatures, None) is not None
        entries = _ED_ENTRIES(xbrl)
        entry_count = int(entries) if entries.isdigit() else None
    else:
        entry_count = int(_ED_HEADERS(xbrl))
    info = EDefterInfo(
        vkn=vkn,
        period_start=period_start,
        period_end=period_end,
        ledger_type=ledger_type,
        control_number=control,
        berat_guid=(_ED_SEGMENT_ID(xbrl) or None) if is_berat else None,
        entry_count=entry_count,
        seal=seal,
        gib_approved=gib_approved,
    )
    name = _ED_ORG_NAME(xbrl) or None
    currency = _ED_CURRENCY(xbrl) or _ED_MEASURE(xbrl)
    refs = (Reference(type="berat-of", id=control),) if is_berat and control else ()
    return DocumentMetadata(
        kind=kind,
        root=local,
        namespace=ns,
        type_code=entries_type or None,
        doc_id=control,
        issue_date=issue_date,
        currency=currency.removeprefix("iso4217:") or None,
        parties=(Party(role="owner", scheme=scheme if vkn else None, id=vkn, name=name),),
        references=refs,
        edefter=info,
        signed=_signed(root),
        line_count=int(_ED_DETAILS(xbrl)),
        texts=_dedupe([name or "", *(t.strip() for t in _ED_ACCOUNTANT(xbrl))]),
        flags=_dedupe(flags),
    )


# --- helpers --------------------------------------------------------------------------


def _signed(root: etree._Element) -> bool:
    return next(root.iter(_DS_SIGNATURE), None) is not None


def _date(text: str | None, flag: str, flags: list[str]) -> dt.date | None:
    if text is None:
        return None
    m = _DATE.match(text)
    try:
        return dt.date.fromisoformat(m.group(1)) if m else _fail(flag, flags)
    except ValueError:
        return _fail(flag, flags)


def _fail(flag: str, flags: list[str]) -> None:
    flags.append(flag)


def _amount(nodes: list, flags: list[str]) -> tuple[Decimal | None, str | None]:
    if not nodes:
        return None, None
    node = nodes[0]
    currency = (node.get("currencyID") or "").strip() or None
    return _decimal(node.text, flags), currency


def _sum_amounts(nodes: list, flags: list[str]) -> Decimal | None:
    values = [_decimal(n.text, flags) for n in nodes]
    values = [v for v in values if v is not None]
    return sum(values, Decimal(0)) if values else None


def _decimal(text: str | None, flags: list[str]) -> Decimal | None:
    try:
        value = Decimal(_WS.sub("", text or ""))
    except InvalidOperation:
        flags.append("amount")
        return None
    if not value.is_finite():
        flags.append("amount")
        return None
    return value


def _dedupe(items) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))
