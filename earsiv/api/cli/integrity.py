"""``earsiv audit | repair | damage-report | replica``: finding damage, repairing it, reporting it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from earsiv.api.cli.common import EXIT_FAILED, EXIT_OK, home, operator, progress, session, tty

__all__ = ["audit", "damage_report", "repair", "replica"]


def _budget(_ctx, _param, value: str | None):
    from earsiv.archive.audit import Budget

    if value is None:
        return Budget()
    try:
        return Budget.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _copy(f) -> str:
    return f" ({f.copy})" if f.copy == "replica" else ""


@click.command()
@click.option("--budget", callback=_budget, metavar="TIME|BYTES",
              help="Stop after this long (10m, 90s, 2h) or this much read (500MB, 2GB); the next run goes on "
                   "from there. Default: until the pass is finished.")
@click.option("--restart", is_flag=True, help="Begin a new pass instead of going on with the one under way.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def audit(ctx, budget, restart: bool, as_json: bool) -> None:
    """Read every object back and check it against what the log records (resumable).

    A pass covers the log up to its newest checkpoint: bundles, hash tiles, checkpoints,
    signatures, time-stamp tokens, blobs, dictionaries, keys and retention records, in the
    primary store and the replica. It only reads: findings and each finished pass are
    recorded as log leaves (once per object while a finding is open). `earsiv serve` runs it
    on its own, once every [audit] period_days. Exit 1 if this run found damage.
    """
    with session(ctx) as (service, who), progress(None, "audit", tty(), unit="leaf") as bar:
        report = service.audit(who, budget, restart=restart, progress=bar)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=1, ensure_ascii=False))
    else:
        for f in report.findings:
            click.echo(f"FAILED {f.subject}{_copy(f)}: {f.problem}")
        if report.pass_started is None:
            click.echo("nothing to audit yet: the log has no checkpoint")
        else:
            where = ("pass finished" if report.pass_finished
                     else f"pass at leaf {report.position} of {report.end}; run again to go on")
            click.echo(f"{report.checked} documents and {report.objects} objects ({report.bytes} bytes) read, "
                       f"{len(report.findings)} problems; {where}")
    ctx.exit(EXIT_FAILED if report.findings else EXIT_OK)


@click.command()
@click.argument("objects", nargs=-1)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def repair(ctx, objects: tuple[str, ...], as_json: bool) -> None:
    """Restore lost or damaged objects from an intact copy (the replica, or the primary for the replica).

    With no OBJECTS (store keys, e.g. blobs/ab/abcd…), every object of an open audit finding.
    Each copy is checked against what the log records before it is written and after; each
    repair is a log leaf. An object damaged in every copy is reported, never guessed. Exit 1
    if anything could not be repaired.
    """
    operator(ctx, "repair")
    with session(ctx) as (service, who), progress(None, "repair", tty(), unit="object") as bar:
        report = service.repair(who, list(objects) or None, bar)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=1, ensure_ascii=False))
    else:
        for r in report.repairs:
            source = f" from {r.source}" if r.outcome == "repaired" else ""
            detail = f": {r.detail}" if r.detail else ""
            click.echo(f"{r.outcome.upper()} {r.object} ({r.copy}){source}{detail}")
        counts = report.to_json()["counts"]
        click.echo(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing to repair")
    ctx.exit(EXIT_OK if report.ok else EXIT_FAILED)


@click.command("damage-report")
@click.option("--tenant", metavar="VKN", help="Only this taxpayer's report.")
@click.option("--format", "fmt", type=click.Choice(["json", "pdf"]), default="json", show_default=True)
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              help="Directory for one file per taxpayer (damage-report-VKN-DATE.json|pdf). "
                   "Without it, JSON goes to standard output; a PDF needs it.")
@click.option("--days", default=90, show_default=True, type=click.IntRange(min=0),
              help="Also list findings repaired within this many days (open ones always).")
@click.pass_context
def damage_report(ctx, tenant: str | None, fmt: str, output: Path | None, days: int) -> None:
    """What the audit found, per taxpayer, with the notice deadline (found + 15 days) and a draft notice.

    Each report lists the damaged objects and every record they touch in detail (kind, ID,
    ETTN, date, parties, digest), with the state of repair and the plan, and a draft notice
    to the tax office in Turkish (LAW.md L9). Findings that touch no taxpayer's records
    (tiles, checkpoints, keys) are in the report named "archive".
    """
    from earsiv.archive.damage import write_reports

    if fmt == "pdf" and output is None:
        raise click.UsageError("--format pdf writes files: give a directory with -o")
    with session(ctx) as (service, who):
        reports = service.damage_reports(who, tenant=tenant, days=days)
    if output is None:
        click.echo(json.dumps([r.to_json() for r in reports], indent=1, ensure_ascii=False))
        return
    for path in write_reports(reports, output, fmt):
        click.echo(str(path))
    if not reports:
        click.echo("no damage found: no report written", err=True)


@click.group()
def replica() -> None:
    """A second copy of the store at another site: add one, fill it."""


@replica.command("add")
@click.argument("url")
@click.option("--no-sync", is_flag=True, help="Only configure it; copy what the primary holds later (`replica sync`).")
@click.pass_context
def replica_add(ctx, url: str, no_sync: bool) -> None:
    """Configure URL (file:///path or s3://BUCKET?…, with Object Lock) as this home's replica, then fill it.

    From now on every object is written to both. What the primary held before is copied by
    `earsiv replica sync` (resumable), run here unless --no-sync.
    """
    from earsiv.archive.config import load_config
    from earsiv.archive.replica import add_replica

    operator(ctx, "replica add")
    resolved = add_replica(home(ctx), url, allow_unenforced_lock=load_config(home(ctx)).allow_unenforced_lock)
    click.echo(f"replica {resolved} added to {home(ctx) / 'config.toml'}")
    if not no_sync:
        ctx.invoke(replica_sync)


@replica.command("sync")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def replica_sync(ctx, as_json: bool = False) -> None:
    """Copy to the replica what the primary holds and it does not (read back and compared; resumable)."""
    operator(ctx, "replica sync")
    with session(ctx) as (service, who), progress(None, "replica sync", tty(), unit="object") as bar:
        report = service.replica_sync(who, bar)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=1))
    else:
        for f in report.failures:
            click.echo(f"FAILED {f}")
        click.echo(f"{report.copied} objects copied, {report.already_there} already there, {report.bytes} bytes "
                   f"verified, {len(report.failures)} failures")
    ctx.exit(EXIT_OK if report.ok else EXIT_FAILED)
