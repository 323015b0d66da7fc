"""Which of the TSA certificates in the store (``keys/tsa-<sha256>.pem``) this home trusts.

Before TSA pinning (FORMAT.md §12, "pinned time-stamp trust"), earsiv stored the certificate
every external TSA token carried as ``keys/tsa-<sha256>.pem`` and trusted it from then on:
whoever answered at the TSA's URL once was believed for good. Today the store records only
configured anchors under those names, but the objects are write-once, so a store written
before keeps those certificates, and nothing in them says how they got there.

So a stored certificate is trusted only when one of these says so:

* it is the built-in TSA's own certificate (``HOME/tsa/tsa-cert.pem``);
* it is among the anchors configured now (``EARSIV_TSA_TRUST``, ``[tsa] trust``, ``[[tsa.also]]``);
* this home recorded it as a configured anchor, or its operator confirmed it
  (``earsiv tsa confirm SHA256``): ``HOME/tsa/confirmed-anchors.json``.

Any other is *unconfirmed*: tokens that only it verifies are not trusted, and ``status``
names it by fingerprint until the operator configures the anchor or confirms it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from earsiv.archive.errors import ConfigError

__all__ = ["CONFIRMED_FILE", "confirm", "confirmed"]

CONFIRMED_FILE = "confirmed-anchors.json"


def _path(home: Path) -> Path:
    return home / "tsa" / CONFIRMED_FILE


def confirmed(home: Path) -> set[str]:
    """The sha256 (hex) of every stored certificate this home recorded as an anchor or its operator confirmed."""
    try:
        data = json.loads(_path(home).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return set()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {_path(home)}: {exc}") from exc
    return {str(x) for x in data.get("sha256", [])}


def confirm(home: Path, fingerprints: set[str]) -> bool:
    """Add *fingerprints* to the confirmed ones (durably); False when nothing was new."""
    have = confirmed(home)
    if fingerprints <= have:
        return False
    path = _path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"sha256": sorted(have | fingerprints)}, fh, indent=1)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return True
