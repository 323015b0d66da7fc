"""Log entries: one typed, self-validating class per entry type of FORMAT.md §5.

An entry is what happened (a document stored, a holding, a legal hold, a grant, an
inspector's look); its *leaf* is the canonical encoding that the Merkle log hashes::

    leaf = canonical-json(entry)      UTF-8, keys sorted, no spaces, no raw newline

Each class here is the one definition of its type: its fields, their rules (checked when it
is made, so a half-valid entry cannot exist), ``to_json`` (the encoder) and ``from_json``
(the decoder, which ignores fields it does not know, as FORMAT.md asks). ``decode`` is the
one place that maps a leaf to its class; ``archive/mirror.py`` is the one place that says
what each type changes in the index.

Every time persisted anywhere is ``format_time``: UTC, ISO 8601, microseconds, ``Z``
(``2026-12-06T20:45:14.123456Z``); ``parse_time`` also reads the shorter forms that
earlier versions wrote.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from earsiv.archive.errors import VerificationError

__all__ = [
    "ACTIONS",
    "COPIES",
    "ENTRY_TYPES",
    "ENTRY_VERSION",
    "ROLES",
    "AccessEntry",
    "AuditFindingEntry",
    "AuditPassEntry",
    "BlobRef",
    "DisposalEntry",
    "DocumentEntry",
    "Entry",
    "GrantEntry",
    "GrantRevokeEntry",
    "HoldingEntry",
    "KeyEntry",
    "LegalHoldEntry",
    "PrincipalEntry",
    "RepairEntry",
    "RetentionEntry",
    "TokenEntry",
    "TokenRevokeEntry",
    "decode",
    "format_time",
    "parse_time",
]

ENTRY_VERSION = 1
UTC = dt.UTC
ROLES = ("admin", "integrator", "accountant", "inspector")
COPIES = ("primary", "replica", "")  # which copy of an object a finding is about ("": not an object)
# What an inspector asked: the document actions, then its own account's (who it is, its grants,
# its access events), then anything else (an action of another role, a path that is none).
ACTIONS = ("search", "view", "original", "evidence", "verify", "print", "export", "package", "report", "me",
           "grants", "access-log", "request")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_HEX16 = re.compile(r"[0-9a-f]{16}\Z")


def format_time(t: dt.datetime) -> str:
    """The one form of a persisted time: UTC, microseconds, ``Z``."""
    if t.tzinfo is None:
        raise ValueError(f"naive datetime {t!r}: persisted times are aware")
    return t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(text: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(text)
    if t.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return t.astimezone(UTC)


def _opt_time(value: Any) -> dt.datetime | None:
    return None if value is None else parse_time(value)


def _opt_fmt(value: dt.datetime | None) -> str | None:
    return None if value is None else format_time(value)


def _digest(value: str, what: str = "digest") -> str:
    if not isinstance(value, str) or not _HEX64.match(value):
        raise ValueError(f"{what} must be 64 lower-case hex digits, got {value!r}")
    return value


def _aware(value: dt.datetime, what: str) -> None:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValueError(f"{what} must be an aware datetime, got {value!r}")


@dataclass(frozen=True, slots=True)
class Entry:
    """Base of every entry type; ``TYPE`` is the ``"type"`` of its JSON form."""

    TYPE: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def encode(self) -> bytes:
        """The leaf: canonical JSON of ``{"v": 1, "type": TYPE, ...fields}``."""
        obj = {"v": ENTRY_VERSION, "type": self.TYPE, **self.to_json()}
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True, slots=True)
class BlobRef:
    """How a document's bytes are kept: a zstd frame, maybe with a dictionary, maybe under an alternative key."""

    stored_size: int
    dict: str | None = None
    # Set when the blob's usual key was taken by an orphan that no leaf names (the remains of a
    # crash, compressed differently): the first 16 hex digits of sha256(frame) of the frame kept
    # at "blobs/<d[:2]>/<d>.<alt>" instead (FORMAT.md §4).
    alt: str | None = None
    codec: str = "zstd"

    def __post_init__(self) -> None:
        if self.codec != "zstd":
            raise ValueError(f"unknown blob codec {self.codec!r}")
        if self.dict is not None:
            _digest(self.dict, "dictionary digest")
        if self.alt is not None and not _HEX16.match(self.alt):
            raise ValueError(f"alternative blob key must be 16 hex digits, got {self.alt!r}")
        if not isinstance(self.stored_size, int) or self.stored_size < 0:
            raise ValueError(f"stored_size must be a non-negative integer, got {self.stored_size!r}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"codec": self.codec, "dict": self.dict, "stored_size": self.stored_size}
        if self.alt is not None:
            out["alt"] = self.alt
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BlobRef:
        return cls(int(data["stored_size"]), data.get("dict"), data.get("alt"), data.get("codec", "zstd"))


@dataclass(frozen=True, slots=True)
class DocumentEntry(Entry):
    """A document stored: its digest, how its blob is kept, and what the ingest understood (informative)."""

    TYPE: ClassVar[str] = "document"
    digest: str
    size: int
    blob: BlobRef
    received_at: dt.datetime
    retain_until: dt.datetime
    kind: str
    id: str | None = None
    ettn: str | None = None
    issue_date: str | None = None
    issuer: str | None = None
    seeds_dict: str | None = None
    conflicts_with: tuple[str, ...] = ()
    # Leaves written before holdings had leaves of their own (FORMAT.md §12) name the
    # document's first holder here: (tenant or None, file name or None).  Never written now.
    legacy_holder: tuple[str | None, str | None] | None = None

    def __post_init__(self) -> None:
        _digest(self.digest)
        _aware(self.received_at, "received_at")
        _aware(self.retain_until, "retain_until")
        if not isinstance(self.size, int) or self.size < 0:
            raise ValueError(f"size must be a non-negative integer, got {self.size!r}")
        if self.seeds_dict is not None:
            _digest(self.seeds_dict, "seeds_dict")
        for d in self.conflicts_with:
            _digest(d, "conflicts_with digest")

    def to_json(self) -> dict[str, Any]:
        if self.legacy_holder is not None:
            raise ValueError("a document leaf naming its holder is the old format; write a holding entry instead")
        return {
            "digest": self.digest, "size": self.size, "blob": self.blob.to_json(),
            "received_at": format_time(self.received_at), "retain_until": format_time(self.retain_until),
            "kind": self.kind, "id": self.id, "ettn": self.ettn, "issue_date": self.issue_date,
            "issuer": self.issuer, "seeds_dict": self.seeds_dict, "conflicts_with": list(self.conflicts_with),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DocumentEntry:
        holder = (data.get("tenant"), data.get("name")) if "tenant" in data else None
        return cls(
            digest=data["digest"], size=int(data["size"]), blob=BlobRef.from_json(data["blob"]),
            received_at=parse_time(data["received_at"]), retain_until=parse_time(data["retain_until"]),
            kind=data["kind"], id=data.get("id"), ettn=data.get("ettn"), issue_date=data.get("issue_date"),
            issuer=data.get("issuer"), seeds_dict=data.get("seeds_dict"),
            conflicts_with=tuple(data.get("conflicts_with") or ()), legacy_holder=holder,
        )


@dataclass(frozen=True, slots=True)
class HoldingEntry(Entry):
    """A tenant's holding of a document already in the log (its first one follows the document's leaf)."""

    TYPE: ClassVar[str] = "holding"
    digest: str
    tenant: str | None
    received_at: dt.datetime
    retain_until: dt.datetime
    name: str | None = None

    def __post_init__(self) -> None:
        _digest(self.digest)
        _aware(self.received_at, "received_at")
        _aware(self.retain_until, "retain_until")

    def to_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "tenant": self.tenant, "received_at": format_time(self.received_at),
                "retain_until": format_time(self.retain_until), "name": self.name}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HoldingEntry:
        return cls(data["digest"], data.get("tenant"), parse_time(data["received_at"]),
                   parse_time(data["retain_until"]), data.get("name"))


@dataclass(frozen=True, slots=True)
class LegalHoldEntry(Entry):
    """A legal hold set or lifted: on one tenant's holding, or (tenant None) on every holding."""

    TYPE: ClassVar[str] = "legal-hold"
    digest: str
    on: bool
    reason: str
    at: dt.datetime
    tenant: str | None = None
    by: str | None = None  # who set or lifted it (entries before 2026-12-07 name no one)

    def __post_init__(self) -> None:
        _digest(self.digest)
        _aware(self.at, "at")
        if not isinstance(self.on, bool):
            raise TypeError("on must be true or false")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"digest": self.digest, "on": self.on, "reason": self.reason, "at": format_time(self.at)}
        if self.tenant is not None:
            out["tenant"] = self.tenant
        if self.by is not None:
            out["by"] = self.by
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LegalHoldEntry:
        return cls(data["digest"], bool(data["on"]), data.get("reason") or "", parse_time(data["at"]), data.get("tenant"),
                   data.get("by"))


