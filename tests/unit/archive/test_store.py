"""The local write-once store: what it must refuse, and what survives."""

from __future__ import annotations

import datetime as dt
import os
import threading

import pytest

from earsiv.archive.errors import RetentionError, StoreError, WriteOnceViolation
from earsiv.archive.stores.base import ObjectRetention, PutItem
from earsiv.archive.stores.local import LocalStore

UTC = dt.UTC
FUTURE = dt.datetime(2099, 1, 1, tzinfo=UTC)
PAST = dt.datetime(2000, 1, 1, tzinfo=UTC)


def test_put_get_round_trip_and_file_is_read_only(tmp_path):
    s = LocalStore(tmp_path)
    assert s.put_many([PutItem("blobs/aa/x", b"\xef\xbb\xbfbytes\r\n", FUTURE)]) == [True]
    assert s.get("blobs/aa/x") == b"\xef\xbb\xbfbytes\r\n"
    assert not os.stat(tmp_path / "objects/blobs/aa/x").st_mode & 0o222


def test_same_bytes_again_is_not_a_new_write(tmp_path):
    s = LocalStore(tmp_path)
    s.put_many([PutItem("k", b"a", FUTURE)])
    assert s.put_many([PutItem("k", b"a", FUTURE)]) == [False]


def test_overwrite_with_other_bytes_is_refused_and_changes_nothing(tmp_path):
    s = LocalStore(tmp_path)
    s.put_many([PutItem("k", b"original", FUTURE)])
    with pytest.raises(WriteOnceViolation, match="k"):
        s.put_many([PutItem("k", b"forgery", FUTURE)])
    assert s.get("k") == b"original"


def test_a_refused_overwrite_cannot_shorten_retention(tmp_path):
    s = LocalStore(tmp_path)
    s.put_many([PutItem("k", b"original", FUTURE)])
    with pytest.raises(WriteOnceViolation):
        s.put_many([PutItem("k", b"forgery", PAST)])
    assert LocalStore(tmp_path).retention("k").retain_until == FUTURE


def test_delete_is_refused_before_retention_and_under_hold(tmp_path):
    s = LocalStore(tmp_path)
    s.put_many([PutItem("k", b"x", FUTURE)])
    with pytest.raises(WriteOnceViolation, match="retained until 2099"):
        s.delete("k")
    assert s.get("k") == b"x"
    s.put_many([PutItem("old", b"y", PAST)])
    s.set_legal_hold("old", True)
    with pytest.raises(WriteOnceViolation, match="legal hold"):
        s.delete("old")
    s.set_legal_hold("old", False)
    s.delete("old")  # retention over, no hold: disposal is allowed
    assert not s.exists("old")


def test_retention_extends_and_never_shortens(tmp_path):
    s = LocalStore(tmp_path)
    s.put_many([PutItem("k", b"x", dt.datetime(2030, 1, 1, tzinfo=UTC))])
    s.extend_retention("k", FUTURE)
    with pytest.raises(RetentionError, match="only be extended"):
        s.extend_retention("k", dt.datetime(2031, 1, 1, tzinfo=UTC))
    assert LocalStore(tmp_path).retention("k").retain_until == FUTURE


def test_a_forged_journal_line_cannot_shorten_retention(tmp_path):
    s = LocalStore(tmp_path)
    s.put_many([PutItem("k", b"x", FUTURE)])
    with open(tmp_path / "retention.jsonl", "a") as fh:
        fh.write('{"key":"k","legal_hold":false,"retain_until":"2000-01-01T00:00:00Z"}\n')
    fresh = LocalStore(tmp_path)
    assert fresh.retention("k").retain_until == FUTURE
    with pytest.raises(WriteOnceViolation):
        fresh.delete("k")


def test_putting_the_same_bytes_with_a_later_date_extends_retention(tmp_path):
    s = LocalStore(tmp_path)
    s.put_many([PutItem("d", b"dict", dt.datetime(2030, 1, 1, tzinfo=UTC))])
    s.put_many([PutItem("d", b"dict", FUTURE)])
    assert LocalStore(tmp_path).retention("d").retain_until == FUTURE


@pytest.mark.parametrize("key", ["../escape", "/abs", "a/../b", "a//b", "", "a\\b"])
def test_keys_cannot_escape_the_store(tmp_path, key):
    s = LocalStore(tmp_path / "store")
    with pytest.raises(ValueError):
        s.put_many([PutItem(key, b"x", FUTURE)])
    assert not (tmp_path / "escape").exists()


def test_racing_writers_of_one_key_one_wins_the_other_is_refused(tmp_path):
    stores = [LocalStore(tmp_path) for _ in range(8)]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(stores))

    def race(i: int) -> None:
        barrier.wait()
        try:
            stores[i].put_many([PutItem("log/leaves/0000000000000000.jsonl", f"writer {i}\n".encode(), FUTURE)])
            outcomes.append(f"won {i}")
        except WriteOnceViolation:
            outcomes.append("refused")

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o.startswith("won")]
    assert len(winners) == 1, outcomes
    assert stores[0].get("log/leaves/0000000000000000.jsonl") == f"writer {winners[0].split()[1]}\n".encode()


def test_putting_an_object_again_never_lifts_its_legal_hold(tmp_path):
    s = LocalStore(tmp_path)
    s.put_many([PutItem("k", b"x", PAST)])
    s.set_legal_hold("k", True)
    s.put_many([PutItem("k", b"x", PAST)])  # e.g. a retried write of the same bytes
    assert LocalStore(tmp_path).retention("k").legal_hold is True
    with pytest.raises(WriteOnceViolation, match="legal hold"):
        LocalStore(tmp_path).delete("k")


def test_staged_items_are_invisible_until_put_and_leave_nothing_when_discarded(tmp_path):
    s = LocalStore(tmp_path)
    staged = s.stage(PutItem("blobs/ab/c", b"data", FUTURE))
    assert not s.exists("blobs/ab/c")
    s.discard(staged)
    assert list((tmp_path / "tmp").iterdir()) == []
    staged = s.stage(PutItem("blobs/ab/c", b"data", FUTURE))
    assert s.put_many([staged]) == [True] and s.get("blobs/ab/c") == b"data"
    assert list((tmp_path / "tmp").iterdir()) == []


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
