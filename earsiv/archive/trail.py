"""Which access events one request made, so that an inspector's request that made none is still one.

An edge (the HTTP app for each request, the command line for each command) opens a trail
around what it runs; ``AccessControl.record`` notes every access event it appends into the
trail of the request it runs in.  When the request ends with no event (a 404, a 403, a 422
before any use case ran, a page of no documents, the inspector's own grants) the edge asks
``ArchiveService.record_unshown`` for one that says what was asked and what was answered.

The trail lives in a context variable: a use case running in a worker thread for the request
(Starlette's thread pool copies the context) notes into the same trail object.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = ["RequestTrail", "note_event", "request_trail"]


@dataclass(slots=True)
class RequestTrail:
    events: list[int] = field(default_factory=list)


_CURRENT: ContextVar[RequestTrail | None] = ContextVar("earsiv_request_trail", default=None)


@contextlib.contextmanager
def request_trail() -> Iterator[RequestTrail]:
    trail = RequestTrail()
    token = _CURRENT.set(trail)
    try:
        yield trail
    finally:
        _CURRENT.reset(token)


def note_event(index: int) -> None:
    """Note an access event appended for the request running now (nothing when none is)."""
    trail = _CURRENT.get()
    if trail is not None:
        trail.events.append(index)