@dataclass(frozen=True, slots=True)
class RetentionEntry(Entry):
    """A retention extended (never shortened) for one tenant's holding, or for every holding."""

    TYPE: ClassVar[str] = "retention"
    digest: str
    retain_until: dt.datetime
    at: dt.datetime
    tenant: str | None = None
    by: str | None = None  # who extended it (entries before 2026-12-07 name no one)

    def __post_init__(self) -> None:
        _digest(self.digest)
        _aware(self.retain_until, "retain_until")
        _aware(self.at, "at")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"digest": self.digest, "retain_until": format_time(self.retain_until),
                               "at": format_time(self.at)}
        if self.tenant is not None:
            out["tenant"] = self.tenant
        if self.by is not None:
            out["by"] = self.by
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RetentionEntry:
        return cls(data["digest"], parse_time(data["retain_until"]), parse_time(data["at"]), data.get("tenant"),
                   data.get("by"))


@dataclass(frozen=True, slots=True)
class DisposalEntry(Entry):
    """A document's blob disposed of after its retention (L1, L2): the tombstone that outlives it.

    Written, and durable, before the blob is deleted, so no blob ever vanishes without its
    record; the document's own leaf stays, so its evidence still proves it existed, and this
    leaf proves when it went, why, by whose hand, under which plan (the plan's digest), and
    which retain-until had passed.
    """

    TYPE: ClassVar[str] = "disposal"
    digest: str
    size: int
    retain_until: dt.datetime
    reason: str
    plan: str
    at: dt.datetime
    by: str

    def __post_init__(self) -> None:
        _digest(self.digest)
        _digest(self.plan)
        _aware(self.retain_until, "retain_until")
        _aware(self.at, "at")
        if not self.reason.strip():
            raise ValueError("a disposal needs a reason")
        if self.retain_until >= self.at:
            raise ValueError(f"document {self.digest} is retained until {self.retain_until}: not disposable at {self.at}")

    def to_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "size": self.size, "retain_until": format_time(self.retain_until),
                "reason": self.reason, "plan": self.plan, "at": format_time(self.at), "by": self.by}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DisposalEntry:
        return cls(data["digest"], int(data["size"]), parse_time(data["retain_until"]), data["reason"], data["plan"],
                   parse_time(data["at"]), data["by"])


