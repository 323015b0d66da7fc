"""PostgreSQL text search: a document's words as a ``tsvector``, a query as a ``tsquery``.

Both are written here as literals of PostgreSQL's own input syntax from the words that
``documents.textterms`` made, never through ``to_tsvector``/``to_tsquery``: PostgreSQL's
parser and dictionaries would split and normalise words their own way (``sirket_a`` in two,
``İ`` lower-cased as ``i̇``), and the engines would no longer agree on what matches.

A document's ``tsvector``: every folded body word and stem, and every folded name word with
a ``^`` in front.  A query word *q* with stem *s* becomes ``('^q':* | 'q' | 's')``: a name
word beginning with *q* (GIN's prefix match), or *q* or *s* among the body's words and
stems, which is exactly what ``textterms`` says matches.  Words
are ANDed.  No positions and no weights are stored: nothing needs them, and a weight in a
query would make every GIN hit be checked again against the row.
"""

from __future__ import annotations

from earsiv.documents.textterms import DocumentText, document_terms, query_terms

__all__ = ["NAME_MARK", "tsquery_literal", "tsvector_literal"]

NAME_MARK = "^"


def _quote(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(text: DocumentText) -> str | None:
    """The ``tsvector`` of a document's text, or None when it has no word."""
    terms = document_terms(text.names, text.body)
    lexemes = dict.fromkeys(terms.words)
    lexemes.update(dict.fromkeys(NAME_MARK + w for w in terms.names))
    if not lexemes:
        return None
    return " ".join(_quote(x) for x in lexemes)


def tsquery_literal(text: str) -> str | None:
    """The ``tsquery`` of what a user typed, or None when it holds no word."""
    parts = []
    for w in query_terms(text):
        alternatives = [_quote(NAME_MARK + w.word) + ":*", _quote(w.word)]
        if w.stem is not None:
            alternatives.append(_quote(w.stem))
        parts.append("(" + " | ".join(alternatives) + ")")
    return " & ".join(parts) or None
