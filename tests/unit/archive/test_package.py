"""Inspection package parts that need no archive: names, requests, and the stand-alone verifier's RFC 9162 code."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import re

import pytest

from earsiv.archive.log import merkle
from earsiv.archive.package.build import PackageRequest, document_name, verifier_source
from earsiv.archive.package.iso import _iso_name
from earsiv.errors import InvalidInput

D = "ab" * 32


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    """The verifier exactly as shipped in packages, loaded from its bytes."""
    path = tmp_path_factory.mktemp("v") / "verifier.py"
    path.write_bytes(verifier_source())
    spec = importlib.util.spec_from_file_location("shipped_verifier", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_shipped_verifier_imports_only_the_standard_library():
    src = verifier_source().decode()
    imported = set(re.findall(r"^\s*(?:import|from)\s+([A-Za-z_][\w.]*)", src, re.MULTILINE))
    assert imported <= {"argparse", "base64", "datetime", "hashlib", "json", "os", "re", "shutil", "subprocess", "sys",
                        "tempfile", "zipfile"}, imported


def _hashes(n: int) -> list[bytes]:
    return [merkle.leaf_hash(f"leaf {i}".encode()) for i in range(n)]


def test_standalone_inclusion_agrees_with_the_archive_for_every_tree_up_to_33(standalone):
    for size in range(1, 34):
        leaves = _hashes(size)
        root = merkle.root(leaves)
        for index in range(size):
            proof = merkle.inclusion_proof(index, leaves)
            assert standalone.inclusion_root(index, size, leaves[index], proof) == root, (index, size)
            if proof:
                bad = list(proof)
                bad[-1] = hashlib.sha256(bad[-1]).digest()
                assert standalone.inclusion_root(index, size, leaves[index], bad) != root
                assert standalone.inclusion_root(index, size, leaves[index], proof[:-1]) is None  # too short
            assert standalone.inclusion_root(index, size, leaves[(index + 1) % size], proof) != root or size == 1


def test_standalone_consistency_agrees_with_the_archive(standalone):
    leaves = _hashes(33)
    for new in range(1, 34):
        new_root = merkle.root(leaves, size=new)
        for old in range(new + 1):
            old_root = merkle.root(leaves, size=old)
            proof = merkle.consistency_proof(old, new, leaves)
            assert standalone.consistent(old, new, old_root, new_root, proof), (old, new)
            if 0 < old < new:
                forged = merkle.root(_hashes(old + 1)[1:], size=old)  # another history of the same size
                assert not standalone.consistent(old, new, forged, new_root, proof)
                assert not standalone.consistent(old, new, old_root, new_root, proof[:-1])


def test_document_names_are_safe_readable_and_unique():
    taken: set[str] = set()
    a = document_name("e-fatura", "ABC2023000000001", "F47AC10B-58CC-4372-A567-0E02B2C3D479", D, taken)
    assert a == "e-fatura/ABC2023000000001_F47AC10B-58CC-4372-A567-0E02B2C3D479"
    # A placeholder ID and ETTN are kept readable; the same again gets the digest's prefix.
    p1 = document_name("e-arsiv", "%ID%", "%UUID%", "11" * 32, taken)
    p2 = document_name("e-arsiv", "%ID%", "%uuid%", "22" * 32, taken)  # differs only in case
    assert p1 == "e-arsiv/ID_UUID" and p2 == "e-arsiv/222222222222_ID_uuid"
    assert document_name("zarf", "", None, "33" * 32, taken) == "zarf/" + "33" * 8
    hostile = document_name("other", "../../etc/passwd", "a\\b:c*?<>|", "44" * 32, taken)
    assert hostile.count("/") == 1 and ".." not in hostile and re.fullmatch(r"[A-Za-z0-9._/-]+", hostile)
    assert document_name("e-fatura", "ŞİRKET-ığüöç", None, "55" * 32, taken) == "e-fatura/SIRKET-iguoc"
    assert len(taken) == 6


def test_a_package_request_is_checked():
    ok = PackageRequest("1234567890", dt.date(2024, 1, 1), dt.date(2024, 1, 31), "e-fatura")
    assert "1234567890" in ok.describe() and "2024-01-31" in ok.describe()
    with pytest.raises(InvalidInput, match="VKN"):
        PackageRequest("12345", dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    with pytest.raises(InvalidInput, match="after"):
        PackageRequest("1234567890", dt.date(2024, 2, 1), dt.date(2024, 1, 31))
    with pytest.raises(InvalidInput, match="kind"):
        PackageRequest("1234567890", dt.date(2024, 1, 1), dt.date(2024, 1, 31), "invoice")


def test_iso_names_fit_level_3_and_stay_unique():
    taken: set[str] = set()
    long = "A" * 80 + ".xml"
    names = [_iso_name(long, False, taken) for _ in range(3)] + [_iso_name("0000000000000102.sig", False, taken)]
    assert len(set(names)) == 4
    for n in names:
        stem, ext = n.split(".")
        assert len(stem) + len(ext) <= 30 and re.fullmatch(r"[A-Z0-9_]+", stem + ext)
    assert _iso_name("evidence", True, taken) == "EVIDENCE"
