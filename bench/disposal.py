"""Disposal of N documents (issue 15: 100,000 with bounded memory): time, and peak memory per size.

Builds a home of N small synthetic invoices dated 2009 (their TTK retention ended in 2019),
then runs `earsiv dispose` (plan, then confirm) in a child process and reports its time and
peak RSS; run with two sizes to see that memory does not grow with N.

    python bench/disposal.py [N ...]
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from earsiv.archive.archive import Archive
from earsiv.archive.ingest import Source
from tests.helpers.synthetic import invoice


def child(home: Path, *args: str) -> tuple[dict, float, int]:
    exe = Path(sys.executable).with_name("earsiv")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    out = subprocess.run([str(exe), "--home", str(home), *args, "--json"], capture_output=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    took = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return json.loads(out), took, max(peak, before)


def run(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        Archive.init(home).close()
        t = time.perf_counter()
        with Archive.open(home) as arch:
            for first in range(0, n, 5000):
                srcs = [Source(f"i{k}.xml", invoice(k, day=dt.date(2009, 1, 1) + dt.timedelta(days=k % 300)))
                        for k in range(first, min(n, first + 5000))]
                for _ in arch.ingest(srcs):
                    pass
        print(f"{n:,} documents archived in {time.perf_counter() - t:.0f} s")
        today = dt.date.today().isoformat()
        plan, t_plan, _ = child(home, "dispose", "--before", today, "--reason", "bench")
        done, t_done, peak = child(home, "dispose", "--before", today, "--reason", "bench", "--confirm", plan["plan"],
                                   "-o", str(Path(tmp) / "cert"))
        assert done["disposed"] == n, done
        print(f"plan {t_plan:.1f} s, dispose {t_done:.1f} s ({n / t_done:.0f} documents/s), "
              f"peak RSS of the command {peak / 1024:.0f} MB")


if __name__ == "__main__":
    for size in [int(a) for a in sys.argv[1:]] or [10_000, 100_000]:
        run(size)
