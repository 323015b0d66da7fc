"""One step's walk over the log's bundles, for the audit (``audit.py``): leaves into the tree's
edge, each bundle checked against the level-0 tile a signed checkpoint proves, each tile
against the leaves, each checkpoint met on the way, each document's blob, dictionary, index
row and retention.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from earsiv.archive import blobs
from earsiv.archive.auditcopies import CopyReader, Finding, blob_problem
from earsiv.archive.errors import StoreError, VerificationError
from earsiv.archive.log import merkle
from earsiv.archive.log.checkpoints import checkpoint_key
from earsiv.archive.log.entries import DocumentEntry, decode
from earsiv.archive.log.log import bundle_key
from earsiv.archive.log.tiles import WIDTH, TileState, TreeHashes
from earsiv.archive.stores.base import RetentionRecords

if TYPE_CHECKING:
    from earsiv.archive.archive import Archive
    from earsiv.archive.log.checkpoints import Checkpoint
    from earsiv.archive.stores.base import ObjectStore

__all__ = ["Auditor", "PassState", "Walk"]
STATE_VERSION = 1

FIXITY_CHUNK = 256  # documents whose blobs are read together (two threads: zstd and sha256 release the GIL)


class Auditor(Protocol):
    """What a walk needs of the audit that runs it (``audit.Audit``)."""

    arch: Archive
    reader: CopyReader
    reported: set[tuple[str, str]]  # (object, copy) found in this run already
    visited: set[int] | None  # bundles met, when the caller lists the rest

    def checkpoint(self, size: int, *, stamped: bool) -> tuple[Checkpoint | None, list[Finding]]: ...


@dataclass(slots=True)
class PassState:
    """Where a pass stands: what it covers, where it is, the tree's edge there, what it counted."""

    started: dt.datetime
    end: int  # leaves the pass covers: the size of its checkpoint
    root: str  # that checkpoint's root (hex)
    position: int = 0
    levels: list[list[str]] = field(default_factory=list)
    objects: int = 0
    bytes: int = 0
    findings: int = 0
    documents: int = 0
    fixed_checked: bool = False  # earsiv.json and the keys

    def edge(self) -> TileState:
        return TileState(self.position, [[bytes.fromhex(h) for h in level] for level in self.levels])

    def keep_edge(self, edge: TileState) -> None:
        self.position = edge.size
        self.levels = [[h.hex() for h in edge.hashes_at(i)] for i in range(_depth(edge))]

    def to_json(self) -> dict:
        return {"v": STATE_VERSION, "started": self.started.isoformat(), "end": self.end, "root": self.root,
                "position": self.position, "levels": self.levels, "objects": self.objects, "bytes": self.bytes,
                "findings": self.findings, "documents": self.documents, "fixed_checked": self.fixed_checked}

    @classmethod
    def from_json(cls, data: dict) -> PassState:
        if data.get("v") != STATE_VERSION:
            raise ValueError("unknown audit state version")
        return cls(dt.datetime.fromisoformat(data["started"]), int(data["end"]), str(data["root"]),
                   int(data["position"]), [list(map(str, lv)) for lv in data["levels"]], int(data["objects"]),
                   int(data["bytes"]), int(data["findings"]), int(data["documents"]), bool(data["fixed_checked"]))


def _depth(edge: TileState) -> int:
    n, depth = edge.size, 0
    while n:
        n >>= 8
        depth += 1
    return depth


