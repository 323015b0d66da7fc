"""``earsiv export``: printable (PDF/A-3b, HTML) and original copies, one or a period's worth."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click

from earsiv.api.cli.common import (
    EXIT_FAILED,
    caller,
    open_archive,
    parse_date,
    parse_digest,
    progress,
    tty,
)
from earsiv.archive.access import query_params
from earsiv.archive.export import FORMATS, export_bulk, export_one
from earsiv.documents.metadata import KINDS
from earsiv.indexer.query import SearchQuery

__all__ = ["export"]

MAX_LOGGED_EXPORT = 20_000  # digests in one access event (and one SQL IN list)


@click.command()
@click.argument("digest", required=False)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="pdf", show_default=True)
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="File (one document), or directory or .zip (bulk).")
@click.option("--vkn", help="Bulk: documents where this VKN/TCKN is any party.")
@click.option("--from", "date_from", metavar="YYYY-MM-DD", help="Bulk: issue date from (inclusive).")
@click.option("--to", "date_to", metavar="YYYY-MM-DD", help="Bulk: issue date to (inclusive).")
@click.option("--kind", type=click.Choice(list(KINDS)), help="Bulk: only this kind.")
@click.option("--workers", type=click.IntRange(1, 256), help="Bulk: rendering processes (default: all cores).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@click.pass_context
def export(ctx, digest, fmt, output, vkn, date_from, date_to, kind, workers, as_json) -> None:
    """Export one document (DIGEST) or every document of a period (--vkn/--from/--to).

    PDFs are PDF/A-3b on A4 with the original XML and its evidence embedded and
    a footer on every page naming the original (kind, ID, ETTN, sha256, log
    index, checkpoint time, signature status, QR code of the digest).
    """
    bulk = any(v is not None for v in (vkn, date_from, date_to, kind))
    if digest and bulk:
        raise click.UsageError("give either a DIGEST or --vkn/--from/--to/--kind, not both")
    if not digest and not bulk:
        raise click.UsageError("give a DIGEST, or --vkn/--from/--to for a bulk export")
    arch = open_archive(ctx)
    try:
        who = caller(ctx, arch)
        if digest:
            own = None
            if who is not None:
                row, _event = arch.access.document(who, parse_digest(digest), "print")
                own = arch.access.own_holding(who, row)
            data = export_one(arch, parse_digest(digest), fmt, own.log_index if own else None)
            output.write_bytes(data)
            if as_json:
                click.echo(json.dumps({"digest": digest, "format": fmt, "output": str(output), "bytes": len(data)}))
            return
        try:
            query = SearchQuery(vkn=vkn, date_from=parse_date(date_from, "--from"), date_to=parse_date(date_to, "--to"), kind=kind, limit=200)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        if who is not None:
            asked = query
            query, grants = arch.access.scoped(who, query)
            if grants:  # an inspector's export is one access event naming every document, logged first
                digests, q = [], query
                while True:
                    page = arch.index.search(q)
                    digests.extend(r.digest for r in page.rows)
                    if not page.next_cursor:
                        break
                    q = q.after(page.next_cursor)
                if len(digests) > MAX_LOGGED_EXPORT:
                    raise click.UsageError(f"{len(digests)} documents: an inspector's export is at most "
                                           f"{MAX_LOGGED_EXPORT}; narrow the period")
                arch.access.record(who, "export", grants, query_params(asked), digests)
                # Exactly what the event names, even if documents arrive meanwhile.
                query = dataclasses.replace(query, digests=tuple(digests)) if digests else query
        with progress(None, f"export {fmt}", tty()) as bar:
            summary = export_bulk(arch, query, fmt, output, workers=workers, progress=bar.update)
    finally:
        arch.close()
    if as_json:
        click.echo(json.dumps(summary.to_json(), ensure_ascii=False))
    else:
        click.echo(f"exported {summary.written} document(s) to {summary.target}")
    for d, why in summary.failed:
        click.echo(f"earsiv: failed: {d}: {why}", err=True)
    if summary.failed:
        sys.exit(EXIT_FAILED)
