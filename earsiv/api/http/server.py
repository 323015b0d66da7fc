"""Serving the app with uvicorn, with read timeouts uvicorn does not have.

uvicorn's h11 protocol closes a connection only when it has been idle *between* requests
(``timeout_keep_alive``).  A client that sends its request headers a byte at a time, or
stops in the middle of a body, holds its connection (and a file descriptor) for ever: 200
such clients stop a server.  ``GuardedH11Protocol`` adds two timers:

* headers: the whole request line and headers must arrive within ``header_timeout``
  seconds of the connection (or of the previous response); trickling bytes does not
  extend it (nginx's ``client_header_timeout``);
* body: while a request body is being read, no more than ``body_timeout`` seconds may
  pass without a byte of it (nginx's ``client_body_timeout``); time in which the server
  itself stopped reading (the app has not taken the previous chunk yet) does not count.

A connection that runs out of time is closed and logged in one line at INFO.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["BODY_TIMEOUT", "HEADER_TIMEOUT", "GuardedH11Protocol", "guarded_protocol", "serve"]

HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 30.0
log = logging.getLogger("earsiv.http")


class GuardedH11Protocol(H11Protocol):
    header_timeout: float = HEADER_TIMEOUT
    body_timeout: float = BODY_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout, "headers")

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            self._disarm()
            return
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            self._arm(self.body_timeout, "body")  # every chunk starts the idle time anew
        elif state is not h11.IDLE:
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
            self._arm(seconds, what)
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        if what == "headers":
            log.info("closed the connection of %s: its request headers did not arrive within %g s", client, seconds)
        else:
            log.info("closed the connection of %s: no byte of its request body for %g s", client, seconds)
        self.transport.close()


def guarded_protocol(header_timeout: float = HEADER_TIMEOUT, body_timeout: float = BODY_TIMEOUT) -> type[H11Protocol]:
    """``GuardedH11Protocol`` with these timeouts (seconds)."""
    if header_timeout <= 0 or body_timeout <= 0:
        raise ValueError("timeouts must be positive")
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"header_timeout": header_timeout,
                                                              "body_timeout": body_timeout})


def serve(app: Any, host: str, port: int, *, header_timeout: float = HEADER_TIMEOUT,
          body_timeout: float = BODY_TIMEOUT) -> None:
    """Run *app* until interrupted (SIGINT/SIGTERM shut it down gracefully)."""
    import uvicorn

    # The server's own one-line notes (a connection timed out, a client went away) are INFO.
    logging.getLogger("earsiv").setLevel(logging.INFO)
    uvicorn.run(app, host=host, port=port, log_level="info", http=guarded_protocol(header_timeout, body_timeout))
