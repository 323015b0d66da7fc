"""The ``earsiv`` command.  No business rules here: parse, call the archive, print.

Exit codes: 0 success; 1 a verification or validation failure (a document
rejected, a proof that does not verify); 2 usage error; 3 operational failure
(store, index or TSA unavailable, misconfiguration).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
from pathlib import Path

import click

from ..archive.access import Principal
from ..archive.archive import Archive
from ..archive.errors import ArchiveError
from ..archive.evidence import verify_all, write_evidence
from ..archive.sources import count_inputs, expand
from ..indexer.errors import IndexerError
from ..indexer.metadata import KINDS
from ..indexer.query import SearchQuery

__all__ = ["cli", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_OPERATIONAL = 0, 1, 2, 3
DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")


def _default_home() -> str:
    return os.environ.get("EARSIV_HOME") or "./earsiv-data"


def _progress(total: int | None, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="doc", disable=not enabled, file=sys.stderr, leave=False)


def _tty() -> bool:
    return sys.stderr.isatty()


def _open(ctx: click.Context) -> Archive:
    return Archive.open(Path(ctx.obj["home"]))


def _who(ctx: click.Context, arch: Archive) -> Principal | None:
    """The principal of --token / $EARSIV_TOKEN, or None: the operator, who may do everything."""
    token = ctx.obj.get("token")
    return arch.access.authenticate(token) if token else None


def _admin_or_operator(ctx: click.Context, arch: Archive, what: str) -> Principal | None:
    who = _who(ctx, arch)
    if who is not None:
        arch.access.require(who, "admin", what=what)
    return who


def _operator_only(ctx: click.Context, what: str) -> None:
    if ctx.obj.get("token"):
        raise click.UsageError(f"{what} is the operator's (it works on the archive's files): run it without --token")


def _row_json(row) -> dict:
    data = row.to_json()
    data.setdefault("id", data.get("doc_id"))  # the name other tools use (issue contract)
    return data


def _digest(value: str) -> str:
    value = value.strip().lower()
    if not DIGEST_RE.match(value):
        raise click.BadParameter(f"{value!r} is not a sha256 digest (64 hex digits)")
    return value


def _date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date in the form YYYY-MM-DD", param_hint=name) from None


class _Group(click.Group):
    """Maps our errors to their exit codes with a one-line message."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (ArchiveError, IndexerError) as exc:
            click.echo(f"earsiv: error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False), default=_default_home, show_default="$EARSIV_HOME or ./earsiv-data",
              help="The archive home directory.")
@click.option("--allow-unenforced-lock", is_flag=True, envvar="EARSIV_ALLOW_UNENFORCED_LOCK",
              help="DEVELOPMENT ONLY: run on an S3 bucket that failed the Object Lock self-test.")
@click.option("--token", envvar="EARSIV_TOKEN", metavar="TOKEN", show_envvar=True,
              help="Act as this API token's principal: its role, tenants and grants, and (inspectors) every "
                   "look logged, exactly as over HTTP. Without it the CLI acts as the archive's operator.")
@click.version_option(package_name="earsiv")
@click.pass_context
def cli(ctx: click.Context, home: str, allow_unenforced_lock: bool, token: str | None) -> None:
    """earsiv: a write-once, provable archive for Turkish e-documents.

    Documents are kept byte for byte in content-addressed storage, logged in a
    tamper-evident Merkle log whose checkpoints are time-stamped (RFC 3161),
    and indexed for search. Start with `earsiv init`, then `earsiv ingest`.
    """
    ctx.ensure_object(dict)
    ctx.obj["home"] = home
    ctx.obj["token"] = token
    if allow_unenforced_lock:
        os.environ["EARSIV_ALLOW_UNENFORCED_LOCK"] = "1"  # read where the store is opened; logged loudly there


