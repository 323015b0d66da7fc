"""`earsiv serve` against clients that are slow, huge, many or gone: real sockets to a real server.

* slow: request headers sent a byte at a time (slowloris), a body that stops arriving, a body
  that trickles in below the minimum rate;
* huge: a 200 MB upload, declared or chunked, is refused at the limit without being buffered,
  and a 42 MB JSON body, with or without a token, is answered without being read (the
  server's memory is measured with psutil while it arrives);
* many: connections over --max-connections are answered 503 and closed;
* gone: a client that disconnects mid-request is one line at INFO, not an ERROR traceback.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from earsiv.archive.archive import Archive
from tests.helpers.auth import make_principal
from tests.helpers.serve import EARSIV, served

pytestmark = pytest.mark.skipif(not EARSIV.exists(), reason="the earsiv console script is not installed")
MiB = 1024 * 1024


@pytest.fixture
def server(tmp_path: Path):
    home = tmp_path / "home"
    Archive.init(home).close()
    token = make_principal(home, "test-admin", "admin")
    with served(home, tmp_path / "serve.log", "--header-timeout", "2", "--body-timeout", "2",
                "--body-min-rate", "5", "--max-connections", "120") as srv:
        srv.token = token  # type: ignore[attr-defined]
        yield srv


def connect(srv) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    return s


def closed_by_server(s: socket.socket) -> bool:
    """True once the server has closed its side (a read gives EOF or a reset)."""
    s.setblocking(False)
    try:
        return s.recv(4096) == b""
    except BlockingIOError:
        return False
    except ConnectionError:
        return True
    finally:
        s.setblocking(True)


def closed_within(s: socket.socket, seconds: float) -> bool:
    """True if the server closes its side within *seconds*; what it still sends is read and dropped."""
    s.settimeout(seconds)
    try:
        while s.recv(65536):
            pass
        return True
    except ConnectionError:
        return True
    except TimeoutError:
        return False


def upload_head(srv, framing: str) -> bytes:
    return (f"POST /v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {srv.token}\r\n"
            f"Content-Type: application/xml\r\n{framing}\r\n\r\n").encode()


def test_slowloris_connections_are_closed_and_others_are_served(server):
    request = f"GET /v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.token}\r\n\r\n".encode()
    socks = [connect(server) for _ in range(50)]
    start = time.monotonic()
    open_ = set(range(len(socks)))
    sent = 0
    while open_ and time.monotonic() - start < 8:
        for i in list(open_):
            try:
                socks[i].send(request[sent:sent + 1])  # one byte every 0.25 s: never a whole request
            except OSError:
                open_.discard(i)
                continue
            if closed_by_server(socks[i]):
                open_.discard(i)
        sent = min(sent + 1, len(request) - 3)
        r = httpx.get(f"{server.base}/healthz", timeout=5)  # a well-behaved client is still served
        assert r.status_code == 200
        time.sleep(0.25)
    elapsed = time.monotonic() - start
    for s in socks:
        s.close()
    assert not open_, f"{len(open_)} of {len(socks)} slow connections still open after {elapsed:.1f} s"
    assert elapsed < 6  # the 2 s header timeout, not the 8 s of trickling
    log = server.log_text()
    assert log.count("its request headers did not arrive within 2 s") == len(socks)


def test_a_body_that_stops_is_cut_off_but_a_slow_steady_one_is_not(server):
    # 10 bytes a second: above the minimum rate this server runs with (5), never idle 2 s.
    stalled = connect(server)
    stalled.sendall(upload_head(server, "Content-Length: 1000") + b"<Invoice")
    steady = connect(server)
    body = b"<?xml version='1.0'?><note>slow but steady</note>"
    steady.sendall(upload_head(server, f"Content-Length: {len(body)}"))
    for i in range(0, len(body), 10):  # a chunk a second for 5 s: longer than the timeout, never idle that long
        steady.sendall(body[i:i + 10])
        time.sleep(1)
    assert closed_by_server(stalled)
    stalled.close()
    answer = steady.recv(4096)
    steady.close()
    assert answer.startswith(b"HTTP/1.1 200") and b'"status":"stored"' in answer, answer[:300]  # read whole
    log = server.log_text()
    assert "no byte of its request body for 2 s" in log
    assert "Traceback" not in log and "ERROR" not in log


def peak_rss(pid: int):
    """Poll a process's RSS until stopped; the peak and the starting value, in bytes."""
    proc = psutil.Process(pid)
    box = {"start": proc.memory_info().rss, "peak": 0, "stop": False}

    def poll() -> None:
        while not box["stop"]:
            box["peak"] = max(box["peak"], proc.memory_info().rss)
            time.sleep(0.01)

    t = threading.Thread(target=poll, daemon=True)
    t.start()

    def stop() -> tuple[int, int]:
        box["stop"] = True
        t.join()
        return box["start"], box["peak"]

    return stop


