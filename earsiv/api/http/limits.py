"""Rate limits per principal, where a request writes what is kept for years.

Each request of an inspector is an access event, and a read of the access log may make a
checkpoint (and pay for its time stamp) to prove the events it returns: both are write-once
objects kept for the archive's life.  ``RateLimit`` gives each principal a token bucket per
kind (RFC 6585's 429 with ``Retry-After`` when it is empty):

* ``inspector``: every request of an inspector;
* ``access-log``: every ``GET /v1/access-log``, whoever asks.

A refused request is not an access event (it shows nothing and touches no document, and
recording it would defeat the limit); the server log counts refusals, one line per principal
every ten seconds at most.  The buckets live in the server process: the command line is one
process per command, run where the archive's files are, and has no such limit (DEPLOY.md).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from earsiv.api.http.auth import PRINCIPAL
from earsiv.api.http.problems import problem_response

__all__ = ["ACCESS_LOG_PATH", "Rate", "RateLimit"]

ACCESS_LOG_PATH = "/v1/access-log"
_LOG_EVERY = 10.0
log = logging.getLogger("earsiv.http")


@dataclass(frozen=True, slots=True)
class Rate:
    """``per_minute`` requests a minute on average, up to ``burst`` at once."""

    per_minute: float
    burst: int

    def __post_init__(self) -> None:
        if not self.per_minute > 0 or self.burst < 1:
            raise ValueError(f"a rate needs per_minute > 0 and burst >= 1, got {self.per_minute}, {self.burst}")


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float
    refused: int = 0
    logged: float = -math.inf


class RateLimit:
    """ASGI middleware: a token bucket per (principal, kind); 429 when one the request needs is empty."""

    def __init__(self, app: ASGIApp, *, inspector: Rate, access_log: Rate,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.rates = {"inspector": inspector, "access-log": access_log}
        self.clock = clock
        # One bucket per principal and kind: principals are made by admins, so this stays small.
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def _kinds(self, scope: Scope) -> list[str]:
        principal = scope.get("state", {}).get(PRINCIPAL)
        if principal is None:
            return []
        kinds = ["inspector"] if principal.role == "inspector" else []
        if scope.get("path") == ACCESS_LOG_PATH:
            kinds.append("access-log")
        return kinds

    def _wait(self, name: str, kinds: list[str]) -> tuple[float, str | None]:
        """Seconds until every bucket the request needs has a token (0: take them now), and the empty one."""
        now = self.clock()
        for kind in kinds:
            rate = self.rates[kind]
            bucket = self._buckets.setdefault((name, kind), _Bucket(float(rate.burst), now))
            bucket.tokens = min(float(rate.burst), bucket.tokens + (now - bucket.at) * rate.per_minute / 60.0)
            bucket.at = now
            if bucket.tokens < 1.0:
                return (1.0 - bucket.tokens) * 60.0 / rate.per_minute, kind
        for kind in kinds:
            self._buckets[(name, kind)].tokens -= 1.0
        return 0.0, None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kinds = self._kinds(scope) if scope["type"] == "http" else []
        if not kinds:
            await self.app(scope, receive, send)
            return
        name = scope["state"][PRINCIPAL].name
        wait, kind = self._wait(name, kinds)
        if kind is None:
            await self.app(scope, receive, send)
            return
        rate = self.rates[kind]
        self._note(name, kind)
        what = "an inspector's requests" if kind == "inspector" else "reads of the access log"
        retry = max(1, math.ceil(wait))
        await problem_response(
            429, "too-many-requests", "Too many requests",
            f"{what} are limited to {rate.per_minute:g} a minute (bursts of {rate.burst}) for each principal; "
            f"retry in {retry} s", headers={"Retry-After": str(retry)}, retry_after=retry)(scope, receive, send)

    def _note(self, name: str, kind: str) -> None:
        bucket = self._buckets[(name, kind)]
        bucket.refused += 1
        now = self.clock()
        if now - bucket.logged >= _LOG_EVERY:
            log.info("refused %d request(s) of %s over the %s rate limit", bucket.refused, name, kind)
            bucket.refused, bucket.logged = 0, now