@cli.command()
@click.option("--store", "store_url", metavar="URL",
              help="Where the documents go: file:///path (default HOME/store) or "
                   "s3://BUCKET?endpoint=URL&region=R (bucket with Object Lock). Default $EARSIV_STORE_URL.")
@click.option("--db", "db_url", metavar="URL",
              help="The SQL index: sqlite:///path (default HOME/index.sqlite) or postgresql+psycopg://user@host/db. "
                   "A URL with a password belongs in $EARSIV_DB_URL, not here.")
@click.pass_context
def init(ctx: click.Context, store_url: str | None, db_url: str | None) -> None:
    """Create a new archive home (keys, built-in TSA, store, index)."""
    _operator_only(ctx, "init")
    home = Path(ctx.obj["home"])
    arch = Archive.init(home, store_url=store_url, db_url=db_url)
    arch.close()
    click.echo(f"initialised archive {arch.config.archive_id} in {arch.home}")


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--tenant", metavar="VKN", help="Taxpayer (VKN/TCKN) the documents are archived for.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per input file on stdout.")
@click.option("--no-signatures", is_flag=True,
              help="Do not wait for signature inspection and full-text indexing (they stay pending; see `status`).")
@click.pass_context
def ingest(ctx: click.Context, paths: tuple[Path, ...], tenant: str | None, as_json: bool, no_signatures: bool) -> None:
    """Archive files, folders (recursively) and .zip archives.

    Each input gets a status: stored, duplicate (same bytes already kept),
    conflict (stored, but another document has the same ETTN) or rejected
    (not archived: the error says why). Exit code 1 if any was rejected.
    """
    if tenant is not None and not re.fullmatch(r"\d{10,11}", tenant):
        raise click.BadParameter(f"{tenant!r} is not a VKN (10 digits) or TCKN (11 digits)", param_hint="--tenant")
    arch = _open(ctx)
    counts = {s: 0 for s in ("stored", "duplicate", "conflict", "rejected")}
    try:
        who = _who(ctx, arch)
        if who is not None:
            tenant = arch.access.ingest_tenant(who, tenant)
        total = count_inputs(paths) if _tty() else None
        with _progress(total, "ingest", _tty()) as bar:
            for res in arch.ingest(expand(paths, max_file_bytes=arch.config.max_document_bytes), tenant=tenant):
                counts[res.status] += 1
                bar.update(1)
                if as_json:
                    click.echo(json.dumps(res.to_json(), ensure_ascii=False))
                elif res.status == "rejected":
                    bar.write(f"rejected  {res.path}: {res.error}", file=sys.stderr)
                elif res.status == "conflict":
                    bar.write(f"conflict  {res.path}: same ETTN as {', '.join(d[:12] for d in res.conflicts_with)}", file=sys.stderr)
        if not no_signatures:
            pending = arch.index.stats().pending_signatures
            with _progress(pending, "signatures", _tty() and pending > 0) as bar:
                arch.inspect_pending(bar.update)
            lag = arch.text.lag()
            with _progress(lag, "full-text", _tty() and lag > 0) as bar:
                arch.text.catch_up(bar.update)
    finally:
        arch.close()
    if not as_json:
        click.echo(", ".join(f"{n} {s}" for s, n in counts.items()))
    if arch.stamp_error:
        click.echo(f"earsiv: error: the documents are stored, but the last checkpoint is not time-stamped yet: "
                   f"{arch.stamp_error} (it is stamped on the next run; `earsiv status` counts unstamped checkpoints)", err=True)
        ctx.exit(EXIT_OPERATIONAL)
    ctx.exit(EXIT_FAILED if counts["rejected"] else EXIT_OK)


