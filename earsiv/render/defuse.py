"""Defusing the HTML that a document's own stylesheet wrote.

A stylesheet we did not write can write any HTML.  What it wrote is parsed,
cleaned here and serialised again, and then shown inside three fences:

1. this cleaning: no script, frame, form, animation or embedded object, no
   event handler, no ``javascript:`` anywhere, and no reference that could
   load something: every URL-bearing attribute (``src``, ``href``, ``ping``,
   ``srcset``, …) must be a ``data:`` URI or a ``#fragment``, and CSS (``<style>``,
   ``style=``, and presentation attributes such as ``fill``) is tokenised by
   tinycss2, as a browser would, escapes and all: ``url()``, ``image-set()``,
   ``image()``, ``cross-fade()`` and ``src()`` that name anything else become
   ``none`` and ``@import`` rules are dropped;
2. a Content-Security-Policy (in the page and, over HTTP, as a header) that
   loads nothing but ``data:`` images and fonts and runs no script;
3. in the HTML view, a sandboxed ``<iframe srcdoc>`` (no scripts, an opaque origin).

The parsers differ: lxml parses like libxml2, a browser like HTML5.  Fences 2
and 3 do not depend on the parse, which is why they are there.
"""

from __future__ import annotations

import re

import tinycss2
from lxml import etree
from lxml import html as lhtml
from tinycss2.ast import IdentToken

from earsiv.render.formats import CSP

__all__ = ["CSP", "DROP", "URL_ATTRS", "clean_css", "defuse", "parse_html"]


DROP = frozenset({
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "link", "meta", "form", "portal",
    "fencedframe", "audio", "video", "source", "track", "noscript", "noembed", "noframes", "xmp", "plaintext",
    # SVG animation can set any attribute, href included, to javascript: (<set attributeName="href" to="javascript:…">)
    "set", "animate", "animatemotion", "animatetransform", "animatecolor", "discard", "handler", "listener",
})
URL_ATTRS = frozenset({
    "src", "href", "xlink:href", "action", "formaction", "background", "poster", "srcset", "imagesrcset", "data",
    "ping", "cite", "longdesc", "usemap", "manifest", "codebase", "archive", "profile", "icon", "lowsrc", "dynsrc",
    "xml:base", "attributionsrc", "srcdoc", "itemtype", "itemid",
})
_FETCHING = frozenset({"url", "src", "image", "image-set", "-webkit-image-set", "cross-fade", "-webkit-cross-fade"})
# Without one of these, CSS names nothing to load (escapes need a backslash, every fetching
# function's name holds one of the words) and holds no "<": it is kept as it is, unparsed.
_MAY_LOAD = re.compile(r"url|image|src|fade|@import|\\|<", re.IGNORECASE)
_IGNORED = re.compile(r"[\x00-\x20\x7f]+")  # what a browser ignores or strips in a URL
_SCRIPT_SCHEMES = ("javascript:", "vbscript:", "livescript:")
_ACTIVE_DATA = ("data:text/html", "data:application/xhtml", "data:text/xml", "data:application/xml")
_NEVER = frozenset({"srcset", "imagesrcset", "srcdoc"})  # candidate lists (commas inside data: URIs) and documents


def parse_html(markup: str) -> etree._Element:
    """*markup* as an lxml tree, however long its texts: libxml2 otherwise cuts a text node at 10 MB, silently."""
    parser = lhtml.HTMLParser(huge_tree=True, remove_comments=True, remove_pis=True)
    return lhtml.document_fromstring(markup, parser=parser)


def _squeezed(value: str) -> str:
    return _IGNORED.sub("", value).lower()


def _safe_url(value: str) -> bool:
    """Empty, a fragment, or a data: URI that is not a document (images and fonts are inert)."""
    v = _squeezed(value)
    return not v or v.startswith("#") or v.startswith("data:") and not v.startswith(_ACTIVE_DATA)


def _fetches(token) -> bool:
    """Whether a CSS component value names something to load that is not data: or a fragment."""
    kind = token.type
    if kind == "url":
        return not _safe_url(token.value)
    if kind == "function":
        if token.lower_name in _FETCHING and any(
                t.type in ("url", "string") and not _safe_url(t.value)
                or t.type == "function" and t.lower_name in ("var", "env", "attr") for t in _flat(token.arguments)):
            return True  # image-set(var(--u)) with --u: "http://…" loads what the tokens do not show
        return any(_fetches(t) for t in token.arguments)
    if kind in ("() block", "[] block", "{} block"):
        return any(_fetches(t) for t in token.content)
    return False


def _flat(tokens):
    for t in tokens:
        yield t
        inner = getattr(t, "arguments", None) or getattr(t, "content", None)
        if isinstance(inner, list):
            yield from _flat(inner)


def _clean_values(tokens: list) -> list:
    out = []
    for t in tokens:
        if t.type in ("url", "function") and _fetches(t) and (t.type == "url" or t.lower_name in _FETCHING):
            out.append(IdentToken(t.source_line, t.source_column, "none"))
            continue
        if t.type == "function":
            t.arguments = _clean_values(t.arguments)
        elif t.type in ("() block", "[] block", "{} block"):
            t.content = _clean_values(t.content)
        out.append(t)
    return out


def clean_css(text: str, *, sheet: bool) -> str:
    """*text* (a stylesheet, or a declaration list or value when not *sheet*) with nothing left to load.

    CSS that cannot load anything is returned as it is; the rest is tokenised,
    cleaned and serialised again, with every ``<`` escaped (``\\3c ``): a
    string such as ``"\\3c /style>"`` must not come back as ``</style>``.
    """
    if not _MAY_LOAD.search(text):
        return text
    if sheet:
        rules = [r for r in tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True)
                 if r.type != "error" and not (r.type == "at-rule" and r.lower_at_keyword == "import")]
        for rule in rules:
            rule.prelude = _clean_values(rule.prelude)
            if rule.content is not None:
                rule.content = _clean_values(rule.content)
        out = "\n".join(rule.serialize() for rule in rules)
    else:
        out = tinycss2.serialize(_clean_values(tinycss2.parse_component_value_list(text, skip_comments=True)))
    return out.replace("<", "\\3c ")


def _name(el) -> str:
    # not etree.QName: the HTML parser keeps names such as "cbc:name" that are no XML names
    return el.tag.rpartition("}")[2].lower()


def _attr_ok(name: str, value: str) -> bool:
    low = name.lower()
    if low.startswith("on") or low in _NEVER or ":" in value and any(s in _squeezed(value) for s in _SCRIPT_SCHEMES):
        return False
    if low in URL_ATTRS:
        return _safe_url(value)
    if _MAY_LOAD.search(value):
        # a presentation attribute is CSS to a browser: fill="u\\72l(http://…)" loads
        return low == "style" or not any(_fetches(t) for t in tinycss2.parse_component_value_list(value))
    return True


def defuse(page: etree._Element) -> None:
    """Clean *page* in place (see the module's docstring)."""
    for el in [el for el in page.iter() if isinstance(el.tag, str) and _name(el) in DROP]:
        if el.getparent() is not None:
            el.drop_tree()
    for el in page.iter():
        if not isinstance(el.tag, str):
            continue
        for attr in list(el.attrib):
            value = el.get(attr, "")
            if not _attr_ok(attr, value):
                del el.attrib[attr]
            elif attr.lower() == "style":
                el.set(attr, clean_css(value, sheet=False))
        if _name(el) == "style":
            for child in list(el):
                el.remove(child)
            el.text = clean_css(el.text or "", sheet=True)
