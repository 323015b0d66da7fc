"""The one way this code base parses XML it did not write.

Nothing outside the given bytes is ever read: no DTD is loaded, no entity is
resolved, no file or network resource is touched, XInclude is never processed,
and the input size and nesting depth are bounded.

Any document type declaration is refused, and it is refused *before* the bytes
reach libxml2.  UBL-TR and e-Defter documents never carry one, and a DTD is the
vehicle of billion-laughs, external-entity and parameter-entity attacks.  Even
with ``load_dtd=False`` libxml2 opens an external subset or a parameter entity
named in a DOCTYPE (measured with libxml2 2.14: ``SYSTEM "file:///dev/zero"``
hangs the parser, ``SYSTEM "file:///etc/passwd"`` is read), so refusing after
the parse would be too late.  A resolver that answers every request with
nothing stays installed as a second line of defence, and the tree is checked
again after parsing.

Checks, in order (each raises with the file's name and what is wrong):

1. size over the limit                                  -> ``TooLarge``
2. empty, NUL bytes, UTF-16/32 without a byte order mark,
   content that does not start with markup              -> ``NotXML``
3. a ``<!DOCTYPE`` in the prolog                         -> ``HostileXML``
4. libxml2 refuses: depth or resource limits            -> ``TooLarge``;
   unknown encoding, not well-formed                    -> ``NotXML``
5. a DTD or an entity reference left in the tree        -> ``HostileXML``
"""

from __future__ import annotations

import re
import threading

from lxml import etree

from earsiv.documents.errors import HostileXML, NotXML, TooLarge

__all__ = ["DEFAULT_MAX_BYTES", "MAX_DEPTH", "parse_xml", "safe_parser"]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
# libxml2's own bound under XML_PARSE_HUGE; real UBL-TR documents nest < 30 deep.
MAX_DEPTH = 2048

_BOMS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
# A first '<' in UTF-32 or UTF-16 without a BOM (XML 1.0 §4.3.3 requires one).
_UNMARKED_WIDE = ((b"\x00\x00\x00<", "UTF-32"), (b"<\x00\x00\x00", "UTF-32"), (b"\x00<", "UTF-16"), (b"<\x00", "UTF-16"))
# Magic numbers of what people most often send instead of XML.
_SNIFF = (
    (b"%PDF-", "a PDF file"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive (archives inside archives are not opened)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\x1f\x8b", "a gzip file"),
    (b"\x28\xb5\x2f\xfd", "a zstd frame"),
    (b"%!PS", "a PostScript file"),
    (b"\xd0\xcf\x11\xe0", "an MS Office (OLE) file"),
    (b"{\\rtf", "an RTF document"),
)
# White space, XML declaration, comments and processing instructions: all that
# may precede a DOCTYPE or the root element.
_PROLOG = r"(?:[ \t\r\n]+|<\?.*?\?>|<!--.*?-->)*"
_PROLOG_B = re.compile(_PROLOG.encode(), re.DOTALL)
_PROLOG_S = re.compile(_PROLOG, re.DOTALL)
_NAME_START = re.compile(r"[A-Za-z_:\u00c0-\U000effff]")
_ONLY_SPACE = re.compile(rb"[ \t\r\n]*")
_LXML_WHERE = re.compile(r" \(<string>, line \d+\)$")


class _RefuseAll(etree.Resolver):
    """Every external resource resolves to nothing (second line of defence)."""

    def resolve(self, url, pubid, context):
        return self.resolve_string("", context)


def safe_parser() -> etree.XMLParser:
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        # Lifts libxml2's 10 MB text-node limit (embedded attachments can be
        # larger) and its 256-level depth limit (to MAX_DEPTH).  Safe here only
        # because DTDs, the one source of amplification, never reach the parser
        # and the input is bounded by max_bytes.
        huge_tree=True,
        remove_blank_text=False,
        remove_comments=False,
        remove_pis=False,
        strip_cdata=False,
        collect_ids=False,
    )
    parser.resolvers.add(_RefuseAll())
    return parser


_local = threading.local()


