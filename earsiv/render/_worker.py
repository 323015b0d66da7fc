"""The print worker: reads jobs on stdin, writes stages and results on stdout.

Started by :class:`earsiv.render.pool.Worker`; never run by hand.  Frames both
ways: one kind byte, a length-prefixed JSON header, a length-prefixed body.

- ``J`` {"op": "transform"} with the document and the stylesheet (``parts``):
  the stylesheet applied, as :class:`earsiv.render.xslt.Sandbox` asks;
- ``J`` {"op": "print", "format": "pdf"|"html", "prov", "evidence", "skip",
  "notes", "stylesheets"} with the document: the whole print, HTML chain and
  layout, in this process, telling each stage as it starts (``S``);
- answers: ``R`` (header: source, limits; body: the output) or ``E``
  (header: error, and ``limit: "memory"`` when memory ran out).

This process is the sandbox: an address-space limit (``EARSIV_SANDBOX_MEMORY``
bytes beyond its size at start), a lower CPU priority, ``/`` as its directory,
and the parent's clock, which kills it at a stage's deadline.  The XSLT rules
(no file or network access, no extensions) hold here as they do anywhere.
"""

from __future__ import annotations

import json
import os
import resource
import struct
import sys

from lxml import etree

__all__ = ["InProcess", "apply", "check_stylesheet", "main"]

_U32 = struct.Struct(">I")
XSL = "http://www.w3.org/1999/XSL/Transform"
NICE = 10  # a print yields the CPU to the server's own requests
DEFAULT_MAX_OUTPUT = 32 * 1024 * 1024  # characters of HTML a stylesheet may write
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


def _ran_out_of_memory(log) -> bool:
    """libxml2 reports an allocation refused by the address-space limit as an error, not as MemoryError."""
    return any(entry.type_name == "ERR_NO_MEMORY" for entry in log)


def apply(document: bytes, stylesheet: bytes, max_output: int) -> str:
    from earsiv.documents.xmlsafe import parse_xml

    sheet = parse_xml(stylesheet, name="stylesheet")
    check_stylesheet(sheet.getroot())
    # Re-parse with a resolver that answers nothing: libxslt resolves through the
    # parser the stylesheet document came from.
    sheet = etree.fromstring(etree.tostring(sheet), parser=_parser()).getroottree()
    transform = etree.XSLT(sheet, access_control=_ACCESS, extensions=None)
    doc = parse_xml(document, name="document")
    try:
        result = transform(doc)
    except etree.XSLTApplyError as exc:
        if _ran_out_of_memory(exc.error_log):
            raise MemoryError("the stylesheet ran out of memory") from exc
        raise
    if _ran_out_of_memory(transform.error_log):
        raise MemoryError("the stylesheet ran out of memory")
    for entry in transform.error_log:
        if entry.level_name in ("ERROR", "FATAL"):
            raise ValueError(f"stylesheet error: {entry.message}")
    text = str(result)
    if len(text) > max_output:
        raise ValueError(f"stylesheet output of {len(text)} characters is over the limit of {max_output}")
    if not text.strip():
        raise ValueError("stylesheet produced no output")
    return text


class InProcess:
    """The sandbox seen from inside it: stylesheets applied here, with the same rules."""

    def __init__(self, max_output: int = DEFAULT_MAX_OUTPUT) -> None:
        self.max_output = max_output

    def transform(self, document: bytes, stylesheet: bytes) -> str:
        from earsiv.render.errors import StylesheetRefused

        try:
            return apply(document, stylesheet, self.max_output)
        except MemoryError:
            raise
        except Exception as exc:
            raise StylesheetRefused(f"{exc.__class__.__name__}: {exc}"[:4000]) from exc


def _print(header: dict, data: bytes, stage) -> tuple[dict, bytes]:
    from earsiv.render.frame import framed_html
    from earsiv.render.html import PRINTED_TEXT, render_html
    from earsiv.render.provenance import Provenance

    prov = Provenance(**header["prov"])
    fmt = header["format"]
    view = render_html(data, sandbox=InProcess(), builtin=not header.get("stylesheets", True),
                       skip=frozenset(header.get("skip", ())), notes=tuple(header.get("notes", ())),
                       max_text=PRINTED_TEXT if fmt == "pdf" else None, on_candidate=lambda s: stage(f"view:{s}"))
    if fmt == "html":
        out = framed_html(view, prov).encode("utf-8")
    else:
        from earsiv.render.pdf import render_pdf

        stage(f"layout:{view.source}")
        out = render_pdf(data, prov, evidence=header.get("evidence"), view=view, notes=" | ".join(view.limits))
    return {"source": view.source, "limits": list(view.limits)}, out


def _read(stream, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise EOFError
    return data


def _read_frame(stream) -> tuple[bytes, dict, bytes]:
    kind = _read(stream, 1)
    (n,) = _U32.unpack(_read(stream, 4))
    header = json.loads(_read(stream, n))
    (n,) = _U32.unpack(_read(stream, 4))
    return kind, header, _read(stream, n)


def _write(stream, kind: bytes, header: dict, body: bytes = b"") -> None:
    head = json.dumps(header, ensure_ascii=False).encode()
    stream.write(kind + _U32.pack(len(head)) + head + _U32.pack(len(body)) + body)
    stream.flush()


def _limit_memory() -> None:
    memory = int(os.environ.get("EARSIV_SANDBOX_MEMORY", "0"))
    if memory:
        with open("/proc/self/statm") as f:
            base = int(f.read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (base + memory, base + memory))


def main() -> None:
    _limit_memory()
    try:
        os.nice(NICE)
    except OSError:
        pass
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    current = {"stage": None}

    def stage(name: str) -> None:
        current["stage"] = name
        _write(stdout, b"S", {"stage": name})

    while True:
        try:
            _kind, header, body = _read_frame(stdin)
        except (EOFError, ValueError, struct.error):
            return
        current["stage"] = None
        try:
            if header.get("op") == "transform":
                document, stylesheet = body[: header["parts"][0]], body[header["parts"][0]:]
                reply, out = {}, apply(document, stylesheet, int(header.get("max_output", DEFAULT_MAX_OUTPUT))).encode(
                    "utf-8", "surrogatepass")
            else:
                reply, out = _print(header, body, stage)
        except MemoryError:
            out = b""
            reply = {"error": "out of memory", "limit": "memory", "stage": current["stage"]}
            _write(stdout, b"E", reply)
            return  # a process that ran out of memory is not trusted with another job
        except Exception as exc:  # noqa: BLE001 - any failure of untrusted input is reported, never fatal
            _write(stdout, b"E", {"error": f"{exc.__class__.__name__}: {exc}"[:4000], "stage": current["stage"]})
            continue
        _write(stdout, b"R", reply, out)


if __name__ == "__main__":
    main()
