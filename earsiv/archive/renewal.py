"""Time-stamp renewal (RFC 4998 §5.2, "time-stamp renewal"): stamps that outlive their TSA.

A checkpoint's token proves its time only while the TSA's certificate and key can be
trusted. Before that ends, a renewal stamps the newest token of each checkpoint again, under
a certificate that lives longer: the chain ``N.tsr → renewal 1 → renewal 2 …`` shows that each
token existed while the one before it was still valid. One renewal stamps many checkpoints
at once: its tokens' hashes are the leaves of an RFC 9162 Merkle tree, and the one RFC 3161
token is over the tree's root (RFC 4998's reduced hash tree, one stamp per run, whatever
the number of checkpoints).

    log/renewals/<R>.json   the renewal: which token of which checkpoint each leaf renews
    log/renewals/<R>.tsr    RFC 3161 token whose imprint is the tree's root (sha256)

A renewal exists when its ``.tsr`` does (a ``.json`` alone is the remains of a crash).
``verify_chain`` is the one entry point that checks a checkpoint's chain; its numbered steps
are in its code. A checkpoint stamped by two TSAs has two chains, ``N.tsr`` and ``N.tsr2``,
renewed by separate renewals (``"chain": "tsr2"``), the second by another TSA than the first
when one is configured, so the two chains stay independent. Hash-tree renewal (a new hash
over the data, for when SHA-256 is retired) is ``ers``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from earsiv.archive.errors import VerificationError
from earsiv.archive.log import merkle
from earsiv.archive.log.checkpoints import checkpoint_key
from earsiv.archive.log.proofs import InclusionProof
from earsiv.archive.stores.base import PutItem
from earsiv.archive.tsa.verify import TokenInfo, verify_token

if TYPE_CHECKING:
    from cryptography import x509

    from earsiv.archive.stores.base import ObjectStore

__all__ = ["CHAINS", "RENEWAL_PREFIX", "RENEW_AHEAD", "Link", "Renewal", "RenewalBook", "chain", "renew",
           "renewal_key", "verify_chain"]

RENEWAL_PREFIX = "log/renewals/"
RENEW_AHEAD = dt.timedelta(days=180)  # renew what expires within this, as `status` warns
RENEWAL_VERSION = 1
_COVERS = re.compile(r"^log/(checkpoints/[0-9]{16}\.tsr2?|renewals/[0-9]{16}\.tsr)$")
CHAINS = (".tsr", ".tsr2")  # a checkpoint's own token, and a second, independent TSA's


def renewal_key(seq: int, suffix: str) -> str:
    if suffix not in (".json", ".tsr"):
        raise ValueError(f"unknown renewal suffix {suffix!r}")
    return f"{RENEWAL_PREFIX}{seq:016d}{suffix}"


@dataclass(frozen=True, slots=True)
class Item:
    checkpoint: int
    covers: str  # the object key of the token this leaf renews (the checkpoint's newest link)
    leaf: bytes  # sha256 of that token's bytes

    def __post_init__(self) -> None:
        if self.checkpoint <= 0 or not _COVERS.match(self.covers) or len(self.leaf) != 32:
            raise ValueError(f"malformed renewal item for checkpoint {self.checkpoint}")


@dataclass(frozen=True, slots=True)
class Renewal:
    """One renewal run: the leaves its one token covers, in checkpoint order. Checked on construction."""

    seq: int
    made: dt.datetime
    items: tuple[Item, ...]
    chain: str = ".tsr"  # which of a checkpoint's chains it renews: CHAINS

    def __post_init__(self) -> None:
        sizes = [i.checkpoint for i in self.items]
        if self.seq <= 0 or not self.items or sizes != sorted(set(sizes)):
            raise ValueError("a renewal renews one or more checkpoints, each once, in order")
        if self.chain not in CHAINS:
            raise ValueError(f"unknown chain {self.chain!r}")

    def encode(self) -> bytes:
        second = {"chain": "tsr2"} if self.chain == ".tsr2" else {}  # a renewal of .tsr says nothing
        return json.dumps({"v": RENEWAL_VERSION, "type": "earsiv-renewal", "hash": "sha256", **second,
                           "made": self.made.isoformat(),
                           "items": [{"checkpoint": i.checkpoint, "covers": i.covers, "leaf": i.leaf.hex()}
                                     for i in self.items]}, indent=0).encode() + b"\n"

    @classmethod
    def parse(cls, seq: int, data: bytes) -> Renewal:
        try:
            doc = json.loads(data)
            if doc.get("v") != RENEWAL_VERSION or doc.get("type") != "earsiv-renewal" or doc.get("hash") != "sha256":
                raise ValueError(f"unknown renewal format {doc.get('v')!r}/{doc.get('hash')!r}")
            items = tuple(Item(int(i["checkpoint"]), str(i["covers"]), bytes.fromhex(i["leaf"])) for i in doc["items"])
            return cls(seq, dt.datetime.fromisoformat(doc["made"]), items, "." + str(doc.get("chain", "tsr")))
        except (KeyError, TypeError, ValueError) as exc:
            raise VerificationError(f"renewal {seq} is not readable: {exc}", name=renewal_key(seq, ".json")) from exc

    def leaf_hashes(self) -> list[bytes]:
        return [merkle.leaf_hash(i.leaf) for i in self.items]

    def root(self) -> bytes:
        return merkle.root(self.leaf_hashes())

    def position(self, checkpoint: int) -> int | None:
        for n, item in enumerate(self.items):
            if item.checkpoint == checkpoint:
                return n
        return None

    def proof(self, checkpoint: int) -> InclusionProof:
        """The RFC 9162 path of *checkpoint*'s leaf to the root its token stamps."""
        n = self.position(checkpoint)
        if n is None:
            raise ValueError(f"renewal {self.seq} does not renew checkpoint {checkpoint}")
        hashes = self.leaf_hashes()
        return InclusionProof(n, len(hashes), hashes[n], tuple(merkle.inclusion_proof(n, hashes)), self.root())


