"""Evidence and verification of stored documents.

Evidence for a document is everything needed to prove, offline and with
standard tools, that these exact bytes were in the archive at a given time:

    original.xml     the document, byte for byte
    leaf.json        its log leaf (names the sha256 of original.xml)
    proof.json       the inclusion proof of the leaf in a checkpoint
    checkpoint.txt   the checkpoint (tree size and root), signed and stamped
    checkpoint.sig   Ed25519 signature of checkpoint.txt by archive-key.pem
    checkpoint.tsr   RFC 3161 token over sha256(checkpoint.txt)
    tsa-cert.pem     the TSA certificate; archive-key.pem the archive's public key
    README.txt       the commands that check all of it

``verify_document`` is the one public verification entry point for a stored
document; it raises :class:`VerificationError` naming the failed step.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from earsiv.archive import blobs
from earsiv.archive.errors import ArchiveError, DocumentNotFound, StoreError, VerificationError
from earsiv.archive.log import merkle
from earsiv.archive.log.log import Checkpoint, decode_entry
from earsiv.archive.stores.base import RetentionRecords
from earsiv.archive.tsa.verify import verify_token

if TYPE_CHECKING:
    from earsiv.archive.archive import Archive

__all__ = ["PROOF_VERSION", "Finding", "leaf_evidence", "verify_all", "verify_document", "write_evidence"]

PROOF_VERSION = 1


@dataclass(frozen=True, slots=True)
class Finding:
    subject: str  # a digest, or "log", or "checkpoint N"
    problem: str

    def to_json(self) -> dict:
        return {"subject": self.subject, "problem": self.problem}


@dataclass(slots=True)
class Proven:
    digest: str
    log_index: int
    checkpoint_size: int
    checkpoint_time: str
    stamp_time: str | None
    details: list[str] = field(default_factory=list)


def _stamped_checkpoint(arch: Archive, log_index: int) -> int:
    """The newest stamped checkpoint that covers *log_index*; make one if none does."""
    for size in reversed(arch.log.checkpoint_sizes()):
        if size > log_index and arch.store.exists(f"log/checkpoints/{size:016d}.tsr"):
            return size
    arch.checkpoint()
    for size in reversed(arch.log.checkpoint_sizes()):
        if size > log_index and arch.store.exists(f"log/checkpoints/{size:016d}.tsr"):
            return size
    raise VerificationError(f"no stamped checkpoint covers leaf {log_index} (is the TSA reachable?)", step=4)


def verify_document(arch: Archive, digest: str, leaf_index: int | None = None) -> Proven:
    """Prove the document through its own leaf, or through the leaf of a later holding of it.

    *leaf_index* names a ``holding`` leaf of this digest: a tenant's own evidence then
    proves its holding without showing another tenant's leaf.
    """
    row = arch.index.get(digest)
    if row is None:
        raise DocumentNotFound(f"no document with digest {digest} in this archive", name=digest)
    index = row.log_index if leaf_index is None else leaf_index
    # 1. The blob decodes to bytes whose sha256 is the document's name.
    try:
        data = arch.original(digest)
    except StoreError as exc:
        raise VerificationError(f"blob missing or unreadable: {exc}", name=digest, step=1) from exc
    except VerificationError as exc:
        raise VerificationError(f"blob damaged: {exc.detail}", name=digest, step=1) from exc
    # 2. The log leaf at that position names exactly this document.
    leaf = arch.log.read_leaf(index)
    entry = decode_entry(leaf)
    if index == row.log_index:
        names_it = entry.get("type") == "document" and entry.get("digest") == digest and entry.get("size") == len(data)
    else:
        names_it = entry.get("type") == "holding" and entry.get("digest") == digest
    if not names_it:
        raise VerificationError(f"log leaf {index} does not describe this document", name=digest, step=2)
    p = _prove_leaf(arch, index, leaf, digest)
    return Proven(digest, index, p.size, p.checkpoint.time.isoformat(), p.gen_time.isoformat())


@dataclass(frozen=True, slots=True)
class _LeafProof:
    leaf_hash: bytes
    size: int
    checkpoint: Checkpoint
    signature: bytes
    token: bytes
    path: list[bytes]
    gen_time: dt.datetime


def _prove_leaf(arch: Archive, index: int, leaf: bytes, name: str | None = None) -> _LeafProof:
    """Steps 2 (the leaf is the one appended), 3 and 4 for the leaf at *index*."""
    lh = merkle.leaf_hash(leaf)
    if lh != arch.log.leaf_hash(index):
        raise VerificationError(f"log leaf {index} changed since it was appended", name=name, step=2)
    # 3. The leaf is included in a checkpoint signed by the archive key.
    size = _stamped_checkpoint(arch, index)
    cp, sig, token = arch.log.load_checkpoint(size)
    arch.signer.public.verify(sig, cp.body(), what=f"checkpoint {size}")
    proof = arch.log.inclusion_proof(index, size)
    merkle.verify_inclusion(index, size, lh, proof, cp.root)
    # 4. The checkpoint is stamped by a trusted TSA.
    if token is None:
        raise VerificationError(f"checkpoint {size} has no time-stamp token", name=name, step=4)
    info = verify_token(token, data=cp.body(), trusted_certs=arch.tsa_certificates())
    return _LeafProof(lh, size, cp, sig, token, proof, info.gen_time)


def verify_all(arch: Archive, digests: list[str] | None = None, progress=None) -> tuple[int, list[Finding]]:
    """Check the named documents (each with its own proof), or audit everything.

    Collects findings; never stops at the first.  The full audit reads the
    store, not the index: the log's bundles, every checkpoint, and every blob a
    leaf names, so a document missing from the index is found too.
    """
    if digests is None:
        return _audit(arch, progress)
    findings: list[Finding] = []
    for d in digests:
        try:
            verify_document(arch, d)
        except ArchiveError as exc:
            findings.append(Finding(d, exc.detail))
        if progress:
            progress(1)
    return len(digests), findings


def _audit(arch: Archive, progress=None) -> tuple[int, list[Finding]]:
    arch.checkpoint()  # the newest leaves get a checkpoint (and a stamp) too
    findings, entries = _verify_log(arch)
    docs = [(i, e) for i, e in entries if e.get("type") == "document"]
    # Every checkpoint's root was recomputed from all leaves above, which
    # proves every leaf's inclusion; per document only fixity and the index
    # remain to check.
    indexed = arch.index.kinds_of([e["digest"] for _i, e in docs])
    indexed_upto = int(arch.index.meta_get("log_size") or 0)
    seen: set[str] = set()

    def fixity(item: tuple[int, dict]) -> Finding | None:
        idx, e = item
        d = e["digest"]
        try:
            raw_dict = arch.dictionaries.raw(e["blob"]["dict"]) if e["blob"].get("dict") else None
            data = blobs.decode(arch.store.get(blobs.blob_key(d)), raw_dict)
        except (StoreError, VerificationError) as exc:
            return Finding(d, f"blob missing or damaged (leaf {idx}): {exc.detail}")
        if hashlib.sha256(data).hexdigest() != d or len(data) != e["size"]:
            return Finding(d, f"blob does not hash to its name (leaf {idx})")
        return None

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="fixity") as pool:  # zstd and sha256 release the GIL
        for (idx, e), found in zip(docs, pool.map(fixity, docs)):
            if found is not None:
                findings.append(found)
            if e["digest"] not in indexed and e["digest"] not in seen:
                if idx >= indexed_upto:  # the index has not caught up yet (e.g. a full disk stopped it): no damage
                    findings.append(Finding(e["digest"], f"in the log (leaf {idx}) but not yet in the index, which has "
                                                         f"taken in {indexed_upto} leaves; it catches up when the "
                                                         "archive is next opened with space to write"))
                else:
                    findings.append(Finding(e["digest"], f"in the log (leaf {idx}) but missing from the index: "
                                                         "run `earsiv reindex`"))
            seen.add(e["digest"])
            if progress:
                progress(1)
    if isinstance(arch.store, RetentionRecords):
        findings.extend(_audit_retention_records(arch, arch.store, sorted(seen)))
    return len(seen), findings


def _audit_retention_records(arch: Archive, store: RetentionRecords, digests: list[str]) -> list[Finding]:
    """Unreadable retention records, and blobs kept shorter (or not held) where the log says otherwise.

    The holdings come from the index, which mirrors the log's leaves.  A crash between
    the store's change and its leaf may leave the store keeping longer or holding where
    the log does not; that is no loss and no finding.
    """
    out = [Finding(exc.name or "retention records", f"{exc.detail}; skipped, so the facts it held are missing "
                   "from the store's records (they are in the log's leaves)") for exc in store.damage()]
    for i in range(0, len(digests), 5000):
        chunk = digests[i : i + 5000]
        held = arch.index.access.holdings_of(chunk)
        for d in chunk:
            holdings = held.get(d)
            if not holdings:
                continue  # reported above as missing from the index
            until = max(h.retain_until for h in holdings)
            try:
                kept = arch.store.retention(blobs.blob_key(d))
            except StoreError as exc:
                out.append(Finding(d, f"blob has no retention in the store ({exc.detail}); the log keeps it until "
                                      f"{until.isoformat()}"))
                continue
            if kept.retain_until < until:
                out.append(Finding(d, f"the store keeps the blob until {kept.retain_until.isoformat()}, "
                                      f"the log until {until.isoformat()}"))
            if not kept.legal_hold and any(h.legal_hold for h in holdings):
                out.append(Finding(d, "the log holds the document under a legal hold, the store does not: "
                                      "put the hold on again (`earsiv legal-hold DIGEST on`)"))
    return out


def _verify_log(arch: Archive) -> tuple[list[Finding], list[tuple[int, dict]]]:
    out: list[Finding] = []
    entries: list[tuple[int, dict]] = []
    sizes = arch.log.checkpoint_sizes()
    roots: dict[int, bytes] = {}
    acc = merkle.MerkleAccumulator()
    if 0 in sizes:
        roots[0] = acc.root()
    # Re-read every bundle from the store (the hashes in memory came from it
    # once; re-hashing now catches a bundle changed since) and take the root
    # at every checkpointed size on the way: one pass, whatever the number of
    # checkpoints.
    wanted = set(sizes)
    for idx, leaf in arch.log.iter_leaves(0):
        h = merkle.leaf_hash(leaf)
        if h != arch.log.leaf_hash(idx):
            out.append(Finding(f"leaf {idx}", "changed since it was read"))
        acc.append(h)
        if acc.size in wanted:
            roots[acc.size] = acc.root()
        try:
            entries.append((idx, decode_entry(leaf)))
        except (ValueError, VerificationError) as exc:
            out.append(Finding(f"leaf {idx}", f"not a readable log entry: {exc}"))
    trusted = arch.tsa_certificates()
    for size in sizes:
        try:
            cp, sig, token = arch.log.load_checkpoint(size)
            arch.signer.public.verify(sig, cp.body(), what=f"checkpoint {size}")
            if size not in roots:
                raise VerificationError(f"it covers {size} leaves but the log has {acc.size}")
            if roots[size] != cp.root:
                raise VerificationError("its root does not match the log's leaves")
            if token is None:
                out.append(Finding(f"checkpoint {size}", "not stamped yet"))
            else:
                verify_token(token, data=cp.body(), trusted_certs=trusted)
        except (VerificationError, StoreError) as exc:
            out.append(Finding(f"checkpoint {size}", exc.detail))
    # Any two checkpoints are consistent because both roots were recomputed
    # from one sequence of leaves; `verify_consistency` serves checkpoints
    # handed out earlier (see docs/FORMAT.md, "Inclusion proofs").
    return out, entries


README = """\
Evidence for document {digest}
=============================================================================

