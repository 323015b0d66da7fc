"""`earsiv report serials|edefter|responses`: what is not in this archive, and what is overdue."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from earsiv.api.cli.common import parse_date, session

__all__ = ["report"]

_FORMATS = ("json", "csv", "xlsx", "pdf")


def _command(name: str, doc: str) -> click.Command:
    @click.command(name, help=doc)
    @click.option("--vkn", required=True, help="The taxpayer (VKN/TCKN).")
    @click.option("--from", "date_from", required=True, metavar="YYYY-MM-DD", help="Documents dated on or after.")
    @click.option("--to", "date_to", required=True, metavar="YYYY-MM-DD", help="Documents dated on or before.")
    @click.option("--format", "fmt", type=click.Choice(_FORMATS), default="json", show_default=True)
    @click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                  help="Write the report here (default: standard output; xlsx and pdf need a file).")
    @click.pass_context
    def run(ctx, vkn: str, date_from: str, date_to: str, fmt: str, output: Path | None) -> None:
        from earsiv.archive.reportformat import render_report

        if output is None and fmt in ("xlsx", "pdf") and sys.stdout.isatty():
            raise click.BadParameter(f"a {fmt} report is binary: name a file with -o", param_hint="--output")
        start, end = parse_date(date_from, "--from"), parse_date(date_to, "--to")
        with session(ctx) as (service, who):
            rep = service.report(who, name, vkn.strip(), start, end).report
        data = render_report(rep, fmt)
        if output is None:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            output.write_bytes(data)
            summary = ", ".join(f"{k} {v}" for k, v in rep.summary.items())
            click.echo(f"{rep.title} of {rep.vkn}: {summary} -> {output}", err=True)

    return run


@click.group()
def report() -> None:
    """Compliance reports of one taxpayer and period (LAW.md L4, L11-L13).

    Everything missing is worded "not in this archive": an archive sees only what it was given.
    """


report.add_command(_command("serials", "Serial continuity: gaps as ranges, duplicates, IDs off the pattern, "
                                       "dates going back while numbers go forward (L11)."))
report.add_command(_command("edefter", "e-Defter months: yevmiye and kebir with their berats and GİB berats, "
                                       "seals, missing months, berat deadlines (L4)."))
report.add_command(_command("responses", "Receipt advices within 7 days, TICARIFATURA KABUL/RED within 8, "
                                         "unanswered ones, responses whose document is not here (L12, L13)."))