@dataclass(frozen=True, slots=True)
class Link:
    """One token of a checkpoint's chain: the checkpoint's own, then each renewal's."""

    key: str
    token: bytes
    renewal: Renewal | None


class RenewalBook:
    """The finished renewals of a store, found by position, never by listing.

    Renewals are numbered 1, 2, … with no gaps in their ``.json``; one that crashed before its
    ``.tsr`` keeps its number and is skipped. A finished renewal never changes, so it is read
    once; a use costs one ``exists`` (is there a next one?) plus two per unfinished renewal.
    """

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._done: list[Renewal] = []
        self._next = 1  # the first number not known to be finished or abandoned
        self._pending: list[int] = []  # .json without .tsr: a crash, or a renewal under way elsewhere

    def current(self) -> list[Renewal]:
        self._pending = [seq for seq in self._pending if not self._take(seq)]
        while self.store.exists(renewal_key(self._next, ".json")):
            if not self._take(self._next):
                self._pending.append(self._next)
            self._next += 1
        return sorted(self._done, key=lambda r: r.seq)

    def next_number(self) -> int:
        self.current()
        return self._next

    def _take(self, seq: int) -> bool:
        if not self.store.exists(renewal_key(seq, ".tsr")):
            return False
        self._done.append(Renewal.parse(seq, self.store.get(renewal_key(seq, ".json"))))
        return True


def chain(store: ObjectStore, size: int, token: bytes, book: Sequence[Renewal], suffix: str = ".tsr") -> list[Link]:
    """The checkpoint's token (of *suffix*: ``.tsr2`` is the second TSA's) and every renewal token over it, in order."""
    links = [Link(checkpoint_key(size, suffix), token, None)]
    for r in book:
        if r.chain == suffix and r.position(size) is not None:
            links.append(Link(renewal_key(r.seq, ".tsr"), store.get(renewal_key(r.seq, ".tsr")), r))
    return links


def _valid_until(info: TokenInfo) -> dt.datetime:
    ends = [info.signer.not_valid_after_utc]
    if info.anchor is not None:
        ends.append(info.anchor.not_valid_after_utc)
    return min(ends)


