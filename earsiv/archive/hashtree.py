"""Hash-tree renewal (RFC 4998 §5.3): every document hashed anew with its evidence, one stamp per batch.

What a run is and how it is kept is ``ers``'s (pure); this module reads the archive to make one:
each document's bytes once, its leaf's evidence as it stands, one RFC 3161 token per *batch*
documents. ``earsiv renew --hash sha384`` calls ``renew``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from earsiv.archive.errors import StoreError, VerificationError
from earsiv.archive.ers import (
    BATCH,
    HASHES,
    Evidence,
    Item,
    Run,
    base_root,
    chain_bytes,
    ers_key,
    hashed,
)
from earsiv.archive.evidence import _leaf_json, prove_leaf
from earsiv.archive.log import merkle
from earsiv.archive.log.entries import DocumentEntry, decode
from earsiv.archive.log.proofs import InclusionProof
from earsiv.archive.stores.base import PutItem
from earsiv.archive.tsa.verify import verify_token

if TYPE_CHECKING:
    from cryptography import x509

    from earsiv.archive.archive import Archive

__all__ = ["renew", "renew_hashes"]


def renew(arch: Archive, hash_name: str, *, batch: int | None = None, everything: bool = False,
          progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Hash-tree renewal with *hash_name* of every document no run of that hash covers yet (every
    document with *everything*), one stamp per *batch* documents, through the archive's TSAs."""
    arch.checkpoint()  # documents since the last checkpoint are included once it is stamped
    return renew_hashes(arch, hash_name, stamp=arch.checkpointer.stamp_imprint, trusted=arch.tsa_certificates(),
                        until=arch.ledger.retention.until(), batch=batch or BATCH, everything=everything,
                        progress=progress)


def renew_hashes(arch: Archive, name: str, *, stamp: Callable[[bytes, str], bytes],
                 trusted: Sequence[x509.Certificate], until: dt.datetime, batch: int = BATCH, everything: bool = False,
                 progress: Callable[[int, int], None] | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """Stamp, with hash *name*, every document not yet covered by a run of that hash (with *everything*,
    every document again: new records, for when the certificate of a run's stamp ends): see the module.

    *stamp(root, name) -> token*; *progress(done, total)* after each document (leaves of the log
    read, of those to read). One run (one stamp) per *batch* documents.
    """
    if name not in HASHES:
        raise ValueError(f"unknown hash {name!r}: one of {', '.join(HASHES)}")
    book = arch.ers
    runs = [r for r in book.heads() if r.hash == name]
    start = 0 if everything else max((r.end for r in runs), default=0)
    row = arch.index.log.latest_checkpoint(stamped=True)
    if row is None or row.size <= start:
        return {"runs": [], "documents": 0, "hash": name}
    size = row.size
    renewals = tuple(r.seq for r in arch.renewals.current())  # finished now (one under way elsewhere is not)
    # The evidence every document of this run shares (checked once): checkpoint, tokens, renewals.
    base: dict[str, Any] | None = None
    evidence = Evidence(size, renewals, False)
    disposed = arch.index.disposal
    done: list[dict[str, Any]] = []
    items: list[Item] = []
    first = start
    total = size - start

    def finish(end: int) -> None:
        nonlocal items, first
        if items:
            seq = book.next_number()
            run = Run(seq, name, now or dt.datetime.now(dt.UTC), first, end, evidence, tuple(items))
            arch.store.put_many([PutItem(ers_key(seq, ".json"), run.encode(), until)])
            root = run.root()
            token = stamp(root, name)  # no lock held: a TSA may be slow
            info = verify_token(token, message_imprint=root, trusted_certs=trusted)
            if info.hash_algorithm != name:
                raise VerificationError(f"the TSA stamped {info.hash_algorithm}, not {name}", step=4)
            arch.store.put_many([PutItem(ers_key(seq, ".tsr"), token, until)])
            book.heads()
            done.append({"run": seq, "documents": len(items), "first": first, "end": end,
                         "stamp_time": info.gen_time.isoformat(), "root": root.hex()})
        items, first = [], end

    tree = arch.log.tree(size)
    for index, leaf in arch.log.iter_leaves(start, size):
        if progress is not None:
            progress(index - start + 1, total)
        try:
            entry = decode(leaf)
        except VerificationError:
            entry = None  # the audit reports it; its evidence cannot be renewed
        if not isinstance(entry, DocumentEntry) or disposed.disposed([entry.digest]).get(entry.digest):
            continue
        own = arch.index.get(entry.digest)
        if own is None or own.log_index != index:
            continue
        if base is None:
            p = prove_leaf(arch, index, entry.digest, size=size, renewals=set(renewals))
            base, evidence = _leaf_json(p), Evidence(size, renewals, p.token2 is not None)
        try:
            data = arch.original(entry.digest)
        except (StoreError, VerificationError) as exc:
            raise VerificationError(f"document {entry.digest} cannot be read for its hash-tree renewal: {exc}",
                                    name=entry.digest, step=1) from exc
        proof = InclusionProof(index, size, merkle.leaf_hash(leaf),
                               tuple(merkle.inclusion_path(index, size, tree.subtree)), base_root(base))
        mine = {**base, "leaf": leaf.decode("utf-8"), "proof": proof.to_json()}
        items.append(Item(index, entry.digest, hashed(name, data), hashed(name, chain_bytes(mine))))
        if len(items) >= batch:
            finish(index + 1)
    finish(size)
    return {"runs": done, "documents": sum(d["documents"] for d in done), "hash": name}


