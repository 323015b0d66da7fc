"""The audit: every object the archive keeps, read back and checked against what the log records.

One engine serves three callers:

* ``earsiv audit [--budget 10m|2GB]`` runs a *pass* in steps: each step goes on from where
  the last one stopped (``HOME/cache/audit.json``) until its budget is spent, and a pass
  covers the log up to the checkpoint that was the newest when it began.  It only reads
  (no checkpoint is made because it ran); what it finds is recorded as ``audit-finding``
  leaves (once per object and copy while the finding is open) and each finished pass as an
  ``audit-pass`` leaf, so the audit's own history is provable.
* ``earsiv serve`` runs the same steps in the background, paced so that a pass takes about
  ``[audit] period_days`` (default 30) and never more than a tenth of a core (``AuditPace``).
* ``earsiv verify --all`` runs one whole pass at once, after a checkpoint of the newest
  leaves, records nothing, and also lists the store for objects the log does not account for.

What a pass checks, in log order, bundle by bundle (``auditcopies.py`` says against what):

* each bundle, every copy: its leaves must hash to the level-0 tile of the pass's signed
  checkpoint, which is itself proven by an inclusion proof to that checkpoint's root; so a
  damaged bundle and a damaged tile are told apart;
* each hash tile, full or partial, every copy, against the hashes computed from the leaves;
* each checkpoint in the pass: body and signature verify with the archive key, its root is
  that of the leaves, its time-stamp token verifies over the body;
* each document's blob (fixity) and its dictionary (once per pass; a damaged one is named
  with every document that needs it), that the index holds the document, and that every
  copy keeps the blob as long as the log says, under the legal holds it says;
* once per pass: ``earsiv.json``, the keys, and the local store's retention journal.

It collects findings; it never stops at the first (STYLE.md, audits).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from earsiv.archive.auditcopies import CopyReader, Finding, fixed_check
from earsiv.archive.auditwalk import PassState, Walk
from earsiv.archive.errors import VerificationError
from earsiv.archive.evidence import verify_document
from earsiv.archive.ledger import Batch
from earsiv.archive.log.checkpoints import CHECKPOINT_PREFIX, Checkpoint, checkpoint_key
from earsiv.archive.log.entries import AuditFindingEntry, AuditPassEntry, Entry
from earsiv.archive.log.log import LEAF_PREFIX, parse_bundle_key
from earsiv.archive.stores.base import RetentionRecords
from earsiv.errors import EarsivError, StorageFull

if TYPE_CHECKING:
    from earsiv.archive.archive import Archive

__all__ = ["Audit", "AuditBusy", "Budget", "Finding", "StepReport", "audit_status", "verify_all"]

log = logging.getLogger("earsiv.audit")
SAVE_SECONDS = 2.0


class AuditBusy(EarsivError):
    """Another process is auditing this home right now."""

    exit_code = 3
    code = "audit-busy"


@dataclass(frozen=True, slots=True)
class Budget:
    """How much one step may do: seconds and/or bytes read (None: no limit)."""

    seconds: float | None = None
    bytes: int | None = None

    @classmethod
    def parse(cls, text: str) -> Budget:
        """``10m``, ``90s``, ``2h``, ``1d`` (time) or ``500MB``, ``2GB``, ``1TB`` (bytes read)."""
        t = text.strip().lower()
        units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
        sizes = {"kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "b": 1}
        try:
            for suffix, factor in sizes.items():
                if t.endswith(suffix):
                    return cls(bytes=int(float(t[: -len(suffix)]) * factor))
            if t[-1:] in units:
                return cls(seconds=float(t[:-1]) * units[t[-1]])
            return cls(seconds=float(t))
        except ValueError:
            pass
        raise ValueError(f"budget {text!r}: expected a time (10m, 90s, 2h) or an amount read (500MB, 2GB)")

    def spent(self, started: float, read: int) -> bool:
        return ((self.seconds is not None and time.monotonic() - started >= self.seconds)
                or (self.bytes is not None and read >= self.bytes))


@dataclass(slots=True)
class StepReport:
    """What one step did, and where the pass stands after it."""

    findings: list[Finding]
    checked: int  # documents whose blobs this step read
    objects: int
    bytes: int
    position: int
    end: int
    pass_finished: bool
    pass_started: dt.datetime | None

    def to_json(self) -> dict:
        return {"ok": not self.findings, "checked": self.checked, "objects": self.objects, "bytes": self.bytes,
                "position": self.position, "end": self.end, "pass_finished": self.pass_finished,
                "pass_started": self.pass_started.isoformat() if self.pass_started else None,
                "failures": [f.to_json() for f in self.findings]}


class Audit:
    """A resumable audit of one archive (see the module doc).

    *state_path* None: a pass kept in memory only (``verify --all``); *record*: write finding
    and pass leaves.
    """

    def __init__(self, arch: Archive, *, state_path: Path | None = None, record: bool = False) -> None:
        self.arch = arch
        self.state_path = state_path
        self.record = record
        self.reader = CopyReader(arch)
        self.reported: set[tuple[str, str]] = set()
        self.visited: set[int] | None = None  # bundles met, when the caller wants to list the rest

    @classmethod
    def of_home(cls, arch: Archive) -> Audit:
        return cls(arch, state_path=arch.home / "cache" / "audit.json", record=True)

    # -- the pass's state ----------------------------------------------------------
    def load_state(self) -> PassState | None:
        if self.state_path is None:
            return None
        try:
            return PassState.from_json(json.loads(self.state_path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("the audit's state %s cannot be read (%s); a new pass begins", self.state_path, exc)
            return None

    def _save(self, state: PassState | None) -> None:
        if self.state_path is None:
            return
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        if state is None:
            self.state_path.unlink(missing_ok=True)
            return
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state.to_json()), encoding="utf-8")
        os.replace(tmp, self.state_path)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        if self.state_path is None:
            yield
            return
        lock = self.state_path.with_suffix(".lock")
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise AuditBusy(f"another process is auditing {self.arch.home} now (it holds {lock})") from None
            yield
        finally:
            os.close(fd)

    def _begin(self, findings: list[Finding]) -> PassState | None:
        """A new pass up to the newest checkpoint whose signature verifies in some copy; None if none."""
        row = self.arch.index.log.latest_checkpoint()
        tried = 0
        while row is not None and tried < 8:
            tried += 1
            cp, more = self.checkpoint(row.size, stamped=False)
            findings.extend(more)
            if cp is not None:
                return PassState(dt.datetime.now(dt.UTC), cp.size, cp.root.hex())
            older = self.arch.index.log.checkpoints_between(0, row.size, before=row.size, limit=16)
            row = next((r for r in older if r.state != "made"), None)
        return None

    # -- running -----------------------------------------------------------------------
    def step(self, budget: Budget = Budget(), progress: Callable[[int], None] | None = None,
             *, restart: bool = False) -> StepReport:
        """Go on with the pass (or begin one) until *budget* is spent or the pass is finished."""
        with self._exclusive():
            return self._step(budget, progress, restart)

    def _step(self, budget: Budget, progress: Callable[[int], None] | None, restart: bool) -> StepReport:
        clock = time.monotonic()
        findings: list[Finding] = []
        state = None if restart else self.load_state()
        if state is None:
            state = self._begin(findings)
        if state is None:
            self._record(findings, None)
            return StepReport(findings, 0, 0, 0, 0, 0, False, None)
        objects0, bytes0 = self.reader.tally.objects, self.reader.tally.bytes
        read0 = bytes0  # the budget counts from the step's start
        if not state.fixed_checked:
            findings.extend(self._fixed_objects())
            state.fixed_checked = True
        walk = Walk(self, state, findings, progress)
        saved, recorded = time.monotonic(), 0
        while state.position < state.end:  # a bundle at least: every step moves the pass on
            walk.bundle()
            if budget.spent(clock, self.reader.tally.bytes - read0):
                break
            if time.monotonic() - saved >= SAVE_SECONDS:  # what was found is recorded before the state moves on
                walk.finish_chunk()
                self._record(findings[recorded:], None)
                recorded = len(findings)
                objects0, bytes0 = self._account(state, objects0, bytes0)
                self._save(state)
                saved = time.monotonic()
        walk.finish_chunk()
        finished = state.position >= state.end
        if finished:
            findings.extend(self._pass_end_checks())
        self._account(state, objects0, bytes0)
        state.findings += len(findings)
        self._record(findings[recorded:], state if finished else None)
        self._save(None if finished else state)
        return StepReport(findings, walk.checked, self.reader.tally.objects, self.reader.tally.bytes,
                          state.position, state.end, finished, state.started)

    def _account(self, state: PassState, objects0: int, bytes0: int) -> tuple[int, int]:
        state.objects += self.reader.tally.objects - objects0
        state.bytes += self.reader.tally.bytes - bytes0
        return self.reader.tally.objects, self.reader.tally.bytes

    def _record(self, findings: list[Finding], finished: PassState | None) -> None:
        """Findings not already open, and a finished pass, as leaves (one bundle)."""
        if not self.record or not (findings or finished):
            return
        now = dt.datetime.now(dt.UTC)
        wanted = {(f.recorded_object, f.copy): f for f in findings}

        def build() -> Batch:  # under the write lock: two auditors never record one finding twice
            open_now = self.arch.index.audit.open_keys([obj for obj, _c in wanted])
            entries: list[Entry] = [AuditFindingEntry(obj, copy, f.problem[:2000], now)
                                    for (obj, copy), f in wanted.items() if (obj, copy) not in open_now]
            if finished is not None:
                entries.append(AuditPassEntry(finished.started, now, finished.end, finished.objects,
                                              finished.bytes, finished.findings))
            return Batch(entries)

        try:
            self.arch.ledger.append(build)
        except StorageFull as exc:
            log.warning("the audit's findings are not recorded in the log (%s); the next pass finds them again", exc)

    # -- what is checked once per pass -------------------------------------------------
    def _fixed_objects(self) -> list[Finding]:
        from earsiv.archive.archive import ARCHIVE_OBJECT

        out: list[Finding] = []
        for key in [ARCHIVE_OBJECT, *self.arch.store.list("keys/")]:
            check = fixed_check(self.arch, key)
            if check is not None:
                out += self.reader.check(key, check)[1]
        return out + self._renewals() + self._key_introductions()

    def _key_introductions(self) -> list[Finding]:
        """An `archive-key` entry the chain refuses (FORMAT.md §7c): someone wrote a key the key in force never
        handed over to. Harmless to the archive (that key signs nothing it accepts), worth an operator's look."""
        self.arch.keys.ring()
        return [Finding(f"log leaf {index}", f"key introduction refused: {why}", "", f"log leaf {index}")
                for index, why in self.arch.keys.refused]

    def _numbered(self, what: str, key_of: Callable[[int, str], str], parse: Callable[[int, bytes], Any],
                  hash_name: Callable[[Any], str | None]) -> list[Finding]:
        """Numbered records with a token each (time-stamp renewals, hash-tree renewals, renewals of their
        stamps), found by number until one is missing: each record reads, its token stamps its root with
        the hash it names (*hash_name*; None: any)."""
        from earsiv.archive.tsa.verify import verify_token

        out: list[Finding] = []
        seq = 1
        while self.arch.store.exists(key_of(seq, ".json")):
            parsed: list[Any] = []

            def record(data: bytes, seq: int = seq, parsed: list[Any] = parsed) -> str | None:
                try:
                    parsed[:] = [parse(seq, data)]
                except VerificationError as exc:
                    return exc.detail
                return None

            out += self.reader.check(key_of(seq, ".json"), record, f"{what} {seq}")[1]
            if parsed and self.arch.store.exists(key_of(seq, ".tsr")):
                item = parsed[0]

                def token(data: bytes, item: Any = item) -> str | None:
                    try:
                        info = verify_token(data, message_imprint=item.root(), trusted_certs=self.arch.tsa_certificates())
                    except VerificationError as exc:
                        return f"{what} token does not verify: {exc.detail}"
                    want = hash_name(item)
                    return None if want in (None, info.hash_algorithm) else f"token is {info.hash_algorithm}, not {want}"

                out += self.reader.check(key_of(seq, ".tsr"), token, f"{what} {seq} time-stamp")[1]
            seq += 1
        return out

    def _renewals(self) -> list[Finding]:
        """Time-stamp renewals (FORMAT.md §7b), hash-tree renewals and the renewals of their stamps (§7d)."""
        from earsiv.archive.ers import STAMP_PREFIX, Run, StampRenewal, ers_key
        from earsiv.archive.renewal import Renewal, renewal_key

        def stamp_key(seq: int, suffix: str) -> str:
            return f"{STAMP_PREFIX}{seq:016d}{suffix}"

        return (self._numbered("renewal", renewal_key, Renewal.parse, lambda _r: None)
                + self._numbered("hash-tree renewal", ers_key, Run.parse, lambda r: r.hash)
                + self._numbered("hash-tree stamp renewal", stamp_key, StampRenewal.parse, lambda r: r.hash))

    def _pass_end_checks(self) -> list[Finding]:
        out: list[Finding] = []
        for name, store in self.reader.copies:
            if isinstance(store, RetentionRecords):
                out += [Finding(exc.name or "retention records",
                                f"{exc.detail}; skipped, so the facts it held are missing from the store's records "
                                "(they are in the log's leaves)", name if self.reader.replicated else "")
                        for exc in store.damage()]
        return out

    # -- checkpoints -------------------------------------------------------------------
    def checkpoint(self, size: int, *, stamped: bool) -> tuple[Checkpoint | None, list[Finding]]:
        """The checkpoint of *size* from a copy whose body and signature verify; findings for the rest."""
        cp, checks = self.reader.checkpoint(size)
        subjects = {"": f"checkpoint {size}", ".sig": f"checkpoint {size} signature",
                    ".tsr": f"checkpoint {size} time-stamp", ".tsr2": f"checkpoint {size} second time-stamp"}
        findings: list[Finding] = []
        for suffix, subject in subjects.items():
            if suffix == ".tsr" and not stamped:
                continue
            # A second token exists only with two TSAs configured; where it does, it is checked like the first.
            if suffix == ".tsr2" and not (stamped and self.arch.store.exists(checkpoint_key(size, suffix))):
                continue
            key = checkpoint_key(size, suffix)
            findings += self.reader.check(key, checks[key], subject)[1]
        return cp, findings


