#!/usr/bin/env python3
"""Verify an earsiv inspection package with Python 3 and openssl only.

    python3 verifier.py .                 # inside the unpacked package
    python3 verifier.py PACKAGE.zip       # or the zip as received
    python3 verifier.py . --key-fingerprint HEX --tsa-anchors TSA-CA.pem
                                          # holding the package's keys against ones
                                          # obtained separately (recommended)

This file is deliberately self-contained (Python 3.8+ standard library and the
`openssl` command, 3.0 or newer): an inspector can read every line of it and
needs none of the software that made the package.  It checks

  1. the BagIt manifests: every file listed is present and has its sha256,
     and no payload file is unlisted;
  2. every document: its sha256 is the digest its log leaf names;
  3. every inclusion proof: recomputed from the leaf (RFC 9162 2.1.3.2), it
     ends at the root its checkpoint states (and its written-out steps agree);
  4. every checkpoint: its Ed25519 signature by the archive key (whose
     fingerprint must be --key-fingerprint, when given) or by a key the archive
     key handed over to (data/keys/introductions: a log leaf proven in a
     checkpoint, signed by the key in force and the new one), and its RFC 3161
     time-stamp token(s) against the TSA anchors (--tsa-anchors, else the
     bundled data/keys/tsa-anchors.pem);
  5. the consistency proofs (RFC 9162 2.1.4.2) linking the checkpoints;
  6. the renewals of the checkpoints' stamps (data/renewals; of .tsr, or of
     .tsr2 where a renewal says "chain": "tsr2"): each covers the newest stamp before it, its token verifies over its tree's root, and it was
     made while the renewed stamp's certificate was valid;
  7. the hash-tree renewals of documents (data/evidence/D/hashtree.json): their
     first list holds the new hash (e.g. sha384) of the document and of the
     evidence it stamped, the RFC 4998 path leads to the root, and the token of
     data/hashtrees verifies over that root; each renewal of that stamp lists the
     hashes of the tokens before it and was made while the one before was valid.
     (evidence-record.ers, the same as an RFC 4998 evidence record, is for RFC
     4998 tools and is not read here.)

It prints one line per problem, naming the file, and exits 0 only when there
is none.
"""

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

__all__ = ["main", "verify"]

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def leaf_hash(leaf):
    return hashlib.sha256(b"\x00" + leaf).digest()


def ers_node(name, values):
    """RFC 4998 4.2: the hash of the concatenation of the children's hashes in ascending order."""
    return hashlib.new(name, b"".join(sorted(values))).digest()


def mth(hashes):
    """RFC 9162 2.1.1: the root of a tree whose leaf hashes are *hashes* (at least one)."""
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return node(mth(hashes[:k]), mth(hashes[k:]))


def openssl_time(text, label):
    """The UTC time openssl prints after *label* ("Time stamp: Dec  7 01:03:05.123 2026 GMT"), or None."""
    import datetime

    m = re.search(label + r"\s*(\w{3}) +(\d+) (\d\d:\d\d:\d\d)(?:\.\d+)? (\d{4}) GMT", text)
    if not m:
        return None
    return datetime.datetime.strptime("%s %s %s %s" % m.groups(), "%b %d %H:%M:%S %Y")


