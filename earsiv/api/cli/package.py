"""`earsiv package` and `earsiv verify-package`: inspection packages for the authority."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from earsiv.api.cli.common import EXIT_FAILED, EXIT_OK, parse_date, progress, session, tty
from earsiv.documents.metadata import KINDS

__all__ = ["package", "verify_package"]


@click.command()
@click.option("--vkn", required=True, help="VKN/TCKN as any party (supplier, customer, sender, receiver, e-Defter owner).")
@click.option("--from", "date_from", required=True, metavar="YYYY-MM-DD", help="Issue date on or after.")
@click.option("--to", "date_to", required=True, metavar="YYYY-MM-DD", help="Issue date on or before.")
@click.option("--kind", type=click.Choice(sorted(KINDS)), help="Only this kind of document.")
@click.option("--pdf", is_flag=True, help="Add a printable PDF of every document.")
@click.option("--iso", is_flag=True, help="Also write an ISO 9660 image of the package (for write-once media), beside it.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The package (.zip).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def package(ctx, vkn, date_from, date_to, kind, pdf, iso, output: Path, as_json: bool) -> None:
    """Write an inspection package: a BagIt bag of a period's originals with their proofs.

    It holds the originals byte for byte, a manifest (CSV and JSON), each
    document's evidence, the checkpoints and tokens, and VERIFY.txt with the
    commands that check everything without this software.
    """
    if output.suffix.lower() != ".zip":
        raise click.BadParameter("the package is a zip: name it *.zip", param_hint="--output")
    start, end = parse_date(date_from, "--from"), parse_date(date_to, "--to")
    with session(ctx) as (service, who), progress(None, "package", tty()) as bar:
        made = service.package(who, vkn.strip(), start, end, kind, output, pdf=pdf, iso=iso, progress=bar)
    result = made.result
    info = result.to_json()
    if made.iso is not None:
        info["iso"] = str(made.iso)
    if as_json:
        click.echo(json.dumps(info, indent=1))
        return
    if result.empty:
        click.echo(f"no documents match: the package {output} is empty (but complete and verifiable)")
    else:
        click.echo(f"{result.documents} documents packaged in {output} "
                   f"({len(result.checkpoints)} checkpoints, newest {result.head})")
    if made.iso is not None:
        click.echo(f"ISO 9660 image: {info['iso']}")
    for digest, error in result.pdf_failures:
        click.echo(f"earsiv: warning: no PDF for {digest} (the original is in the package): {error}", err=True)


@click.command("verify-package")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--key-fingerprint", metavar="HEX",
              help="The archive key's fingerprint as obtained outside the package (on paper): the package's key must match.")
@click.option("--tsa-anchors", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A PEM file of the TSA certificates as obtained outside the package, used instead of the bundled ones.")
@click.option("--json", "as_json", is_flag=True)
def verify_package(path: Path, key_fingerprint: str | None, tsa_anchors: Path | None, as_json: bool) -> None:
    """Verify an inspection package (zip or unpacked) without an archive.

    Checks the bag, every sha256, every document against its leaf, every
    inclusion proof, checkpoint signature, time-stamp token and consistency
    proof. Names every failing file; exit 0 only if all pass.
    """
    from earsiv.archive.errors import VerificationError
    from earsiv.archive.package.verify import verify_package as check_package
    from earsiv.archive.tsa.settings import load_anchors

    try:
        anchors = list(load_anchors(tsa_anchors, what="--tsa-anchors")) if tsa_anchors else None
        report = check_package(path, key_fingerprint=key_fingerprint, tsa_anchors=anchors)
    except VerificationError as exc:
        click.echo(f"FAILED {exc.name or path}: {exc.detail}")
        sys.exit(EXIT_FAILED)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=1, ensure_ascii=False))
    else:
        for f in report.findings:
            click.echo(f"FAILED {f.file}: {f.problem}")
        if report.ok:
            empty = " (the package holds no documents)" if report.empty else ""
            click.echo(f"{report.documents} documents, {len(report.checkpoints)} checkpoints: everything verifies{empty}")
        else:
            click.echo(f"{report.documents} documents: {len(report.findings)} problems, the package does NOT verify")
    sys.exit(EXIT_OK if report.ok else EXIT_FAILED)
