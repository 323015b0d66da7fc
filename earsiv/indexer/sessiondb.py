"""The web pages' signed-in sessions in the index database (``models.web_sessions``).

Not derived from the log, unlike every other table: ``Index.dump`` leaves it out and a reindex
empties it.  The rules (lifetimes, what a secret looks like) are ``archive/sessions.py``'s.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from earsiv.indexer.models import web_sessions

if TYPE_CHECKING:
    from earsiv.indexer.database import Database

__all__ = ["SessionIndex", "SessionRow"]


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: str
    sha256: str
    principal: str
    token_id: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime


class SessionIndex:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, session_id: str) -> SessionRow | None:
        with self._db.read("cannot read a session") as conn:
            row = conn.execute(sa.select(web_sessions).where(web_sessions.c.id == session_id)).first()
        return SessionRow(*row) if row is not None else None

    def add(self, row: SessionRow, now: dt.datetime) -> None:
        """Keep *row*; sessions whose absolute expiry has passed go in the same transaction."""
        with self._db.write("cannot keep a session") as conn:
            conn.execute(sa.delete(web_sessions).where(web_sessions.c.expires_at <= now))
            conn.execute(sa.insert(web_sessions).values(
                id=row.id, sha256=row.sha256, principal=row.principal, token_id=row.token_id,
                created_at=row.created_at, last_seen_at=row.last_seen_at, expires_at=row.expires_at))

    def touch(self, session_id: str, at: dt.datetime) -> None:
        with self._db.write("cannot note a session's use") as conn:
            conn.execute(sa.update(web_sessions).where(web_sessions.c.id == session_id).values(last_seen_at=at))

    def delete(self, session_id: str) -> None:
        with self._db.write("cannot end a session") as conn:
            conn.execute(sa.delete(web_sessions).where(web_sessions.c.id == session_id))