What is here
  original.xml    the document exactly as received (sha256 = {digest})
  leaf.json       log leaf {index} of archive {origin}
  proof.json      RFC 6962 inclusion proof of the leaf in a tree of {size} leaves
  checkpoint.txt  the checkpoint: tree size {size}, root {root}
  checkpoint.sig  Ed25519 signature of checkpoint.txt by archive-key.pem
  checkpoint.tsr  RFC 3161 time-stamp token over sha256(checkpoint.txt)
  tsa-cert.pem    certificate of the TSA that made the token{tsa_note}
  archive-key.pem the archive's public key (key id {key_id})

How to check it with standard tools (no earsiv code needed)
1. The document is the one the leaf names:
     sha256sum original.xml
     grep -o '"digest":"[0-9a-f]*"' leaf.json
   Both must show {digest}.
2. The time-stamp token stamps this checkpoint:
     openssl ts -verify -data checkpoint.txt -in checkpoint.tsr -token_in -CAfile tsa-cert.pem
   It must print "Verification: OK". See the stamp time with:
     openssl ts -reply -in checkpoint.tsr -token_in -token_out -text | grep 'Time stamp'
3. The archive signed the checkpoint:
     openssl pkeyutl -verify -pubin -inkey archive-key.pem -rawin -in checkpoint.txt -sigfile checkpoint.sig
   It must print "Signature Verified Successfully".
