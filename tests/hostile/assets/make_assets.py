"""Hostile and broken inputs, each named after the defect it carries.

The tests build these in a temporary directory (nothing binary is committed);
run ``python make_assets.py DIR`` to write them all to DIR and look at them.

Everything here is synthetic: the one "good" document is a made-up invoice with
a made-up supplier, so no company data from the corpus is republished.
"""

from __future__ import annotations

import random
import stat
import struct
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "XML_CASES",
    "Member",
    "XmlCase",
    "deflated_zeros",
    "good_invoice",
    "member",
    "raw_zip",
    "too_many_members_zip",
    "write_all",
    "xinclude_invoice",
]


def good_invoice(n: int, *, extra: str = "") -> bytes:
    """A small, well-formed (imperfect) UBL-TR invoice; *n* makes its bytes and IDs unique."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"'
        ' xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"'
        ' xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">\n'
        "  <cbc:UBLVersionID>2.1</cbc:UBLVersionID>\n"
        "  <cbc:CustomizationID>TR1.2</cbc:CustomizationID>\n"
        "  <cbc:ProfileID>TEMELFATURA</cbc:ProfileID>\n"
        f"  <cbc:ID>TST2025{n:09d}</cbc:ID>\n"
        f"  <cbc:UUID>0e57c0de-0000-4000-8000-{n:012d}</cbc:UUID>\n"
        "  <cbc:IssueDate>2025-01-15</cbc:IssueDate>\n"
        "  <cbc:InvoiceTypeCode>SATIS</cbc:InvoiceTypeCode>\n"
        "  <cbc:Note>Sentetik test faturası: çğıöşü ÇĞİÖŞÜ</cbc:Note>\n"
        f"{extra}"
        "  <cbc:DocumentCurrencyCode>TRY</cbc:DocumentCurrencyCode>\n"
        "</Invoice>\n"
    ).encode()


def xinclude_invoice(n: int, href: str) -> bytes:
    """A well-formed invoice with an XInclude element: an element like any other, never processed."""
    return good_invoice(
        n,
        extra=f'  <xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{href}" parse="text"/>\n',
    )


# -- XML -------------------------------------------------------------------


@dataclass(frozen=True)
class XmlCase:
    name: str  # the defect; also the file name the tests give it
    data: bytes
    error: str  # class name in earsiv.indexer.errors
    says: str  # regular expression the error message must match (case-insensitive)


def _billion_laughs() -> bytes:
    ents = ['<!ENTITY lol "lol">']
    for i in range(1, 10):
        prev = "lol" if i == 1 else f"lol{i - 1}"
        ents.append(f'<!ENTITY lol{i} "{("&" + prev + ";") * 10}">')
    return ('<?xml version="1.0"?>\n<!DOCTYPE lolz [\n ' + "\n ".join(ents) + "\n]>\n<lolz>&lol9;</lolz>\n").encode()


def _quadratic_blowup() -> bytes:
    # One 50 KB entity referenced 50,000 times: 2.5 GB if expanded.
    return b'<?xml version="1.0"?>\n<!DOCTYPE kaboom [<!ENTITY a "' + b"A" * 50_000 + b'">]>\n<kaboom>' + b"&a;" * 50_000 + b"</kaboom>\n"


def _deep(levels: int) -> bytes:
    return b"<a>" * levels + b"</a>" * levels


def _truncated() -> bytes:
    whole = good_invoice(1)
    return whole[: len(whole) * 2 // 3]


XML_CASES: tuple[XmlCase, ...] = (
    XmlCase("billion_laughs", _billion_laughs(), "HostileXML", r"document type declaration"),
    XmlCase("quadratic_blowup", _quadratic_blowup(), "HostileXML", r"document type declaration"),
    XmlCase(
        "external_entity_passwd",
        b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<r>&x;</r>\n',
        "HostileXML",
        r"document type declaration",
    ),
    XmlCase(
        "external_dtd_http",
        b'<?xml version="1.0"?>\n<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">\n<r/>\n',
        "HostileXML",
        r"document type declaration",
    ),
    XmlCase(
        "external_dtd_file",
        b'<?xml version="1.0"?>\n<!DOCTYPE r SYSTEM "file:///etc/passwd">\n<r/>\n',
        "HostileXML",
        r"document type declaration",
    ),
    XmlCase(
        "parameter_entity_passwd",
        b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>\n<r/>\n',
        "HostileXML",
        r"document type declaration",
    ),
    # Hung libxml2 forever (reading /dev/zero) before DOCTYPEs were refused
    # ahead of the parser.
    XmlCase(
        "parameter_entity_dev_zero",
        b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY % p SYSTEM "file:///dev/zero"> %p;]>\n<r/>\n',
        "HostileXML",
        r"document type declaration",
    ),
    XmlCase("doctype_only", b'<?xml version="1.0"?>\n<!DOCTYPE Invoice>\n', "HostileXML", r"document type declaration"),
    XmlCase(
        "doctype_in_utf16",
        '\ufeff<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE r [<!ENTITY a "x">]>\n<r>&a;</r>\n'.encode("utf-16-le"),
        "HostileXML",
        r"document type declaration",
    ),
    XmlCase("doctype_after_comment", b"<!-- hello -->\n<!DOCTYPE r [<!ENTITY a 'x'>]>\n<r>&a;</r>\n", "HostileXML", r"document type declaration"),
    XmlCase("pdf_bytes", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n", "NotXML", r"PDF"),
    XmlCase("png_header", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02", "NotXML", r"PNG"),
    XmlCase("random_binary", random.Random(20250115).randbytes(4096), "NotXML", r"not xml|nul byte"),
    XmlCase("empty_file", b"", "NotXML", r"empty"),
    XmlCase("whitespace_only", b" \r\n\t\n", "NotXML", r"white space"),
    XmlCase(
        "utf16_without_bom",
        '<?xml version="1.0" encoding="UTF-16"?><Invoice>ş</Invoice>'.encode("utf-16-le"),
        "NotXML",
        r"UTF-16.*byte order mark",
    ),
    XmlCase("plain_text", b"Fatura no 123, tutar 100 TL.\nThis is not XML.\n", "NotXML", r"does not start with '<'"),
    XmlCase("truncated_xml", _truncated(), "NotXML", r"not well-formed"),
    XmlCase("deeply_nested_100000", _deep(100_000), "TooLarge", r"nested deeper than \d+ levels"),
    XmlCase(
        "unknown_encoding",
        b'<?xml version="1.0" encoding="x-klingon-9"?>\n<Invoice/>\n',
        "NotXML",
        r"encoding.*x-klingon-9",
    ),
    XmlCase("nul_bytes", b"<Invoice><cbc:ID>AB\x00C</cbc:ID></Invoice>", "NotXML", r"NUL byte at offset 19"),
    XmlCase(
        "utf7_smuggled_doctype",
        b'<?xml version="1.0" encoding="UTF-7"?>+ADwAIQ-DOCTYPE r +AFs-+ADwAIQ-ENTITY x SYSTEM +ACI-file:///etc/passwd+ACIAPg-+AF0APg-+ADw-r+AD4AJg-x;+ADw-/r+AD4-',
        "NotXML",
        r"does not start with '<'",
    ),
    XmlCase("zip_instead_of_xml", b"PK\x03\x04\x14\x00\x00\x00\x00\x00" + bytes(20), "NotXML", r"ZIP archive"),
    XmlCase("undefined_entity_reference", b"<Invoice>&secret;</Invoice>", "NotXML", r"entity 'secret' not defined"),
    XmlCase("two_root_elements", b"<Invoice/><Invoice/>", "NotXML", r"not well-formed"),
)


# -- ZIP -------------------------------------------------------------------


@dataclass
class Member:
    """One ZIP member as written, every header field settable so that it can lie."""

    name: str
    payload: bytes  # the bytes as stored (compressed when method is 8)
    method: int
    crc: int
    compress_size: int
    file_size: int
    flags: int = 0
    external_attr: int = 0
    create_system: int = 3  # Unix, so that external_attr carries st_mode
    extra: dict = field(default_factory=dict)


def member(name: str, plain: bytes, *, deflate: bool = True, **lies) -> Member:
    """A member holding *plain*; keyword arguments override header fields (to make them lie)."""
    if deflate:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        payload, method = c.compress(plain) + c.flush(), 8
    else:
        payload, method = plain, 0
    m = Member(
        name,
        payload,
        method,
        zlib.crc32(plain),
        len(payload),
        len(plain),
        external_attr=(stat.S_IFREG | 0o644) << 16,
    )
    for key, value in lies.items():
        setattr(m, key, value)
    return m


def raw_zip(members: list[Member]) -> bytes:
    """Write a ZIP by hand: zipfile refuses to write the lies these tests need."""
    out, central = bytearray(), bytearray()
    for m in members:
        name = m.name.encode("utf-8")
        flags = m.flags | (0x800 if not m.name.isascii() else 0)
        offset = len(out)
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, flags, m.method, 0, 0x5A2F, m.crc, m.compress_size, m.file_size, len(name), 0)
        out += name + m.payload
        central += struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            (m.create_system << 8) | 20,
            20,
            flags,
            m.method,
            0,
            0x5A2F,
            m.crc,
            m.compress_size,
            m.file_size,
            len(name),
            0,
            0,
            0,
            0,
            m.external_attr,
            offset,
        )
        central += name
    n = len(members)
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, min(n, 0xFFFF), min(n, 0xFFFF), len(central), len(out), 0)
    return bytes(out + central + eocd)


def deflated_zeros(total: int, chunk: int = 1 << 20) -> tuple[bytes, int]:
    """(raw deflate stream, crc32) of *total* zero bytes, made without holding them.

    After a full flush the compressor keeps no history, so every further chunk
    of zeros compresses to the same bytes and the stream is one block repeated.
    """
    assert total % chunk == 0
    zeros = bytes(chunk)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    second = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    if first != second:
        raise AssertionError("zlib did not repeat its block; cannot build the bomb cheaply")
    n = total // chunk
    stream = first * n + c.flush()
    crc = 0
    for _ in range(n):
        crc = zlib.crc32(zeros, crc)
    return stream, crc


def bomb_member(name: str, total: int, **lies) -> Member:
    stream, crc = deflated_zeros(total)
    m = Member(name, stream, 8, crc, len(stream), total, external_attr=(stat.S_IFREG | 0o644) << 16)
    for key, value in lies.items():
        setattr(m, key, value)
    return m


def too_many_members_zip(count: int) -> bytes:
    """*count* honest, empty stored members (built directly: 100,001 Member objects are slow)."""
    out, central = bytearray(), bytearray()
    attr = (stat.S_IFREG | 0o644) << 16
    for i in range(count):
        name = b"m%07d.xml" % i
        offset = len(out)
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0x5A2F, 0, 0, 0, len(name), 0) + name
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", (3 << 8) | 20, 20, 0, 0, 0, 0x5A2F, 0, 0, 0, len(name), 0, 0, 0, 0, attr, offset) + name
    n = min(count, 0xFFFF)
    if count >= 0xFFFF:
        # ZIP64 end record and locator, as zip tools write for > 65,534 members.
        z64_at = len(out) + len(central)
        z64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(central), len(out))
        locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, z64_at, 1)
        tail = z64 + locator + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, len(central), len(out), 0)
    else:
        tail = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n, n, len(central), len(out), 0)
    return bytes(out + central + tail)


def zip_cases(token: str) -> dict[str, tuple[bytes, str]]:
    """name -> (ZIP bytes, regular expression the whole-archive refusal must match).

    *token* goes into every dangerous target name, so a test can search the
    disk for it afterwards.
    """
    good = good_invoice(900)
    symlink = member("link.xml", b"/etc/passwd", deflate=False, external_attr=(stat.S_IFLNK | 0o777) << 16)
    fifo = member("pipe.xml", b"", deflate=False, external_attr=(stat.S_IFIFO | 0o644) << 16)
    return {
        "traversal_dotdot": (raw_zip([member("ok.xml", good), member(f"../../{token}_dotdot.xml", good)]), r"'\.\.' path"),
        "absolute_path": (raw_zip([member("ok.xml", good), member(f"/tmp/{token}_absolute.xml", good)]), r"absolute path"),
        "windows_drive_path": (raw_zip([member("ok.xml", good), member(f"C:\\Windows\\Temp\\{token}_drive.xml", good)]), r"drive letter"),
        "backslash_traversal": (raw_zip([member("ok.xml", good), member(f"sub\\..\\..\\..\\{token}_backslash.xml", good)]), r"'\.\.' path"),
        "symlink_member": (raw_zip([member("ok.xml", good), symlink]), r"symbolic link"),
        "fifo_member": (raw_zip([member("ok.xml", good), fifo]), r"special file"),
        "zip_bomb_200mb": (raw_zip([member("ok.xml", good), bomb_member("zeros.xml", 200 << 20)]), r"would expand to 209715200 bytes"),
        "zip_bomb_ratio": (raw_zip([member("ok.xml", good), bomb_member("zeros.xml", 48 << 20)]), r"compression ratio of \d+:1"),
        "declared_too_big": (raw_zip([member("ok.xml", good), member("small.xml", good, file_size=100 << 20)]), r"would expand to"),
    }


def write_all(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for case in XML_CASES:
        (target / f"{case.name}.xml").write_bytes(case.data)
    for name, (data, _says) in zip_cases("TOKEN").items():
        (target / f"{name}.zip").write_bytes(data)


if __name__ == "__main__":
    write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "generated")
