"""`earsiv disposal candidates` and `earsiv dispose`: what the law no longer asks to keep, and its removal."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from earsiv.api.cli.common import parse_date, session

__all__ = ["disposal", "dispose"]


def _before(value: str | None) -> dt.date:
    return parse_date(value, "--before") if value else dt.date.today()


@click.group()
def disposal() -> None:
    """Documents whose retention has ended (L1, L2)."""


@disposal.command("candidates")
@click.option("--vkn", help="Only blobs this taxpayer alone holds.")
@click.option("--before", metavar="YYYY-MM-DD", help="Retention ended before this day (default: today).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@click.pass_context
def candidates(ctx, vkn: str | None, before: str | None, as_json: bool) -> None:
    """List every document past every holding's retain-until, under no legal hold."""
    with session(ctx) as (service, who):
        for x in service.disposal_candidates(who, vkn, _before(before)):
            if as_json:
                click.echo(json.dumps({"digest": x.digest, "kind": x.kind, "id": x.doc_id,
                                       "issue_date": x.issue_date.isoformat() if x.issue_date else None,
                                       "retain_until": x.retain_until.isoformat(), "size": x.size}))
            else:
                click.echo(f"{x.digest}  {x.kind:<10} {x.doc_id or '-':<20} {x.issue_date or '-'}  "
                           f"retained until {x.retain_until:%Y-%m-%d}")


@click.command()
@click.option("--vkn", help="Only blobs this taxpayer alone holds.")
@click.option("--before", required=True, metavar="YYYY-MM-DD", help="Retention ended before this day (not later than today).")
@click.option("--reason", required=True, help="Why (goes into every disposal leaf and the certificate).")
@click.option("--confirm", metavar="PLAN", help="The plan's digest, as the run without it printed: carry it out.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="Folder for the signed certificate (JSON Lines, signature, key, PDF).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def dispose(ctx, vkn: str | None, before: str, reason: str, confirm: str | None, output: Path, as_json: bool) -> None:
    """Dispose of what has passed its retention, in two steps: plan, then confirm with the plan's digest.

    Without --confirm nothing changes: the plan is printed with its digest.  With it, the plan is
    made again and must match; each document is checked again, its disposal leaf written, then its
    blob deleted where the store allows it.  Anything under a legal hold or retention stays.
    """
    day = parse_date(before, "--before")
    with session(ctx) as (service, who):
        if confirm is None:
            plan = service.disposal_plan(who, vkn, day, reason)
            if as_json:
                click.echo(json.dumps(plan.to_json(), ensure_ascii=False))
                return
            click.echo(f"{plan.documents} documents ({plan.bytes} bytes) have passed their retention with no hold.")
            for x in plan.sample:
                click.echo(f"  {x.digest}  {x.kind} {x.doc_id or '-'} {x.issue_date or '-'}")
            if plan.documents:
                vkn_arg = f" --vkn {vkn}" if vkn else ""
                click.echo(f"plan {plan.digest}\nto dispose of them: earsiv dispose{vkn_arg} --before {day} "
                           f"--reason '{reason}' --confirm {plan.digest} -o DIR")
            return
        cert = service.dispose(who, vkn, day, reason, confirm, output)
    if as_json:
        click.echo(json.dumps(cert.to_json()))
    else:
        click.echo(f"{cert.disposed} disposed of, {cert.kept} kept; certificate: "
                   + ", ".join(str(p) for p in cert.files))
