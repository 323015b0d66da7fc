"""``earsiv damage-report``: what the audit found, per taxpayer, as the 15-day notice duty asks (LAW.md L9).

For each finding: the object, which copy, what is wrong, when it was found, the notice
deadline (found + 15 days) and the state of its repair; for each taxpayer (a tenant, or
for documents held without one, the issuer) the records the damage touches, in detail
(kind, ID, ETTN, date, parties, digest), each with its plan: repaired from the other copy
on a date, repairable now (``earsiv repair``), or not repairable (ask the counterparty or
GİB for a copy).  With it, a draft notice to the tax office in Turkish, to complete and sign.

Which records a finding touches follows from the object: a blob is its document's; a
dictionary touches every document compressed with it; a log bundle every document whose
leaf (or a holding's) is in it.  Tiles, checkpoints, keys and time-stamp tokens are the
archive's proofs, not anyone's records, and a damaged replica copy leaves the record intact
where it is kept: those are listed for the operator, in the report named "archive".
"""

from __future__ import annotations

import datetime as dt
import html
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from earsiv.archive.log.log import parse_bundle_key
from earsiv.indexer.auditdb import NOTICE_DAYS, FindingRow

if TYPE_CHECKING:
    from earsiv.archive.archive import Archive

__all__ = ["DamageReport", "damage_reports", "write_reports"]

ARCHIVE_WIDE = "archive"  # the "taxpayer" of findings that touch no one's records
TR = dt.timezone(dt.timedelta(hours=3))  # Europe/Istanbul, UTC+3 all year


@dataclass(slots=True)
class DamageReport:
    taxpayer: str
    generated_at: dt.datetime
    archive_id: str
    findings: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def notice_due(self) -> dt.datetime | None:
        open_ = [dt.datetime.fromisoformat(f["notice_due"]) for f in self.findings if f["state"] != "repaired"]
        every = [dt.datetime.fromisoformat(f["notice_due"]) for f in self.findings]
        return min(open_ or every) if every else None

    def to_json(self) -> dict[str, Any]:
        due = self.notice_due
        return {"taxpayer": self.taxpayer, "generated_at": self.generated_at.isoformat(),
                "archive_id": self.archive_id, "notice_due": due.isoformat() if due else None,
                "findings": self.findings, "records": self.records,
                "notice_tr": notice_text(self) if self.taxpayer != ARCHIVE_WIDE else None}


def damage_reports(arch: Archive, *, tenant: str | None = None, include_repaired_days: int = 90,
                   now: dt.datetime | None = None) -> list[DamageReport]:
    """One report per taxpayer touched by an open finding, or one repaired in the last days."""
    now = now or dt.datetime.now(dt.UTC)
    rows = arch.index.audit.findings(since=now - dt.timedelta(days=include_repaired_days))
    rows += [r for r in arch.index.audit.findings(open_only=True) if r.log_index not in {x.log_index for x in rows}]
    replicated = bool(arch.config.replica_url)
    open_objects = defaultdict(set)
    for r in rows:
        if r.repaired_at is None:
            open_objects[r.object].add(r.copy)
    reports: dict[str, DamageReport] = {}
    records: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in sorted(rows, key=lambda r: r.log_index):
        finding = _finding_json(r, replicated, open_objects)
        # The replica's copy alone damaged leaves every record intact where it is kept: the
        # operator's to repair, not a taxpayer's to report.
        digests = _documents_of(arch, r) if r.copy != "replica" else []
        touched = _taxpayers(arch, digests) if digests else {ARCHIVE_WIDE: []}
        for taxpayer, held in touched.items():
            if tenant is not None and taxpayer != tenant:
                continue
            rep = reports.setdefault(taxpayer, DamageReport(taxpayer, now, arch.config.archive_id))
            rep.findings.append({**finding, "documents": held})
            for digest in held:
                rec = records[taxpayer].get(digest)
                if rec is None:
                    rec = records[taxpayer][digest] = _record(arch, digest)
                rec["findings"].append(finding["finding"])
                rec["state"] = _worst(rec["state"], finding["state"])
                rec["plan"] = _plan(rec["state"], finding)
    for taxpayer, rep in reports.items():
        rep.records = sorted(records[taxpayer].values(), key=lambda x: (x["issue_date"] or "", x["id"] or ""))
    return [reports[k] for k in sorted(reports)]


def _finding_json(r: FindingRow, replicated: bool, open_objects: dict[str, set[str]]) -> dict[str, Any]:
    if r.repaired_at is not None:
        state = "repaired"
    elif r.object.startswith("log/tile/"):
        state = "repairable"  # computed again from the leaves
    elif replicated and r.copy in ("primary", "replica") and len(open_objects[r.object] & {"primary", "replica"}) == 1:
        state = "repairable"
    else:
        state = "not repairable"
    out = r.to_json()
    out["state"] = state
    return out


