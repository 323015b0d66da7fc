"""What each kind of object is checked against, copy by copy (the audit's reading half).

Every object the archive keeps has something it must agree with, recorded where damage to
the object cannot reach it:

    blobs/…            decodes (with its dictionary) to bytes whose sha256 is its name
    dicts/…            decodes to bytes whose sha256 is its name
    keys/<id>.pem      the sha256 of the key (DER) is its name; keys/tsa-<id>.pem: the certificate's
    earsiv.json        names this archive (its id) and its signing key
    log/leaves/…       its leaves hash to the level-0 tile that an inclusion proof ties to a
                       signed checkpoint root
    log/tile/…         the hashes of the leaves (or lower tiles) below it
    log/checkpoints/…  the body and its signature verify with the archive key; the token
                       verifies over the body; the root is that of the leaves

``CopyReader.check`` reads an object from every copy (the primary, and the replica when
there is one), keeps the first intact one and returns a finding for each copy that is
missing or damaged, saying whether another copy is intact (repairable) or not.  A replica's
copy equal to an intact primary's is intact without being decoded again.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from earsiv.archive import blobs
from earsiv.archive.errors import StoreError, VerificationError
from earsiv.archive.keys import key_id_of
from earsiv.archive.log.checkpoints import Checkpoint, checkpoint_key
from earsiv.archive.stores.replicated import copies_of

if TYPE_CHECKING:
    from earsiv.archive.archive import Archive
    from earsiv.archive.stores.base import ObjectStore

__all__ = ["CopyReader", "Finding", "blob_problem", "fixed_check"]

Check = Callable[[bytes], str | None]  # None: intact; else what is wrong


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: *subject* as a person reads it (a digest, "checkpoint N", a key), the store
    key of the object when it is one, and which copy ("primary", "replica"; "" when the
    problem is not an object's, e.g. the index's)."""

    subject: str
    problem: str
    copy: str = ""
    object: str = ""

    def to_json(self) -> dict:
        out = {"subject": self.subject, "problem": self.problem}
        if self.copy:
            out["copy"] = self.copy
        if self.object:
            out["object"] = self.object
        return out

    @property
    def recorded_object(self) -> str:
        return self.object or self.subject


@dataclass(slots=True)
class Tally:
    objects: int = 0
    bytes: int = 0


def blob_problem(frame: bytes, digest: str, size: int | None, raw_dict: bytes | None) -> str | None:
    try:
        data = blobs.decode(frame, raw_dict)
    except VerificationError as exc:
        return f"blob damaged: {exc.detail}"
    if hashlib.sha256(data).hexdigest() != digest or (size is not None and len(data) != size):
        return "blob does not hash to its name"
    return None


def fixed_check(arch: Archive, key: str) -> Check | None:
    """The check of ``earsiv.json`` or a key under ``keys/``; None for any other key."""
    from earsiv.archive.archive import ARCHIVE_OBJECT, cert_id

    if key == ARCHIVE_OBJECT:
        archive_id = arch.config.archive_id

        def descriptor(data: bytes) -> str | None:
            try:
                doc = json.loads(data)
            except ValueError:
                return "not JSON: damaged"
            if not isinstance(doc, dict) or doc.get("archive_id") != archive_id:
                return f"does not name this archive ({archive_id}): damaged"
            return None

        return descriptor
    if not (key.startswith("keys/") and key.endswith(".pem")):
        return None
    name = key.removeprefix("keys/").removesuffix(".pem")
    tsa = name.startswith("tsa-")
    want = name.removeprefix("tsa-")

    def named(data: bytes) -> str | None:
        try:
            got = cert_id(data) if tsa else key_id_of(data)
        except ValueError as exc:
            return f"not a PEM {'certificate' if tsa else 'public key'}: {exc}"
        return None if got == want else "does not hash to its name"

    return named


