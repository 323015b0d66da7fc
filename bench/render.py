"""Printable copies: single-document HTML and PDF latency, bulk PDF export throughput and memory.

    .venv/bin/python bench/render.py [--docs 40] [--rounds 3] [--workers N]
    .venv/bin/python bench/render.py --pool [--rounds 3]   # pooled vs in-process prints only

Workload: the corpus's real invoices that carry their own stylesheet (the
common case, and the slowest path: sandboxed XSLT, then layout) for the
single-document figures; ``synth.py`` streams (large signed invoices with
embedded XSLTs) ingested into a fresh archive for the bulk export.

Floors, measured in the same run on the same machine (bench/README.md):

* HTML: the same stylesheet applied in-process by lxml with no sandbox, no
  output checks and no defusing -- the least any XSLT view can cost;
* PDF: WeasyPrint laying out the same HTML to a plain PDF (no PDF/A, no
  attachments, no footer, no width check);
* bulk: ``render_pdf`` of the same synthetic documents one after another in
  the benchmark's own process, times the number of workers (perfect scaling,
  no store, log, proof or zip work).

Targets (DESIGN.md): HTML ≤ 100 ms, PDF ≤ 1 s per invoice; peak memory of any
bulk job ≤ 400 MB and flat in the job's size (measured as the sum of the
proportional set sizes -- PSS, shared pages counted once -- of the exporting
process and all its children, sampled every 50 ms).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lxml import etree

from bench.query import percentile
from earsiv.render import Provenance, render_html, render_pdf
from earsiv.render.html import embedded_stylesheets

CORPUS = ROOT.parent / "shared" / "corpus"
SINGLE = [
    "earsiv/bdog_sample.xml",
    "efatura/sk-fullboard_20251120150654847473.xml",
    "efatura/vg_ATM2025000001677-satis.xml",
    "efatura/vg_SKF2025000018311.xml",
    "eirsaliye/vg_KYI2025000001098.xml",
    "efatura/gib121_TicariFaturaOrnegi.xml",  # no stylesheet of its own: GİB's
]
HTML_TARGET_MS, PDF_TARGET_MS, MEMORY_TARGET_MB = 100, 1000, 400


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _floor_html(data: bytes) -> float:
    root = etree.fromstring(data)
    sheets = [s for s in embedded_stylesheets(root) if isinstance(s, bytes) and s.strip()]
    if not sheets:
        from earsiv.render.html import gib_stylesheet

        sheets = [gib_stylesheet("e-fatura")]
    transform = etree.XSLT(etree.fromstring(sheets[0]))
    start = time.perf_counter()
    str(transform(etree.fromstring(data)))
    return time.perf_counter() - start


def _floor_pdf(markup: str) -> float:
    from weasyprint import HTML

    start = time.perf_counter()
    HTML(string=markup, base_url="data:,").write_pdf()
    return time.perf_counter() - start


def single(rounds: int) -> tuple[float, float]:
    docs = [(name, (CORPUS / name).read_bytes()) for name in SINGLE]
    render_html(docs[0][1])  # start the sandbox worker once, as a server would
    html_t, html_floor, pdf_t, pdf_floor = [], [], [], []
    for r in range(rounds):
        for name, data in docs:
            html_floor.append(_floor_html(data))
            start = time.perf_counter()
            view = render_html(data)
            html_t.append(time.perf_counter() - start)
            md = view.metadata
            prov = Provenance(digest=hashlib.sha256(data).hexdigest(), kind=md.kind, doc_id=md.doc_id, ettn=md.ettn,
                              log_index=1, checkpoint_time="2026-01-01T00:00:00+00:00", signature_status="consistent")
            pdf_floor.append(_floor_pdf(view.html))
            start = time.perf_counter()
            render_pdf(data, prov, evidence={"bench": True})  # includes its own HTML view, as `earsiv export` does
            pdf_t.append(time.perf_counter() - start)
        print(f"round {r + 1}: html p50 {percentile(html_t, 50) * 1e3:.0f} ms (floor {percentile(html_floor, 50) * 1e3:.0f} ms), "
              f"pdf p50 {percentile(pdf_t, 50) * 1e3:.0f} ms (floor {percentile(pdf_floor, 50) * 1e3:.0f} ms)", flush=True)
    h50, h95 = percentile(html_t, 50) * 1e3, percentile(html_t, 95) * 1e3
    p50, p95 = percentile(pdf_t, 50) * 1e3, percentile(pdf_t, 95) * 1e3
    print(f"single HTML  p50 {h50:6.0f} ms  p95 {h95:6.0f} ms  floor p50 {percentile(html_floor, 50) * 1e3:5.0f} ms  "
          f"target ≤ {HTML_TARGET_MS} ms: {_verdict(h95 <= HTML_TARGET_MS)}")
    print(f"single PDF   p50 {p50:6.0f} ms  p95 {p95:6.0f} ms  floor p50 {percentile(pdf_floor, 50) * 1e3:5.0f} ms  "
          f"target ≤ {PDF_TARGET_MS} ms: {_verdict(p95 <= PDF_TARGET_MS)}")
    return p50 / 1e3, percentile(pdf_floor, 50)


def pooled(rounds: int) -> None:
    """What running each print in a worker costs: the same prints through a ``PrintPool`` and in this process.

    In-process is what a print cost before the pool (``render_html`` / ``render_pdf`` here, with the
    stylesheet in the sandbox process); pooled is what a server does now: the whole print in a
    warm worker, its bytes sent back through a pipe.  Alternated per document, so both see the same load.
    """
    from earsiv.render.frame import framed_html
    from earsiv.render.pool import PrintPool

    docs = [(name, (CORPUS / name).read_bytes()) for name in SINGLE]
    pool = PrintPool(1)
    try:
        times: dict[str, list[float]] = {k: [] for k in ("html in-process", "html pooled", "pdf in-process", "pdf pooled")}
        for _warm in range(2):  # the sandbox worker and the print worker started, their imports done
            render_html(docs[0][1])
            pool.print("html", docs[0][1], _prov(docs[0][1], render_html(docs[0][1]).metadata))
        for r in range(rounds):
            for _name, data in docs:
                view = render_html(data)
                prov = _prov(data, view.metadata)
                for fmt in ("html", "pdf"):
                    start = time.perf_counter()
                    if fmt == "html":
                        framed_html(render_html(data), prov)
                    else:
                        render_pdf(data, prov, evidence={"bench": True})
                    times[f"{fmt} in-process"].append(time.perf_counter() - start)
                    start = time.perf_counter()
                    pool.print(fmt, data, prov, {"bench": True})
                    times[f"{fmt} pooled"].append(time.perf_counter() - start)
            print(f"round {r + 1}: " + ", ".join(f"{k} p50 {percentile(v, 50) * 1e3:.0f} ms" for k, v in times.items()),
                  flush=True)
    finally:
        pool.close()
    for fmt in ("html", "pdf"):
        inproc, pooled_ = times[f"{fmt} in-process"], times[f"{fmt} pooled"]
        print(f"{fmt.upper():4} one invoice  pooled p50 {percentile(pooled_, 50) * 1e3:5.0f} ms  p95 "
              f"{percentile(pooled_, 95) * 1e3:5.0f} ms   in-process p50 {percentile(inproc, 50) * 1e3:5.0f} ms  p95 "
              f"{percentile(inproc, 95) * 1e3:5.0f} ms   cost of the pool p50 "
              f"{(percentile(pooled_, 50) - percentile(inproc, 50)) * 1e3:+.0f} ms")


def _prov(data: bytes, md) -> Provenance:
    return Provenance(digest=hashlib.sha256(data).hexdigest(), kind=md.kind, doc_id=md.doc_id, ettn=md.ettn,
                      log_index=1, checkpoint_time="2026-01-01T00:00:00+00:00", signature_status="valid")


class _Peak(threading.Thread):
    """Peak of (this process + all descendants) resident memory, sampled."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.samples: list[int] = []
        self._halt = threading.Event()

    def run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._halt.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    total += p.memory_full_info().pss  # shared pages counted once
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self.samples.append(total)
            self._halt.wait(0.05)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak


