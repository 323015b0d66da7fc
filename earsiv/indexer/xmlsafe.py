"""The one way this code base parses XML it did not write.

lxml is configured so that nothing outside the given bytes is ever read:
no DTD is loaded, no entity is resolved, no network is touched, and the
input size is bounded.  Any document type declaration is refused outright:
UBL-TR and e-Defter documents never carry one, and a DTD is the vehicle of
billion-laughs and external-entity attacks.
"""

from __future__ import annotations

from lxml import etree

from .errors import HostileXML, NotXML, TooLarge

__all__ = ["DEFAULT_MAX_BYTES", "parse_xml", "safe_parser"]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


def safe_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        remove_comments=False,
        remove_pis=False,
        strip_cdata=False,
        collect_ids=False,
    )


def parse_xml(data: bytes, *, name: str = "<bytes>", max_bytes: int = DEFAULT_MAX_BYTES) -> etree._ElementTree:
    """Parse *data* or raise an error that names *name* and says what is wrong."""
    if len(data) > max_bytes:
        raise TooLarge(f"{len(data)} bytes is over the limit of {max_bytes} bytes", name=name)
    if not data.strip():
        raise NotXML("the file is empty", name=name)
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] != b"<" and not head.startswith(b"\xff\xfe") and not head.startswith(b"\xfe\xff"):
        raise NotXML("not XML: the content does not start with '<'", name=name)
    try:
        tree = etree.fromstring(data, parser=safe_parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        if b"<!DOCTYPE" in data[:65536] or b"<!ENTITY" in data[:65536]:
            raise HostileXML(f"document type declarations are not accepted ({exc})", name=name) from exc
        raise NotXML(f"not well-formed XML: {exc}", name=name) from exc
    except ValueError as exc:  # e.g. unicode string with encoding declaration
        raise NotXML(f"cannot parse: {exc}", name=name) from exc
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise HostileXML("document type declarations (DTD, entities) are not accepted", name=name)
    if _has_entity_refs(tree):
        raise HostileXML("entity references are not accepted", name=name)
    return tree


def _has_entity_refs(tree: etree._ElementTree) -> bool:
    # Without a DTD an entity reference cannot be defined, but lxml keeps
    # undefined references as nodes when resolve_entities is off; refuse them.
    return next(tree.getroot().iter(etree.Entity), None) is not None
