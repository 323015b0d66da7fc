"""What a document's stylesheet writes is defused: nothing in it runs or loads, however it is spelt.

The holes (issue "Hostile tenants and hostile documents", item 7): SVG ``set``/``animate`` setting
``href`` to ``javascript:``, ``url(`` written with CSS escapes, ``image-set(`` with plain strings, and
``ping``: only the page's meta CSP stopped them.  Each is checked on the defused output by tokenising
its CSS again with tinycss2 (as a browser would) and by reading its attributes.
"""

from __future__ import annotations

from html import escape

import pytest
import tinycss2
from lxml import html as lhtml

from earsiv.render import render_html
from earsiv.render.defuse import clean_css, defuse, parse_html
from tests.conftest import CORPUS
from tests.unit.render.test_sandbox import ALL_TEXT, _with_stylesheet, sheet

LEAK = "http://127.0.0.1:9/leak"


def defused(markup: str) -> str:
    page = parse_html(markup)
    defuse(page)
    return lhtml.tostring(page, encoding="unicode")


_FETCHING = {"url", "src", "image", "image-set", "-webkit-image-set", "cross-fade", "-webkit-cross-fade"}


def _loads(css: str) -> list[str]:
    """What *css* would load, read the way a browser reads it (escapes resolved): url() anywhere,
    the strings and variables of image-set() and its kin, and @import."""
    found = []

    def walk(tokens, fetching=False):
        for t in tokens:
            names_a_url = t.type == "url" and t.value or fetching and t.type == "string"
            if names_a_url and not t.value.startswith(("data:", "#")):
                found.append(t.value)
            elif fetching and t.type == "function" and t.lower_name == "var":
                found.append("var()")
            elif t.type == "at-rule" and t.lower_at_keyword == "import":
                found.append("@import")
            inside = fetching or t.type == "function" and t.lower_name in _FETCHING
            for inner in (getattr(t, "arguments", None), getattr(t, "content", None), getattr(t, "prelude", None)):
                if isinstance(inner, list):
                    walk(inner, inside)

    walk(tinycss2.parse_stylesheet(css, skip_comments=True))
    walk(tinycss2.parse_component_value_list(css, skip_comments=True))
    return found


@pytest.mark.parametrize("markup", [
    f'<svg><a><set attributeName="href" to="javascript:fetch(\'{LEAK}\')"/><text>x</text></a></svg>',
    f'<svg><a><animate attributeName="href" values="javascript:fetch(\'{LEAK}\')"/><text>x</text></a></svg>',
    '<svg><a xlink:href="#x"><animateTransform attributeName="href" to="javascript:1"/></a><discard/></svg>',
    f'<a href="java&#9;script:fetch(\'{LEAK}\')">x</a>',
    f'<a href="  JAVASCRIPT:fetch(\'{LEAK}\')">x</a>',
    f'<div title="x" data-x="vbscript:{LEAK}">x</div>',
    f'<a href="data:text/html,<script>fetch(\'{LEAK}\')</script>">x</a>',
])
def test_svg_animation_and_script_urls_are_gone(markup):
    out = defused(f"<html><body>{markup}</body></html>").lower()
    for bad in ("<set", "<animate", "<discard", "javascript:", "vbscript:", "data:text/html"):
        assert bad not in out, out


@pytest.mark.parametrize("css", [
    f"body {{ background: url({LEAK}) }}",
    f"body {{ background: u\\72l({LEAK}) }}",
    f"body {{ background: \\75 rl({LEAK}) }}",
    f"body {{ background: URL('{LEAK}') }}",
    f"body {{ background: u\\rl(\"{LEAK}\") }}",
    f"body {{ background-image: image-set('{LEAK}' 1x, '{LEAK}' 2x) }}",
    f"body {{ background-image: -webkit-image-set(\"{LEAK}\" 1x) }}",
    f"body {{ background-image: image-s\\65t('{LEAK}' 1x) }}",
    f"body {{ --u: '{LEAK}'; background-image: image-set(var(--u) 1x) }}",
    f"body {{ background-image: cross-fade(url({LEAK}), url(data:image/png;base64,AA), 50%) }}",
    f"@import '{LEAK}'; body {{ color: red }}",
    f"@\\69mport url({LEAK}); body {{ color: red }}",
    f"@font-face {{ font-family: x; src: url({LEAK}) }}",
    f"@media print {{ p {{ list-style: url({LEAK}) }} }}",
])
def test_css_that_would_load_is_cleaned_in_style_elements_and_attributes(css):
    declarations = escape(css.split("{", 1)[-1].rstrip("} "), quote=True)
    page = parse_html(f'<html><head><style>{css}</style></head><body><p style="{declarations}">x</p></body></html>')
    defuse(page)
    style = page.find(".//style").text
    assert not _loads(style), style
    assert not _loads(page.find(".//p").get("style", "")), page.find(".//p").get("style")


