"""Full fixity audit against its floor, in the same run.

    .venv/bin/python bench/fixity.py --docs 2000 [--issuers 6] [--seed 1] [--rounds 2] [--json]

1. Generates N realistic invoices (bench/synth.py) and ingests them into a fresh
   embedded archive (not timed).
2. Then, alternately (the machine is shared):
   (a) the FLOOR of DESIGN.md: one loop over every blob of the store — read it,
       decompress it (with its dictionary), sha256 it — nothing else;
   (b) the AUDIT: `earsiv verify --all` as a library call (`verify_all`): every
       bundle re-read and re-hashed, every checkpoint's root recomputed, its
       signature and time-stamp token checked, every blob's fixity checked, the
       index cross-checked.
3. Prints docs/s of each, the ratio, and the target (≥ 0.7 × floor).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from synth import write as write_docs

from earsiv.archive import blobs
from earsiv.archive.archive import Archive
from earsiv.archive.audit import verify_all
from earsiv.archive.sources import expand

__all__ = ["main", "run_audit", "run_floor"]

TARGET = 0.7


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _drop_caches_if_root() -> None:
    # Both phases should read from the same cache state; dropping the page
    # cache needs root and is skipped silently otherwise (both then read warm).
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
    except OSError:
        pass


def run_floor(store_objects: Path, entries: list[dict]) -> tuple[float, float]:
    dicts: dict[str, bytes] = {}
    t0, c0 = time.perf_counter(), _cpu()
    for e in entries:
        d, dd = e["digest"], e["blob"].get("dict")
        raw = None
        if dd:
            raw = dicts.get(dd)
            if raw is None:
                raw = dicts[dd] = blobs.decode((store_objects / "dicts" / dd[:2] / dd).read_bytes())
        data = blobs.decode((store_objects / "blobs" / d[:2] / d).read_bytes(), raw)
        if hashlib.sha256(data).hexdigest() != d:
            raise SystemExit(f"floor: {d} damaged")
    return time.perf_counter() - t0, _cpu() - c0


def run_audit(home: Path) -> tuple[float, float, int]:
    arch = Archive.open(home)
    try:
        t0, c0 = time.perf_counter(), _cpu()
        checked, findings = verify_all(arch, None)
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
    finally:
        arch.close()
    if findings:
        raise SystemExit(f"audit found problems: {findings[:3]}")
    return wall, cpu, checked


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--issuers", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--dir", type=Path, default=ROOT / ".bench")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="fixity-", dir=args.dir))
    try:
        docs, home = work / "docs", work / "home"
        write_docs(args.docs, docs, issuers=args.issuers, seed=args.seed)
        arch = Archive.init(home)
        statuses = [r.status for r in arch.ingest(expand([docs]))]
        arch.close()
        assert statuses.count("stored") == args.docs, statuses[:5]
        shutil.rmtree(docs)
        objects = home / "store" / "objects"
        entries = [
            json.loads(line)
            for b in sorted((objects / "log" / "leaves").iterdir())
            for line in b.read_bytes().splitlines()
        ]
        entries = [e for e in entries if e["type"] == "document"]
        rounds = []
        for n in range(1, args.rounds + 1):
            _drop_caches_if_root()
            fw, fc = run_floor(objects, entries)
            _drop_caches_if_root()
            aw, ac, checked = run_audit(home)
            ratio = (checked / aw) / (len(entries) / fw)
            rounds.append({"round": n, "floor_docs_s": len(entries) / fw, "floor_cpu_ms": 1000 * fc / len(entries),
                           "audit_docs_s": checked / aw, "audit_cpu_ms": 1000 * ac / checked, "ratio": ratio})
        worst = min(r["ratio"] for r in rounds)
        result = {"docs": args.docs, "issuers": args.issuers, "rounds": rounds, "target": TARGET, "pass": worst >= TARGET,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        if args.json:
            print(json.dumps(result, indent=1))
        else:
            print(f"fixity bench: {args.docs} documents, {args.issuers} issuers; 2 CPUs")
            for r in rounds:
                print(f"round {r['round']}  floor {r['floor_docs_s']:8.1f} docs/s  cpu {r['floor_cpu_ms']:.2f} ms/doc")
                print(f"round {r['round']}  audit {r['audit_docs_s']:8.1f} docs/s  cpu {r['audit_cpu_ms']:.2f} ms/doc"
                      f"  = {r['ratio']:.3f} x floor  {'PASS' if r['ratio'] >= TARGET else 'FAIL'} (>= {TARGET})")
            print(f"peak RSS {result['peak_rss_mb']:.0f} MB")
            print(f"{'PASS' if result['pass'] else 'FAIL'}  full fixity audit >= {TARGET} x floor   worst {worst:.3f} x")
        return 0 if result["pass"] else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
