"""`earsiv package` and `earsiv verify-package`: inspection packages for the authority."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click

from earsiv.api.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    caller,
    open_archive,
    parse_date,
)
from earsiv.archive.archive import Archive
from earsiv.archive.errors import VerificationError
from earsiv.archive.package.build import PackageRequest, build_package
from earsiv.archive.package.iso import write_iso
from earsiv.archive.package.verify import verify_package as check_package
from earsiv.documents.metadata import KINDS

__all__ = ["package", "verify_package"]




def _pdf_renderer(arch: Archive):
    """A digest -> PDF bytes function, if this installation has the rendering component."""
    try:
        import earsiv.render  # noqa: F401  (optional: printable copies are a separate component)
        from earsiv.archive.export import export_one
    except ImportError as exc:
        raise click.UsageError(f"--pdf needs the rendering component (earsiv.render and WeasyPrint), "
                               f"which is not installed: {exc}") from exc
    return lambda digest: export_one(arch, digest, "pdf")


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
    try:
        req = PackageRequest(vkn=vkn.strip(), date_from=parse_date(date_from, "--from"), date_to=parse_date(date_to, "--to"), kind=kind)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if output.suffix.lower() != ".zip":
        raise click.BadParameter("the package is a zip: name it *.zip", param_hint="--output")
    arch = open_archive(ctx)
    try:
        who = caller(ctx, arch)
        grants = []
        if who is not None:
            windows, grants = arch.access.package_windows(who, req.vkn, req.date_from, req.date_to)
            req = dataclasses.replace(req, windows=windows)
        render = _pdf_renderer(arch) if pdf else None
        from tqdm import tqdm

        with tqdm(desc="package", unit="doc", disable=not sys.stderr.isatty(), file=sys.stderr, leave=False) as bar:
            result = build_package(arch, req, output, render_pdf=render, progress=bar.update)
        if grants:
            params = {"vkn": req.vkn, "date_from": str(req.date_from), "date_to": str(req.date_to), "kind": req.kind}
            arch.access.record(who, "package", grants, params, result.digests)
    finally:
        arch.close()
    info = result.to_json()
    if iso:
        info["iso"] = str(write_iso(output, output.with_suffix(".iso")))
    if as_json:
        click.echo(json.dumps(info, indent=1))
        return
    if result.empty:
        click.echo(f"no documents match: the package {output} is empty (but complete and verifiable)")
    else:
        click.echo(f"{result.documents} documents packaged in {output} "
                   f"({len(result.checkpoints)} checkpoints, newest {result.head})")
    if iso:
        click.echo(f"ISO 9660 image: {info['iso']}")
    for digest, error in result.pdf_failures:
        click.echo(f"earsiv: warning: no PDF for {digest} (the original is in the package): {error}", err=True)


@click.command("verify-package")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def verify_package(path: Path, as_json: bool) -> None:
    """Verify an inspection package (zip or unpacked) without an archive.

    Checks the bag, every sha256, every document against its leaf, every
    inclusion proof, checkpoint signature, time-stamp token and consistency
    proof. Names every failing file; exit 0 only if all pass.
    """
    try:
        report = check_package(path)
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
