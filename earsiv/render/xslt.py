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
4. run in a separate worker process with an address-space limit, a wall-clock
   timeout (the worker is killed and replaced) and a cap on output size.

The worker is a plain ``python -m`` subprocess rather than a multiprocessing
child: it works the same from daemonic pool workers and never forks a process
that holds threads or database handles.
"""

from __future__ import annotations

import atexit
import os
import select
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from earsiv.render.errors import StylesheetRefused

__all__ = ["DEFAULT_MAX_OUTPUT", "DEFAULT_TIMEOUT", "Sandbox", "default_sandbox", "transform"]

DEFAULT_TIMEOUT = 20.0  # seconds: GİB's general.xslt on a 0.6 MB invoice takes well under 2 s
DEFAULT_MAX_OUTPUT = 32 * 1024 * 1024  # characters of HTML
MEMORY_LIMIT = 1024 * 1024 * 1024  # bytes of address space beyond the worker's start

_HEADER = struct.Struct(">I")


def _frame(*parts: bytes) -> bytes:
    return b"".join(_HEADER.pack(len(p)) + p for p in parts)


class Sandbox:
    """One long-lived worker process; ``transform`` is serialised by a lock."""

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT, max_output: int = DEFAULT_MAX_OUTPUT) -> None:
        self.timeout = timeout
        self.max_output = max_output
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def _start(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            # The worker must import this very package, installed or not.
            package_root = str(Path(__file__).resolve().parents[2])
            path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
            env = dict(os.environ, PYTHONPATH=path, EARSIV_SANDBOX_MEMORY=str(MEMORY_LIMIT),
                       EARSIV_SANDBOX_MAX_OUTPUT=str(self.max_output))
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "earsiv.render._worker"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                cwd="/", env=env,  # cwd "/" so that no relative path names our working tree
            )
        return self._proc

    def close(self) -> None:
        with self._lock:
            self._kill()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def transform(self, document: bytes, stylesheet: bytes, *, timeout: float | None = None) -> str:
        """Apply *stylesheet* to *document*; the HTML as text, or :class:`StylesheetRefused`."""
        limit = self.timeout if timeout is None else timeout
        with self._lock:
            proc = self._start()
            try:
                proc.stdin.write(_frame(document, stylesheet))
                proc.stdin.flush()
                status = self._read(proc, 1, time.monotonic() + limit)
                (size,) = _HEADER.unpack(self._read(proc, 4, time.monotonic() + limit))
                payload = self._read(proc, size, time.monotonic() + limit)
            except TimeoutError:
                self._kill()
                raise StylesheetRefused(f"stylesheet ran longer than {limit:g} s and was stopped") from None
            except (OSError, EOFError, struct.error) as exc:
                self._kill()
                raise StylesheetRefused(f"stylesheet worker died ({exc.__class__.__name__})") from exc
        text = payload.decode("utf-8", "replace")
        if status == b"E":
            raise StylesheetRefused(text)
        return text

    @staticmethod
    def _read(proc: subprocess.Popen, n: int, deadline: float) -> bytes:
        fd = proc.stdout.fileno()
        chunks, got = [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fd, min(n - got, 1 << 20))
            if not chunk:
                raise EOFError("worker closed its output")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)


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
