"""Prints made in bounded, killable worker processes, never in the caller's.

A document can make a print expensive: its stylesheet may loop, or write 8,000
rows from a 4 KB invoice; HTML parsing and PDF layout of what it wrote take
time and memory no request handler may spend.  So the whole print (XSLT, HTML
parsing and defusing, layout, PDF) runs in a worker process
(``earsiv.render._worker``) with an address-space limit and a lower CPU
priority, and this process only waits, with a clock:

1. a print takes one of ``size`` workers (a pool, not a lock: one bad
   document holds one worker), at most ``per_owner`` at a time for one caller
   (one tenant cannot take every worker), waiting at most ``queue_wait``
   seconds for one (then :class:`PrintersBusy`);
2. the worker says which stage it is in (``view:embedded:1``,
   ``layout:gib:general.xslt``, ``view:builtin``, …); each stage has a deadline
   in the workers' CPU seconds, so that a print on a busy machine is not cut for
   waiting its turn: one stylesheet's XSLT at most ``xslt``, all of the
   document's and GİB's stylesheets together (their XSLT and their layout) at
   most ``stylesheet_share`` of the ``budget``, the built-in template what is
   left; and no stage, nor the print, longer on the wall clock than
   ``wall_factor`` times its CPU limit;
3. a stage past its deadline, or a worker that runs out of memory or dies,
   is killed; the print starts again in a fresh worker without that stylesheet,
   and the print says so (``limits``: in the PDF's stamp, the HTML's header,
   the built-in template's notice).  Only when the built-in template itself
   cannot be printed within the budget does the print fail;
4. a worker is replaced after ``max_jobs`` prints, and after any print that
   left it larger than ``recycle_rss``: its memory goes back to the system.

Messages both ways are frames: a kind byte, a JSON header, a binary body.  A
worker parses hostile input, so nothing it sends is unpickled.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from earsiv.render.errors import PrintersBusy, RenderError
from earsiv.render.provenance import Provenance

__all__ = ["PrintLimits", "PrintPool", "Printed", "Stopwatch", "Worker", "WorkerDied", "WorkerOverran", "shared_pool"]

_U32 = struct.Struct(">I")
MAX_HEADER = 16 << 20
_TICKS = os.sysconf("SC_CLK_TCK")
_POLL = 0.2  # seconds between looks at a silent worker's CPU time


@dataclass(frozen=True, slots=True)
class PrintLimits:
    # Time is the workers' CPU time: a print on a busy machine is not cut for waiting its turn
    # (a worker runs at a lower priority), and a hostile one costs at most this much CPU.
    budget: float = 120.0  # CPU seconds for one print (an invoice of 3,000 lines takes ~40)
    stylesheet_share: float = 0.4  # of the budget, for every stylesheet together (XSLT and layout)
    xslt: float = 10.0  # CPU seconds for one stylesheet's XSLT (GİB's general.xslt on 1,000 lines: ~4)
    wall_factor: float = 3.0  # and no stage, nor the print, longer than this many times its CPU limit
    memory: int = 1536 << 20  # bytes of address space a worker may add to what it starts with
    queue_wait: float = 30.0  # seconds a print waits for a free worker
    recycle_rss: int = 300 << 20  # a worker larger than this after a print is replaced
    max_jobs: int = 200  # prints before a worker is replaced anyway
    max_output: int = 512 << 20  # bytes of one print

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> PrintLimits:
        """Defaults, or ``EARSIV_PRINT_BUDGET`` (seconds) and ``EARSIV_PRINT_MEMORY`` (MB) where set."""
        env = os.environ if env is None else env
        over: dict = {}
        try:
            if env.get("EARSIV_PRINT_BUDGET"):
                over["budget"] = float(env["EARSIV_PRINT_BUDGET"])
                over["xslt"] = min(cls().xslt, over["budget"] / 4)  # slots: the class holds no default
            if env.get("EARSIV_PRINT_MEMORY"):
                over["memory"] = int(env["EARSIV_PRINT_MEMORY"]) << 20
        except ValueError as exc:
            raise RenderError(f"EARSIV_PRINT_BUDGET and EARSIV_PRINT_MEMORY are numbers: {exc}") from exc
        limits = cls(**over)
        if limits.budget <= 0 or limits.memory <= 0:
            raise RenderError("EARSIV_PRINT_BUDGET and EARSIV_PRINT_MEMORY must be positive")
        return limits


@dataclass(frozen=True, slots=True)
class Printed:
    data: bytes
    source: str  # the view printed: embedded:N, gib:<file>, builtin
    limits: tuple[str, ...] = ()  # what a limit cut short (also said in the print)


@dataclass(frozen=True, slots=True)
class Stopwatch:
    """A moment of a worker's life: CPU seconds it had used, and the wall clock (``time.monotonic``)."""

    cpu: float
    wall: float