def send_until_refused(s: socket.socket, total: int, chunked: bool) -> int:
    block = b"<a>" + b"x" * (MiB - 3)
    sent = 0
    with contextlib.suppress(OSError):  # the server closes once it has answered
        while sent < total:
            s.sendall(f"{len(block):x}\r\n".encode() + block + b"\r\n" if chunked else block)
            sent += len(block)
    return sent


def read_status(s: socket.socket) -> bytes:
    try:
        return s.recv(4096).split(b"\r\n", 1)[0]
    except OSError as exc:
        return repr(exc).encode()


def test_a_200_mb_upload_is_refused_at_the_limit_without_buffering_it(server):
    pid = server.proc.pid
    # Declared: refused before a byte of the body is read (measured before the fix: the whole
    # body buffered, 103 -> 494 MiB, then rejected as one document over 64 MiB).
    stop = peak_rss(pid)
    s = connect(server)
    s.sendall(upload_head(server, f"Content-Length: {200 * MiB}\r\nExpect: 100-continue"))
    status = read_status(s)
    start, peak = stop()
    s.close()
    assert status == b"HTTP/1.1 413 Request Entity Too Large", status
    assert peak - start < 20 * MiB, (start / MiB, peak / MiB)

    # Chunked: read up to the limit (one document, 64 MiB), then 413 and the connection closed
    # (before: 200 MiB read and buffered, 305 -> 692 MiB).
    stop = peak_rss(pid)
    s = connect(server)
    s.sendall(upload_head(server, "Transfer-Encoding: chunked"))
    sent = send_until_refused(s, 200 * MiB, chunked=True)
    status = read_status(s)
    start, peak = stop()
    s.close()
    assert sent < 120 * MiB, sent / MiB  # the server stopped reading (socket buffers hold a few MiB)
    assert status in (b"HTTP/1.1 413 Request Entity Too Large", b"ConnectionResetError(104, 'Connection reset by peer')")
    assert peak - start < 140 * MiB, (start / MiB, peak / MiB)  # at most the 64 MiB document and one copy
    assert httpx.get(f"{server.base}/healthz", timeout=5).status_code == 200


def test_a_client_that_goes_away_is_one_line_at_info(server):
    s = connect(server)
    s.sendall(upload_head(server, "Content-Length: 100000") + b"<Invoice>")
    time.sleep(0.3)
    s.close()
    deadline = time.monotonic() + 10
    while "went away" not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = server.log_text()
    lines = [line for line in log.splitlines() if "went away" in line]
    assert len(lines) == 1 and lines[0].startswith("earsiv: info: 127.0.0.1:"), log
    assert "(POST /v1/documents)" in lines[0]
    assert "Traceback" not in log and "ERROR" not in log


def test_a_body_that_trickles_below_the_minimum_rate_is_cut_off(server):
    # A byte every 0.4 s is never idle for the 2 s body timeout, so before the minimum rate a
    # 1,000-byte body held its connection for 400 s; at 5 bytes/s after the first 2 s it is cut
    # at about 2 + 2.5 * 0.4 t, i.e. within 4 s.
    s = connect(server)
    s.sendall(upload_head(server, "Content-Length: 1000"))
    start = time.monotonic()
    cut = None
    while time.monotonic() - start < 12:
        try:
            s.send(b"x")
        except OSError:
            cut = time.monotonic() - start
            break
        if closed_by_server(s):
            cut = time.monotonic() - start
            break
        time.sleep(0.4)
    s.close()
    assert cut is not None and cut < 6, cut
    assert "its request body came slower than 5 bytes a second" in server.log_text()


