"""Serving the app with uvicorn, with read timeouts and a connection cap uvicorn does not have.

uvicorn's h11 protocol closes a connection only when it has been idle *between* requests
(``timeout_keep_alive``).  A client that sends its request headers a byte at a time, or
stops in the middle of a body, holds its connection (and a file descriptor) for ever: 200
such clients stop a server.  ``GuardedH11Protocol`` adds:

* headers: the whole request line and headers must arrive within ``header_timeout``
  seconds of the connection (or of the previous response); trickling bytes does not
  extend it (nginx's ``client_header_timeout``);
* body, idle: while a request body is being read, no more than ``body_timeout`` seconds
  may pass without a byte of it (nginx's ``client_body_timeout``);
* body, slow: the whole body must be in within ``body_timeout`` seconds plus one second
  for every ``body_min_rate`` bytes received (Apache's ``RequestReadTimeout body=…,MinRate=…``),
  so a byte every few seconds, never idle long enough for the first rule, is cut off too;
  in both, time in which the server itself stopped reading (the app has not taken the
  previous chunk yet) does not count;
* connections: at most ``max_connections`` at once; one more is answered ``503`` with
  ``Retry-After`` and closed before a byte of it is read.

Nothing here knows who a client is: the token is checked by the app before it reads a body
(``auth.Authenticate``), so all of this holds for clients with and without one.  A connection
that runs out of time is closed and logged in one line at INFO; refused connections are
logged at most once every ten seconds, with their count.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["BODY_MIN_RATE", "BODY_TIMEOUT", "HEADER_TIMEOUT", "MAX_CONNECTIONS", "GuardedH11Protocol",
           "guarded_protocol", "serve"]

HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 30.0
BODY_MIN_RATE = 8 * 1024  # bytes a second, on average, once body_timeout is used up
MAX_CONNECTIONS = 256
_REFUSED_LOG_EVERY = 10.0
log = logging.getLogger("earsiv.http")


def _busy_response() -> bytes:
    body = json.dumps({"type": "urn:earsiv:problem:too-many-connections", "title": "Too many connections",
                       "status": 503, "detail": "the server has as many connections open as it takes; retry shortly"})
    return (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}").encode()


class GuardedH11Protocol(H11Protocol):
    header_timeout: float = HEADER_TIMEOUT
    body_timeout: float = BODY_TIMEOUT
    body_min_rate: float = BODY_MIN_RATE
    max_connections: int = MAX_CONNECTIONS
    # Shared by every connection of the server (class attributes of the configured subclass).
    _refused: int = 0
    _refused_logged: float = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard: asyncio.TimerHandle | None = None
        self._body_deadline: float | None = None  # loop time by which the body must be in, at the minimum rate

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._refuse()
            return
        self._arm(self.header_timeout, "headers")

    def _refuse(self) -> None:
        self.transport.write(_busy_response())
        self.transport.close()
        cls = type(self)
        cls._refused += 1
        now = time.monotonic()
        if now - cls._refused_logged >= _REFUSED_LOG_EVERY:
            log.info("refused %d connection(s): %d open is the limit (--max-connections)", cls._refused,
                     self.max_connections)
            cls._refused, cls._refused_logged = 0, now

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            self._disarm()
            return
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            now = self.loop.time()
            if self._body_deadline is None:  # the headers just ended (this data is mostly them)
                self._body_deadline = now + self.body_timeout
            else:
                self._body_deadline += len(data) / self.body_min_rate
            if now >= self._body_deadline:
                self._cut(self.body_timeout, "slow body")
                return
            # every chunk starts the idle time anew, within what the minimum rate allows
            left = self._body_deadline - now
            if left >= self.body_timeout:
                self._arm(self.body_timeout, "body")
            else:
                self._arm(left, "slow body")
            return
        self._body_deadline = None
        if state is not h11.IDLE:
            self._disarm()  # the request is in: the app takes as long as it takes
        elif self._guard is None:
            self._arm(self.header_timeout, "headers")
        # IDLE with a running timer: the headers' deadline stands, however many bytes trickle in

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm(self.header_timeout, "headers")  # the next request's headers

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._guard = self.loop.call_later(seconds, self._expired, seconds, what)

    def _disarm(self) -> None:
        if self._guard is not None:
            self._guard.cancel()
            self._guard = None

    def _expired(self, seconds: float, what: str) -> None:
        self._guard = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused:  # we are not reading: not the client's delay
            if self._body_deadline is not None:
                self._body_deadline += seconds
            self._arm(seconds, what)
            return
        self._cut(seconds, what)

    def _cut(self, seconds: float, what: str) -> None:
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        if what == "headers":
            log.info("closed the connection of %s: its request headers did not arrive within %g s", client, seconds)
        elif what == "body":
            log.info("closed the connection of %s: no byte of its request body for %g s", client, seconds)
        else:
            log.info("closed the connection of %s: its request body came slower than %g bytes a second",
                     client, self.body_min_rate)
        self._disarm()
        self.transport.close()


def guarded_protocol(header_timeout: float = HEADER_TIMEOUT, body_timeout: float = BODY_TIMEOUT,
                     body_min_rate: float = BODY_MIN_RATE, max_connections: int = MAX_CONNECTIONS) -> type[H11Protocol]:
    """``GuardedH11Protocol`` with these limits (seconds, bytes a second, connections)."""
    if header_timeout <= 0 or body_timeout <= 0 or body_min_rate <= 0:
        raise ValueError("timeouts and the minimum body rate must be positive")
    if max_connections < 1:
        raise ValueError("max_connections must be at least 1")
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {
        "header_timeout": header_timeout, "body_timeout": body_timeout, "body_min_rate": body_min_rate,
        "max_connections": max_connections, "_refused": 0, "_refused_logged": 0.0})


def serve(app: Any, host: str, port: int, *, header_timeout: float = HEADER_TIMEOUT,
          body_timeout: float = BODY_TIMEOUT, body_min_rate: float = BODY_MIN_RATE,
          max_connections: int = MAX_CONNECTIONS) -> None:
    """Run *app* until interrupted (SIGINT/SIGTERM shut it down gracefully)."""
    import uvicorn

    # The server's own one-line notes (a connection timed out, a client went away) are INFO.
    logging.getLogger("earsiv").setLevel(logging.INFO)
    uvicorn.run(app, host=host, port=port, log_level="info",
                http=guarded_protocol(header_timeout, body_timeout, body_min_rate, max_connections))
