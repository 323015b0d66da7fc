"""Signature inspection, checked against xmlsec1 and against damage.

The oracle is ``xmlsec1 --verify --insecure --id-attr:Id SignedProperties
--enabled-key-data x509`` (DESIGN.md).  Synthetic documents are signed here by
hand, with keys and certificates made for the run; xmlsec1 confirms that they
really verify, so a bug shared by the signer below and the code under test
cannot pass unnoticed.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import functools
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from lxml import etree

from earsiv.documents.metadata import SignatureReport
from earsiv.documents.signature import MAX_REFERENCES, inspect_signature
from earsiv.documents.xmlsafe import parse_xml

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT.parent / "shared" / "corpus"
# Not well-formed (SOURCES.md): nothing to verify.
MALFORMED = {"efatura/responses/gibpkt_7_UYGULAMA_YANITI_IADE.xml", "eirsaliye/responses/izjv_draft-receiptAdvice.xml"}
XMLSEC1 = shutil.which("xmlsec1")
IN_CI = bool(os.environ.get("CI"))

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
C14N10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
EXT = "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2"
UTC = dt.UTC

# Real seal certificates carry CNs over RFC 5280's 64 characters; the module
# silences cryptography's warning, pytest's per-test filters bring it back.
pytestmark = pytest.mark.filterwarnings("ignore:Attribute's length must be:UserWarning")


def need_xmlsec1() -> str:
    if XMLSEC1 is None:
        if IN_CI:
            pytest.fail("xmlsec1 is required in CI (Debian package xmlsec1)")
        pytest.skip("xmlsec1 is not installed (apt-get install xmlsec1); the oracle tests need it")
    return XMLSEC1


def need_corpus() -> None:
    if not CORPUS.is_dir():
        if IN_CI:
            pytest.fail(f"the shared corpus is missing at {CORPUS}")
        pytest.skip(f"the shared corpus is not at {CORPUS}")


def xmlsec1_verifies(path_or_bytes, tmp_path: Path | None = None) -> bool:
    exe = need_xmlsec1()
    path = path_or_bytes
    if isinstance(path_or_bytes, bytes):
        path = tmp_path / f"doc-{hashlib.sha256(path_or_bytes).hexdigest()[:12]}.xml"
        path.write_bytes(path_or_bytes)
    run = subprocess.run([exe, "--verify", "--insecure", "--id-attr:Id", "SignedProperties",
                          "--enabled-key-data", "x509", str(path)], check=False, capture_output=True, timeout=60)
    return run.returncode == 0


@functools.cache
def signed_corpus_files() -> tuple[str, ...]:
    """Corpus files (relative paths) holding a ds:Signature element."""
    if not CORPUS.is_dir():
        return ()
    found = []
    for path in sorted(CORPUS.rglob("*")):
        rel = path.relative_to(CORPUS).as_posix()
        if not path.is_file() or rel.startswith("gib-rules/") or rel in MALFORMED or path.suffix.lower() != ".xml":
            continue
        data = path.read_bytes()
        if b"Signature" in data and next(parse_xml(data, name=rel).iter(f"{{{DS}}}Signature"), None) is not None:
            found.append(rel)
    return tuple(found)


@functools.cache
def xmlsec1_verifies_corpus_file(rel: str) -> bool:
    return xmlsec1_verifies(CORPUS / rel)


def corpus_valid() -> tuple[str, ...]:
    """Signed corpus files xmlsec1 verifies (needs xmlsec1)."""
    return tuple(rel for rel in signed_corpus_files() if xmlsec1_verifies_corpus_file(rel))


def inspect_file(rel: str) -> SignatureReport:
    data = (CORPUS / rel).read_bytes()
    return inspect_signature(data, name=rel)


# ---------------------------------------------------------------- the oracle


@pytest.mark.needs_xmlsec1
@pytest.mark.parametrize("rel", signed_corpus_files() or ["<no corpus>"])
def test_agrees_with_xmlsec1_on_the_corpus(rel):
    need_corpus()
    need_xmlsec1()
    report = inspect_file(rel)
    assert (report.status == "consistent") == xmlsec1_verifies_corpus_file(rel), (rel, report)


@pytest.mark.needs_xmlsec1
def test_the_corpus_has_at_least_19_valid_signatures():
    # Guards the test above: an xmlsec1 (or a parser) that accepts nothing
    # would make "agreement" vacuous.
    need_corpus()
    need_xmlsec1()
    valid = corpus_valid()
    ours = [rel for rel in signed_corpus_files() if inspect_file(rel).status == "consistent"]
    assert len(valid) >= 19
    assert sorted(ours) == sorted(valid)


@pytest.mark.needs_xmlsec1
def test_valid_corpus_signatures_report_their_signer():
    need_corpus()
    need_xmlsec1()
    for rel in corpus_valid():
        report = inspect_file(rel)
        assert report.references >= 2, rel  # the document and the SignedProperties
        assert re.fullmatch(r"\d{10,11}", report.signer_id or ""), (rel, report.signer_id)
        assert "2.5.4.5=" in report.signer_subject or "serialNumber=" in report.signer_subject
        assert report.signing_time is not None and report.signing_time.utcoffset() is not None
        assert report.cert_not_before.tzinfo is not None and report.cert_not_after.tzinfo is not None
        # Evaluated at signing time: these were signed with then-valid seals.
        assert report.cert_valid_at_signing is True, rel
        assert any("SigningCertificate digest matches" in d for d in report.details)


def test_unsigned_corpus_documents_are_unsigned():
    need_corpus()
    report = inspect_file("efatura/gib121_TicariFaturaOrnegi.xml")
    assert report.status == "unsigned" and report.signer_id is None


# ---------------------------------------------------------------- damage to real signed invoices


def _valid_invoices() -> list[str]:
    return [rel for rel in signed_corpus_files() if rel.startswith("efatura/") and "/" not in rel[len("efatura/"):]
            and (rel.split("/")[-1].startswith(("vg_", "sk-")))]


@pytest.fixture(params=_valid_invoices() or ["<no corpus>"])
def valid_invoice(request) -> tuple[str, bytes]:
    need_corpus()
    rel = request.param
    data = (CORPUS / rel).read_bytes()
    if inspect_signature(data).status != "consistent":
        pytest.skip(f"{rel} is not validly signed")
    return rel, data


LINE_AMOUNT = re.compile(rb"<(?:\w+:)?InvoiceLine\b.*?<(?:\w+:)?LineExtensionAmount\b[^>]*>\s*\d", re.DOTALL)


def test_one_flipped_digit_in_a_line_amount_breaks_the_document_reference(valid_invoice, tmp_path):
    rel, data = valid_invoice
    match = LINE_AMOUNT.search(data)
    assert match, f"{rel} has no invoice line amount"
    pos = match.end() - 1
    damaged = data[:pos] + (b"1" if data[pos:pos + 1] != b"1" else b"2") + data[pos + 1:]
    report = inspect_signature(damaged)
    assert report.status == "invalid"
    assert 'URI "", the document' in report.reason and "SignedProperties" not in report.reason
    if XMLSEC1:
        assert not xmlsec1_verifies(damaged, tmp_path)


SIGNING_TIME = re.compile(rb"(<(?:\w+:)?SigningTime>\s*\d{4}-\d\d-\d\dT\d)(\d)")


def test_a_changed_signing_time_breaks_the_signed_properties_reference(valid_invoice, tmp_path):
    rel, data = valid_invoice
    match = SIGNING_TIME.search(data)
    assert match, rel
    hour_digit = match.group(2)
    damaged = data[:match.start(2)] + (b"0" if hour_digit != b"0" else b"1") + data[match.end(2):]
    report = inspect_signature(damaged)
    assert report.status == "invalid"
    assert "SignedProperties" in report.reason and "the document" not in report.reason
    if XMLSEC1:
        assert not xmlsec1_verifies(damaged, tmp_path)


def test_a_swapped_certificate_is_invalid(valid_invoice, tmp_path):
    _rel, data = valid_invoice
    cert_text = parse_xml(data).getroot().find(f".//{{{DS}}}X509Certificate").text.strip()
    other = make_cert(rsa_key(), **EXPIRED)
    start = data.index(cert_text[:60].encode())  # the base64 may be wrapped after that
    end = data.index(b"<", start)
    damaged = data[:start] + base64.b64encode(other.public_bytes(serialization.Encoding.DER)) + data[end:]
    report = inspect_signature(damaged)
    assert report.status == "invalid", report
    assert "SignatureValue" in report.reason and "SigningCertificate" in report.reason
    assert report.signer_id == "1234567890"  # facts come from the certificate actually present
    if XMLSEC1:
        assert not xmlsec1_verifies(damaged, tmp_path)


def test_a_removed_signature_makes_the_document_unsigned(valid_invoice):
    _rel, data = valid_invoice
    sig = parse_xml(data).getroot().find(f".//{{{DS}}}Signature")
    open_tag = f"<{sig.prefix}:Signature".encode() if sig.prefix else b"<Signature"
    close_tag = f"</{sig.prefix}:Signature>".encode() if sig.prefix else b"</Signature>"
    start = data.index(open_tag)
    end = data.index(close_tag, start) + len(close_tag)
    report = inspect_signature(data[:start] + data[end:])
    assert report.status == "unsigned" and report.reason is None


def test_the_callers_tree_is_left_as_it_was(valid_invoice):
    _rel, data = valid_invoice
    tree = parse_xml(data)
    before = etree.tostring(tree)
    report = inspect_signature(data, tree=tree)
    assert report.status == "consistent"
    assert etree.tostring(tree) == before
    assert inspect_signature(data) == report


# ---------------------------------------------------------------- synthetic signed documents

INVOICE = f"""<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet type="text/xsl" href="general.xslt"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" xmlns:cbc="{CBC}"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" xmlns:ext="{EXT}">
  <ext:UBLExtensions>
    <ext:UBLExtension>
      <ext:ExtensionContent/>
    </ext:UBLExtension>
  </ext:UBLExtensions>
  <cbc:UBLVersionID>2.1</cbc:UBLVersionID>
  <cbc:ID>TST2024000000001</cbc:ID>
  <!-- a comment the document digest must not see -->
  <cac:InvoiceLine>
    <cbc:ID>1</cbc:ID>
    <cbc:LineExtensionAmount currencyID="TRY">1234.56</cbc:LineExtensionAmount>
  </cac:InvoiceLine>
