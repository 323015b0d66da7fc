"""What a print states about its original, and only what the archive knows.

A :class:`Provenance` is built by the archive (``earsiv.archive.export``) from
the index row and the verified proof, never from the document: the stamp on
every PDF page and the frame around the HTML view are made from it alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from earsiv.documents.metadata import KINDS, SIGNATURE_STATUSES

__all__ = ["EVIDENCE_NAME", "ORIGINAL_NAME", "SIGNATURE_LABELS", "Provenance"]

ORIGINAL_NAME = "original.xml"
EVIDENCE_NAME = "evidence.json"
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
SIGNATURE_LABELS = {"valid": "geçerli (valid)", "invalid": "GEÇERSİZ (invalid)", "unsigned": "imzasız (unsigned)",
                    "unverifiable": "doğrulanamadı (unverifiable)", "pending": "incelenmedi (pending)"}


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

    def __post_init__(self) -> None:
        if not isinstance(self.digest, str) or not _DIGEST.match(self.digest):
            raise ValueError(f"digest must be 64 lowercase hex digits, not {self.digest!r}")
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}")
        if self.signature_status not in SIGNATURE_STATUSES:
            raise ValueError(f"unknown signature status {self.signature_status!r}")
        if self.log_index is not None and (not isinstance(self.log_index, int) or isinstance(self.log_index, bool)
                                           or self.log_index < 0):
            raise ValueError(f"log index must be a non-negative integer, not {self.log_index!r}")
        for name in ("doc_id", "ettn", "checkpoint_time"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be text, not {value!r}")

    def lines(self, *, embedded: bool = True) -> list[str]:
        """The statement, one line each: identity, digest, proof and signature, where the original is."""
        proof = (f"log kaydı #{self.log_index}" if self.log_index is not None else "log kaydı yok") + ", " + (
            f"kontrol noktası {self.checkpoint_time}" if self.checkpoint_time else "henüz zaman damgalı kontrol noktası yok")
        where = (f"asıl ({ORIGINAL_NAME}) ve kanıt ({EVIDENCE_NAME}) bu PDF'e gömülüdür." if embedded
                 else "asıl ve kanıtı arşivden bu özetle alınır.")
        return [
            f"Tür: {self.kind} · No: {_one_line(self.doc_id)} · ETTN: {_one_line(self.ettn)}",
            f"SHA-256: {self.digest}",
            f"Kanıt: {proof} · İmza: {SIGNATURE_LABELS[self.signature_status]}",
            f"Elektronik aslın çıktısıdır; {where}",
        ]

    def to_json(self) -> dict:
        return {"digest": self.digest, "kind": self.kind, "doc_id": self.doc_id, "ettn": self.ettn,
                "log_index": self.log_index, "checkpoint_time": self.checkpoint_time,
                "signature_status": self.signature_status}


def _one_line(text: str | None, limit: int = 40) -> str:
    """An ID as the document wrote it, on one line and too short to pass for a digest (UBL IDs are 16, ETTNs 36)."""
    if not text:
        return "—"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
