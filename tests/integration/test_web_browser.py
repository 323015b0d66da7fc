"""The public pages (sign-in, ``/docs``) in a real browser: headless Chromium against a real ``earsiv serve``.

Chromium is pointed at a recording proxy for everything but loopback (its default bypass), so a page
that asked for anything outside the machine (a CDN, a font) would show in the recorder; its console
log, on stderr, would carry any refusal by the pages' Content-Security-Policy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from earsiv.archive.archive import Archive
from tests.integration.test_http_serve import _free_port, _wait_healthy
from tests.integration.test_print_browser import CHROMIUM, Recorder, need_chromium

# Chromium's own calls home (component updates, network time), whatever page it shows; not the page's.
BROWSER_OWN = frozenset({"update.googleapis.com", "clients2.google.com"})


def _visit(url: str, proxy: Recorder, shot) -> str:
    args = [CHROMIUM, "--headless", "--disable-gpu", "--hide-scrollbars", "--window-size=390,844",
            f"--proxy-server={proxy.base}", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync", "--disable-features=NetworkTimeServiceQuerying,OptimizationHints",
            "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
            f"--screenshot={shot}", url]
    if os.geteuid() == 0:
        args.insert(1, "--no-sandbox")
    done = subprocess.run(args, capture_output=True, timeout=120, check=False, text=True)
    return done.stderr


@pytest.mark.parametrize("path", ["/ui/sign-in", "/docs"])
def test_public_pages_load_nothing_from_outside_and_break_no_policy(tmp_path, path):
    need_chromium()
    home = tmp_path / "home"
    Archive.init(home).close()
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "earsiv.api.cli", "--home", str(home), "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy = Recorder()
    import threading

    thread = threading.Thread(target=proxy.server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, proc)
        log = _visit(base + path, proxy, tmp_path / "page.png")
    finally:
        proxy.server.shutdown()
        proxy.server.server_close()
        proc.terminate()
        proc.wait(timeout=30)
    assert (tmp_path / "page.png").stat().st_size > 1000, log[-2000:]
    page_hits = [h for h in proxy.hits if urlsplit(h).hostname not in BROWSER_OWN]
    assert page_hits == [], page_hits  # nothing asked of any host but this one
    assert "Content Security Policy" not in log and "Refused to" not in log, log[-3000:]


def test_control_a_page_from_elsewhere_is_seen_by_the_recorder(tmp_path):
    need_chromium()
    proxy = Recorder()
    import threading

    thread = threading.Thread(target=proxy.server.serve_forever, daemon=True)
    thread.start()
    try:
        _visit("http://cdn.example.invalid/swagger-ui.js", proxy, tmp_path / "x.png")
    finally:
        proxy.server.shutdown()
        proxy.server.server_close()
    assert proxy.hits, "the proxy saw nothing: the test above would pass whatever the pages load"
