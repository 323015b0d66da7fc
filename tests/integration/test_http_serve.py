"""`earsiv serve` for real: uvicorn in a subprocess, spoken to over TCP with httpx."""

from __future__ import annotations

import hashlib
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from earsiv.archive.archive import Archive
from tests.helpers.auth import bearer, make_principal

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"
EARSIV = Path(sys.executable).parent / "earsiv"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(base: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"earsiv serve exited with {proc.returncode}: {proc.stderr.read().decode(errors='replace')}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("earsiv serve did not become healthy")


@pytest.mark.skipif(not EARSIV.exists(), reason="the earsiv console script is not installed in this environment")
def test_earsiv_serve_binds_loopback_and_serves(tmp_path):
    home = tmp_path / "home"
    Archive.init(home).close()
    admin = bearer(make_principal(home, "test-admin", "admin"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([str(EARSIV), "--home", str(home), "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_healthy(base, proc)

        listening = [c.laddr for c in psutil.Process(proc.pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening
        assert {addr.port for addr in listening} == {port}

        rel = "eirsaliye/responses/gib121_IrsaliyeYaniti-Ornek2.xml"
        data = (CORPUS / rel).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        with httpx.Client(base_url=base, timeout=30.0) as anonymous:
            r = anonymous.get("/v1/documents")
            assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        with httpx.Client(base_url=base, timeout=30.0, headers=admin) as client:
            r = client.post("/v1/documents", content=data,
                            headers={"Content-Type": "application/xml", "X-Filename": Path(rel).name})
            assert r.status_code == 200, r.text
            assert r.json()["results"][0]["digest"] == digest
            r = client.get(f"/v1/documents/{digest}/original")
            assert r.status_code == 200
            assert r.content == data
            assert r.headers["etag"] == f'"{digest}"'
            r = client.get("/nowhere")
            assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise AssertionError("earsiv serve did not stop on SIGINT") from None
    assert proc.returncode == 0, err.decode(errors="replace")
    assert b"Traceback" not in err
    # The lifespan closed the archive cleanly: the document is there for the next process.
    with Archive.open(home) as arch:
        assert arch.index.get(digest) is not None
        assert arch.original(digest) == data


@pytest.mark.skipif(not EARSIV.exists(), reason="the earsiv console script is not installed in this environment")
def test_earsiv_serve_refuses_a_home_that_is_not_an_archive(tmp_path):
    port = _free_port()
    out = subprocess.run([str(EARSIV), "--home", str(tmp_path / "nothing"), "serve", "--port", str(port)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2  # ConfigError's exit code: fix the setup
    assert "not an archive home" in out.stderr
    assert "Traceback" not in out.stderr
