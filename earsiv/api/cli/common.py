"""What every ``earsiv`` command shares: opening the archive, the caller, parameters, progress, exit codes.

Exit codes: 0 success; 1 a verification or validation failure (a document
rejected, a proof that does not verify); 2 usage error; 3 operational failure
(store, index or TSA unavailable, misconfiguration).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
from pathlib import Path

import click

from earsiv.archive.access import Principal
from earsiv.archive.archive import Archive
from earsiv.errors import EarsivError, StorageFull, disk_full, full_detail

__all__ = [
    "DIGEST_RE",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_OPERATIONAL",
    "EXIT_USAGE",
    "Group",
    "admin_or_operator",
    "caller",
    "default_home",
    "open_archive",
    "operator_only",
    "parse_date",
    "parse_digest",
    "progress",
    "row_json",
    "tty",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_OPERATIONAL = 0, 1, 2, 3
DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")


def default_home() -> str:
    return os.environ.get("EARSIV_HOME") or "./earsiv-data"


def progress(total: int | None, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="doc", disable=not enabled, file=sys.stderr, leave=False)


def tty() -> bool:
    return sys.stderr.isatty()


def open_archive(ctx: click.Context, *, reading: bool = False) -> Archive:
    """The archive of --home; *reading*: for a command that only reads, which then answers on a full disk too."""
    # *reading*: kept for the callers; every archive answers reads with its index behind (a full disk).
    return Archive.open(Path(ctx.obj["home"]))


def caller(ctx: click.Context, arch: Archive) -> Principal | None:
    """The principal of --token / $EARSIV_TOKEN, or None: the operator, who may do everything."""
    token = ctx.obj.get("token")
    return arch.access.authenticate(token) if token else None


def admin_or_operator(ctx: click.Context, arch: Archive, what: str) -> Principal | None:
    who = caller(ctx, arch)
    if who is not None:
        arch.access.require(who, "admin", what=what)
    return who


def operator_only(ctx: click.Context, what: str) -> None:
    if ctx.obj.get("token"):
        raise click.UsageError(f"{what} is the operator's (it works on the archive's files): run it without --token")


def row_json(row) -> dict:
    data = row.to_json()
    data.setdefault("id", data.get("doc_id"))  # the name other tools use (issue contract)
    return data


def parse_digest(value: str) -> str:
    value = value.strip().lower()
    if not DIGEST_RE.match(value):
        raise click.BadParameter(f"{value!r} is not a sha256 digest (64 hex digits)")
    return value


def parse_date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date in the form YYYY-MM-DD", param_hint=name) from None


class Group(click.Group):
    """Maps our errors to their exit codes with a one-line message."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EarsivError as exc:
            click.echo(f"earsiv: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except OSError as exc:
            if not disk_full(exc):
                raise
            # A full disk that no edge translated (a cache, a temporary file): the same answer.
            click.echo(f"earsiv: error: {full_detail(str(exc.strerror), exc.filename)}", err=True)
            ctx.exit(StorageFull.exit_code)
