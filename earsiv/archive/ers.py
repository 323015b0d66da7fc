"""Hash-tree renewal (RFC 4998 §5.3) and each document's RFC 4998 evidence record.

Time-stamp renewal (``renewal``) keeps the checkpoints' stamps alive while their hash,
SHA-256, stays strong. When it must be retired, ``earsiv renew --hash sha384`` stamps, for
each document, the data hashed anew together with the evidence it had so far:

    leaf of document d = H(sorted(H(d's bytes) || H(chain)))

where *chain* is d's evidence as it stood (``chain_bytes``: its log leaf, inclusion proof,
signed checkpoint, the checkpoint's token and its renewals; canonical JSON). The leaves are
built into an RFC 4998 hash tree (each node the hash of its children's hashes concatenated
in ascending order, an odd last node carried up unchanged), and one RFC 3161 token of
the new hash stamps its root. Because the tree is RFC 4998's, each document's path in it
is a true ``reducedHashtree``: its first list is ``[H(d), H(chain)]``, then one sibling per
level, and with the token it is an ``ArchiveTimeStamp`` that any RFC 4998 implementation
checks against the document's bytes alone (``evidence_record``; ``earsiv evidence`` writes
it as ``evidence-record.ers``). Pure: what reads the archive to make or check a run is
``hashtree`` (making one) and ``evidence`` (checking a document's).

    log/ers/<S>.json   the run: hash, the log range it read, per document the inputs of its leaf
    log/ers/<S>.tsr    RFC 3161 token whose imprint (hash of the run) is the tree's root
    log/ers-renewals/<T>.json, .tsr   a renewal of the runs' stamps (RFC 4998 §5.2, `renew_run_stamps`):
                       its leaf for run S lists the hashes of every token of S's chain so far

A run exists when its ``.tsr`` does. A run covers at most *batch* documents; runs of one
hash cover the log in order, so the next one starts after the last finished one's range:
a crash loses at most one batch (its ``.json`` stays, numbered and ignored), and a run
after new documents arrived reads only those. Its cost: every document's bytes read once,
one inclusion proof each, one stamp per batch.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from asn1crypto import algos, cms, core

from earsiv.archive.errors import VerificationError
from earsiv.archive.stores.base import PutItem

if TYPE_CHECKING:
    from pathlib import Path

    from cryptography import x509

    from earsiv.archive.stores.base import ObjectStore
    from earsiv.archive.tsa.verify import TokenInfo

__all__ = ["ERS_PREFIX", "HASHES", "ErsBook", "Evidence", "Record", "Run", "RunHead", "StampRenewal", "base_root", "chain_bytes", "ers_key",
           "evidence_record", "hashed", "renew_run_stamps", "verify_run_chain"]

ERS_PREFIX = "log/ers/"
STAMP_PREFIX = "log/ers-renewals/"
HASHES = ("sha256", "sha384", "sha512")
RUN_VERSION = 1
BATCH = 50_000


def ers_key(seq: int, suffix: str) -> str:
    if suffix not in (".json", ".tsr"):
        raise ValueError(f"unknown hash-tree renewal suffix {suffix!r}")
    return f"{ERS_PREFIX}{seq:016d}{suffix}"


def hashed(name: str, data: bytes) -> bytes:
    """*data* hashed with the hash called *name* (one of ``HASHES``)."""
    return hashlib.new(name, data).digest()


def node(name: str, values: Sequence[bytes]) -> bytes:
    """RFC 4998 §4.2: the hash of a node is the hash of its children's hashes in ascending order."""
    return hashed(name, b"".join(sorted(values)))


