"""Does the document's XML signature (XMLDSig / XAdES-BES) hold, who made it, and is it trusted?

Three answers, kept apart (issue 17): the signature is *consistent* (steps 1-5 below: the
bytes match it), *trusted* (step 6: the signer certificate chains at signing time to a
configured root, ``certchain.py``) and *made by the supplier* (step 7: the certificate's
VKN/TCKN is the supplier party's).  "consistent" is what xmlsec1 --insecure says; it is
never called "valid", because any self-signed certificate makes a consistent signature.

The answer must agree with ``xmlsec1 --verify --insecure --id-attr:Id
SignedProperties --enabled-key-data x509`` (our oracle in the tests), so the
choices below mirror xmlsec1 where the standard leaves room:

* the signature checked is the first ``ds:Signature`` in document order;
  counter-signatures nested in it belong to it, other signatures beside it
  make the report ``unverifiable`` (we cannot tell which one is the signer's);
* ``#name`` references resolve, in this order of precedence, ``xml:id``
  anywhere, ``Id`` on any ``SignedProperties`` element, and ``Id`` on any
  element inside the signature.  ``ID``/``id`` attributes elsewhere are not
  ids for xmlsec1 and not for us (resolving more than the verifier others use
  would let a document we call valid fail everywhere else);
* the key is that of the first certificate in ``ds:X509Data`` that issued no
  other certificate there; the chain is not checked (``--insecure``): an
  archive keeps documents whose certificates expired long ago, so the facts
  that matter are reported instead (validity at ``xades:SigningTime``).

Where we deliberately say less than xmlsec1 (it reports valid, we do not):
signatures side by side, a reference without URI, a XAdES SigningCertificate
digest that is not the signer certificate's (xmlsec1 does not read XAdES).

Nothing is fetched and nothing in the document is executed: XPath, XSLT and
external references make the report ``unverifiable``.  Canonicalisation is
libxml2's C14N 1.0 through lxml, the same code xmlsec1 runs.

Verification steps (the numbers appear in the code):
  1. structure of ``ds:SignedInfo``;  2. the signer certificate;
  3. every ``ds:Reference`` digest;   4. ``ds:SignatureValue``;
  5. XAdES signed properties (signing time, signing certificate digest);
  6. trust: the chain at signing time (only for a consistent signature);
  7. signer: the certificate's VKN/TCKN against the supplier's.

Why one module of some 570 lines: it is one verification procedure, read against xmlsec1's
behaviour step by step, and its parts (reference resolution, transforms, C14N, the signer
certificate, XAdES) share the same small private vocabulary of namespaces, limits and
refusals.  Split, each part would import the others' private names; together, a reviewer
checks one procedure in one place.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import re
import warnings
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from lxml import etree

from earsiv.documents.certchain import TrustAnchors, evaluate_chain
from earsiv.documents.metadata import SignatureReport
from earsiv.documents.parse import document_supplier
from earsiv.documents.xmlsafe import parse_xml

__all__ = ["MAX_CERTIFICATES", "MAX_REFERENCES", "MAX_TRANSFORMS", "NO_ROOTS", "inspect_signature",
           "signer_identifiers"]

# Real UBL-TR signatures carry two references and one to three certificates;
# the bounds keep a hostile signature from costing one canonicalisation each.
MAX_REFERENCES = 16
MAX_TRANSFORMS = 4
MAX_CERTIFICATES = 16

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES_PREFIX = "http://uri.etsi.org/01903/"
XML_NS = "{http://www.w3.org/XML/1998/namespace}"
XML_ID = XML_NS + "id"
EXC_NS = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = DS + "enveloped-signature"
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"
TURKEY = ZoneInfo("Europe/Istanbul")

# algorithm URI -> (exclusive, with_comments, version)
C14N: dict[str, tuple[bool, bool, str]] = {
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315": (False, False, "1.0"),
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments": (False, True, "1.0"),
    "http://www.w3.org/2006/12/xml-c14n11": (False, False, "1.1"),
    "http://www.w3.org/2006/12/xml-c14n11#WithComments": (False, True, "1.1"),
    EXC_NS: (True, False, "exc"),
    EXC_NS + "WithComments": (True, True, "exc"),
}
DIGESTS: dict[str, str] = {
    DS + "sha1": "sha1",
    "http://www.w3.org/2001/04/xmldsig-more#sha224": "sha224",
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}
_HASHES = {"sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
           "sha384": hashes.SHA384, "sha512": hashes.SHA512}
_MORE = "http://www.w3.org/2001/04/xmldsig-more#"
SIGNATURE_METHODS: dict[str, tuple[str, str]] = {
    DS + "rsa-sha1": ("rsa", "sha1"),
    DS + "dsa-sha1": ("dsa", "sha1"),
    "http://www.w3.org/2009/xmldsig11#dsa-sha256": ("dsa", "sha256"),
    **{_MORE + f"rsa-{h}": ("rsa", h) for h in ("sha224", "sha256", "sha384", "sha512")},
    **{_MORE + f"ecdsa-{h}": ("ecdsa", h) for h in ("sha1", "sha224", "sha256", "sha384", "sha512")},
}


_SIGNATURE_CHILDREN = re.compile(r"SignedInfo SignatureValue( KeyInfo)?( Object)*")


# Turkish seal certificates routinely carry CNs longer than the 64 characters
# RFC 5280 allows and cryptography warns about each one.  A filter, not
# warnings.catch_warnings(), because the latter is not thread-safe.
warnings.filterwarnings("ignore", message="Attribute's length must be", category=UserWarning)


class _Unverifiable(Exception):
    """Something we do not (or must not) check; becomes status ``unverifiable``."""


class _Malformed(Exception):
    """The signature is not a well-formed XMLDSig signature; status ``invalid``."""


@dataclass
class _Outcome:
    failed: list[str] = field(default_factory=list)  # decisive: makes the report invalid
    unverifiable: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    references: int = 0
    covered: list = field(default_factory=list)  # elements whose reference digest matched
    signer: x509.Certificate | None = None
    carried: list = field(default_factory=list)  # every certificate in KeyInfo
    digests: dict = field(default_factory=dict)  # (uri, transforms, method) -> digest, for repeats


NO_ROOTS = TrustAnchors()


def inspect_signature(data: bytes, *, name: str = "<bytes>", tree=None,
                      trust: TrustAnchors = NO_ROOTS) -> SignatureReport:
    """Report on the first XML signature of *data* (or of *tree*, parsed from it).

    *trust*: the configured roots; with none, a consistent signature is reported
    ``untrusted`` for ``no-configured-root``, which is the honest answer.
    Never raises for a well-formed document; a document that is not
    well-formed raises what :func:`parse_xml` raises.  *tree* is only read.
    """
    if tree is None:
        tree = parse_xml(data, name=name)
    root = tree.getroot()
    signatures = list(root.iter(f"{{{DS}}}Signature"))
    if not signatures:
        return SignatureReport(status="unsigned")
    sig = signatures[0]
    beside = [s for s in signatures[1:] if not _is_inside(s, sig)]
    outcome = _Outcome()
    try:
        _verify(tree, sig, outcome, may_have_xml_id=_may_have_xml_id(data, tree))
    except _Malformed as exc:
        outcome.failed.append(f"malformed signature: {exc}")
    except _Unverifiable as exc:
        outcome.unverifiable.append(str(exc))
    except (ValueError, TypeError, etree.LxmlError, UnsupportedAlgorithm) as exc:
        outcome.unverifiable.append(f"cannot check the signature: {exc}")
    if beside:
        outcome.unverifiable.insert(0, f"{len(signatures)} signatures, {len(beside) + 1} of them side by side: "
                                       "cannot tell which one is the signer's")
    report = _report(outcome)
    if report.status == "consistent":
        report = _judge(report, outcome, trust, data, name, tree)
    return report


def _may_have_xml_id(data: bytes, tree) -> bool:
    # Saves a scan of the whole tree on nearly every document; only valid
    # when the encoding writes "xml:id" as those ASCII bytes.
    encoding = (tree.docinfo.encoding or "utf-8").lower().replace("_", "-")
    return b"xml:id" in data or encoding.startswith(("utf-16", "utf-32", "ucs", "utf16", "utf32"))


def _report(outcome: _Outcome) -> SignatureReport:
    if outcome.failed:
        status, reason = "invalid", "; ".join(outcome.failed)
    elif outcome.unverifiable:
        status, reason = "unverifiable", "; ".join(outcome.unverifiable)
    else:
        status, reason = "consistent", None
    details = outcome.details + [f"also: {r}" for r in (outcome.unverifiable if outcome.failed else [])]
    return SignatureReport(status=status, reason=reason, references=outcome.references,
                           details=tuple(details), **outcome.facts)


def _verify(tree, sig, outcome: _Outcome, *, may_have_xml_id: bool) -> None:
    # 1. structure: Signature = SignedInfo, SignatureValue, ...;
    #    SignedInfo = CanonicalizationMethod, SignatureMethod, Reference+
    if not _SIGNATURE_CHILDREN.fullmatch(" ".join(etree.QName(c).localname if c.tag.startswith(f"{{{DS}}}")
                                                   else "?" for c in _elements(sig))):
        raise _Malformed("Signature must hold SignedInfo, SignatureValue, KeyInfo?, Object* in this order")
    signed_info = _child(sig, "SignedInfo", required=True)
    parts = _elements(signed_info)
    if len(parts) < 3 or parts[0].tag != f"{{{DS}}}CanonicalizationMethod" \
            or parts[1].tag != f"{{{DS}}}SignatureMethod":
        raise _Malformed("SignedInfo must start with CanonicalizationMethod, SignatureMethod")
    references = parts[2:]
    if any(r.tag != f"{{{DS}}}Reference" for r in references):
        raise _Malformed("SignedInfo holds something other than Reference after SignatureMethod")
    outcome.references = len(references)
    if len(references) > MAX_REFERENCES:
        raise _Unverifiable(f"{len(references)} references (more than {MAX_REFERENCES} are not checked)")
    c14n_alg = parts[0].get("Algorithm", "")
    sig_alg = parts[1].get("Algorithm", "")
    if c14n_alg not in C14N:
        raise _Unverifiable(f"SignedInfo canonicalisation {c14n_alg!r} is not supported")
    if sig_alg not in SIGNATURE_METHODS:
        raise _Unverifiable(f"signature method {sig_alg!r} is not supported")
    value_el = _child(sig, "SignatureValue", required=True)

    resolver = _IdResolver(tree, sig, may_have_xml_id=may_have_xml_id)

    # 2. signer certificate (xmlsec1 --insecure: no chain, no revocation)
    cert, outcome.carried = _signer_certificate(sig)
    outcome.signer = cert
    outcome.facts.update(_cert_facts(cert))

    # 3. references, all of them, so the reason names every one that fails
    for n, ref in enumerate(references, 1):
        _check_reference(tree, sig, ref, n, resolver, outcome)

    # 4. SignatureValue over the canonical SignedInfo
    octets = _canonicalise(signed_info, parts[0], with_comments_allowed=True)
    try:
        value = base64.b64decode("".join((value_el.text or "").split()), validate=True)
    except binascii.Error as exc:
        raise _Malformed(f"SignatureValue is not base64 ({exc})") from exc
    kind, hash_name = SIGNATURE_METHODS[sig_alg]
    failure = _signature_fails(cert.public_key(), kind, hash_name, value, octets)
    if failure:
        outcome.failed.append(failure)

    # 5. XAdES signed properties
    _check_xades(sig, cert, outcome)


def _check_reference(tree, sig, ref, n: int, resolver: _IdResolver, outcome: _Outcome) -> None:
    uri = ref.get("URI")
    what = _describe(ref, uri)
    try:
        digest_el = _child(ref, "DigestValue", required=True)
        method = _child(ref, "DigestMethod", required=True).get("Algorithm", "")
        if method not in DIGESTS:
            raise _Unverifiable(f"digest method {method!r} is not supported")
        enveloped, c14n_el = _plan_transforms(ref)
        target, with_comments = _dereference(tree, uri, resolver)
        key = (uri, enveloped, c14n_el.get("Algorithm"), _prefixes(c14n_el), method)
        if key not in outcome.digests:
            octets = _transform(sig, target, with_comments, enveloped, c14n_el)
            outcome.digests[key] = base64.b64encode(hashlib.new(DIGESTS[method], octets).digest()).decode()
    except _Unverifiable as exc:
        outcome.unverifiable.append(f"reference {n} ({what}): {exc}")
        return
    except _Malformed as exc:
        outcome.failed.append(f"reference {n} ({what}): {exc}")
        return
    if outcome.digests[key] != "".join((digest_el.text or "").split()):
        outcome.failed.append(f"reference {n} ({what}) digest does not match")
    elif isinstance(target, etree._Element):
        outcome.covered.append(target)


def _describe(ref, uri: str | None) -> str:
    if uri == "":
        return 'URI "", the document'
    if ref.get("Type") == SIGNED_PROPERTIES_TYPE:
        return f'URI "{uri}", SignedProperties'
    return f'URI "{uri}"' if uri is not None else "no URI"


_XPOINTER_ID = re.compile(r"""#xpointer\(id\((['"])([^'"]+)\1\)\)""")


