"""The one way a value becomes a CSV cell: every CSV the archive writes goes through ``csv_cell``.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some, a tab,
a carriage return or a line feed first) as a formula (OWASP "CSV injection"), and almost every
cell of our CSVs comes from a document someone else wrote: its ID, ETTN, profile, type code,
party IDs and names, currency, signer.  So every cell is checked, whatever its column; a column
that "cannot" hold a formula today (an amount, a date) costs nothing to check and stays safe
when a parser changes.  Numbers stay numbers: ``-12.50`` and ``+1E+3`` are values, not formulas,
and are left as they are, so a negative amount still sums in a spreadsheet.

A cell that could run is written with a leading apostrophe (``'=1+2``), which spreadsheets show
as the text it was and never evaluate; the CSV quoting itself is the ``csv`` module's.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["FORMULA_STARTS", "csv_cell"]

# What a spreadsheet may take as the start of a formula: the ASCII signs, the full-width forms
# some of them fold to, and the control characters that some strip before looking.
FORMULA_STARTS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z")


def csv_cell(value: Any) -> str:
    """*value* as the text of one CSV cell: ``""`` for None, and never something a spreadsheet would run."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    # Leading spaces do not make a cell safe: several spreadsheets skip them before the sign.
    head = text.lstrip(" \u00a0")[:1]
    if head in FORMULA_STARTS and not _NUMBER.match(text):
        return "'" + text
    return text