def _thread_parser() -> etree.XMLParser:
    # A parser is not safe to share between threads, and making one per
    # document costs as much as parsing a small one: one per thread.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = safe_parser()
    return parser


def parse_xml(data: bytes, *, name: str = "<bytes>", max_bytes: int = DEFAULT_MAX_BYTES) -> etree._ElementTree:
    """Parse *data* or raise an error that names *name* and says what is wrong."""
    if len(data) > max_bytes:
        raise TooLarge(f"{len(data)} bytes is over the limit of {max_bytes} bytes", name=name)
    _check_prolog(data, name)
    try:
        root = etree.fromstring(data, parser=_thread_parser())
    except etree.XMLSyntaxError as exc:
        raise _translate(exc, name) from exc
    except (etree.LxmlError, ValueError, LookupError) as exc:
        raise NotXML(f"cannot parse: {exc}", name=name) from exc
    if root is None:
        raise NotXML("no root element", name=name)
    tree = root.getroottree()
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise HostileXML("document type declarations (DTD, entities) are not accepted", name=name)
    if next(root.iter(etree.Entity), None) is not None:
        # Without a DTD no entity can be defined, but lxml keeps undefined
        # references as nodes when resolve_entities is off; refuse them.
        raise HostileXML("entity references are not accepted", name=name)
    return tree


def _check_prolog(data: bytes, name: str) -> None:
    """Refuse what is not XML, and any DOCTYPE, without handing it to libxml2."""
    if not data or _ONLY_SPACE.fullmatch(data[:4096]) and not data.strip(b" \t\r\n"):
        raise NotXML("the file is empty" if not data else "the file contains only white space", name=name)
    for magic, what in _SNIFF:
        if data.startswith(magic):
            raise NotXML(f"not XML: this looks like {what}", name=name)
    codec = next((c for bom, c in _BOMS if data.startswith(bom)), None)
    if codec is None:
        wide = next((w for start, w in _UNMARKED_WIDE if data.startswith(start)), None)
        if wide is not None:
            raise NotXML(f"{wide} text without a byte order mark; XML requires one (XML 1.0 §4.3.3)", name=name)
        nul = data.find(b"\x00")
        if nul >= 0:
            raise NotXML(f"contains a NUL byte at offset {nul}; XML does not allow NUL characters", name=name)
        body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
        end = _PROLOG_B.match(body).end()
        rest = body[end : end + 10].decode("latin-1")
    else:
        rest = _wide_after_prolog(data, codec)
    if rest[:9].upper() == "<!DOCTYPE":
        raise HostileXML("has a document type declaration (<!DOCTYPE ...>); DTDs and entities are not accepted", name=name)
    if rest[:1] != "<":
        raise NotXML("not XML: the content does not start with '<'", name=name)
    if rest[:2] == "<!" or not _NAME_START.match(rest[1:2]):
        raise NotXML("not XML: no root element where one should start", name=name)


def _wide_after_prolog(data: bytes, codec: str) -> str:
    """The first characters after the prolog of a UTF-16/32 document."""
    width = 4 if "32" in codec else 2
    size = 64 * 1024
    while True:
        chunk = data[: size - size % width]
        text = chunk.decode(codec, errors="replace").lstrip("\ufeff")
        end = _PROLOG_S.match(text).end()
        # A prolog that runs to the end of the chunk may go on: read further.
        if end < len(text) - 16 or len(chunk) >= len(data):
            return text[end : end + 10]
        size *= 4


def _translate(exc: etree.XMLSyntaxError, name: str) -> Exception:
    msg = _LXML_WHERE.sub("", str(exc)).strip()
    low = msg.lower()
    if "excessive depth" in low:
        return TooLarge(f"elements are nested deeper than {MAX_DEPTH} levels", name=name)
    if "resource limit" in low or "huge" in low or "too long" in low or "amplification" in low:
        return TooLarge(f"over a parser resource limit: {msg}", name=name)
    if "encoding" in low and ("unsupported" in low or "unknown" in low):
        return NotXML(f"the XML declaration names an encoding that is not supported: {msg}", name=name)
    return NotXML(f"not well-formed XML: {msg}", name=name)