def inclusion_root(index, size, leaf, path):
    """RFC 9162 2.1.3.2: the root that *path* leads to from *leaf*, or None."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def consistent(old_size, new_size, old_root, new_root, path):
    """RFC 9162 2.1.4.2: is the tree (old_size, old_root) a prefix of (new_size, new_root)?"""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == 0 or old_size == new_size:
        return not path and (old_size == 0 or old_root == new_root)
    if not path:
        return False
    path = list(path)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


class Checker:
    def __init__(self, bag):
        self.bag = bag
        self.problems = []
        self.actual = {}  # relative path -> sha256, for every file checked
        self.origin = ""  # the log's origin, from the checkpoints
        self.tmp = tempfile.mkdtemp(prefix="earsiv-verify-")  # keys and statements, for openssl

    def fail(self, name, problem):
        self.problems.append((name, problem))

    def path(self, rel):
        return os.path.join(self.bag, *rel.split("/"))

    def read(self, rel, limit=64 << 20):
        try:
            with open(self.path(rel), "rb") as f:
                data = f.read(limit + 1)
        except OSError as exc:
            self.fail(rel, f"cannot be read: {exc.strerror}")
            return None
        if len(data) > limit:
            self.fail(rel, "too large")
            return None
        return data

    def json(self, rel):
        data = self.read(rel)
        if data is None:
            return None
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            self.fail(rel, f"not readable JSON: {exc}")
            return None

    # 1. BagIt
    def manifests(self):
        files = set()
        for root, _dirs, names in os.walk(self.bag):
            for n in names:
                files.add(os.path.relpath(os.path.join(root, n), self.bag).replace(os.sep, "/"))
        for rel in ("bagit.txt", "bag-info.txt", "manifest-sha256.txt", "tagmanifest-sha256.txt"):
            if rel not in files:
                self.fail(rel, "missing: a BagIt bag must have it")
        if "bagit.txt" in files:
            bagit = self.read("bagit.txt") or b""
            if not bagit.startswith(b"BagIt-Version: 1.0\n"):
                self.fail("bagit.txt", "not a BagIt 1.0 declaration")
        listed = {}
        for manifest in ("manifest-sha256.txt", "tagmanifest-sha256.txt"):
            if manifest not in files:
                continue
            for n, line in enumerate((self.read(manifest) or b"").decode("utf-8", "replace").split("\n"), 1):
                if not line:
                    continue
                m = re.match(r"^([0-9a-f]{64}) +(\S.*)$", line)
                if not m:
                    self.fail(manifest, "line %d is not '<sha256> <path>'" % n)
                    continue
                rel = m.group(2)
                rel = rel.removeprefix("./")
                payload = rel.startswith("data/")
                if payload != (manifest == "manifest-sha256.txt") or ".." in rel.split("/"):
                    self.fail(manifest, "line %d names %s, which does not belong in it" % (n, rel))
                    continue
                listed[rel] = (m.group(1), manifest)
        issues = []  # (file, problem, the manifest that disagrees)
        for rel, (want, manifest) in sorted(listed.items()):
            if rel not in files:
                issues.append((rel, f"missing (listed in {manifest})", manifest))
                continue
            self.actual[rel] = sha256_file(self.path(rel))
            if self.actual[rel] != want:
                issues.append((rel, f"sha256 is {self.actual[rel]} but {manifest} says {want}", manifest))
        for rel in sorted(files - set(listed) - {"tagmanifest-sha256.txt"}):
            manifest = "manifest-sha256.txt" if rel.startswith("data/") else "tagmanifest-sha256.txt"
            issues.append((rel, "not listed in " + manifest, manifest))
        # Who changed: the tag manifest vouches for manifest-sha256.txt, which
        # vouches for the payload; a tag file has only the tag manifest above it.
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
                self.fail(rel, "changed: " + problem)
            else:
                self.fail("tagmanifest-sha256.txt", f"changed: its line for manifest-sha256.txt is wrong ({problem})")

    def openssl(self, *args):
        try:
            p = subprocess.run(["openssl"] + list(args), capture_output=True, timeout=60)
        except OSError as exc:
            return False, f"cannot run openssl: {exc}"
        out = (p.stdout + p.stderr).decode("utf-8", "replace").strip().splitlines()
        return p.returncode == 0, (out[-1] if out else "exit %d" % p.returncode)

    # 4. checkpoints
    def checkpoints(self, key_pem, tsa_pem, expected_key=None):
        roots, keyed = {}, {}
        folder = self.path("data/checkpoints")
        names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        key_id = None
        ok, _ = self.openssl("pkey", "-pubin", "-in", key_pem, "-noout")
        if ok:
            p = subprocess.run(["openssl", "pkey", "-pubin", "-in", key_pem, "-outform", "DER"], stdout=subprocess.PIPE)
            key_id = hashlib.sha256(p.stdout).hexdigest()
        else:
            self.fail("data/keys/archive-key.pem", "not a public key openssl can read")
        if key_id and expected_key and key_id != expected_key.lower():
            self.fail("data/keys/archive-key.pem", f"its fingerprint is {key_id}, not {expected_key.lower()} "
                      "(the one obtained separately): not the archive's key")
        for name in names:
            if not name.isdigit():
                continue
            rel = "data/checkpoints/" + name
            body = self.read(rel) or b""
            fields = {}
            lines = body.decode("ascii", "replace").split("\n")
            for line in lines[1:]:
                if ": " in line:
                    k, v = line.split(": ", 1)
                    fields[k] = v
            if lines[0] != "earsiv-checkpoint/1" or fields.get("size") != str(int(name)) or not HEX64.match(fields.get("root", "")):
                self.fail(rel, "not a checkpoint of %d leaves in format earsiv-checkpoint/1" % int(name))
                continue
            roots[int(name)] = bytes.fromhex(fields["root"])
            self.origin = fields.get("origin", "")
            keyed[int(name)] = fields.get("key")
            for suffix in (".sig", ".tsr"):
                if not os.path.isfile(self.path(rel + suffix)):
                    self.fail(rel + suffix, "missing: every checkpoint needs its signature and token")
            for suffix in (".tsr", ".tsr2"):  # .tsr2: a second, independent TSA's token, if any
                if not os.path.isfile(self.path(rel + suffix)):
                    continue
                ok, msg = self.openssl("ts", "-verify", "-data", self.path(rel), "-in", self.path(rel + suffix),
                                       "-token_in", "-CAfile", tsa_pem, "-partial_chain")
                if not ok:
                    self.fail(rel + suffix, f"the time-stamp token over {rel} does not verify ({msg})")
        if not roots:
            self.fail("data/checkpoints", "no checkpoint in the package")
        # Each checkpoint by the key in force after its leaves: the archive key, or the last
        # key the introductions (proven in a checkpoint of the package) handed over to before it.
        chain = self.key_chain(key_pem, key_id, roots) if key_id else []
        for size, named in sorted(keyed.items()):
            rel = "data/checkpoints/%016d" % size
            _index, pem, want = [c for c in chain if c[0] < size][-1] if chain else (None, None, None)
            if want is None:
                continue
            if named != want:
                self.fail(rel, f"signed by key {named}, but the key in force after {size} leaves is {want}")
                continue
            if os.path.isfile(self.path(rel + ".sig")):
                ok, msg = self.openssl("pkeyutl", "-verify", "-pubin", "-inkey", pem, "-rawin",
                                       "-in", self.path(rel), "-sigfile", self.path(rel + ".sig"))
                if not ok:
                    self.fail(rel + ".sig", f"the archive key's signature of {rel} does not verify ({msg})")
        return roots

    # 4a. key introductions (FORMAT.md 7c): each archive-key leaf is in a checkpoint, names the
    # key in force as "old", and both keys signed its statement
    def key_chain(self, key_pem, key_id, roots):
        chain = [(-1, key_pem, key_id)]
        folder = self.path("data/keys/introductions")
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json")) if os.path.isdir(folder) else []
        for name in names:
            rel = "data/keys/introductions/" + name
            doc = self.json(rel)
            try:
                leaf = doc["leaf"].encode("utf-8")
                index, size = int(doc["log_index"]), int(doc["tree_size"])
                path = [bytes.fromhex(h) for h in doc["hashes"]]
                entry = json.loads(leaf)
                if entry.get("v") != 1 or entry.get("type") != "archive-key":
                    raise ValueError("not an archive-key leaf")
                old, new, at = str(entry["old"]), str(entry["new"]), str(entry["at"])
                signatures = (base64.b64decode(entry["old_signature"]), base64.b64decode(entry["new_signature"]))
                public = str(entry["public_key"]).encode("ascii")
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                self.fail(rel, "not a key introduction: %s" % exc)
                continue
            if size not in roots or inclusion_root(index, size, leaf_hash(leaf), path) != roots[size]:
                self.fail(rel, "its inclusion proof does not lead to checkpoint %d of this package" % size)
                continue
            if index <= chain[-1][0] or old != chain[-1][2]:
                self.fail(rel, "it hands over from %s, but the key in force is %s" % (old, chain[-1][2]))
                continue
            pem = os.path.join(self.tmp, "key-%s.pem" % new)
            with open(pem, "wb") as f:
                f.write(public)
            p = subprocess.run(["openssl", "pkey", "-pubin", "-in", pem, "-outform", "DER"], capture_output=True)
            if p.returncode != 0 or hashlib.sha256(p.stdout).hexdigest() != new:
                self.fail(rel, "its public key is not the key %s it names" % new)
                continue
            statement = os.path.join(self.tmp, "statement-%d.txt" % index)
            with open(statement, "wb") as f:
                f.write(("earsiv-key-rotation/1\norigin: %s\nold: %s\nnew: %s\nat: %s\n"
                         % (self.origin, old, new, at)).encode("ascii"))
            good = True
            for who, inkey, sig in (("old", chain[-1][1], signatures[0]), ("new", pem, signatures[1])):
                sig_file = os.path.join(self.tmp, "statement-%d.%s.sig" % (index, who))
                with open(sig_file, "wb") as f:
                    f.write(sig)
                ok, msg = self.openssl("pkeyutl", "-verify", "-pubin", "-inkey", inkey, "-rawin",
                                       "-in", statement, "-sigfile", sig_file)
                if not ok:
                    self.fail(rel, "the %s key's signature of the hand-over does not verify (%s)" % (who, msg))
                    good = False
            if good:
                chain.append((index, pem, new))
        return chain

    # 4b. renewed stamps (FORMAT.md 7b): each renewal covers the newest stamp of each of its
    # checkpoints, by its sha256; its token stamps the root of its tree; it was made before
    # the certificate of the stamp it renews ended
    def renewals(self, roots, tsa_pem):
        folder = self.path("data/renewals")
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json")) if os.path.isdir(folder) else []
        # the newest stamp of each chain: a checkpoint's own (.tsr), a second TSA's (.tsr2)
        newest = {(size, c): "log/checkpoints/%016d.%s" % (size, c) for size in roots for c in ("tsr", "tsr2")}
        for name in names:
            rel, tsr = "data/renewals/" + name, "data/renewals/" + name[:-5] + ".tsr"
            doc = self.json(rel)
            try:
                if doc.get("v") != 1 or doc.get("hash") != "sha256" or doc.get("chain", "tsr") not in ("tsr", "tsr2"):
                    raise ValueError("unknown renewal format")
                which = doc.get("chain", "tsr")
                items = [(int(i["checkpoint"]), str(i["covers"]), str(i["leaf"])) for i in doc["items"]]
                root = mth([leaf_hash(bytes.fromhex(leaf)) for _s, _c, leaf in items]).hex()
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                self.fail(rel, "not a renewal: %s" % exc)
                continue
            ok, msg = self.openssl("ts", "-verify", "-digest", root, "-in", self.path(tsr), "-token_in",
                                   "-CAfile", tsa_pem, "-partial_chain")
            if not ok:
                self.fail(tsr, "the renewal token over the root of %s does not verify (%s)" % (rel, msg))
                continue
            made = self.stamp_time(tsr)
            for size, covers, leaf in items:
                if size not in roots:
                    continue  # a checkpoint this package does not use
                if covers != newest[size, which]:
                    self.fail(rel, "renews %s for checkpoint %d, not its newest stamp %s" % (
                        covers, size, newest[size, which]))
                    continue
                local = "data/" + covers[len("log/"):]
                if not os.path.isfile(self.path(local)) or sha256_file(self.path(local)) != leaf:
                    self.fail(rel, "its leaf for checkpoint %d is not the sha256 of %s" % (size, local))
                    continue
                ends = self.signer_end(local)
                if made is None or ends is None or made > ends:
                    self.fail(rel, "made %s, not while the certificate of %s was valid (until %s)" % (made, local, ends))
                    continue
                newest[size, which] = "log/renewals/" + name[:-5] + ".tsr"

    def stamp_time(self, rel):
        p = subprocess.run(["openssl", "ts", "-reply", "-in", self.path(rel), "-token_in", "-text"],
                           capture_output=True, timeout=60)
        return openssl_time(p.stdout.decode("utf-8", "replace"), "Time stamp:")

    def signer_end(self, rel):
        """When the certificate of the token's signer (the first it carries, as TSAs send it) ends."""
        p = subprocess.run(["openssl", "pkcs7", "-inform", "DER", "-in", self.path(rel), "-print_certs"],
                           capture_output=True, timeout=60)
        q = subprocess.run(["openssl", "x509", "-noout", "-enddate"], input=p.stdout, capture_output=True, timeout=60)
        return openssl_time(q.stdout.decode("utf-8", "replace"), "notAfter=")

    # 2. and 3. documents
    def documents(self, rows, roots, tsa_pem):
        for row in rows:
            digest = row.get("digest", "")
            doc, ev = row.get("file", ""), f"data/evidence/{digest}"
            if not HEX64.match(digest):
                self.fail("data/manifest.json", "a row has no valid digest")
                continue
            got = self.actual.get(doc) or (sha256_file(self.path(doc)) if os.path.isfile(self.path(doc)) else None)
            if got is None:
                self.fail(doc or digest, "document missing")
            elif got != digest:
                self.fail(doc, f"sha256 is {got}, not the digest {digest} its leaf names")
            leaf = self.read(ev + "/leaf.json")
            proof = self.json(ev + "/proof.json")
            if leaf is None or proof is None:
                continue
            try:
                entry = json.loads(leaf.decode("utf-8"))
            except ValueError:
                self.fail(ev + "/leaf.json", "not a JSON log leaf")
                continue
            if entry.get("type") != "document" or entry.get("digest") != digest:
                self.fail(ev + "/leaf.json", f"does not name document {digest}")
            try:
                size, index = int(proof["tree_size"]), int(proof["log_index"])
                path = [bytes.fromhex(h) for h in proof["hashes"]]
                stated = bytes.fromhex(proof["root"])
            except (KeyError, TypeError, ValueError):
                self.fail(ev + "/proof.json", "not an inclusion proof")
                continue
            lh = leaf_hash(leaf)
            if proof.get("leaf_hash") != lh.hex():
                self.fail(ev + "/proof.json", "its leaf_hash is not the hash of leaf.json")
            if proof.get("checkpoint") != "data/checkpoints/%016d" % size or size not in roots:
                self.fail(ev + "/proof.json", "names no checkpoint of %d leaves in this package" % size)
                continue
            root = inclusion_root(index, size, lh, path)
            if root is None or root != roots[size] or stated != roots[size]:
                self.fail(ev + "/proof.json", "does not lead from the leaf to the root of checkpoint %d" % size)
            r = lh
            try:
                for step in proof.get("steps", []):
                    left, right = bytes.fromhex(step["left"]), bytes.fromhex(step["right"])
                    if r not in (left, right) or node(left, right).hex() != step["result"]:
                        raise ValueError
                    r = bytes.fromhex(step["result"])
                if r != roots[size]:
                    raise ValueError
            except (KeyError, TypeError, ValueError, AttributeError):
                self.fail(ev + "/proof.json", "its written-out steps are wrong")
            if os.path.isfile(self.path(ev + "/hashtree.json")) and os.path.isfile(self.path(doc)):
                self.hashtree(ev, doc, leaf, tsa_pem)

    # 7. hash-tree renewals (FORMAT.md 7d)
    def hashtree(self, ev, doc, leaf, tsa_pem):
        rel = ev + "/hashtree.json"
        ht = self.json(rel)
        try:
            name, token, chain_rel = str(ht["hash"]), str(ht["token"]), str(ht["chain"])
            first = [bytes.fromhex(h) for h in ht["first"]]
            path = [bytes.fromhex(h) for h in ht["path"]]
            root = bytes.fromhex(ht["root"])
            if (ht.get("v") != 1 or ht.get("type") != "hashtree-renewal" or name not in ("sha256", "sha384", "sha512")
                    or len(first) != 2 or not re.match(r"^data/hashtrees/[0-9]{16}\.tsr$", token)
                    or chain_rel != ev + "/evidence-record-chain.json"):
                raise ValueError("of another version or another document")
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            self.fail(rel, "not a hash-tree renewal of this document: %s" % exc)
            return
        h = hashlib.new(name)
        with open(self.path(doc), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        if h.digest() != first[0]:
            self.fail(rel, "its first %s hash is not the hash of %s" % (name, doc))
        chain = self.read(chain_rel)
        if chain is not None:
            try:
                same = json.loads(chain.decode("utf-8"))["leaf"].encode("utf-8") == leaf
            except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
                same = False
            if hashlib.new(name, chain).digest() != first[1]:
                self.fail(chain_rel, "its %s hash is not the second of %s" % (name, rel))
            elif not same:
                self.fail(chain_rel, "is not the evidence of this document's leaf.json")
        value = ers_node(name, first)
        for sibling in path:
            value = ers_node(name, [value, sibling])
        if value != root:
            self.fail(rel, "its path does not lead to its root")
            return
        ok, msg = self.openssl("ts", "-verify", "-digest", root.hex(), "-in", self.path(token), "-token_in",
                               "-CAfile", tsa_pem, "-partial_chain")
        if not ok:
            self.fail(token, "the hash-tree renewal token over the root of %s does not verify (%s)" % (rel, msg))
            return
        # renewals of that stamp (RFC 4998 5.2): each lists the hashes of the tokens before it
        tokens = [token]
        for entry in ht.get("renewals") or []:
            try:
                rtok = str(entry["token"])
                first = [bytes.fromhex(h) for h in entry["first"]]
                path = [bytes.fromhex(h) for h in entry["path"]]
                rroot = bytes.fromhex(entry["root"])
                if not re.match(r"^data/hashtrees/renewals/[0-9]{16}\.tsr$", rtok):
                    raise ValueError("names " + rtok)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                self.fail(rel, "a renewal of its stamp is not readable: %s" % exc)
                return
            before = []
            for t in tokens:
                with open(self.path(t), "rb") as f:
                    before.append(hashlib.new(name, f.read()).digest())
            if first != before:
                self.fail(rel, "the renewal %s does not renew the stamps before it as they are" % rtok)
                return
            value = ers_node(name, first) if len(first) > 1 else first[0]
            for sibling in path:
                value = ers_node(name, [value, sibling])
            if value != rroot:
                self.fail(rel, "the path of the renewal %s does not lead to its root" % rtok)
                return
            ok, msg = self.openssl("ts", "-verify", "-digest", rroot.hex(), "-in", self.path(rtok), "-token_in",
                                   "-CAfile", tsa_pem, "-partial_chain")
            if not ok:
                self.fail(rtok, "the renewal token of the stamp of %s does not verify (%s)" % (rel, msg))
                return
            made, ends = self.stamp_time(rtok), self.signer_end(tokens[-1])
            if made is None or ends is None or made > ends:
                self.fail(rtok, "made %s, not while the certificate of %s was valid (until %s)" % (made, tokens[-1], ends))
                return
            tokens.append(rtok)

    # 5. consistency
    def consistency(self, roots):
        sizes = sorted(roots)
        needed = set(zip(sizes, sizes[1:])) | {(s, sizes[-1]) for s in sizes[:-1]}
        folder = self.path("data/consistency")
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            rel = "data/consistency/" + name
            proof = self.json(rel)
            if proof is None:
                continue
            try:
                old, new = int(proof["old_size"]), int(proof["new_size"])
                path = [bytes.fromhex(h) for h in proof["hashes"]]
            except (KeyError, TypeError, ValueError):
                self.fail(rel, "not a consistency proof")
                continue
            if name != "%016d-%016d.json" % (old, new) or old not in roots or new not in roots:
                self.fail(rel, "does not link two checkpoints of this package")
                continue
            if not consistent(old, new, roots[old], roots[new], path):
                self.fail(rel, "checkpoint %d is not a prefix of checkpoint %d" % (old, new))
            needed.discard((old, new))
        for old, new in sorted(needed):
            self.fail("data/consistency/%016d-%016d.json" % (old, new), "missing: no proof links these checkpoints")


def verify(bag, key_fingerprint=None, tsa_anchors=None):
    c = Checker(bag)
    try:
        return _verify(c, key_fingerprint, tsa_anchors)
    finally:
        shutil.rmtree(c.tmp, ignore_errors=True)


def _verify(c, key_fingerprint, tsa_anchors):
    c.manifests()
    key_pem = c.path("data/keys/archive-key.pem")
    tsa_pem = c.path("data/keys/tsa-anchors.pem")
    if not os.path.isfile(tsa_pem) and os.path.isfile(c.path("data/keys/tsa-cert.pem")):
        tsa_pem = c.path("data/keys/tsa-cert.pem")  # a package made before pinned anchors
    elif not os.path.isfile(tsa_pem):
        c.fail("data/keys/tsa-anchors.pem", "missing")
    anchors = os.path.abspath(tsa_anchors) if tsa_anchors else tsa_pem
    roots = c.checkpoints(key_pem, anchors, key_fingerprint)
    c.renewals(roots, anchors)
    manifest = c.json("data/manifest.json") or {}
    rows = manifest.get("documents", []) if isinstance(manifest, dict) else []
    if manifest and manifest.get("document_count") != len(rows):
        c.fail("data/manifest.json", "document_count does not match its rows")
    c.documents(rows, roots, anchors)
    if roots:
        c.consistency(roots)
    return c.problems, len(rows)


def find_bag(path):
    if os.path.isfile(os.path.join(path, "bagit.txt")):
        return path
    subs = [os.path.join(path, d) for d in os.listdir(path) if os.path.isfile(os.path.join(path, d, "bagit.txt"))]
    return subs[0] if len(subs) == 1 else path


def main(argv):
    import argparse

    parser = argparse.ArgumentParser(prog="python3 " + os.path.basename(argv[0]),
                                     description="Verify an earsiv inspection package with openssl.")
    parser.add_argument("package", metavar="PACKAGE_DIR_OR_ZIP")
    parser.add_argument("--key-fingerprint", metavar="HEX",
                        help="the archive key's sha256 fingerprint as obtained outside the package")
    parser.add_argument("--tsa-anchors", metavar="PEM",
                        help="the time-stamp authorities' certificates as obtained outside the package")
    args = parser.parse_args(argv[1:])
    if args.tsa_anchors and not os.path.isfile(args.tsa_anchors):
        print("no such file: " + args.tsa_anchors, file=sys.stderr)
        return 2
    target = args.package
    with tempfile.TemporaryDirectory() as tmp:
        if os.path.isfile(target):
            with zipfile.ZipFile(target) as zf:
                for n in zf.namelist():
                    if n.startswith("/") or ".." in n.split("/"):
                        print(f"FAILED {n}: unsafe path in the zip")
                        return 1
                zf.extractall(tmp)
            target = tmp
        problems, count = verify(find_bag(target), args.key_fingerprint, args.tsa_anchors)
    for name, problem in problems:
        print(f"FAILED {name}: {problem}")
    if problems:
        print("%d documents, %d problems: the package does NOT verify" % (count, len(problems)))
        return 1
    print("%d documents: everything verifies%s" % (count, " (the package holds no documents)" if count == 0 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
