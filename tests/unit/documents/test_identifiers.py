"""VKN/TCKN checksums, invoice numbers and ETTNs against LAW.md "Identifiers".

Oracles: the numbers LAW.md and the corpus's SOURCES.md name as failing, the
real suppliers' VKNs SOURCES.md says pass, and properties that follow from the
definition of a check digit (exactly one digit completes each prefix).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from lxml import etree

from earsiv.documents import identifiers
from earsiv.documents.identifiers import (
    ETTN_PATTERN,
    ID_PATTERN,
    SPECIAL_VKNS,
    classify_party_id,
    is_placeholder,
    split_invoice_id,
    tckn_is_valid,
    vkn_is_valid,
)

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT.parent / "shared" / "corpus"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"


def test_all_names_exported():
    for name in identifiers.__all__:
        assert hasattr(identifiers, name)


@pytest.mark.parametrize("vkn", ["1111111111", "3333333331", "9999999999", "1288331521", "3333333304"])
def test_test_vkns_named_by_sources_fail(vkn):
    assert not vkn_is_valid(vkn)


def test_real_supplier_vkns_pass():
    # SOURCES.md: "real-world VKNs in vg_/sk- pass the checksum" (except the test-environment ones it lists).
    checked = 0
    for path in sorted((CORPUS / "efatura").glob("sk-*.xml")) + [CORPUS / "efatura" / "vg_ATM2025000001677-satis.xml"]:
        tree = etree.parse(str(path))
        for node in tree.iterfind(f"{{{CAC}}}AccountingSupplierParty//{{{CBC}}}ID[@schemeID='VKN']"):
            assert vkn_is_valid(node.text.strip()), path.name
            checked += 1
    assert checked >= 4


def test_vkn_check_digit_is_unique_per_prefix():
    rng = random.Random(20250101)
    for _ in range(300):
        prefix = f"{rng.randrange(10**9):09d}"
        assert sum(vkn_is_valid(prefix + str(d)) for d in range(10)) == 1


@pytest.mark.parametrize("bad", ["", "123", "12345678901", "abcdefghij", "１２３４５６７８９０", " 390038366"])
def test_vkn_rejects_malformed(bad):
    assert not vkn_is_valid(bad)


def test_tckn_unknown_buyer_fails_as_law_says():
    assert not tckn_is_valid("11111111111")


def test_tckn_known_valid_and_leading_zero():
    assert tckn_is_valid("10000000146")  # the widely used valid test TCKN
    assert not tckn_is_valid("01000000146")
    assert not tckn_is_valid("1000000014")


def test_tckn_check_digits_unique_per_prefix():
    rng = random.Random(7)
    for _ in range(100):
        prefix = str(rng.randrange(1, 10)) + f"{rng.randrange(10**8):08d}"
        valid = [d for d in range(100) if tckn_is_valid(prefix + f"{d:02d}")]
        assert len(valid) == 1


def test_classify_party_id():
    assert classify_party_id("VKN", "3900383669") == ["special-vkn"]
    assert classify_party_id("VKN", "1288331521") == ["vkn-checksum"]
    assert classify_party_id("vkn", "333063526") == ["id-length"]
    assert classify_party_id("TCKN", "1234567890") == ["id-length"]
    assert classify_party_id("TCKN", "11111111111") == ["tckn-checksum", "special-vkn"]
    assert classify_party_id("TCKN", "10000000146") == []
    assert classify_party_id("MERSISNO", "0079038233700001") == []
    assert classify_party_id(None, "123") == []
    assert classify_party_id("VKN", None) == []


def test_special_vkns_include_the_law_list():
    assert {"5555555555", "3900892152", "11111111111"} <= SPECIAL_VKNS.keys()
    assert all(label for label in SPECIAL_VKNS.values())


def test_split_invoice_id():
    assert split_invoice_id("DST2016000000001") == ("DST", 2016, 1)
    assert split_invoice_id("0012020000000010") == ("001", 2020, 10)
    for bad in ("GIB20090000000001", "DMY20231108115758", "%ID%", "", None, "dst2016000000001", "DST1916000000001"):
        assert split_invoice_id(bad) is None
        assert bad is None or not ID_PATTERN.match(bad)


def test_ettn_pattern_either_case():
    assert ETTN_PATTERN.match("F47AC10B-58CC-4372-A567-0E02B2C3D479")
    assert ETTN_PATTERN.match("f47ac10b-58cc-4372-a567-0e02b2c3d479")
    for bad in ("%UUID%", "F47AC10B58CC4372A5670E02B2C3D479", "F47AC10B-58CC-4372-A567-0E02B2C3D47", "##UUID##"):
        assert not ETTN_PATTERN.match(bad)


def test_placeholders():
    for value in ("", "  ", "%ID%", "##ID##", "{{id}}", "${ID}", "-", None):
        assert is_placeholder(value), value
    for value in ("GIB2009000000001", "INV-1001", "DMY20231108115758"):
        assert not is_placeholder(value)
