"""`earsiv export-tenant`: hand a departing tenant everything it holds, in verified volumes."""

from __future__ import annotations

import json

import click

from earsiv.api.cli.common import progress, session, tty

__all__ = ["export_tenant"]


@click.command("export-tenant")
@click.option("--vkn", required=True, help="The tenant (VKN/TCKN).")
@click.option("-o", "--output", required=True,
              help="Folder for the volumes, the access log and the export's state (run again to resume).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def export_tenant(ctx, vkn: str, output: str, as_json: bool) -> None:
    """Everything the tenant holds (originals, evidence, its ledgers) and the access log of its inspections.

    Written as inspection packages of up to 50,000 documents each (BagIt, manifests, a stand-alone
    verifier), each verified before it counts; a run that stops is taken up where it stopped.
    """
    with session(ctx) as (service, who), progress(None, "export", tty()) as bar:
        result = service.export_tenant(who, vkn.strip(), output, progress=bar)
    if as_json:
        click.echo(json.dumps(result.to_json()))
        return
    click.echo(f"{result.documents} documents in {len(result.volumes)} verified volumes, {result.access_events} "
               f"access events, {result.disposed} disposed of after retention (listed in the state) -> {output}")
