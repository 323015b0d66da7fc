"""Turkish identifiers: VKN, TCKN, invoice numbers and ETTNs (LAW.md "Identifiers").

Nothing here rejects a document.  A failed checksum or a malformed number is
reported as a flag name so the archive can keep the document and say what is
odd about it; test and placeholder numbers are everyday input.
"""

from __future__ import annotations

import re

__all__ = [
    "ETTN_PATTERN",
    "ID_PATTERN",
    "SPECIAL_VKNS",
    "classify_party_id",
    "is_placeholder",
    "split_invoice_id",
    "tckn_is_valid",
    "vkn_is_valid",
]

# GİB schematron (InvoiceIDCheck): 3-character series, 4-digit year, 9-digit sequence.
ID_PATTERN = re.compile(r"^[A-Z0-9]{3}20[0-9]{2}[0-9]{9}$")
ETTN_PATTERN = re.compile(r"^[a-fA-F0-9]{8}-(?:[a-fA-F0-9]{4}-){3}[a-fA-F0-9]{12}$")

# Numbers that stand for a kind of party rather than one taxpayer.  They are kept
# searchable and labelled (L12); some of them fail the checksum on purpose.
SPECIAL_VKNS: dict[str, str] = {
    "5555555555": "muhtelif müşteriler",
    "3900892152": "GİB e-İrsaliye sanal alıcı",
    "11111111111": "e-Arşiv nihai tüketici (bilinmeyen alıcı)",
    "2222222222": "e-Arşiv yabancı alıcı (vergi numarası olmayan)",
    "3900383669": "Gelir İdaresi Başkanlığı (GİB sistem yanıtları, berat onayı)",
}

# Integrator templates carry tokens instead of numbers (%ID%, ##ID##, {{id}}, ${id}).
_PLACEHOLDER = re.compile(r"^(?:%[^%]*%|#+[^#]*#+|\{\{.*\}\}|\$\{.*\})$")


def vkn_is_valid(s: str) -> bool:
    """True for a 10-digit VKN whose last digit is its check digit."""
    if len(s) != 10 or not s.isascii() or not s.isdigit():
        return False
    total = 0
    for i in range(9):
        t = (int(s[i]) + 9 - i) % 10
        total += 9 if t == 9 else (t * 2 ** (9 - i)) % 9
    return (10 - total % 10) % 10 == int(s[9])


def tckn_is_valid(s: str) -> bool:
    """True for an 11-digit TCKN (first digit not 0) with both check digits right."""
    if len(s) != 11 or not s.isascii() or not s.isdigit() or s[0] == "0":
        return False
    d = [int(c) for c in s]
    odd = d[0] + d[2] + d[4] + d[6] + d[8]
    even = d[1] + d[3] + d[5] + d[7]
    return (odd * 7 - even) % 10 == d[9] and sum(d[:10]) % 10 == d[10]


def classify_party_id(scheme: str | None, value: str | None) -> list[str]:
    """Flag names (without the party role) for what is wrong or special about an id.

    Only VKN and TCKN schemes are checked; other schemes (MERSISNO, MUSTERINO...)
    have no rule we can hold them to.  The caller appends ``:role``.
    """
    if value is None or scheme is None:
        return []
    scheme = scheme.strip().upper()
    if scheme not in ("VKN", "TCKN"):
        return []
    flags: list[str] = []
    want = 10 if scheme == "VKN" else 11
    if len(value) != want or not value.isascii() or not value.isdigit():
        flags.append("id-length")
    elif scheme == "VKN" and not vkn_is_valid(value):
        flags.append("vkn-checksum")
    elif scheme == "TCKN" and not tckn_is_valid(value):
        flags.append("tckn-checksum")
    if value in SPECIAL_VKNS:
        flags.append("special-vkn")
    return flags


def is_placeholder(value: str | None) -> bool:
    """An empty value or a template token standing where a real number belongs."""
    if value is None:
        return True
    v = value.strip()
    return not v or bool(_PLACEHOLDER.match(v)) or not any(c.isalnum() for c in v)


def split_invoice_id(doc_id: str | None) -> tuple[str, int, int] | None:
    """``DST2016000000001`` -> ``("DST", 2016, 1)``; None unless the ID fits ID_PATTERN."""
    if doc_id is None or not ID_PATTERN.match(doc_id):
        return None
    return doc_id[:3], int(doc_id[3:7]), int(doc_id[7:])
