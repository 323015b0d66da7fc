"""What a person types into the find form, as a ``SearchQuery``; dates as Turkish people type them too."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from earsiv.archive.access import Principal
from earsiv.archive.service import search_query
from earsiv.errors import InvalidInput
from earsiv.indexer.query import SearchQuery

__all__ = ["FIELDS", "Find", "find_of", "parse_date", "read_find", "vkn_list"]

FIELDS = ("vkn", "direction", "from", "to", "kind", "profile", "type", "id", "ettn", "q", "tenant")
_TR_DATE = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$")


def parse_date(value: str | None, what: str) -> dt.date | None:
    """2025-11-01 (what a date field sends) or 01.11.2025 / 1/11/2025 (what people type)."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        m = _TR_DATE.match(value)
        if m:
            return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{what}: '{value}' bir tarih değil (GG.AA.YYYY ya da YYYY-AA-GG yazın) / "
                           f"not a date (type DD.MM.YYYY or YYYY-MM-DD)") from None


def vkn_list(value: str | None) -> list[str]:
    """VKNs typed one after another, with spaces, commas or new lines between them."""
    return [v for v in re.split(r"[\s,;]+", value or "") if v]


@dataclass(frozen=True, slots=True)
class Find:
    query: SearchQuery
    values: dict[str, str]  # what was typed, to show in the form again and carry in links
    sort: str
    descending: bool
    page: int
    count_all: bool = False  # count and total every match past the list's cap (seconds at a million)
    everything: bool = False  # "list all": no field filled in, and a list wanted anyway

    def params(self, **change: Any) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in self.values.items() if v}
        out.update({"sort": self.sort, "desc": "1" if self.descending else "0", "page": self.page})
        if self.count_all:
            out["count"] = "all"
        if self.everything:  # else the next page, or another sort, of "list all" would be an empty form
            out["all"] = "1"
        out.update(change)
        return out


def read_find(request: Request, who: Principal) -> Find:
    return find_of(request.query_params, who)


def find_of(p: Mapping[str, Any], who: Principal) -> Find:
    """The find form's fields from *p* (a page's query, or a form that carries them along)."""
    values = {k: str(p.get(k) or "").strip() for k in FIELDS}
    direction = values["direction"] if values["direction"] in ("sent", "received") else ""
    party = values["vkn"] or None
    supplier = customer = None
    if direction:
        whose = party or (next(iter(who.tenants)) if len(who.tenants) == 1 else None) or values["tenant"] or None
        if whose is None:
            raise InvalidInput("gönderilen/alınan için bir VKN yazın / for sent or received, type a VKN")
        supplier, customer = (whose, None) if direction == "sent" else (None, whose)
        party = whose
    try:
        page = max(0, int(str(p.get("page") or 0)))
    except ValueError:
        page = 0
    q = search_query(vkn=party, supplier=supplier, customer=customer,
                     date_from=parse_date(values["from"], "başlangıç / from"),
                     date_to=parse_date(values["to"], "bitiş / to"), kind=values["kind"] or None,
                     profile=values["profile"] or None, type_code=values["type"] or None, doc_id=values["id"] or None,
                     ettn=values["ettn"].lower() or None, text=values["q"] or None, tenant=values["tenant"] or None)
    return Find(q, values, p.get("sort") or "date", p.get("desc", "1") != "0", page, p.get("count") == "all",
                p.get("all") == "1")
