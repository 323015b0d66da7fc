"""The sandbox worker: reads (document, stylesheet) frames on stdin, writes results.

Reply frame: one status byte (``H`` HTML, ``E`` error) then a length-prefixed
UTF-8 payload.  Started by :class:`earsiv.render.xslt.Sandbox`; never run by hand.
"""

from __future__ import annotations

import os
import resource
import struct
import sys

from lxml import etree

__all__ = ["apply", "check_stylesheet", "main"]

_HEADER = struct.Struct(">I")
XSL = "http://www.w3.org/1999/XSL/Transform"
# EXSLT modules that compute and touch nothing outside the tree.
PURE_EXTENSIONS = {
    "http://exslt.org/common",
    "http://exslt.org/strings",
    "http://exslt.org/math",
    "http://exslt.org/sets",
    "http://exslt.org/dates-and-times",
}
_ACCESS = etree.XSLTAccessControl.DENY_ALL


class _Nothing(etree.Resolver):
    def resolve(self, url, pubid, context):
        return self.resolve_string("", context)


def check_stylesheet(root: etree._Element) -> None:
    """Refuse what a presentation stylesheet never needs (raises ``ValueError``)."""
    for el in root.iter(f"{{{XSL}}}import", f"{{{XSL}}}include"):
        raise ValueError(f"stylesheet refused: xsl:{etree.QName(el).localname} of {el.get('href')!r}")
    declared = set()
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for attr in ("extension-element-prefixes", f"{{{XSL}}}extension-element-prefixes"):
            for prefix in (el.get(attr) or "").split():
                declared.add(el.nsmap.get(None if prefix == "#default" else prefix))
        ns = etree.QName(el).namespace
        if ns in declared and ns not in PURE_EXTENSIONS or etree.QName(el).localname == "document" and ns == "http://exslt.org/common":
            raise ValueError(f"stylesheet refused: extension element {el.tag}")
    bad = declared - PURE_EXTENSIONS
    if bad:
        raise ValueError(f"stylesheet refused: extension namespaces {sorted(x or '' for x in bad)}")


def _parser() -> etree.XMLParser:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
    parser.resolvers.add(_Nothing())
    return parser


def apply(document: bytes, stylesheet: bytes, max_output: int) -> str:
    from earsiv.documents.xmlsafe import parse_xml

    sheet = parse_xml(stylesheet, name="stylesheet")
    check_stylesheet(sheet.getroot())
    # Re-parse with a resolver that answers nothing: libxslt resolves through the
    # parser the stylesheet document came from.
    sheet = etree.fromstring(etree.tostring(sheet), parser=_parser()).getroottree()
    transform = etree.XSLT(sheet, access_control=_ACCESS, extensions=None)
    doc = parse_xml(document, name="document")
    result = transform(doc)
    for entry in transform.error_log:
        if entry.level_name in ("ERROR", "FATAL"):
            raise ValueError(f"stylesheet error: {entry.message}")
    text = str(result)
    if len(text) > max_output:
        raise ValueError(f"stylesheet output of {len(text)} characters is over the limit of {max_output}")
    if not text.strip():
        raise ValueError("stylesheet produced no output")
    return text


def _read(stream, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise EOFError
    return data


def main() -> None:
    memory = int(os.environ.get("EARSIV_SANDBOX_MEMORY", "0"))
    max_output = int(os.environ.get("EARSIV_SANDBOX_MAX_OUTPUT", str(32 << 20)))
    if memory:
        with open("/proc/self/statm") as f:
            base = int(f.read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (base + memory, base + memory))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            (n,) = _HEADER.unpack(_read(stdin, 4))
            document = _read(stdin, n)
            (n,) = _HEADER.unpack(_read(stdin, 4))
            stylesheet = _read(stdin, n)
        except EOFError:
            return
        try:
            status, payload = b"H", apply(document, stylesheet, max_output).encode("utf-8", "surrogatepass")
        except MemoryError:
            status, payload = b"E", b"stylesheet exceeded the memory limit"
        except Exception as exc:  # noqa: BLE001 - any failure of untrusted input is reported, never fatal
            status, payload = b"E", f"{exc.__class__.__name__}: {exc}".encode("utf-8", "replace")[:4000]
        stdout.write(status + _HEADER.pack(len(payload)) + payload)
        stdout.flush()


if __name__ == "__main__":
    main()