4. The leaf is in the tree whose root the checkpoint states: compute the leaf
   hash, then fold in each hash of proof.json as docs/FORMAT.md ("Inclusion
   proofs") describes; the result must equal the checkpoint's root:
     (printf '\\000'; cat leaf.json) | sha256sum      # leaf hash = {leaf_hash}
   proof.json lists, for each step, whether the proof hash goes on the left
   or the right, so each step is one command:
     (printf '\\001'; printf LEFT | xxd -r -p; printf RIGHT | xxd -r -p) | sha256sum
"""


def write_evidence(arch: Archive, digest: str, out: Path, leaf_index: int | None = None) -> dict:
    proven = verify_document(arch, digest, leaf_index)
    out.mkdir(parents=True, exist_ok=True)
    leaf = arch.log.read_leaf(proven.log_index)
    size = proven.checkpoint_size
    cp, sig, token = arch.log.load_checkpoint(size)
    assert token is not None
    proof = arch.log.inclusion_proof(proven.log_index, size)
    lh = merkle.leaf_hash(leaf)
    steps = _proof_steps(proven.log_index, size, lh, proof)
    proof_doc = {
        "v": PROOF_VERSION,
        "type": "inclusion",
        "log_index": proven.log_index,
        "tree_size": size,
        "leaf_hash": lh.hex(),
        "hashes": [h.hex() for h in proof],
        "steps": steps,
        "root": cp.root.hex(),
        "checkpoint": "checkpoint.txt",
    }
    signer_certs = _token_cert_pem(token) or arch.tsa.certificate_pem
    files = {
        "original.xml": arch.original(digest),
        "leaf.json": leaf,
        "proof.json": json.dumps(proof_doc, indent=2).encode() + b"\n",
        "checkpoint.txt": cp.body(),
        "checkpoint.sig": sig,
        "checkpoint.tsr": token,
        "tsa-cert.pem": signer_certs,
        "archive-key.pem": arch.signer.public.pem,
    }
    local = not arch.config.tsa_url
    files["README.txt"] = README.format(
        digest=digest,
        index=proven.log_index,
        origin=cp.origin,
        size=size,
        root=cp.root.hex(),
        key_id=cp.key_id,
        leaf_hash=lh.hex(),
        tsa_note=" (the archive's built-in local TSA:\n                  its stamps are the archive's own, not a qualified time-stamp)" if local else "",
    ).encode()
    for name, data in files.items():
        (out / name).write_bytes(data)
    return {"digest": digest, "directory": str(out), "files": sorted(files), "log_index": proven.log_index,
            "checkpoint_size": size, "stamp_time": proven.stamp_time}


def leaf_evidence(arch: Archive, log_index: int) -> dict:
    """Offline evidence of any leaf (an access event, a grant): leaf, inclusion proof, checkpoint, token.

    Checked here before it is handed out, with the same steps as a document's.
    """
    leaf = arch.log.read_leaf(log_index)
    p = _prove_leaf(arch, log_index, leaf)
    return {
        "v": PROOF_VERSION,
        "log_index": log_index,
        "leaf": leaf.decode("utf-8"),
        "leaf_hash": p.leaf_hash.hex(),
        "tree_size": p.size,
        "inclusion_proof": [h.hex() for h in p.path],
        "root": p.checkpoint.root.hex(),
        "checkpoint": p.checkpoint.body().decode("utf-8"),
        "checkpoint_sig": base64.b64encode(p.signature).decode("ascii"),
        "checkpoint_tsr": base64.b64encode(p.token).decode("ascii"),
        "stamp_time": p.gen_time.isoformat(),
    }


def _proof_steps(index: int, size: int, leaf_hash: bytes, proof: list[bytes]) -> list[dict]:
    """The inclusion proof as explicit left/right steps (RFC 9162 2.1.3.2)."""
    fn, sn = index, size - 1
    r = leaf_hash
    steps = []
    for p in proof:
        if sn == 0:
            raise VerificationError("inclusion proof longer than the tree allows")
        if fn % 2 == 1 or fn == sn:
            left, right = p, r
            r = merkle.node_hash(p, r)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            left, right = r, p
            r = merkle.node_hash(r, p)
        steps.append({"left": left.hex(), "right": right.hex(), "result": r.hex()})
        fn >>= 1
        sn >>= 1
    return steps


def _token_cert_pem(token: bytes) -> bytes | None:
    from earsiv.archive.tsa.tokens import token_certificates

    pems = token_certificates(token)
    return b"".join(pems) if pems else None

