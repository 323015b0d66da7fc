"""Consistent, trusted, signed by the supplier: three answers, each able to fail (issue 17 item 11).

A test CA made here (``cryptography``) stands in for Kamu SM's mali mühür hierarchy: a root,
an issuing CA, seals with a VKN in subject serialNumber.  xmlsec1 is the oracle that every
synthetic signature below is really consistent, so "untrusted" is never the result of a
signature that is merely broken.  The corpus's real invoices (issued by Kamu SM's "Mali
Mühür Elektronik Sertifika Hizmet Sağlayıcısı - Sürüm 1/2/3") are the real test set: with no
Kamu SM root obtainable here they are consistent and untrusted, and their signer is an
integrator's seal, not the supplier.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree

from earsiv.documents.certchain import TrustAnchors, evaluate_chain
from earsiv.documents.signature import inspect_signature, signer_identifiers
from earsiv.documents.sigwords import signature_words
from tests.unit.documents.test_signature import (
    CORPUS,
    DS,
    INVOICE,
    XMLSEC1,
    need_corpus,
    sign,
    signed_corpus_files,
    xmlsec1_verifies,
)

UTC = dt.UTC
SUPPLIER_VKN = "1234567803"
OTHER_VKN = "9876543219"
SIGNED_AT = "2021-03-04T10:00:00+03:00"
pytestmark = pytest.mark.filterwarnings("ignore:Attribute's length must be:UserWarning")


def at(year: int) -> dt.datetime:
    return dt.datetime(year, 1, 1, tzinfo=UTC)


Y2015, Y2020, Y2023, Y2035 = at(2015), at(2020), at(2023), at(2035)


def _name(cn: str, serial: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "TR"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if serial:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(attrs)


@functools.cache
def key(label: str) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def certificate(subject: x509.Name, subject_key, issuer: x509.Name | None = None, issuer_key=None, *,
                ca: bool, not_before=Y2015, not_after=Y2035) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer or subject)
               .public_key(subject_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    return builder.sign(issuer_key or subject_key, hashes.SHA256())


ROOT_NAME = _name("Deneme Kök Sertifika Hizmet Sağlayıcısı")
ISSUING_NAME = _name("Deneme Mali Mühür Elektronik Sertifika Hizmet Sağlayıcısı")


@functools.cache
def root() -> x509.Certificate:
    return certificate(ROOT_NAME, key("root"), ca=True)


@functools.cache
def issuing(not_after=Y2035) -> x509.Certificate:
    return certificate(ISSUING_NAME, key("issuing"), ROOT_NAME, key("root"), ca=True, not_after=not_after)


def seal(vkn: str = SUPPLIER_VKN, *, not_before=Y2020, not_after=Y2023, issuer_name=ISSUING_NAME,
         issuer_key_label="issuing", ca=False) -> x509.Certificate:
    return certificate(_name("Deneme Satıcı A.Ş.", vkn), key("seal"), issuer_name, key(issuer_key_label),
                       ca=ca, not_before=not_before, not_after=not_after)


def invoice(supplier: str = SUPPLIER_VKN) -> str:
    party = (f'<cac:AccountingSupplierParty><cac:Party><cac:PartyIdentification><cbc:ID schemeID="VKN">{supplier}'
             f"</cbc:ID></cac:PartyIdentification></cac:Party></cac:AccountingSupplierParty>\n  <cac:InvoiceLine>")
    return INVOICE.replace("<cac:InvoiceLine>", party, 1)


def carrying(signed: bytes, *extra: x509.Certificate) -> bytes:
    """*signed* with more certificates in KeyInfo (outside what the references cover)."""
    tree = etree.fromstring(signed).getroottree()
    data = tree.getroot().find(f".//{{{DS}}}X509Data")
    for cert in extra:
        el = etree.SubElement(data, f"{{{DS}}}X509Certificate")
        el.text = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def signed_by(cert: x509.Certificate, *, supplier: str = SUPPLIER_VKN, when: str = SIGNED_AT,
              signer_key: str = "seal") -> bytes:
    return sign(key(signer_key), cert, doc=invoice(supplier), signing_time=when)


def consistent_per_oracle(data: bytes, tmp_path) -> None:
    if XMLSEC1:
        assert xmlsec1_verifies(data, tmp_path)


ROOTS = TrustAnchors.of([root()])


# ---------------------------------------------------------------- the three answers


def test_a_seal_of_a_configured_hierarchy_signed_by_the_supplier(tmp_path):
    data = carrying(signed_by(seal()), issuing())
    consistent_per_oracle(data, tmp_path)
    report = inspect_signature(data, trust=ROOTS)
    assert (report.status, report.trust, report.trust_reason, report.signer) == \
        ("consistent", "trusted", None, "supplier")
    assert len(report.chain) == 3 and "Kök" in report.chain[-1]
    assert report.trust_store == ROOTS.id != "none"
    assert signature_words(report.status, report.trust, report.trust_reason, report.signer) == \
        "tutarlı, güvenilir kök, imzacı = satıcı"


def test_an_intermediate_from_the_trust_store_completes_the_chain(tmp_path):
    data = signed_by(seal())  # KeyInfo carries the seal alone, as every real invoice does
    assert inspect_signature(data, trust=ROOTS).trust_reason == "unknown-root"
    with_issuing = TrustAnchors.of([root(), issuing()])
    assert inspect_signature(data, trust=with_issuing).trust == "trusted"


def test_a_self_signed_certificate_is_consistent_and_untrusted(tmp_path):
    self_signed = certificate(_name("Kendi Kendine A.Ş.", SUPPLIER_VKN), key("seal"), ca=False,
                              not_before=at(2020), not_after=at(2023))
    data = signed_by(self_signed)
    consistent_per_oracle(data, tmp_path)
    report = inspect_signature(data, trust=ROOTS)
    assert (report.status, report.trust, report.trust_reason) == ("consistent", "untrusted", "unknown-root")
    assert "self-signed" in report.details[-1]
    # what the issue found: it used to be reported "valid" and printed "geçerli"
    words = signature_words(report.status, report.trust, report.trust_reason, report.signer)
    assert "geçerli" not in words.lower() and "güvenilir köke bağlanmıyor" in words
    # carried in KeyInfo, a root is still no root: only configured ones are
    assert inspect_signature(carrying(data, self_signed), trust=ROOTS).trust == "untrusted"


def test_no_configured_root_says_so():
    report = inspect_signature(carrying(signed_by(seal()), issuing(), root()))
    assert (report.trust, report.trust_reason, report.trust_store) == ("untrusted", "no-configured-root", "none")
    assert signature_words("consistent", report.trust, report.trust_reason, report.signer, lang="en") == \
        "consistent; untrusted: no configured root; signer is the supplier"


def test_a_seal_expired_at_signing_time_is_untrusted(tmp_path):
    data = carrying(signed_by(seal(not_after=at(2021)), when="2021-06-01T10:00:00+03:00"), issuing())
    consistent_per_oracle(data, tmp_path)
    report = inspect_signature(data, trust=ROOTS)
    assert (report.status, report.trust, report.trust_reason) == ("consistent", "untrusted", "not-valid-at-signing")
    assert report.cert_valid_at_signing is False


def test_a_seal_expired_today_but_valid_at_signing_time_is_trusted():
    # what nearly every archived invoice is: the seal ran out in 2023, it signed in 2021
    report = inspect_signature(carrying(signed_by(seal(not_after=at(2023))), issuing()), trust=ROOTS)
    assert report.trust == "trusted" and report.cert_not_after < dt.datetime.now(UTC)


def test_an_issuing_ca_expired_at_signing_time_is_untrusted():
    short = certificate(ISSUING_NAME, key("issuing"), ROOT_NAME, key("root"), ca=True, not_after=at(2021))
    report = inspect_signature(carrying(signed_by(seal()), short), trust=ROOTS)
    assert report.trust_reason == "not-valid-at-signing"
    assert "Deneme Mali Mühür" in report.details[-1]


def test_a_signer_whose_vkn_is_not_the_suppliers(tmp_path):
    data = carrying(signed_by(seal(OTHER_VKN)), issuing())
    consistent_per_oracle(data, tmp_path)
    report = inspect_signature(data, trust=ROOTS)
    assert (report.trust, report.signer, report.signer_id) == ("trusted", "other", OTHER_VKN)
    assert signature_words("consistent", report.trust, None, report.signer) == "tutarlı, güvenilir kök, imzacı ≠ satıcı"


def test_a_signer_without_vkn_or_a_document_without_supplier_is_unknown():
    no_id = certificate(_name("Kimliksiz"), key("seal"), ISSUING_NAME, key("issuing"), ca=False,
                        not_before=at(2020), not_after=at(2023))
    assert inspect_signature(carrying(signed_by(no_id), issuing()), trust=ROOTS).signer == "unknown"
    no_supplier = sign(key("seal"), seal(), doc=INVOICE, signing_time=SIGNED_AT)
    assert inspect_signature(no_supplier, trust=ROOTS).signer == "unknown"


def test_a_forged_issuer_with_the_right_name_does_not_link():
    # the issuing CA's name, claiming the configured root as issuer, made with another key:
    # every name matches, the link to the root fails its signature check
    forged_issuing = certificate(ISSUING_NAME, key("forger"), ROOT_NAME, key("forger"), ca=True)
    forged_seal = seal(issuer_key_label="forger")
    report = inspect_signature(carrying(signed_by(forged_seal), forged_issuing), trust=ROOTS)
    assert report.trust_reason == "unknown-root"


def test_a_seal_cannot_issue_a_seal():
    # a leaf (cA false) of the real hierarchy "issues" another certificate
    leaf_name = _name("Deneme Satıcı A.Ş.", SUPPLIER_VKN)
    sub = certificate(_name("Alt", OTHER_VKN), key("sub"), leaf_name, key("seal"), ca=False,
                      not_before=at(2020), not_after=at(2023))
    data = carrying(signed_by(sub, signer_key="sub"), seal(), issuing())
    report = inspect_signature(data, trust=ROOTS)
    assert report.status == "consistent" and report.trust_reason == "not-a-ca"


def test_without_signing_time_the_chain_is_not_judged():
    verdict = evaluate_chain(seal(), [issuing()], None, ROOTS)
    assert (verdict.trusted, verdict.reason) == (False, "no-signing-time")


def test_an_inconsistent_signature_gets_no_trust_or_signer_verdict():
    data = carrying(signed_by(seal()), issuing()).replace(b"1234.56", b"1234.57")
    report = inspect_signature(data, trust=ROOTS)
    assert (report.status, report.trust, report.signer) == ("invalid", None, None)


@pytest.mark.parametrize(("serial", "found"), [("1234567803", {"1234567803"}), ("TCKN12345678950", {"12345678950"}),
                                               ("VKN:1234567803", {"1234567803"}), ("ABC", set())])
def test_signer_identifiers_read_the_forms_turkish_certificates_use(serial, found):
    cert = certificate(_name("x", serial), key("seal"), ca=False)
    assert signer_identifiers(cert) == found


# ---------------------------------------------------------------- the corpus: real mali mühür seals


REAL_ISSUERS = {f"Mali Mühür Elektronik Sertifika Hizmet Sağlayıcısı - Sürüm {n}" for n in (1, 2, 3)}


def test_real_invoices_are_consistent_untrusted_and_mostly_not_signed_by_the_supplier():
    need_corpus()
    reports = {}
    for rel in signed_corpus_files():
        report = inspect_signature((CORPUS / rel).read_bytes(), name=rel)
        if report.status == "consistent":
            reports[rel] = report
    assert len(reports) >= 19
    # No Kamu SM e-seal root could be shipped: every one says so, none is called trusted.
    assert {(r.trust, r.trust_reason) for r in reports.values()} == {("untrusted", "no-configured-root")}
    # With a root configured that is not theirs, the chain does not reach it.
    for rel in list(reports)[:3]:
        assert inspect_signature((CORPUS / rel).read_bytes(), trust=ROOTS).trust_reason == "unknown-root"
    # The real seals are Kamu SM's issuing CAs', and KeyInfo carries no chain above the seal.
    for rel in reports:
        tree = etree.parse(str(CORPUS / rel))
        certs = [x509.load_der_x509_certificate(base64.b64decode("".join(c.text.split())))
                 for c in tree.iter(f"{{{DS}}}X509Certificate")]
        assert {c.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value for c in certs} <= REAL_ISSUERS
        assert all(c.issuer != c.subject for c in certs)
    # Real e-Fatura seals here are the integrators' (özel entegratör), not the supplier's.
    invoices = {rel: r for rel, r in reports.items() if rel.startswith("efatura/") and "/" not in rel[8:]}
    assert len(invoices) >= 15 and {r.signer for r in invoices.values()} == {"other"}


def test_the_supplier_compared_is_the_one_the_index_shows():
    # document_supplier reads only the parties; it must agree with the full parse on every file
    from earsiv.documents.errors import DocumentError
    from earsiv.documents.parse import document_supplier, parse_document
    from tests.conftest import corpus_files

    need_corpus()
    compared = 0
    for path in corpus_files():
        data = path.read_bytes()
        try:
            expected = parse_document(data, name=path.name).supplier
        except DocumentError:
            continue
        assert document_supplier(data, name=path.name) == expected, path.name
        compared += expected is not None
    assert compared >= 50
