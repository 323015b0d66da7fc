"""Verify an inspection package without an archive: only the package and its own keys.

``verify_package`` collects every finding (it never stops at the first) and
names the file each is about, relative to the bag directory.  It uses the
archive's own RFC 9162 and RFC 3161 code; the stand-alone ``verifier.py``
shipped in every package re-implements the same checks independently.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from earsiv.archive.errors import VerificationError
from earsiv.archive.keys import KeyRing, PublicKey, key_id_of
from earsiv.archive.log import merkle
from earsiv.archive.log.log import Checkpoint
from earsiv.archive.tsa.verify import verify_token

__all__ = ["PackageFinding", "PackageReport", "verify_package"]

_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_SMALL = 64 << 20  # evidence, keys and manifests are read whole; nothing legitimate is near this


@dataclass(frozen=True, slots=True)
class PackageFinding:
    file: str  # relative to the bag directory
    problem: str

    def to_json(self) -> dict:
        return {"file": self.file, "problem": self.problem}


@dataclass(slots=True)
class PackageReport:
    documents: int = 0
    checkpoints: list[int] = field(default_factory=list)
    description: str | None = None
    findings: list[PackageFinding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def empty(self) -> bool:
        return self.documents == 0

    def to_json(self) -> dict:
        return {"ok": self.ok, "documents": self.documents, "empty": self.empty, "checkpoints": self.checkpoints,
                "description": self.description, "failures": [f.to_json() for f in self.findings]}


class _Source:
    """The bag's files, from a zip (one top-level directory) or an unpacked directory."""

    def __init__(self, path: Path) -> None:
        self.zf: zipfile.ZipFile | None = None
        if path.is_dir():
            base = path if (path / "bagit.txt").is_file() else _single_bag(path)
            self.dir = base
            self.names = {p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()}
            return
        try:
            self.zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise VerificationError(f"not a readable zip: {exc}", name=str(path)) from exc
        members = [i for i in self.zf.infolist() if not i.is_dir()]
        tops = {i.filename.split("/", 1)[0] for i in members}
        if len(tops) != 1 or any("/" not in i.filename for i in members):
            raise VerificationError("the zip must hold exactly one top-level directory, the bag", name=str(path))
        self.prefix = tops.pop() + "/"
        self.names = set()
        for i in members:
            rel = i.filename[len(self.prefix):]
            if rel.startswith("/") or ".." in rel.split("/") or "\\" in rel:
                raise VerificationError(f"unsafe path {i.filename!r} in the zip", name=str(path))
            self.names.add(rel)

    def chunks(self, rel: str):
        with self.zf.open(self.prefix + rel) if self.zf else (self.dir / rel).open("rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk

    def read(self, rel: str) -> bytes:
        out = bytearray()
        for chunk in self.chunks(rel):
            out += chunk
            if len(out) > _SMALL:
                raise VerificationError("too large to be what it claims", name=rel)
        return bytes(out)

    def close(self) -> None:
        if self.zf:
            self.zf.close()


def _single_bag(path: Path) -> Path:
    subs = [p for p in path.iterdir() if (p / "bagit.txt").is_file()]
    return subs[0] if len(subs) == 1 else path


class _Verifier:
    def __init__(self, src: _Source, *, key_fingerprint: str | None = None,
                 tsa_anchors: list[x509.Certificate] | None = None) -> None:
        self.src = src
        self.key_fingerprint = key_fingerprint  # obtained outside the package; None: not compared
        self.tsa_anchors = tsa_anchors  # obtained outside the package; None: the bundled ones
        self.report = PackageReport()
        self.actual: dict[str, str] = {}
        self.trusted: list[x509.Certificate] = []

    def fail(self, rel: str, problem: str) -> None:
        self.report.findings.append(PackageFinding(rel, problem))

    def read(self, rel: str) -> bytes | None:
        if rel not in self.src.names:
            self.fail(rel, "missing")
            return None
        try:
            return self.src.read(rel)
        except VerificationError as exc:
            self.fail(rel, exc.detail)
            return None

    def json(self, rel: str):
        data = self.read(rel)
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError as exc:
            self.fail(rel, f"not readable JSON: {exc}")
            return None

    # -- the bag -------------------------------------------------------------
    def bag(self) -> None:
        names = self.src.names
        for rel in ("bagit.txt", "bag-info.txt", "manifest-sha256.txt", "tagmanifest-sha256.txt"):
            if rel not in names:
                self.fail(rel, "missing: every BagIt bag has it")
        if "bagit.txt" in names and not (self.read("bagit.txt") or b"").startswith(b"BagIt-Version: 1.0\n"):
            self.fail("bagit.txt", "not a BagIt 1.0 declaration")
        listed: dict[str, tuple[str, str]] = {}
        for manifest in ("manifest-sha256.txt", "tagmanifest-sha256.txt"):
            text = (self.read(manifest) or b"").decode("utf-8", "replace") if manifest in names else ""
            for n, line in enumerate(text.split("\n"), 1):
                if not line:
                    continue
                m = re.fullmatch(r"([0-9a-f]{64}) +(\S.*)", line)
                rel = m.group(2).removeprefix("./") if m else ""
                if not m or rel.startswith("data/") != (manifest == "manifest-sha256.txt") or ".." in rel.split("/"):
                    self.fail(manifest, f"line {n} is not '<sha256> <path>' of a file it may list")
                    continue
                listed[rel] = (m.group(1), manifest)
        issues: list[tuple[str, str, str]] = []  # (file, problem, the manifest that disagrees)
        for rel, (want, manifest) in sorted(listed.items()):
            if rel not in names:
                issues.append((rel, f"missing (listed in {manifest})", manifest))
                continue
            h = hashlib.sha256()
            for chunk in self.src.chunks(rel):
                h.update(chunk)
            self.actual[rel] = h.hexdigest()
            if self.actual[rel] != want:
                issues.append((rel, f"sha256 is {self.actual[rel]} but {manifest} says {want}", manifest))
        for rel in sorted(names - listed.keys() - {"tagmanifest-sha256.txt"}):
            manifest = "manifest-sha256.txt" if rel.startswith("data/") else "tagmanifest-sha256.txt"
            issues.append((rel, f"not listed in {manifest}", manifest))
        self._blame(issues)
        info = (self.read("bag-info.txt") or b"").decode("utf-8", "replace") if "bag-info.txt" in names else ""
        fields = dict(line.split(": ", 1) for line in info.splitlines() if ": " in line)
        self.report.description = fields.get("External-Description")
        payload = [r for r in listed if r.startswith("data/") and r in names]
        if "Payload-Oxum" in fields:
            octets = sum(self._size(r) for r in payload)
            if fields["Payload-Oxum"] != f"{octets}.{len(payload)}":
                self.fail("bag-info.txt", f"Payload-Oxum {fields['Payload-Oxum']} but the payload is {octets}.{len(payload)}")

    def _blame(self, issues: list[tuple[str, str, str]]) -> None:
        """Name the file that changed when files and manifests disagree.

        The tag manifest vouches for manifest-sha256.txt, which vouches for
        the payload.  A payload problem under an intact payload manifest is
        the payload file's; a changed payload manifest takes the blame for
        every payload problem; a payload manifest that disagrees with the tag
        manifest while the whole payload agrees with it points at the tag
        manifest.  A tag file has only the tag manifest above it: both are named.
        """
        payload = [i for i in issues if i[2] == "manifest-sha256.txt"]
        tags = [i for i in issues if i[2] == "tagmanifest-sha256.txt"]
        changed = [i for i in tags if i[0] == "manifest-sha256.txt"]
        for rel, problem, _m in payload:
            if changed:
                self.fail("manifest-sha256.txt", f"changed: for {rel}: {problem}")
            else:
                self.fail(rel, problem)
        for rel, problem, _m in tags:
            if rel != "manifest-sha256.txt":
                self.fail(rel, f"{problem}: {rel} or tagmanifest-sha256.txt changed")
            elif payload:
                self.fail(rel, f"changed: {problem}")
            else:
                self.fail("tagmanifest-sha256.txt", f"changed: its line for manifest-sha256.txt is wrong, though "
                                                    f"manifest-sha256.txt agrees with the whole payload ({problem})")

    def _size(self, rel: str) -> int:
        if self.src.zf:
            return self.src.zf.getinfo(self.src.prefix + rel).file_size
        return (self.src.dir / rel).stat().st_size

    # -- checkpoints -----------------------------------------------------------
    def checkpoints(self) -> dict[int, Checkpoint]:
        key_pem = self.read("data/keys/archive-key.pem")
        public = None
        if key_pem is not None:
            try:
                public = PublicKey(key_pem)
                key_id = key_id_of(key_pem)
            except ValueError as exc:
                self.fail("data/keys/archive-key.pem", f"not a public key: {exc}")
                public = None
            if public is not None and self.key_fingerprint is not None and key_id != self.key_fingerprint:
                self.fail("data/keys/archive-key.pem", f"its fingerprint is {key_id}, not {self.key_fingerprint} "
                                                       "(the one obtained separately): not the archive's key")
        # Packages made before pinned anchors carried tsa-cert.pem (what the archive had stored).
        anchors_rel = ("data/keys/tsa-cert.pem" if "data/keys/tsa-cert.pem" in self.src.names
                       and "data/keys/tsa-anchors.pem" not in self.src.names else "data/keys/tsa-anchors.pem")
        tsa_pem = self.read(anchors_rel)
        trusted: list[x509.Certificate] = []
        if tsa_pem is not None:
            try:
                trusted = x509.load_pem_x509_certificates(tsa_pem)
            except ValueError as exc:
                self.fail(anchors_rel, f"not PEM certificates: {exc}")
        if self.tsa_anchors is not None:
            trusted = list(self.tsa_anchors)
        self.trusted = trusted
        cps: dict[int, Checkpoint] = {}
        signed: dict[int, bytes] = {}
        sizes = sorted(int(r.rsplit("/", 1)[1]) for r in self.src.names
                       if r.startswith("data/checkpoints/") and r.rsplit("/", 1)[1].isdigit())
        for size in sizes:
            rel = f"data/checkpoints/{size:016d}"
            body = self.read(rel)
            if body is None:
                continue
            try:
                cp = Checkpoint.parse(body)
                if cp.size != size:
                    raise VerificationError(f"it claims {cp.size} leaves, its name {size}")
            except VerificationError as exc:
                self.fail(rel, exc.detail)
                continue
            cps[size] = cp
            sig, token = self.read(rel + ".sig"), self.read(rel + ".tsr")
            if sig is not None:
                signed[size] = sig
            second = self.read(rel + ".tsr2") if rel + ".tsr2" in self.src.names else None
            for suffix, tok in ((".tsr", token), (".tsr2", second)):
                if tok is None or not trusted:
                    continue
                try:
                    verify_token(tok, data=body, trusted_certs=trusted)
                except VerificationError as exc:
                    self.fail(rel + suffix, f"time-stamp token over {rel} does not verify: {exc}")
        if not sizes:
            self.fail("data/checkpoints", "no checkpoint in the package")
        if public is not None:
            # Each checkpoint by the key in force after its leaves: the first key, or the last
            # one the introductions (proven in the newest checkpoint) handed over to before it.
            ring = self.key_ring(public, cps)
            for size, sig in signed.items():
                rel = f"data/checkpoints/{size:016d}"
                try:
                    ring.verify_checkpoint(sig, cps[size])
                except VerificationError as exc:
                    self.fail(rel + ".sig" if "names key" not in exc.detail else rel, exc.detail)
        if trusted:
            self.renewals(cps, trusted)
        self.report.checkpoints = sorted(cps)
        return cps

    def key_ring(self, first: PublicKey, cps: dict[int, Checkpoint]) -> KeyRing:
        """The first key and the keys ``data/keys/introductions`` hand over to, each proven in a checkpoint."""
        from earsiv.archive.log import merkle
        from earsiv.archive.log.entries import KeyEntry, decode
        from earsiv.archive.log.proofs import InclusionProof

        origin = next(iter(cps.values())).origin if cps else ""
        ring = KeyRing(first, origin)
        for rel in sorted(r for r in self.src.names if r.startswith("data/keys/introductions/") and r.endswith(".json")):
            data = self.read(rel)
            try:
                doc = json.loads(data or b"")
                proof = InclusionProof.from_json(doc)
                leaf = doc["leaf"].encode("utf-8")
                cp = cps.get(proof.tree_size)
                if cp is None or proof.root != cp.root or proof.leaf_hash != merkle.leaf_hash(leaf):
                    raise VerificationError("its inclusion proof does not lead to a checkpoint of the package")
                entry = decode(leaf)
                if not isinstance(entry, KeyEntry):
                    raise VerificationError("its leaf is not an archive-key entry")
                ring.add(proof.log_index, entry)
            except (ValueError, KeyError, TypeError, AttributeError, VerificationError) as exc:
                self.fail(rel, f"key introduction refused: {getattr(exc, 'detail', exc)}")
        return ring

    def renewals(self, cps: dict[int, Checkpoint], trusted: list[x509.Certificate]) -> None:
        """Each checkpoint's chain of renewed stamps (FORMAT.md §7b), as the archive checks it."""
        from earsiv.archive.renewal import CHAINS, Link, Renewal, verify_chain

        book = []
        for rel in sorted(r for r in self.src.names if r.startswith("data/renewals/") and r.endswith(".json")):
            seq = int(rel.rsplit("/", 1)[1][:-5])
            data, token = self.read(rel), self.read(rel[:-5] + ".tsr")
            if data is None or token is None:
                continue
            try:
                book.append((Renewal.parse(seq, data), token))
            except VerificationError as exc:
                self.fail(rel, exc.detail)
        for (size, cp), suffix in itertools.product(cps.items(), CHAINS):
            rel = f"data/checkpoints/{size:016d}{suffix}"
            first = self.read(rel) if suffix == ".tsr" or rel in self.src.names else None
            links = [Link(f"log/checkpoints/{size:016d}{suffix}", first, None)] if first is not None else []
            links += [Link(f"log/renewals/{r.seq:016d}.tsr", tok, r) for r, tok in book
                      if r.chain == suffix and r.position(size) is not None]
            if len(links) < 2:
                continue
            try:
                verify_chain(size, cp.body(), links, trusted)
            except VerificationError as exc:
                where = (exc.name or "").replace("log/renewals/", "data/renewals/") or "data/renewals"
                self.fail(where, f"the renewed stamp of checkpoint {size} does not hold: {exc.detail}")

    def consistency(self, cps: dict[int, Checkpoint]) -> None:
        sizes = sorted(cps)
        needed = set(itertools.pairwise(sizes)) | {(s, sizes[-1]) for s in sizes[:-1]}
        for rel in sorted(r for r in self.src.names if r.startswith("data/consistency/")):
            doc = self.json(rel)
            if doc is None:
                continue
            try:
                old, new = int(doc["old_size"]), int(doc["new_size"])
                path = [bytes.fromhex(h) for h in doc["hashes"]]
                if doc.get("v") != 1 or rel != f"data/consistency/{old:016d}-{new:016d}.json":
                    raise ValueError("unknown version or misnamed")
            except (KeyError, TypeError, ValueError) as exc:
                self.fail(rel, f"not a consistency proof: {exc}")
                continue
            if old not in cps or new not in cps:
                self.fail(rel, "does not link two checkpoints of this package")
                continue
            try:
                merkle.verify_consistency(old, new, cps[old].root, cps[new].root, path)
            except VerificationError as exc:
                self.fail(rel, f"checkpoint {old} is not a prefix of checkpoint {new}: {exc.detail}")
            needed.discard((old, new))
        for old, new in sorted(needed):
            self.fail(f"data/consistency/{old:016d}-{new:016d}.json", "missing: nothing links these checkpoints")

    # -- documents -------------------------------------------------------------
    def documents(self, cps: dict[int, Checkpoint]) -> None:
        manifest = self.json("data/manifest.json")
        if not isinstance(manifest, dict) or not isinstance(manifest.get("documents"), list):
            if manifest is not None:
                self.fail("data/manifest.json", "not a package manifest")
            return
        rows = manifest["documents"]
        self.report.documents = len(rows)
        if manifest.get("document_count") != len(rows):
            self.fail("data/manifest.json", "document_count does not match its rows")
        files = set()
        for row in rows:
            self.document(row, cps)
            files.add(row.get("file"))
            if row.get("pdf"):
                files.add(row["pdf"])
        for rel in sorted(self.src.names):
            if rel.startswith(("data/documents/", "data/pdf/")) and rel not in files:
                self.fail(rel, "not in data/manifest.json")
        self.csv_agrees(rows)

    def csv_agrees(self, rows: list[dict]) -> None:
        import csv
        import io

        data = self.read("data/manifest.csv")
        if data is None:
            return
        try:
            got = [(r["digest"], r["file"]) for r in csv.DictReader(io.StringIO(data.decode("utf-8")))]
        except (KeyError, UnicodeDecodeError, csv.Error) as exc:
            self.fail("data/manifest.csv", f"not a package manifest: {exc}")
            return
        if got != [(r.get("digest"), r.get("file")) for r in rows]:
            self.fail("data/manifest.csv", "lists other documents than data/manifest.json")

    def document(self, row: dict, cps: dict[int, Checkpoint]) -> None:
        digest, doc = str(row.get("digest", "")), str(row.get("file", ""))
        if not _HEX64.match(digest) or not doc.startswith("data/documents/"):
            self.fail("data/manifest.json", f"a row has no valid digest or file: {digest!r}")
            return
        ev = f"data/evidence/{digest}"
        if doc not in self.src.names:
            self.fail(doc, "missing (named in data/manifest.json)")
        else:
            actual = self.actual.get(doc) or hashlib.sha256(self.src.read(doc)).hexdigest()
            if actual != digest:
                self.fail(doc, f"sha256 is {actual}, not the digest {digest} its leaf names")
        leaf, proof = self.read(f"{ev}/leaf.json"), self.json(f"{ev}/proof.json")
        if leaf is None or not isinstance(proof, dict):
            return
        if f"{ev}/hashtree.json" in self.src.names and doc in self.src.names:
            self.hashtree(ev, doc, leaf)
        try:
            entry = json.loads(leaf)
            if entry.get("type") != "document" or entry.get("digest") != digest:
                raise ValueError(f"it does not name document {digest}")
        except (ValueError, AttributeError) as exc:
            self.fail(f"{ev}/leaf.json", f"not this document's log leaf: {exc}")
        try:
            index, size = int(proof["log_index"]), int(proof["tree_size"])
            path = [bytes.fromhex(h) for h in proof["hashes"]]
            if proof.get("v") != 1 or proof.get("digest") != digest or proof.get("document") != doc:
                raise ValueError("of another version or another document")
        except (KeyError, TypeError, ValueError) as exc:
            self.fail(f"{ev}/proof.json", f"not this document's inclusion proof: {exc}")
            return
        lh = merkle.leaf_hash(leaf)
        cp = cps.get(size)
        if cp is None or proof.get("checkpoint") != f"data/checkpoints/{size:016d}":
            self.fail(f"{ev}/proof.json", f"names no checkpoint of {size} leaves in this package")
            return
        try:
            merkle.verify_inclusion(index, size, lh, path, cp.root)
            if proof.get("leaf_hash") != lh.hex() or proof.get("root") != cp.root.hex():
                raise VerificationError("its leaf_hash or root is not what it proves")
            _check_steps(proof.get("steps"), lh, cp.root)
        except VerificationError as exc:
            self.fail(f"{ev}/proof.json", f"does not prove leaf.json is in checkpoint {size}: {exc.detail}")


    def hashtree(self, ev: str, doc: str, leaf: bytes) -> None:
        """The document's hash-tree renewal (FORMAT.md §7d): its first list holds the new hash of the
        document and of the evidence it stamped (whose leaf is this leaf.json), its path leads to the
        root, and the run's token, of that hash, stamps the root."""
        from earsiv.archive.ers import HASHES, recover_root

        rel = f"{ev}/hashtree.json"
        ht = self.json(rel)
        try:
            name, token_rel, chain_rel = str(ht["hash"]), str(ht["token"]), str(ht["chain"])
            first = [bytes.fromhex(h) for h in ht["first"]]
            path = [bytes.fromhex(h) for h in ht["path"]]
            root = bytes.fromhex(ht["root"])
            if (ht.get("v") != 1 or ht.get("type") != "hashtree-renewal" or name not in HASHES or len(first) != 2
                    or not re.fullmatch(r"data/hashtrees/[0-9]{16}\.tsr", token_rel)
                    or chain_rel != f"{ev}/evidence-record-chain.json"):
                raise ValueError("of another version or another document")
        except (KeyError, TypeError, ValueError) as exc:
            self.fail(rel, f"not a hash-tree renewal of this document: {exc}")
            return
        if hashlib.new(name, self.src.read(doc)).digest() != first[0]:
            self.fail(rel, f"its first {name} hash is not the hash of {doc}")
        chain = self.read(chain_rel)
        if chain is not None:
            try:
                same = json.loads(chain)["leaf"].encode("utf-8") == leaf
            except (ValueError, KeyError, TypeError, AttributeError):
                same = False
            if hashlib.new(name, chain).digest() != first[1]:
                self.fail(chain_rel, f"its {name} hash is not the second of {rel}")
            elif not same:
                self.fail(chain_rel, "is not the evidence of this document's leaf.json")
        if recover_root(name, first, path) != root:
            self.fail(rel, "its path does not lead to its root")
            return
        token = self.read(token_rel)
        if token is None or not self.trusted:
            return
        try:
            info = verify_token(token, message_imprint=root, trusted_certs=self.trusted)
            if info.hash_algorithm != name:
                raise VerificationError(f"it is a {info.hash_algorithm} stamp, not {name}")
        except VerificationError as exc:
            self.fail(token_rel, f"the hash-tree renewal token over the root of {rel} does not verify: {exc}")
            return
        self.hashtree_renewals(rel, name, ht.get("renewals") or [], [token], info)

    def hashtree_renewals(self, rel: str, name: str, renewals: list, tokens: list[bytes], last) -> None:
        """Each renewal of the run's stamp (RFC 4998 §5.2): its first list is the hashes of the tokens
        before it, its path leads to its root, its token of that hash stamps the root, made while the
        token before could be trusted."""
        from earsiv.archive.ers import recover_root
        from earsiv.archive.renewal import _valid_until

        for entry in renewals:
            try:
                token_rel = str(entry["token"])
                first = [bytes.fromhex(h) for h in entry["first"]]
                path = [bytes.fromhex(h) for h in entry["path"]]
                root = bytes.fromhex(entry["root"])
                if not re.fullmatch(r"data/hashtrees/renewals/[0-9]{16}\.tsr", token_rel):
                    raise ValueError(f"names {token_rel}")
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                self.fail(rel, f"a renewal of its stamp is not readable: {exc}")
                return
            if first != [hashlib.new(name, t).digest() for t in tokens]:
                self.fail(rel, f"the renewal {token_rel} does not renew the stamps before it as they are")
                return
            token = self.read(token_rel)
            if token is None:
                return
            try:
                if recover_root(name, first, path) != root:
                    raise VerificationError("its path does not lead to its root")
                info = verify_token(token, message_imprint=root, trusted_certs=self.trusted)
                if info.hash_algorithm != name:
                    raise VerificationError(f"it is a {info.hash_algorithm} stamp, not {name}")
                if not last.gen_time <= info.gen_time <= _valid_until(last):
                    raise VerificationError(f"made {info.gen_time.isoformat()}, not while the stamp before could be "
                                            f"trusted (until {_valid_until(last).isoformat()})")
            except VerificationError as exc:
                self.fail(token_rel, f"the renewal of the stamp of {rel} does not hold: {exc}")
                return
            tokens.append(token)
            last = info


def _check_steps(steps, leaf_hash: bytes, root: bytes) -> None:
    r = leaf_hash
    try:
        for step in steps:
            left, right = bytes.fromhex(step["left"]), bytes.fromhex(step["right"])
            if r not in (left, right) or merkle.node_hash(left, right).hex() != step["result"]:
                raise ValueError
            r = bytes.fromhex(step["result"])
    except (KeyError, TypeError, ValueError) as exc:
        raise VerificationError("its written-out steps are wrong") from exc
    if r != root:
        raise VerificationError("its written-out steps do not end at the root")


def verify_package(path: Path, *, key_fingerprint: str | None = None,
                   tsa_anchors: list[x509.Certificate] | None = None) -> PackageReport:
    """Check a package (zip or unpacked directory); every problem becomes a finding.

    *key_fingerprint* (the archive key's, hex) and *tsa_anchors*, when given, come from
    outside the package and are what its keys are held against.
    """
    src = _Source(Path(path))
    try:
        v = _Verifier(src, key_fingerprint=key_fingerprint.lower() if key_fingerprint else None,
                      tsa_anchors=tsa_anchors)
        v.bag()
        cps = v.checkpoints()
        if cps:
            v.consistency(cps)
        v.documents(cps)
        return v.report
    finally:
        src.close()