def audit_status(arch: Archive) -> dict:
    """What ``status`` shows: open findings and the first notice deadline, the last full pass, this pass."""
    out = arch.index.audit.summary()
    out["period_days"] = arch.config.audit_days
    state = Audit.of_home(arch).load_state()
    out["pass"] = None if state is None else {
        "started": state.started.isoformat(), "position": state.position, "end": state.end,
        "done": round(state.position / state.end, 4) if state.end else 1.0, "objects": state.objects,
        "bytes": state.bytes, "findings": state.findings}
    last = out["last_full_pass"]
    if arch.config.audit_days and last is not None:
        due = dt.datetime.fromisoformat(last["started"]) + dt.timedelta(days=arch.config.audit_days)
        out["overdue"] = dt.datetime.now(dt.UTC) > due
    return out


# -- verify: named documents, or the whole archive at once -------------------------------


def verify_all(arch: Archive, digests: list[str] | None = None,
               progress: Callable[[int], None] | None = None) -> tuple[int, list[Finding]]:
    """Check the named documents (each with its own proof), or audit everything; (checked, findings)."""
    if digests is None:
        return _verify_everything(arch, progress)
    findings: list[Finding] = []
    from earsiv.archive.evidence import verify_document_record

    for d in digests:
        try:
            verify_document(arch, d)
            verify_document_record(arch, d)  # and its hash-tree renewal, if one covers it
        except EarsivError as exc:
            findings.append(Finding(d, exc.detail))
        if progress:
            progress(1)
    return len(digests), findings


