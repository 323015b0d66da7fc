"""The HTML view in a real browser (headless Chromium): the document shows, and nothing it names loads.

A recording HTTP server on loopback serves the page with the headers ``/print?format=html`` sends and
logs every request that reaches it; the document names that server's URLs in every way a page can
load something.  Three fences stand between a document and a request (``earsiv/render/defuse.py``):
the defusing, the Content-Security-Policy, the sandboxed frame.  The first case goes through all
three; the second skips the defusing altogether, to show that the other two hold by themselves;
the control serves the same markup bare, to show that the recorder would see the requests.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import subprocess
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from earsiv.render.formats import SERVED_CSP
from earsiv.render.frame import framed_html
from earsiv.render.html import render_html
from earsiv.render.pool import PrintPool
from earsiv.render.provenance import Provenance
from tests.conftest import CORPUS
from tests.unit.render.test_sandbox import ALL_TEXT, _with_stylesheet, sheet

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
GREEN = (0, 170, 0)


def need_chromium() -> None:
    if not CHROMIUM:
        pytest.fail("chromium is missing: ./dev test installs it (Debian package chromium)")


def hostile_markup(base: str) -> str:
    """Every way we know for a page to load or run something, pointed at *base* (well-formed: a stylesheet writes it)."""
    return (f"<style>body {{ background: #00aa00; }} .a {{ background: url({base}/css-url); }}"
            f" .b {{ background: u\\72l({base}/css-escaped); }} .c {{ background-image: image-set('{base}/image-set' 1x); }}"
            f" @import '{base}/import';</style>"
            f'<p>İÇERİK GÖRÜNÜYOR</p><p class="a">a</p><p class="b">b</p><p class="c">c</p>'
            f'<img src="{base}/img"/><img srcset="{base}/srcset 1x"/>'
            f'<a href="{base}/link" ping="{base}/ping">a</a><script>fetch("{base}/script")</script>'
            f'<svg width="10" height="10"><image href="{base}/svg-image"/>'
            f'<a><set attributeName="href" to="javascript:fetch(\'{base}/svg-set\')"/><text y="9">s</text></a></svg>'
            f'<link rel="prefetch" href="{base}/prefetch"/><iframe src="{base}/iframe"></iframe>'
            f'<object data="{base}/object"></object><video poster="{base}/poster"></video>'
            f'<meta http-equiv="refresh" content="0; url={base}/refresh"/>')


# what earsiv/api/http/prints.py sends with an HTML copy
SERVED = {"Content-Security-Policy": SERVED_CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


class Recorder:
    """A loopback server that serves ``page`` at ``/`` with ``headers`` and records every path asked for."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.page, self.headers = b"", {}
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorder.hits.append(self.path)
                if self.path == "/":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    for k, v in recorder.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(recorder.page)
                else:
                    self.send_response(404)
                    self.end_headers()

            do_POST = do_GET

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def visit(self, page: bytes, headers: dict[str, str], screenshot: Path) -> list[str]:
        """Chromium's visit of *page*: the paths it asked for besides the page and its icon."""
        self.page, self.headers = page, headers
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            args = [CHROMIUM, "--headless", "--disable-gpu", "--hide-scrollbars", "--window-size=900,1000",
                    "--virtual-time-budget=4000", f"--screenshot={screenshot}", f"{self.base}/"]
            if os.geteuid() == 0:
                args.insert(1, "--no-sandbox")  # Chromium refuses to run as root otherwise
            subprocess.run(args, capture_output=True, timeout=120, check=False)
        finally:
            self.server.shutdown()
            self.server.server_close()
        assert "/" in self.hits, "Chromium never asked for the page"
        return [h for h in self.hits if h not in ("/", "/favicon.ico")]


def _pixel(png: Path, x: int, y: int) -> tuple[int, int, int]:
    from PIL import Image

    with Image.open(png) as img:
        return img.convert("RGB").getpixel((x, y))


def _prov(data: bytes) -> Provenance:
    return Provenance(digest=hashlib.sha256(data).hexdigest(), kind="e-arsiv", doc_id="BT02021000000260", log_index=3)


def test_a_hostile_documents_html_view_shows_and_loads_nothing(tmp_path):
    need_chromium()
    recorder = Recorder()
    body = (f'<xsl:template match="/"><html><head></head><body>{hostile_markup(recorder.base)}<p>{ALL_TEXT}</p>'
            "</body></html></xsl:template>")
    data = _with_stylesheet(CORPUS / "earsiv" / "bdog_sample.xml", sheet(body))
    pool = PrintPool(1)
    try:
        printed = pool.print("html", data, _prov(data))
    finally:
        pool.close()
    assert printed.source == "embedded:1", printed.limits
    assert recorder.visit(printed.data, SERVED, tmp_path / "view.png") == []
    assert _pixel(tmp_path / "view.png", 450, 800) == GREEN  # the document, in its frame, below the header


def test_without_the_defusing_the_policy_and_the_frame_still_load_and_run_nothing(tmp_path):
    need_chromium()
    recorder = Recorder()
    raw = f"<!DOCTYPE html><html><head></head><body>{hostile_markup(recorder.base)}</body></html>"
    data = (CORPUS / "efatura/gib121_TicariFaturaOrnegi.xml").read_bytes()
    view = replace(render_html(data), html=raw, source="embedded:1")  # as if every rule of defuse.py had failed
    assert recorder.visit(framed_html(view, _prov(data)).encode(), SERVED, tmp_path / "raw.png") == []
    assert _pixel(tmp_path / "raw.png", 450, 800) == GREEN


def test_control_the_same_markup_served_bare_is_seen_loading(tmp_path):
    need_chromium()
    recorder = Recorder()
    raw = f"<!DOCTYPE html><html><head></head><body>{hostile_markup(recorder.base)}</body></html>".encode()
    assert {"/img", "/css-url", "/script"} <= set(recorder.visit(raw, {}, tmp_path / "bare.png"))
