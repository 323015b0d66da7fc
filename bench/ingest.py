"""Bulk ingest benchmark: the embedded archive against the floor, in the same run.

    .venv/bin/python bench/ingest.py --docs 2000 [--issuers 6] [--seed 1] [--rounds 2]
                                     [--dir .bench] [--keep DIR] [--json]

1. Generates N realistic signed invoices (``bench/synth.py``: per-issuer
   streams made from the corpus's real invoices) into a work directory on the
   same disk as the archive homes, and flushes them to disk.
2. Then, alternately (floor, archive, floor, archive: the machine is shared):
   (a) the FLOOR of DESIGN.md -- one loop over the same files in the same
       order: read, sha256, zstd level 3 without dictionary, write to a new
       file, fsync it, next;
   (b) the ARCHIVE -- ``Archive.init`` in a fresh home, then
       ``arch.ingest(expand([docs]))`` to the last result (each result is
       given only once durable and indexed) and ``arch.close()`` (the final
       checkpoint and its time stamp);
   (c) SIGNATURES -- ``Archive.open`` then ``arch.inspect_pending()`` over
       what (b) stored, timed on its own: DESIGN.md lets it trail the ingest.
3. Prints docs/s of each, the ratios archive/floor and signatures/floor, the
   bytes of the whole archive home on disk (allocated blocks and apparent
   sizes) and of the store alone against the original bytes, peak RSS, and
   each DESIGN.md target with PASS/FAIL.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import zstandard

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from typing import Self

from synth import write as write_docs

from earsiv.archive.archive import Archive
from earsiv.archive.sources import expand

__all__ = ["disk_usage", "main", "run_archive", "run_floor", "run_signatures"]

BENCH_DIR = ROOT / ".bench"
INGEST_TARGET = 1.0  # x floor
SIGNATURE_TARGET = 0.5  # x floor
FINISHED_TARGET = 0.7  # x floor: `earsiv ingest` returns with signatures checked and search indexes caught up
HOME_RATIO_TARGET = 0.03  # whole home / original, per-issuer streams
RSS_TARGET = 400 * 1024 * 1024
# Real signer certificates carry over-long name attributes; cryptography warns
# once per certificate shape.  Not a benchmark figure.
warnings.filterwarnings("ignore", message="Attribute's length must be")


# -- measuring helpers ------------------------------------------------------------------


class PeakRSS:
    """Samples this process's resident set every few ms; ``peak`` is the highest seen."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * self._page

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(self.interval)

    def __enter__(self) -> Self:
        self.peak = self._rss()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


@dataclass
class Usage:
    allocated: int = 0  # st_blocks * 512, like `du`
    apparent: int = 0  # st_size, like `du --apparent-size`
    files: int = 0


def disk_usage(path: Path) -> Usage:
    """`du -s` and `du -s --apparent-size` of *path* (directories included, hard links once)."""
    u = Usage()
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [None, *filenames]:
            st = os.lstat(dirpath if name is None else os.path.join(dirpath, name))
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            u.allocated += st.st_blocks * 512
            u.apparent += st.st_size
            u.files += name is not None
    return u


@dataclass
class Phase:
    name: str
    docs: int
    seconds: float
    peak_rss: int
    load_before: float
    cpu_seconds: float = 0.0  # user + system of this process: less noisy than wall time on a shared machine
    extra: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.docs / self.seconds if self.seconds else float("inf")

    def to_json(self) -> dict:
        d = asdict(self)
        d["docs_per_s"] = round(self.rate, 2)
        d["seconds"] = round(self.seconds, 3)
        d["cpu_seconds"] = round(self.cpu_seconds, 3)
        return d


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


# -- the three measurements ---------------------------------------------------------------


