"""Evidence: proving, offline and with standard tools, that a leaf (a document) was logged.

For any leaf the proof has four steps, numbered as in the code below:

1. (documents) the blob decodes to bytes whose sha256 is the document's name;
2. the leaf read from its bundle is the one that names it (a document or its holding);
3. the leaf's hash is included, by an inclusion proof built from hash tiles, in a checkpoint
   whose signature by the archive key verifies;
4. the checkpoint is stamped by an RFC 3161 token that verifies.

``verify_document`` is the one verification entry point for a stored document and raises
:class:`VerificationError` naming the failed step.  The evidence folder of a document:

    original.xml     the document, byte for byte
    leaf.json        its log leaf (names the sha256 of original.xml)
    proof.json       the inclusion proof of the leaf in a checkpoint
    checkpoint.txt   the checkpoint (tree size and root), signed and stamped
    checkpoint.sig   Ed25519 signature of checkpoint.txt by archive-key.pem
    checkpoint.tsr   RFC 3161 token over sha256(checkpoint.txt) (checkpoint.tsr2: a second,
                     independent TSA's, when two are configured)
    tsa-anchors.pem  the configured trust anchors the tokens chain to (never a token's own
                     certificate); archive-key.pem the archive's public key
    README.txt       the commands that check all of it, and what to compare with
                     fingerprints obtained from outside (the archive key's, each anchor's)
    renewal-K.tsr/.json  the time-stamp renewals of checkpoint.tsr (``renewal``)
    evidence-record.ers  after a hash-tree renewal (``ers``): the document's RFC 4998 evidence
                     record, and evidence-record-chain.json, the earlier evidence it stamped
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from earsiv.archive.errors import DocumentNotFound, StoreError, VerificationError
from earsiv.archive.ers import Record, chain_bytes, ers_key, evidence_record, hashed, verify_run_chain
from earsiv.archive.log import merkle
from earsiv.archive.log.checkpoints import Checkpoint, checkpoint_key
from earsiv.archive.log.entries import DocumentEntry, HoldingEntry, KeyEntry, decode, format_time, parse_time
from earsiv.archive.log.proofs import PROOF_VERSION, InclusionProof

if TYPE_CHECKING:
    from earsiv.archive.archive import Archive
    from earsiv.archive.ers import Evidence, Item

log = logging.getLogger("earsiv.evidence")
__all__ = ["LeafProof", "Proven", "document_evidence", "key_introductions", "leaf_evidence", "prove_leaf",
           "stamped_checkpoint", "verify_document", "verify_document_record", "verify_record", "write_evidence"]


@dataclass(frozen=True, slots=True)
class LeafProof:
    leaf: bytes
    proof: InclusionProof
    checkpoint: Checkpoint
    signature: bytes
    token: bytes
    gen_time: dt.datetime
    anchors: tuple[Any, ...] = ()  # the trusted certificates the tokens' signers chain to
    token2: bytes | None = None  # a second, independent TSA's token
    gen_time2: dt.datetime | None = None  # its stamp time
    renewals: tuple[Any, ...] = ()  # renewal.Link after the checkpoint's own token, oldest first
    renewals2: tuple[Any, ...] = ()  # the same after the second TSA's token


@dataclass(frozen=True, slots=True)
class Proven:
    digest: str
    log_index: int
    checkpoint_size: int
    checkpoint_time: str
    stamp_time: str | None
    evidence: LeafProof


def stamped_checkpoint(arch: Archive, log_index: int) -> int:
    """The newest stamped checkpoint that covers *log_index* (one lookup); make one if none does."""
    row = arch.index.log.latest_checkpoint(stamped=True, covering=log_index)
    if row is None:
        arch.checkpoint()
        row = arch.index.log.latest_checkpoint(stamped=True, covering=log_index)
    if row is None:
        raise VerificationError(f"no stamped checkpoint covers leaf {log_index} (is the TSA reachable?)", step=4)
    return row.size


def prove_leaf(arch: Archive, index: int, name: str | None = None, *, size: int | None = None,
               renewals: set[int] | None = None, second: bool = True) -> LeafProof:
    """Steps 2-4 for the leaf at *index*: read it, include it in a stamped checkpoint, check everything.

    The newest stamped checkpoint covering it, or the one of *size*; with *renewals*, only the
    renewals of those numbers; without *second*, no second TSA's token (the evidence as an RFC 4998
    evidence record's first stamp saw it, ``ers``).
    """
    from earsiv.archive.renewal import chain, verify_chain

    # 2. The leaf as its bundle holds it.
    try:
        leaf = arch.log.read_leaf(index)
    except StoreError as exc:
        raise VerificationError(f"log leaf {index} cannot be read: {exc.detail}", name=name, step=2) from exc
    # 3. Included in a checkpoint signed by the archive key.
    size = stamped_checkpoint(arch, index) if size is None else size
    ring = arch.keys.ring()
    cp, sig, token = arch.log.load_checkpoint(size, ring.accepts)
    ring.verify_checkpoint(sig, cp)
    try:
        proof = InclusionProof(index, size, merkle.leaf_hash(leaf), tuple(arch.log.inclusion_proof(index, size)),
                               cp.root)
    except (VerificationError, StoreError) as first:
        # A damaged hash tile on the way (found, not believed): the same proof from the leaves.
        try:
            path = tuple(arch.log.inclusion_proof(index, size, from_leaves=True))
            proof = InclusionProof(index, size, merkle.leaf_hash(leaf), path, cp.root)
        except (VerificationError, StoreError) as exc:
            raise VerificationError(f"log leaf {index} is not proven by checkpoint {size}: {exc.detail} "
                                    "(the leaf changed since it was logged)", name=name, step=3) from exc
        log.warning("leaf %d: the hash tiles on its proof are damaged (%s); the proof was made from the leaves",
                    index, first)
    # 4. The checkpoint is stamped by a trusted TSA.
    if token is None:
        raise VerificationError(f"checkpoint {size} has no time-stamp token", name=name, step=4)
    trusted = arch.tsa_certificates()
    book = [r for r in arch.renewals.current() if renewals is None or r.seq in renewals]
    links = chain(arch.store, size, token, book)
    infos = verify_chain(size, cp.body(), links, trusted)  # the token, and every renewal of it
    info = infos[0]
    anchors = [i.anchor for i in infos]
    anchors = [a for n, a in enumerate(anchors) if a not in anchors[:n]]
    token2, links2, gen_time2 = None, [], None
    if second and arch.store.exists(checkpoint_key(size, ".tsr2")):
        token2 = arch.store.get(checkpoint_key(size, ".tsr2"))
        links2 = chain(arch.store, size, token2, book, ".tsr2")
        infos2 = verify_chain(size, cp.body(), links2, trusted)  # the second token, and its renewals
        gen_time2 = infos2[0].gen_time
        anchors += [i.anchor for i in infos2]
        anchors = [a for n, a in enumerate(anchors) if a not in anchors[:n]]
    return LeafProof(leaf, proof, cp, sig, token, info.gen_time, tuple(a for a in anchors if a is not None), token2,
                     gen_time2, tuple(links[1:]), tuple(links2[1:]))


def verify_document(arch: Archive, digest: str, leaf_index: int | None = None, *,
                    disposed_ok: bool = False) -> Proven:
    """Prove the document through its own leaf, or through the leaf of a holding of it.

    *leaf_index* names a ``holding`` leaf of this digest: a tenant's own evidence then
    proves its holding without showing another tenant's leaf.  *disposed_ok*: a document
    whose blob was disposed of after its retention is proven by its leaf alone (step 1 is
    its `disposal` leaf instead); otherwise that is a failure of step 1.
    """
    row = arch.index.get(digest)
    if row is None:
        raise DocumentNotFound(f"no document with digest {digest} in this archive", name=digest)
    index = row.log_index if leaf_index is None else leaf_index
    # 1. The blob decodes to bytes whose sha256 is the document's name.
    data: bytes | None = None
    gone = arch.index.disposal.disposed([digest]).get(digest)
    if gone is not None and not disposed_ok:
        raise VerificationError(f"blob disposed of on {gone[0].isoformat()} after its retention (disposal leaf "
                                f"{gone[1]})", name=digest, step=1)
    try:
        if gone is None:
            data = arch.original(digest)
    except StoreError as exc:
        raise VerificationError(f"blob missing or unreadable: {exc}", name=digest, step=1) from exc
    except VerificationError as exc:
        raise VerificationError(f"blob damaged: {exc.detail}", name=digest, step=1) from exc
    p = prove_leaf(arch, index, digest)
    # 2. The leaf at that position names exactly this document.
    try:
        entry = decode(p.leaf)
    except VerificationError as exc:
        raise VerificationError(f"log leaf {index}: {exc.detail}", name=digest, step=2) from exc
    if index == row.log_index:
        names_it = (isinstance(entry, DocumentEntry) and entry.digest == digest
                    and (data is None or entry.size == len(data)))
    else:
        names_it = isinstance(entry, HoldingEntry) and entry.digest == digest
    if not names_it:
        raise VerificationError(f"log leaf {index} does not describe this document", name=digest, step=2)
    return Proven(digest, index, p.proof.tree_size, p.checkpoint.time.isoformat(), p.gen_time.isoformat(), p)


def leaf_evidence(arch: Archive, log_index: int, name: str | None = None) -> dict[str, Any]:
    """Offline evidence of any leaf (an access event, a grant, a document): checked before it is handed out.

    ``{"v", "leaf" (its text), "proof" (InclusionProof), "checkpoint" (its text), "checkpoint_sig",
    "checkpoint_tsr" (base64), "stamp_time"}`` — one shape for the access log, prints and packages.
    """
    p = prove_leaf(arch, log_index, name)
    return _leaf_json(p)


def _leaf_json(p: LeafProof) -> dict[str, Any]:
    second = {"checkpoint_tsr2": base64.b64encode(p.token2).decode("ascii")} if p.token2 else {}
    if p.renewals:
        second["renewals"] = [{**_renewal_json(p, k), "tsr": base64.b64encode(link.token).decode("ascii")}
                              for k, link in enumerate(p.renewals, 1)]
    if p.renewals2:
        second["renewals2"] = [{**_renewal_json(p, k, ".tsr2"), "tsr": base64.b64encode(link.token).decode("ascii")}
                               for k, link in enumerate(p.renewals2, 1)]
    return {**second,
        "v": PROOF_VERSION,
        "leaf": p.leaf.decode("utf-8"),
        "proof": p.proof.to_json(),
        "checkpoint": p.checkpoint.body().decode("ascii"),
        "checkpoint_sig": base64.b64encode(p.signature).decode("ascii"),
        "checkpoint_tsr": base64.b64encode(p.token).decode("ascii"),
        "stamp_time": p.gen_time.isoformat(),
    }


def key_introductions(arch: Archive, cp: Checkpoint) -> list[dict[str, Any]]:
    """The ``archive-key`` leaves among the first ``cp.size`` leaves, each with its inclusion proof in *cp*:
    the chain from the first key (the archive's identity) to the key that signed *cp* (FORMAT.md §7c)."""
    out = []
    for index, _entry in arch.keys.ring().chain:
        if index >= cp.size:
            break
        leaf = arch.log.read_leaf(index)
        proof = InclusionProof(index, cp.size, merkle.leaf_hash(leaf), tuple(arch.log.inclusion_proof(index, cp.size)),
                               cp.root)
        out.append({"leaf": leaf.decode("utf-8"), **proof.to_json()})
    return out


def document_evidence(arch: Archive, digest: str, leaf_index: int | None = None) -> dict[str, Any]:
    """A document's evidence as one JSON object (what a print embeds): the leaf's, plus the keys to check it."""
    proven = verify_document(arch, digest, leaf_index)
    p = proven.evidence
    return {
        **_leaf_json(p),
        "digest": digest,
        "checkpoint_time": proven.checkpoint_time,
        "tsa_anchors_pem": _pem(p.anchors).decode(),
        "archive_key_pem": arch.archive_key().pem.decode(),  # the first key: the archive's identity
        "key_introductions": key_introductions(arch, p.checkpoint),
    }


README = """\
Evidence for document {digest}
=============================================================================

What is here
  original.xml    the document exactly as received (sha256 = {digest})
  leaf.json       log leaf {index} of archive {origin}
  proof.json      RFC 9162 inclusion proof of the leaf in a tree of {size} leaves
  checkpoint.txt  the checkpoint: tree size {size}, root {root}
  checkpoint.sig  Ed25519 signature of checkpoint.txt by {signing_key}
  checkpoint.tsr  RFC 3161 time-stamp token over sha256(checkpoint.txt){tsr2_line}
  tsa-anchors.pem the certificates the archive trusts the time-stamp authority
                  through (its CA, or its pinned certificate), as configured:
{anchor_lines}{tsa_note}
  archive-key.pem the archive's public key (key id {archive_key}): its first
                  checkpoint-signing key

Nothing in this folder vouches for itself: two things must be compared with
what you obtained separately (on paper from the archive's operator, from the
time-stamp authority's own publication), never with this folder.

0. The keys are the ones you were given:
     openssl pkey -pubin -in archive-key.pem -outform DER | sha256sum
   must print the archive key fingerprint you hold ({archive_key}).{rotated}
     openssl x509 -in tsa-anchors.pem -noout -subject -fingerprint -sha256
   must show a fingerprint the time-stamp authority publishes for itself
   (openssl prints it with colons; with several anchors, split the file:
   awk '/BEGIN/{{n++}} {{print > ("anchor-" n ".pem")}}' tsa-anchors.pem).

How to check the rest with standard tools (no earsiv code needed)
1. The document is the one the leaf names:
     sha256sum original.xml
     grep -o '"digest":"[0-9a-f]*"' leaf.json
   Both must show {digest}.
2. The time-stamp token stamps this checkpoint:
     openssl ts -verify -data checkpoint.txt -in checkpoint.tsr -token_in -CAfile tsa-anchors.pem -partial_chain -attime {attime}
   It must print "Verification: OK" (-partial_chain: an anchor may be the
   TSA's own pinned certificate rather than a root; -attime: the certificates
   are checked as of the stamp's own time, {stamp_time} = {attime} seconds
   since 1970, so the check still succeeds after the TSA's certificate has
   expired; that the stamp was made while it was valid is what the
   signature over the time shows).{tsr2_check} See the stamp time with:
     openssl ts -reply -in checkpoint.tsr -token_in -token_out -text | grep 'Time stamp'
3. The archive signed the checkpoint:
     openssl pkeyutl -verify -pubin -inkey {signing_key} -rawin -in checkpoint.txt -sigfile checkpoint.sig
   It must print "Signature Verified Successfully".
4. The leaf is in the tree whose root the checkpoint states: compute the leaf
   hash, then fold in each hash of proof.json as docs/FORMAT.md ("Inclusion
   proofs") describes; the result must equal the checkpoint's root:
     (printf '\\000'; cat leaf.json) | sha256sum      # leaf hash = {leaf_hash}
   proof.json lists, for each step, whether the proof hash goes on the left
   or the right, so each step is one command:
     (printf '\\001'; printf LEFT | xxd -r -p; printf RIGHT | xxd -r -p) | sha256sum
"""


RENEWAL_README = """
5. The time stamp was renewed ({count} time(s)) before the certificate it was
   made under expired (RFC 4998 time-stamp renewal): renewal-K.tsr stamps the
   root of a hash tree one of whose leaves is the sha256 of the token before
   it (checkpoint.tsr for K = 1, renewal-(K-1).tsr after). For each K:
     sha256sum checkpoint.tsr          # = "leaf" in renewal-1.json
     (printf '\\000'; printf LEAF | xxd -r -p) | sha256sum
   gives "leaf_hash" of its "proof"; fold in the proof's steps as in step 4;
   the result is its "root", and
     openssl ts -verify -digest ROOT -in renewal-K.tsr -token_in -CAfile tsa-anchors.pem -partial_chain \\
         -attime SECONDS
   must print "Verification: OK", with SECONDS the renewal's own stamp time
   (openssl ts -reply -in renewal-K.tsr -token_in -token_out -text | grep
   'Time stamp') as seconds since 1970: date -u -d "THAT TIME" +%s. Each
   renewal must be dated before the certificate of the token it renews
   expired (the same command on that token shows its time; openssl x509 the
   certificate's end):
   then each stamp vouches for the one before, back to checkpoint.tsr.
"""


KEYS_README = """
6. The key that signed checkpoint.txt was handed over from the archive key
   ({count} time(s); `earsiv key rotate`). key-K.json is the log leaf that
   introduces key-K.pem, with its inclusion proof in checkpoint.txt (check it
   as in step 4). For each K, with PREV = archive-key.pem for K = 1 and
   key-(K-1).pem after:
     openssl pkey -pubin -in PREV -outform DER | sha256sum         # = "old" in the leaf
     openssl pkey -pubin -in key-K.pem -outform DER | sha256sum    # = "new"
     openssl pkeyutl -verify -pubin -inkey PREV -rawin -in key-K.txt -sigfile key-K.old.sig
     openssl pkeyutl -verify -pubin -inkey key-K.pem -rawin -in key-K.txt -sigfile key-K.new.sig
   Both must print "Signature Verified Successfully": the key in force signed
   the hand-over, and the new key's holder signed it too. key-K.txt is what
   both signed, made from the leaf's fields (origin from checkpoint.txt):
     earsiv-key-rotation/1 / origin: O / old: OLD / new: NEW / at: AT
   one per line, each ending in a newline. The last, key-{last}.pem, must have
   the id on checkpoint.txt's "key:" line.
"""


RENEWAL2_README = """
5b. The second, independent token was renewed too ({count} time(s)), by its own
   renewals (made by another TSA where one was configured): renewal2-K.tsr and
   renewal2-K.json, checked as in step 5 with checkpoint.tsr2 for K = 1 and
   renewal2-(K-1).tsr after.
"""

ERS_README = """
7. evidence-record.ers is an RFC 4998 Evidence Record (DER) of original.xml,
   for any RFC 4998 implementation (e.g. Bouncy Castle's ERSEvidenceRecord,
   validatePresent with the document's bytes, then validate with the
   certificate of the TSA that made its newest stamp, which chains to this
   anchor of tsa-anchors.pem:
     {anchor}).
   Its first archive time stamp is this archive's hash-tree renewal {run}
   ({hash}, {made}): its reduced hash tree's first list
   is {hash}(original.xml) and {hash}(evidence-record-chain.json), and its
   RFC 3161 token ({hash} imprint) stamps the root of that tree.
   What it proves: original.xml existed, unchanged, when that token was made
   (its time is in the token), with no reliance on SHA-256; and so did
   evidence-record-chain.json, the earlier evidence of steps 1-5 (leaf, proof,
   checkpoint, its tokens and renewals as they stood; JSON, base64 for the
   binary parts), whose token(s) date the document back to its checkpoint.{chain_note}
   What it does not prove: that time of ingest by itself (the record dates the
   document at the renewal, not before; the earlier date is the chain's, and
   rests on SHA-256 where the chain uses it), that the archive signed
   anything, or anything about the TSA beyond its certificate: check the
   anchor as in step 0.{renewed}
"""

NOT_YOURS = """
   (evidence-record-chain.json is not in this folder: it is the evidence of the
   document's own log leaf, not of your holding; the record holds only its hash.)"""

NO_ERS_README = """
7. No RFC 4998 evidence record yet: an archive makes one for each document by
   hash-tree renewal (earsiv renew --hash sha384), after which this folder
   holds evidence-record.ers.
"""


def _renewed(record: Any) -> str:
    k = len(record.links) - 1
    if not k:
        return " The stamp has not been renewed (yet)."
    return (f"\n   Its stamp was renewed {k} time(s) (RFC 4998 §5.2, in the same chain: each\n"
            "   later archive time stamp's first list holds the hashes of the tokens\n"
            f"   before it), last on {record.info.gen_time.date().isoformat()}: the older stamps count as long\n"
            "   as the newest one can be trusted.")


def write_evidence(arch: Archive, digest: str, out: Path, leaf_index: int | None = None) -> dict:
    """The evidence folder.  Of a document disposed of after its retention: no original, and
    ``disposal.json``, the `disposal` leaf with its own proof (``leaf_evidence``'s shape): the
    document's leaf still proves it existed, that one when and why it went."""
    proven = verify_document(arch, digest, leaf_index, disposed_ok=True)
    p = proven.evidence
    out.mkdir(parents=True, exist_ok=True)
    cp = p.checkpoint
    gone = arch.index.disposal.disposed([digest]).get(digest)
    if gone is None:
        first = {"original.xml": arch.original(digest)}
    else:
        arch.checkpoint()  # the disposal leaf may be newer than the last checkpoint
        first = {"disposal.json": json.dumps(leaf_evidence(arch, gone[1], digest), indent=2).encode() + b"\n"}
    record = None  # the RFC 4998 evidence record of its newest hash-tree renewal, checked
    own = proven.log_index == arch.index.get(digest).log_index  # else a tenant's holding leaf
    if gone is None:
        # (the record stamps the document's own evidence, whose leaf a tenant does not see: a
        # tenant gets the record, which holds only its hash, and not that evidence)
        record = verify_record(arch, digest, arch.index.get(digest).log_index, first["original.xml"])
    anchors = list(p.anchors)
    for info in record.infos if record is not None else ():
        if info.anchor is not None and info.anchor not in anchors:
            anchors.append(info.anchor)
    files = {
        **first,
        "leaf.json": p.leaf,
        "proof.json": json.dumps({**p.proof.to_json(), "checkpoint": "checkpoint.txt"}, indent=2).encode() + b"\n",
        "checkpoint.txt": cp.body(),
        "checkpoint.sig": p.signature,
        "checkpoint.tsr": p.token,
        "tsa-anchors.pem": _pem(anchors),
        "archive-key.pem": arch.archive_key().pem,  # the first key: the archive's identity
    }
    intros = key_introductions(arch, cp)
    for k, item in enumerate(intros, 1):
        entry = json.loads(item["leaf"])
        statement = KeyEntry.statement_of(cp.origin, entry["old"], entry["new"], parse_time(entry["at"]))
        files[f"key-{k}.json"] = json.dumps(item, indent=2).encode() + b"\n"
        files[f"key-{k}.pem"] = entry["public_key"].encode("ascii")
        files[f"key-{k}.txt"] = statement
        files[f"key-{k}.old.sig"] = base64.b64decode(entry["old_signature"])
        files[f"key-{k}.new.sig"] = base64.b64decode(entry["new_signature"])
    if p.token2 is not None:
        files["checkpoint.tsr2"] = p.token2
    for k, link in enumerate(p.renewals, 1):
        files[f"renewal-{k}.tsr"] = link.token
        files[f"renewal-{k}.json"] = json.dumps(_renewal_json(p, k), indent=2).encode() + b"\n"
    for k, link in enumerate(p.renewals2, 1):
        files[f"renewal2-{k}.tsr"] = link.token
        files[f"renewal2-{k}.json"] = json.dumps(_renewal_json(p, k, ".tsr2"), indent=2).encode() + b"\n"
    if record is not None:
        files["evidence-record.ers"] = evidence_record(record, arch.index.get(digest).log_index)
        if own:
            files["evidence-record-chain.json"] = record.chain
    local = not arch.config.tsa_url
    files["README.txt"] = README.format(
        digest=digest, index=proven.log_index, origin=cp.origin, size=cp.size, root=cp.root.hex(), key_id=cp.key_id,
        leaf_hash=p.proof.leaf_hash.hex(), anchor_lines=anchor_lines(anchors, indent=18),
        tsr2_line=("\n  checkpoint.tsr2 a second token over it, by another, independent TSA"
                   if p.token2 is not None else ""),
        tsr2_check=("\n   The same for the second, independent token:\n"
                    "     openssl ts -verify -data checkpoint.txt -in checkpoint.tsr2 -token_in "
                    f"-CAfile tsa-anchors.pem -partial_chain -attime {_epoch(p.gen_time2)}"
                    if p.token2 is not None and p.gen_time2 is not None else ""),
        attime=_epoch(p.gen_time), stamp_time=format_time(p.gen_time),
        tsa_note=("\n                  (the archive's built-in local TSA: its stamps are the archive's\n"
                  "                  own, not a qualified time-stamp)") if local else "",
        signing_key="archive-key.pem" if not intros else f"key-{len(intros)}.pem",
        archive_key=arch.archive_key().key_id,
        rotated=("" if not intros else f"\n   The checkpoint is signed by a later key, {cp.key_id}\n"
                                          f"   (key-{len(intros)}.pem): step 6 shows how the archive key handed over to it."),
    ).encode() + (RENEWAL_README.format(count=len(p.renewals)).encode() if p.renewals else b"") + (
        RENEWAL2_README.format(count=len(p.renewals2)).encode() if p.renewals2 else b"") + (
        KEYS_README.format(count=len(intros), last=len(intros)).encode() if intros else b"") + (
        ERS_README.format(hash=record.run.hash, run=record.run.seq, made=record.infos[0].gen_time.date().isoformat(),
                          anchor=record.info.anchor.subject.rfc4514_string() if record.info.anchor else "?",
                          renewed=_renewed(record), chain_note="" if own else NOT_YOURS).encode()
        if record is not None else NO_ERS_README.encode() if own and gone is None else b"")
    for name, data in files.items():
        (out / name).write_bytes(data)
    return {"digest": digest, "directory": str(out), "files": sorted(files), "log_index": proven.log_index,
            "checkpoint_size": cp.size, "stamp_time": proven.stamp_time}


def _epoch(t: dt.datetime) -> int:
    """A stamp time as ``openssl -attime`` takes it: whole seconds since 1970 (rounded down, so never
    past the end of a certificate the stamp was made within)."""
    return int(t.timestamp())


def _renewal_json(p: LeafProof, k: int, suffix: str = ".tsr") -> dict[str, Any]:
    """Renewal *k* of the checkpoint's stamp (of *suffix*: ``.tsr2`` the second TSA's): which token it
    renews, that token's sha256 and the path to its root."""
    links, first, name = ((p.renewals, p.token, "renewal") if suffix == ".tsr" else
                          (p.renewals2, p.token2, "renewal2"))
    link = links[k - 1]
    renewed = first if k == 1 else links[k - 2].token
    return {"v": 1, "type": "renewal", "renews": f"checkpoint{suffix}" if k == 1 else f"{name}-{k - 1}.tsr",
            "leaf": hashlib.sha256(renewed).hexdigest(), "proof": link.renewal.proof(p.checkpoint.size).to_json()}


def _pem(certs) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def anchor_lines(certs, *, indent: int) -> str:
    """One line per anchor: its subject and sha256 fingerprint (what to compare with the TSA's publication)."""
    from earsiv.archive.tsa.settings import anchor_fingerprint

    pad = " " * indent
    return "\n".join(f"{pad}{c.subject.rfc4514_string()}\n{pad}  sha256 {anchor_fingerprint(c)}" for c in certs)


# -- hash-tree renewals (ers) of a document, checked ------------------------------------------------

def _chain_of(arch: Archive, ev: Evidence, item: Item) -> bytes:
    p = prove_leaf(arch, item.index, item.digest, size=ev.checkpoint, renewals=set(ev.renewals), second=ev.tsr2)
    if ev.tsr2 and p.token2 is None:
        raise VerificationError(f"the second token of checkpoint {ev.checkpoint} is gone", name=item.digest, step=4)
    return chain_bytes(_leaf_json(p))


def verify_record(arch: Archive, digest: str, index: int, data: bytes) -> Record | None:
    """The newest hash-tree renewal of the document, checked, or None if none covers it.

    Checks that its leaf holds the hash of *data* and of the document's evidence as it stood
    (made again from the store, so checked again), that its token, of the run's hash, stamps
    the root of its tree, and each renewal of that stamp (`verify_run_chain`). Raises
    `VerificationError` naming the object that fails.
    """
    run = arch.ers.covering(index)
    if run is None:
        return None
    item = run.items[run.position(index)]  # type: ignore[index]
    key = ers_key(run.seq, ".tsr")
    if item.digest != digest or item.doc != hashed(run.hash, data):
        raise VerificationError(f"hash-tree renewal {run.seq} does not stamp this document's bytes", name=key, step=4)
    chain = _chain_of(arch, run.evidence, item)
    if item.chain != hashed(run.hash, chain):
        raise VerificationError(f"hash-tree renewal {run.seq} does not stamp this document's evidence as it stood",
                                name=key, step=4)
    links = arch.ers.chain(run)
    infos = verify_run_chain(run, links, arch.tsa_certificates())
    return Record(run, chain, tuple(links), tuple(infos))


def verify_document_record(arch: Archive, digest: str) -> Record | None:
    """`verify_record` for a stored document, by its digest (None if disposed of or not covered)."""
    row = arch.index.get(digest)
    if row is None or arch.index.disposal.disposed([digest]).get(digest):
        return None
    return verify_record(arch, digest, row.log_index, arch.original(digest))