def bulk(docs: int, workers: int) -> None:
    from bench.synth import generate
    from earsiv.archive.archive import Archive
    from earsiv.archive.export import export_bulk
    from earsiv.archive.sources import expand
    from earsiv.indexer.query import SearchQuery

    work = ROOT / ".bench"
    work.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        src = Path(tmp) / "docs"
        src.mkdir()
        sample = []
        for doc in generate(docs, issuers=4, seed=7):
            (src / doc.name).write_bytes(doc.data)
            if len(sample) < workers:
                sample.append(doc.data)
        arch = Archive.init(Path(tmp) / "home")
        try:
            for _ in arch.ingest(expand([src])):
                pass
            arch.checkpoint()
            results = []
            for half, n in (("first half", docs // 2), ("all", docs)):
                q = SearchQuery(limit=200)
                out = Path(tmp) / f"out-{n}.zip"
                peak = _Peak()
                peak.start()
                start = time.perf_counter()
                summary = export_bulk(arch, q, "pdf", out, workers=workers) if n == docs else _export_n(arch, q, out, workers, n)
                elapsed = time.perf_counter() - start
                mb = peak.stop() / 2**20
                results.append((half, summary, summary.written / elapsed, mb))
            # the floor last, so that its in-process layout engine is not in the export's memory
            start = time.perf_counter()
            for data in sample:
                md = render_html(data).metadata
                render_pdf(data, Provenance(digest=hashlib.sha256(data).hexdigest(), kind=md.kind, doc_id=md.doc_id, ettn=md.ettn))
            ideal = workers * len(sample) / (time.perf_counter() - start)
            for half, summary, rate, mb in results:
                print(f"bulk PDF ({half}: {summary.written} docs, {workers} workers)  {rate:5.2f} docs/s  "
                      f"(floor {ideal:5.2f} docs/s = in-process PDF of the same documents × workers)  peak {mb:5.0f} MB  "
                      f"target ≤ {MEMORY_TARGET_MB} MB: {_verdict(mb <= MEMORY_TARGET_MB)}  failed {len(summary.failed)}", flush=True)
        finally:
            arch.close()


def _export_n(arch, q, out, workers, n):
    """Export only the first *n* rows: the same job at half the size, to see that memory stays flat."""
    from earsiv.archive import export as ex

    rows = ex._rows

    def limited(a, query):
        for i, row in enumerate(rows(a, query)):
            if i >= n:
                return
            yield row

    ex._rows = limited
    try:
        return ex.export_bulk(arch, q, "pdf", out, workers=workers)
    finally:
        ex._rows = rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=40, help="documents in the bulk export")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--bulk-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--pool", action="store_true", help="only the cost of printing in a worker: pooled vs in-process")
    args = ap.parse_args(argv)
    if args.pool:
        print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
        pooled(args.rounds)
        return 0
    if args.bulk_only:
        bulk(args.docs, args.workers)
        return 0
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    single(args.rounds)
    # A fresh process, so that the export's memory is its own, not the single-document runs' as well.
    import subprocess

    return subprocess.run([sys.executable, __file__, "--bulk-only", "--docs", str(args.docs), "--workers", str(args.workers)]).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