def _worst(a: str, b: str) -> str:
    order = ["", "repaired", "repairable", "not repairable"]
    return a if order.index(a) >= order.index(b) else b


def _plan(state: str, finding: dict[str, Any]) -> str:
    if state == "repaired":
        when = finding.get("repaired_at") or ""
        return f"repaired from the other copy on {when[:10]}; its bytes check against the log again"
    if state == "repairable":
        return "an intact copy exists: `earsiv repair` restores it (then it checks against the log again)"
    return "no intact copy in this archive: ask the counterparty or GİB for a copy of the record"


def _documents_of(arch: Archive, r: FindingRow) -> list[str]:
    obj = r.object
    if obj.startswith("blobs/"):
        return [obj.split("/")[2].split(".")[0]]
    if obj.startswith("dicts/"):
        return arch.index.audit.documents_using(obj.rsplit("/", 1)[-1])
    first = parse_bundle_key(obj)
    if first is not None:
        span = arch.index.log.bundle_containing(first)
        return arch.index.audit.documents_logged_in(first, first + span[1]) if span else []
    if len(obj) == 64 and all(c in "0123456789abcdef" for c in obj):
        return [obj]
    return []


def _taxpayers(arch: Archive, digests: list[str]) -> dict[str, list[str]]:
    """taxpayer → the digests among *digests* it holds (a holding's tenant, else the issuer)."""
    out: dict[str, list[str]] = defaultdict(list)
    for i in range(0, len(digests), 1000):
        chunk = digests[i : i + 1000]
        held = arch.index.access.holdings_of(chunk)
        for d in chunk:
            tenants = {h.tenant for h in held.get(d, []) if h.tenant}
            if not tenants:
                row = arch.index.get(d)
                tenants = {(row.supplier_id if row is not None and row.supplier_id else ARCHIVE_WIDE)}
            for t in sorted(tenants):
                out[t].append(d)
    return dict(out)


def _record(arch: Archive, digest: str) -> dict[str, Any]:
    row = arch.index.get(digest)
    base: dict[str, Any] = {"digest": digest, "findings": [], "state": "", "plan": ""}
    if row is None:
        return {**base, "kind": None, "id": None, "ettn": None, "issue_date": None, "supplier": None, "customer": None}
    return {**base, "kind": row.kind, "id": row.doc_id, "ettn": row.ettn,
            "issue_date": row.issue_date.isoformat() if row.issue_date else None,
            "supplier": {"id": row.supplier_id, "name": row.supplier_name},
            "customer": {"id": row.customer_id, "name": row.customer_name}}


# -- the notice, in Turkish ------------------------------------------------------------------

_KIND_TR = {"e-fatura": "e-Fatura", "e-arsiv": "e-Arşiv Fatura", "e-smm": "e-SMM", "e-mm": "e-MM",
            "e-irsaliye": "e-İrsaliye", "irsaliye-yaniti": "İrsaliye Yanıtı", "e-defter": "e-Defter"}
_STATE_TR = {"repaired": "yedek kopyadan onarıldı", "repairable": "yedek kopyadan onarılabilir",
             "not repairable": "onarılamadı: karşı taraftan veya GİB'den kopya istenecek"}


def _tr_date(value: str | dt.datetime | None) -> str:
    if value is None:
        return "-"
    t = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return t.astimezone(TR).strftime("%d.%m.%Y")


def notice_text(rep: DamageReport) -> str:
    """A draft notice to the tax office: to be checked, completed (office, name, title) and signed."""
    first = min((f["detected_at"] for f in rep.findings), default=None)
    lines = [
        "TASLAK - imzalanmadan önce gözden geçirilmeli ve tamamlanmalıdır",
        "",
        "T.C. Hazine ve Maliye Bakanlığı, Gelir İdaresi Başkanlığı",
        "............................ Vergi Dairesi Müdürlüğüne",
        "",
        "Konu: Elektronik kayıtlarda tespit edilen bozulmanın bildirimi",
        "",
        (f"{rep.taxpayer} vergi kimlik numaralı mükellefimize ait, elektronik ortamda muhafaza edilen "
        f"aşağıdaki kayıtlarda {_tr_date(first)} tarihinde yapılan otomatik bütünlük denetiminde bozulma "
        f"tespit edilmiştir. İlgili mevzuat uyarınca, tespit tarihinden itibaren {NOTICE_DAYS} gün içinde "
        f"(son gün: {_tr_date(rep.notice_due)}) bilgilerinize sunarız."),
        "",
        "Etkilenen kayıtlar:",
    ]
    for n, rec in enumerate(rep.records, 1):
        sup = rec.get("supplier") or {}
        cus = rec.get("customer") or {}
        lines.append(f"{n}. {_KIND_TR.get(rec.get('kind') or '', rec.get('kind') or 'belge')} "
                     f"No: {rec.get('id') or '-'}, ETTN: {rec.get('ettn') or '-'}, "
                     f"Tarih: {_tr_date(rec['issue_date'] + 'T00:00:00+03:00') if rec.get('issue_date') else '-'}, "
                     f"Gönderen: {sup.get('id') or '-'} {sup.get('name') or ''}".rstrip()
                     + f", Alıcı: {cus.get('id') or '-'} {cus.get('name') or ''}".rstrip()
                     + f", SHA-256: {rec['digest']} - Durum: {_STATE_TR.get(rec['state'], rec['state'])}")
    lines += [
        "",
        ("Yapılan ve yapılacak işlemler: yedek kopyası bulunan kayıtlar, kopyanın özet değeri (SHA-256) "
        "arşiv kaydıyla doğrulandıktan sonra geri yüklenmiştir veya yüklenecektir; yedek kopyası da "
        "bozuk olan kayıtların birer örneği karşı taraftan veya Gelir İdaresi Başkanlığından istenecek, "
        "temin edildiğinde arşive yeniden alınacaktır."),
        "",
        "Gereğini bilgilerinize arz ederiz.",
        "",
        "Tarih: " + _tr_date(rep.generated_at),
        "Adı Soyadı / Unvanı: ............................",
        "İmza / Kaşe: ............................",
    ]
    return "\n".join(lines)


