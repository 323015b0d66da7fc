"""The core end-to-end suite (tests/e2e/test_core.py), run unchanged on the scale-out pair.

Every test of that suite written against ``deployment`` is collected here again, as the same
function object, with ``deployment`` bound to a home whose store is a SeaweedFS bucket with
Object Lock and whose index is PostgreSQL.  The tests that only make sense on the embedded
default are listed by name with the reason; a test added to the suite that is neither generic
nor listed fails ``test_every_core_test_is_accounted_for``, so the two cannot drift apart.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from tests.e2e import test_core as core
from tests.e2e.test_core import ingested  # noqa: F401  (the suite's own fixture, on this deployment)
from tests.helpers.deployment import ScaleOut

EMBEDDED_ONLY = {
    "test_verify_all_passes_then_names_a_damaged_blob":
        "changes a stored blob in place, which Object Lock allows no one (forged versions: test_archive_on_s3.py)",
    "test_verify_names_a_changed_log_leaf": "changes a stored bundle in place, as above",
    "test_an_uninitialised_home_gives_a_clear_error": "about a home that is no deployment at all",
    "test_the_full_audit_reads_the_store_and_finds_a_document_missing_from_the_index":
        "deletes rows with sqlite3 from index.sqlite; the audit itself is the same code on both",
    "test_a_failed_init_leaves_the_home_as_it_was_and_can_be_retried":
        "an init into an unwritable local path (init on S3 fails at the bucket: test_self_test.py)",
    "test_reindex_equals_live_for_the_whole_corpus_repeatedly": "builds embedded homes of its own, many times",
}
_FIXTURES = {"deployment", "ingested", "tmp_path"}


def _generic_tests() -> dict[str, object]:
    out = {}
    for name, func in vars(core).items():
        if (name.startswith("test_") and inspect.isfunction(func) and name not in EMBEDDED_ONLY
                and set(inspect.signature(func).parameters) <= _FIXTURES):
            out[name] = func
    return out


GENERIC = _generic_tests()
globals().update(GENERIC)  # collected by pytest as tests of this module


@pytest.fixture
def deployment(scaleout_home: Path, attacker, bucket: str) -> ScaleOut:
    return ScaleOut(scaleout_home, attacker, bucket)


def test_every_core_test_is_accounted_for() -> None:
    every = {n for n, f in vars(core).items() if n.startswith("test_") and inspect.isfunction(f)}
    assert set(EMBEDDED_ONLY) <= every, "a listed embedded-only test no longer exists"
    assert every == set(EMBEDDED_ONLY) | set(GENERIC), sorted(every - set(EMBEDDED_ONLY) - set(GENERIC))
    assert len(GENERIC) >= 12, sorted(GENERIC)  # the bulk of the suite is rerun, not explained away
