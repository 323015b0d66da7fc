"""Signed-in sessions of the web pages: a browser's stand-in for the token it signed in with.

A person signs in with its principal's API token (docs/DECISIONS.md, "Web pages: sign in with
the token").  The session is a row in the index database that every ``serve`` process of the
archive shares: the sha256 of a random secret (the cookie's value; the secret itself is kept
nowhere), the principal, and the token it was made from.  Every use checks, in this order:

1. the secret's hash matches the row (constant time, a made-up id costs the same);
2. the session is neither idle longer than ``IDLE`` nor older than ``ABSOLUTE`` (nor past its
   token's expiry, which caps the absolute expiry when it is made);
3. the token is still good and its principal enabled (``AccessControl.token_principal``):
   revoking a token or disabling a principal ends its sessions at their next request.

The form token against cross-site requests (CSRF) is derived from the secret (an HMAC), so it
needs no storage and changes with every session.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from earsiv.archive.errors import Unauthenticated
from earsiv.indexer.sessiondb import SessionIndex, SessionRow

if TYPE_CHECKING:
    from earsiv.archive.access import AccessControl, Principal

__all__ = ["ABSOLUTE", "IDLE", "NewSession", "SignedIn", "WebSessions", "csrf_token"]

IDLE = dt.timedelta(minutes=30)
ABSOLUTE = dt.timedelta(hours=12)
_TOUCH_EVERY = dt.timedelta(seconds=60)  # last use is written at most once a minute, not on every request
_SECRET = re.compile(r"^s_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def csrf_token(secret: str) -> str:
    """The form token of the session whose secret is *secret*."""
    return hmac.new(secret.encode("ascii"), b"earsiv-csrf-v1", hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class NewSession:
    secret: str  # the cookie's value; shown once, kept as its sha256
    principal: Principal
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class SignedIn:
    session_id: str
    principal: Principal
    csrf: str
    expires_at: dt.datetime


class WebSessions:
    def __init__(self, access: AccessControl, index: SessionIndex, *, idle: dt.timedelta = IDLE,
                 absolute: dt.timedelta = ABSOLUTE) -> None:
        self.access, self.index, self.idle, self.absolute = access, index, idle, absolute

    def sign_in(self, token: str, now: dt.datetime | None = None) -> NewSession:
        now = now or _now()
        principal = self.access.authenticate(token, now)
        token_id = token.split("_")[1]
        row = self.access.index.access.token(token_id)
        expires = now + self.absolute
        if row is not None and row.expires_at is not None:
            expires = min(expires, row.expires_at)
        session_id = secrets.token_hex(8)
        secret = f"s_{session_id}_{secrets.token_urlsafe(32)}"
        self.index.add(SessionRow(session_id, _hash(secret), principal.name, token_id, now, now, expires), now)
        return NewSession(secret, principal, expires)

    def resolve(self, secret: str, now: dt.datetime | None = None) -> SignedIn:
        now = now or _now()
        m = _SECRET.match(secret or "")
        if m is None:
            raise Unauthenticated("not a session")
        row = self.index.get(m.group(1))
        # 1. the secret (compared in constant time even for an unknown id)
        if not hmac.compare_digest(row.sha256 if row else "0" * 64, _hash(secret)) or row is None:
            raise Unauthenticated("unknown or ended session")
        # 2. its lifetimes
        if now >= row.expires_at or now >= row.last_seen_at + self.idle:
            self.index.delete(row.id)
            raise Unauthenticated("the session has expired; sign in again")
        # 3. the token and its principal, now
        try:
            principal = self.access.token_principal(row.token_id, now)
        except Unauthenticated:
            self.index.delete(row.id)
            raise
        if principal.name != row.principal:
            raise Unauthenticated("unknown or ended session")
        if now - row.last_seen_at >= _TOUCH_EVERY:
            self.index.touch(row.id, now)
        return SignedIn(row.id, principal, csrf_token(secret), row.expires_at)

    def sign_out(self, secret: str) -> None:
        m = _SECRET.match(secret or "")
        if m is not None:
            row = self.index.get(m.group(1))
            if row is not None and hmac.compare_digest(row.sha256, _hash(secret)):
                self.index.delete(row.id)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
