"""What full-text search reads of a document: its names and its body text (``extract_text``).

How those become words, and how a query matches them, is ``textterms``.
"""

from __future__ import annotations

from lxml import etree

from earsiv.documents.metadata import DocumentMetadata
from earsiv.documents.parse import NS
from earsiv.documents.textterms import MAX_BODY_CHARS, MAX_NAMES_CHARS, DocumentText, fold_turkish

__all__ = ["INSPECTABLE_ROLES", "MAX_BODY_CHARS", "MAX_NAMES_CHARS", "DocumentText", "extract_text", "fold_turkish"]

# Roles in which a taxpayer is the subject of a document an inspector may be granted.
INSPECTABLE_ROLES = frozenset({"supplier", "customer", "despatch-supplier", "delivery-customer", "owner"})


def _x(path: str) -> etree.XPath:
    return etree.XPath(path, namespaces=NS, smart_strings=False)


_PARTY_HOLDERS = (
    "AccountingSupplierParty", "AccountingCustomerParty", "DespatchSupplierParty", "DeliveryCustomerParty",
    "SenderParty", "ReceiverParty", "BuyerCustomerParty", "SellerSupplierParty", "OriginatorCustomerParty",
)
_PARTY_TEXT = _x(
    "|".join(f"/*/cac:{h}//cac:PartyName/cbc:Name/text() | /*/cac:{h}//cac:Person/cbc:FirstName/text()"
             f" | /*/cac:{h}//cac:Person/cbc:MiddleName/text() | /*/cac:{h}//cac:Person/cbc:FamilyName/text()"
             for h in _PARTY_HOLDERS)
)
# Line-level and document-level text of every UBL-TR kind; descendant axis so
# that lines of any kind (InvoiceLine, DespatchLine, SubInvoiceLine...) count.
_BODY_TEXT = _x(
    "//cac:Item/cbc:Name/text() | //cac:Item/cbc:Description/text()"
    " | //cbc:Note/text() | //cac:Item/cbc:BrandName/text() | //cac:Item/cbc:ModelName/text()"
)
# Where the parties are: people look for "the invoices from İSTANBUL / Kadıköy".
_ADDRESS_TEXT = _x(
    "|".join(f"/*/cac:{h}//cac:PostalAddress/cbc:CityName/text()"
             f" | /*/cac:{h}//cac:PostalAddress/cbc:CitySubdivisionName/text()"
             for h in _PARTY_HOLDERS)
)
# e-Defter ledgers: account names, entry and line comments, document descriptions.
_LEDGER_TEXT = _x(
    "//gl-cor:accountMainDescription/text() | //gl-cor:accountSubDescription/text()"
    " | //gl-cor:entryComment/text() | //gl-cor:detailComment/text()"
    " | //gl-bus:documentTypeDescription/text() | //gl-bus:organizationIdentifier/text()"
)
# Envelopes: the contact names of sender and receiver.
_ENVELOPE_TEXT = _x("//sh:Sender/sh:ContactInformation/sh:Contact/text() | //sh:Receiver/sh:ContactInformation/sh:Contact/text()")


def extract_text(tree, meta: DocumentMetadata) -> DocumentText:
    """(names, body) of a parsed document, each bounded in size; never raises on a parsed tree.

    names: every party name of *meta* plus the person names (first, middle,
    family) of the document's parties.  body: item names and descriptions,
    every ``cbc:Note``, the parties' cities and districts, ledger account names
    and comments, envelope contacts.
    """
    root = tree.getroot() if hasattr(tree, "getroot") else tree
    names = _Bounded(MAX_NAMES_CHARS)
    for party in meta.parties:
        if party.name:
            names.add(party.name)
    body = _Bounded(MAX_BODY_CHARS)
    try:
        names.extend(_PARTY_TEXT(root))
        body.extend(_ADDRESS_TEXT(root))  # first: a few words that a long item list must not crowd out
        body.extend(_BODY_TEXT(root))
        body.extend(_LEDGER_TEXT(root))
        body.extend(_ENVELOPE_TEXT(root))
    except etree.XPathError:  # pragma: no cover - compiled paths over a parsed tree do not fail
        pass
    return DocumentText(names.text(), body.text())


class _Bounded:
    """Distinct, whitespace-normalised strings up to a total size."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.parts: dict[str, None] = {}

    def add(self, text: object) -> None:
        if not isinstance(text, str) or self.size >= self.limit:
            return
        clean = " ".join(text.split())
        if not clean or clean in self.parts:
            return
        clean = clean[: self.limit - self.size]
        self.parts[clean] = None
        self.size += len(clean) + 1

    def extend(self, texts) -> None:
        for text in texts:
            if self.size >= self.limit:
                return
            self.add(text)

    def text(self) -> str:
        return "\n".join(self.parts)