@cli.command()
@click.option("--vkn", help="VKN/TCKN as either party (supplier, customer, sender, receiver, e-Defter owner).")
@click.option("--from", "date_from", metavar="YYYY-MM-DD", help="Issue date on or after.")
@click.option("--to", "date_to", metavar="YYYY-MM-DD", help="Issue date on or before.")
@click.option("--kind", type=click.Choice(sorted(KINDS)), help="Document kind.")
@click.option("--id", "doc_id", help="Document number (cbc:ID).")
@click.option("--ettn", help="ETTN (cbc:UUID), any case.")
@click.option("--profile", help="ProfileID, e.g. TICARIFATURA.")
@click.option("--type", "type_code", help="Type code, e.g. SATIS, IADE.")
@click.option("-q", "--text", help="Words in party names, item names and notes, any keyboard (İ/I/ı, ş/s...); "
                                   "names match by prefix. Ranked, then newest first.")
@click.option("--tenant", metavar="VKN", help="Held by this tenant.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--cursor", help="Continue after a previous page (printed with --json).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def search(ctx, vkn, date_from, date_to, kind, doc_id, ettn, profile, type_code, text, tenant, limit, cursor,
           as_json) -> None:
    """Find documents by party, date, kind, number, ETTN or words (newest first)."""
    try:
        q = SearchQuery(vkn=vkn, date_from=_date(date_from, "--from"), date_to=_date(date_to, "--to"), kind=kind,
                        doc_id=doc_id, ettn=ettn, profile=profile, type_code=type_code, text=text, tenant=tenant,
                        limit=limit, cursor=cursor)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    arch = _open(ctx)
    try:
        if q.text is not None:
            arch.text.catch_up()  # what was archived since the last run is found too
        who = _who(ctx, arch)
        page = arch.access.search(who, q)[0] if who is not None else arch.search(q)
    finally:
        arch.index.close()
    if as_json:
        click.echo(json.dumps([_row_json(r) for r in page.rows], ensure_ascii=False, indent=1))
        if page.next_cursor:
            click.echo(f"next cursor: {page.next_cursor}", err=True)
        return
    for r in page.rows:
        sup = r.supplier_id or "-"
        cus = r.customer_id or "-"
        click.echo(f"{r.digest[:16]}  {r.issue_date or '----------'}  {r.kind:<15} {(r.doc_id or '-'):<18} {sup:>11} → {cus:<11}  {r.payable_amount or ''} {r.currency or ''}")
    if page.next_cursor:
        click.echo(f"(more: --cursor {page.next_cursor})", err=True)


@cli.command()
@click.argument("digest", callback=lambda c, p, v: _digest(v))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx, digest: str, as_json: bool) -> None:
    """Show everything the index knows about one document."""
    arch = _open(ctx)
    try:
        who = _who(ctx, arch)
        row = arch.access.document(who, digest)[0] if who is not None else arch.index.get(digest)
        tenants = arch.access.visible_tenants(who) if who is not None else None
        holdings = arch.index.access.holdings_of([digest], tenants).get(digest, []) if row is not None else []
    finally:
        arch.index.close()
    if row is None:
        click.echo(f"earsiv: error: no document with digest {digest}", err=True)
        ctx.exit(EXIT_FAILED)
    data = _row_json(row)
    # Who archived it is the holdings' (the row's own tenant/source_name are only set
    # for documents archived before holdings had leaves of their own); a principal
    # other than an admin sees its own holdings only, not the row's summary of all.
    drop = ("tenant", "source_name") if tenants is None else ("tenant", "source_name", "received_at", "legal_hold")
    for k in drop:
        data.pop(k, None)
    data["holdings"] = [{"tenant": h.tenant or None, "received_at": h.received_at.isoformat(),
                         "retain_until": h.retain_until.isoformat(), "legal_hold": h.legal_hold,
                         "source_name": h.source_name, "log_index": h.log_index} for h in holdings]
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=1))
        return
    for k, v in data.items():
        if v not in (None, [], ""):
            click.echo(f"{k:>22}: {v}")


@cli.command()
@click.argument("digest", callback=lambda c, p, v: _digest(v))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
@click.pass_context
def get(ctx, digest: str, output: Path | None) -> None:
    """Write the original bytes of a document (checked against its digest)."""
    arch = _open(ctx)
    try:
        who = _who(ctx, arch)
        if who is not None:
            arch.access.document(who, digest, "original")
        data = arch.original(digest)
    finally:
        arch.index.close()
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(data)