def _dereference(tree, uri: str | None, resolver: _IdResolver):
    """Return (document or element, whether the node-set keeps comments)."""
    if uri is None:
        raise _Unverifiable("a reference without URI leaves it to the application what was signed")
    if uri == "":
        return tree, False
    if uri == "#xpointer(/)":
        return tree, True
    match = _XPOINTER_ID.fullmatch(uri)
    if match:
        return resolver.find(match.group(2)), True
    if uri.startswith("#") and len(uri) > 1 and "(" not in uri:
        return resolver.find(uri[1:]), False
    raise _Unverifiable("external or unsupported reference URI; nothing is fetched")


class _IdResolver:
    """``#name`` -> element, registering ids as xmlsec1 does (module docstring).

    Order matters where values repeat: ``xml:id`` (first one wins), then
    ``Id`` of SignedProperties (a value already taken makes xmlsec1 refuse
    the document), then ``Id`` inside the signature (first one wins).
    """

    def __init__(self, tree, sig, *, may_have_xml_id: bool) -> None:
        self._ids: dict[str, tuple] = {}
        if may_have_xml_id:
            for attr in tree.xpath("//@xml:id"):
                self._ids.setdefault(str(attr), (attr.getparent(), XML_ID))
        for el in tree.getroot().iter("{*}SignedProperties"):
            value = el.get("Id")
            if value is not None and self._ids.setdefault(value, (el, "Id")) != (el, "Id"):
                raise _Unverifiable(f"id {value!r} of a SignedProperties is already used by another element")
        for el in sig.iter():
            if isinstance(el.tag, str) and el.get("Id") is not None:
                self._ids.setdefault(el.get("Id"), (el, "Id"))

    def find(self, name: str):
        if name not in self._ids:
            raise _Unverifiable(f"no element with id {name!r}")
        return self._ids[name][0]


