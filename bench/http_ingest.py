"""HTTP ingest benchmark: POST /v1/documents over loopback against in-process ``Archive.ingest``, same run.

    .venv/bin/python bench/http_ingest.py [--docs 300] [--clients 1,2,4,8] [--batch 20] [--issuers 6]
                                          [--seed 1] [--dir .bench] [--keep DIR]

1. Generates N realistic signed invoices (``bench/synth.py``) into a work directory and
   flushes them to disk.
2. FLOOR: ``Archive.init`` in a fresh home, then ``arch.ingest(expand([docs]), tenant=V)``
   to the last result (each result only once durable and indexed) -- the archive's own
   in-process speed on the same files, which the API cannot beat.
3. For each variant (one raw XML body per request; multipart batches of ``--batch`` files)
   and each client count C: a fresh home made with the real CLI (``earsiv init``,
   ``earsiv principal add bench --role integrator --tenant V``, ``earsiv token create``),
   ``earsiv serve`` (uvicorn) on a free loopback port, then C threads, each with its own
   ``httpx.Client``, taking the next file (or batch) from one shared queue and POSTing it
   until none is left.  Timed from the first request to the last answer; every answer is
   given only once its documents are durable and indexed.  The server is stopped with
   SIGINT (graceful: final checkpoint) after the clock stops.
   Order: floor, single x C..., floor, batch x C...; each variant is compared with the
   floor measured just before it (the machine is shared).

Prints a table on stderr and the figures as JSON on stdout: docs/s, ratio to the floor,
CPU ms/doc of the server process and of the client threads, load average at the start.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from synth import write as write_docs

from earsiv.archive.archive import Archive
from earsiv.archive.sources import expand

__all__ = ["Run", "chunks", "main", "run_floor", "run_http", "serve"]

BENCH_DIR = ROOT / ".bench"
EARSIV = Path(sys.executable).parent / "earsiv"
TENANT = "1000000009"  # synthetic; any 10 digits will do for a tenant
PRINCIPAL = "bench-integrator"


@dataclass
class Run:
    name: str
    clients: int
    batch: int
    docs: int
    seconds: float
    load_before: float
    server_cpu: float = 0.0  # seconds of the server process (user + system) while the clock ran
    client_cpu: float = 0.0  # seconds of this process (the client threads) while the clock ran
    statuses: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.docs / self.seconds if self.seconds else float("inf")

    def to_json(self) -> dict:
        return {"name": self.name, "clients": self.clients, "batch": self.batch, "docs": self.docs,
                "seconds": round(self.seconds, 3), "docs_per_s": round(self.rate, 2),
                "load_before": round(self.load_before, 2),
                "server_cpu_ms_per_doc": round(1000 * self.server_cpu / max(self.docs, 1), 3),
                "client_cpu_ms_per_doc": round(1000 * self.client_cpu / max(self.docs, 1), 3),
                "statuses": self.statuses, "errors": self.errors[:5]}


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def chunks(files: list[Path], size: int) -> list[list[Path]]:
    """*files* in order, cut into requests of *size* files (the last may be shorter)."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    return [files[i:i + size] for i in range(0, len(files), size)]


# -- the floor: the same archive, in process ---------------------------------------------

def run_floor(docs: Path, home: Path, tenant: str = TENANT) -> Run:
    Archive.init(home).close()
    load = os.getloadavg()[0]
    arch = Archive.open(home)
    statuses: Counter[str] = Counter()
    try:
        c0, t0 = _cpu(), time.perf_counter()
        for res in arch.ingest(expand([docs]), tenant=tenant):
            statuses[res.status] += 1
        seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    finally:
        arch.close()
    return Run("floor", 0, 0, sum(statuses.values()), seconds, load, server_cpu=cpu, statuses=dict(statuses))


# -- the server ----------------------------------------------------------------------------