# -- writing: JSON and PDF, one file per taxpayer ------------------------------------------------


def write_reports(reports: list[DamageReport], out: Path, fmt: str) -> list[Path]:
    """damage-report-<taxpayer>-<YYYY-MM-DD>.json|pdf in *out*; the paths written."""
    import json

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for rep in reports:
        path = out / f"damage-report-{rep.taxpayer}-{rep.generated_at.date().isoformat()}.{fmt}"
        if fmt == "json":
            path.write_text(json.dumps(rep.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        else:
            path.write_bytes(render_pdf(rep))
        written.append(path)
    return written


def render_pdf(rep: DamageReport) -> bytes:
    """The report as a PDF: the notice draft first, then every finding and record in detail."""
    from earsiv.archive.reportpdf import report_pdf

    return report_pdf(_html(rep))


def _html(rep: DamageReport) -> str:
    e = html.escape
    data = rep.to_json()
    notice = data["notice_tr"]
    rows = "".join(
        f"<tr><td>{f['finding']}</td><td class=k>{e(f['object'])}</td><td>{e(f['copy'])}</td><td>{e(f['problem'])}</td>"
        f"<td>{e(f['detected_at'][:19])}</td><td>{e(f['notice_due'][:10])}</td><td>{e(f['state'])}</td>"
        f"<td>{len(f['documents'])}</td></tr>" for f in rep.findings)
    recs = "".join(
        f"<tr><td>{e(r.get('kind') or '')}</td><td>{e(r.get('id') or '')}</td><td class=k>{e(r.get('ettn') or '')}</td>"
        f"<td>{e(r.get('issue_date') or '')}</td><td>{e(((r.get('supplier') or {}).get('id')) or '')}</td>"
        f"<td>{e(((r.get('customer') or {}).get('id')) or '')}</td><td class=k>{e(r['digest'])}</td>"
        f"<td>{e(r['state'])}</td><td>{e(r['plan'])}</td></tr>" for r in rep.records)
    title = "Damage report" if rep.taxpayer == ARCHIVE_WIDE else f"Damage report for taxpayer {rep.taxpayer}"
    return f"""<!doctype html><html lang="tr"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>@page {{ size: A4 landscape; margin: 12mm; @bottom-right {{ content: counter(page) " / " counter(pages); font-size: 8pt }} }}
body {{ font-family: "DejaVu Sans", sans-serif; font-size: 8.5pt }} h1 {{ font-size: 14pt }} h2 {{ font-size: 11pt }}
table {{ border-collapse: collapse; width: 100% }} td, th {{ border: 0.5pt solid #888; padding: 2pt; vertical-align: top }}
td.k {{ font-family: "DejaVu Sans Mono", monospace; font-size: 7pt; word-break: break-all }}
pre {{ white-space: pre-wrap; font-family: inherit; border: 0.5pt solid #888; padding: 6pt }}</style></head><body>
<h1>{e(title)}</h1>
<p>Archive {e(rep.archive_id)} · generated {e(data['generated_at'][:19])} UTC · notice due {e((data['notice_due'] or '-')[:10])}</p>
{f'<h2>Draft notice to the tax office</h2><pre>{e(notice)}</pre>' if notice else ''}
<h2>Findings</h2><table><tr><th>#</th><th>Object</th><th>Copy</th><th>Problem</th><th>Detected</th><th>Notice due</th>
<th>State</th><th>Records</th></tr>{rows}</table>
<h2>Records</h2><table><tr><th>Kind</th><th>ID</th><th>ETTN</th><th>Date</th><th>Supplier</th><th>Customer</th>
<th>SHA-256</th><th>State</th><th>Plan</th></tr>{recs}</table></body></html>"""