@dataclass(frozen=True, slots=True)
class PrincipalEntry(Entry):
    """A principal defined or redefined (a later entry with the same name wins)."""

    TYPE: ClassVar[str] = "principal"
    name: str
    role: str
    tenants: tuple[str, ...]
    disabled: bool
    at: dt.datetime
    by: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}")
        _aware(self.at, "at")
        object.__setattr__(self, "tenants", tuple(sorted(self.tenants)))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "tenants": list(self.tenants), "disabled": self.disabled,
                "at": format_time(self.at), "by": self.by}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PrincipalEntry:
        return cls(data["name"], data["role"], tuple(data.get("tenants") or ()), bool(data.get("disabled", False)),
                   parse_time(data["at"]), data.get("by") or "")


@dataclass(frozen=True, slots=True)
class TokenEntry(Entry):
    """A bearer token issued: only its sha256 is recorded, never the token."""

    TYPE: ClassVar[str] = "token"
    id: str
    principal: str
    sha256: str
    expires_at: dt.datetime | None
    at: dt.datetime
    by: str

    def __post_init__(self) -> None:
        if not _HEX16.match(self.id):
            raise ValueError(f"token id must be 16 hex digits, got {self.id!r}")
        _digest(self.sha256, "token sha256")
        _aware(self.at, "at")
        if self.expires_at is not None:
            _aware(self.expires_at, "expires_at")

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "principal": self.principal, "sha256": self.sha256,
                "expires_at": _opt_fmt(self.expires_at), "at": format_time(self.at), "by": self.by}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TokenEntry:
        return cls(data["id"], data["principal"], data["sha256"], _opt_time(data.get("expires_at")),
                   parse_time(data["at"]), data.get("by") or "")


@dataclass(frozen=True, slots=True)
class _Revocation(Entry):
    """A token or a grant taken back: its id, when, by whom."""

    id: str
    at: dt.datetime
    by: str

    def __post_init__(self) -> None:
        _aware(self.at, "at")

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": format_time(self.at), "by": self.by}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(data["id"], parse_time(data["at"]), data.get("by") or "")


@dataclass(frozen=True, slots=True)
class TokenRevokeEntry(_Revocation):
    TYPE: ClassVar[str] = "token-revoke"


