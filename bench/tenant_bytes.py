"""Bytes kept when tenants share issuers: a dictionary per (tenant, issuer) stream (issue 17).

    .venv/bin/python bench/tenant_bytes.py --docs 2000 --tenants 4

The same synthetic documents (``synth.write``, 6 issuers) archived once with no tenant (one
stream per issuer) and once split round robin over N tenants (a stream per tenant and
issuer); prints the store and the whole home against the original bytes, allocated and
apparent.  Not a timing: bytes only, so a busy machine does not change the figures.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from synth import write as write_docs

from earsiv.archive.archive import Archive
from earsiv.archive.sources import expand

TENANTS = ["1000000009", "2000000007", "3000000005", "4000000003", "5000000001", "6000000008"]


def _du(path: Path) -> tuple[int, int]:
    allocated = apparent = 0
    for f in path.rglob("*"):
        if f.is_file():
            st = f.stat()
            allocated, apparent = allocated + st.st_blocks * 512, apparent + st.st_size
    return allocated, apparent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--tenants", type=int, default=4, choices=range(1, len(TENANTS) + 1))
    ap.add_argument("--dir", type=Path, default=ROOT / ".bench")
    args = ap.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tenant-bytes-", dir=args.dir))
    try:
        docs = work / "docs"
        write_docs(args.docs, docs, issuers=6, seed=1)
        files = sorted(docs.iterdir())
        original = sum(f.stat().st_size for f in files)
        print(f"{args.docs} documents, {original / 1e6:.1f} MB of originals, 6 issuers")
        for label, tenants in (("no tenant", 0), (f"{args.tenants} tenants", args.tenants)):
            home = work / f"home-{tenants}"
            with Archive.init(home) as arch:
                if not tenants:
                    list(arch.ingest(expand([docs])))
                for t in range(tenants):
                    list(arch.ingest(expand(files[t::tenants]), tenant=TENANTS[t]))
            (sa, ss), (ha, hs) = _du(home / "store"), _du(home)
            print(f"{label:<12} store {sa / original:6.2%} allocated {ss / original:6.2%} apparent;"
                  f"  whole home {ha / original:6.2%} / {hs / original:6.2%}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