def _verify_everything(arch: Archive, progress: Callable[[int], None] | None) -> tuple[int, list[Finding]]:
    try:
        arch.checkpoint()  # the newest leaves get a checkpoint (and a stamp) too
    except StorageFull as exc:
        log.warning("no checkpoint of the newest log entries (%s); the next command that writes makes it", exc)
    audit = Audit(arch)
    audit.visited = set()
    report = audit.step(Budget(), progress, restart=True)
    return report.checked, [*report.findings, *_unaccounted(arch, audit.visited, report.end)]


def _unaccounted(arch: Archive, visited: set[int], end: int) -> list[Finding]:
    """What the store holds that the walk did not meet: stray bundles, checkpoints past the log."""
    out: list[Finding] = []
    for key in arch.store.list(LEAF_PREFIX):
        first = parse_bundle_key(key)
        if first is not None and first < end and first not in visited:
            out.append(Finding(key, f"bundle at {first} is not where the log's bundles meet (they overlap it)", "", key))
    for key in arch.store.list(CHECKPOINT_PREFIX):
        number = key[len(CHECKPOINT_PREFIX) :].partition(".")[0]
        if key.endswith(".sig") and number.isdigit() and int(number) > max(end, arch.log.size):
            out.append(Finding(f"checkpoint {int(number)}",
                               f"it covers {int(number)} leaves but the log has {arch.log.size}", "", key))
    return out
