"""Signature inspection beside the ingest, on the second core.

The ingest acknowledges a document as soon as it is durable and indexed; its XML signature is
checked afterwards (``pending`` until then).  ``SignatureChecks`` takes the bytes of each newly
stored document as its group commits, while they are still in memory, and inspects them in a
worker process, so that the checks run while the ingest goes on instead of after it: a bulk
``earsiv ingest`` then returns with every signature checked at about the speed of the ingest
alone.  Reports are written to the index in batches by the caller's thread.

A small job is checked in this process (starting a worker costs more than it saves), and so
is anything left when the job ends; ``Archive.inspect_pending`` still checks whatever an
interrupted job left pending.
"""

from __future__ import annotations

import functools
import multiprocessing
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from earsiv.documents.certchain import TrustAnchors
from earsiv.documents.signature import NO_ROOTS, inspect_signature

if TYPE_CHECKING:
    from earsiv.documents.metadata import SignatureReport
    from earsiv.indexer.db import Index

__all__ = ["SignatureChecks"]

WORKER_AFTER = 128  # documents before a worker process is worth starting
BATCH = 64  # documents per task sent to the worker
MAX_QUEUED = 3  # tasks in flight: bounds the memory held for documents not yet checked (~60 MB)
WORKERS = 1  # the second core: the ingest keeps the first


# Certificates do not pickle: the worker gets the trust store as DER and rebuilds it once.
_Ders = tuple[tuple[bytes, ...], tuple[bytes, ...]]


def _ders(trust: TrustAnchors) -> _Ders:
    return (tuple(c.public_bytes(Encoding.DER) for c in trust.roots),
            tuple(c.public_bytes(Encoding.DER) for c in trust.intermediates))


@functools.lru_cache(maxsize=4)
def _anchors(ders: _Ders) -> TrustAnchors:
    return TrustAnchors(tuple(map(x509.load_der_x509_certificate, ders[0])),
                        tuple(map(x509.load_der_x509_certificate, ders[1])))


def _inspect_many(items: Sequence[tuple[str, bytes]], ders: _Ders = ((), ())) -> list[tuple[str, SignatureReport]]:
    trust = _anchors(ders)
    return [(digest, inspect_signature(data, name=digest, trust=trust)) for digest, data in items]


class SignatureChecks:
    def __init__(self, index: Index, trust: TrustAnchors = NO_ROOTS,
                 progress: Callable[[int], None] | None = None) -> None:
        self.index = index
        self._ders = _ders(trust)
        self.progress = progress
        self._pool: ProcessPoolExecutor | None = None
        self._futures: deque[Future] = deque()
        self._waiting: list[tuple[str, bytes]] = []
        self._seen = 0
        self.done = 0

    def submit(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Documents just made durable: check them beside what follows."""
        self._seen += len(items)
        self._waiting.extend(items)
        if self._seen >= WORKER_AFTER:
            while len(self._waiting) >= BATCH:
                self._send(self._waiting[:BATCH])
                self._waiting = self._waiting[BATCH:]
        self.drain(wait=False)

    def _send(self, items: list[tuple[str, bytes]]) -> None:
        if self._pool is None:
            # spawn, not fork: the ingest has threads, and a forked child inherits their locks.
            self._pool = ProcessPoolExecutor(max_workers=WORKERS, mp_context=multiprocessing.get_context("spawn"))
        while len(self._futures) >= MAX_QUEUED:
            self._record(self._futures.popleft().result())
        self._futures.append(self._pool.submit(_inspect_many, items, self._ders))

    def drain(self, *, wait: bool) -> None:
        """Write the reports that are ready (all of them with *wait*) to the index."""
        while self._futures and (wait or self._futures[0].done()):
            self._record(self._futures.popleft().result())
        if wait and self._waiting:
            self._record(_inspect_many(self._waiting, self._ders))
            self._waiting = []

    def _record(self, reports: list[tuple[str, SignatureReport]]) -> None:
        if reports:
            self.index.set_signatures(reports)
            self.done += len(reports)
            if self.progress:
                self.progress(len(reports))

    def close(self) -> None:
        """Finish: every report written, the worker gone."""
        try:
            self.drain(wait=True)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
