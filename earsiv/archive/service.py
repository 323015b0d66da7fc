"""The archive's use cases: what ``earsiv`` commands and HTTP routes do, each written once.

Every method takes the caller first: a ``Principal`` from a token (HTTP, or the CLI with
``--token``) or the operator (the CLI without one, ``Principal.operator``).  The method holds
every rule of its use case (who may, what they see, which file name they get, what goes into
the access log); an interface parses what was typed or sent, calls one method and prints or
serializes what it returns.

Reading a document goes through the access rules: a document the caller may not see is
"not found", and an inspector's every look is an access event in the log, durable before
anything is returned (``event``, its log index, so the interface can name it).

``ArchiveService.close`` closes the archive the one way: a checkpoint covers whatever this
process appended (documents, holds, grants, an inspector's access events); a process that
appended nothing makes none.

The access model's own use cases (principals, tokens, grants, the access log) are in
``service_access.py``; the answers' types in ``service_types.py``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import io
import logging
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Self

from earsiv.archive.archive import Archive
from earsiv.archive.disclosure import Disclosure
from earsiv.archive.errors import Forbidden, VerificationError
from earsiv.archive.service_access import AccessUseCases
from earsiv.archive.service_disposal import DisposalUseCases
from earsiv.archive.service_handback import HandBackUseCases
from earsiv.archive.service_integrity import IntegrityUseCases
from earsiv.archive.service_jobs import JobUseCases, SheetWriter
from earsiv.archive.service_reports import ReportUseCases
from earsiv.archive.service_types import (
    MAX_LOGGED_EXPORT,
    QUIET,
    DocumentView,
    Download,
    Exported,
    HoldChange,
    Listing,
    Migration,
    Packaged,
    Page,
    Progress,
    Verification,
    require_operator,
    search_query,
)
from earsiv.archive.service_web import WebUseCases
from earsiv.archive.stores.replicated import ReplicatedStore
from earsiv.errors import InvalidInput, StorageFull

if TYPE_CHECKING:
    from earsiv.archive.access import AccessEvents, Principal
    from earsiv.archive.archive import Status
    from earsiv.archive.background import Background
    from earsiv.archive.ingest import IngestResult, Source
    from earsiv.archive.jobs import JobRunner
    from earsiv.indexer.accessdb import HoldingRow
    from earsiv.indexer.query import SearchQuery
    from earsiv.indexer.rows import DocumentRow

__all__ = ["MAX_LOGGED_EXPORT", "ArchiveService", "package_filename", "search_query"]

log = logging.getLogger("earsiv.service")



class ArchiveService(AccessUseCases, IntegrityUseCases, WebUseCases, ReportUseCases, DisposalUseCases,
                     HandBackUseCases, JobUseCases):
    """One open archive's use cases, for the CLI and the HTTP API alike."""

    def __init__(self, arch: Archive, background: Background | None = None) -> None:
        self.archive = arch
        # A server's ingest queue and worker; None for a command, which finishes its own work.
        self.background = background
        self.disclosure = Disclosure(arch.index, arch.access)
        self.job_runner: JobRunner | None = None  # a server's take-away jobs (start_jobs)
        self.sheet_writers: dict[str, SheetWriter] = {}

    @classmethod
    def open(cls, home: Path, *, background: bool = False) -> ArchiveService:
        arch = Archive.open(home)
        try:
            if not background:
                return cls(arch)
            from earsiv.archive.background import Background

            return cls(arch, Background(arch))
        except BaseException:
            arch.close()
            raise

    @classmethod
    def create(cls, who: Principal, home: Path, *, store_url: str | None = None,
               db_url: str | None = None, replica_url: str | None = None) -> ArchiveService:
        """A new archive home (keys, built-in TSA, store, index, maybe a replica): the operator's."""
        from earsiv.archive.replica import mark_complete

        _operator(who, "create an archive")
        service = cls(Archive.init(home, store_url=store_url, db_url=db_url, replica_url=replica_url))
        store = service.archive.store
        if isinstance(store, ReplicatedStore):
            mark_complete(service.archive.home, store.replica.url)  # written together from the first object on
        return service

    def start(self) -> None:
        """Start the background work, after the store's self-test (a bucket that fails stops it here)."""
        if self.background is None:
            return
        if self.archive.config.store_location.in_turkey is None:  # outside Türkiye: Archive.open said so already
            log.warning("%s", self.archive.config.location_warnings(unstated=True)[0])
        try:
            self.background.start()
        except BaseException:
            self.close()
            raise

    def start_jobs(self, sheet_writers: dict[str, SheetWriter]) -> None:
        """Run this server's take-away jobs (a server's only); *sheet_writers*: kind -> rows to bytes (csv, xlsx)."""
        if self.background is None:
            return
        from earsiv.archive.jobs import JobRunner, node_name

        config = self.archive.config
        self.sheet_writers = dict(sheet_writers)
        self.job_runner = JobRunner(self.archive.index.jobs, self.archive.home / "jobs", node_name(self.archive.home),
                                    self.run_job, workers=config.jobs_workers,
                                    keep=dt.timedelta(hours=config.jobs_keep_hours))
        self.job_runner.start()

    def close(self) -> None:
        """Stop the background work (what it accepted is finished first), then close the archive."""
        try:
            if self.job_runner is not None:
                self.job_runner.close()
            if self.background is not None:
                self.background.close()
        finally:
            self.archive.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def home(self) -> Path:
        return self.archive.home

    @property
    def archive_id(self) -> str:
        return self.archive.config.archive_id

    @property
    def stamp_error(self) -> str | None:
        """Why the last checkpoint is not time-stamped yet (it is, on a later run), if it is not."""
        return self.archive.stamp_error

    # -- documents in -------------------------------------------------------------------
    def ingest_tenant(self, who: Principal, tenant: str | None) -> str | None:
        """The tenant *who* archives for: checked before anything is read, so a refused caller sends nothing."""
        return self.archive.access.ingest_tenant(who, tenant)

    def ingest(self, who: Principal, sources: Iterable[Source], tenant: str | None = None, *,
               check_signatures: bool = False) -> Iterable[IngestResult]:
        """Archive *sources* for *tenant*: each result once its document is durable (or rejected).

        With a background (a server) the documents go into the next group commit shared with
        every other request (its worker checks signatures); a command archives them itself,
        as they are read, checking signatures beside if asked.
        """
        tenant = self.ingest_tenant(who, tenant)
        if self.background is not None:
            results = self.background.ingest(sources, tenant)
        else:
            results = self.archive.ingest(sources, tenant=tenant, check_signatures=check_signatures)
        if who.is_admin:
            return results
        return (self.disclosure.ingest_result(who, r) for r in results)

    def ingest_files(self, who: Principal, paths: Iterable[Path], tenant: str | None = None, *,
                     check_signatures: bool = False) -> Iterable[IngestResult]:
        """Files, folders (recursively) and ZIP archives (a dangerous one refused whole, ``sources.expand``).

        *check_signatures*: check the new documents' signatures beside the ingest (``signatures.py``).
        """
        from earsiv.archive.sources import expand

        tenant = self.ingest_tenant(who, tenant)
        return self.ingest(who, expand(paths, max_file_bytes=self.archive.config.max_document_bytes), tenant,
                           check_signatures=check_signatures)

    # What a server's worker does in the background after an ingest, done now by a command
    # that archived documents; it shows the caller nothing, so it takes none.
    def inspect_signatures(self, progress: Progress = QUIET) -> int:
        """Inspect the signatures of the documents archived without; return how many."""
        progress.reset(total=self.archive.index.stats().pending_signatures)
        return self.archive.inspect_pending(progress.update)

    def catch_up_text(self, progress: Progress = QUIET) -> int:
        """Take what was archived into the full-text index; return how many log entries."""
        progress.reset(total=self.archive.text.lag())
        return self.archive.text.catch_up(progress.update)

    def legal_hold(self, who: Principal, digest: str, on: bool, reason: str = "",
                   tenant: str | None = None) -> HoldChange:
        """Put a hold on one tenant's holding (*tenant*) or every holding of a document, or lift it (admins).

        Lifting needs a reason: a hold keeps what a court or an inspection may still ask for, and
        the log says who released it and why.
        """
        self.archive.access.require(who, "admin", what="put or lift legal holds")
        if not on and not reason.strip():
            raise InvalidInput("yasal tutmayı kaldırmanın nedenini yazın / lifting a legal hold needs a reason "
                               "(it is recorded in the log with who lifted it)")
        index = self.archive.set_legal_hold(digest, on, reason.strip(), tenant=tenant, by=who.name)
        row, _event = self.archive.access.document(who, digest)
        return HoldChange(row.digest, index, self._holdings(who, [row.digest]).get(row.digest, []))

    # -- documents out ------------------------------------------------------------------
    def search(self, who: Principal, q: SearchQuery) -> Page:
        """A page of what *who* may see, with the holdings of each it may see."""
        if q.text is not None and self.background is None:
            # No worker keeps the full-text index in step: what was archived since the last run is found too.
            try:
                self.archive.text.catch_up()
            except StorageFull as exc:
                log.warning("the full-text index is %d log entries behind and cannot catch up (%s); words in "
                            "those documents are not found", self.archive.text.lag(), exc)
        page, event = self.archive.access.search(who, q)
        rows = self.disclosure.rows(who, page.rows, q)
        return Page(rows, page.next_cursor, self._holdings(who, [r.digest for r in rows]), event)

    def show(self, who: Principal, digest: str) -> DocumentView:
        row, event = self.archive.access.document(who, digest)
        (row,) = self.disclosure.rows(who, [row])
        return DocumentView(row, self._holdings(who, [row.digest]).get(row.digest, []), event,
                            summary=who.is_admin)

    def copy_is_current(self, who: Principal, digest: str) -> bool:
        """Whether a caller whose copy has this digest may be told it is current instead of getting the bytes.

        Content-addressed: a matching digest means identical bytes.  The document must still
        be visible (the answer must not reveal that it exists), and an inspector always gets
        the bytes: each download is an access event.
        """
        if who.role == "inspector":
            return False
        self.archive.access.document(who, digest)
        return True

    def original(self, who: Principal, digest: str) -> Download:
        """The exact bytes, checked against the digest, under the name the caller's holding was received by."""
        row, event = self.archive.access.document(who, digest, "original")
        try:
            data = self.archive.original(row.digest)
        except VerificationError as exc:
            if exc.name is not None:
                raise
            # The blob codec does not know which document it decodes; say it.
            raise VerificationError(exc.detail, name=row.digest) from exc
        return Download(row.digest, self._received_name(who, row), data, event)

    def _received_name(self, who: Principal, row: DocumentRow) -> str:
        # A holding's file name is that holding's: a tenant gets its own, an admin the first
        # holding's, an inspector (who sees documents, not holdings) one made from the number.
        own = self.archive.access.own_holding(who, row)
        if own is None and who.is_admin:
            own = min(self._holdings(who, [row.digest]).get(row.digest, []), key=lambda h: h.log_index, default=None)
        if own is not None and own.source_name:
            return own.source_name
        return f"{row.doc_id}.xml" if row.doc_id else f"{row.digest[:16]}.xml"

    def verify(self, who: Principal, digests: Sequence[str] | None, progress: Progress = QUIET) -> Verification:
        """Each document's chain (blob → leaf → inclusion proof → signed checkpoint → stamp), or with
        *digests* None the whole archive (admins).  A failure is a finding, not an error."""
        from earsiv.archive.audit import verify_all

        if digests is None:
            self.archive.access.require(who, "admin", what="audit the whole archive")
            checked, findings = verify_all(self.archive, None, progress.update)
            return Verification(checked, findings, ())
        looked = [self.archive.access.document(who, d, "verify") for d in digests]
        progress.reset(total=len(looked))
        checked, findings = verify_all(self.archive, [row.digest for row, _e in looked], progress.update)
        return Verification(checked, findings, tuple(e for _r, e in looked if e is not None))

    def write_evidence(self, who: Principal, digest: str, out: Path) -> tuple[dict, AccessEvents | None]:
        """The evidence folder a standard toolbox checks (its README says how); (what was written, event).

        A tenant's principal gets the proof of its own holding's leaf, never another tenant's.
        """
        from earsiv.archive.evidence import write_evidence

        row, event = self.archive.access.document(who, digest, "evidence")
        own = self._own_leaf(who, row)
        return write_evidence(self.archive, row.digest, out, own), event

    def _own_leaf(self, who: Principal, row: DocumentRow) -> int | None:
        """The leaf *who*'s evidence of a document proves: a tenant's own holding's; None (the document's
        own) for admins and inspectors.  A tenant's principal that sees the document only because it
        names one of its taxpayers has no holding to prove, and the document's leaf is not for it (it
        names the blob's dictionary and the conflicting documents, which may be other tenants'):
        ``Forbidden``, telling it what it may have instead."""
        own = self.archive.access.own_holding(who, row)
        if own is None and who.role in ("integrator", "accountant"):
            raise Forbidden(f"no holding of {', '.join(sorted(who.tenants))} keeps document {row.digest}: it is shown "
                            "because it names your taxpayer, and its evidence proves another's holding (what inspectors "
                            "were shown of it, the access log proves)", name=row.digest)
        return own.log_index if own else None

    def evidence_zip(self, who: Principal, digest: str) -> Download:
        """The evidence folder as a ZIP holding one folder, ``evidence-<digest 16>``."""
        folder = f"evidence-{digest[:16]}"
        buf = io.BytesIO()
        with tempfile.TemporaryDirectory(prefix="earsiv-evidence-") as tmp:
            _info, event = self.write_evidence(who, digest, Path(tmp))
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                for p in sorted(Path(tmp).iterdir()):
                    zf.write(p, f"{folder}/{p.name}")
        return Download(digest, f"{folder}.zip", buf.getvalue(), event)

    def print_copy(self, who: Principal, digest: str, fmt: str) -> Download:
        """A printable copy (pdf, html) or the original (xml), proving the caller's own holding."""
        from earsiv.archive.export import PrintFor, export_one

        row, event = self.archive.access.document(who, digest, "print")
        whom = self._print_for(who)
        pf = whom([row.digest])[row.digest] if whom is not None else PrintFor()
        data = export_one(self.archive, row.digest, fmt, pf.leaf_index, flags=pf.flags, prove=pf.prove,
                          owner=who.name)
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in (row.doc_id or row.digest[:16]))[:80]
        return Download(row.digest, f"{stem or row.digest[:16]}.{fmt}", data, event)

    def listing(self, who: Principal, q: SearchQuery, max_rows: int) -> Listing:
        """Every page of a search (``limit`` and ``cursor`` ignored), up to *max_rows*: one access event for an inspector."""
        from earsiv.archive.access import query_params

        asked = dataclasses.replace(q, cursor=None)
        scoped, grants = self.archive.access.scoped(who, dataclasses.replace(asked, limit=1000))
        rows: list[DocumentRow] = []
        page_q = scoped
        while len(rows) < max_rows:
            page = self.archive.search(page_q)
            rows.extend(page.rows[: max_rows - len(rows)])
            if not page.next_cursor:
                break
            page_q = page_q.after(page.next_cursor)
        event = None
        if who.role == "inspector":
            params = {**query_params(asked), "max": max_rows}
            params.pop("limit", None)
            event = self.archive.access.record(who, "export", grants, params, [r.digest for r in rows])
        return Listing(list(self.disclosure.rows(who, rows, asked)), event)

    def export(self, who: Principal, q: SearchQuery, fmt: str, out: Path, *, workers: int | None = None,
               progress: Progress = QUIET) -> Exported:
        """Every document *q* matches, printed (or as XML) into a folder or a .zip.

        An inspector's export is one access event naming every document, logged before
        anything is written, and exactly those documents are exported, even if more arrive.
        """
        from earsiv.archive.export import export_bulk

        scoped, grants = self.archive.access.scoped(who, q)
        event = None
        if grants:
            digests = self._all_digests(scoped)
            event = self._record_export(who, q, grants, digests)
            if digests:
                scoped = dataclasses.replace(scoped, digests=tuple(digests))
        return Exported(export_bulk(self.archive, scoped, fmt, out, workers=workers, progress=progress.update,
                                    print_for=self._print_for(who, q)), event)

    def _print_for(self, who: Principal, q: SearchQuery | None = None):
        """Whom each print is for, a batch of digests at a time (None: an admin's, the document's own leaf).

        A tenant's principal gets its own holding's proof, and none for a document it holds no copy
        of (the document's leaf is not for it, as for evidence); every caller but an admin gets the
        flag of what it is shown in a taxpayer's name that no holding of that taxpayer backs."""
        from earsiv.archive.disclosure import NOT_HELD
        from earsiv.archive.export import PrintFor

        if who.is_admin:
            return None
        tenant = who.role in ("integrator", "accountant")

        def whom(digests: list[str]) -> dict[str, PrintFor]:
            unheld = self.disclosure.unheld(who, digests, q)
            own = self.archive.index.access.holdings_of(digests, who.tenants) if tenant else {}
            return {d: PrintFor(min(h.log_index for h in own[d]) if d in own else None, d in own or not tenant,
                                (NOT_HELD,) if d in unheld else ()) for d in digests}

        return whom

    def _all_digests(self, q: SearchQuery) -> list[str]:
        digests: list[str] = []
        while True:
            page = self.archive.index.search(q)
            digests.extend(r.digest for r in page.rows)
            if not page.next_cursor:
                return digests
            q = q.after(page.next_cursor)

    def _record_export(self, who: Principal, asked: SearchQuery, grants: list, digests: list[str]) -> AccessEvents:
        from earsiv.archive.access import query_params

        if len(digests) > MAX_LOGGED_EXPORT:
            raise InvalidInput(f"{len(digests)} documents: an inspector's export is at most {MAX_LOGGED_EXPORT}; "
                               f"narrow the period")
        return self.archive.access.record(who, "export", grants, query_params(asked), digests)

    def package(self, who: Principal, vkn: str, date_from: dt.date, date_to: dt.date, kind: str | None, out: Path, *,
                pdf: bool = False, iso: bool = False, progress: Progress = QUIET) -> Packaged:
        """A period's inspection package (BagIt, with every document's evidence and a verifier).

        Admins for any VKN; an inspector for what its grants cover (the period is cut to
        them), and the package is an access event naming every document in it.
        """
        from earsiv.archive.package.build import PackageRequest, build_package

        windows, grants = self.archive.access.package_windows(who, vkn, date_from, date_to)
        req = PackageRequest(vkn=vkn, date_from=date_from, date_to=date_to, kind=kind, windows=windows)
        render = self._pdf_renderer(who.name) if pdf else None
        result = build_package(self.archive, req, out, render_pdf=render, progress=progress.update)
        event = None
        if grants:
            params = {"vkn": vkn, "date_from": str(date_from), "date_to": str(date_to), "kind": kind}
            event = self.archive.access.record(who, "package", grants, params, result.digests)
        iso_path = None
        if iso:
            from earsiv.archive.package.iso import write_iso

            iso_path = write_iso(out, out.with_suffix(".iso"))
        return Packaged(result, event, iso_path)

    def _pdf_renderer(self, owner: str):
        # Printable copies are a separate component: WeasyPrint may be missing where packages are made.
        missing = importlib.util.find_spec("weasyprint") is None
        try:
            from earsiv.archive.export import export_one
        except ImportError as exc:
            missing = True
            why = str(exc)
        else:
            why = "no module named 'weasyprint'"
        if missing:
            raise InvalidInput(f"PDFs need the rendering component (earsiv.render and WeasyPrint), "
                               f"which is not installed: {why}")
        return lambda digest, flags: export_one(self.archive, digest, "pdf", flags=flags, owner=owner)

    # -- the archive ----------------------------------------------------------------------
    def status(self, who: Principal) -> Status:
        from earsiv.archive.audit import audit_status
        from earsiv.archive.replica import replica_status

        self.archive.access.require(who, "admin", what="read the archive's status")
        return dataclasses.replace(self.archive.status(), audit=audit_status(self.archive),
                                   replica=replica_status(self.archive))

    def key_certificate(self, who: Principal) -> str:
        """The printable page with the archive key's fingerprint, to hand out apart from packages."""
        from earsiv.archive.keycert import key_certificate

        self.archive.access.require(who, "admin", what="print the archive key certificate")
        return key_certificate(self.archive)

    def rotate_key(self, who: Principal, *, reason: str) -> dict:
        """A new checkpoint-signing key, introduced in the log by the old one; the old private key is deleted."""
        _operator(who, "rotate the archive key")
        return self.archive.rotate_key(reason=reason, by=who.name)

    def confirm_tsa_certificates(self, who: Principal, fingerprints: Sequence[str]) -> list[str]:
        """Trust TSA certificates an earlier version stored from tokens, once the operator compared them."""
        _operator(who, "confirm TSA certificates")
        return self.archive.confirm_tsa_certificates(fingerprints)

    def renew(self, who: Principal, *, everything: bool = False) -> dict:
        """Renew the time stamps that expire within 180 days (all with *everything*): one stamp for all."""
        _operator(who, "renew time stamps")
        return self.archive.renew_stamps(everything=everything)

    def renew_hashes(self, who: Principal, hash_name: str, *, batch: int | None = None, everything: bool = False,
                     progress: Progress = QUIET) -> dict:
        """Hash-tree renewal (RFC 4998 §5.3): every document not yet covered, hashed anew with *hash_name*
        together with its evidence so far, under one stamp per *batch* documents. Reads each document once."""
        _operator(who, "renew the hash of the evidence")

        def step(done: int, total: int) -> None:
            if done == 1:
                progress.reset(total=total)
            progress.update(1)

        from earsiv.archive.hashtree import renew

        return renew(self.archive, hash_name, batch=batch, everything=everything, progress=step)

    def reindex(self, who: Principal, progress: Progress = QUIET) -> int:
        """Rebuild the SQL and full-text indexes from the store alone (the operator's); return the leaves read."""
        _operator(who, "rebuild the indexes")
        progress.reset(total=self.archive.log.size)
        return self.archive.reindex(progress.update)

    def migrate_store(self, who: Principal, to: str, *, switch: bool = False, progress: Progress = QUIET) -> Migration:
        """Copy every object of the store to the store *to* names (self-tested first), each read back
        and compared; with *switch*, after a copy without failures, point the home's config at it."""
        from earsiv.archive.archive import open_store
        from earsiv.archive.migrate import destination_url, migrate_store, switch_home

        _operator(who, "migrate the store")
        self.archive.checkpoint()  # the newest documents are covered by a stamped checkpoint in the copy too
        url = destination_url(to)
        dest = open_store(url, allow_unenforced_lock=self.archive.config.allow_unenforced_lock, self_test=True)
        try:
            progress.reset(total=sum(1 for _ in self.archive.store.list("")))
            report = migrate_store(self.archive, dest, progress.update)
        finally:
            dest.close()
        switched = report.ok and switch
        if switched:
            switch_home(self.archive.home, url)
        return Migration(report, url, switched)

    def _holdings(self, who: Principal, digests: Iterable[str]) -> dict[str, list[HoldingRow]]:
        tenants = self.archive.access.visible_tenants(who)
        if tenants is not None and not tenants:
            return {}
        return self.archive.index.access.holdings_of(digests, tenants)


def package_filename(vkn: str, date_from: dt.date, date_to: dt.date) -> str:
    """The name a package is handed out under; the bag inside is named after it."""
    return f"earsiv-{vkn}-{date_from}-{date_to}.zip"


def _operator(who: Principal, what: str) -> None:
    require_operator(who, what)
