"""The serial report on one issuer's 1,000,000 invoices (issue 15: at most 2 s), on SQLite.

Rows go straight into the index (this measures the report's SQL, not the ingest): one issuer,
series AAA and BBB of one year, every 1,000th number missing, every 50,000th duplicated.
Prints the time of the report next to a floor: one scan of the same rows in the index's order.

    python bench/reports.py [N [INDEX.sqlite]]
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from earsiv.archive.reports import build_report
from earsiv.indexer.db import Index
from earsiv.indexer.models import documents

VKN = "1234567803"


def fill(index: Index, n: int) -> int:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows, missing = [], 0
    for i in range(n):
        series, seq = ("AAA", i + 1) if i < n // 2 else ("BBB", i - n // 2 + 1)
        if seq % 1000 == 0:
            missing += 1
            continue
        day = dt.date(2025, 1, 1) + dt.timedelta(days=seq * 364 // (n // 2 + 1))
        for dup in range(2 if seq % 50_000 == 1 else 1):
            rows.append({"digest": f"{i:060d}{dup:04d}", "kind": "e-fatura", "root": "Invoice",
                         "doc_id": f"{series}2025{seq:09d}", "issue_date": day, "sort_date": day, "series": series,
                         "year": 2025, "sequence": seq, "supplier_id": VKN, "supplier_key": VKN, "signed": True, "stylesheets": 1,
                         "line_count": 1, "flags": [], "refs": [], "signature_status": "pending", "size": 1,
                         "stored_size": 1, "log_index": i * 2 + dup, "received_at": now, "retain_until": now,
                         "legal_hold": False})
        if len(rows) >= 50_000:
            with index.db.write("bench") as conn:
                conn.execute(sa.insert(documents), rows)
            rows = []
    if rows:
        with index.db.write("bench") as conn:
            conn.execute(sa.insert(documents), rows)
    return missing


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tmp) / "index.sqlite"  # keep it to run again
        fresh = not path.exists()
        index = Index(f"sqlite:///{path}")
        index.upgrade()
        t = time.perf_counter()
        missing = fill(index, n) if fresh else sum(1 for i in range(n) if (i % (n // 2) + 1) % 1000 == 0)
        print(f"filled {n:,} rows in {time.perf_counter() - t:.1f} s")
        windows = [(dt.date(2025, 1, 1), dt.date(2025, 12, 31))]
        with index.db.read("bench") as conn:
            t = time.perf_counter()
            conn.execute(sa.text("SELECT count(*), max(sequence) FROM documents INDEXED BY "
                                 "ix_documents_supplier_key_series_year_sequence_issue_date_kind WHERE supplier_key = :v"), {"v": VKN}).one()
            floor = time.perf_counter() - t
        for _ in range(2):
            t = time.perf_counter()
            rep = build_report("serials", index.reports, VKN, windows)
            took = time.perf_counter() - t
        # The last number of each series is a multiple of 1,000: missing at the end, which no report can see.
        assert rep.summary["missing_numbers"] == missing - 2, (rep.summary, missing)
        assert rep.summary["duplicated_numbers"] == n // 50_000, rep.summary
        print(f"serial report: {took:.2f} s (target 2 s); floor, one scan of the issuer's rows: {floor:.2f} s; "
              f"{rep.summary}")
        index.close()


if __name__ == "__main__":
    main()
