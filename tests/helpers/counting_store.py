"""An object store that counts what is asked of the store it wraps, and forwards everything.

For tests that compare the store calls of an operation on a small and on a
grown archive (an everyday operation must cost the same on 50 and on 500
documents):

    store = CountingStore(LocalStore(path))      # or any ObjectStore, S3 included
    with store.measure() as m:
        ...                                      # the operation
    m.calls["get"], m.keys["exists"]             # how often, and for which keys

Counted per call, thread-safe (ingest calls the store from several threads):
every method of the ``ObjectStore`` protocol.  ``list`` counts when it is
called, not per key it yields.  Anything else (``url``, ``size``,
``self_test``, ``last_self_test``, ``client``…) is the wrapped store's own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from earsiv.archive.stores.base import ObjectRetention, ObjectStore, PutItem

__all__ = ["COUNTED", "CountingStore", "Measured"]

COUNTED = ("get", "put_many", "stage", "discard", "exists", "list", "retention", "extend_retention", "set_legal_hold",
           "delete", "close")


@dataclass
class Measured:
    """Calls per method and the keys they were about (a ``list`` prefix counts as its key)."""

    calls: Counter[str] = field(default_factory=Counter)
    keys: dict[str, list[str]] = field(default_factory=dict)

    def add(self, method: str, keys: list[str]) -> None:
        self.calls[method] += 1
        self.keys.setdefault(method, []).extend(keys)

    @property
    def total(self) -> int:
        return sum(self.calls.values())


class CountingStore:
    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self._lock = threading.Lock()
        self._all = Measured()
        self._open: list[Measured] = []  # measure() blocks in progress

    # -- reading the counts ------------------------------------------------------
    @property
    def calls(self) -> Counter[str]:
        """Every call since this wrapper was made (or ``reset``)."""
        return self._all.calls

    @property
    def keys(self) -> dict[str, list[str]]:
        return self._all.keys

    def reset(self) -> None:
        with self._lock:
            self._all = Measured()

    @contextlib.contextmanager
    def measure(self) -> Iterator[Measured]:
        """What is asked of the store inside the ``with`` block (blocks may nest)."""
        m = Measured()
        with self._lock:
            self._open.append(m)
        try:
            yield m
        finally:
            with self._lock:
                self._open.remove(m)

    def _count(self, method: str, keys: list[str]) -> None:
        with self._lock:
            self._all.add(method, keys)
            for m in self._open:
                m.add(method, keys)

    # -- the protocol, counted and forwarded ---------------------------------------
    @property
    def url(self) -> str:
        return self.inner.url

    def get(self, key: str, *, verify: Callable[[bytes], bool] | None = None) -> bytes:
        self._count("get", [key])
        return self.inner.get(key, verify=verify)

    def put_many(self, items: Sequence[PutItem]) -> list[bool]:
        self._count("put_many", [i.key for i in items])
        return self.inner.put_many(items)

    def stage(self, item: PutItem) -> PutItem:
        self._count("stage", [item.key])
        return self.inner.stage(item)

    def discard(self, item: PutItem) -> None:
        self._count("discard", [item.key])
        self.inner.discard(item)

    def exists(self, key: str) -> bool:
        self._count("exists", [key])
        return self.inner.exists(key)

    def list(self, prefix: str) -> Iterator[str]:
        self._count("list", [prefix])
        return self.inner.list(prefix)

    def retention(self, key: str) -> ObjectRetention:
        self._count("retention", [key])
        return self.inner.retention(key)

    def extend_retention(self, key: str, until: dt.datetime) -> None:
        self._count("extend_retention", [key])
        self.inner.extend_retention(key, until)

    def set_legal_hold(self, key: str, on: bool) -> None:
        self._count("set_legal_hold", [key])
        self.inner.set_legal_hold(key, on)

    def delete(self, key: str, **kwargs) -> None:
        self._count("delete", [key])
        self.inner.delete(key, **kwargs)

    def close(self) -> None:
        self._count("close", [])
        self.inner.close()

    def __getattr__(self, name: str):
        # Only reached for what this class does not define: the wrapped store's own extras.
        if name.startswith("__") or name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)