class CopyReader:
    """Reads objects from each copy of the store and checks them; counts what it read."""

    def __init__(self, arch: Archive) -> None:
        self.arch = arch
        self.copies: list[tuple[str, ObjectStore]] = copies_of(arch.store)
        self.tally = Tally()
        self._dicts: OrderedDict[str, bytes | None] = OrderedDict()  # raw dictionaries of this pass (a few)

    @property
    def replicated(self) -> bool:
        return len(self.copies) > 1

    def read(self, store: ObjectStore, key: str) -> bytes:
        data = store.get(key)
        self.tally.objects += 1
        self.tally.bytes += len(data)
        return data

    def check(self, key: str, check: Check, subject: str | None = None) -> tuple[bytes | None, list[Finding]]:
        """(bytes of an intact copy or None, a finding per missing or damaged copy)."""
        subject = subject or key
        good: bytes | None = None
        bad: list[tuple[str, str]] = []
        for name, store in self.copies:
            try:
                data = self.read(store, key)
            except StoreError as exc:
                bad.append((name, f"missing or unreadable: {exc.detail}"))
                continue
            if good is not None and data == good:
                continue
            problem = check(data)
            if problem is None:
                good = good if good is not None else data
            else:
                bad.append((name, problem))
        return good, [self.finding(subject, key, name, problem, repairable=good is not None) for name, problem in bad]

    def finding(self, subject: str, key: str, copy: str, problem: str, *, repairable: bool) -> Finding:
        if self.replicated:
            problem += ("; another copy is intact: `earsiv repair` restores it" if repairable
                        else "; no copy is intact")
        return Finding(subject, problem, copy, key)

    def compare(self, key: str, expected: bytes, what: str) -> list[Finding]:
        """Every copy of a derived object (a tile) must hold *expected*, which the leaves decide."""
        out = []
        for name, store in self.copies:
            try:
                data = self.read(store, key)
            except StoreError as exc:
                out.append(Finding(key, f"{what} missing or unreadable: {exc.detail}; it is rebuilt from the "
                                        "leaves by `earsiv repair`", name, key))
                continue
            if data != expected:
                out.append(Finding(key, f"{what} does not hold the hashes of the leaves below it; it is rebuilt "
                                        "from the leaves by `earsiv repair`", name, key))
        return out

    # -- dictionaries ------------------------------------------------------------
    def dictionary(self, digest: str) -> tuple[bytes | None, list[Finding]]:
        """The raw bytes of dictionary *digest* from an intact copy (None if none is), and findings."""
        if digest in self._dicts:
            self._dicts.move_to_end(digest)
            return self._dicts[digest], []
        raw: list[bytes] = []

        def check(frame: bytes) -> str | None:
            try:
                data = blobs.decode(frame)
            except VerificationError as exc:
                return f"dictionary damaged: {exc.detail}"
            if hashlib.sha256(data).hexdigest() != digest:
                return "dictionary does not hash to its name"
            raw[:] = [data]
            return None

        key = blobs.dict_key(digest)
        good, findings = self.check(key, check)
        value = raw[0] if good is not None and raw else None
        self._dicts[digest] = value
        while len(self._dicts) > 16:
            self._dicts.popitem(last=False)
        return value, findings

    # -- checkpoints ----------------------------------------------------------------
    def checkpoint(self, size: int) -> tuple[Checkpoint | None, dict[str, Check]]:
        """The checkpoint of *size* from a copy whose body and signature verify (or None), and
        the checks of its three objects (body, signature, token)."""
        from earsiv.archive.tsa.verify import verify_token

        ring = self.arch.keys.ring()
        sigs: list[bytes] = []
        for _name, store in self.copies:
            try:
                sigs.append(self.read(store, checkpoint_key(size, ".sig")))
            except StoreError:
                continue
        bodies: list[Checkpoint] = []

        def body_ok(data: bytes) -> str | None:
            try:
                cp = Checkpoint.parse(data)
            except (VerificationError, ValueError) as exc:
                return f"checkpoint body does not parse: {exc}"
            wrong_key = None
            for sig in sigs:
                try:
                    ring.verify_checkpoint(sig, cp)
                except VerificationError as exc:
                    wrong_key = exc.detail if "names key" in exc.detail else wrong_key
                    continue
                return None
            return wrong_key or "the archive signature does not verify over this body (or no signature is intact)"

        for _name, store in self.copies:
            try:
                data = self.read(store, checkpoint_key(size))
            except StoreError:
                continue
            if body_ok(data) is None:
                bodies.append(Checkpoint.parse(data))
                break
        cp = bodies[0] if bodies else None

        def sig_ok(sig: bytes) -> str | None:
            if cp is None:
                return "no intact body to check the signature against"
            try:
                ring.verify_checkpoint(sig, cp)
            except VerificationError as exc:
                return exc.detail
            return None

        def token_ok(token: bytes) -> str | None:
            if cp is None:
                return "no intact body to check the time-stamp token against"
            try:
                verify_token(token, data=cp.body(), trusted_certs=self.arch.tsa_certificates())
            except VerificationError as exc:
                return f"time-stamp token does not verify: {exc.detail}"
            return None

        return cp, {checkpoint_key(size): body_ok, checkpoint_key(size, ".sig"): sig_ok,
                    checkpoint_key(size, ".tsr"): token_ok, checkpoint_key(size, ".tsr2"): token_ok}