@dataclass(frozen=True, slots=True)
class GrantEntry(Entry):
    """An inspector's right to see one VKN's documents of one issue-date period, until an expiry."""

    TYPE: ClassVar[str] = "grant"
    id: str
    inspector: str
    vkn: str
    date_from: dt.date
    date_to: dt.date
    expires_at: dt.datetime
    reference: str
    at: dt.datetime
    by: str

    def __post_init__(self) -> None:
        if self.date_from > self.date_to:
            raise ValueError(f"the granted period starts ({self.date_from}) after it ends ({self.date_to})")
        _aware(self.expires_at, "expires_at")
        _aware(self.at, "at")

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "inspector": self.inspector, "vkn": self.vkn, "from": self.date_from.isoformat(),
                "to": self.date_to.isoformat(), "expires_at": format_time(self.expires_at),
                "reference": self.reference, "at": format_time(self.at), "by": self.by}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GrantEntry:
        return cls(data["id"], data["inspector"], data["vkn"], dt.date.fromisoformat(data["from"]),
                   dt.date.fromisoformat(data["to"]), parse_time(data["expires_at"]), data["reference"],
                   parse_time(data["at"]), data.get("by") or "")


@dataclass(frozen=True, slots=True)
class GrantRevokeEntry(_Revocation):
    TYPE: ClassVar[str] = "grant-revoke"


@dataclass(frozen=True, slots=True)
class AccessEntry(Entry):
    """One request an inspector made: what it asked, under which grants, and every document it was shown.

    ``outcome`` is set on a request that the archive answered without showing a document of it
    (refused, invalid, failed, or not about documents): the HTTP ``status`` and, where it is
    known, the ``error`` code; such an event names no grant and no document.
    """

    TYPE: ClassVar[str] = "access"
    principal: str
    role: str
    action: str
    grants: tuple[Mapping[str, str], ...]
    params: Mapping[str, Any]
    documents: tuple[str, ...]
    at: dt.datetime
    outcome: Mapping[str, Any] | None = None
    _vkns: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}")
        _aware(self.at, "at")
        if self.outcome is not None and (not isinstance(self.outcome, Mapping) or not self.outcome):
            raise ValueError(f"outcome must be a non-empty object, got {self.outcome!r}")
        object.__setattr__(self, "_vkns", tuple(sorted({g["vkn"] for g in self.grants})))

    @property
    def vkns(self) -> tuple[str, ...]:
        """The taxpayers the event concerns (those of its grants)."""
        return self._vkns

    def to_json(self) -> dict[str, Any]:
        out = {"principal": self.principal, "role": self.role, "action": self.action,
               "grants": [dict(g) for g in self.grants], "params": dict(self.params),
               "documents": list(self.documents), "at": format_time(self.at)}
        if self.outcome is not None:
            out["outcome"] = dict(self.outcome)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AccessEntry:
        return cls(data["principal"], data["role"], data["action"], tuple(data.get("grants") or ()),
                   data.get("params") or {}, tuple(data.get("documents") or ()), parse_time(data["at"]),
                   data.get("outcome"))


