"""The object-store contract, run unchanged on a real SeaweedFS bucket.

Every test of ``tests/unit/archive/stores/test_contract.py`` is collected here
again, as the same function object, with ``opener`` bound to a fresh bucket:
the same assertions, on S3 with Object Lock.  Nothing there may need anything
but ``opener``; a test that did would fail ``test_the_whole_contract_runs_on_s3``
here instead of silently running on one store only.  What only S3 has
(versions, the server's lock, the wire checksum, request counts) is in
``test_s3_store.py`` and ``test_s3_requests.py``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator

import pytest

from earsiv.archive.stores.base import ObjectStore
from earsiv.archive.stores.s3 import S3Store
from tests.integration.s3 import test_s3_requests, test_s3_store
from tests.unit.archive.stores import test_contract as contract
from tests.unit.archive.stores import test_local

_PER_TEST = {"opener"}


def _contract_tests() -> dict[str, object]:
    return {n: f for n, f in vars(contract).items() if n.startswith("test_") and inspect.isfunction(f)}


def _parametrized(func) -> set[str]:
    return {
        arg.strip()
        for mark in getattr(func, "pytestmark", [])
        if mark.name == "parametrize"
        for arg in (mark.args[0].split(",") if isinstance(mark.args[0], str) else mark.args[0])
    }


CONTRACT = _contract_tests()
globals().update(CONTRACT)  # collected by pytest as tests of this module


@pytest.fixture
def opener(s3_env, bucket) -> Iterator[Callable[[], ObjectStore]]:
    url = s3_env.store_url(bucket)
    opened: list[ObjectStore] = []

    def open_store() -> ObjectStore:
        opened.append(S3Store.open(url, self_test=False))
        return opened[-1]

    yield open_store
    for store in opened:
        store.close()


def test_the_whole_contract_runs_on_s3() -> None:
    for name, func in CONTRACT.items():
        extra = set(inspect.signature(func).parameters) - _parametrized(func) - _PER_TEST
        assert not extra, f"{name} needs {sorted(extra)}: a contract test may only ask for `opener`"
        assert globals()[name] is func, f"{name} is not the contract's own function here"
    # the bulk of the contract, not a token of it
    assert len(CONTRACT) >= 18, sorted(CONTRACT)
    assert {"test_racing_writers_of_one_key_one_wins_the_other_is_refused",
            "test_get_returns_the_object_whatever_verify_says"} <= set(CONTRACT)


def test_no_contract_test_is_copied_into_a_store_specific_module() -> None:
    for module in (test_local, test_s3_store, test_s3_requests):
        mine = {n for n in vars(module) if n.startswith("test_")}
        assert not mine & set(CONTRACT), f"{module.__name__} repeats {sorted(mine & set(CONTRACT))}: keep one copy"
        bodies = {_body(f) for n, f in vars(module).items() if n.startswith("test_") and inspect.isfunction(f)}
        copied = [n for n, f in CONTRACT.items() if _body(f) in bodies]
        assert not copied, f"{module.__name__} holds a renamed copy of {copied}"


def _body(func) -> tuple:
    code = func.__code__
    return code.co_code, code.co_consts, code.co_names