def _plan_transforms(ref) -> tuple[bool, etree._Element]:
    """Check the transform chain without running it: (enveloped?, the C14N method)."""
    transforms_el = _child(ref, "Transforms")
    transforms = [] if transforms_el is None else _elements(transforms_el)
    if len(transforms) > MAX_TRANSFORMS:
        raise _Unverifiable(f"{len(transforms)} transforms (more than {MAX_TRANSFORMS} are not checked)")
    enveloped, c14n_el = False, None
    for t in transforms:
        alg = t.get("Algorithm", "")
        if t.tag != f"{{{DS}}}Transform":
            raise _Malformed("Transforms holds something other than Transform")
        if c14n_el is not None:
            raise _Unverifiable(f"transform {alg!r} after canonicalisation is not supported")
        if alg == ENVELOPED:
            enveloped = True
        elif alg in C14N:
            c14n_el = t
        else:
            raise _Unverifiable(f"transform {alg!r} is not executed (only enveloped-signature and C14N are)")
    if c14n_el is None:  # a node-set becomes octets by C14N 1.0 without comments
        c14n_el = _DEFAULT_C14N
    return enveloped, c14n_el


_DEFAULT_C14N = etree.Element(f"{{{DS}}}Transform", Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315")


def _transform(sig, target, with_comments: bool, enveloped: bool, c14n_el) -> bytes:
    node = target.getroot() if isinstance(target, etree._ElementTree) else target
    if enveloped and _is_inside(node, sig):
        return b""
    if enveloped and _is_inside(sig, node):
        target = _copy_without(target, sig)
    return _canonicalise(target, c14n_el, with_comments_allowed=with_comments)


def _copy_without(target, sig):
    """A copy of *target* (tree or element) with *sig* taken out, text around it kept.

    A copy, not an unlink-and-restore of the caller's tree: lxml drops
    redundant namespace declarations when a subtree is re-inserted, so the
    caller would get back a (canonically equal but) different tree.
    """
    tree = target if isinstance(target, etree._ElementTree) else target.getroottree()
    twin = copy.deepcopy(tree)
    twin_sig = _follow(twin.getroot(), _index_path(sig))
    parent, tail, prev = twin_sig.getparent(), twin_sig.tail, twin_sig.getprevious()
    if tail:
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(twin_sig)
    if isinstance(target, etree._ElementTree):
        return twin
    return _follow(twin.getroot(), _index_path(target))


def _index_path(el) -> list[int]:
    path = []
    while (parent := el.getparent()) is not None:
        path.append(parent.index(el))
        el = parent
    return path[::-1]


def _follow(root, path: list[int]):
    for i in path:
        root = root[i]
    return root


def _canonicalise(target, method_el, *, with_comments_allowed: bool) -> bytes:
    exclusive, with_comments, version = C14N[method_el.get("Algorithm", "")]
    if not exclusive and isinstance(target, etree._Element):
        target = _with_inherited_xml_attrs(target, version)
    return etree.tostring(target, method="c14n", exclusive=exclusive,
                          with_comments=with_comments and with_comments_allowed,
                          inclusive_ns_prefixes=list(_prefixes(method_el)) if exclusive else None)


def _with_inherited_xml_attrs(node, version: str):
    """*node*, or a copy of it carrying the xml:* attributes inclusive C14N
    inherits from ancestors outside the subset (lxml's subtree serialiser
    renders only the namespaces in scope, not these)."""
    inherited: dict[str, str] = {}
    for ancestor in node.iterancestors():
        for key, value in ancestor.attrib.items():
            if key.startswith(XML_NS) and key not in node.attrib:
                inherited.setdefault(key, value)
    if version == "1.1":  # C14N 1.1: xml:id is not inherited, xml:base is joined
        inherited.pop(XML_ID, None)
        if XML_NS + "base" in inherited:
            raise _Unverifiable("C14N 1.1 of a subtree under an inherited xml:base is not supported")
    if not inherited:
        return node
    holder = etree.Element("holder", nsmap=node.nsmap)  # keeps every namespace in scope
    twin = copy.deepcopy(node)
    holder.append(twin)
    for key, value in inherited.items():
        twin.set(key, value)
    return twin


def _prefixes(method_el) -> tuple[str, ...]:
    inc = method_el.find(f"{{{EXC_NS}}}InclusiveNamespaces")
    return tuple((inc.get("PrefixList") or "").split()) if inc is not None else ()


def _signer_certificate(sig) -> tuple[x509.Certificate, list[x509.Certificate]]:
    key_info = _child(sig, "KeyInfo")
    blobs = [] if key_info is None else [
        c.text or "" for xd in key_info.iterchildren(f"{{{DS}}}X509Data")
        for c in xd.iterchildren(f"{{{DS}}}X509Certificate")]
    if not blobs:
        raise _Unverifiable("no X509Certificate in KeyInfo: no key to check the signature with")
    if len(blobs) > MAX_CERTIFICATES:
        raise _Unverifiable(f"{len(blobs)} certificates in KeyInfo (more than {MAX_CERTIFICATES})")
    try:
        certs = [x509.load_der_x509_certificate(base64.b64decode("".join(b.split()), validate=True))
                 for b in blobs]
    except (ValueError, binascii.Error) as exc:
        raise _Unverifiable(f"cannot read the certificate in KeyInfo ({exc})") from exc
    # The signer's is the first certificate that issued none of the others
    # (self-issued ones issue nothing here: a root, or the same one twice).
    issuers = [c for c in certs if c.issuer != c.subject]
    for cert in certs:
        if not any(o is not cert and o.issuer == cert.subject for o in issuers):
            return cert, certs
    raise _Unverifiable("the certificates in KeyInfo form a loop: no signer certificate")


def _cert_facts(cert: x509.Certificate) -> dict:
    try:
        subject = cert.subject.rfc4514_string()
    except ValueError:
        subject = None
    serials = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    signer_id = serials[0].value if serials else None
    return {
        "signer_subject": subject,
        "signer_id": signer_id if isinstance(signer_id, str) else None,
        "cert_not_before": cert.not_valid_before_utc,
        "cert_not_after": cert.not_valid_after_utc,
    }


def _judge(report: SignatureReport, outcome: _Outcome, trust: TrustAnchors, data: bytes, name: str,
           tree) -> SignatureReport:
    # 6. trust: the chain at the signing time the (now verified) signed properties state
    verdict = evaluate_chain(outcome.signer, outcome.carried, report.signing_time, trust)
    # 7. signer: every VKN/TCKN the certificate states, against the supplier's
    try:
        supplier = document_supplier(data, name=name, tree=tree)
    except ValueError:
        supplier = None
    supplier_id = _digits(supplier.id) if supplier is not None else None
    signer_ids = signer_identifiers(outcome.signer)
    if not supplier_id or not signer_ids:
        signer = "unknown"
    else:
        signer = "supplier" if supplier_id in signer_ids else "other"
    return replace(report, trust="trusted" if verdict.trusted else "untrusted", trust_reason=verdict.reason,
                   chain=verdict.chain, trust_store=trust.id, signer=signer,
                   details=(*report.details, f"trust: {verdict.detail}"))


# Where Turkish certificates state the holder's VKN/TCKN: subject serialNumber (Kamu SM's
# mali mühür: the VKN; nitelikli e-imza: the TCKN), sometimes with a prefix ("TCKN",
# "VKN", "TR"), and organizationIdentifier (2.5.4.97, ETSI EN 319 412-1: "VATTR-<VKN>",
# "NTRTR-<...>").
_ID_PREFIX = re.compile(r"^(?:TCKN|VKN|TR|VATTR-|NTRTR-|IDCTR-|PNOTR-)?:?\s*(\d{10,11})$", re.IGNORECASE)


def signer_identifiers(cert: x509.Certificate) -> frozenset[str]:
    """The VKN/TCKNs the certificate's subject states (10 or 11 digits)."""
    found = set()
    for oid in (NameOID.SERIAL_NUMBER, NameOID.ORGANIZATION_IDENTIFIER):
        for attr in cert.subject.get_attributes_for_oid(oid):
            value = attr.value if isinstance(attr.value, str) else ""
            match = _ID_PREFIX.match(value.strip())
            if match:
                found.add(match.group(1))
    return frozenset(found)


def _digits(value: str | None) -> str | None:
    value = (value or "").strip()
    return value if re.fullmatch(r"\d{10,11}", value) else None


def _signature_fails(key, kind: str, hash_name: str, value: bytes, octets: bytes) -> str | None:
    """Why *value* is not a signature of *octets* by *key*, or None if it is."""
    algorithm = _HASHES[hash_name]()
    try:
        if kind == "rsa" and isinstance(key, rsa.RSAPublicKey):
            key.verify(value, octets, padding.PKCS1v15(), algorithm)
        elif kind == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(_dss_der(value, (key.curve.key_size + 7) // 8), octets, ec.ECDSA(algorithm))
        elif kind == "dsa" and isinstance(key, dsa.DSAPublicKey):
            size = (key.parameters().parameter_numbers().q.bit_length() + 7) // 8
            key.verify(_dss_der(value, size), octets, algorithm)
        else:
            return f"the signature method is {kind.upper()} but the signer certificate's key is not"
    except InvalidSignature:
        return "SignatureValue does not verify with the signer certificate's key"
    return None


def _dss_der(value: bytes, size: int) -> bytes:
    # XML-DSig writes (r, s) as two fixed-width big-endian integers, r || s.
    if len(value) != 2 * size:
        raise InvalidSignature
    return encode_dss_signature(int.from_bytes(value[:size], "big"), int.from_bytes(value[size:], "big"))


def _check_xades(sig, cert: x509.Certificate, outcome: _Outcome) -> None:
    # Read the SignedProperties a verified reference covers, not merely the first one present.
    props = next((el for el in outcome.covered if el.tag.startswith("{" + XADES_PREFIX)
                  and etree.QName(el).localname == "SignedProperties"), None)
    if props is None:
        props = next((p for p in _own_descendants(sig, "SignedProperties")), None)
        if props is None:
            outcome.details.append("no XAdES SignedProperties (plain XMLDSig)")
            return
        outcome.details.append("XAdES SignedProperties are not covered by a verified reference")
    when = next((e for e in props.iter("{*}SigningTime") if e.tag.startswith("{" + XADES_PREFIX)), None)
    if when is not None:
        signing_time = _parse_datetime((when.text or "").strip())
        if signing_time is None:
            outcome.details.append(f"SigningTime {when.text!r} is not an xs:dateTime")
        else:
            if signing_time.tzinfo is None:
                outcome.details.append("SigningTime has no zone; read as Europe/Istanbul")
                signing_time = signing_time.replace(tzinfo=TURKEY)
            outcome.facts["signing_time"] = signing_time
            outcome.facts["cert_valid_at_signing"] = (
                cert.not_valid_before_utc <= signing_time <= cert.not_valid_after_utc)
    else:
        outcome.details.append("no XAdES SigningTime")
    _check_signing_certificate(props, cert, outcome)


def _check_signing_certificate(props, cert: x509.Certificate, outcome: _Outcome) -> None:
    holders = [e for e in props.iter("{*}SigningCertificate", "{*}SigningCertificateV2")
               if e.tag.startswith("{" + XADES_PREFIX)]
    if not holders:
        outcome.details.append("no XAdES SigningCertificate")
        return
    der = cert.public_bytes(Encoding.DER)
    digests = []
    for cert_digest in holders[0].iter("{*}CertDigest"):
        method = _child(cert_digest, "DigestMethod")
        value = _child(cert_digest, "DigestValue")
        alg = DIGESTS.get(method.get("Algorithm", "") if method is not None else "")
        if alg is None or value is None:
            continue
        actual = base64.b64encode(hashlib.new(alg, der).digest()).decode()
        digests.append(actual == "".join((value.text or "").split()))
    if not digests:
        outcome.unverifiable.append("XAdES SigningCertificate has no digest we can check")
    elif any(digests):
        outcome.details.append("XAdES SigningCertificate digest matches the signer certificate")
    else:
        outcome.failed.append("XAdES SigningCertificate digest does not match the certificate in KeyInfo")


_DATETIME = re.compile(r"(-?\d{4,})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?")


def _parse_datetime(text: str) -> dt.datetime | None:
    match = _DATETIME.fullmatch(text)
    if not match:
        return None
    year, month, day, hour, minute, second, frac, zone = match.groups()
    try:
        value = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                            int((frac or "0")[:6].ljust(6, "0")))
        if zone == "Z":
            return value.replace(tzinfo=dt.UTC)
        if zone:
            offset = dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
            return value.replace(tzinfo=dt.timezone(-offset if zone[0] == "-" else offset))
    except ValueError:  # month 13, hour 25, zone +24:00 ...
        return None
    return value


def _own_descendants(sig, local: str):
    """Descendants of *sig* named *local*, not those of nested counter-signatures."""
    for el in sig.iter(f"{{*}}{local}"):
        if next((a for a in el.iterancestors(f"{{{DS}}}Signature")), None) is sig:
            yield el


def _child(el, local: str, *, required: bool = False):
    found = el.find(f"{{{DS}}}{local}")
    if found is None and required:
        raise _Malformed(f"{etree.QName(el).localname} has no {local}")
    return found


def _elements(el) -> list:
    return [c for c in el if isinstance(c.tag, str)]


def _is_inside(node, ancestor) -> bool:
    return node is ancestor or any(a is ancestor for a in node.iterancestors())
