"""`earsiv serve` for real, in a subprocess on a free loopback port, its log in a file."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["EARSIV", "Served", "free_port", "served"]

EARSIV = Path(sys.executable).parent / "earsiv"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    base: str
    port: int
    proc: subprocess.Popen
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def served(home: Path, log: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60.0) -> Iterator[Served]:
    """Start ``earsiv serve`` on *home*; *env* is added to a clean environment (no EARSIV_*)."""
    port = free_port()
    full_env = {**{k: v for k, v in os.environ.items() if not k.startswith("EARSIV_")}, **(env or {})}
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(EARSIV), "--home", str(home), "serve", "--port", str(port), *args],
                                stdout=out, stderr=subprocess.STDOUT, env=full_env)
    s = Served(f"http://127.0.0.1:{port}", port, proc, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"earsiv serve exited with {proc.returncode}: {s.log_text()[-3000:]}")
            try:
                if httpx.get(f"{s.base}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"earsiv serve did not become healthy: {s.log_text()[-3000:]}")
            time.sleep(0.1)
        yield s
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
