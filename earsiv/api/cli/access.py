"""``earsiv principal | token | grant | access-log``: who may use the API, and what inspectors saw.

Without --token the command line is the archive's operator: every change made here is
logged with ``by = "cli:<login>"``; with one, it is that token's principal, with its rights.
"""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import click

from earsiv.api.cli.common import parse_date, session
from earsiv.archive.log.entries import ROLES

__all__ = ["access_log", "grant", "principal", "token"]

ISTANBUL = ZoneInfo("Europe/Istanbul")


def _vkn(_ctx, param, value):
    from earsiv.archive.access import parse_vkn
    from earsiv.errors import InvalidInput

    if value is None:
        return None
    values = value if isinstance(value, tuple) else (value,)
    try:
        out = tuple(parse_vkn(v) for v in values)
    except InvalidInput as exc:
        raise click.BadParameter(exc.detail, param=param) from None
    return out if isinstance(value, tuple) else out[0]


def expiry(value: str | None, name: str = "--expires") -> dt.datetime | None:
    """YYYY-MM-DD: through the end of that day in Türkiye; or an ISO 8601 date-time with offset."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), ISTANBUL).astimezone(dt.UTC)
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither YYYY-MM-DD nor an ISO 8601 date-time", param_hint=name) from None
    if when.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no UTC offset (write e.g. 2027-01-31T18:00+03:00)", param_hint=name)
    return when.astimezone(dt.UTC)


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def _principal_json(row) -> dict:
    return {"name": row.name, "role": row.role, "tenants": list(row.tenants), "disabled": row.disabled,
            "created_at": _iso(row.created_at)}


def _token_json(row) -> dict:
    return {"id": row.id, "principal": row.principal, "created_at": _iso(row.created_at),
            "expires_at": _iso(row.expires_at), "revoked_at": _iso(row.revoked_at)}


def grant_json(row) -> dict:
    return {"id": row.id, "inspector": row.inspector, "vkn": row.vkn, "from": row.date_from.isoformat(),
            "to": row.date_to.isoformat(), "expires_at": _iso(row.expires_at), "reference": row.reference,
            "created_by": row.created_by, "created_at": _iso(row.created_at), "revoked_at": _iso(row.revoked_at),
            "log_index": row.log_index}


# -- principals -------------------------------------------------------------------------------
@click.group()
def principal() -> None:
    """Who may use the HTTP API: admins, integrators, accountants, inspectors."""


@principal.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the principal may do.")
@click.option("--tenant", "tenants", multiple=True, metavar="VKN", callback=_vkn,
              help="A taxpayer the integrator or accountant works for (repeat for several).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def principal_add(ctx, name: str, role: str, tenants: tuple[str, ...], as_json: bool) -> None:
    """Add a principal. Integrators and accountants see only their tenants' documents;
    inspectors see only what their grants cover; admins see everything."""
    with session(ctx) as (service, who):
        row = service.add_principal(who, name, role, tenants)
    if as_json:
        click.echo(json.dumps(_principal_json(row)))
    else:
        links = f" for tenants {', '.join(row.tenants)}" if row.tenants else ""
        click.echo(f"added {row.role} {row.name!r}{links}; give it a token with: earsiv token create {row.name}")


@principal.command("set")
@click.argument("name")
@click.option("--tenant", "tenants", multiple=True, metavar="VKN", callback=_vkn,
              help="Replace the principal's tenants with these (repeat for several).")
@click.option("--disable/--enable", "disabled", default=None,
              help="A disabled principal's tokens stop working at once.")
@click.pass_context
def principal_set(ctx, name: str, tenants: tuple[str, ...], disabled: bool | None) -> None:
    """Change a principal's tenants, or disable/enable it."""
    with session(ctx) as (service, who):
        row = service.set_principal(who, name, tenants=tenants or None, disabled=disabled)
    state = "disabled" if row.disabled else "enabled"
    click.echo(f"{row.role} {row.name!r}: {state}, tenants {', '.join(row.tenants) or '(none)'}")


@principal.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def principal_list(ctx, as_json: bool) -> None:
    """List principals."""
    with session(ctx) as (service, who):
        rows = service.principals(who)
    if as_json:
        click.echo(json.dumps([_principal_json(r) for r in rows]))
        return
    for r in rows:
        flag = " (disabled)" if r.disabled else ""
        click.echo(f"{r.name}\t{r.role}\t{','.join(r.tenants) or '-'}{flag}")


# -- tokens -----------------------------------------------------------------------------------
@click.group()
def token() -> None:
    """API tokens: random, shown once, kept only as a hash, revocable, with expiry."""