@dataclass(frozen=True, slots=True)
class AuditFindingEntry(Entry):
    """Damage the audit found: the object (a store key, or "log"/"index"), which copy, what is wrong, when."""

    TYPE: ClassVar[str] = "audit-finding"
    object: str
    copy: str
    problem: str
    at: dt.datetime

    def __post_init__(self) -> None:
        if self.copy not in COPIES:
            raise ValueError(f"unknown copy {self.copy!r}")
        _aware(self.at, "at")

    def to_json(self) -> dict[str, Any]:
        return {"object": self.object, "copy": self.copy, "problem": self.problem, "at": format_time(self.at)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditFindingEntry:
        return cls(data["object"], data.get("copy") or "", data["problem"], parse_time(data["at"]))


@dataclass(frozen=True, slots=True)
class AuditPassEntry(Entry):
    """One finished audit of every object that the first *leaves* leaves of the log name."""

    TYPE: ClassVar[str] = "audit-pass"
    started: dt.datetime
    finished: dt.datetime
    leaves: int
    objects: int
    bytes: int
    findings: int

    def __post_init__(self) -> None:
        _aware(self.started, "started")
        _aware(self.finished, "finished")

    def to_json(self) -> dict[str, Any]:
        return {"started": format_time(self.started), "finished": format_time(self.finished), "leaves": self.leaves,
                "objects": self.objects, "bytes": self.bytes, "findings": self.findings}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditPassEntry:
        return cls(parse_time(data["started"]), parse_time(data["finished"]), int(data["leaves"]),
                   int(data["objects"]), int(data["bytes"]), int(data["findings"]))


@dataclass(frozen=True, slots=True)
class RepairEntry(Entry):
    """A copy of an object put back: from where ("replica", "primary", "leaves"), with which sha256, by whom."""

    TYPE: ClassVar[str] = "repair"
    object: str
    copy: str
    source: str
    sha256: str
    at: dt.datetime
    by: str

    def __post_init__(self) -> None:
        if self.copy not in ("primary", "replica"):
            raise ValueError(f"a repair restores the primary or the replica, not {self.copy!r}")
        _digest(self.sha256, "sha256")
        _aware(self.at, "at")

    def to_json(self) -> dict[str, Any]:
        return {"object": self.object, "copy": self.copy, "source": self.source, "sha256": self.sha256,
                "at": format_time(self.at), "by": self.by}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RepairEntry:
        return cls(data["object"], data["copy"], data["source"], data["sha256"], parse_time(data["at"]),
                   data.get("by") or "")


@dataclass(frozen=True, slots=True)
class KeyEntry(Entry):
    """The checkpoint-signing key changes from *old* to *new* (FORMAT.md §7c).

    Both keys sign ``statement(origin)``: the old key's signature is the hand-over (only the
    holder of the key in force can name its successor), the new key's proves that whoever
    wrote the entry holds the new private key. Checkpoints of more leaves than this entry's
    index are signed by *new*; those of fewer, or of exactly that many, by *old*.
    """

    TYPE: ClassVar[str] = "archive-key"
    old: str  # key id (sha256 hex of the DER SubjectPublicKeyInfo)
    new: str
    public_key: str  # the new key, PEM (SubjectPublicKeyInfo)
    at: dt.datetime
    by: str
    reason: str
    old_signature: str  # base64 Ed25519 signature of statement(origin) by the old key
    new_signature: str  # the same by the new key

    def __post_init__(self) -> None:
        _digest(self.old, "old key id")
        _digest(self.new, "new key id")
        if self.old == self.new:
            raise ValueError("a key cannot succeed itself")
        if "BEGIN PUBLIC KEY" not in self.public_key:
            raise ValueError("public_key must be a PEM public key")
        _aware(self.at, "at")

    @staticmethod
    def statement_of(origin: str, old: str, new: str, at: dt.datetime) -> bytes:
        """What both keys sign: ASCII lines, each ending in 0x0A."""
        return (f"earsiv-key-rotation/1\norigin: {origin}\nold: {old}\nnew: {new}\n"
                f"at: {format_time(at)}\n").encode("ascii")

    def statement(self, origin: str) -> bytes:
        return self.statement_of(origin, self.old, self.new, self.at)

    def to_json(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new, "public_key": self.public_key, "at": format_time(self.at),
                "by": self.by, "reason": self.reason, "old_signature": self.old_signature,
                "new_signature": self.new_signature}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KeyEntry:
        return cls(data["old"], data["new"], data["public_key"], parse_time(data["at"]), data.get("by") or "",
                   data.get("reason") or "", data["old_signature"], data["new_signature"])


ENTRY_TYPES: dict[str, type[Entry]] = {
    cls.TYPE: cls
    for cls in (DocumentEntry, HoldingEntry, LegalHoldEntry, RetentionEntry, PrincipalEntry, TokenEntry,
                TokenRevokeEntry, GrantEntry, GrantRevokeEntry, AccessEntry, AuditFindingEntry, AuditPassEntry,
                RepairEntry, DisposalEntry, KeyEntry)
}


def decode(leaf: bytes) -> Entry:
    """The entry a leaf encodes; ``VerificationError`` for anything this software cannot read.

    A reader must refuse an unknown version and an unknown type (it cannot tell what the
    entry changes), and ignore fields it does not know (FORMAT.md §5).
    """
    try:
        data = json.loads(leaf)
    except (UnicodeDecodeError, ValueError) as exc:
        raise VerificationError(f"log leaf is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise VerificationError("log leaf is not a JSON object")
    if data.get("v") != ENTRY_VERSION:
        raise VerificationError(f"log entry of unknown format version {data.get('v')!r}; this software reads version 1")
    cls = ENTRY_TYPES.get(data.get("type"))  # type: ignore[arg-type]
    if cls is None:
        raise VerificationError(f"log entry of type {data.get('type')!r}, which this software does not know")
    try:
        return cls.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise VerificationError(f"malformed {cls.TYPE} entry: {exc!r}") from exc