class WorkerOverran(Exception):
    def __init__(self, stage: str | None, cpu: float, wall: float) -> None:
        super().__init__(f"{stage or 'start'}: stopped after {cpu:.0f} s of CPU ({wall:.0f} s)")
        self.stage, self.cpu, self.wall = stage, cpu, wall


class WorkerDied(Exception):
    def __init__(self, stage: str | None, why: str) -> None:
        super().__init__(f"{stage or 'start'}: {why}")
        self.stage, self.why = stage, why


def _frame(kind: bytes, header: dict, body: bytes = b"") -> bytes:
    head = json.dumps(header, ensure_ascii=False).encode()
    return kind + _U32.pack(len(head)) + head + _U32.pack(len(body)) + body


class Worker:
    """One worker process; one request at a time, with a deadline per stage."""

    def __init__(self, *, memory: int, max_output: int) -> None:
        package_root = str(Path(__file__).resolve().parents[2])  # the worker imports this very package
        path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
        env = dict(os.environ, PYTHONPATH=path, EARSIV_SANDBOX_MEMORY=str(memory))
        self.max_output = max_output
        self.jobs = 0
        self.last_cpu = 0.0
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "earsiv.render._worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd="/", env=env,  # cwd "/" so that no relative path names our working tree
        )

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def rss(self) -> int:
        try:
            with open(f"/proc/{self.proc.pid}/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return 0

    def cpu(self) -> float:
        """CPU seconds the worker has used (user + system); the last reading once it is gone."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            self.last_cpu = (int(fields[11]) + int(fields[12])) / _TICKS
        except (OSError, ValueError, IndexError):
            pass
        return self.last_cpu

    def request(self, header: dict, body: bytes, limit_for: Callable[[str | None, Stopwatch], Stopwatch]) -> tuple[bytes, dict, bytes]:
        """Send one job; ``(kind, header, body)`` of its answer (``R`` or ``E``).

        *limit_for(stage, now)* gives a stage's deadlines, in this worker's CPU
        seconds and on the wall clock, from the :class:`Stopwatch` *now* at which
        the stage begins (``None``: before the worker names one).  Past either,
        the worker is killed (:class:`WorkerOverran`); a worker that dies raises
        :class:`WorkerDied`.
        """
        self.jobs += 1
        stage, started = None, self.now()
        limit = limit_for(stage, started)
        try:
            self.proc.stdin.write(_frame(b"J", header, body))
            self.proc.stdin.flush()
            while True:
                kind = self._read(1, limit, stage, started)
                (n,) = _U32.unpack(self._read(4, limit, stage, started))
                if n > MAX_HEADER:
                    raise WorkerDied(stage, f"sent a header of {n} bytes")
                head = json.loads(self._read(n, limit, stage, started))
                (n,) = _U32.unpack(self._read(4, limit, stage, started))
                if n > self.max_output:
                    raise WorkerDied(stage, f"sent {n:,} bytes, over the limit of {self.max_output:,}")
                payload = self._read(n, limit, stage, started)
                if kind == b"S":
                    stage, started = str(head.get("stage")), self.now()
                    limit = limit_for(stage, started)
                    continue
                if kind not in (b"R", b"E"):
                    raise WorkerDied(stage, f"sent an unknown message {kind!r}")
                return kind, head, payload
        except (WorkerOverran, WorkerDied):
            self.kill()
            raise
        except (OSError, ValueError, struct.error) as exc:
            self.kill()
            raise WorkerDied(stage, f"the worker failed ({exc.__class__.__name__}: {exc})") from exc

    def now(self) -> Stopwatch:
        return Stopwatch(self.cpu(), time.monotonic())

    def _read(self, n: int, limit: Stopwatch, stage: str | None, started: Stopwatch) -> bytes:
        fd = self.proc.stdout.fileno()
        chunks, got = [], 0
        while got < n:
            wall_left = limit.wall - time.monotonic()
            ready = wall_left > 0 and select.select([fd], [], [], min(wall_left, _POLL))[0]
            if not ready:
                now = self.now()
                if now.wall >= limit.wall or now.cpu >= limit.cpu:
                    raise WorkerOverran(stage, now.cpu - started.cpu, now.wall - started.wall)
                continue
            chunk = os.read(fd, min(n - got, 1 << 20))
            if not chunk:
                self.proc.wait()
                raise WorkerDied(stage, _death(self.proc.returncode))
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        """Let the worker end by itself (end of its input), or kill it."""
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        return f"the worker was killed by signal {-code} (out of memory, or a crash)"
    return f"the worker ended (exit status {code}; out of memory, or a crash)"


@dataclass
class _Attempt:
    """What one print has learnt so far: sources to skip and why."""

    skip: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class PrintPool:
    """Up to *size* worker processes shared by every print of this process."""

    def __init__(self, size: int | None = None, *, per_owner: int | None = None, limits: PrintLimits | None = None) -> None:
        self.size = max(1, size or min(4, os.cpu_count() or 1))
        self.per_owner = max(1, per_owner if per_owner is not None else self.size - 1)
        self.limits = limits or PrintLimits()
        self._cond = threading.Condition()
        self._idle: list[Worker] = []
        self._busy = 0
        self._owners: Counter[str] = Counter()
        self._closed = False

    # -- slots ------------------------------------------------------------------------------
    def _acquire(self, owner: str) -> None:
        until = time.monotonic() + self.limits.queue_wait
        with self._cond:
            while self._busy >= self.size or self._owners[owner] >= self.per_owner:
                left = until - time.monotonic()
                if self._closed:
                    raise RenderError("the print pool is closed")
                if left <= 0:
                    mine = self._owners[owner]
                    raise PrintersBusy(f"all {self.size} print workers are busy ({mine} with this caller's prints) "
                                       f"after waiting {self.limits.queue_wait:g} s; try again")
                self._cond.wait(left)
            self._busy += 1
            self._owners[owner] += 1

    def _release(self, owner: str) -> None:
        with self._cond:
            self._busy -= 1
            self._owners[owner] -= 1
            if not self._owners[owner]:
                del self._owners[owner]
            self._cond.notify_all()

    def _worker(self) -> Worker:
        with self._cond:
            while self._idle:
                w = self._idle.pop()
                if w.alive:
                    return w
        return Worker(memory=self.limits.memory, max_output=self.limits.max_output)

    def _done_with(self, w: Worker) -> None:
        """Keep *w* for the next print, or replace it: memory a print grew goes back to the system."""
        if w.alive and w.jobs < self.limits.max_jobs and w.rss() < self.limits.recycle_rss:
            with self._cond:
                if not self._closed and len(self._idle) < self.size:
                    self._idle.append(w)
                    return
        w.close()

    # -- prints -----------------------------------------------------------------------------
    def print(self, fmt: str, data: bytes, prov: Provenance, evidence: dict | None = None, *,
              owner: str = "") -> Printed:
        """A PDF (``pdf``) or HTML view (``html``) of *data*, made within the limits."""
        if fmt not in ("pdf", "html"):
            raise ValueError(f"a print is pdf or html, not {fmt!r}")
        self._acquire(owner)
        try:
            return self._print(fmt, data, prov, evidence)
        finally:
            self._release(owner)

    def _print(self, fmt: str, data: bytes, prov: Provenance, evidence: dict | None) -> Printed:
        lim = self.limits
        sheet_budget = lim.budget * lim.stylesheet_share
        wall_end = time.monotonic() + lim.budget * lim.wall_factor
        spent = 0.0  # CPU seconds of this print's earlier attempts
        attempt = _Attempt()
        for _ in range(8):  # stylesheets tried (3) + GİB's + built-in, with room to spare
            sheets = spent < sheet_budget
            if not sheets and attempt.skip and not attempt.notes[-1].startswith("stylesheets"):
                attempt.notes.append(f"stylesheets not tried further: their {sheet_budget:.0f} s were used up (time limit)")
            header = {"op": "print", "format": fmt, "prov": prov.to_json(), "evidence": evidence,
                      "skip": attempt.skip, "notes": attempt.notes, "stylesheets": sheets}
            w = self._worker()
            base = w.cpu()  # a worker kept from an earlier print has used some already

            def limit_for(stage: str | None, now: Stopwatch, base: float = base, spent: float = spent) -> Stopwatch:
                def at(print_cpu: float) -> float:  # this print's CPU clock, as the worker's
                    return base + print_cpu - spent

                if stage is None or stage.endswith(":builtin"):
                    return Stopwatch(at(lim.budget), wall_end)
                if stage.startswith("view:"):  # one stylesheet's XSLT, parsing and checks
                    return Stopwatch(min(now.cpu + lim.xslt, at(sheet_budget)),
                                     min(now.wall + lim.xslt * lim.wall_factor, wall_end))
                return Stopwatch(at(sheet_budget), wall_end)  # the layout of a stylesheet's output

            try:
                kind, head, body = w.request(header, data, limit_for)
            except WorkerOverran as exc:
                spent += w.last_cpu - base
                self._learn(attempt, exc.stage, f"stopped after {exc.cpu:.0f} s of CPU, {exc.wall:.0f} s (time limit)", lim)
                continue
            except WorkerDied as exc:
                spent += w.last_cpu - base
                self._learn(attempt, exc.stage, f"stopped: {exc.why} (memory limit {lim.memory >> 20} MB)", lim)
                continue
            spent += w.cpu() - base
            if kind == b"E" and head.get("limit") == "memory":
                w.kill()
                self._learn(attempt, head.get("stage"), f"stopped: out of memory (limit {lim.memory >> 20} MB)", lim)
                continue
            self._done_with(w)
            if kind == b"E":
                raise RenderError(str(head.get("error", "the print failed")))
            return Printed(body, str(head.get("source", "")), tuple(head.get("limits", ())))
        raise RenderError(f"the print was stopped too often: {' | '.join(attempt.notes)}")

    @staticmethod
    def _learn(attempt: _Attempt, stage: str | None, why: str, lim: PrintLimits) -> None:
        source = (stage or "").partition(":")[2]
        if not source or source == "builtin":
            raise RenderError(f"the print could not be made within its limits ({lim.budget:g} s of CPU, "
                              f"{lim.memory >> 20} MB): {stage or 'start'}: {why}")
        attempt.skip.append(source)
        attempt.notes.append(f"{source}: {'layout ' if stage.startswith('layout:') else ''}{why}")

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for w in idle:
            w.close()


_shared: PrintPool | None = None
_shared_pid = 0
_shared_lock = threading.Lock()


def shared_pool() -> PrintPool:
    """This process's pool (a forked child gets its own): ``EARSIV_PRINT_WORKERS`` workers
    (default: the cores, at most 4) within :meth:`PrintLimits.from_env`."""
    global _shared, _shared_pid
    with _shared_lock:
        if _shared is None or _shared_pid != os.getpid():
            workers = os.environ.get("EARSIV_PRINT_WORKERS", "")
            if workers and not workers.isdigit():
                raise RenderError(f"EARSIV_PRINT_WORKERS must be a number of workers, not {workers!r}")
            _shared, _shared_pid = PrintPool(int(workers) if workers else None, limits=PrintLimits.from_env()), os.getpid()
            atexit.register(_shared.close)
        return _shared