def levels(name: str, leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first, root last (an odd last node goes up unchanged)."""
    out = [list(leaves)]
    while len(out[-1]) > 1:
        row = out[-1]
        up = [node(name, row[i:i + 2]) for i in range(0, len(row) - 1, 2)]
        if len(row) % 2:
            up.append(row[-1])
        out.append(up)
    return out


def reduced_tree(tree: list[list[bytes]], n: int) -> list[bytes]:
    """The siblings of leaf *n*, one per level where it has one (what follows the first list)."""
    path = []
    for row in tree[:-1]:
        sib = n ^ 1
        if sib < len(row):
            path.append(row[sib])
        n //= 2
    return path


def recover_root(name: str, first: Sequence[bytes], path: Sequence[bytes]) -> bytes:
    value = node(name, first) if len(first) > 1 else first[0]
    for sib in path:
        value = node(name, [value, sib])
    return value


@dataclass(frozen=True, slots=True)
class Item:
    index: int  # the document's log leaf
    digest: str  # its sha256 name
    doc: bytes  # H(document bytes)
    chain: bytes  # H(chain_bytes(...)): its evidence as it stood (as the run's Evidence says)

    def leaf(self, name: str) -> bytes:
        return node(name, [self.doc, self.chain])


@dataclass(frozen=True, slots=True)
class Evidence:
    """Which evidence of its documents a run hashed (the same for all of them)."""

    checkpoint: int  # the checkpoint it was proven by
    renewals: tuple[int, ...]  # the time-stamp renewals finished then (those of that checkpoint are in it)
    tsr2: bool  # it included the checkpoint's second token

    def to_json(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint, "renewals": list(self.renewals), "tsr2": self.tsr2}


@dataclass(frozen=True)
class Run:
    seq: int
    hash: str
    made: dt.datetime
    first: int  # the log range it read (every leaf of it that is a document with bytes is an item)
    end: int
    evidence: Evidence
    items: tuple[Item, ...]

    def __post_init__(self) -> None:
        if self.hash not in HASHES or self.seq <= 0 or not self.first <= self.end or not self.items:
            raise ValueError("malformed hash-tree renewal")
        if [i.index for i in self.items] != sorted({i.index for i in self.items}):
            raise ValueError("a hash-tree renewal lists its documents once each, in log order")
        if any(not self.first <= i.index < self.end for i in self.items):
            raise ValueError("a hash-tree renewal lists a document outside the range it read")

    def encode(self) -> bytes:
        return json.dumps({"v": RUN_VERSION, "type": "earsiv-hashtree-renewal", "hash": self.hash,
                           "made": self.made.isoformat(), "first": self.first, "end": self.end,
                           "evidence": self.evidence.to_json(),
                           "items": [{"index": i.index, "digest": i.digest, "doc": i.doc.hex(), "chain": i.chain.hex()}
                                     for i in self.items]}, indent=0).encode() + b"\n"

    @classmethod
    def parse(cls, seq: int, data: bytes) -> Run:
        try:
            doc = json.loads(data)
            if doc.get("v") != RUN_VERSION or doc.get("type") != "earsiv-hashtree-renewal":
                raise ValueError(f"unknown format {doc.get('v')!r}")
            items = tuple(Item(int(i["index"]), str(i["digest"]), bytes.fromhex(i["doc"]), bytes.fromhex(i["chain"]))
                          for i in doc["items"])
            ev = doc["evidence"]
            evidence = Evidence(int(ev["checkpoint"]), tuple(int(r) for r in ev["renewals"]), bool(ev["tsr2"]))
            return cls(seq, str(doc["hash"]), dt.datetime.fromisoformat(doc["made"]), int(doc["first"]),
                       int(doc["end"]), evidence, items)
        except (KeyError, TypeError, ValueError) as exc:
            raise VerificationError(f"hash-tree renewal {seq} is not readable: {exc}", name=ers_key(seq, ".json")) \
                from exc

    @functools.cached_property
    def _tree(self) -> list[list[bytes]]:
        return levels(self.hash, [i.leaf(self.hash) for i in self.items])

    def tree(self) -> list[list[bytes]]:
        return self._tree

    def root(self) -> bytes:
        return self.tree()[-1][0]

    def position(self, index: int) -> int | None:
        lo, hi = 0, len(self.items)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.items[mid].index < index:
                lo = mid + 1
            else:
                hi = mid
        return lo if lo < len(self.items) and self.items[lo].index == index else None


class _Book:
    """Finished objects numbered 1, 2, … under *prefix*, by number (as ``renewal.RenewalBook``): one
    exists when its ``.tsr`` does; a ``.json`` alone keeps its number and is skipped."""

    def __init__(self, store: ObjectStore, prefix: str, parse: Callable[[int, bytes], Any]) -> None:
        self.store, self.prefix, self.parse = store, prefix, parse
        self._done: dict[int, Any] = {}
        self._next = 1
        self._pending: list[int] = []

    def key(self, seq: int, suffix: str) -> str:
        return f"{self.prefix}{seq:016d}{suffix}"

    def current(self) -> list[Any]:
        self._pending = [seq for seq in self._pending if not self._take(seq)]
        while self.store.exists(self.key(self._next, ".json")):
            if not self._take(self._next):
                self._pending.append(self._next)
            self._next += 1
        return [self._done[k] for k in sorted(self._done)]

    def next_number(self) -> int:
        self.current()
        return self._next

    def _take(self, seq: int) -> bool:
        if not self.store.exists(self.key(seq, ".tsr")):
            return False
        self._done[seq] = self.parse(seq, self.store.get(self.key(seq, ".json")))
        return True


@dataclass(frozen=True, slots=True)
class RunHead:
    """What a finished run is without its items: enough for `status`, for finding the run that covers
    a leaf, and for renewing its stamp (``verify_run_chain`` reads ``seq``, ``hash`` and ``root()``)."""

    seq: int
    hash: str
    first: int
    end: int
    documents: int
    root_hex: str

    def root(self) -> bytes:
        return bytes.fromhex(self.root_hex)

    @classmethod
    def of(cls, run: Run) -> RunHead:
        return cls(run.seq, run.hash, run.first, run.end, len(run.items), run.root().hex())


class ErsBook(_Book):
    """The finished hash-tree renewals of a store, and the renewals of their stamps (``stamps``).

    A run's record holds every document it stamps (18 MB per 50,000): what needs only its range,
    hash and root asks ``heads()``, which reads each run once per *heads_file* (a home's cache; the
    runs are write-once, so a head never changes) and otherwise only checks which numbers exist.
    """

    def __init__(self, store: ObjectStore, heads_file: Path | None = None) -> None:
        super().__init__(store, ERS_PREFIX, Run.parse)
        self.stamps = _Book(store, STAMP_PREFIX, StampRenewal.parse)
        self._heads_file = heads_file
        self._heads: dict[int, RunHead] | None = None
        self._head_next = 1
        self._head_pending: list[int] = []
        self._last: Run | None = None  # the run read last (evidence asks for one run again and again)

    def heads(self) -> list[RunHead]:
        """Every finished run's head, by number."""
        if self._heads is None:
            self._heads = self._read_heads()
            self._head_next = max(self._heads, default=0) + 1
        learned = False
        waiting, self._head_pending = self._head_pending, []
        while self.store.exists(self.key(self._head_next, ".json")):
            waiting.append(self._head_next)
            self._head_next += 1
        for seq in waiting:
            if seq in self._heads:
                continue
            if not self.store.exists(self.key(seq, ".tsr")):
                self._head_pending.append(seq)  # under way, or the remains of a crash
                continue
            self._heads[seq] = RunHead.of(self.run(seq))
            learned = True
        if learned:
            self._write_heads()
        return [self._heads[k] for k in sorted(self._heads)]

    def next_number(self) -> int:
        """The number a new run takes (read from the heads: no run is read again)."""
        self.heads()
        return self._head_next

    def run(self, seq: int) -> Run:
        """Finished run *seq*, read from the store (the last one read is kept)."""
        if self._last is None or self._last.seq != seq:
            self._last = Run.parse(seq, self.store.get(self.key(seq, ".json")))
        return self._last

    def covering(self, index: int) -> Run | None:
        """The newest finished run that stamps the document of log leaf *index* (reads that run only)."""
        for head in reversed(self.heads()):
            if head.first <= index < head.end:
                run = self.run(head.seq)
                if run.position(index) is not None:
                    return run
        return None

    def _read_heads(self) -> dict[int, RunHead]:
        if self._heads_file is None:
            return {}
        try:
            rows = json.loads(self._heads_file.read_text())
            return {int(r["seq"]): RunHead(int(r["seq"]), r["hash"], int(r["first"]), int(r["end"]),
                                           int(r["documents"]), r["root"]) for r in rows}
        except (OSError, ValueError, KeyError, TypeError):
            return {}  # none yet, or unreadable: read the runs again

    def _write_heads(self) -> None:
        if self._heads_file is None or self._heads is None:
            return
        rows = [{"seq": h.seq, "hash": h.hash, "first": h.first, "end": h.end, "documents": h.documents,
                 "root": h.root_hex} for h in self._heads.values()]
        try:
            self._heads_file.parent.mkdir(parents=True, exist_ok=True)
            part = self._heads_file.with_suffix(".part")
            part.write_text(json.dumps(rows))
            part.replace(self._heads_file)
        except OSError:
            pass  # a cache: the next process reads the runs again

    def chain(self, run: Run | RunHead) -> list[tuple[StampRenewal | None, bytes]]:
        """The run's token and every renewal of it, oldest first: (renewal or None for the run's own, token)."""
        links: list[tuple[StampRenewal | None, bytes]] = [(None, self.store.get(ers_key(run.seq, ".tsr")))]
        for r in self.stamps.current():
            if r.position(run.seq) is not None:
                links.append((r, self.store.get(self.stamps.key(r.seq, ".tsr"))))
        return links


@dataclass(frozen=True)
class StampRenewal:
    """RFC 4998 §5.2 for the runs' tokens: one token (of the runs' hash) over an RFC 4998 tree whose
    leaf for run S has as its first list the hashes of every token of S's chain so far."""

    seq: int
    hash: str
    made: dt.datetime
    items: tuple[tuple[int, tuple[bytes, ...]], ...]  # (run, H(each token of its chain), oldest first)

    def __post_init__(self) -> None:
        runs = [r for r, _h in self.items]
        if self.hash not in HASHES or self.seq <= 0 or not self.items or runs != sorted(set(runs)):
            raise ValueError("a stamp renewal renews one or more runs, each once, in order")
        if any(not hs for _r, hs in self.items):
            raise ValueError("a stamp renewal item renews at least one token")

    def encode(self) -> bytes:
        return json.dumps({"v": RUN_VERSION, "type": "earsiv-hashtree-stamp-renewal", "hash": self.hash,
                           "made": self.made.isoformat(),
                           "items": [{"run": r, "tokens": [h.hex() for h in hs]} for r, hs in self.items]},
                          indent=0).encode() + b"\n"

    @classmethod
    def parse(cls, seq: int, data: bytes) -> StampRenewal:
        try:
            doc = json.loads(data)
            if doc.get("v") != RUN_VERSION or doc.get("type") != "earsiv-hashtree-stamp-renewal":
                raise ValueError(f"unknown format {doc.get('v')!r}")
            items = tuple((int(i["run"]), tuple(bytes.fromhex(h) for h in i["tokens"])) for i in doc["items"])
            return cls(seq, str(doc["hash"]), dt.datetime.fromisoformat(doc["made"]), items)
        except (KeyError, TypeError, ValueError) as exc:
            raise VerificationError(f"hash-tree stamp renewal {seq} is not readable: {exc}",
                                    name=f"{STAMP_PREFIX}{seq:016d}.json") from exc

    @functools.cached_property
    def _tree(self) -> list[list[bytes]]:
        return levels(self.hash, [node(self.hash, hs) if len(hs) > 1 else hs[0] for _r, hs in self.items])

    def tree(self) -> list[list[bytes]]:
        return self._tree

    def root(self) -> bytes:
        return self._tree[-1][0]

    def position(self, run: int) -> int | None:
        for n, (r, _hs) in enumerate(self.items):
            if r == run:
                return n
        return None


def verify_run_chain(run: Run | RunHead, links: Sequence[tuple[StampRenewal | None, bytes]],
                     trusted: Sequence[x509.Certificate]) -> list[TokenInfo]:
    """The run's token stamps its root; each renewal's item for it lists the hashes of every token
    before, its token of the same hash stamps its own root, and it was made while the token before
    could still be trusted (``renewal.verify_chain``'s rule). The infos, oldest first."""
    from earsiv.archive.renewal import _valid_until
    from earsiv.archive.tsa.verify import verify_token

    infos: list[TokenInfo] = []
    for k, (r, token) in enumerate(links):
        key = ers_key(run.seq, ".tsr") if r is None else f"{STAMP_PREFIX}{r.seq:016d}.tsr"
        if (r is None) != (k == 0):
            raise VerificationError(f"{key} is not in the chain of hash-tree renewal {run.seq}", name=key, step=4)
        root = run.root() if r is None else r.root()
        if r is not None:
            n = r.position(run.seq)
            if n is None or r.hash != run.hash or list(r.items[n][1]) != [hashed(run.hash, t) for _r, t in links[:k]]:
                raise VerificationError(f"stamp renewal {r.seq} does not renew the stamps of hash-tree renewal "
                                        f"{run.seq} as they are", name=key, step=4)
        try:
            info = verify_token(token, message_imprint=root, trusted_certs=trusted)
        except VerificationError as exc:
            raise VerificationError(f"hash-tree renewal token does not verify: {exc.detail}", name=key, step=4) \
                from exc
        if info.hash_algorithm != run.hash:
            raise VerificationError(f"hash-tree renewal token is over {info.hash_algorithm}, not {run.hash}",
                                    name=key, step=4)
        if infos and not infos[-1].gen_time <= info.gen_time <= _valid_until(infos[-1]):
            raise VerificationError(f"stamp renewal made {info.gen_time.isoformat()}, not while the stamp it renews "
                                    f"could be trusted (until {_valid_until(infos[-1]).isoformat()})", name=key, step=4)
        infos.append(info)
    return infos


def renew_run_stamps(book: ErsBook, store: ObjectStore, *, stamp: Callable[[bytes, str], bytes],
                     trusted: Sequence[x509.Certificate], until: dt.datetime, everything: bool = False,
                     now: dt.datetime | None = None) -> list[dict]:
    """Renew (RFC 4998 §5.2) the chains of the runs whose newest stamp ends within `RENEW_AHEAD` (every
    chain with *everything*): one stamp per hash over them all. What was made, per renewal."""
    from earsiv.archive.renewal import RENEW_AHEAD, _valid_until

    now = now or dt.datetime.now(dt.UTC)
    wanted: dict[str, list[tuple[int, tuple[bytes, ...]]]] = {}
    for run in book.heads():
        links = book.chain(run)
        infos = verify_run_chain(run, links, trusted)  # a broken chain is not extended, it is reported
        if everything or _valid_until(infos[-1]) - now < RENEW_AHEAD:
            wanted.setdefault(run.hash, []).append((run.seq, tuple(hashed(run.hash, t) for _r, t in links)))
    made = []
    for name, items in sorted(wanted.items()):
        seq = book.stamps.next_number()
        r = StampRenewal(seq, name, now, tuple(items))
        store.put_many([PutItem(book.stamps.key(seq, ".json"), r.encode(), until)])
        token = stamp(r.root(), name)  # no lock held: a TSA may be slow
        from earsiv.archive.tsa.verify import verify_token

        info = verify_token(token, message_imprint=r.root(), trusted_certs=trusted)
        store.put_many([PutItem(book.stamps.key(seq, ".tsr"), token, until)])
        book.stamps.current()
        made.append({"stamp_renewal": seq, "hash": name, "runs": len(items), "stamp_time": info.gen_time.isoformat()})
    return made


def chain_bytes(leaf_json: dict[str, Any]) -> bytes:
    """A document's evidence as a hash-tree renewal covers it: its leaf evidence as canonical JSON."""
    return json.dumps(leaf_json, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def base_root(leaf_json: dict[str, Any]) -> bytes:
    return bytes.fromhex(leaf_json["proof"]["root"])


@dataclass(frozen=True, slots=True)
class Record:
    run: Run
    chain: bytes  # the document's evidence as it stood, whose hash the run stamps beside the document's
    links: tuple[tuple[StampRenewal | None, bytes], ...]  # the run's token, then its stamp renewals'
    infos: tuple[TokenInfo, ...]  # of those tokens, oldest first

    @property
    def token(self) -> bytes:
        return self.links[0][1]

    @property
    def info(self) -> TokenInfo:
        return self.infos[-1]  # the newest: what a verifier now relies on


# -- RFC 4998 ASN.1 (DEFINITIONS IMPLICIT TAGS) -------------------------------------------------

class PartialHashtree(core.SequenceOf):
    _child_spec = core.OctetString


class ReducedHashtree(core.SequenceOf):
    _child_spec = PartialHashtree


class ArchiveTimeStamp(core.Sequence):
    _fields: ClassVar[list] = [
        ("digest_algorithm", algos.DigestAlgorithm, {"implicit": 0, "optional": True}),
        ("attributes", cms.CMSAttributes, {"implicit": 1, "optional": True}),
        ("reduced_hashtree", ReducedHashtree, {"implicit": 2, "optional": True}),
        ("time_stamp", cms.ContentInfo),
    ]


class ArchiveTimeStampChain(core.SequenceOf):
    _child_spec = ArchiveTimeStamp


class ArchiveTimeStampSequence(core.SequenceOf):
    _child_spec = ArchiveTimeStampChain


class DigestAlgorithms(core.SequenceOf):
    _child_spec = algos.DigestAlgorithm


class EvidenceRecord(core.Sequence):
    _fields: ClassVar[list] = [
        ("version", core.Integer),
        ("digest_algorithms", DigestAlgorithms),
        ("crypto_infos", core.Any, {"implicit": 0, "optional": True}),
        ("encryption_info", core.Any, {"implicit": 1, "optional": True}),
        ("archive_time_stamp_sequence", ArchiveTimeStampSequence),
    ]


def evidence_record(record: Record, index: int) -> bytes:
    """The RFC 4998 ``EvidenceRecord`` (DER) of the document of log leaf *index*: one chain, whose first
    archive time stamp is the run's token with the document's reduced hash tree, then one per renewal
    of that stamp (its first list the hashes of the tokens before it, RFC 4998 §5.2)."""
    run = record.run
    n = run.position(index)
    if n is None:
        raise ValueError(f"hash-tree renewal {run.seq} does not cover leaf {index}")
    item = run.items[n]
    alg = algos.DigestAlgorithm({"algorithm": run.hash})
    chain = [ArchiveTimeStamp({
        "digest_algorithm": alg,
        "reduced_hashtree": [[item.doc, item.chain], *[[sib] for sib in reduced_tree(run.tree(), n)]],
        "time_stamp": cms.ContentInfo.load(record.token),
    })]
    for r, token in record.links[1:]:
        assert r is not None
        m = r.position(run.seq)
        assert m is not None
        chain.append(ArchiveTimeStamp({
            "digest_algorithm": alg,
            "reduced_hashtree": [list(r.items[m][1]), *[[sib] for sib in reduced_tree(r.tree(), m)]],
            "time_stamp": cms.ContentInfo.load(token),
        }))
    der = EvidenceRecord({"version": 1, "digest_algorithms": [alg], "archive_time_stamp_sequence": [chain]}).dump()
    if any(token not in der for _r, token in record.links):  # signed bytes go in as they are, never re-encoded
        raise ValueError("the evidence record does not carry its tokens byte for byte")
    return der
