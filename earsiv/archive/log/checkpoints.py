"""Checkpoints: signed statements "the log's first N leaves have Merkle root R" (FORMAT.md §7).

    log/checkpoints/<N>       the checkpoint text (ASCII, lines ending in 0x0A)
    log/checkpoints/<N>.sig   raw Ed25519 signature of exactly those bytes by keys/<key id>.pem
    log/checkpoints/<N>.tsr   DER RFC 3161 TimeStampToken over sha256(those bytes)

A checkpoint exists when its signature does: a body without ``.sig`` is the remains of a
crash between the two writes, and is finished (signed) by the next checkpoint of that size
or ignored.  The token may come later (the TSA was down); ``Ledger.stamp_pending`` stamps
every checkpoint that lacks one.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from earsiv.archive.errors import VerificationError
from earsiv.archive.log.entries import format_time, parse_time

__all__ = ["CHECKPOINT_HEADER", "CHECKPOINT_PREFIX", "Checkpoint", "checkpoint_key"]

CHECKPOINT_PREFIX = "log/checkpoints/"
CHECKPOINT_HEADER = "earsiv-checkpoint/1"


def checkpoint_key(size: int, suffix: str = "") -> str:
    """``log/checkpoints/<size, 16 digits>`` and its ``.sig``/``.tsr`` companions (``.tsr2``: a second,
    independent TSA's token, when two are configured)."""
    if suffix not in ("", ".sig", ".tsr", ".tsr2"):
        raise ValueError(f"unknown checkpoint suffix {suffix!r}")
    return f"{CHECKPOINT_PREFIX}{size:016d}{suffix}"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    time: dt.datetime
    key_id: str
    # The time line as written: checkpoints of version 1 written before 2026-12 carry
    # milliseconds; the body is always these exact bytes.
    time_text: str | None = None

    def __post_init__(self) -> None:
        if self.size < 0 or len(self.root) != 32 or not re.fullmatch(r"[0-9a-f]{64}", self.key_id):
            raise ValueError("malformed checkpoint")
        if self.time.tzinfo is None:
            raise ValueError("checkpoint time must be timezone-aware")
        if "\n" in self.origin or not self.origin.isascii():
            raise ValueError("checkpoint origin must be one line of ASCII")

    def body(self) -> bytes:
        return (
            f"{CHECKPOINT_HEADER}\n"
            f"origin: {self.origin}\n"
            f"size: {self.size}\n"
            f"root: {self.root.hex()}\n"
            f"time: {self.time_text or format_time(self.time)}\n"
            f"key: {self.key_id}\n"
        ).encode("ascii")

    @classmethod
    def parse(cls, body: bytes) -> Checkpoint:
        try:
            lines = body.decode("ascii").split("\n")
            if lines[0] != CHECKPOINT_HEADER:
                raise VerificationError(f"not a checkpoint of a known format: {lines[0]!r}")
            fields = dict(line.split(": ", 1) for line in lines[1:] if line)
            cp = cls(
                origin=fields["origin"],
                size=int(fields["size"]),
                root=bytes.fromhex(fields["root"]),
                time=parse_time(fields["time"]),
                key_id=fields["key"],
                time_text=fields["time"],
            )
        except (UnicodeDecodeError, ValueError, KeyError) as exc:
            raise VerificationError(f"malformed checkpoint: {exc}") from exc
        if cp.body() != body:
            raise VerificationError("checkpoint is not in canonical form")
        return cp
