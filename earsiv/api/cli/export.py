"""``earsiv export``: printable (PDF/A-3b, HTML) and original copies, one or a period's worth."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from earsiv.api.cli.common import (
    EXIT_FAILED,
    parse_date,
    parse_digest,
    progress,
    session,
    tty,
)
from earsiv.archive.service_types import FORMATS, search_query
from earsiv.documents.metadata import KINDS

__all__ = ["export"]


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
    if digest:
        digest = parse_digest(digest)
        with session(ctx) as (service, who):
            data = service.print_copy(who, digest, fmt).data
        output.write_bytes(data)
        if as_json:
            click.echo(json.dumps({"digest": digest, "format": fmt, "output": str(output), "bytes": len(data)}))
        return
    query = search_query(vkn=vkn, date_from=parse_date(date_from, "--from"), date_to=parse_date(date_to, "--to"),
                         kind=kind, limit=200)
    with session(ctx) as (service, who), progress(None, f"export {fmt}", tty()) as bar:
        summary = service.export(who, query, fmt, output, workers=workers, progress=bar).summary
    if as_json:
        click.echo(json.dumps(summary.to_json(), ensure_ascii=False))
    else:
        click.echo(f"exported {summary.written} document(s) to {summary.target}")
    for d, why in summary.failed:
        click.echo(f"earsiv: failed: {d}: {why}", err=True)
    if summary.failed:
        sys.exit(EXIT_FAILED)
