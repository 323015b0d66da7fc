"""When a long-running process self-tests its store, and what a failed test stops.

The S3 self-test (``stores.s3selftest``) leaves a canary locked for a day, so
it does not run whenever a store is opened; a server runs it through this
schedule instead:

* at start: a bucket that fails, or a test that cannot run, stops the start
  (the error propagates, as ``earsiv init`` does);
* then every ``hours`` (``[store] self_test_hours``, default 24; 0: only at
  start), in the service's background worker;
* a scheduled test that finds the bucket no longer enforcing Object Lock makes
  :meth:`check_writes` refuse new documents with :class:`LockNotEnforced`
  (HTTP 503, ``urn:earsiv:problem:lock-not-enforced``) until a later test
  passes; reads keep working, since what is stored is no less stored.  While
  it fails the test runs again sooner (:data:`RETRY_AFTER`).
* a scheduled test that cannot run (the server unreachable) is logged; the
  previous verdict stands and the test is retried after :data:`RETRY_AFTER`.

The last outcome is the store's ``last_self_test`` (time, ok, failures), for
``status``.  A store without a self-test (the local directory) has nothing to
schedule.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from earsiv.archive.errors import LockNotEnforced, StoreError
from earsiv.archive.stores.base import ObjectStore, SelfTesting

__all__ = ["RETRY_AFTER", "SelfTestSchedule"]

log = logging.getLogger(__name__)

RETRY_AFTER = 3600.0  # seconds: how soon a failed or impossible scheduled test runs again


class SelfTestSchedule:
    def __init__(self, store: ObjectStore, hours: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.store: SelfTesting | None = store if isinstance(store, SelfTesting) else None
        self.every = hours * 3600.0
        self._clock = clock
        self._next: float | None = None
        self._refusal: LockNotEnforced | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Self-test now; raise what the test raises (a server must not start on a bad bucket)."""
        if self.store is None:
            return
        self.store.self_test()
        self._plan(self.every)

    def run_if_due(self) -> None:
        """Called often (every round of the background worker); tests when the schedule says so."""
        with self._lock:
            due = self._next is not None and self._clock() >= self._next
        if due:
            self.run()

    def run(self) -> None:
        """One scheduled self-test: never raises, records the verdict for :meth:`check_writes`."""
        if self.store is None:
            return
        try:
            self.store.self_test()
        except LockNotEnforced as exc:
            log.error(
                "\n%s\n!!! The Object Lock self-test FAILED: %s\n"
                "!!! New documents are refused until a self-test passes; reads keep working.\n%s",
                "!" * 78, exc, "!" * 78,
            )  # fmt: skip
            with self._lock:
                self._refusal = exc
            self._plan(min(RETRY_AFTER, self.every))
            return
        except StoreError as exc:
            log.warning("the scheduled self-test of the store could not run (tried again later): %s", exc)
            self._plan(min(RETRY_AFTER, self.every))
            return
        with self._lock:
            lifted, self._refusal = self._refusal is not None, None
        if lifted:
            log.warning("the store's self-test passes again: new documents are accepted")
        self._plan(self.every)

    def check_writes(self) -> None:
        """Raise :class:`LockNotEnforced` while the last scheduled self-test found the bucket not enforcing."""
        with self._lock:
            refusal = self._refusal
        if refusal is not None:
            raise LockNotEnforced(
                f"new documents are refused because the last self-test of the store failed: {refusal.detail} "
                "Reads keep working; documents are taken again once a later self-test passes."
            )

    def _plan(self, seconds: float) -> None:
        with self._lock:
            self._next = self._clock() + seconds if seconds > 0 else None