def _json_head(path: str, length: int, token: str | None, method: str = "POST") -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


def _answer_without_reading(srv, head: bytes, body: bytes) -> tuple[bytes, bytes, bool]:
    """Send *head* and the first MiB of *body*, read the answer, try to send the rest.

    (status line, headers, whether the server closed the connection)
    """
    s = connect(srv)
    s.sendall(head + body[:MiB])
    answer = b""
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in answer:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    with contextlib.suppress(OSError):
        s.sendall(body[MiB:])
    closed = closed_within(s, 5)
    s.close()
    status, _, headers = answer.partition(b"\r\n")
    return status, headers.lower(), closed


@pytest.mark.parametrize("token", [None, "earsiv_0123456789abcdef_" + "x" * 43, "not even a token"])
def test_a_42_mb_json_body_without_a_valid_token_is_401_and_never_read(server, token):
    # Before: FastAPI read and parsed the JSON before the route's token check: 86 -> 383 MiB
    # for this body on POST /v1/principals, then 401.
    body = b'{"name": "x", "role": "admin", "tenants": [' + b'"1234567890",' * (42 * MiB // 13) + b'"1234567890"]}'
    pid = server.proc.pid
    for method, path in (("POST", "/v1/principals"), ("POST", "/v1/grants"), ("POST", "/v1/documents"),
                         ("PATCH", "/v1/principals/someone"), ("PUT", f"/v1/documents/{'a' * 64}/legal-hold"),
                         ("GET", "/v1/documents"), ("POST", "/nowhere")):
        stop = peak_rss(pid)
        status, headers, closed = _answer_without_reading(server, _json_head(path, len(body), token, method), body)
        start, peak = stop()
        assert status == b"HTTP/1.1 401 Unauthorized", (path, status)
        assert b"www-authenticate: bearer" in headers and b"connection: close" in headers, headers
        assert closed, path  # nothing else can follow on that connection: the rest of the body is never read
        assert peak - start < 8 * MiB, (path, start / MiB, peak / MiB)
    assert httpx.get(f"{server.base}/healthz", timeout=5).status_code == 200


def test_a_large_json_body_with_a_token_is_refused_by_size_before_it_is_read(server):
    body = b"[" + b"{}," * (42 * MiB // 3) + b"{}]"
    stop = peak_rss(server.proc.pid)
    status, _headers, closed = _answer_without_reading(server, _json_head("/v1/principals", len(body), server.token),
                                                       body)
    start, peak = stop()
    assert status == b"HTTP/1.1 413 Request Entity Too Large", status
    assert closed and peak - start < 8 * MiB, (start / MiB, peak / MiB)
    # Chunked, no length declared: read up to the small limit only.
    s = connect(server)
    s.sendall(b"POST /v1/grants HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + server.token.encode()
              + b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    sent = send_until_refused(s, 42 * MiB, chunked=True)
    status = read_status(s)
    s.close()
    assert sent < 16 * MiB, sent / MiB
    assert status in (b"HTTP/1.1 413 Request Entity Too Large", b"ConnectionResetError(104, 'Connection reset by peer')")


def test_connections_over_the_cap_are_answered_503_and_closed(tmp_path):
    home = tmp_path / "home"
    Archive.init(home).close()
    with served(home, tmp_path / "serve.log", "--max-connections", "4", "--header-timeout", "30") as srv:
        held = [connect(srv) for _ in range(4)]  # idle: headers never sent
        time.sleep(0.3)
        extra = connect(srv)
        answer = extra.recv(4096)
        assert answer.startswith(b"HTTP/1.1 503 Service Unavailable"), answer[:200]
        assert b"Retry-After: 1" in answer and b"too-many-connections" in answer
        assert extra.recv(4096) == b""  # closed
        extra.close()
        for s in held:
            s.close()
        time.sleep(0.3)
        assert httpx.get(f"{srv.base}/healthz", timeout=5).status_code == 200  # room again
        assert "refused 1 connection(s): 4 open is the limit" in srv.log_text()
