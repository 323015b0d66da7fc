"""Compliance reports: which numbers, ledger months and responses are not in this archive (L4, L11-L13).

An archive sees only what it was given.  Every finding here is worded as what the archive
holds ("not in this archive"), never as what the taxpayer did ("never issued"): a number
missing here may have been issued and archived elsewhere, or cancelled.

Three reports, each a ``Report`` of one summary and a few tables (the same shape for JSON,
CSV, XLSX and PDF, ``reportformat.py``):

- ``serials``: per issuer VKN, numbering family, series and year, the numbers present, every
  gap as a range (first and last missing ID, count), duplicates (one number, several
  documents), IDs off the GİB pattern, first and last number with their dates, and documents
  dated before a lower number (dates going back while numbers go forward).
- ``edefter``: per VKN and month, yevmiye and kebir each with its berat and GİB-approved berat,
  whether the seals tie them, the months of a fiscal year with no ledger, and the berats'
  upload deadline against when they reached the archive.
- ``responses``: waybills and their receipt advices (within 7 days of the actual despatch, or
  none: the law allows no answer), TICARIFATURA invoices and their KABUL/RED application
  responses within 8 days, those unanswered, and responses whose document is not here.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from earsiv.indexer.reportdb import FAMILIES, Window, as_date

if TYPE_CHECKING:
    from earsiv.indexer.reportdb import ReportIndex

__all__ = ["NOT_HERE", "REPORTS", "Report", "Table", "berat_deadline", "build_report"]

REPORTS = ("serials", "edefter", "responses")
NOT_HERE = "not in this archive"
TR = dt.timezone(dt.timedelta(hours=3))  # Europe/Istanbul, UTC+3 all year
RECEIPT_DAYS = 7  # L12: an irsaliye yanıtı within 7 days of the actual despatch
RESPONSE_DAYS = 8  # TICARIFATURA: KABUL/RED within 8 days of the invoice
_LIST_MAX = 10_000  # documents of duplicates and of dates going back a report lists in full (it counts all)
BERAT_MONTHS = 3  # e-Defter Genel Tebliği: a month's berats by the end of the third month after it


@dataclasses.dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def to_json(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, (_plain(v) for v in row))) for row in self.rows]


@dataclasses.dataclass(frozen=True, slots=True)
class Report:
    name: str
    vkn: str
    windows: tuple[Window, ...]
    generated_at: dt.datetime
    summary: dict[str, Any]
    tables: tuple[Table, ...]
    notes: tuple[str, ...] = ()
    # The documents the report names (an inspector's access event lists them).
    digests: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return {"serials": "Serial continuity", "edefter": "e-Defter periods", "responses": "Responses"}[self.name]

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)

    def to_json(self) -> dict[str, Any]:
        return {"report": self.name, "vkn": self.vkn,
                "periods": [{"from": a.isoformat(), "to": b.isoformat()} for a, b in self.windows],
                "generated_at": self.generated_at.isoformat(), "summary": _plain(self.summary),
                "notes": list(self.notes), **{t.name: t.to_json() for t in self.tables}}


def _plain(v: Any) -> Any:
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def build_report(name: str, index: ReportIndex, vkn: str, windows: Sequence[Window], *,
                 today: dt.date | None = None, restricted: bool = False) -> Report:
    """*restricted*: the caller sees only documents dated in *windows* (an inspector): responses
    dated outside them are not used either."""
    today = today or dt.datetime.now(TR).date()
    windows = tuple(sorted(windows))
    if name == "serials":
        return _serials(index, vkn, windows)
    if name == "edefter":
        return _edefter(index, vkn, windows, today)
    if name == "responses":
        return _responses(index, vkn, windows, today, windows if restricted else None)
    raise ValueError(f"unknown report {name!r}")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- serials (L11) -----------------------------------------------------------------------

def _id(series: str, year: int, n: int) -> str:
    return f"{series}{year:04d}{n:09d}"


def _covers_year_start(windows: Sequence[Window], year: int) -> bool:
    start = dt.date(year, 1, 1)
    return any(a <= start <= b for a, b in windows)


def _scan(index: ReportIndex, vkn: str, windows: tuple[Window, ...]
          ) -> tuple[dict[tuple, list[Any]], list[tuple[Any, ...]]]:
    """One pass over the issuer's numbers: per (family, series, year) [documents, numbers, first, last,
    earliest date, latest date, previous number, its date], and every break: (family, series, year,
    number, date, previous number, previous date) where a number skips some, repeats or is dated back."""
    state: dict[tuple, list[Any]] = {}
    breaks: list[tuple[Any, ...]] = []
    # A million rows go through this loop: the group is looked up only when it changes (rows come
    # grouped by series and year), and plain comparisons stand in for min() and max().
    last: tuple[Any, ...] = ()
    key: tuple[Any, ...] = ()
    st: list[Any] = []
    for batch in index.numbers(vkn, windows):
        for kind, series, year, seq, day in batch:
            if (kind, series, year) != last:
                last = (kind, series, year)
                key = (FAMILIES[kind], series, year)
                st = state.get(key) or state.setdefault(key, [0, 0, seq, seq, day, day, None, None])
            prev = st[6]
            st[0] += 1
            if prev is None:
                st[1] = 1
            else:
                if seq != prev:
                    st[1] += 1
                    st[3] = seq
                if seq - prev != 1 or day < st[7]:
                    breaks.append((*key, seq, day, prev, st[7]))
                if day < st[4]:  # noqa: PLR1730 - a call to min() per row costs a fifth of the loop
                    st[4] = day
                if day > st[5]:  # noqa: PLR1730
                    st[5] = day
            st[6] = seq
            st[7] = day
    return state, breaks


def _serials(index: ReportIndex, vkn: str, windows: tuple[Window, ...]) -> Report:
    state, breaks = _scan(index, vkn, windows)
    series_rows: list[tuple[Any, ...]] = []
    gaps: list[tuple[Any, ...]] = []
    dup_rows: list[tuple[Any, ...]] = []
    back_rows: list[tuple[Any, ...]] = []
    named: list[str] = []
    missing: dict[tuple, int] = defaultdict(int)
    dups: dict[tuple, int] = defaultdict(int)
    back_count = 0
    listed = 0  # documents of duplicates and of dates going back listed in full (all are counted)
    for (family, series, year), st in state.items():
        # Numbers restart at 1 each year: what comes before the first number present is missing
        # too, if the period asked begins with the year (else it may lie before the period).
        if st[2] > 1 and _covers_year_start(windows, year):
            gaps.append((family, series, year, _id(series, year, 1), _id(series, year, st[2] - 1), st[2] - 1, NOT_HERE))
            missing[(family, series, year)] += st[2] - 1
    for family, series, year, seq, day, prev, prev_day in breaks:
        key = (family, series, year)
        if seq - prev > 1:
            gaps.append((*key, _id(series, year, prev + 1), _id(series, year, seq - 1), seq - prev - 1, NOT_HERE))
            missing[key] += seq - prev - 1
        if seq == prev:
            if (*key, seq) not in dups and listed < _LIST_MAX:
                docs = index.numbered(vkn, windows, family, series, year, seq)
                listed += len(docs)
                named += [x.digest for x in docs]
                dup_rows += [(*key, _id(series, year, seq), x.digest, x.ettn, x.issue_date) for x in docs]
            dups[(*key, seq)] += 1
        elif day < prev_day:
            back_count += 1
            if listed < _LIST_MAX:
                docs = index.numbered(vkn, windows, family, series, year, seq, as_date(day))[:1]
                listed += len(docs)
                named += [x.digest for x in docs]
                back_rows += [(*key, _id(series, year, seq), as_date(day), _id(series, year, prev), as_date(prev_day),
                               x.digest) for x in docs]
    for key, st in sorted(state.items()):
        family, series, year = key
        first = index.numbered(vkn, windows, family, series, year, st[2])[0]
        last = index.numbered(vkn, windows, family, series, year, st[3])[0]
        named += [first.digest, last.digest]
        series_rows.append((*key, st[0], st[1], first.doc_id, first.issue_date, last.doc_id, last.issue_date,
                            missing.get(key, 0), sum(1 for k in dups if k[:3] == key)))
    dup_count = len(dups)
    gaps.sort(key=lambda r: (r[0], r[1], r[2], r[3]))
    off_count, off = index.off_pattern(vkn, windows)
    off_rows = [(x.kind, x.doc_id, x.issue_date, x.digest) for x in off]
    named += [x.digest for x in off]
    summary = {"series": len(series_rows), "documents": sum(r[3] for r in series_rows),
               "numbers": sum(r[4] for r in series_rows), "gaps": len(gaps),
               "missing_numbers": sum(r[5] for r in gaps), "duplicated_numbers": dup_count,
               "dates_backwards": back_count, "off_pattern": off_count}
    notes = ((f"Missing numbers are {NOT_HERE}: they may have been issued and archived elsewhere, or never used. "
             "Numbers after the last one present cannot be told apart from numbers not issued yet."),
             ("A family is one numbering: e-Fatura and e-Arşiv invoices together, e-SMM, e-MM, e-İrsaliye and "
             "receipt advices each apart; each restarts at 1 every year (GİB pattern ^[A-Z0-9]{3}20[0-9]{2}[0-9]{9}$)."))
    return Report("serials", vkn, windows, _now(), summary, (
        Table("series", ("family", "series", "year", "documents", "numbers", "first_id", "first_date", "last_id",
                         "last_date", "missing_numbers", "duplicated_numbers"), series_rows),
        Table("gaps", ("family", "series", "year", "first_missing", "last_missing", "count", "state"), gaps),
        Table("duplicates", ("family", "series", "year", "id", "digest", "ettn", "issue_date"), dup_rows),
        Table("dates_backwards", ("family", "series", "year", "id", "issue_date", "previous_id", "previous_date",
                                  "digest"), back_rows),
        Table("off_pattern", ("kind", "id", "issue_date", "digest"), off_rows),
    ), notes, tuple(dict.fromkeys(named)))


# --- e-Defter (L4) -----------------------------------------------------------------------

def berat_deadline(month: dt.date) -> dt.date:
    """The last day a month's berats may be uploaded to GİB: the end of the third month after it."""
    y, m = divmod(month.year * 12 + month.month - 1 + BERAT_MONTHS, 12)
    return dt.date(y, m + 1, calendar.monthrange(y, m + 1)[1])


