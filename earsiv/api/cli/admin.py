"""``earsiv init | reindex | status | migrate-store | serve``: the operator's commands on the archive home."""

from __future__ import annotations

import json
from pathlib import Path

import click

from earsiv.api.cli.common import EXIT_FAILED, EXIT_OK, home, operator, progress, session, tty

__all__ = ['init', 'key', 'key_certificate', 'migrate_store_cmd', 'reindex', 'renew', 'serve', 'status', 'tsa']


@click.command()
@click.option("--store", "store_url", metavar="URL",
              help="Where the documents go: file:///path, file:path (relative to the home; default file:store) or "
                   "s3://BUCKET?endpoint=URL&region=R (bucket with Object Lock). Default $EARSIV_STORE_URL.")
@click.option("--db", "db_url", metavar="URL",
              help="The SQL index: sqlite:////abs/path, sqlite:///path (relative to the home; default "
                   "sqlite:///index.sqlite) or postgresql+psycopg://user@host/db. "
                   "A URL with a password belongs in $EARSIV_DB_URL, not here.")
@click.option("--replica", "replica_url", metavar="URL",
              help="A second store at another site (same forms as --store), written together with the store; "
                   "`earsiv repair` restores damaged objects from it. Default $EARSIV_REPLICA_URL; none if unset.")
@click.pass_context
def init(ctx: click.Context, store_url: str | None, db_url: str | None, replica_url: str | None) -> None:
    """Create a new archive home (keys, built-in TSA, store, index, maybe a replica)."""
    from earsiv.archive.service import ArchiveService

    who = operator(ctx, "init")
    with ArchiveService.create(who, home(ctx), store_url=store_url, db_url=db_url, replica_url=replica_url) as service:
        click.echo(f"initialised archive {service.archive_id} in {service.home}")


@click.command()
@click.pass_context
def reindex(ctx) -> None:
    """Rebuild the SQL and full-text indexes from the object store alone."""
    operator(ctx, "reindex")
    with session(ctx) as (service, who), progress(None, "reindex", tty()) as bar:
        n = service.reindex(who, bar)
    click.echo(f"reindexed {n} log entries")


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def status(ctx, as_json: bool) -> None:
    """Documents, bytes kept vs received, last checkpoint and its stamp, pending work."""
    with session(ctx) as (service, who):
        st = service.status(who).to_json()
    if as_json:
        click.echo(json.dumps(st, indent=1, ensure_ascii=False))
        return
    click.echo(f"documents:        {st['documents']}")
    click.echo(f"bytes received:   {st['bytes_original']}")
    ratio = f" ({st['stored_ratio'] * 100:.2f} %)" if st["stored_ratio"] is not None else ""
    click.echo(f"bytes stored:     {st['bytes_stored']}{ratio}")
    click.echo(f"log size:         {st['log_size']}")
    click.echo(f"archive key:      sha256 {st['key_fingerprint']} (compare with the fingerprint published on paper)")
    keys = st.get("keys") or {}
    for k in (keys.get("history") or [])[1:]:
        click.echo(f"key rotation:     at log entry {k['introduced_at_leaf']} ({k['at']}, {k['reason'] or 'no reason given'}): "
                   f"signed by {k['replaces'][:16]}..., now {k['key_id'][:16]}...")
    if keys.get("current") and keys["current"] != keys.get("first"):
        click.echo(f"signing key:      sha256 {keys['current']} (in force now; introduced in the log by the first)")
    where = st.get("locations") or {}
    for name, loc in (("primary store", where.get("primary")), ("replica store", where.get("replica"))):
        if loc:
            extra = ", ".join(x for x in (loc["provider"], loc["region"]) if x)
            click.echo(f"{name + ':':<18}{loc['country'] or 'location not stated'}{f' ({extra})' if extra else ''}")
    cp = st["last_checkpoint"]
    if cp:
        stamp = f"stamped {cp.get('stamp_time')} by {cp['tsa']}" if cp["stamped"] else "NOT STAMPED YET"
        click.echo(f"last checkpoint:  size {cp['size']} at {cp['time']}, {stamp}")
    else:
        click.echo("last checkpoint:  none")
    for tsa in st["tsa"]["authorities"]:
        anchors = "; ".join(f"{a['subject']} sha256 {a['sha256']} until {a['not_after'][:10]}" for a in tsa["anchors"])
        click.echo(f"TSA:              {tsa['name']}{' (Kamu SM)' if tsa['kamusm'] else ''}"
                   f"{', trusts ' + anchors if anchors else ''}")
    for name, trees in sorted((st["tsa"].get("hash_trees") or {}).items()):
        click.echo(f"hash-tree {name}:  {trees['documents']} documents in {trees['runs']} runs (log leaves up to "
                   f"{trees['covered_to']}), stamps valid until {(trees['first_end'] or '?')[:10]}")
    for warning in st["tsa"]["warnings"]:
        click.echo(f"warning:          {warning}")
    if st["tsa"]["stamps"] > 1:
        click.echo(f"stamps:           {st['tsa']['stamps']} independent TSAs stamp each checkpoint")
    pending = st["pending"]
    since = f" (the oldest since {pending['oldest_unstamped']})" if pending["oldest_unstamped"] else ""
    click.echo(f"pending:          {pending['signature_checks']} signature checks, {pending['unstamped_checkpoints']} unstamped checkpoints{since}, "
               f"{pending['fulltext']} log entries not yet in the full-text index")
    last = st.get("last_stamp_attempt")
    if last and last.get("ok") is False:
        click.echo(f"last stamp:       FAILED at {last.get('at')}: {last.get('error')}")
    for k, n in sorted(st["by_kind"].items()):
        click.echo(f"  {k:<16} {n}")
    trust = st.get("signature_trust") or {}
    roots = trust.get("roots") or []
    click.echo(f"signature roots:  {len(roots)} configured (set {trust.get('store')})"
               + ("" if roots else ": every consistent signature reads 'untrusted: no configured root'"))
    for k, n in sorted(st["by_signature"].items()):
        click.echo(f"  signature {k:<12} {n}")


