"""How full-text search reads words: Turkish folding, words, stems, and what matches a query.

Users type on any keyboard, so the index and the queries meet in plain ASCII:
Turkish case folding first (``İ`` → ``i``, ``I`` → ``ı``, which plain
``str.lower`` gets wrong, and which an engine's own lower-casing gets wrong
too: tantivy makes ``İ`` an ``i`` plus a combining dot), then every accent is
dropped (``ş`` → ``s``, ``ı`` → ``i``, ``â`` → ``a``...).  ``ISPARTA``,
``Isparta`` and ``ısparta`` therefore all fold to ``isparta``, and
``İSTANBUL``, ``Istanbul`` and ``istanbul`` to ``istanbul``.

Both full-text engines (tantivy, PostgreSQL) are handed the output of the
functions here, never raw text, and queries go through the same functions:
what matches is decided in this module, once, so both engines give the same
documents (``document_terms``, ``query_terms``).  A query word *q* matches a
document when

- *q* begins one of its folded name words (``anon`` finds ``ANONİM``; a whole
  name word begins itself), or
- *q* or its stem is one of its folded body words or their stems (``fatura``
  finds ``faturalar``: Snowball's Turkish stemmer makes ``fatura`` → ``fatur``
  but ``faturalar`` → ``fatura``, so one stem alone would miss it).

Name words get no stems: a prefix already finds ``ŞİRKETİ`` from ``şirket``, and a
second large posting list per query word (every company's legal form) doubled the
cost of the commonest queries.

Words are cut at an apostrophe (``Ankara'ya`` → ``ankara``: Turkish writes a
proper noun's suffix after one), and every query word must match.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

import Stemmer

__all__ = [
    "MAX_BODY_CHARS",
    "MAX_NAMES_CHARS",
    "MAX_QUERY_WORDS",
    "MAX_WORD",
    "DocumentTerms",
    "DocumentText",
    "QueryWord",
    "document_terms",
    "fold_turkish",
    "query_terms",
    "stem",
    "words",
]

# A hostile document (a million notes) must not blow the index up; real invoices
# carry a few KiB of text, ledgers more.
MAX_NAMES_CHARS = 16 * 1024
MAX_BODY_CHARS = 256 * 1024

class DocumentText(NamedTuple):
    """A document's text as full-text search takes it: party names, and everything else."""

    names: str
    body: str


# Applied after NFC and before lower(): the two letters where Turkish and
# Unicode's default case mapping disagree.
_TURKISH_CASE = str.maketrans({"İ": "i", "I": "ı"})
# Letters without a canonical decomposition, so stripping combining marks misses them.
_UNDECOMPOSABLE = str.maketrans({"ı": "i", "ß": "ss", "æ": "ae", "ø": "o", "đ": "d", "ł": "l", "œ": "oe"})


def _lower(text: str) -> str:
    """Lower-case the Turkish way (``I`` → ``ı``, ``İ`` → ``i``), accents kept."""
    if text.isascii():
        return text.translate(_ASCII_TURKISH_CASE).lower()
    return unicodedata.normalize("NFC", text).translate(_TURKISH_CASE).lower()


def _strip(text: str) -> str:
    """Every accent dropped from lower-case text (``ş`` → ``s``, ``ı`` → ``i``, ``â`` → ``a``)."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", stripped.translate(_UNDECOMPOSABLE))


_ASCII_TURKISH_CASE = str.maketrans({"I": "ı"})


def fold_turkish(text: str) -> str:
    """Lower-case *text* the Turkish way, then strip every accent: the form both index and queries use."""
    if text.isascii():
        # Fast path for the common case; ASCII "I" is still Turkish dotless ı, which folds to i.
        return text.lower()
    return _strip(_lower(text))


# A word is cut at this many characters, in documents and queries alike (nobody types 100
# letters; PostgreSQL refuses lexemes over 2 KiB).
MAX_WORD = 100
MAX_QUERY_WORDS = 16
# A stem shorter than this says too little ("an" from "ana") and is not used.
MIN_STEM = 3
# Letters and the combining marks after them (an NFD text, "I" + U+0307 lower-cased as "i̇"):
# a mark is part of the word, and folding drops it.
_WORD_RE = re.compile(r"\w[\w\u0300-\u036f]*")
# Everything from an apostrophe to the end of the word: Turkish writes a proper noun's
# suffixes after one (Ankara'ya, İSTANBUL'DA, Koç'un).
_SUFFIX_RE = re.compile(r"(?<=\w)['\u2019\u2018\u02bc`\u00b4]\w*")


def _lowered_words(text: str) -> list[str]:
    lowered = _SUFFIX_RE.sub("", _lower(text))
    return [w[:MAX_WORD] for w in _WORD_RE.findall(lowered)]


def words(text: str) -> list[str]:
    """The folded words of *text*, in order, suffixes after an apostrophe dropped, each cut at MAX_WORD."""
    return [_strip(w) for w in _lowered_words(text)]


_STEMMER: list[Stemmer.Stemmer] = []  # made on first use
_STEMMER_LOCK = threading.Lock()  # a PyStemmer object is not safe across threads
_STEMS: dict[str, str | None] = {}
_STEMS_MAX = 500_000  # the memo is cleared when full: a hostile vocabulary cannot grow it


def stem(word: str) -> str | None:
    """The folded Snowball Turkish stem of a lower-cased *word* (accents kept), when it is another
    word than the folded *word* and has at least MIN_STEM letters.

    Stemmed before folding, so the stemmer's vowel rules see Turkish
    (``faturası`` → ``fatura``; folded first, ``faturasi`` would stay whole),
    and the same way for documents and queries: a query typed in ASCII gets a
    weaker stem, and still finds the word itself.  Digits are not stemmed.
    """
    try:
        return _STEMS[word]
    except KeyError:
        pass
    out: str | None = None
    if not word.isdigit():
        with _STEMMER_LOCK:
            if not _STEMMER:
                _STEMMER.append(Stemmer.Stemmer("turkish"))
            out = _strip(_STEMMER[0].stemWord(word))
        if out == _strip(word) or len(out) < MIN_STEM:
            out = None
    if len(_STEMS) >= _STEMS_MAX:
        _STEMS.clear()
    _STEMS[word] = out
    return out


def _with_stems(text: str) -> list[tuple[str, str | None]]:
    return [(_strip(w), stem(w)) for w in _lowered_words(text)]


@dataclass(frozen=True, slots=True)
class DocumentTerms:
    """What an engine indexes of one document.

    names: the folded name words, in order (found by any prefix).
    words: the folded body words, each followed by its stem when it has one, in
    order (repeats kept: an engine may count them).
    """

    names: tuple[str, ...]
    words: tuple[str, ...]


def document_terms(names: str, body: str) -> DocumentTerms:
    out: list[str] = []
    for w, s in _with_stems(body[:MAX_BODY_CHARS]):
        out.append(w)
        if s is not None:
            out.append(s)
    return DocumentTerms(tuple(words(names[:MAX_NAMES_CHARS])), tuple(out))


@dataclass(frozen=True, slots=True)
class QueryWord:
    """One word of a query: it matches a name word it begins, or a word (or stem) equal to *word* or *stem*."""

    word: str
    stem: str | None


def query_terms(text: str) -> tuple[QueryWord, ...]:
    """The words of a query (plain words, no query language), distinct, at most MAX_QUERY_WORDS."""
    seen: dict[str, str | None] = {}
    for w, s in _with_stems(text):
        seen.setdefault(w, s)  # two spellings of one folded word: the first one's stem
    return tuple(QueryWord(w, s) for w, s in list(seen.items())[:MAX_QUERY_WORDS])