@cli.command()
@click.argument("digests", nargs=-1, callback=lambda c, p, v: [_digest(d) for d in v])
@click.option("--all", "check_all", is_flag=True, help="Check every document, the whole log and every checkpoint.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def verify(ctx, digests: list[str], check_all: bool, as_json: bool) -> None:
    """Verify documents: blob → leaf → inclusion proof → signed checkpoint → TSA token.

    Exit 0 only if everything verifies; each failure is named.
    """
    if not digests and not check_all:
        raise click.UsageError("name one or more digests, or --all")
    arch = _open(ctx)
    try:
        who = _who(ctx, arch)
        if who is not None:
            if check_all:
                arch.access.require(who, "admin", what="audit the whole archive")
            for d in digests:
                arch.access.document(who, d, "verify")
        total = None if check_all else len(digests)
        with _progress(total, "verify", _tty()) as bar:
            checked, findings = verify_all(arch, None if check_all else digests, bar.update)
    finally:
        arch.close()
    if as_json:
        click.echo(json.dumps({"checked": checked, "ok": not findings, "failures": [f.to_json() for f in findings]}, indent=1))
    else:
        for f in findings:
            click.echo(f"FAILED {f.subject}: {f.problem}")
        click.echo(f"{checked} documents checked, {len(findings)} problems")
    ctx.exit(EXIT_FAILED if findings else EXIT_OK)


@cli.command()
@click.argument("digest", callback=lambda c, p, v: _digest(v))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path), help="Directory to write.")
@click.pass_context
def evidence(ctx, digest: str, output: Path) -> None:
    """Write offline-verifiable evidence for a document (see the README it writes)."""
    arch = _open(ctx)
    try:
        who = _who(ctx, arch)
        own = None
        if who is not None:
            row, _event = arch.access.document(who, digest, "evidence")
            own = arch.access.own_holding(who, row)
        info = write_evidence(arch, digest, output, own.log_index if own else None)
    finally:
        arch.close()
    click.echo(f"evidence for {digest} written to {output} (leaf {info['log_index']}, checkpoint {info['checkpoint_size']})")


@cli.command()
@click.pass_context
def reindex(ctx) -> None:
    """Rebuild the SQL and full-text indexes from the object store alone."""
    _operator_only(ctx, "reindex")
    arch = _open(ctx)
    try:
        with _progress(arch.log.size, "reindex", _tty()) as bar:
            n = arch.reindex(bar.update)
    finally:
        arch.close()
    click.echo(f"reindexed {n} log entries")


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def status(ctx, as_json: bool) -> None:
    """Documents, bytes kept vs received, last checkpoint and its stamp, pending work."""
    arch = _open(ctx)
    try:
        _admin_or_operator(ctx, arch, "read the archive's status")
        st = arch.status().to_json()
    finally:
        arch.index.close()
    if as_json:
        click.echo(json.dumps(st, indent=1, ensure_ascii=False))
        return
    click.echo(f"documents:        {st['documents']}")
    click.echo(f"bytes received:   {st['bytes_original']}")
    ratio = f" ({st['stored_ratio'] * 100:.2f} %)" if st["stored_ratio"] is not None else ""
    click.echo(f"bytes stored:     {st['bytes_stored']}{ratio}")
    click.echo(f"log size:         {st['log_size']}")
    cp = st["last_checkpoint"]
    if cp:
        stamp = f"stamped {cp.get('stamp_time')} by {cp['tsa']}" if cp["stamped"] else "NOT STAMPED YET"
        click.echo(f"last checkpoint:  size {cp['size']} at {cp['time']}, {stamp}")
    else:
        click.echo("last checkpoint:  none")
    click.echo(f"pending:          {st['pending']['signature_checks']} signature checks, {st['pending']['unstamped_checkpoints']} unstamped checkpoints, "
               f"{st['pending']['fulltext']} log entries not yet in the full-text index")
    for k, n in sorted(st["by_kind"].items()):
        click.echo(f"  {k:<16} {n}")


