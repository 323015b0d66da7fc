"""What a print states about its original, and only what the archive knows.

A :class:`Provenance` is built by the archive (``earsiv.archive.export``) from
the index row and the verified proof, never from the document: the stamp on
every PDF page and the frame around the HTML view are made from it alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from earsiv.documents.metadata import KINDS, SIGNATURE_STATUSES, SignatureReport
from earsiv.documents.sigwords import signature_words

__all__ = ["EVIDENCE_NAME", "ORIGINAL_NAME", "Provenance"]

ORIGINAL_NAME = "original.xml"
EVIDENCE_NAME = "evidence.json"
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class Provenance:
    """What the footer states; validated so that a print cannot lie about its original."""

    digest: str
    kind: str
    doc_id: str | None = None
    ettn: str | None = None
    log_index: int | None = None
    checkpoint_time: str | None = None  # of the stamped checkpoint that proves the document
    signature_status: str = "pending"
    # for a consistent signature: what else was checked (documents/metadata.py)
    signature_trust: str | None = None
    signature_trust_reason: str | None = None
    signer_relation: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.digest, str) or not _DIGEST.match(self.digest):
            raise ValueError(f"digest must be 64 lowercase hex digits, not {self.digest!r}")
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}")
        if self.signature_status not in SIGNATURE_STATUSES:
            raise ValueError(f"unknown signature status {self.signature_status!r}")
        # the same checks as a report's: a print cannot claim a trust the inspection did not give
        SignatureReport(status=self.signature_status, trust=self.signature_trust,
                        trust_reason=self.signature_trust_reason, signer=self.signer_relation)
        if self.log_index is not None and (not isinstance(self.log_index, int) or isinstance(self.log_index, bool)
                                           or self.log_index < 0):
            raise ValueError(f"log index must be a non-negative integer, not {self.log_index!r}")
        for name in ("doc_id", "ettn", "checkpoint_time"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be text, not {value!r}")

    @property
    def signature_words(self) -> str:
        """E.g. "tutarlı, güvenilir kök, imzacı = satıcı": says which checks were made, never a bare "geçerli"."""
        return signature_words(self.signature_status, self.signature_trust, self.signature_trust_reason,
                               self.signer_relation)

    def lines(self, *, embedded: bool = True) -> list[str]:
        """The statement, one line each: identity, digest, proof and signature, where the original is."""
        proof = (f"log kaydı #{self.log_index}" if self.log_index is not None else "log kaydı yok") + ", " + (
            f"kontrol noktası {self.checkpoint_time}" if self.checkpoint_time else "henüz zaman damgalı kontrol noktası yok")
        where = (f"asıl ({ORIGINAL_NAME}) ve kanıt ({EVIDENCE_NAME}) bu PDF'e gömülüdür." if embedded
                 else "asıl ve kanıtı arşivden bu özetle alınır.")
        return [
            f"Tür: {self.kind} · No: {_one_line(self.doc_id)} · ETTN: {_one_line(self.ettn)}",
            f"SHA-256: {self.digest}",
            f"Kanıt: {proof} · İmza: {self.signature_words}",
            f"Elektronik aslın çıktısıdır; {where}",
        ]

    def to_json(self) -> dict:
        return {"digest": self.digest, "kind": self.kind, "doc_id": self.doc_id, "ettn": self.ettn,
                "log_index": self.log_index, "checkpoint_time": self.checkpoint_time,
                "signature_status": self.signature_status, "signature_trust": self.signature_trust,
                "signature_trust_reason": self.signature_trust_reason, "signer_relation": self.signer_relation}


def _one_line(text: str | None, limit: int = 40) -> str:
    """An ID as the document wrote it, on one line and too short to pass for a digest (UBL IDs are 16, ETTNs 36)."""
    if not text:
        return "—"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
