"""The ``earsiv`` command: the group, its global options, and every sub-command.

No business rules here or in the command modules: parse, call one method of the archive's
service (``earsiv.archive.service``) inside ``common.session``, print.
"""

from __future__ import annotations

import logging
import os

import click

from earsiv.api.cli.access import access_log, grant, principal, token
from earsiv.api.cli.admin import init, key, key_certificate, migrate_store_cmd, reindex, renew, serve, status, tsa
from earsiv.api.cli.common import Group, default_home
from earsiv.api.cli.disposal import disposal, dispose
from earsiv.api.cli.documents import evidence, get, ingest, legal_hold, search, show, verify
from earsiv.api.cli.export import export
from earsiv.api.cli.handback import export_tenant
from earsiv.api.cli.integrity import audit, damage_report, repair, replica
from earsiv.api.cli.package import package, verify_package
from earsiv.api.cli.report import report

__all__ = ["cli", "main"]


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False), default=default_home, show_default="$EARSIV_HOME or ./earsiv-data",
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


for _command in (init, ingest, search, show, get, verify, evidence, reindex, status, legal_hold, migrate_store_cmd, serve,
                 principal, token, grant, access_log, export, package, verify_package, report, disposal, dispose,
                 export_tenant, audit, repair, damage_report, replica, key, key_certificate, tsa, renew):
    cli.add_command(_command)


class _Lowercase(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"earsiv: {record.levelname.lower()}: {record.getMessage()}"


def main() -> None:
    # What the archive logs (a torn journal line cut off, an optional write skipped on a
    # full disk) reaches stderr in the form of the CLI's own messages.
    handler = logging.StreamHandler()
    handler.setFormatter(_Lowercase())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    cli(prog_name="earsiv")
