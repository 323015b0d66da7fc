"""Sort keys (and summable units) kept beside a document's row, so that the database orders and totals a list in one way on both.

A key is bytes, compared byte by byte: SQLite compares BLOBs with ``memcmp`` and PostgreSQL
compares ``bytea`` the same way, whatever the database's collation.  The order is therefore
defined here, in Python, once, and the database only keeps it:

``text_key``    Turkish alphabetical order, without regard to case: digits, then
                a b c ç d e f g ğ h ı i j k l m n o ö p (q) r s ş t u ü v (w x) y z;
                I is the capital of ı and İ of i; a circumflex or a foreign accent
                is the letter without it (â as a, é as e).  Spaces and punctuation
                sort before digits; any other character after z, by its code point.
``amount_key``  the number's value, exactly (a Decimal of any size and exponent):
                1.50 and 1.5 are equal, -2 is below -1.5.

And, for totals, an amount as whole units of its own scale (``amount_units``), which SQLite adds
exactly as integers where its NUMERIC, a float, would not.

A key that changes definition changes the stored keys: ``earsiv reindex`` writes them anew.
"""

from __future__ import annotations

import decimal
import unicodedata
from decimal import Decimal

__all__ = ["EXACT", "KEY_CHARS", "UNITS_MAX", "amount_key", "amount_units", "text_key"]

# The characters of a name that its key orders by; names equal that far sort newest first.
KEY_CHARS = 128

_ALPHABET = "0123456789abcçdefgğhıijklmnoöpqrsştuüvwxyz"
_RANK = {c: bytes([0x80 + i]) for i, c in enumerate(_ALPHABET)}
_TURKISH_CAPITALS = str.maketrans({"I": "ı", "İ": "i"})
# Decimal arithmetic that never rounds (the default context rounds at 28 digits).
EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)
_EXPONENT_BIAS = 1 << 63  # Decimal's adjusted exponents stay well inside ±2**62
# The largest amount in units SQLite adds as integers (a sum of two halves of each cannot overflow 64 bits).
UNITS_MAX = 10**18 - 1


def _rank(c: str) -> bytes:
    """A character's bytes in the key: a letter of the alphabet (or one with a foreign accent) by its
    place, ASCII punctuation and space by itself (below every letter), a combining mark nothing,
    anything else after z by its code point."""
    rank = _RANK.get(c)
    if rank is not None:
        return rank
    if c < "\x80":
        return c.encode("ascii")
    if unicodedata.combining(c):
        return b""
    base = unicodedata.normalize("NFD", c)[0]
    rank = _RANK.get(base)
    if rank is not None:
        return rank
    return b"\xf0" + ord(c).to_bytes(3, "big")


def text_key(value: str | None) -> bytes | None:
    """The key of a name or a number (None for none, or a blank one): see the module's words.  Spaces
    around it do not count."""
    if not value or value.isspace():
        return None
    folded = unicodedata.normalize("NFC", value.strip()[:KEY_CHARS].translate(_TURKISH_CAPITALS).casefold())
    key = b"".join(_rank(c) for c in folded)
    return key or None


def amount_key(amount: Decimal | None) -> bytes | None:
    """The key of an amount (None for none, NaN or infinity): equal values, equal keys, whatever the exponent.

    Zero is one byte; a positive amount is 0x03, its adjusted exponent (8 bytes, biased) and its
    significant digits without trailing zeros (a shorter one is the smaller); a negative amount is
    0x01 and the same bytes complemented, then 0xff, so that its order turns round.
    """
    if amount is None or not amount.is_finite():
        return None
    if not amount:
        return b"\x02"
    sign, digits, _exp = amount.as_tuple()
    significant = "".join(map(str, digits)).lstrip("0").rstrip("0")
    body = (amount.adjusted() + _EXPONENT_BIAS).to_bytes(8, "big") + significant.encode("ascii")
    if not sign:
        return b"\x03" + body
    return b"\x01" + bytes(255 - b for b in body) + b"\xff"


def amount_units(amount: Decimal | None) -> tuple[int, int] | tuple[None, None]:
    """(units, scale) with amount = units × 10**-scale, the scale as written (100.50: 10050, 2), for the
    database to add amounts exactly as integers; (None, None) for none, or past ``UNITS_MAX`` units
    (those are added from their text)."""
    if amount is None or not amount.is_finite():
        return None, None
    scale = max(0, -amount.as_tuple().exponent)
    units = int(amount.scaleb(scale, EXACT))
    if abs(units) > UNITS_MAX:
        return None, None
    return units, scale
