"""Blob encoding: zstd with per-issuer raw-content dictionaries, readable by the zstd command."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import pytest

from earsiv.archive import blobs
from tests.conftest import CORPUS

# Two real invoices of one issuer, with the same embedded stylesheet.
SAME_ISSUER = sorted((CORPUS / "efatura").glob("sk-akgips_*.xml"))


def _book(store: dict[str, bytes]) -> blobs.DictionaryBook:
    return blobs.DictionaryBook(lambda d: blobs.decode(store[d]))


def test_second_invoice_of_an_issuer_costs_a_small_fraction():
    first, second = (p.read_bytes() for p in SAME_ISSUER[:2])
    store: dict[str, bytes] = {}
    book = _book(store)
    a = book.encode(first, hashlib.sha256(first).hexdigest(), "e-fatura/issuer")
    assert a.dict_digest is None and a.new_dict is not None  # the first seeds the issuer's dictionary
    store[a.new_dict[0]] = a.new_dict[1]
    b = book.encode(second, hashlib.sha256(second).hexdigest(), "e-fatura/issuer")
    assert b.dict_digest == a.new_dict[0]
    plain = len(blobs.encode(second))
    # DESIGN.md measured 29 % plain vs 0.24 % with a dictionary on such a pair.
    assert len(b.frame) < 0.05 * plain, (len(b.frame), plain)
    assert blobs.decode(b.frame, book.raw(b.dict_digest)) == second


def test_documents_without_issuer_are_plain_zstd():
    data = SAME_ISSUER[0].read_bytes()
    enc = _book({}).encode(data, hashlib.sha256(data).hexdigest(), None)
    assert enc.dict_digest is None and enc.new_dict is None
    assert blobs.decode(enc.frame) == data


def test_an_unrelated_document_reseeds_instead_of_using_a_useless_dictionary():
    a = SAME_ISSUER[0].read_bytes()
    other = max((CORPUS / "efatura").glob("vg_*.xml"), key=lambda p: p.stat().st_size).read_bytes()
    store: dict[str, bytes] = {}
    book = _book(store)
    first = book.encode(a, hashlib.sha256(a).hexdigest(), "k")
    store[first.new_dict[0]] = first.new_dict[1]
    second = book.encode(other, hashlib.sha256(other).hexdigest(), "k")
    assert second.new_dict is not None and second.new_dict[0] != first.new_dict[0]
    raw = book.raw(second.dict_digest) if second.dict_digest else None
    assert blobs.decode(second.frame, raw) == other


@pytest.mark.skipif(shutil.which("zstd") is None, reason="the zstd command is not installed")
def test_the_zstd_command_decodes_blob_and_dictionary(tmp_path):
    first, second = (p.read_bytes() for p in SAME_ISSUER[:2])
    book = _book({})
    a = book.encode(first, hashlib.sha256(first).hexdigest(), "i")
    b = book.encode(second, hashlib.sha256(second).hexdigest(), "i")
    (tmp_path / "dict.zst").write_bytes(a.new_dict[1])
    (tmp_path / "blob.zst").write_bytes(b.frame)
    subprocess.run(["zstd", "-q", "-d", "-f", str(tmp_path / "dict.zst"), "-o", str(tmp_path / "dict")], check=True)
    out = subprocess.run(["zstd", "-q", "-d", "-c", "-D", str(tmp_path / "dict"), str(tmp_path / "blob.zst")],
                         check=True, capture_output=True).stdout
    assert hashlib.sha256(out).hexdigest() == b.digest


def test_a_damaged_frame_is_a_verification_error():
    from earsiv.archive.errors import VerificationError

    data = SAME_ISSUER[0].read_bytes()
    frame = bytearray(blobs.encode(data))
    frame[len(frame) // 2] ^= 0xFF
    with pytest.raises(VerificationError):
        out = blobs.decode(bytes(frame))
        # zstd's checksum catches most damage; if a flip survives decoding the bytes differ
        assert out == data