@click.command()
@click.option("--all", "everything", is_flag=True,
              help="Renew every checkpoint's stamp, not only those whose certificate expires within 180 days; "
                   "with --hash, stamp every document anew, not only those no run of that hash covers.")
@click.option("--hash", "hash_name", type=click.Choice(["sha256", "sha384", "sha512"]),
              help="Hash-tree renewal (RFC 4998 §5.3) instead: stamp every document not yet covered, hashed with "
                   "this hash together with its evidence so far (reads every document once; resumable). Each "
                   "document so covered gets an RFC 4998 evidence record (`earsiv evidence`).")
@click.option("--batch", type=click.IntRange(min=1), metavar="N",
              help="With --hash: one stamp per N documents (default 50000); a crash loses at most one batch.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def renew(ctx, everything: bool, hash_name: str | None, batch: int | None, as_json: bool) -> None:
    """Stamp again, in one renewal, the time stamps whose certificates expire within 180 days (RFC 4998)."""
    operator(ctx, "renew")
    if hash_name is None:
        with session(ctx) as (service, who):
            done = service.renew(who, everything=everything)
    else:
        with session(ctx) as (service, who), progress(None, f"renew {hash_name}", tty(), unit="leaf") as bar:
            done = service.renew_hashes(who, hash_name, batch=batch, everything=everything, progress=bar)
    if as_json:
        click.echo(json.dumps(done, indent=1))
    elif hash_name is not None:
        if not done["runs"]:
            click.echo(f"nothing to renew: every stamped document is covered by a {hash_name} hash tree")
        for run in done["runs"]:
            click.echo(f"hash-tree renewal {run['run']}: {run['documents']} documents (log leaves {run['first']}-"
                       f"{run['end'] - 1}) stamped with {hash_name} at {run['stamp_time']}")
    elif done["renewal"] is None and "second" not in done and not done.get("hash_trees"):
        click.echo("nothing to renew: every time stamp's certificate is valid for more than 180 days")
    else:
        for made, which in ((done, ""), (done.get("second"), " (the second TSA's)")):
            if made and made.get("renewal") is not None:
                click.echo(f"renewal {made['renewal']}: the stamps{which} of {made['checkpoints']} checkpoints "
                           f"renewed at {made['stamp_time']}")
        for made in done.get("hash_trees", []):
            click.echo(f"stamp renewal {made['stamp_renewal']}: the {made['hash']} stamps of {made['runs']} "
                       f"hash-tree renewals renewed at {made['stamp_time']}")


@click.command("key-certificate")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the page here (default: print it).")
@click.pass_context
def key_certificate(ctx, output: Path | None) -> None:
    """A printable page with the archive key's fingerprint: sign it and hand it out apart from the packages."""
    with session(ctx) as (service, who):
        text = service.key_certificate(who)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")


@click.group()
def key() -> None:
    """The archive's checkpoint-signing key."""


@key.command("rotate")
@click.option("--reason", default="", help="Why (kept in the log entry): e.g. 'scheduled' or 'suspected compromise'.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def rotate(ctx, reason: str, as_json: bool) -> None:
    """Replace the checkpoint-signing key with a new one.

    \b
    A log entry introduces the new key, signed by the old key (the hand-over) and by the new
    one (proof of holding it); checkpoints after it are signed by the new key, those before
    stay valid under the old one. The old private key is deleted from the home. The
    archive's identity stays the FIRST key: its fingerprint (on the printed key
    certificate) is what verifiers compare, and every verifier follows the chain of
    introductions from it. Print the key certificate again afterwards: it lists the chain.
    """
    operator(ctx, "key rotate")
    with session(ctx) as (service, who):
        done = service.rotate_key(who, reason=reason)
    if as_json:
        click.echo(json.dumps(done, indent=1))
        return
    click.echo(f"new signing key:  sha256 {done['new_key']}\n"
               f"introduced at log entry {done['log_index']}, signed by the old key {done['old_key']}\n"
               f"and by the new one; the old private key is deleted. The archive key (first key,\n"
               f"what verifiers compare) stays {done['first_key']}.")


@click.group()
def tsa() -> None:
    """Time-stamp authorities: which certificates in the store this home trusts."""


@tsa.command("confirm")
@click.argument("fingerprints", nargs=-1, required=True, metavar="SHA256...")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def confirm(ctx, fingerprints: tuple[str, ...], as_json: bool) -> None:
    """Trust TSA certificates that an earlier earsiv saved from tokens.

    \b
    Before TSA trust was pinned, earsiv stored the certificate each external TSA's tokens
    carried and trusted it from then on. Those certificates are no longer trusted by
    themselves: `earsiv status` warns of each, by the sha256 of its DER. Compare it with
    the fingerprint the TSA publishes; then either configure it as an anchor
    (EARSIV_TSA_TRUST, [tsa] trust) or confirm it here, which this home remembers.
    """
    operator(ctx, "tsa confirm")
    with session(ctx) as (service, who):
        done = service.confirm_tsa_certificates(who, list(fingerprints))
    if as_json:
        click.echo(json.dumps({"confirmed": done}, indent=1))
    else:
        for f in done:
            click.echo(f"trusted from now on: TSA certificate sha256 {f}")


@click.command("migrate-store")
@click.option("--to", "to", required=True, metavar="URL_OR_CONFIG",
              help="Destination store URL (s3://BUCKET?endpoint=...&region=...), or a config TOML whose [store] url names it.")
@click.option("--switch", is_flag=True, help="After every object verified, point this home's config.toml at the new store.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def migrate_store_cmd(ctx, to: str, switch: bool, as_json: bool) -> None:
    """Copy this archive's store (documents, log, checkpoints, tokens, keys) to another store.

    Every object keeps its retention and legal hold and is read back and compared
    before it counts. Nothing is deleted from the source. Resumable.
    """
    operator(ctx, "migrate-store")
    with session(ctx) as (service, who), progress(None, "migrate", tty()) as bar:
        done = service.migrate_store(who, to, switch=switch, progress=bar)
    report = done.report
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=1))
    else:
        for f in report.failures:
            click.echo(f"FAILED {f}")
        click.echo(f"{report.copied} objects copied, {report.already_there} already there, {report.bytes} bytes verified, "
                   f"{report.holds} legal holds, {len(report.failures)} failures")
        if done.switched:
            click.echo(f"{service.home / 'config.toml'} now points at {done.url}")
    ctx.exit(EXIT_OK if report.ok else EXIT_FAILED)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback unless you mean it).")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--header-timeout", default=10.0, show_default=True, type=click.FloatRange(min=0.1), metavar="SECONDS",
              help="Close a connection whose request headers are not all in within this time.")
@click.option("--body-timeout", default=30.0, show_default=True, type=click.FloatRange(min=0.1), metavar="SECONDS",
              help="Close a connection whose request body stops arriving for this long.")
@click.option("--body-min-rate", default=8192, show_default=True, type=click.IntRange(min=1), metavar="BYTES",
              help="Close a connection whose request body, after --body-timeout, arrives slower than this many "
                   "bytes a second on average.")
@click.option("--max-connections", default=256, show_default=True, type=click.IntRange(min=1),
              help="Connections open at once; one more is answered 503 and closed.")
@click.pass_context
def serve(ctx, host: str, port: int, header_timeout: float, body_timeout: float, body_min_rate: int,
          max_connections: int) -> None:
    """Serve the HTTP API (OpenAPI at /docs)."""
    operator(ctx, "serve")
    from earsiv.api.http import create_app
    from earsiv.api.http.server import serve as run

    if host not in ("127.0.0.1", "::1", "localhost"):
        click.echo(f"earsiv: warning: binding to {host}: the API is reachable from other machines", err=True)
    app = create_app(home(ctx))
    run(app, host, port, header_timeout=header_timeout, body_timeout=body_timeout, body_min_rate=body_min_rate,
        max_connections=max_connections)
