"""Run stylesheets we did not write, contained.

A UBL-TR document carries its own XSLT, and anyone who can send us a document
can send us a stylesheet.  XSLT 1.0 can read files (``document()``,
``xsl:import``), write them (``exsl:document``), call extension functions and
run for ever (exponential recursion stays under libxslt's depth limit).  So a
stylesheet is:

1. parsed with :func:`earsiv.documents.xmlsafe.parse_xml` (no DTD, no entities);
2. refused outright if it names ``xsl:import``/``xsl:include`` or an extension
   element/function namespace other than EXSLT's pure ones;
3. compiled and applied with ``XSLTAccessControl.DENY_ALL`` (no file or network
   read or write, no directory creation), a resolver that answers nothing, and
   no Python extensions;
4. run in a separate worker process (``_worker.py``) with an address-space
   limit, a wall-clock timeout (the worker is killed and replaced) and a cap
   on output size.

:class:`Sandbox` runs stylesheets alone, one at a time; a print runs the
whole chain inside a worker of a :class:`earsiv.render.pool.PrintPool`.
The worker is a plain ``python -m`` subprocess rather than a multiprocessing
child: it works the same from daemonic pool workers and never forks a process
that holds threads or database handles.
"""

from __future__ import annotations

import atexit
import os
import threading

from earsiv.render.errors import StylesheetRefused
from earsiv.render.pool import Stopwatch, Worker, WorkerDied, WorkerOverran

__all__ = ["DEFAULT_MAX_OUTPUT", "DEFAULT_TIMEOUT", "Sandbox", "default_sandbox", "transform"]

DEFAULT_TIMEOUT = 20.0  # seconds: GİB's general.xslt on a 0.6 MB invoice takes well under 2 s
DEFAULT_MAX_OUTPUT = 32 * 1024 * 1024  # characters of HTML
MEMORY_LIMIT = 1024 * 1024 * 1024  # bytes of address space beyond the worker's start


class Sandbox:
    """One long-lived worker process; ``transform`` is serialised by a lock."""

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT, max_output: int = DEFAULT_MAX_OUTPUT) -> None:
        self.timeout = timeout
        self.max_output = max_output
        self._worker: Worker | None = None
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def close(self) -> None:
        with self._lock:
            if self._worker is not None:
                self._worker.close()
                self._worker = None

    def transform(self, document: bytes, stylesheet: bytes, *, timeout: float | None = None) -> str:
        """Apply *stylesheet* to *document*; the HTML as text, or :class:`StylesheetRefused`."""
        limit = self.timeout if timeout is None else timeout
        header = {"op": "transform", "parts": [len(document)], "max_output": self.max_output}
        with self._lock:
            if self._worker is None or not self._worker.alive:
                self._worker = Worker(memory=MEMORY_LIMIT, max_output=4 * self.max_output + 1024)
            try:
                kind, head, payload = self._worker.request(
                    header, document + stylesheet, lambda _stage, now: Stopwatch(float("inf"), now.wall + limit))
            except WorkerOverran:
                self._worker = None
                raise StylesheetRefused(f"stylesheet ran longer than {limit:g} s and was stopped") from None
            except WorkerDied as exc:
                self._worker = None
                raise StylesheetRefused(f"stylesheet worker died ({exc.why})") from exc
        if kind == b"E":
            if head.get("limit") == "memory":
                self.close()
                raise StylesheetRefused("stylesheet exceeded the memory limit")
            raise StylesheetRefused(str(head.get("error", "stylesheet failed")))
        return payload.decode("utf-8", "replace")


_default: Sandbox | None = None
_default_lock = threading.Lock()


def default_sandbox() -> Sandbox:
    """The process's shared sandbox (a pool worker gets its own after fork)."""
    global _default
    with _default_lock:
        if _default is None or _default._pid != os.getpid():
            _default = Sandbox()
            atexit.register(_default.close)
        return _default


def transform(document: bytes, stylesheet: bytes) -> str:
    return default_sandbox().transform(document, stylesheet)
