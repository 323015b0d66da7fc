"""The time-stamp authorities a home's configuration makes, and what `status` says about them.

The clients are made only when something is to be stamped (Kamu SM's credentials come from
the environment and are needed then, not to read the archive); the status is made from the
configuration alone, plus the newest token for what will expire.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING, Any

from cryptography import x509

from earsiv.archive.errors import ConfigError
from earsiv.archive.tsa.settings import anchor_fingerprint

if TYPE_CHECKING:
    from earsiv.archive.config import Config

__all__ = ["EXPIRY_WARNING", "kamusm_index", "make_tsas", "tsa_status"]

EXPIRY_WARNING = dt.timedelta(days=180)
LOCAL_NAME = "built-in local TSA (not a qualified time-stamp)"


def kamusm_index(config: Config) -> int | None:
    """Which configured TSA is Kamu SM: the one marked so, else the first when its credentials are set."""
    marked = [i for i, s in enumerate(config.tsa_authorities) if s.kamusm]
    if marked:
        return marked[0]
    return 0 if config.tsa_authorities and os.environ.get("EARSIV_TSA_KAMUSM_CUSTOMER") else None


def make_tsas(config: Config) -> list[Any]:
    """The configured time-stamp authorities, in the order they are asked.

    No external URL: the built-in local TSA.  Otherwise each configured TSA, checking every
    token against its own trust anchors before it is kept.  Kamu SM is the one marked
    ``kamusm = true``, else the first, when EARSIV_TSA_KAMUSM_CUSTOMER and
    EARSIV_TSA_KAMUSM_PASSWORD are in the environment (secrets never go in the config file).
    """
    from earsiv.archive.tsa.authorities import HttpTSA, KamuSMTSA, LocalTSA

    if not config.tsa_authorities:
        return [LocalTSA.load(config.home / "tsa")]
    customer = os.environ.get("EARSIV_TSA_KAMUSM_CUSTOMER")
    out: list[Any] = []
    for i, setting in enumerate(config.tsa_authorities):
        if i == kamusm_index(config):
            password = os.environ.get("EARSIV_TSA_KAMUSM_PASSWORD")
            if not customer or not password or not customer.isdigit() or int(customer) <= 0:
                raise ConfigError(f"Kamu SM at {setting.url} needs EARSIV_TSA_KAMUSM_CUSTOMER (your customer number, "
                                  "digits) and EARSIV_TSA_KAMUSM_PASSWORD in the environment")
            out.append(KamuSMTSA(setting.url, int(customer), password, trusted_certs=setting.anchors))
        else:
            out.append(HttpTSA(setting.url, trusted_certs=setting.anchors))
    return out


def _anchor(cert: x509.Certificate) -> dict:
    return {"subject": cert.subject.rfc4514_string(), "sha256": anchor_fingerprint(cert),
            "not_after": cert.not_valid_after_utc.isoformat()}


def tsa_status(config: Config, *, token: bytes | None, now: dt.datetime | None = None) -> dict:
    """The TSAs with their anchors, how many stamp each checkpoint, and what expires within 180 days.

    *token* is the newest checkpoint's: its signer certificate is the one stamps are being
    made under now, and when it expires the TSA must have a new one (tokens it made stay
    verifiable at their genTime, which is what verification checks).
    """
    now = now or dt.datetime.now(dt.UTC)
    if config.tsa_authorities:
        kamusm = kamusm_index(config)
        authorities = [{"url": s.url, "name": s.url, "kamusm": i == kamusm, "anchors": [_anchor(c) for c in s.anchors]}
                       for i, s in enumerate(config.tsa_authorities)]
    else:
        authorities = [{"url": "", "name": LOCAL_NAME, "kamusm": False, "anchors": []}]
    warnings = []
    for s in config.tsa_authorities:
        for cert in s.anchors:
            warnings += _expiry(f"trust anchor {cert.subject.rfc4514_string()} of {s.url}", cert, now,
                                "tokens signed after that no longer verify against it: get the TSA's new "
                                "certificate, check it, and add it to the trust file")
    if token is not None:
        signer = _signer(token)
        if signer is not None:
            warnings += _expiry(f"the certificate the newest stamp was made under ({signer.subject.rfc4514_string()})",
                                signer, now, "`earsiv renew` (and `serve`, daily) stamps its tokens again before that; new "
                                "stamps need the TSA's renewed certificate, chaining to a configured anchor")
    return {"stamps": config.tsa_stamps, "authorities": authorities, "warnings": warnings}


def _expiry(what: str, cert: x509.Certificate, now: dt.datetime, consequence: str) -> list[str]:
    end = cert.not_valid_after_utc
    if end - now > EXPIRY_WARNING:
        return []
    if end <= now:
        return [f"{what} expired on {end.date().isoformat()}: {consequence}"]
    return [f"{what} expires on {end.date().isoformat()}, in {(end - now).days} days: {consequence}"]


def _signer(token: bytes) -> x509.Certificate | None:
    """The first certificate a token carries (by RFC 3161 practice its signer's); None if it carries none."""
    from earsiv.archive.errors import VerificationError
    from earsiv.archive.tsa.tokens import token_certificates

    try:
        pems = token_certificates(token)
    except VerificationError:
        return None
    return x509.load_pem_x509_certificate(pems[0]) if pems else None
