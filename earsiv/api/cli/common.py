"""What every ``earsiv`` command shares: the session (archive and caller), parameters, progress, exit codes.

Every command that uses an archive runs inside ``session``: it opens the archive of
``--home``, names the caller (the principal of ``--token``, or the operator), and closes the
archive the one way, whatever happened: a checkpoint covers what the command appended (an
inspector's access event included), and a command that appended nothing makes none.

Exit codes: 0 success; 1 a verification or validation failure (a document
rejected, a proof that does not verify); 2 usage error; 3 operational failure
(store, index or TSA unavailable, misconfiguration).

Nothing here, and nothing a command module imports before it runs, loads the archive:
``earsiv --help`` starts in the time it takes to import click.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from earsiv.errors import EarsivError, StorageFull, disk_full, full_detail

if TYPE_CHECKING:
    from earsiv.archive.access import Principal
    from earsiv.archive.service import ArchiveService

__all__ = [
    "DIGEST_RE",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_OPERATIONAL",
    "EXIT_USAGE",
    "Group",
    "default_home",
    "home",
    "one_line",
    "operator",
    "parse_date",
    "parse_digest",
    "progress",
    "row_json",
    "session",
    "tty",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_OPERATIONAL = 0, 1, 2, 3
DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")


def default_home() -> str:
    return os.environ.get("EARSIV_HOME") or "./earsiv-data"


def home(ctx: click.Context) -> Path:
    return Path(ctx.obj["home"])


def progress(total: int | None, desc: str, enabled: bool, unit: str = "doc"):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stderr, leave=False)


def tty() -> bool:
    return sys.stderr.isatty()


# command (after "earsiv") -> the action of its access event; any other command is a "request".
_ACTIONS = {"search": "search", "show": "view", "get": "original", "verify": "verify", "evidence": "evidence",
            "export": "export", "package": "package", "access-log": "access-log", "grant list": "grants"}


@contextlib.contextmanager
def session(ctx: click.Context) -> Iterator[tuple[ArchiveService, Principal]]:
    """The archive of --home and who asks, for the length of one command; closed however it ends.

    An inspector's command is an access event whatever it shows: one that made none (refused,
    nothing found, or not about documents) gets one saying what was asked and how it ended
    (``ArchiveService.record_unshown``), before its answer or error is printed.
    """
    from earsiv.archive.service import ArchiveService
    from earsiv.archive.trail import request_trail

    with ArchiveService.open(home(ctx)) as service:
        token = ctx.obj.get("token")
        who = service.authenticate(token) if token else _operator()
        if who.role != "inspector":
            yield service, who
            return
        with request_trail() as trail:
            try:
                yield service, who
            except click.exceptions.Exit as exc:  # a command that ends with its own exit code
                if not trail.events:
                    service.record_unshown(who, _action(ctx), _asked(ctx), {"exit": exc.exit_code})
                raise
            except Exception as exc:
                if not trail.events:
                    outcome = {"exit": getattr(exc, "exit_code", EXIT_OPERATIONAL),
                               "error": getattr(exc, "code", type(exc).__name__)}
                    service.record_unshown(who, _action(ctx), _asked(ctx), outcome)
                raise
            if not trail.events:
                service.record_unshown(who, _action(ctx), _asked(ctx), {"exit": EXIT_OK})


def _command(ctx: click.Context) -> str:
    return ctx.command_path.partition(" ")[2] or (ctx.info_name or "")


def _action(ctx: click.Context) -> str:
    return _ACTIONS.get(_command(ctx), "request")


def _asked(ctx: click.Context) -> dict:
    """The command and its parameters as typed (bounded), for an access event."""
    params = {}
    for name, value in list(ctx.params.items())[:20]:
        if value is None or value == () or value is False:
            continue
        if isinstance(value, tuple | list):
            value = [str(v)[:200] for v in value[:20]]
        elif not isinstance(value, bool | int | float):
            value = str(value)[:200]
        params[name] = value
    return {"command": _command(ctx)[:100], **({"params": params} if params else {})}


def operator(ctx: click.Context, what: str) -> Principal:
    """The operator, for a command that works on the archive home's files: refused with a token."""
    if ctx.obj.get("token"):
        raise click.UsageError(f"{what} is the operator's (it works on the archive's files): run it without --token")
    return _operator()


def _operator() -> Principal:
    from earsiv.archive.access import Principal

    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no login name in the environment or the user database
        login = ""
    return Principal.operator(login)


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
            click.echo(f"earsiv: error: {one_line(str(exc))}", err=True)
            ctx.exit(exc.exit_code)
        except OSError as exc:
            if not disk_full(exc):
                raise
            # A full disk that no edge translated (a cache, a temporary file): the same answer.
            click.echo(f"earsiv: error: {full_detail(str(exc.strerror), exc.filename)}", err=True)
            ctx.exit(StorageFull.exit_code)


def one_line(text: str) -> str:
    """A message as one line: a multi-line detail (a TSA's answer, an S3 error body) is joined."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())