def run_floor(files: list[Path], out: Path) -> Phase:
    """DESIGN.md's floor: read, sha256, zstd -3, write a new file, fsync it, next."""
    out.mkdir(parents=True)
    cctx = zstandard.ZstdCompressor(level=3)
    load = os.getloadavg()[0]
    with PeakRSS() as rss:
        c0, t0 = _cpu(), time.perf_counter()
        for path in files:
            with open(path, "rb") as fh:
                data = fh.read()
            digest = hashlib.sha256(data).hexdigest()
            frame = cctx.compress(data)
            fd = os.open(out / digest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            try:
                view = memoryview(frame)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
        seconds = time.perf_counter() - t0
    return Phase("floor", len(files), seconds, rss.peak, load, _cpu() - c0)


def run_archive(docs: Path, home: Path) -> Phase:
    """Init a fresh home, ingest every file durably and indexed, close."""
    Archive.init(home).close()
    load = os.getloadavg()[0]
    with PeakRSS() as rss:
        c0, t0 = _cpu(), time.perf_counter()
        arch = Archive.open(home)
        statuses: Counter[str] = Counter()
        try:
            for res in arch.ingest(expand([docs])):
                statuses[res.status] += 1
            t_ingest = time.perf_counter() - t0
        finally:
            arch.close()
        seconds = time.perf_counter() - t0
    n = sum(statuses.values())
    return Phase(
        "archive",
        n,
        seconds,
        rss.peak,
        load,
        _cpu() - c0,
        {
            "statuses": dict(statuses),
            "ingest_seconds": round(t_ingest, 3),
            "close_seconds": round(seconds - t_ingest, 3),
        },
    )


def run_finished(docs: Path, home: Path) -> Phase:
    """The user's command, whole: ``earsiv ingest DOCS`` on a fresh home, until it returns.

    It returns when every document is durable and indexed, its signature checked (beside
    the ingest, on the second core) and the full-text index caught up.
    """
    Archive.init(home).close()
    exe = Path(sys.executable).with_name("earsiv")
    load = os.getloadavg()[0]
    c0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run([str(exe), "--home", str(home), "ingest", str(docs)], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    cpu = _children_cpu() - c0
    if proc.returncode != 0:
        raise SystemExit(f"earsiv ingest failed ({proc.returncode}): {proc.stderr[-2000:]}")
    with Archive.open(home) as arch:
        st = arch.status()
    pending = {"signatures": st.pending_signatures, "fulltext": st.pending_fulltext}
    if any(pending.values()):
        raise SystemExit(f"earsiv ingest returned with work pending: {pending}")
    return Phase("finished", st.documents, seconds, 0, load, cpu, {"pending": pending})


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_signatures(home: Path) -> Phase:
    arch = Archive.open(home)
    load = os.getloadavg()[0]
    try:
        with PeakRSS() as rss:
            c0, t0 = _cpu(), time.perf_counter()
            n = arch.inspect_pending()
            seconds = time.perf_counter() - t0
            cpu = _cpu() - c0
        by_signature = arch.status().by_signature
    finally:
        arch.close()
    return Phase(
        "signatures", n, seconds, rss.peak, load, cpu, {"by_signature": by_signature}
    )


def home_sizes(home: Path) -> dict:
    parts = {
        "home": disk_usage(home),
        "store": disk_usage(home / "store"),
        "blobs": disk_usage(home / "store" / "objects" / "blobs"),
        "dicts": disk_usage(home / "store" / "objects" / "dicts"),
        "log": disk_usage(home / "store" / "objects" / "log"),
    }
    index = Usage()
    for p in home.glob("index.sqlite*"):
        st = p.stat()
        index.allocated += st.st_blocks * 512
        index.apparent += st.st_size
        index.files += 1
    parts["index"] = index
    return {k: asdict(v) for k, v in parts.items()}


# -- the run ----------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def bench(args: argparse.Namespace) -> dict:
    if args.keep:
        work = args.keep.resolve()
        if work.exists() and any(work.iterdir()):
            raise SystemExit(f"--keep {work}: directory exists and is not empty")
        work.mkdir(parents=True, exist_ok=True)
    else:
        args.dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="ingest-", dir=args.dir))
    say = (
        (lambda *a: print(*a, file=sys.stderr, flush=True))
        if args.json
        else (lambda *a: print(*a, flush=True))
    )
    try:
        docs = work / "docs"
        t0 = time.perf_counter()
        n_files, original = write_docs(
            args.docs, docs, issuers=args.issuers, seed=args.seed
        )
        gen_s = time.perf_counter() - t0
        os.sync()  # the archive's syncfs must not pay for writing the inputs
        files = sorted(p for p in docs.iterdir() if not p.name.startswith("."))
        say(
            f"earsiv ingest bench: {n_files} documents, {args.issuers} issuers (seed {args.seed}), "
            f"{original / 1e6:.1f} MB original, mean {original / max(n_files, 1) / 1024:.0f} KiB; "
            f"{os.cpu_count()} CPUs; work dir {work}"
        )
        say(f"generated in {gen_s:.1f} s")
        rounds = []
        for r in range(1, args.rounds + 1):
            fl = run_floor(files, work / f"floor-{r}")
            floor_usage = disk_usage(work / f"floor-{r}")
            shutil.rmtree(work / f"floor-{r}")
            say(
                f"round {r}  floor       {fl.rate:8.1f} docs/s  {original / fl.seconds / 1e6:7.1f} MB/s  "
                f"{fl.seconds:6.1f} s  cpu {1000 * fl.cpu_seconds / fl.docs:5.2f} ms/doc  (load {fl.load_before:.2f})"
            )
            ar = run_archive(docs, work / f"home-{r}")
            ratio = ar.rate / fl.rate
            say(
                f"round {r}  archive     {ar.rate:8.1f} docs/s  {original / ar.seconds / 1e6:7.1f} MB/s  "
                f"{ar.seconds:6.1f} s  cpu {1000 * ar.cpu_seconds / ar.docs:5.2f} ms/doc  (load {ar.load_before:.2f})  = {ratio:.3f} x floor  "
                f"{_verdict(ratio >= INGEST_TARGET)} (>= {INGEST_TARGET})   close {ar.extra['close_seconds']:.2f} s, "
                f"statuses {ar.extra['statuses']}"
            )
            rnd = {
                "round": r,
                "floor": fl.to_json(),
                "floor_bytes": asdict(floor_usage),
                "archive": ar.to_json(),
                "archive_over_floor": round(ratio, 3),
            }
            if not args.no_signatures:
                sg = run_signatures(work / f"home-{r}")
                sratio = sg.rate / fl.rate
                say(
                    f"round {r}  signatures  {sg.rate:8.1f} docs/s  {'':7}       {sg.seconds:6.1f} s  "
                    f"cpu {1000 * sg.cpu_seconds / max(sg.docs, 1):5.2f} ms/doc  "
                    f"(load {sg.load_before:.2f})  = {sratio:.3f} x floor  {_verdict(sratio >= SIGNATURE_TARGET)} "
                    f"(>= {SIGNATURE_TARGET})   {sg.extra['by_signature']}"
                )
                rnd["signatures"] = sg.to_json()
                rnd["signatures_over_floor"] = round(sratio, 3)
            if not args.no_signatures:
                fi = run_finished(docs, work / f"finished-{r}")
                fratio = fi.rate / fl.rate
                say(
                    f"round {r}  finished    {fi.rate:8.1f} docs/s  {original / fi.seconds / 1e6:7.1f} MB/s  "
                    f"{fi.seconds:6.1f} s  cpu {1000 * fi.cpu_seconds / max(fi.docs, 1):5.2f} ms/doc  "
                    f"(load {fi.load_before:.2f})  = {fratio:.3f} x floor  {_verdict(fratio >= FINISHED_TARGET)} "
                    f"(>= {FINISHED_TARGET})   the whole `earsiv ingest`"
                )
                rnd["finished"] = fi.to_json()
                rnd["finished_over_floor"] = round(fratio, 3)
                shutil.rmtree(work / f"finished-{r}")
            rnd["sizes"] = home_sizes(work / f"home-{r}")
            rounds.append(rnd)
            if not args.keep and r < args.rounds:
                shutil.rmtree(work / f"home-{r}")
        sizes = rounds[-1]["sizes"]
        floor_bytes = rounds[-1]["floor_bytes"]
        home_alloc = sizes["home"]["allocated"] / original
        home_app = sizes["home"]["apparent"] / original
        peak_archive = max(
            max(r["archive"]["peak_rss"], r.get("signatures", {}).get("peak_rss", 0))
            for r in rounds
        )
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        ratios = [r["archive_over_floor"] for r in rounds]
        sratios = [
            r["signatures_over_floor"] for r in rounds if "signatures_over_floor" in r
        ]
        mb = lambda b: f"{b / 1e6:9.2f} MB"
        pct = lambda b: f"{100 * b / original:7.3f} %"
        say("bytes (last round)                 allocated              apparent")
        say(f"  original                        {mb(original)}          {mb(original)}")
        for key, label in (
            ("home", "whole archive home"),
            ("store", "  store alone"),
            ("blobs", "    blobs"),
            ("dicts", "    dictionaries"),
            ("log", "    log"),
            ("index", "  index.sqlite*"),
        ):
            s = sizes[key]
            say(
                f"  {label:30}{mb(s['allocated'])} {pct(s['allocated'])} {mb(s['apparent'])} {pct(s['apparent'])}"
                f"  ({s['files']} files)"
            )
        say(
            f"  floor output (plain zstd -3)  {mb(floor_bytes['allocated'])} {pct(floor_bytes['allocated'])} "
            f"{mb(floor_bytes['apparent'])} {pct(floor_bytes['apparent'])}"
        )
        say(
            f"peak RSS: archive phases {peak_archive / 1e6:.0f} MB; whole process (incl. generation) {maxrss / 1e6:.0f} MB"
        )
        targets = [
            (
                "bulk ingest, embedded, durable and indexed >= 1.0 x floor",
                f"{min(ratios):.3f}..{max(ratios):.3f} x",
                min(ratios) >= INGEST_TARGET,
            ),
            (
                "whole archive home / original <= 3 % (allocated)",
                f"{100 * home_alloc:.3f} %",
                home_alloc <= HOME_RATIO_TARGET,
            ),
            (
                "whole archive home / original <= 3 % (apparent)",
                f"{100 * home_app:.3f} %",
                home_app <= HOME_RATIO_TARGET,
            ),
            (
                "peak memory of the bulk job <= 400 MB",
                f"{peak_archive / 1e6:.0f} MB",
                peak_archive <= RSS_TARGET,
            ),
        ]
        fratios = [r["finished_over_floor"] for r in rounds if "finished_over_floor" in r]
        if fratios:
            targets.insert(
                1,
                (
                    "bulk ingest, finished (the whole `earsiv ingest`) >= 0.7 x floor",
                    f"{min(fratios):.3f}..{max(fratios):.3f} x",
                    min(fratios) >= FINISHED_TARGET,
                ),
            )
        if sratios:
            targets.insert(
                1,
                (
                    "signature inspection catches up at >= 0.5 x floor",
                    f"{min(sratios):.3f}..{max(sratios):.3f} x",
                    min(sratios) >= SIGNATURE_TARGET,
                ),
            )
        say("targets (DESIGN.md), worst round:")
        for what, got, ok in targets:
            say(f"  {_verdict(ok)}  {what:60} {got}")
        return {
            "docs": n_files,
            "issuers": args.issuers,
            "seed": args.seed,
            "bytes_original": original,
            "generate_seconds": round(gen_s, 3),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "work_dir": str(work),
            "rounds": rounds,
            "peak_rss_archive": peak_archive,
            "max_rss_process": maxrss,
            "targets": [{"what": w, "got": g, "pass": ok} for w, g, ok in targets],
        }
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--issuers", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="floor/archive alternations (default 2: ABAB)",
    )
    ap.add_argument(
        "--dir",
        type=Path,
        default=BENCH_DIR,
        help="where the temporary work directory goes (same disk!)",
    )
    ap.add_argument(
        "--keep",
        type=Path,
        help="work in DIR and keep documents and archive homes there",
    )
    ap.add_argument(
        "--no-signatures",
        action="store_true",
        help="skip (c), the signature inspection",
    )
    ap.add_argument(
        "--json",
        action="store_true",
        help="print the results as JSON on stdout (the table goes to stderr)",
    )
    ap.add_argument("--store", choices=["local", "s3"], default="local",
                    help="s3: against SeaweedFS on loopback and raw boto3 PUTs (bench/ingest_s3.py)")
    ap.add_argument("--workers", type=int, default=16, help="with --store s3: concurrent PUTs of the floor")
    args = ap.parse_args(argv)
    if args.store == "s3":
        from ingest_s3 import run as run_s3

        return run_s3(args)
    result = bench(args)
    if args.json:
        print(json.dumps(result, indent=2))
    return 0 if all(t["pass"] for t in result["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
