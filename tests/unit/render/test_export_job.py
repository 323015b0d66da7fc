"""The pool worker's job: safe file names, originals untouched, failures reported not raised."""

from __future__ import annotations

import hashlib

from earsiv.render import Provenance
from earsiv.render.export import export_name, job, render_as


def prov(data: bytes, **over) -> Provenance:
    return Provenance(**{"digest": hashlib.sha256(data).hexdigest(), "kind": "e-fatura", **over})


def test_names_are_safe_whatever_the_id_holds():
    data = b"<a/>"
    name = export_name(prov(data, doc_id="../../%ID%", ettn="##UUID##"), "pdf")
    kind, _, file = name.partition("/")
    assert kind == "e-fatura" and "/" not in file and ".." not in file and "%" not in file and "#" not in file
    assert file.endswith(f"_{hashlib.sha256(data).hexdigest()[:12]}.pdf")
    assert export_name(prov(data), "xml").startswith("e-fatura/document_")


def test_xml_is_the_original_and_html_is_rendered():
    data = "<root><x>ğüşiöç</x></root>".encode()
    assert render_as("xml", data, prov(data, kind="other"), {}) == data
    assert "ğüşiöç" in render_as("html", data, prov(data, kind="other"), {}).decode()


def test_a_document_that_cannot_be_rendered_is_reported_not_raised():
    data = b"<not-closed>"
    name, out, why = job("html", data, prov(data, kind="other"), {})
    assert out is None and "NotXML" in why and name.startswith("other/")
