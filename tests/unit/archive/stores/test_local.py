"""What only the local write-once directory has: read-only files, the retention journal, its tmp/.

The behaviour every store shares is in ``test_contract.py``.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest

from earsiv.archive.errors import StoreError, WriteOnceViolation
from earsiv.archive.stores.base import ObjectRetention, PutItem
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


# -- the retention journal: torn tails and damage (docs/FORMAT.md section 8) ----------------

def test_a_torn_last_line_is_ignored_and_cut_off_before_the_next_append(tmp_path, caplog):
    s = LocalStore(tmp_path)
    s.put_many([PutItem("a", b"x", FUTURE)])
    journal = tmp_path / "retention.jsonl"
    whole = journal.read_bytes()
    with open(journal, "ab") as fh:  # what a crash or a full disk in the middle of an append leaves
        fh.write(b'{"key":"b","retain_unt')
    fresh = LocalStore(tmp_path)
    assert fresh.retention("a").retain_until == FUTURE and fresh.damage() == []
    fresh.put_many([PutItem("b", b"y", FUTURE)])
    assert journal.read_bytes() == whole + b'{"key":"b","retain_until":"2099-01-01T00:00:00Z"}\n'
    assert "cut off a torn last line of 22 bytes" in caplog.text
    assert LocalStore(tmp_path).retention("b").retain_until == FUTURE


def test_a_line_an_older_version_glued_to_a_torn_one_is_read(tmp_path):
    s = LocalStore(tmp_path)
    s.put_many([PutItem("a", b"x", PAST)])
    with open(tmp_path / "retention.jsonl", "ab") as fh:
        fh.write(b'{"key":"zz","retain_un' + b'{"key":"a","legal_hold":true}\n')
    fresh = LocalStore(tmp_path)
    assert fresh.retention("a") == ObjectRetention(PAST, True)
    assert fresh.damage() == []


def test_a_damaged_line_is_named_skipped_and_blocks_only_deletion(tmp_path, caplog):
    s = LocalStore(tmp_path)
    s.put_many([PutItem("a", b"x", PAST), PutItem("b", b"y", PAST)])
    s.set_legal_hold("a", True)
    journal = tmp_path / "retention.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    lines[2] = b'{"key":"a","legal_hold":tr\xffe}\n'  # bit rot in the hold of "a"
    journal.write_bytes(b"".join(lines))
    fresh = LocalStore(tmp_path)
    [damage] = fresh.damage()
    assert damage.name == f"{journal} line 3" and "not a retention record" in str(damage)
    assert f"{journal} line 3" in caplog.text
    assert fresh.retention("b") == ObjectRetention(PAST, False)  # others are served
    fresh.put_many([PutItem("c", b"z", FUTURE)])  # and new objects taken
    assert fresh.retention("c").retain_until == FUTURE
    # The lost line held a hold: nothing may be disposed of until the journal is repaired.
    with pytest.raises(WriteOnceViolation, match="line 3"):
        fresh.delete("b")
    assert fresh.exists("b")


def test_an_object_whose_only_line_is_damaged_says_so(tmp_path):
    s = LocalStore(tmp_path)
    s.put_many([PutItem("a", b"x", FUTURE)])
    s.put_many([PutItem("b", b"y", FUTURE)])
    journal = tmp_path / "retention.jsonl"
    journal.write_bytes(b"garbage\n" + journal.read_bytes().splitlines(keepends=True)[1])
    fresh = LocalStore(tmp_path)
    with pytest.raises(StoreError, match="no retention record .* 1 damaged line"):
        fresh.retention("a")
    assert fresh.retention("b").retain_until == FUTURE


def test_a_torn_tail_cut_and_replaced_by_a_line_of_the_same_length_is_seen_by_other_readers(tmp_path):
    reader = LocalStore(tmp_path)
    reader.put_many([PutItem("a", b"x", FUTURE)])
    line = b'{"key":"b","retain_until":"2099-01-01T00:00:00Z"}\n'
    with open(tmp_path / "retention.jsonl", "ab") as fh:
        fh.write(b"#" * len(line))  # torn: no newline, exactly as long as the line that will replace it
    assert reader.retention("a").retain_until == FUTURE  # read with the torn tail
    size = (tmp_path / "retention.jsonl").stat().st_size
    LocalStore(tmp_path).put_many([PutItem("b", b"y", FUTURE)])  # another process cuts it and appends
    assert (tmp_path / "retention.jsonl").stat().st_size == size
    assert reader.retention("b").retain_until == FUTURE
