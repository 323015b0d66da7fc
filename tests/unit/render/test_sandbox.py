"""Hostile stylesheets are contained: no file read or write, no extension, no hang, no flood."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from lxml import etree

from earsiv.render import Sandbox, StylesheetRefused, render_html
from tests.conftest import CORPUS

SHEET = '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" {ns}>{body}</xsl:stylesheet>'
DOC = b"<a><b>x</b></a>"
SECRET = Path("/etc/passwd").read_text().splitlines()[0]  # "root:x:0:0:..." on any Debian


def sheet(body: str, ns: str = "") -> bytes:
    return SHEET.format(ns=ns, body=body).encode()


@pytest.fixture(scope="module")
def sandbox():
    sb = Sandbox(timeout=3, max_output=200_000)
    yield sb
    sb.close()


def test_a_plain_stylesheet_works(sandbox):
    out = sandbox.transform(DOC, sheet('<xsl:template match="/"><html><body><p><xsl:value-of select="a/b"/></p></body></html></xsl:template>'))
    assert "<p>x</p>" in out


@pytest.mark.parametrize("call", ["document('/etc/passwd')", "document('file:///etc/passwd')"])
def test_document_function_cannot_read_local_files(sandbox, call):
    with pytest.raises(StylesheetRefused) as err:
        sandbox.transform(DOC, sheet(f'<xsl:template match="/"><p><xsl:copy-of select="{call}"/></p></xsl:template>'))
    assert SECRET not in str(err.value)


@pytest.mark.parametrize("element", ["import", "include"])
def test_import_and_include_of_a_local_path_are_refused(sandbox, element):
    with pytest.raises(StylesheetRefused, match=f"xsl:{element}"):
        sandbox.transform(DOC, sheet(f'<xsl:{element} href="/etc/passwd"/><xsl:template match="/">x</xsl:template>'))


def test_exsl_document_cannot_write_files(sandbox, tmp_path):
    target = tmp_path / "written.txt"
    with pytest.raises(StylesheetRefused):
        sandbox.transform(DOC, sheet(f'<xsl:template match="/"><exsl:document href="{target}">pwned</exsl:document>ok</xsl:template>',
                                     'xmlns:exsl="http://exslt.org/common" extension-element-prefixes="exsl"'))
    assert not target.exists()


@pytest.mark.parametrize("ns,call", [
    ('xmlns:py="urn:python"', "py:system('id')"),
    ('xmlns:php="http://php.net/xsl"', "php:function('file_get_contents', '/etc/passwd')"),
])
def test_unknown_extension_functions_fail(sandbox, ns, call):
    with pytest.raises(StylesheetRefused):
        sandbox.transform(DOC, sheet(f'<xsl:template match="/"><p><xsl:value-of select="{call}"/></p></xsl:template>', ns))


def test_infinite_recursion_is_stopped_by_libxslt_depth_limit(sandbox):
    with pytest.raises(StylesheetRefused):
        sandbox.transform(DOC, sheet('<xsl:template match="/"><xsl:call-template name="r"/></xsl:template>'
                                     '<xsl:template name="r"><x><xsl:call-template name="r"/></x></xsl:template>'))
    # the worker survives (or is replaced) and serves the next job
    assert "ok" in sandbox.transform(DOC, sheet('<xsl:template match="/">ok</xsl:template>'))


def test_exponential_work_under_the_depth_limit_is_killed_at_the_timeout(sandbox):
    body = ('<xsl:template match="/"><xsl:call-template name="r"><xsl:with-param name="n" select="0"/></xsl:call-template></xsl:template>'
            '<xsl:template name="r"><xsl:param name="n"/><xsl:if test="$n &lt; 60">'
            '<xsl:call-template name="r"><xsl:with-param name="n" select="$n+1"/></xsl:call-template>'
            '<xsl:call-template name="r"><xsl:with-param name="n" select="$n+1"/></xsl:call-template></xsl:if></xsl:template>')
    with pytest.raises(StylesheetRefused, match="longer than"):
        sandbox.transform(DOC, sheet(body))
    assert "ok" in sandbox.transform(DOC, sheet('<xsl:template match="/">ok</xsl:template>'))


def test_huge_output_is_refused(sandbox):
    # 2^12 copies of a 100-character string: 409,600 characters > the 200,000 limit
    body = ('<xsl:template match="/"><xsl:call-template name="r"><xsl:with-param name="n" select="0"/></xsl:call-template></xsl:template>'
            '<xsl:template name="r"><xsl:param name="n"/><xsl:choose><xsl:when test="$n &lt; 12">'
            '<xsl:call-template name="r"><xsl:with-param name="n" select="$n+1"/></xsl:call-template>'
            '<xsl:call-template name="r"><xsl:with-param name="n" select="$n+1"/></xsl:call-template></xsl:when>'
            f'<xsl:otherwise>{"A" * 100}</xsl:otherwise></xsl:choose></xsl:template>')
    with pytest.raises(StylesheetRefused, match="over the limit"):
        sandbox.transform(DOC, sheet(body))


def test_a_doctype_in_the_stylesheet_is_refused(sandbox):
    evil = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + sheet('<xsl:template match="/">&e;</xsl:template>')
    with pytest.raises(StylesheetRefused, match="(?i)doctype|hostile"):
        sandbox.transform(DOC, evil)


def _with_stylesheet(template: Path, xslt: bytes) -> bytes:
    """The corpus document with its embedded stylesheet replaced by *xslt*."""
    tree = etree.parse(str(template))
    objs = tree.xpath("//*[local-name()='AdditionalDocumentReference']/*[local-name()='Attachment']/*[local-name()='EmbeddedDocumentBinaryObject']")
    objs[0].text = base64.b64encode(xslt).decode()
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def test_a_document_with_a_hostile_stylesheet_gets_an_error_notice_and_a_complete_page():
    template = CORPUS / "earsiv" / "bdog_sample.xml"  # one embedded stylesheet, no GİB fallback needed to judge
    data = _with_stylesheet(template, sheet('<xsl:template match="/"><html><body><pre><xsl:value-of select="document(\'/etc/passwd\')"/>'
                                            '</pre></body></html></xsl:template>'))
    view = render_html(data)
    assert view.problems and "embedded:1" in view.problems[0]
    assert view.source in ("gib:general.xslt", "builtin")
    assert SECRET not in view.html
    original = render_html(template.read_bytes())
    assert original.source == "embedded:1"  # the real stylesheet works: the fallback above is the hostile one's doing


# Every text of the document except the opaque parts: output that passes the completeness check.
ALL_TEXT = ("<xsl:for-each select=\"//text()[not(ancestor::*[local-name()='EmbeddedDocumentBinaryObject' or "
            "local-name()='Signature' or local-name()='UBLExtensions'])]\"><xsl:value-of select=\".\"/> </xsl:for-each>")


def test_stylesheet_output_is_defused():
    template = CORPUS / "earsiv" / "bdog_sample.xml"
    body = ('<xsl:template match="/"><html><head><link rel="stylesheet" href="file:///etc/passwd"/>'
            '<script>alert(1)</script></head><body onload="alert(2)">'
            f'<img src="file:///etc/passwd"/><a href="javascript:alert(3)">x</a><p>{ALL_TEXT}</p></body></html></xsl:template>')
    view = render_html(_with_stylesheet(template, sheet(body)))
    assert view.source == "embedded:1", view.problems
    low = view.html.lower()
    for bad in ("<script", "onload", "file:///etc/passwd", "javascript:", "<link"):
        assert bad not in low
    assert "content-security-policy" in low