def _months(windows: Sequence[Window]) -> list[dt.date]:
    out: set[dt.date] = set()
    for a, b in windows:
        m = dt.date(a.year, a.month, 1)
        if m < a:  # a month counts when its first day is in a period (ledgers are dated by their start)
            m = dt.date(m.year + m.month // 12, m.month % 12 + 1, 1)
        while m <= b:
            out.add(m)
            m = dt.date(m.year + m.month // 12, m.month % 12 + 1, 1)
    return sorted(out)


def _edefter(index: ReportIndex, vkn: str, windows: tuple[Window, ...], today: dt.date) -> Report:
    by_month: dict[dt.date, list[dict[str, Any]]] = defaultdict(list)
    for r in index.edefter(vkn, windows):
        start = r["edefter_period_start"]
        by_month[dt.date(start.year, start.month, 1)].append(r)
    rows = []
    named: list[str] = []
    problems_total = 0
    for month in _months(windows) + sorted(set(by_month) - set(_months(windows))):
        docs = by_month.get(month, [])
        named += [r["digest"] for r in docs]
        problems: list[str] = []
        cells: list[Any] = [month.strftime("%Y-%m")]
        berats = [r for r in docs if r["kind"] == "berat"]
        for ledger in ("yevmiye", "kebir"):
            ledgers = [r for r in docs if r["kind"] == ledger]
            own = [r for r in berats if r["edefter_ledger_type"] == ledger and not r["edefter_gib_approved"]]
            gib = [r for r in berats if r["edefter_ledger_type"] == ledger and r["edefter_gib_approved"]]
            seals = {r["edefter_seal"] for r in ledgers}
            if not ledgers:
                problems.append(f"{ledger} {NOT_HERE}")
            if not own:
                problems.append(f"{ledger} berat {NOT_HERE}")
            if not gib:
                problems.append(f"GİB-approved {ledger} berat {NOT_HERE}")
            sealed = bool(ledgers) and all(
                r["edefter_seal"] and any(b["edefter_seal"] == r["edefter_seal"] for b in own)
                and any(b["edefter_seal"] == r["edefter_seal"] for b in gib) for r in ledgers)
            strays = [b for b in own + gib if b["edefter_seal"] not in seals]
            if ledgers and (own or gib) and not sealed:
                problems.append(f"{ledger}: a ledger's seal is not on its berats")
            if strays and ledgers:
                problems.append(f"{ledger}: {len(strays)} berat(s) seal no {ledger} in this archive")
            cells += [len(ledgers), len(own), len(gib), sealed]
        deadline = berat_deadline(month)
        arrived = max((r["received_at"] for r in berats), default=None)
        arrived_day = arrived.astimezone(TR).date() if arrived else None
        if arrived_day is None:
            timely = "open" if today <= deadline else "missing"
        else:
            timely = "on time" if arrived_day <= deadline else "after deadline"
        problems_total += bool(problems)
        rows.append((*cells, deadline, arrived_day, timely, "complete" if not problems else "; ".join(problems)))
    present = {m for m, docs in by_month.items() if any(r["kind"] in ("yevmiye", "kebir") for r in docs)}
    missing = [(m.year, m.strftime("%Y-%m"), NOT_HERE) for m in _months(windows) if m not in present]
    summary = {"months": len(rows), "complete": len(rows) - problems_total, "with_problems": problems_total,
               "months_without_ledgers": len(missing)}
    notes = ("The fiscal year is the calendar year; months are those whose first day lies in the period.",
             (f"Berat deadline: the end of the {BERAT_MONTHS}rd month after the ledger's month (e-Defter Genel "
             "Tebliği); for the last quarter of corporate taxpayers it is the end of the month the corporate tax "
             "return is filed, later than shown. 'Reached the archive' is when the archive received the last berat, "
             "not when GİB did."),
             ("Seals: a berat carries a copy of its ledger's ds:SignatureValue; 'sealed' means every ledger of the "
             "month has a taxpayer berat and a GİB-approved berat with its seal."))
    return Report("edefter", vkn, windows, _now(), summary, (
        Table("months", ("month", "yevmiye", "yevmiye_berat", "yevmiye_gib_berat", "yevmiye_sealed",
                         "kebir", "kebir_berat", "kebir_gib_berat", "kebir_sealed",
                         "berat_deadline", "berats_received", "timeliness", "state"), rows),
        Table("missing_months", ("year", "month", "state"), missing),
    ), notes, tuple(dict.fromkeys(named)))


# --- responses (L12, L13) -----------------------------------------------------------------

def _match(targets: list[dict[str, Any]], responses: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Responses per target digest: by the referenced ETTN, or by the ID when the reference has no ETTN."""
    by_ettn: dict[str, list[str]] = defaultdict(list)
    by_id: dict[str, list[str]] = defaultdict(list)
    for t in targets:
        if t["ettn_key"]:
            by_ettn[t["ettn_key"]].append(t["digest"])
        if t["doc_id"]:
            by_id[t["doc_id"]].append(t["digest"])
    out: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in responses:
        hits = by_ettn.get(r["ref_ettn"] or "", []) if r["ref_ettn"] else by_id.get(r["ref_id"] or "", [])
        if r["ref_ettn"] and not hits:
            hits = by_id.get(r["ref_id"] or "", [])
        for digest in hits:
            out[digest][r["digest"]] = r
    return {k: sorted(v.values(), key=lambda r: (r["issue_date"] or dt.date.max, r["digest"])) for k, v in out.items()}


def _visible(rows: list[dict[str, Any]], windows: Sequence[Window] | None) -> list[dict[str, Any]]:
    if windows is None:
        return rows
    return [r for r in rows if r["issue_date"] and any(a <= r["issue_date"] <= b for a, b in windows)]


def _responses(index: ReportIndex, vkn: str, windows: tuple[Window, ...], today: dt.date,
               response_windows: Sequence[Window] | None = None) -> Report:
    named: list[str] = []
    waybills = index.answered(vkn, windows, "e-irsaliye")
    advices = _visible(index.responses_to("irsaliye-yaniti", "despatch", [w["ettn_key"] for w in waybills if w["ettn_key"]],
                                          [w["doc_id"] for w in waybills if w["doc_id"]]), response_windows)
    answers = _match(waybills, advices)
    wb_rows = []
    counts: dict[str, int] = defaultdict(int)
    for w in waybills:
        named.append(w["digest"])
        start = w["despatch_date"] or w["issue_date"]
        deadline = start + dt.timedelta(days=RECEIPT_DAYS) if start else None
        got = answers.get(w["digest"], [])
        first = got[0] if got else None
        if first is not None:
            named += [a["digest"] for a in got]
            late = deadline is not None and first["issue_date"] is not None and first["issue_date"] > deadline
            state = "answered after 7 days" if late else "answered"
        else:
            state = "open" if deadline is None or today <= deadline else "no receipt advice in this archive"
        counts[f"waybills {state}"] += 1
        wb_rows.append((w["doc_id"], w["issue_date"], w["despatch_date"], deadline,
                        first["doc_id"] if first else None, first["issue_date"] if first else None,
                        first["type_code"] if first else None, len(got), state, w["digest"]))
    invoices = index.answered(vkn, windows, "e-fatura", profile="TICARIFATURA")
    app = _visible(index.responses_to("uygulama-yaniti", "response", [i["ettn_key"] for i in invoices if i["ettn_key"]],
                                      [i["doc_id"] for i in invoices if i["doc_id"]]), response_windows)
    answers = _match(invoices, app)
    inv_rows = []
    for inv in invoices:
        named.append(inv["digest"])
        deadline = inv["issue_date"] + dt.timedelta(days=RESPONSE_DAYS) if inv["issue_date"] else None
        got = [a for a in answers.get(inv["digest"], []) if (a["type_code"] or "").upper() in ("KABUL", "RED")]
        first = got[0] if got else None
        if first is not None:
            named += [a["digest"] for a in got]
            late = deadline is not None and first["issue_date"] is not None and first["issue_date"] > deadline
            code = first["type_code"].upper()
            state = f"{code} after 8 days" if late else code
        else:
            state = "open" if deadline is None or today <= deadline else "unanswered"
        counts[f"invoices {state}"] += 1
        inv_rows.append((inv["doc_id"], inv["issue_date"], deadline, first["doc_id"] if first else None,
                         first["issue_date"] if first else None, state, len(got), inv["digest"]))
    orphans = []
    for kind, ref_type, targets in (("irsaliye-yaniti", "despatch", ("e-irsaliye",)),
                                    ("uygulama-yaniti", "response", ("e-fatura", "e-arsiv"))):
        for r in _orphans(index, vkn, windows, kind, ref_type, targets):
            named.append(r[-1])
            orphans.append(r)
    summary = {"waybills": len(waybills), "ticarifatura_invoices": len(invoices),
               "responses_without_document": len(orphans), **dict(sorted(counts.items()))}
    notes = ((f"A receipt advice answers within {RECEIPT_DAYS} days of the waybill's actual despatch date "
             "(its issue date when it has none), or not at all: a waybill without one is not a fault."),
             (f"A TICARIFATURA invoice is accepted or rejected (KABUL/RED) within {RESPONSE_DAYS} days of its date; "
             "'unanswered' means no such response is in this archive."),
             "A waybill indexed before the despatch date was indexed shows none until `earsiv reindex`.")
    return Report("responses", vkn, windows, _now(), summary, (
        Table("waybills", ("id", "issue_date", "despatch_date", "answer_by", "receipt_advice_id",
                           "receipt_advice_date", "response_code", "receipt_advices", "state", "digest"), wb_rows),
        Table("invoices", ("id", "issue_date", "answer_by", "response_id", "response_date", "state", "responses",
                           "digest"), inv_rows),
        Table("responses_without_document", ("kind", "id", "issue_date", "referenced_id", "referenced_ettn", "state",
                                             "digest"), orphans),
    ), notes, tuple(dict.fromkeys(named)))


def _orphans(index: ReportIndex, vkn: str, windows: Sequence[Window], kind: str, ref_type: str,
             targets: tuple[str, ...]) -> list[tuple[Any, ...]]:
    responses = index.answered(vkn, windows, kind)
    if not responses:
        return []
    mine = {r["digest"]: r for r in responses}
    rows = index.response_refs(list(mine), ref_type)
    ettns, ids = index.referenced(targets, [r["ref_ettn"] for r in rows if r["ref_ettn"]],
                                  [r["ref_id"] for r in rows if r["ref_id"]])
    out = []
    for r in rows:
        found = (r["ref_ettn"] in ettns) if r["ref_ettn"] else False
        found = found or (r["ref_id"] in ids if r["ref_id"] else False)
        if not found:
            doc = mine[r["digest"]]
            out.append((kind, doc["doc_id"], doc["issue_date"], r["ref_id"], r["ref_ettn"],
                        f"referenced document {NOT_HERE}", doc["digest"]))
    return out
