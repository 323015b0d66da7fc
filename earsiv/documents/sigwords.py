"""The words that say what a signature inspection checked, in Turkish and English.

One place for them, so that a print, a CSV, a package manifest and an API answer never
disagree, and none of them says "geçerli"/"valid" of a signature that is merely consistent
(issue 17: an inspector reads "geçerli" as "signed by the supplier with a recognised seal").
Three answers, each named (``metadata.py``): the bytes match the signature (*tutarlı*), the
certificate chains at signing time to a configured root (*güvenilir kök*), the signer's
VKN/TCKN is the supplier's (*imzacı = satıcı*).
"""

from __future__ import annotations

from earsiv.documents.metadata import SIGNATURE_STATUSES, SIGNER_RELATIONS, TRUST_REASONS, TRUST_VERDICTS

__all__ = ["signature_words"]

_STATUS = {
    "consistent": ("tutarlı", "consistent"),
    "invalid": ("GEÇERSİZ: belge ile imza uyuşmuyor", "invalid: the bytes do not match the signature"),
    "unsigned": ("imzasız", "unsigned"),
    "unverifiable": ("denetlenemedi", "unverifiable"),
    "pending": ("henüz denetlenmedi", "not inspected yet"),
}
_TRUST = {
    "trusted": ("güvenilir kök", "trusted root"),
    "no-configured-root": ("güvenilir kök denetlenmedi: yapılandırılmış kök yok", "untrusted: no configured root"),
    "unknown-root": ("güvenilir köke bağlanmıyor", "untrusted: does not chain to a configured root"),
    "not-valid-at-signing": ("sertifika imza anında geçerlilik süresi dışında",
                             "untrusted: a certificate was outside its validity at signing time"),
    "not-a-ca": ("zincirde yetkisiz sertifika", "untrusted: an issuer in the chain is not a CA"),
    "no-signing-time": ("imza zamanı yok, zincir denetlenemedi", "untrusted: no signing time to check the chain at"),
}
_SIGNER = {
    "supplier": ("imzacı = satıcı", "signer is the supplier"),
    "other": ("imzacı ≠ satıcı", "signer is not the supplier"),
    "unknown": ("imzacı VKN/TCKN belirsiz", "signer's VKN/TCKN unknown"),
}
assert set(_STATUS) == set(SIGNATURE_STATUSES) and set(_SIGNER) == set(SIGNER_RELATIONS)
assert set(_TRUST) == {*TRUST_REASONS, *TRUST_VERDICTS} - {"untrusted"}


def signature_words(status: str, trust: str | None = None, trust_reason: str | None = None,
                    signer: str | None = None, *, lang: str = "tr") -> str:
    """E.g. ``tutarlı, güvenilir kök, imzacı = satıcı`` or
    ``consistent; untrusted: no configured root; signer is not the supplier``."""
    i = {"tr": 0, "en": 1}[lang]
    if status not in _STATUS:
        raise ValueError(f"unknown signature status {status!r}")
    parts = [_STATUS[status][i]]
    if status == "consistent":
        key = "trusted" if trust == "trusted" else trust_reason
        parts.append(_TRUST[key][i] if key in _TRUST else ("güven denetlenmedi", "trust not evaluated")[i])
        parts.append(_SIGNER[signer][i] if signer in _SIGNER else ("imzacı denetlenmedi", "signer not compared")[i])
    return (", " if lang == "tr" else "; ").join(parts)