class Walk:
    """One step's walk over bundles: leaves into the edge, tiles, checkpoints, documents."""

    def __init__(self, audit: Auditor, state: PassState, findings: list[Finding],
                 progress: Callable[[int], None] | None) -> None:
        self.audit = audit
        self.arch = audit.arch
        self.reader = audit.reader
        self.state = state
        self.findings = findings
        self.progress = progress
        self.edge = state.edge()
        self.root = bytes.fromhex(state.root)
        self.docs: list[tuple[int, DocumentEntry]] = []
        self.checked = 0
        self._window: tuple[int, list[bytes] | None] | None = None  # (level-0 tile index, its proven hashes)
        self._kept_by: list | None = None  # copies that keep retention records of their own
        self._checkpoints: list = []
        self._checkpoints_seen = self.edge.size  # checkpoint rows are fetched a page at a time
        self._indexed_upto = self.arch.ledger.mirrored()

    def _add(self, found: list[Finding]) -> None:
        for f in found:
            key = (f.recorded_object, f.copy)
            if key not in self.audit.reported:
                self.audit.reported.add(key)
                self.findings.append(f)

    def _next_checkpoint(self):
        """The next checkpoint row at or after the edge (signed or stamped), or None; a page at a time."""
        while not self._checkpoints and self._checkpoints_seen < self.state.end:
            rows = self.arch.index.log.checkpoints_between(self._checkpoints_seen, self.state.end, limit=1000)
            if not rows:
                self._checkpoints_seen = self.state.end
                break
            self._checkpoints_seen = rows[-1].size
            # A body a crash left unsigned ("made") is not a checkpoint; the checkpointer finishes it.
            self._checkpoints = [r for r in rows if r.state != "made"]
        return self._checkpoints[0] if self._checkpoints else None

    # -- the reference: level-0 tiles proven to the pass's checkpoint ------------------------
    def _proven(self, window: int) -> list[bytes] | None:
        """The hashes of level-0 tile *window* from a copy that an inclusion proof ties to the root."""
        if self._window is not None and self._window[0] == window:
            return self._window[1]
        end = self.state.end
        first = window * WIDTH
        found: list[bytes] | None = None
        for _name, store in self.reader.copies:
            tree = TreeHashes(end, _counted(self.reader, store))
            try:
                count = min(WIDTH, end - first)
                hashes = tree.hashes(0, first, count)
                path = merkle.inclusion_path(first, end, tree.subtree)
                merkle.verify_inclusion(first, end, hashes[0], path, self.root)
            except (StoreError, VerificationError, ValueError):
                continue
            found = hashes
            break
        self._window = (window, found)
        return found

    # -- one bundle -------------------------------------------------------------------------
    def bundle(self) -> None:
        first = self.edge.size
        key = bundle_key(first)
        reference = self._reference(first)
        leaves, used_reference = self._bundle_leaves(key, first, reference)
        if self.audit.visited is not None:
            self.audit.visited.add(first)
        if leaves is None and used_reference is None:
            self.state.position = self.state.end  # nothing to go on with (reported): the pass ends here
            return
        hashes = used_reference if leaves is None else [merkle.leaf_hash(leaf) for leaf in leaves]
        for i, h in enumerate(hashes):
            for tile in self.edge.append(h):
                self._add(self.reader.compare(tile.key, tile.data, "hash tile"))
            while (row := self._next_checkpoint()) is not None and row.size <= self.edge.size:
                self._checkpoints.pop(0)
                if row.size == self.edge.size:
                    self._at_checkpoint(row)
            if leaves is not None:
                self._leaf(first + i, leaves[i])
        if len(self.docs) >= FIXITY_CHUNK:
            self.finish_chunk()
        self.state.keep_edge(self.edge)
        if self.progress:
            self.progress(len(hashes))

    def _reference(self, first: int) -> list[bytes] | None:
        """Proven leaf hashes from *first* to the end of its level-0 tile (or of the pass)."""
        window = first // WIDTH
        proven = self._proven(window)
        if proven is None:
            return None
        return proven[first - window * WIDTH :]

    def _bundle_leaves(self, key: str, first: int,
                       reference: list[bytes] | None) -> tuple[list[bytes] | None, list[bytes] | None]:
        """(the bundle's leaves from an intact copy, or None; else proven hashes to go on with, or None)."""
        count: list[int] = []

        def intact(data: bytes) -> str | None:
            if not data.endswith(b"\n"):
                return "log bundle does not end with a newline: damaged"
            leaves = data[:-1].split(b"\n")
            if first + len(leaves) > self.state.end:
                return f"log bundle holds {len(leaves)} leaves, more than the log's {self.state.end - first} after it"
            if reference is not None:
                n = min(len(leaves), len(reference))
                if [merkle.leaf_hash(leaf) for leaf in leaves[:n]] != reference[:n]:
                    return "log bundle's leaves do not hash to the tile a signed checkpoint proves: damaged"
                if n < len(leaves):
                    more = self._reference(first + n)
                    if more is not None and [merkle.leaf_hash(leaf) for leaf in leaves[n:]] != more[: len(leaves) - n]:
                        return "log bundle's leaves do not hash to the tile a signed checkpoint proves: damaged"
            count[:] = [len(leaves)]
            return None

        good, found = self.reader.check(key, intact)
        documents = self.arch.index.audit.documents_logged_in
        for f in found:
            span = self.arch.index.log.bundle_containing(first)
            names = documents(first, span[0] + span[1]) if span else []
            more = f"; the leaves of {len(names)} documents are in it" if names else ""
            self._add([Finding(f.subject, f.problem + more, f.copy, f.object)])
        if good is not None:
            return good[:-1].split(b"\n"), None
        # No intact copy: go on with the hashes the proven tile holds, for the bundle's length.
        span = self.arch.index.log.bundle_containing(first)
        if span is None or reference is None:
            self._add([Finding("log", f"the log cannot be followed past leaf {first} (bundle {key} unreadable and "
                                      "not catalogued, or its tile unproven); the rest of this pass is skipped")])
            return None, None
        hashes: list[bytes] = []
        at = first
        while len(hashes) < span[1]:
            part = self._reference(at)
            if part is None:
                break
            hashes += part[: span[1] - len(hashes)]
            at = first + len(hashes)
        return None, hashes

    def _at_checkpoint(self, row) -> None:
        size = row.size
        cp, found = self.audit.checkpoint(size, stamped=row.state == "stamped")
        self._add(found)
        if cp is not None and cp.root != self.edge.root():
            self._add([Finding(f"checkpoint {size}", "its root does not match the log's leaves", "",
                               checkpoint_key(size))])
        for key, data in self.edge.partial_tiles():
            self._add(self.reader.compare(key, data, "hash tile"))

    # -- documents ----------------------------------------------------------------------------
    def _leaf(self, index: int, leaf: bytes) -> None:
        try:
            entry = decode(leaf)
        except VerificationError as exc:
            self._add([Finding(f"leaf {index}", f"not a readable log entry: {exc.detail}")])
            return
        if isinstance(entry, DocumentEntry):
            self.docs.append((index, entry))

    def finish_chunk(self) -> None:
        docs, self.docs = self.docs, []
        if not docs:
            return
        self.state.documents += len(docs)
        # A blob disposed of after its retention (a `disposal` leaf, disposal.py) is gone by design, not damage.
        gone = self.arch.index.disposal.disposed([e.digest for _i, e in docs])
        docs = [(i, e) for i, e in docs if e.digest not in gone]
        if not docs:
            return
        missing, held = self._index_findings(docs)
        self._add(missing)
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="fixity") as pool:  # zstd, sha256 release the GIL
            raw = {}
            for _i, e in docs:
                if e.blob.dict is not None and e.blob.dict not in raw:
                    raw[e.blob.dict], found = self.reader.dictionary(e.blob.dict)
                    if found:
                        users = self.arch.index.audit.documents_using(e.blob.dict)
                        self._add([Finding(f.subject, f"{f.problem}; {len(users)} documents need it: "
                                           f"{', '.join(users)}", f.copy, f.object) for f in found])

            def fixity(item: tuple[int, DocumentEntry]) -> list[Finding]:
                # The blob and the store's retention of it, in the pool: both are reads.
                idx, e = item
                key = blobs.blob_key(e.digest, e.blob.alt)
                found = [] if e.blob.dict is not None and raw.get(e.blob.dict) is None else [
                    Finding(f.subject, f"{f.problem} (leaf {idx})", f.copy, f.object)
                    for f in self.reader.check(key, lambda frame: blob_problem(frame, e.digest, e.size,
                                                                                raw.get(e.blob.dict)), e.digest)[1]
                ]  # (a blob whose dictionary is damaged in every copy is named with the dictionary)
                holdings = held.get(e.digest)
                return found + self._retention(e, holdings) if holdings else found

            for found in pool.map(fixity, docs):
                self._add(found)
        self.checked += len(docs)

    def _index_findings(self, docs: list[tuple[int, DocumentEntry]]) -> tuple[list[Finding], dict]:
        """(documents of *docs* the index lacks, the holdings of those it has)."""
        out: list[Finding] = []
        digests = [e.digest for _i, e in docs]
        indexed = self.arch.index.kinds_of(digests)
        held = self.arch.index.access.holdings_of(digests)
        for idx, e in docs:
            if e.digest in indexed:
                continue
            held.pop(e.digest, None)
            if idx >= self._indexed_upto:  # the index has not caught up yet (a full disk stopped it): no damage
                out.append(Finding(e.digest, f"in the log (leaf {idx}) but not yet in the index, which has taken "
                                             f"in {self._indexed_upto} leaves; it catches up when the archive is "
                                             "next opened with space to write"))
            else:
                out.append(Finding(e.digest, f"in the log (leaf {idx}) but missing from the index: "
                                             "run `earsiv reindex`"))
        return out, held

    def _retention_copies(self) -> list:
        """The copies that keep retention records of their own (S3 Object Lock keeps it with the
        object, and the server enforces it)."""
        if self._kept_by is None:
            self._kept_by = [(n, st) for n, st in self.reader.copies if isinstance(st, RetentionRecords)]
        return self._kept_by

    def _retention(self, e: DocumentEntry, holdings) -> list[Finding]:
        """Every copy keeps the blob at least as long as the log says, under the holds it says.

        A crash between the store's change and its leaf may leave a store keeping longer or
        holding where the log does not; that is no loss and no finding.
        """
        out = []
        until = max(h.retain_until for h in holdings)
        key = blobs.blob_key(e.digest, e.blob.alt)
        for name, store in self._retention_copies():
            copy = name if self.reader.replicated else ""
            try:
                kept = store.retention(key)
            except StoreError as exc:
                out.append(Finding(e.digest, f"blob has no retention in the store ({exc.detail}); the log keeps it "
                                             f"until {until.isoformat()}", copy, key))
                continue
            if kept.retain_until < until:
                out.append(Finding(e.digest, f"the store keeps the blob until {kept.retain_until.isoformat()}, "
                                             f"the log until {until.isoformat()}", copy, key))
            if not kept.legal_hold and any(h.legal_hold for h in holdings):
                out.append(Finding(e.digest, "the log holds the document under a legal hold, the store does not: "
                                             "put the hold on again (`earsiv legal-hold DIGEST on`)", copy, key))
        return out


def _counted(reader: CopyReader, store: ObjectStore) -> Callable[[str], bytes]:
    return lambda key: reader.read(store, key)
