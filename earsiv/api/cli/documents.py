"""``earsiv ingest | search | show | get | verify | evidence | legal-hold``: documents in and out."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import click

from earsiv.api.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_OPERATIONAL,
    parse_date,
    parse_digest,
    progress,
    row_json,
    session,
    tty,
)
from earsiv.archive.service_types import search_query
from earsiv.documents.metadata import KINDS

__all__ = ['evidence', 'get', 'ingest', 'legal_hold', 'search', 'show', 'verify']


class _Report:
    """Lines on stdout, each flushed as it is written: a caller reading a pipe learns what is durable when it is.

    A reader that stops reading (``earsiv ingest --json DIR | head -1``) does not stop the
    archiving it asked for: the rest is archived without lines, and stderr says so once
    (click would otherwise end the command quietly with exit code 1, half done).
    """

    def __init__(self) -> None:
        self.gone = False

    def line(self, text: str) -> None:
        if self.gone:
            return
        try:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            self.gone = True
            devnull = os.open(os.devnull, os.O_WRONLY)  # so that the flush at exit does not fail again
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            click.echo("earsiv: warning: stdout was closed; the rest is archived without a line each "
                       "(`earsiv status` counts them)", err=True)


@click.command()
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
    report = _Report()
    with session(ctx) as (service, who):
        results = service.ingest_files(who, paths, tenant, check_signatures=not no_signatures)
        counts = _print_results(results, _count_inputs(paths) if tty() else None, as_json, report)
        if not no_signatures:  # what the ingest left (nothing, unless it was interrupted before)
            with progress(None, "signatures", tty()) as bar:
                service.inspect_signatures(bar)
            with progress(None, "full-text", tty()) as bar:
                service.catch_up_text(bar)
    if not as_json:
        report.line(", ".join(f"{n} {s}" for s, n in counts.items()))
    if service.stamp_error:
        click.echo(f"earsiv: error: the documents are stored, but the last checkpoint is not time-stamped yet: "
                   f"{service.stamp_error} (it is stamped on the next run; `earsiv status` counts unstamped checkpoints)", err=True)
        ctx.exit(EXIT_OPERATIONAL)
    ctx.exit(EXIT_FAILED if counts["rejected"] else EXIT_OK)


def _print_results(results, total: int | None, as_json: bool, report: _Report) -> dict[str, int]:
    """One line per input as its document is durable (JSON), or the rejected and conflicting ones; the counts."""
    counts = dict.fromkeys(("stored", "duplicate", "conflict", "rejected"), 0)
    with progress(total, "ingest", tty()) as bar:
        for res in results:
            counts[res.status] += 1
            bar.update(1)
            if as_json:
                report.line(json.dumps(res.to_json(), ensure_ascii=False))
            elif res.status == "rejected":
                bar.write(f"rejected  {res.path}: {res.error}", file=sys.stderr)
            elif res.status == "conflict":
                bar.write(f"conflict  {res.path}: same ETTN as {', '.join(d[:12] for d in res.conflicts_with)}",
                          file=sys.stderr)
    return counts


def _count_inputs(paths: tuple[Path, ...]) -> int:
    from earsiv.archive.sources import count_inputs

    return count_inputs(paths)


@click.command()
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
@click.option("--signature", "signature_status", metavar="STATUS",
              help="consistent (the bytes match the signature, nothing more), invalid, unsigned, unverifiable, "
                   "pending. 'valid' is refused: it never meant more than consistent.")
@click.option("--trust", "signature_trust", type=click.Choice(["trusted", "untrusted"]),
              help="Consistent signatures whose certificate chains (or not) at signing time to a configured root.")
@click.option("--signer", "signer_relation", type=click.Choice(["supplier", "other", "unknown"]),
              help="Consistent signatures whose certificate VKN/TCKN is the supplier's, another's, or missing.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--cursor", help="Continue after a previous page (printed with --json).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def search(ctx, vkn, date_from, date_to, kind, doc_id, ettn, profile, type_code, text, tenant, signature_status,
           signature_trust, signer_relation, limit, cursor, as_json) -> None:
    """Find documents by party, date, kind, number, ETTN or words (newest first)."""
    q = search_query(vkn=vkn, date_from=parse_date(date_from, "--from"), date_to=parse_date(date_to, "--to"), kind=kind,
                     doc_id=doc_id, ettn=ettn, profile=profile, type_code=type_code, text=text, tenant=tenant,
                     limit=limit, cursor=cursor, signature_status=signature_status, signature_trust=signature_trust,
                     signer_relation=signer_relation)
    with session(ctx) as (service, who):
        page = service.search(who, q)
    if as_json:
        click.echo(json.dumps([row_json(r) for r in page.rows], ensure_ascii=False, indent=1))
        if page.next_cursor:
            click.echo(f"next cursor: {page.next_cursor}", err=True)
        return
    for r in page.rows:
        sup = r.supplier_id or "-"
        cus = r.customer_id or "-"
        click.echo(f"{r.digest[:16]}  {r.issue_date or '----------'}  {r.kind:<15} {(r.doc_id or '-'):<18} {sup:>11} → {cus:<11}  {r.payable_amount or ''} {r.currency or ''}")
    if page.next_cursor:
        click.echo(f"(more: --cursor {page.next_cursor})", err=True)


@click.command()
@click.argument("digest", callback=lambda c, p, v: parse_digest(v))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx, digest: str, as_json: bool) -> None:
    """Show everything the index knows about one document."""
    from earsiv.archive.sources import printable

    with session(ctx) as (service, who):
        view = service.show(who, digest)
    data = row_json(view.row)
    for k in view.hidden_fields:
        data.pop(k, None)
    data["holdings"] = [{"tenant": h.tenant or None, "received_at": h.received_at.isoformat(),
                         "retain_until": h.retain_until.isoformat(), "legal_hold": h.legal_hold,
                         "source_name": printable(h.source_name) if h.source_name else None,
                         "log_index": h.log_index} for h in view.holdings]
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=1))
        return
    for k, v in data.items():
        if v not in (None, [], ""):
            click.echo(f"{k:>22}: {v}")


@click.command()
@click.argument("digest", callback=lambda c, p, v: parse_digest(v))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
@click.pass_context
def get(ctx, digest: str, output: Path | None) -> None:
    """Write the original bytes of a document (checked against its digest)."""
    with session(ctx) as (service, who):
        data = service.original(who, digest).data
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(data)


@click.command()
@click.argument("digests", nargs=-1, callback=lambda c, p, v: [parse_digest(d) for d in v])
@click.option("--all", "check_all", is_flag=True, help="Check every document, the whole log and every checkpoint.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def verify(ctx, digests: list[str], check_all: bool, as_json: bool) -> None:
    """Verify documents: blob → leaf → inclusion proof → signed checkpoint → TSA token.

    Exit 0 only if everything verifies; each failure is named.
    """
    if not digests and not check_all:
        raise click.UsageError("name one or more digests, or --all")
    with session(ctx) as (service, who), progress(None, "verify", tty()) as bar:
        checked = service.verify(who, None if check_all else digests, bar)
    findings = checked.findings
    if as_json:
        click.echo(json.dumps({"checked": checked.checked, "ok": checked.ok, "failures": [f.to_json() for f in findings]},
                              indent=1))
    else:
        for f in findings:
            click.echo(f"FAILED {f.subject}: {f.problem}")
        click.echo(f"{checked.checked} documents checked, {len(findings)} problems")
    ctx.exit(EXIT_FAILED if findings else EXIT_OK)


@click.command()
@click.argument("digest", callback=lambda c, p, v: parse_digest(v))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path), help="Directory to write.")
@click.pass_context
def evidence(ctx, digest: str, output: Path) -> None:
    """Write offline-verifiable evidence for a document (see the README it writes)."""
    with session(ctx) as (service, who):
        info, _event = service.write_evidence(who, digest, output)
    click.echo(f"evidence for {digest} written to {output} (leaf {info['log_index']}, checkpoint {info['checkpoint_size']})")


@click.command("legal-hold")
@click.argument("digest", callback=lambda c, p, v: parse_digest(v))
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option("--reason", default="", help="Why (recorded in the log with who did it); required with off.")
@click.option("--tenant", metavar="VKN", help="Only this tenant's holding (default: every holding of the document).")
@click.pass_context
def legal_hold(ctx, digest: str, state: str, reason: str, tenant: str | None) -> None:
    """Put a legal hold on a document, or lift it (recorded in the log).

    The stored bytes stay held while any tenant's holding is held.
    """
    with session(ctx) as (service, who):
        change = service.legal_hold(who, digest, state == "on", reason, tenant)
    whose = f" (holding of tenant {tenant})" if tenant else ""
    click.echo(f"legal hold {state} for {digest}{whose} (log entry {change.log_index})")