def _cli(home: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")}
    proc = subprocess.run([str(EARSIV), "--home", str(home), *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"earsiv {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class serve:
    """``earsiv serve`` on a free loopback port of a fresh home with an integrator and its token."""

    def __init__(self, home: Path, log: Path, tenant: str = TENANT) -> None:
        self.home, self.log_path, self.tenant = home, log, tenant
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        _cli(self.home, "init")
        _cli(self.home, "principal", "add", PRINCIPAL, "--role", "integrator", "--tenant", self.tenant)
        self.token = json.loads(_cli(self.home, "token", "create", PRINCIPAL, "--json"))["token"]
        self._log = open(self.log_path, "wb")  # closed in __exit__; a pipe could fill and stall the server
        self.proc = subprocess.Popen([str(EARSIV), "--home", str(self.home), "serve", "--port", str(self.port)],
                                     stdout=self._log, stderr=subprocess.STDOUT)
        self.ps = psutil.Process(self.proc.pid)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"earsiv serve exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.__exit__()
        raise SystemExit(f"earsiv serve did not answer /healthz within 60 s; see {self.log_path}")

    def cpu(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully: the archive is closed
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# -- the clients ---------------------------------------------------------------------------

def _post(client: httpx.Client, batch: list[Path], tenant: str) -> list[dict]:
    if len(batch) == 1:
        r = client.post("/v1/documents", content=batch[0].read_bytes(), params={"tenant": tenant},
                        headers={"Content-Type": "application/xml", "X-Filename": batch[0].name})
    else:
        files = [("files", (p.name, p.read_bytes(), "application/xml")) for p in batch]
        r = client.post("/v1/documents", files=files, params={"tenant": tenant})
    if r.status_code != 200:
        raise RuntimeError(f"HTTP {r.status_code}: {r.text[:300]}")
    return r.json()["results"]


def run_http(server: serve, requests: list[list[Path]], clients: int, name: str) -> Run:
    """*clients* threads POST *requests* (lists of files) from one shared queue; timed to the last answer."""
    queue: Iterator[list[Path]] = iter(requests)
    lock = threading.Lock()
    statuses: Counter[str] = Counter()
    errors: list[str] = []
    start = threading.Barrier(clients + 1)

    def worker() -> None:
        with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {server.token}"},
                          timeout=httpx.Timeout(600.0)) as client:
            client.get("/v1/me").raise_for_status()  # connect and authenticate before the clock starts
            start.wait()
            while True:
                with lock:
                    batch = next(queue, None)
                if batch is None:
                    return
                try:
                    results = _post(client, batch, server.tenant)
                except (httpx.HTTPError, RuntimeError, ValueError) as exc:
                    with lock:
                        errors.append(f"{batch[0].name}: {exc}")
                    continue
                with lock:
                    statuses.update(r["status"] for r in results)

    threads = [threading.Thread(target=worker, name=f"client-{i}") for i in range(clients)]
    for t in threads:
        t.start()
    load = os.getloadavg()[0]
    start.wait()
    s0, c0, t0 = server.cpu(), _cpu(), time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    run = Run(name, clients, max(len(r) for r in requests), sum(statuses.values()), seconds, load,
              server.cpu() - s0, _cpu() - c0, dict(statuses), errors)
    return run


# -- the run -------------------------------------------------------------------------------

def bench(args: argparse.Namespace, say) -> dict:
    if args.keep:
        work = args.keep.resolve()
        if work.exists() and any(work.iterdir()):
            raise SystemExit(f"--keep {work}: directory exists and is not empty")
        work.mkdir(parents=True, exist_ok=True)
    else:
        args.dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="http-ingest-", dir=args.dir))
    try:
        docs = work / "docs"
        t0 = time.perf_counter()
        n_files, original = write_docs(args.docs, docs, issuers=args.issuers, seed=args.seed)
        os.sync()
        files = sorted(p for p in docs.iterdir() if not p.name.startswith("."))
        say(f"earsiv HTTP ingest bench: {n_files} documents ({original / 1e6:.1f} MB, mean "
            f"{original / max(n_files, 1) / 1024:.0f} KiB), generated in {time.perf_counter() - t0:.1f} s; "
            f"{os.cpu_count()} CPUs; clients {args.clients}; batch {args.batch}; work dir {work}")
        runs: list[dict] = []
        k = 0
        for variant, size in (("single", 1), (f"batch{args.batch}", args.batch)):
            k += 1
            floor = run_floor(docs, work / f"home-{k}")
            shutil.rmtree(work / f"home-{k}")
            say(f"floor              {floor.rate:8.1f} docs/s  {floor.seconds:6.1f} s  "
                f"cpu {1000 * floor.server_cpu / floor.docs:5.2f} ms/doc  (load {floor.load_before:.2f})  "
                f"{floor.statuses}")
            runs.append({**floor.to_json(), "variant": "floor"})
            requests = chunks(files, size)
            for clients in args.clients:
                k += 1
                with serve(work / f"home-{k}", work / f"serve-{k}.log") as server:
                    run = run_http(server, requests, clients, variant)
                ratio = run.rate / floor.rate
                say(f"{variant:9} C={clients:<2}  {run.rate:8.1f} docs/s  {run.seconds:6.1f} s  server cpu "
                    f"{1000 * run.server_cpu / max(run.docs, 1):5.2f} ms/doc  client cpu "
                    f"{1000 * run.client_cpu / max(run.docs, 1):5.2f} ms/doc  (load {run.load_before:.2f})  "
                    f"= {ratio:.3f} x floor  {run.statuses}{'  ERRORS ' + str(run.errors[:2]) if run.errors else ''}")
                runs.append({**run.to_json(), "variant": variant, "floor_docs_per_s": round(floor.rate, 2),
                             "over_floor": round(ratio, 3)})
                if not args.keep:
                    shutil.rmtree(work / f"home-{k}")
        return {"docs": n_files, "bytes_original": original, "issuers": args.issuers, "seed": args.seed,
                "batch": args.batch, "cpus": os.cpu_count(), "python": platform.python_version(),
                "work_dir": str(work), "runs": runs}
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _clients(text: str) -> list[int]:
    values = [int(x) for x in text.split(",") if x.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of client counts >= 1")
    return values


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=300)
    ap.add_argument("--clients", type=_clients, default=[1, 2, 4, 8], help="comma-separated (default 1,2,4,8)")
    ap.add_argument("--batch", type=int, default=20, help="files per multipart request in the batch variant")
    ap.add_argument("--issuers", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", type=Path, default=BENCH_DIR, help="where the temporary work directory goes (same disk!)")
    ap.add_argument("--keep", type=Path, help="work in DIR and keep documents, homes and server logs there")
    args = ap.parse_args(argv)
    if args.batch < 2:
        ap.error("--batch must be at least 2 (the single variant is always run)")
    if not EARSIV.exists():
        ap.error(f"the earsiv console script is not installed next to {sys.executable}")
    result = bench(args, lambda *a: print(*a, file=sys.stderr, flush=True))
    print(json.dumps(result, indent=2))
    bad = [r for r in result["runs"] if r["errors"] or set(r["statuses"]) - {"stored"}]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
