"""The archive key's certificate on paper: what a verifier compares a package's key with.

A package carries the archive's public key, so it cannot vouch for it: whoever could forge
the package could forge the key file too. The operator prints this page once (and again
after a key change), signs it, and hands it to whoever will verify (the tax office, the
auditor, the taxpayer's own file). Ten years later the fingerprint on paper is the thing
outside the package that the package is checked against (VERIFY.txt step 0,
``verifier.py --key-fingerprint``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

from earsiv.archive.tsa.configured import tsa_status

if TYPE_CHECKING:
    from earsiv.archive.archive import Archive

__all__ = ["key_certificate"]


def _groups(hex_text: str) -> str:
    """64 hex digits as 4 lines of 4 groups of 4: read aloud and compared by eye without losing one's place."""
    groups = [hex_text[i:i + 4] for i in range(0, len(hex_text), 4)]
    return "\n".join("    " + " ".join(groups[i:i + 4]) for i in range(0, len(groups), 4))


def _rotations(history: list[dict]) -> str:
    """The keys this one handed over to (`earsiv key rotate`), in order; empty when it never was."""
    if len(history) < 2:
        return ""
    lines = ["", "Later signing keys. The key above handed over to each of these in turn, by a log entry",
             "signed by the key in force and by the new one (every verifier follows that chain from",
             "the key above: compare only the key above with what you hold):", ""]
    for n, k in enumerate(history[1:], 1):
        lines += [f"  {n}. since log entry {k['introduced_at_leaf']}, {k['at']} ({k['reason'] or 'no reason given'})",
                  _groups(k["key_id"]), ""]
    return "\n".join(lines)


def key_certificate(arch: Archive, now: dt.datetime | None = None) -> str:
    from earsiv.archive.archive import ARCHIVE_OBJECT

    now = now or dt.datetime.now(dt.UTC)
    public = arch.archive_key()  # the first key: the archive's identity
    history = arch.keys.status()["history"]
    try:
        created = json.loads(arch.store.get(ARCHIVE_OBJECT)).get("created", "?")
    except (ValueError, AttributeError):
        created = "?"
    tsa = tsa_status(arch.config, token=None, now=now)
    anchors = [f"  {a['name']}\n    {x['subject']}\n    sha256 {x['sha256']}\n    valid until {x['not_after'][:10]}"
               for a in tsa["authorities"] for x in a["anchors"]]
    if not anchors:
        from cryptography import x509

        from earsiv.archive.tsa.authorities import CERT_FILE
        from earsiv.archive.tsa.settings import anchor_fingerprint

        cert = x509.load_pem_x509_certificate((arch.home / "tsa" / CERT_FILE).read_bytes())
        anchors = [(f"  the archive's built-in TSA (its stamps are the archive's own claim of time, not an\n"
                    f"  independent time-stamp)\n    sha256 {anchor_fingerprint(cert)}")]
    return f"""\
EARSIV ARCHIVE KEY CERTIFICATE
==============================

Archive        {arch.log.origin}
Created        {created}
Printed        {now.isoformat(timespec="seconds").replace("+00:00", "Z")}

Every checkpoint of this archive's log is signed with the Ed25519 key below, or with a key
it handed over to (listed after it, if there is one). A package or
evidence folder from this archive is genuine only if the archive key it carries has this
fingerprint: the SHA-256 of the key's DER SubjectPublicKeyInfo, in hexadecimal,

{_groups(public.key_id)}

Check a package's key against it, with the package unpacked:

    openssl pkey -pubin -in data/keys/archive-key.pem -outform DER | sha256sum
    python3 verifier.py . --key-fingerprint {public.key_id}

(in an evidence folder: archive-key.pem). Keep this page apart from the packages: it is
worth something only because it did not travel with them.

The public key itself:

{public.pem.decode("ascii").rstrip()}
{_rotations(history)}
Time-stamp authorities this archive trusts (their anchors, as configured; compare with
what each authority publishes):

{chr(10).join(anchors)}


Issued by the archive's operator:

    Name ............................................  Title ...........................

    Date ............................................  Signature .......................
"""