def verify_chain(size: int, body: bytes, links: Sequence[Link], trusted: Sequence[x509.Certificate]) -> list[TokenInfo]:
    """Verify a checkpoint's chain of stamps; the infos of its tokens, oldest first.

    Raises `VerificationError` (step 4) naming the link that fails.
    """
    # 1. The checkpoint's own token stamps its body (certificates checked at its genTime).
    infos = [verify_token(links[0].token, data=body, trusted_certs=trusted)]
    for prev, link in itertools.pairwise(links):
        r = link.renewal
        n = None if r is None else r.position(size)
        if r is None or n is None or not links[0].key.endswith(r.chain):
            raise VerificationError(f"{link.key} is not a renewal of checkpoint {size}", name=link.key, step=4)
        item = r.items[n]
        # 2. Each renewal renews the link before it, by its exact bytes.
        if item.covers != prev.key or item.leaf != hashlib.sha256(prev.token).digest():
            raise VerificationError(f"renewal {r.seq} does not renew {prev.key} as it is", name=link.key, step=4)
        # 3. Its token stamps the root of its tree, which that leaf is part of.
        try:
            info = verify_token(link.token, message_imprint=r.root(), trusted_certs=trusted)
        except VerificationError as exc:
            raise VerificationError(f"renewal token of checkpoint {size} does not verify: {exc.detail}",
                                    name=link.key, step=4) from exc
        # 4. It was made while the token it renews could still be trusted, and not before it.
        last = infos[-1]
        if info.gen_time < last.gen_time:
            raise VerificationError(f"renewal {r.seq} is dated before the stamp it renews", name=link.key, step=4)
        if info.gen_time > _valid_until(last):
            raise VerificationError(
                f"renewal {r.seq} was made {info.gen_time.isoformat()}, after the certificate of {prev.key} "
                f"had expired ({_valid_until(last).isoformat()}): it cannot vouch for it", name=link.key, step=4)
        infos.append(info)
    return infos


def renew(store: ObjectStore, sizes: Sequence[int], *, trusted: Sequence[x509.Certificate],
          stamp: Callable[..., bytes], until: dt.datetime, everything: bool = False,
          now: dt.datetime | None = None) -> dict[str, Any]:
    """Renew the chains of the checkpoints of *sizes* whose newest stamp expires within `RENEW_AHEAD`.

    *stamp(root, avoid=[(token, imprint)]) -> token* asks the configured TSA (its anchors checked),
    if it can one that did not make the tokens of *avoid*; *everything* renews every chain. One
    renewal, one stamp, for all the ``.tsr`` chains; a second for the ``.tsr2`` chains, asked of
    another TSA than the first where one is configured.
    """
    now = now or dt.datetime.now(dt.UTC)
    shelf = RenewalBook(store)
    book = shelf.current()
    wanted: dict[str, list[Item]] = {suffix: [] for suffix in CHAINS}
    earliest: dt.datetime | None = None  # the first end among the chains left as they are
    for size in sorted(sizes):
        if not store.exists(checkpoint_key(size, ".tsr")):
            continue
        body = store.get(checkpoint_key(size))
        for suffix in CHAINS:
            if suffix != ".tsr" and not store.exists(checkpoint_key(size, suffix)):
                continue
            links = chain(store, size, store.get(checkpoint_key(size, suffix)), book, suffix)
            infos = verify_chain(size, body, links, trusted)  # a broken chain is not extended, it is reported
            ends = _valid_until(infos[-1])
            if everything or ends - now < RENEW_AHEAD:
                wanted[suffix].append(Item(size, links[-1].key, hashlib.sha256(links[-1].token).digest()))
            elif earliest is None or ends < earliest:
                earliest = ends
    if not wanted[".tsr"] and not wanted[".tsr2"]:
        return {"renewal": None, "checkpoints": 0, "earliest_end": earliest}
    done: dict[str, Any] = {}
    avoid: list[tuple[bytes, bytes]] = []
    for suffix, items in wanted.items():
        if not items:
            continue
        seq = shelf.next_number()
        renewal = Renewal(seq, now, tuple(items), suffix)
        store.put_many([PutItem(renewal_key(seq, ".json"), renewal.encode(), until)])
        token = stamp(renewal.root(), avoid=avoid)  # no lock held: a TSA may be slow
        info = verify_token(token, message_imprint=renewal.root(), trusted_certs=trusted)
        store.put_many([PutItem(renewal_key(seq, ".tsr"), token, until)])
        shelf.current()
        avoid.append((token, renewal.root()))
        made = {"renewal": seq, "checkpoints": len(items), "stamp_time": info.gen_time.isoformat(),
                "root": renewal.root().hex()}
        if suffix == ".tsr":
            done.update(made)
        else:
            done["second"] = made
    if not wanted[".tsr"]:
        done.update({"renewal": None, "checkpoints": 0})
    return done
