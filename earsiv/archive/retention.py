"""How long a document must be kept (LAW.md L1, L2).

L2 (TTK 82) is the default for every commercial document: ten years from the
end of the calendar year of the document, i.e. until 31 December of
(year + 10), 23:59:59 Europe/Istanbul.  L1 (VUK 253) asks for five years from
the start of the year after; a policy may choose it, but the archive never
computes anything shorter than what the policy says, and stored retention can
only ever be extended.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

__all__ = ["DEFAULT_POLICY", "ISTANBUL", "LEDGER_KINDS", "RetentionPolicy", "retain_until"]

ISTANBUL = ZoneInfo("Europe/Istanbul")
UTC = dt.UTC


# The law's floors (LAW.md): VUK 253 keeps every document five years; e-Defter ledgers and their
# berats are kept at least ten (L4), whatever a class says.
MIN_YEARS = 5
LEDGER_KINDS = frozenset({"yevmiye", "kebir", "berat"})
MIN_LEDGER_YEARS = 10


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Years kept after the end of the document's calendar year: one default, and retention classes
    per document kind (``[retention.kinds]`` in config.toml), each at least the law's floor."""

    years_after_year_end: int = 10
    name: str = "TTK-82"
    by_kind: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        for kind, years in (("", self.years_after_year_end), *self.by_kind):
            floor = MIN_LEDGER_YEARS if kind in LEDGER_KINDS else MIN_YEARS
            if not floor <= years <= 100:
                what = f"retention of {kind}" if kind else "retention"
                raise ValueError(f"{what} of {years} years is out of range {floor}..100 (the law keeps "
                                 f"{'e-Defter ledgers and berats ten' if floor == 10 else 'every document five'} years)")
        if self.years_after_year_end < MIN_LEDGER_YEARS and not all(k in dict(self.by_kind) for k in LEDGER_KINDS):
            # A default shorter than ten years would reach the ledgers that have no class of their own.
            object.__setattr__(self, "by_kind", (*self.by_kind, *((k, MIN_LEDGER_YEARS) for k in sorted(LEDGER_KINDS)
                                                                  if k not in dict(self.by_kind))))

    def years_for(self, kind: str | None) -> int:
        return dict(self.by_kind).get(kind or "", self.years_after_year_end)


DEFAULT_POLICY = RetentionPolicy()
VUK_POLICY = RetentionPolicy(years_after_year_end=5, name="VUK-253")


def retain_until(document_date: dt.date | None, received_at: dt.datetime, policy: RetentionPolicy = DEFAULT_POLICY,
                 kind: str | None = None) -> dt.datetime:
    """The instant (UTC) until which a document must be kept.

    The document's own date decides the year; a document without a usable
    date is counted from the year it was received, which is never earlier
    than its true year would give for documents archived promptly, and a
    document dated in the future is counted from its own (later) year.
    """
    received_local = received_at.astimezone(ISTANBUL).date()
    year = document_date.year if document_date is not None else received_local.year
    # A date before 1900 or after the receipt year by a lot is a typo; the
    # later of the two years keeps the document at least as long as needed.
    if document_date is None or document_date.year < received_local.year - 50:
        year = max(year, received_local.year)
    end = dt.datetime(year + policy.years_for(kind), 12, 31, 23, 59, 59, tzinfo=ISTANBUL)
    return end.astimezone(UTC)