</Invoice>
"""


def make_cert(key, *, not_before, not_after, serial="1234567890", cn="Deneme Imzaci A.S."):
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "TR"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.SERIAL_NUMBER, serial)])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before)
            .not_valid_after(not_after).sign(key, hashes.SHA256()))


def _el(ns, tag, parent, text=None, **attrs):
    el = etree.SubElement(parent, f"{{{ns}}}{tag}", **attrs)
    el.text = text
    return el


def sign(key, cert, *, signing_time="2021-03-04T10:00:00+03:00", doc=INVOICE, hash_name="sha256", c14n=C14N10,
         sp_attr="Id", doc_uri="", digest_cert=None, extra_refs=(), template=False) -> bytes:
    """A XAdES-BES enveloped signature like GİB's, made from scratch.

    With *template*, the unsigned skeleton for ``xmlsec1 --sign`` instead.
    """
    tree = etree.fromstring(doc.encode()).getroottree()
    digest_uri = {"sha256": "http://www.w3.org/2001/04/xmlenc#sha256", "sha1": DS + "sha1",
                  "sha512": "http://www.w3.org/2001/04/xmlenc#sha512"}[hash_name]
    if isinstance(key, rsa.RSAPrivateKey):
        sig_uri = DS + "rsa-sha1" if hash_name == "sha1" else f"http://www.w3.org/2001/04/xmldsig-more#rsa-{hash_name}"
    else:
        sig_uri = f"http://www.w3.org/2001/04/xmldsig-more#ecdsa-{hash_name}"
    sig = _el(DS, "Signature", tree.getroot().find(f".//{{{EXT}}}ExtensionContent"), Id="Signature-1")
    info = _el(DS, "SignedInfo", sig)
    _el(DS, "CanonicalizationMethod", info, Algorithm=c14n)
    _el(DS, "SignatureMethod", info, Algorithm=sig_uri)
    refs = []
    for uri, transforms in ((doc_uri, [DS + "enveloped-signature"]), ("#SignedProperties-1", []), *extra_refs):
        ref = _el(DS, "Reference", info, URI=uri)
        if uri == "#SignedProperties-1":
            ref.set("Type", "http://uri.etsi.org/01903#SignedProperties")
        if transforms:
            holder = _el(DS, "Transforms", ref)
            for alg in transforms:
                _el(DS, "Transform", holder, Algorithm=alg)
        _el(DS, "DigestMethod", ref, Algorithm=digest_uri)
        refs.append((uri, _el(DS, "DigestValue", ref)))
    _el(DS, "SignatureValue", sig)
    x509_data = _el(DS, "X509Data", _el(DS, "KeyInfo", sig))
    if not template:
        _el(DS, "X509Certificate", x509_data, text=base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode())
    props = _el(XADES, "QualifyingProperties", _el(DS, "Object", sig), Target="#Signature-1")
    signed = _el(XADES, "SignedProperties", props, **{sp_attr: "SignedProperties-1"})
    ssp = _el(XADES, "SignedSignatureProperties", signed)
    _el(XADES, "SigningTime", ssp, text=signing_time)
    cert_digest = _el(XADES, "CertDigest", _el(XADES, "Cert", _el(XADES, "SigningCertificate", ssp)))
    _el(DS, "DigestMethod", cert_digest, Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    der = (digest_cert or cert).public_bytes(serialization.Encoding.DER)
    _el(DS, "DigestValue", cert_digest, text=base64.b64encode(hashlib.sha256(der).digest()).decode())
    if template:
        return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")

    def digest(node, exclusive=False) -> str:
        octets = etree.tostring(node, method="c14n", exclusive=exclusive, with_comments=False)
        return base64.b64encode(hashlib.new(hash_name, octets).digest()).decode()

    bare = copy.deepcopy(tree)
    bare_sig = bare.getroot().find(f".//{{{DS}}}Signature")
    bare_sig.getparent().remove(bare_sig)
    for (uri, transforms), (_, digest_el) in zip(((doc_uri, []), ("#SignedProperties-1", []), *extra_refs), refs):
        if uri in ("", "#xpointer(/)"):
            digest_el.text = digest(bare)
        else:
            target = tree.xpath("//*[@Id=$n or @ID=$n or @xml:id=$n]", n=uri[1:])[0]
            digest_el.text = digest(target, exclusive=EXC_C14N in transforms)
    _sign_info(key, sig, hash_name)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def _sign_info(key, sig, hash_name="sha256") -> None:
    info = sig.find(f"{{{DS}}}SignedInfo")
    c14n = info.find(f"{{{DS}}}CanonicalizationMethod").get("Algorithm")
    octets = etree.tostring(info, method="c14n", exclusive=c14n.startswith(EXC_C14N),
                            with_comments=c14n.endswith("WithComments"))
    algorithm = getattr(hashes, hash_name.upper())()
    if isinstance(key, rsa.RSAPrivateKey):
        value = key.sign(octets, padding.PKCS1v15(), algorithm)
    else:
        r, s = decode_dss_signature(key.sign(octets, ec.ECDSA(algorithm)))
        size = (key.curve.key_size + 7) // 8
        value = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    sig.find(f"{{{DS}}}SignatureValue").text = base64.b64encode(value).decode()


@functools.cache
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


# valid 2020-2022, expired now: what almost every archived seal looks like
EXPIRED = {"not_before": dt.datetime(2020, 1, 1, tzinfo=UTC), "not_after": dt.datetime(2022, 1, 1, tzinfo=UTC)}


@pytest.mark.parametrize("key_kind", ["rsa", "ec-p256"])
def test_expired_certificate_valid_at_signing_time(key_kind, tmp_path):
    key = rsa_key() if key_kind == "rsa" else ec_key()
    cert = make_cert(key, serial="1234567890", **EXPIRED)
    signed = sign(key, cert, signing_time="2021-03-04T10:00:00.1234567+03:00")
    report = inspect_signature(signed)
    assert report.status == "consistent", report
    assert report.cert_valid_at_signing is True
    assert report.signing_time == dt.datetime(2021, 3, 4, 7, 0, 0, 123456, tzinfo=UTC)
    assert report.signer_id == "1234567890"
    assert report.signer_subject == "2.5.4.5=1234567890,CN=Deneme Imzaci A.S.,C=TR"
    assert report.cert_not_before == EXPIRED["not_before"] and report.cert_not_after == EXPIRED["not_after"]
    assert report.references == 2
    if XMLSEC1:
        assert xmlsec1_verifies(signed, tmp_path)


@pytest.mark.parametrize("when", ["2019-12-31T23:59:59Z", "2022-01-01T03:00:01+03:00"])
@pytest.mark.parametrize("key_kind", ["rsa", "ec-p256"])
def test_signing_time_outside_the_certificate_validity(key_kind, when, tmp_path):
    key = rsa_key() if key_kind == "rsa" else ec_key()
    signed = sign(key, make_cert(key, **EXPIRED), signing_time=when)
    report = inspect_signature(signed)
    assert report.status == "consistent", report
    assert report.cert_valid_at_signing is False
    if XMLSEC1:
        assert xmlsec1_verifies(signed, tmp_path)


def test_signing_time_without_zone_is_read_as_turkish_time():
    key = rsa_key()
    report = inspect_signature(sign(key, make_cert(key, **EXPIRED), signing_time="2021-03-04T10:00:00"))
    assert report.status == "consistent"
    assert report.signing_time == dt.datetime(2021, 3, 4, 7, 0, tzinfo=UTC)
    assert any("no zone" in d for d in report.details)


@pytest.mark.parametrize("when", ["2021-03-04T10:00:00+25:00", "2021-13-04T10:00:00Z", "dün"])
def test_a_signing_time_that_is_no_date_is_reported_not_raised(when):
    key = rsa_key()
    report = inspect_signature(sign(key, make_cert(key, **EXPIRED), signing_time=when))
    assert report.status == "consistent"  # the signature holds; what it says about time is unusable
    assert report.signing_time is None and report.cert_valid_at_signing is None
    assert any("not an xs:dateTime" in d for d in report.details)


VARIANTS = {
    "rsa-sha1": ("rsa", {"hash_name": "sha1"}),
    "ecdsa-sha512": ("ec", {"hash_name": "sha512"}),
    "exclusive-c14n": ("rsa", {"c14n": EXC_C14N}),
    "c14n-with-comments": ("rsa", {"c14n": C14N10 + "#WithComments"}),
    "c14n-1.1": ("rsa", {"c14n": "http://www.w3.org/2006/12/xml-c14n11"}),
    "xml:id": ("rsa", {"sp_attr": "{http://www.w3.org/XML/1998/namespace}id"}),
    "xpointer(/)": ("rsa", {"doc_uri": "#xpointer(/)"}),
    "reference-with-exc-c14n-transform": ("ec", {"extra_refs": [("#SignedProperties-1", [EXC_C14N])]}),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_algorithm_variants_agree_with_xmlsec1(variant, tmp_path):
    kind, options = VARIANTS[variant]
    key = rsa_key() if kind == "rsa" else ec_key()
    signed = sign(key, make_cert(key, **EXPIRED), **options)
    report = inspect_signature(signed)
    assert report.status == "consistent", report
    if XMLSEC1:
        assert xmlsec1_verifies(signed, tmp_path)


XML_LANG_INVOICE = INVOICE.replace("<Invoice ", '<Invoice xml:lang="tr" ').replace(
    "<ext:UBLExtension>", '<ext:UBLExtension xml:space="preserve">')


@pytest.mark.needs_xmlsec1
@pytest.mark.parametrize("variant, key_kind, options", [
    ("plain", "rsa", {}),
    ("ecdsa", "ec", {}),
    ("xml:lang and xml:space inherited, C14N 1.0", "rsa", {"doc": XML_LANG_INVOICE}),
    ("xml:lang and xml:space inherited, C14N 1.1", "rsa", {"doc": XML_LANG_INVOICE, "c14n": "http://www.w3.org/2006/12/xml-c14n11"}),
    ("xml:lang inherited, exclusive", "ec", {"doc": XML_LANG_INVOICE, "c14n": EXC_C14N,
                                                 "extra_refs": [("#SignedProperties-1", [EXC_C14N])]}),
    ("comments, CDATA, PI, CRLF", "rsa", {"doc": INVOICE.replace("\n", "\r\n").replace(
        "<cbc:UBLVersionID>", "<?pi x?><![CDATA[a<b&c]]><!--c--><cbc:UBLVersionID>")}),
])
def test_documents_signed_by_xmlsec1_verify(variant, key_kind, options, tmp_path):
    # xmlsec1 as the signer: an implementation of C14N and XMLDSig that is not ours.
    exe = need_xmlsec1()
    key = rsa_key() if key_kind == "rsa" else ec_key()
    cert = make_cert(key, **EXPIRED)
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "template.xml").write_bytes(sign(key, cert, template=True, **options))
    run = subprocess.run([exe, "--sign", "--privkey-pem", f"{tmp_path / 'key.pem'},{tmp_path / 'cert.pem'}",
                          "--id-attr:Id", "SignedProperties", "--output", str(tmp_path / "signed.xml"),
                          str(tmp_path / "template.xml")], check=False, capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr.decode()
    signed = (tmp_path / "signed.xml").read_bytes()
    report = inspect_signature(signed)
    assert report.status == "consistent", report
    assert report.signer_id == "1234567890" and report.cert_valid_at_signing is True
    damaged = signed.replace(b"1234.56", b"1234.57")
    assert inspect_signature(damaged).status == "invalid"


def test_signing_certificate_digest_of_another_certificate_is_invalid():
    # xmlsec1 does not read XAdES; this is our check alone.
    key = rsa_key()
    other = make_cert(key, serial="9876543210", **EXPIRED)
    report = inspect_signature(sign(key, make_cert(key, **EXPIRED), digest_cert=other))
    assert report.status == "invalid"
    assert "SigningCertificate" in report.reason and "reference" not in report.reason


def test_an_id_attribute_xmlsec1_does_not_register_is_not_resolved(tmp_path):
    # `ID` is not an id for xmlsec1 (only xml:id, Id on SignedProperties and
    # Id inside the signature are); resolving it would call valid what fails elsewhere.
    key = rsa_key()
    signed = sign(key, make_cert(key, **EXPIRED), sp_attr="ID")
    report = inspect_signature(signed)
    assert report.status == "unverifiable" and "SignedProperties-1" in report.reason
    if XMLSEC1:
        assert not xmlsec1_verifies(signed, tmp_path)


def test_an_ecdsa_value_of_the_wrong_length_is_invalid():
    key = ec_key()
    signed = sign(key, make_cert(key, **EXPIRED))
    tree = parse_xml(signed)
    value = tree.getroot().find(f".//{{{DS}}}SignatureValue")
    value.text = base64.b64encode(base64.b64decode(value.text)[:-1]).decode()
    report = inspect_signature(etree.tostring(tree))
    assert report.status == "invalid" and "SignatureValue" in report.reason


# ---------------------------------------------------------------- hostile and broken signatures


def _tamper(signed: bytes, edit, *, resign_with=None) -> bytes:
    """Apply *edit*; with *resign_with*, sign the edited SignedInfo again so
    that only what the edit did is wrong with the result."""
    tree = parse_xml(signed)
    edit(tree.getroot())
    if resign_with is not None:
        _sign_info(resign_with, _first(tree.getroot(), "Signature"))
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def _first(root, tag):
    return root.find(f".//{{{DS}}}{tag}")


def _add_transform(algorithm, body=None):
    def edit(root):
        transforms = _first(root, "Transforms")
        t = _el(DS, "Transform", transforms, Algorithm=algorithm)
        if body is not None:
            t.append(body)
    return edit


XSLT = etree.fromstring(
    b'<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
    b'<xsl:template match="/"><xsl:copy-of select="document(\'file:///etc/passwd\')"/>'
    b'<xsl:message terminate="yes">executed</xsl:message></xsl:template></xsl:stylesheet>')
XPATH = etree.fromstring(f'<ds:XPath xmlns:ds="{DS}">{"count(//*) and " * 2000}true()</ds:XPath>'.encode())


@pytest.mark.parametrize("name, edit, status, words, resign", [
    ("xslt transform", _add_transform("http://www.w3.org/TR/1999/REC-xslt-19991116", XSLT),
     "unverifiable", "not executed", True),
    ("huge xpath transform", _add_transform("http://www.w3.org/TR/1999/REC-xpath-19991116", XPATH),
     "unverifiable", "not executed", True),
    ("external reference", lambda r: _first(r, "Reference").set("URI", "http://127.0.0.1:9/invoice.xml"),
     "unverifiable", "nothing is fetched", True),
    ("no certificate", lambda r: _first(r, "KeyInfo").getparent().remove(_first(r, "KeyInfo")),
     "unverifiable", "no X509Certificate", True),
    ("garbage certificate", lambda r: setattr(_first(r, "X509Certificate"), "text", "AAAA"),
     "unverifiable", "certificate", True),
    ("unknown signature method", lambda r: _first(r, "SignatureMethod").set("Algorithm", "urn:x:hmac"),
     "unverifiable", "signature method", True),
    ("unknown digest", lambda r: _first(r, "DigestMethod").set("Algorithm", "urn:x:md5"),
     "unverifiable", "digest method", True),
    ("signature value not base64", lambda r: setattr(_first(r, "SignatureValue"), "text", "***"),
     "invalid", "base64", False),
    ("SignatureMethod first", lambda r: _first(r, "SignedInfo").insert(0, _first(r, "SignatureMethod")),
     "invalid", "malformed", False),
    ("no SignedInfo", lambda r: _first(r, "Signature").remove(_first(r, "SignedInfo")),
     "invalid", "malformed", False),
])
def test_hostile_and_broken_signatures(name, edit, status, words, resign):
    key = rsa_key()
    damaged = _tamper(sign(key, make_cert(key, **EXPIRED)), edit, resign_with=key if resign else None)
    report = inspect_signature(damaged)
    assert report.status == status, report
    assert words in report.reason


def test_ten_thousand_references_return_quickly():
    key = rsa_key()

    def edit(root):
        info = _first(root, "SignedInfo")
        ref = _first(root, "Reference")
        for _ in range(10_000):
            info.append(copy.deepcopy(ref))
    damaged = _tamper(sign(key, make_cert(key, **EXPIRED)), edit)
    report = inspect_signature(damaged)
    assert report.status == "unverifiable" and report.references == 10_002
    assert str(MAX_REFERENCES) in report.reason


def test_many_references_to_the_whole_document_are_digested_once(monkeypatch):
    import earsiv.documents.signature as sigmod

    key = rsa_key()
    extra = [("", [DS + "enveloped-signature"])] * (MAX_REFERENCES - 2)
    signed = sign(key, make_cert(key, **EXPIRED), extra_refs=extra)
    calls = []
    real = sigmod._canonicalise

    def counting(target, *args, **kwargs):
        calls.append(getattr(target, "tag", None) if not hasattr(target, "getroot") else "document")
        return real(target, *args, **kwargs)

    monkeypatch.setattr(sigmod, "_canonicalise", counting)
    report = inspect_signature(signed)
    assert report.status == "consistent" and report.references == MAX_REFERENCES
    # Not MAX_REFERENCES canonicalisations of the document: one per distinct
    # target (the document, SignedProperties) plus SignedInfo.
    assert 2 <= len(calls) <= 4, calls


def test_signatures_side_by_side_are_unverifiable(tmp_path):
    # A second, independent signature the first one does not cover: xmlsec1
    # checks only the first and says valid; we cannot tell who signed.
    key = rsa_key()
    doc = INVOICE.replace("</ext:UBLExtensions>", f'<ext:UBLExtension><ext:ExtensionContent><ds:Signature xmlns:ds="{DS}"/>'
                                                   "</ext:ExtensionContent></ext:UBLExtension></ext:UBLExtensions>")
    report = inspect_signature(sign(key, make_cert(key, **EXPIRED), doc=doc))
    assert report.status == "unverifiable" and "side by side" in report.reason
    assert inspect_signature(sign(key, make_cert(key, **EXPIRED))).status == "consistent"  # without it


def test_duplicate_ids_are_not_guessed_between(tmp_path):
    # The signature-wrapping pattern: a second SignedProperties with the
    # referenced id, placed where no digest covers it.
    key = rsa_key()
    signed = sign(key, make_cert(key, **EXPIRED))

    def edit(root):
        real = root.find(f".//{{{XADES}}}SignedProperties")
        decoy = copy.deepcopy(real)
        decoy.find(f".//{{{XADES}}}SigningTime").text = "2030-01-01T00:00:00Z"
        real.addprevious(decoy)
    wrapped = _tamper(signed, edit)
    report = inspect_signature(wrapped)
    assert report.status == "unverifiable" and "already used by another element" in report.reason
    if XMLSEC1:
        assert not xmlsec1_verifies(wrapped, tmp_path)


def test_unsigned_synthetic_document():
    assert inspect_signature(INVOICE.encode()) == SignatureReport(status="unsigned")


# Inspection speed is measured in bench/ingest.py against a floor, never timed in a unit test.
