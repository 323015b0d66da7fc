"""HTTP header values built from untrusted text: file names and entity tags."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

__all__ = ["content_disposition", "etag", "etag_matches"]

# What may appear in the quoted ASCII fallback: RFC 6266 quoted-string minus
# anything a naive client might mis-split on (quotes, backslashes, ';').
_UNSAFE_ASCII = re.compile(r'[^A-Za-z0-9._\-+()\[\] ]')
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _base_name(name: str) -> str:
    # A stored name may come from any client and any OS: strip directories
    # written either way and the "archive.zip:" prefix of ZIP members.
    name = re.split(r"[/\\:]", name)[-1]
    name = _CONTROL.sub("", unicodedata.normalize("NFC", name)).replace('"', "").strip(" .")
    return name[:200]


def content_disposition(name: str | None, fallback: str, disposition: str = "attachment") -> str:
    """``attachment; filename="…"`` with an RFC 6266 ``filename*`` when the name is not plain ASCII.

    ``fallback`` (ASCII, no separators) is used when nothing usable is left of ``name``.
    """
    clean = _base_name(name or "") or fallback
    ascii_name = _UNSAFE_ASCII.sub("_", clean).strip(" ._") or fallback
    value = f'{disposition}; filename="{ascii_name}"'
    if ascii_name != clean:
        value += f"; filename*=UTF-8''{quote(clean, safe='')}"
    return value


def etag(digest: str) -> str:
    return f'"{digest}"'


def etag_matches(if_none_match: str | None, digest: str) -> bool:
    """RFC 9110 13.1.2: weak comparison of each listed tag, or ``*``."""
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*":
            return True
        tag = tag.removeprefix("W/")
        if tag == f'"{digest}"':
            return True
    return False
