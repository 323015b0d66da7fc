"""What a hash-tree renewal costs (`earsiv renew --hash sha384`): it reads every document once.

    .venv/bin/python bench/hashtree.py --docs 2000 [--batch 50000]

Ingests N synthetic documents (``synth.write``, 6 issuers) into a fresh home with the built-in
TSA, then times ``hashtree.renew(arch, "sha384")`` over all of them: documents per second, CPU
seconds, peak RSS, and the bytes its records take per document. Then one evidence record, to
show what `earsiv evidence` costs then (it reads the runs' records once per process). The machine may be shared: read the CPU seconds too.
"""

from __future__ import annotations

import argparse
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

from earsiv.archive.archive import Archive
from earsiv.archive.evidence import write_evidence
from earsiv.archive.hashtree import renew
from earsiv.archive.sources import expand


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--dir", type=Path, default=ROOT / ".bench")
    args = ap.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="hashtree-", dir=args.dir))
    try:
        docs = work / "docs"
        write_docs(args.docs, docs, issuers=6, seed=1)
        home = work / "home"
        with Archive.init(home) as arch:
            list(arch.ingest(expand([docs])))
        with Archive.open(home) as arch:
            arch.checkpoint()
            c0, t0 = _cpu(), time.perf_counter()
            done = renew(arch, "sha384", batch=args.batch)
            seconds, cpu = time.perf_counter() - t0, _cpu() - c0
            records = sum(f.stat().st_size for f in (home / "store/objects/log/ers").glob("*.json"))
            n = done["documents"]
            print(f"{n} documents in {len(done['runs'])} runs: {seconds:.1f} s ({n / seconds:.0f} docs/s), "
                  f"{cpu:.1f} CPU s, records {records / n:.0f} bytes/document, "
                  f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
            digest = arch.ers.current()[-1].items[-1].digest
            t0 = time.perf_counter()
            write_evidence(arch, digest, work / "evidence")
            print(f"then `earsiv evidence` of one document, its record checked and written: "
                  f"{time.perf_counter() - t0:.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