@token.command("create")
@click.argument("name")
@click.option("--expires", metavar="DATE", help="YYYY-MM-DD (valid through that day, Türkiye time) or an ISO date-time.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def token_create(ctx, name: str, expires: str | None, as_json: bool) -> None:
    """Create a token for principal NAME and print it. It is shown this once only."""
    until = expiry(expires)
    with session(ctx) as (service, who):
        new = service.create_token(who, name, until)
    if as_json:
        click.echo(json.dumps({"id": new.id, "token": new.token, "principal": new.principal,
                               "expires_at": _iso(new.expires_at)}))
        return
    click.echo(new.token)
    until_text = f"expires {new.expires_at.isoformat()}" if new.expires_at else "does not expire"
    click.echo(f"token {new.id} for {new.principal!r}, {until_text}. It is not shown again: "
               f"send it as 'Authorization: Bearer <token>'.", err=True)


@token.command("list")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def token_list(ctx, name: str | None, as_json: bool) -> None:
    """List tokens (ids and dates; the tokens themselves are not kept)."""
    with session(ctx) as (service, who):
        rows = service.tokens(who, name)
    if as_json:
        click.echo(json.dumps([_token_json(r) for r in rows]))
        return
    for r in rows:
        state = f"revoked {r.revoked_at.isoformat()}" if r.revoked_at else (
            f"expires {r.expires_at.isoformat()}" if r.expires_at else "no expiry")
        click.echo(f"{r.id}\t{r.principal}\t{state}")


@token.command("revoke")
@click.argument("token_id", metavar="ID_OR_TOKEN")
@click.pass_context
def token_revoke(ctx, token_id: str) -> None:
    """Revoke a token at once (by its id, or by the token itself)."""
    with session(ctx) as (service, who):
        row = service.revoke_token(who, token_id)
    click.echo(f"token {row.id} of {row.principal!r} revoked")


# -- grants -----------------------------------------------------------------------------------
@click.group()
def grant() -> None:
    """Inspector grants: one VKN, one period, until an expiry, under an inspection order."""


@grant.command("add")
@click.option("--inspector", required=True, help="The inspector principal.")
@click.option("--vkn", required=True, callback=_vkn, help="The taxpayer under inspection (VKN/TCKN).")
@click.option("--from", "date_from", required=True, metavar="YYYY-MM-DD", help="First issue date covered.")
@click.option("--to", "date_to", required=True, metavar="YYYY-MM-DD", help="Last issue date covered.")
@click.option("--expires", required=True, metavar="DATE", help="YYYY-MM-DD (through that day, Türkiye time) or ISO date-time.")
@click.option("--reference", required=True, help="The inspection order (e.g. its date and number).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def grant_add(ctx, inspector: str, vkn: str, date_from: str, date_to: str, expires: str, reference: str,
              as_json: bool) -> None:
    """Let an inspector see VKN's documents issued in a period, until the grant expires."""
    start, end = parse_date(date_from, "--from"), parse_date(date_to, "--to")
    until = expiry(expires)
    assert start is not None and end is not None and until is not None
    with session(ctx) as (service, who):
        row = service.add_grant(who, inspector, vkn, start, end, until, reference)
    if as_json:
        click.echo(json.dumps(grant_json(row)))
    else:
        click.echo(f"grant {row.id}: {row.inspector!r} may see {row.vkn} issued {row.date_from}..{row.date_to} "
                   f"until {row.expires_at.isoformat()} (log entry {row.log_index})")


@grant.command("list")
@click.option("--inspector")
@click.option("--vkn", callback=_vkn)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def grant_list(ctx, inspector: str | None, vkn: str | None, as_json: bool) -> None:
    """List grants, active and ended."""
    with session(ctx) as (service, who):
        rows = service.grants(who, inspector=inspector, vkn=vkn)
    if as_json:
        click.echo(json.dumps([grant_json(r) for r in rows]))
        return
    now = dt.datetime.now(dt.UTC)
    for r in rows:
        state = "active" if r.active(now) else ("revoked" if r.revoked_at else "expired")
        click.echo(f"{r.id}\t{r.inspector}\t{r.vkn}\t{r.date_from}..{r.date_to}\t{state}\t{r.reference}")


@grant.command("revoke")
@click.argument("grant_id")
@click.pass_context
def grant_revoke(ctx, grant_id: str) -> None:
    """End a grant at once."""
    with session(ctx) as (service, who):
        row = service.revoke_grant(who, grant_id)
    click.echo(f"grant {row.id} of {row.inspector!r} revoked")


# -- access log -------------------------------------------------------------------------------
@click.command("access-log")
@click.option("--vkn", callback=_vkn, help="Only events about this taxpayer's documents.")
@click.option("--principal", "principal_name", help="Only this principal's events.")
@click.option("--from", "date_from", metavar="YYYY-MM-DD", help="Only events made on or after this day (in Türkiye).")
@click.option("--to", "date_to", metavar="YYYY-MM-DD", help="Only events made on or before this day (in Türkiye).")
@click.option("--after", type=click.IntRange(min=-1), default=-1, help="Only events after this log index.")
@click.option("--limit", type=click.IntRange(1, 100000), default=1000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Each event with its leaf and proof (JSON lines).")
@click.pass_context
def access_log(ctx, vkn: str | None, principal_name: str | None, date_from: str | None, date_to: str | None,
               after: int, limit: int, as_json: bool) -> None:
    """What inspectors were shown: every access event, with its proof.

    Each event is a leaf of the log; its proof (inclusion in a signed,
    time-stamped checkpoint) is checked before it is printed.
    """
    start, end = parse_date(date_from, "--from"), parse_date(date_to, "--to")
    with session(ctx) as (service, who):
        page = service.access_log(who, vkn=vkn, principal=principal_name, after=after, limit=limit,
                                  date_from=start, date_to=end)
    for e in page.events:
        if as_json:
            click.echo(json.dumps({"log_index": e.log_index, "vkns": e.vkns, "event": e.event, "proof": e.proof,
                                   "redacted": e.redacted}, ensure_ascii=False))
            continue
        entry, proof = e.event, e.proof
        refs = "; ".join(sorted({g["reference"] for g in entry.get("grants", ())}))
        proven = (f"proof: checkpoint {proof['proof']['tree_size']} stamped {proof['stamp_time']} (verified)" if proof
                  else "no proof: your part of an older event that names other taxpayers too")
        click.echo(f"{e.log_index}\t{entry['at']}\t{entry['principal']}\t{entry['action']}\t"
                   f"{','.join(e.vkns)}\t{len(entry.get('documents', ()))} documents\t{proven}\t{refs}")
    if not page.events and not as_json:
        click.echo("no access events", err=True)
    if page.next_after is not None:
        click.echo(f"(more: --after {page.next_after})", err=True)
