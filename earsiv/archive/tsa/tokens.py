"""Small read-only views of an RFC 3161 token (no verification: see tsa_verify)."""

from __future__ import annotations

import datetime as dt

from asn1crypto import cms, tsp

from earsiv.archive.errors import VerificationError

__all__ = ["token_certificates", "token_gen_time"]


def _signed_data(token: bytes) -> cms.SignedData:
    try:
        info = cms.ContentInfo.load(token)
        return info["content"]
    except (ValueError, TypeError) as exc:
        raise VerificationError(f"not a time-stamp token: {exc}") from exc


def token_certificates(token: bytes) -> list[bytes]:
    """PEM of every certificate carried in the token (the TSA's first, as sent)."""
    from asn1crypto import pem

    out = []
    for choice in _signed_data(token)["certificates"] or []:
        if choice.name == "certificate":
            out.append(pem.armor("CERTIFICATE", choice.chosen.dump()))
    return out


def token_gen_time(token: bytes) -> dt.datetime:
    sd = _signed_data(token)
    tst: tsp.TSTInfo = sd["encap_content_info"]["content"].parsed
    return tst["gen_time"].native
