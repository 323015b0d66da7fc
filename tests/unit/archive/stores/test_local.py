"""What only the local write-once directory has: read-only files, the retention journal, its tmp/.

The behaviour every store shares is in ``test_contract.py``.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest

from earsiv.archive.errors import WriteOnceViolation
from earsiv.archive.stores.base import PutItem
from earsiv.archive.stores.local import LocalStore

UTC = dt.UTC
FUTURE = dt.datetime(2099, 1, 1, tzinfo=UTC)
PAST = dt.datetime(2000, 1, 1, tzinfo=UTC)


def test_objects_are_read_only_files_under_their_key(tmp_path):
    s = LocalStore(tmp_path)
    s.put_many([PutItem("blobs/aa/x", b"\xef\xbb\xbfbytes\r\n", FUTURE)])
    path = tmp_path / "objects/blobs/aa/x"
    assert path.read_bytes() == b"\xef\xbb\xbfbytes\r\n"
    assert not os.stat(path).st_mode & 0o222


def test_a_forged_journal_line_cannot_shorten_retention(tmp_path):
    s = LocalStore(tmp_path)
    s.put_many([PutItem("k", b"x", FUTURE)])
    with open(tmp_path / "retention.jsonl", "a") as fh:
        fh.write('{"key":"k","legal_hold":false,"retain_until":"2000-01-01T00:00:00Z"}\n')
    fresh = LocalStore(tmp_path)
    assert fresh.retention("k").retain_until == FUTURE
    with pytest.raises(WriteOnceViolation):
        fresh.delete("k")


def test_an_object_is_disposed_of_once_its_retention_ended_and_no_hold_is_on(tmp_path):
    # (On S3 the server's lock decides, and a past date is locked for a day: test_s3_store.py.)
    s = LocalStore(tmp_path)
    s.put_many([PutItem("old", b"y", PAST)])
    s.set_legal_hold("old", True)
    with pytest.raises(WriteOnceViolation, match="legal hold"):
        s.delete("old")
    s.set_legal_hold("old", False)
    s.delete("old")
    assert not s.exists("old") and not (tmp_path / "objects/old").exists()


def test_staged_bytes_wait_in_tmp_invisible_and_leave_nothing_behind(tmp_path):
    s = LocalStore(tmp_path)
    staged = s.stage(PutItem("blobs/ab/c", b"data", FUTURE))
    assert not s.exists("blobs/ab/c") and len(list((tmp_path / "tmp").iterdir())) == 1
    s.discard(staged)
    assert list((tmp_path / "tmp").iterdir()) == []
    s.put_many([s.stage(PutItem("blobs/ab/c", b"data", FUTURE))])
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_torn_last_journal_line_is_ignored(tmp_path):
    s = LocalStore(tmp_path)
    s.put_many([PutItem("k", b"x", FUTURE)])
    with open(tmp_path / "retention.jsonl", "a") as fh:
        fh.write('{"key":"k","legal_hold":tr')  # a crash in the middle of a hold line
    assert LocalStore(tmp_path).retention("k").legal_hold is False


def test_close_drops_the_retention_table_and_a_later_call_reloads_it(tmp_path):
    s = LocalStore(tmp_path)
    s.put_many([PutItem("k", b"x", FUTURE)])
    s.close()
    assert s.retention("k").retain_until == FUTURE