def test_css_that_loads_nothing_is_left_as_it_is():
    css = "body { color: #123; margin: 0 } td { border: 1px solid rgb(0, 0, 0) } .logo { background: url(data:image/png;base64,AAAA) }"
    assert clean_css(css, sheet=True).replace("\n", " ") in (css, css.replace("} ", "}\n").replace("\n", " "))
    assert not _loads(clean_css(css, sheet=True)) and "data:image/png" in clean_css(css, sheet=True)


@pytest.mark.parametrize("markup,attr", [
    (f'<a href="#x" ping="{LEAK}">x</a>', "ping"),
    (f'<img src="data:image/png;base64,AA" srcset="data:image/png;base64,AA 1x, {LEAK} 2x">', "srcset"),
    (f'<blockquote cite="{LEAK}">x</blockquote>', "cite"),
    (f'<img src="data:image/png;base64,AA" longdesc="{LEAK}">', "longdesc"),
    (f'<svg><rect fill="url({LEAK}#p)" width="1" height="1"/></svg>', "fill"),
    (f'<svg><rect filter="u\\72l({LEAK}#f)" width="1" height="1"/></svg>', "filter"),
    (f'<svg><image href="{LEAK}"/></svg>', "href"),
    (f'<svg><use xlink:href="{LEAK}#a"/></svg>', "xlink:href"),
    (f'<table background="{LEAK}"><tr><td>x</td></tr></table>', "background"),
])
def test_attributes_that_would_load_are_dropped(markup, attr):
    out = defused(f"<html><body>{markup}</body></html>")
    assert LEAK not in out, out
    assert f'{attr}="' not in out or attr in ("href", "xlink:href") and LEAK not in out


def test_a_css_string_cannot_close_the_style_element():
    """tinycss2 resolves escapes: "\\3c /style>" must not come back out as a real </style>."""
    import tinyhtml5

    out = defused('<html><head><style>p { content: "\\3c /style><img src=x onerror=alert(1)>" }'
                  f" b {{ background: url({LEAK}) }}</style></head><body><svg><style><img src=x onerror=alert(2)></style></svg>"
                  "<p>x</p></body></html>")
    tree = tinyhtml5.parse(out)  # as a browser parses it (HTML5 tree construction)
    names = [el.tag.rpartition("}")[2] for el in tree.iter()]
    assert "img" not in names and names.count("style") <= 2, out
    assert not any("onerror" in el.attrib for el in tree.iter()), out


def test_a_hostile_stylesheets_output_is_printed_defused():
    body = ('<xsl:template match="/"><html><head><style>'
            f"body {{ background: u\\72l({LEAK}) }} p {{ background-image: image-set('{LEAK}' 1x) }}</style></head><body>"
            f'<a href="#t" ping="{LEAK}">t</a>'
            f'<svg><a><set attributeName="href" to="javascript:fetch(\'{LEAK}\')"/><text>s</text></a></svg>'
            f"<p>{ALL_TEXT}</p></body></html></xsl:template>")
    view = render_html(_with_stylesheet(CORPUS / "earsiv" / "bdog_sample.xml", sheet(body)))
    assert view.source == "embedded:1", view.problems
    assert LEAK not in view.html and "javascript:" not in view.html.lower() and "<set" not in view.html.lower()


def _with_note(text: str) -> bytes:
    from lxml import etree

    tree = etree.parse(str(CORPUS / "efatura/gib121_TicariFaturaOrnegi.xml"))
    cbc = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
    note = etree.Element(f"{{{cbc}}}Note")
    note.text = text
    tree.getroot().find(f"{{{cbc}}}IssueDate").addnext(note)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def test_a_note_over_10_mb_is_in_the_html_view_whole():
    """libxml2's HTML parser cut text nodes at 10 MB without a word: the note vanished from the print."""
    note = "BAŞI " + "ğ" * 10_500_000 + " SONU"
    view = render_html(_with_note(note))
    assert "BAŞI" in view.html and "SONU" in view.html and view.html.count("ğ") >= 10_500_000
