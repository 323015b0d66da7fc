"""The chain of a checkpoint's stamps: each renewal vouches for the token before it only if it
was made while that token's certificate was still valid, over that token's exact bytes."""

from __future__ import annotations

import datetime as dt
import hashlib
import time

import pytest

from earsiv.archive.errors import VerificationError
from earsiv.archive.log.checkpoints import checkpoint_key
from earsiv.archive.renewal import Item, Link, Renewal, renewal_key, verify_chain
from earsiv.archive.tsa.authorities import LocalTSA

BODY = b"earsiv-checkpoint/1\norigin: earsiv:test\nsize: 5\n"
SIZE = 5


def _chain(first: LocalTSA, second: LocalTSA, *, token0: bytes | None = None, others: int = 3):
    token0 = token0 or first.stamp(hashlib.sha256(BODY).digest())
    # The renewal renews other checkpoints too: the checkpoint's leaf is one of several.
    items = [Item(SIZE + 10 * n, checkpoint_key(SIZE + 10 * n, ".tsr"), hashlib.sha256(b"%d" % n).digest())
             for n in range(1, others + 1)]
    items.insert(0, Item(SIZE, checkpoint_key(SIZE, ".tsr"), hashlib.sha256(token0).digest()))
    renewal = Renewal(1, dt.datetime.now(dt.UTC), tuple(items))
    token1 = second.stamp(renewal.root())
    return [Link(checkpoint_key(SIZE, ".tsr"), token0, None), Link(renewal_key(1, ".tsr"), token1, renewal)]


def test_a_renewal_made_in_time_extends_the_chain(tmp_path):
    first, second = LocalTSA.create(tmp_path / "a"), LocalTSA.create(tmp_path / "b")
    links = _chain(first, second)
    infos = verify_chain(SIZE, BODY, links, [first.certificate, second.certificate])
    assert len(infos) == 2 and infos[1].gen_time >= infos[0].gen_time
    # The renewal's path leads from the token's hash to the root its token stamps.
    proof = links[1].renewal.proof(SIZE)
    assert proof.root == links[1].renewal.root() and proof.tree_size == 4


def test_a_renewal_after_the_certificate_expired_vouches_for_nothing(tmp_path):
    short = LocalTSA.create(tmp_path / "a", validity=dt.timedelta(seconds=2))
    token0 = short.stamp(hashlib.sha256(BODY).digest())
    time.sleep(2.5)
    later = LocalTSA.create(tmp_path / "b")
    links = _chain(short, later, token0=token0)
    with pytest.raises(VerificationError, match="after the certificate of .* had expired") as err:
        verify_chain(SIZE, BODY, links, [short.certificate, later.certificate])
    assert err.value.step == 4


def test_a_renewal_of_other_bytes_or_by_an_untrusted_tsa_is_refused(tmp_path):
    first, second = LocalTSA.create(tmp_path / "a"), LocalTSA.create(tmp_path / "b")
    links = _chain(first, second)
    other = first.stamp(hashlib.sha256(BODY).digest())  # a valid token, but not the one renewed
    with pytest.raises(VerificationError, match="does not renew"):
        verify_chain(SIZE, BODY, [Link(links[0].key, other, None), links[1]], [first.certificate, second.certificate])
    with pytest.raises(VerificationError, match="renewal token of checkpoint 5 does not verify"):
        verify_chain(SIZE, BODY, links, [first.certificate])
    with pytest.raises(VerificationError, match="is not a renewal of checkpoint 6"):
        verify_chain(6, BODY, links, [first.certificate, second.certificate])


def test_a_daily_run_reads_only_the_chains_stamped_since_the_last(tmp_path):
    """`serve` renews daily: reading and verifying every checkpoint's chain each day would grow with
    the archive.  A run reads the chains stamped since the last one; a full read comes back when the
    first end it knows comes within RENEW_AHEAD, or with --all."""
    from earsiv.archive.archive import Archive

    home = tmp_path / "home"
    with Archive.init(home) as arch:
        for n in range(3):
            list(arch.ingest([_source(n)]))
            arch.checkpoint()
    read: list[str] = []

    def counted(arch):
        get = arch.store.get

        def spy(key, *a, **k):
            read.append(key)
            return get(key, *a, **k)
        arch.store.get = spy
        return arch

    with counted(Archive.open(home)) as arch:
        first = arch.renew_stamps()
        full = {k for k in read if k.endswith(".tsr")}
        assert first == {"renewal": None, "checkpoints": 0} and len(full) >= 3
        read.clear()
        assert arch.renew_stamps() == {"renewal": None, "checkpoints": 0}
        assert not [k for k in read if k.endswith(".tsr")]  # nothing stamped since: no chain read
        list(arch.ingest([_source(9)]))
        newest = arch.checkpoint()
        read.clear()
        arch.renew_stamps()
        assert {k for k in read if k.endswith(".tsr")} == {checkpoint_key(newest.size, ".tsr")}
        read.clear()
        done = arch.renew_stamps(everything=True)  # --all: every chain read again, and renewed
        assert done["renewal"] == 1 and {k for k in read if k.endswith(".tsr")} >= full
        assert not (home / "cache" / "renewal-scan.json").exists()  # the next run reads every chain


def _source(n: int):
    from earsiv.archive.ingest import Source
    from tests.helpers.synthetic import invoice

    return Source(f"inv{n}.xml", invoice(n))