@cli.command("legal-hold")
@click.argument("digest", callback=lambda c, p, v: _digest(v))
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option("--reason", default="", help="Why (recorded in the log).")
@click.option("--tenant", metavar="VKN", help="Only this tenant's holding (default: every holding of the document).")
@click.pass_context
def legal_hold(ctx, digest: str, state: str, reason: str, tenant: str | None) -> None:
    """Put a legal hold on a document, or lift it (recorded in the log).

    The stored bytes stay held while any tenant's holding is held.
    """
    arch = _open(ctx)
    try:
        _admin_or_operator(ctx, arch, "put or lift legal holds")
        idx = arch.set_legal_hold(digest, state == "on", reason, tenant=tenant)
    finally:
        arch.close()
    whose = f" (holding of tenant {tenant})" if tenant else ""
    click.echo(f"legal hold {state} for {digest}{whose} (log entry {idx})")


@cli.command("migrate-store")
@click.option("--to", "to", required=True, metavar="URL_OR_CONFIG",
              help="Destination store URL (s3://BUCKET?endpoint=...&region=...), or a config TOML whose [store] url names it.")
@click.option("--switch", is_flag=True, help="After every object verified, point this home's config.toml at the new store.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def migrate_store_cmd(ctx, to: str, switch: bool, as_json: bool) -> None:
    """Copy this archive's store (documents, log, checkpoints, tokens, keys) to another store.

    Every object keeps its retention and legal hold and is read back and compared
    before it counts. Nothing is deleted from the source. Resumable.
    """
    _operator_only(ctx, "migrate-store")
    from ..archive.archive import open_store
    from ..archive.migrate import destination_url, migrate_store, switch_home

    arch = _open(ctx)
    try:
        arch.checkpoint()  # the newest documents are covered by a stamped checkpoint in the copy too
        url = destination_url(to)
        dest = open_store(url, allow_unenforced_lock=arch.config.allow_unenforced_lock)
        total = sum(1 for _ in arch.store.list(""))
        with _progress(total, "migrate", _tty()) as bar:
            report = migrate_store(arch, dest, bar.update)
    finally:
        arch.index.close()
    if report.ok and switch:
        switch_home(arch.home, url)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=1))
    else:
        for f in report.failures:
            click.echo(f"FAILED {f}")
        click.echo(f"{report.copied} objects copied, {report.already_there} already there, {report.bytes} bytes verified, "
                   f"{report.holds} legal holds, {len(report.failures)} failures")
        if report.ok and switch:
            click.echo(f"{arch.home / 'config.toml'} now points at {url}")
    ctx.exit(EXIT_OK if report.ok else EXIT_FAILED)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback unless you mean it).")
@click.option("--port", default=8000, show_default=True, type=int)
@click.pass_context
def serve(ctx, host: str, port: int) -> None:
    """Serve the HTTP API (OpenAPI at /docs)."""
    _operator_only(ctx, "serve")
    import uvicorn

    from .http import create_app

    if host not in ("127.0.0.1", "::1", "localhost"):
        click.echo(f"earsiv: warning: binding to {host}: the API is reachable from other machines", err=True)
    app = create_app(Path(ctx.obj["home"]))
    uvicorn.run(app, host=host, port=port, log_level="info")


def main() -> None:
    cli(prog_name="earsiv")


# Commands that live in their own modules; imported last because they use the
# helpers above.
from .cli_access import access_log, grant, principal, token
from .cli_export import export
from .cli_package import package, verify_package

for _command in (principal, token, grant, access_log):
    cli.add_command(_command)
cli.add_command(export)
cli.add_command(package)
cli.add_command(verify_package)
