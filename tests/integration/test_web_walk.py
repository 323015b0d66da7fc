"""The web pages as people use them, in a real browser: each role signs in, finds, opens, downloads and signs out.

Debian's Chromium (``/usr/bin/chromium``) driven by Playwright against one real ``earsiv serve`` on
loopback with real corpus documents.  Playwright, not Selenium: its Python wheel carries its own
driver (no chromedriver to match to the browser's version), it is pointed at the system browser
with ``executable_path`` (``playwright install`` is never run, nothing is downloaded), and it sees
every request of every frame, every console message and every download, which is what is checked.

Every page of ``PAGES`` (the table to extend: a role, a label, a path) is looked at at 1280x800 and
390x844: a screenshot of each (to ``tmp_path``); on the phone nothing scrolls sideways; no console
error (a Content-Security-Policy refusal is one) and no request to anything but the server; and
axe-core (vendored, ``tests/assets/axe-core``), run inside the page, finds nothing ``serious`` or
``critical``.  axe is handed to the page through the driver (DevTools' evaluate, which the page's
CSP does not govern), so the pages keep their policy while they are checked.

Then the attacks, in the browser: a form without its token, a form posted from another site, another
tenant's digest, an inspector outside its grant, and a document whose stylesheet tries to run
script and load from outside.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import http.server
import io
import os
import re
import subprocess
import sys
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from earsiv.archive.archive import Archive
from earsiv.documents.parse import parse_document
from tests.conftest import CORPUS
from tests.integration.test_http_serve import _free_port, _wait_healthy
from tests.integration.test_print_browser import CHROMIUM, hostile_markup, need_chromium
from tests.unit.render.test_sandbox import ALL_TEXT, _with_stylesheet, sheet

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "assets" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = ["--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-features=NetworkTimeServiceQuerying,OptimizationHints"]

TENANT, OTHER = "1111111111", "2222222222"
MINE = ("efatura/gib121_TicariFaturaOrnegi.xml", "efatura/gib121_TemelFaturaOrnegi.xml",
        "efatura/gib121_IadeFaturasiOrnegi.xml")
THEIRS = "efatura/gibpkt_2_TICARI_FATURA.xml"

# The pages each role is shown, looked at at both widths. {mine}: a document of the tenant inside the
# inspector's grant; {vkn}/{year}: the grant's party and year; {name}: a word of its supplier's name.
PAGES: dict[str, list[tuple[str, str]]] = {
    "acc": [("find-form", "/ui/documents"), ("find-vkn-dates", "/ui/documents?vkn={vkn}&from=01.01.{year}&to=31.12.{year}"),
            ("find-words", "/ui/documents?q={name}"), ("list-all", "/ui/documents?all=1"),
            ("document", "/ui/documents/{mine}"), ("open-none", "/ui/open?ref=YOK{year}"), ("access-log", "/ui/access-log"),
            ("english", "/ui/documents?all=1&lang=en"), ("reports", "/ui/reports"), ("jobs", "/ui/jobs"),
            ("report-serials", "/ui/reports?report=serials&vkn={tenant}&from=01.01.{year}&to=31.12.{year}")],
    "int": [("list-all", "/ui/documents?all=1"), ("document", "/ui/documents/{mine}")],
    "ops": [("status", "/ui/status"), ("grants", "/ui/grants"), ("list-all", "/ui/documents?all=1"),
            ("document", "/ui/documents/{theirs}"), ("access-log", "/ui/access-log"), ("not-found", "/ui/documents/" + "0" * 64),
            ("principals", "/ui/principals"), ("reports", "/ui/reports")],
    "insp": [("grants", "/ui/grants"), ("grant-documents", "/ui/documents?vkn={vkn}&from=01.01.{year}&to=31.12.{year}"),
             ("document", "/ui/documents/{mine}"), ("access-log", "/ui/access-log")],
}
ROLES = {"acc": ("accountant", (TENANT,)), "int": ("integrator", (TENANT,)), "other": ("accountant", (OTHER,)),
         "ops": ("admin", ()), "insp": ("inspector", ())}


@dataclass
class World:
    base: str
    home: Path
    tokens: dict[str, str]
    digests: dict[str, str]  # corpus path -> digest
    data: dict[str, bytes]
    vkn: str
    year: int
    name: str
    hostile: str = ""
    outside: str = ""  # a document of the tenant outside the inspector's grant
    fill: dict[str, str] = field(default_factory=dict)


class Loopback:
    """A server on another loopback port: serves ``page`` at ``/`` and records every path asked of it."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.page = b""
        me = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                me.hits.append(self.path)
                self.send_response(200 if self.path == "/" else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                if self.path == "/":
                    self.wfile.write(me.page)

            do_POST = do_GET

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def outside():
    lb = Loopback()
    yield lb
    lb.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory, outside):
    need_chromium()
    home = tmp_path_factory.mktemp("walk") / "home"
    data = {rel: (CORPUS / rel).read_bytes() for rel in (*MINE, THEIRS)}
    first = parse_document(data[MINE[0]], name=MINE[0])
    year = first.issue_date.year
    # A document of the tenant the inspector's grant does not cover: the same supplier, another year.
    outside_doc = data[MINE[0]].replace(f"<cbc:IssueDate>{year}".encode(), f"<cbc:IssueDate>{year - 3}".encode(), 1)
    assert outside_doc != data[MINE[0]]
    # A document whose stylesheet tries everything a page can do to run script or load from elsewhere.
    body = (f'<xsl:template match="/"><html><head></head><body>{hostile_markup(outside.base)}<p>{ALL_TEXT}</p>'
            "</body></html></xsl:template>")
    hostile = _with_stylesheet(CORPUS / "earsiv" / "bdog_sample.xml", sheet(body))
    with Archive.init(home) as arch:
        tokens = {}
        for name, (role, tenants) in ROLES.items():
            arch.access.add_principal(name, role, tenants, by="test")
            tokens[name] = arch.access.create_token(name, by="test").token
        arch.access.add_grant("insp", first.supplier.id, dt.date(year, 1, 1), dt.date(year, 12, 31),
                              dt.datetime.now(dt.UTC) + dt.timedelta(days=1), "VDK 2026/12", by="test")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "earsiv.api.cli", "--home", str(home), "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc)
        digests = {}

        def put(blob: bytes, tenant: str) -> str:
            r = httpx.post(f"{base}/v1/documents", content=blob, params={"tenant": tenant}, timeout=120,
                           headers={"Authorization": f"Bearer {tokens['ops']}", "Content-Type": "application/xml"})
            assert r.status_code == 200, r.text
            return hashlib.sha256(blob).hexdigest()

        for rel in MINE:
            digests[rel] = put(data[rel], TENANT)
        digests[THEIRS] = put(data[THEIRS], OTHER)
        w = World(base, home, tokens, digests, data, first.supplier.id, year,
                  re.findall(r"\w{4,}", first.supplier.name or "")[0])
        w.outside = put(outside_doc, TENANT)
        w.hostile = put(hostile, TENANT)
        w.fill = {"mine": digests[MINE[0]], "theirs": digests[THEIRS], "vkn": w.vkn, "year": str(year), "name": w.name,
                  "tenant": TENANT}
        yield w
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser(world):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        args = [*CHROMIUM_ARGS, "--no-sandbox"] if os.geteuid() == 0 else CHROMIUM_ARGS  # as root it will not start otherwise
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield b
        b.close()


class Watched:
    """A browser context (its own cookies) whose every request, console error and page error is kept."""

    def __init__(self, browser, world: World) -> None:
        self.world = world
        self.ctx = browser.new_context(viewport=DESKTOP, accept_downloads=True, locale="tr-TR")
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.ctx.on("request", lambda r: self.requests.append(r.url))
        self.page = self.ctx.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.ctx.on("response", lambda r: self.errors.append(f"HTTP {r.status} {r.url}")
                    if r.status >= 400 and r.request.resource_type != "document" else None)

    def outsiders(self) -> list[str]:
        own = urlsplit(self.world.base).netloc
        return [u for u in self.requests if urlsplit(u).scheme not in ("data", "about") and urlsplit(u).netloc != own]

    def sign_in(self, who: str) -> None:
        p = self.page
        p.goto(self.world.base + "/ui/sign-in")
        p.fill("#token", self.world.tokens[who])
        p.click("form.narrow button[type=submit]")
        p.wait_for_load_state()
        assert "/ui/sign-in" not in p.url, p.content()[:2000]

    def sign_out(self) -> None:
        self.page.click("form.signout button[type=submit]")
        self.page.wait_for_load_state()
        assert urlsplit(self.page.url).path == "/ui/sign-in"
        self.page.goto(self.world.base + "/ui/documents")  # the session is gone: back to the form
        assert urlsplit(self.page.url).path == "/ui/sign-in"

    def close(self) -> None:
        self.ctx.close()


def axe_serious(page) -> list[str]:
    """axe-core's serious and critical violations on *page* (and its same-origin frames: none run script)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    found = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations'], iframes: false});
        return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' -- ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '));
    }""")
    return found


def look(w: Watched, label: str, path: str, shots: Path, status: int = 200) -> None:
    """One page at both widths: screenshots, no sideways scroll on the phone, axe, no error, nothing from outside."""
    page = w.page
    page.set_viewport_size(DESKTOP)
    r = page.goto(w.world.base + path)
    assert r is not None and r.status == status, (path, r and r.status)
    page.wait_for_load_state("load")
    page.screenshot(path=shots / f"{label}-desktop.png", full_page=True)
    problems = axe_serious(page)
    page.set_viewport_size(PHONE)
    page.screenshot(path=shots / f"{label}-phone.png", full_page=True)
    wide = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert wide[0] <= wide[1], f"{path}: {wide[0]} px wide on a {wide[1]} px phone"
    problems += [f"phone: {p}" for p in axe_serious(page) if p not in problems]
    assert problems == [], f"{path}: {problems}"
    if status >= 400:  # the page itself, as asked for: Chromium logs its status, which is the point here
        w.errors[:] = [e for e in w.errors if e != f"Failed to load resource: the server responded with a status of {status} (Not Found)"]
    assert w.errors == [], f"{path}: {w.errors}"
    assert w.outsiders() == [], f"{path}: {w.outsiders()}"


def test_axe_is_the_vendored_one():
    readme = (AXE.parent / "README.md").read_text()
    assert hashlib.sha256(AXE.read_bytes()).hexdigest() in readme


@pytest.mark.parametrize("who", sorted(PAGES))
def test_each_role_sees_its_pages_whole_on_desktop_and_phone(browser, world, who, tmp_path):
    w = Watched(browser, world)
    try:
        look(w, "sign-in", "/ui/sign-in", tmp_path)
        w.sign_in(who)
        for label, path in PAGES[who]:
            look(w, label, path.format(**world.fill), tmp_path, status=404 if label.startswith(("not-found", "open-none")) else 200)
        w.sign_out()
        assert w.errors == [] and w.outsiders() == []
    finally:
        w.close()
    assert len(list(tmp_path.glob("*.png"))) == 2 * (len(PAGES[who]) + 1)


def _download(page, selector: str):
    with page.expect_download() as got:
        page.click(selector)
    d = got.value
    return d.suggested_filename, Path(d.path()).read_bytes()


def _take_away(page, job: str):
    """Press a take-away button on a list, wait on the job's page for its download, and take it."""
    page.click(f"form[action='/ui/jobs'] button[name=job][value={job}]")
    page.wait_for_selector("a.download", timeout=90_000)  # across the page's own reloads
    assert re.fullmatch(r"/ui/jobs/[^/]+", urlsplit(page.url).path), page.url
    page.reload()  # the job outlives the page
    return _download(page, "a.download")


def test_an_accountant_finds_opens_and_takes_documents_away(browser, world):
    w = Watched(browser, world)
    try:
        w.sign_in("acc")
        p = w.page
        # A supplier's name, as typed into the words field.
        p.goto(world.base + "/ui/documents")
        p.fill("#q", world.name)
        p.click("form.grid button[type=submit]")
        p.wait_for_load_state()
        assert world.digests[MINE[0]] in p.content()
        # A VKN and a date range, typed as Turkish people type dates.
        p.goto(world.base + "/ui/documents")
        p.fill("#vkn", world.vkn)
        p.fill("#from", f"01.01.{world.year}")
        p.fill("#to", f"31.12.{world.year}")
        p.click("form.grid button[type=submit]")
        p.wait_for_load_state()
        rows = p.locator("tbody tr a[href^='/ui/documents/']")
        listed = {a.get_attribute("href").rsplit("/", 1)[1] for a in rows.all()}
        assert world.digests[MINE[0]] in listed and world.outside not in listed
        assert world.digests[THEIRS] not in listed  # another tenant's, never
        # The list taken away: CSV for Turkish Excel and XLSX, each a job whose page shows its
        # progress and then the download (it reloads itself, no script), still there after a reload.
        listing = p.url
        name, body = _take_away(p, "csv")
        assert name.startswith("belgeler") and name.endswith(".csv") and body.startswith(b"\xef\xbb\xbf")
        table = list(csv.reader(io.StringIO(body[3:].decode()), delimiter=";"))
        assert table[0][0] == "Tür / Kind" and len(table) == 1 + len(listed)
        assert {r[14] for r in table[1:]} == listed
        p.goto(listing)
        name, body = _take_away(p, "xlsx")
        from openpyxl import load_workbook

        sheet_rows = list(load_workbook(io.BytesIO(body)).active.iter_rows(values_only=True))
        assert name.endswith(".xlsx") and {r[14] for r in sheet_rows[1:]} == listed
        p.goto(listing)
        # A document: its page, then its original and its prints from the page's links.
        p.click(f"a[href='/ui/documents/{world.digests[MINE[0]]}']")
        p.wait_for_load_state()
        assert urlsplit(p.url).path == f"/ui/documents/{world.digests[MINE[0]]}"
        _name, body = _download(p, "a[href$='/download/xml']")
        assert body == world.data[MINE[0]]  # byte for byte what was archived
        _name, body = _download(p, "a[href$='/download/pdf']")
        from pypdf import PdfReader

        attached = PdfReader(io.BytesIO(body)).attachments  # PDF/A-3: the original rides inside, byte for byte
        assert body.startswith(b"%PDF-") and world.data[MINE[0]] in [b for blobs in attached.values() for b in blobs]
        _name, body = _download(p, "a[href$='/download/evidence']")
        assert zipfile.ZipFile(io.BytesIO(body)).namelist()
        w.sign_out()
        assert w.errors == [] and w.outsiders() == []
    finally:
        w.close()


def test_an_inspector_sees_its_grant_only_and_takes_a_package(browser, world):
    w = Watched(browser, world)
    try:
        w.sign_in("insp")
        p = w.page
        assert urlsplit(p.url).path == "/ui/grants"
        assert f"VKN {world.vkn}" in p.inner_text("main")
        p.click("text=Belgeleri listele")
        p.wait_for_load_state()
        listed = {a.get_attribute("href").rsplit("/", 1)[1] for a in p.locator("tbody a[href^='/ui/documents/']").all()}
        assert world.digests[MINE[0]] in listed and world.outside not in listed and world.hostile not in listed
        p.goto(world.base + "/ui/grants")
        name, body = _download(p, "form[action='/ui/packages'] button[type=submit]")
        assert name.endswith(".zip")
        names = zipfile.ZipFile(io.BytesIO(body)).namelist()
        assert any(n.endswith(".xml") for n in names)
        originals = {hashlib.sha256(zipfile.ZipFile(io.BytesIO(body)).read(n)).hexdigest() for n in names if n.endswith(".xml")}
        assert world.digests[MINE[0]] in originals and world.outside not in originals
        # Its own trail shows what it looked at.
        p.goto(world.base + "/ui/access-log")
        assert "insp" in p.inner_text("main")
        w.sign_out()
        assert w.errors == [] and w.outsiders() == []
    finally:
        w.close()


# -- attacks ------------------------------------------------------------------------------------


def test_a_form_without_its_token_is_refused(browser, world):
    w = Watched(browser, world)
    try:
        w.sign_in("acc")
        p = w.page
        p.goto(world.base + "/ui/documents")
        p.evaluate("document.querySelector('form.signout input[name=csrf]').remove()")  # as a forged form would be
        with p.expect_response(lambda r: r.url.endswith("/ui/sign-out")) as got:
            p.click("form.signout button[type=submit]")
        assert got.value.status == 403
        p.goto(world.base + "/ui/documents")
        assert urlsplit(p.url).path == "/ui/documents"  # still signed in: nothing was done
    finally:
        w.close()


def test_a_form_posted_from_another_site_is_refused(browser, world, outside):
    """Another port of the same machine is the same *site*, so SameSite=Strict sends the cookie: the token must hold."""
    w = Watched(browser, world)
    try:
        w.sign_in("insp")
        grant = re.search(r'name="grant" value="([^"]+)"', w.page.content()).group(1)
        outside.page = (f'<form id="f" method="post" action="{world.base}/ui/packages">'
                        f'<input name="grant" value="{grant}"><input name="csrf" value="guessed"></form>'
                        "<script>document.getElementById('f').submit()</script>").encode()
        with w.page.expect_response(lambda r: r.url.endswith("/ui/packages")) as got:
            w.page.goto(outside.base + "/")
        assert got.value.status == 403
        assert "İzin yok" in w.page.inner_text("h1")
    finally:
        w.close()


def test_another_tenants_digest_shows_not_found(browser, world):
    theirs = world.digests[THEIRS]
    w = Watched(browser, world)
    try:
        w.sign_in("other")  # control: its owner sees it, so the refusal below is about the tenant
        assert w.page.goto(f"{world.base}/ui/documents/{theirs}").status == 200
        w.close()
        w = Watched(browser, world)
        w.sign_in("acc")
        for path in (f"/ui/documents/{theirs}", f"/ui/documents/{theirs}/download/xml", f"/ui/documents/{theirs}/frame"):
            r = w.page.goto(world.base + path)
            assert r.status == 404, path
        r = w.page.goto(f"{world.base}/ui/documents/{theirs}")
        assert "Bulunamadı" in w.page.inner_text("h1") and theirs not in w.page.inner_text("main")
    finally:
        w.close()


def test_an_inspector_outside_its_grant_is_refused(browser, world):
    w = Watched(browser, world)
    try:
        w.sign_in("insp")
        assert w.page.goto(f"{world.base}/ui/documents/{world.digests[MINE[0]]}").status == 200  # inside: shown
        for digest in (world.outside, world.digests[THEIRS], world.hostile):
            r = w.page.goto(f"{world.base}/ui/documents/{digest}")
            assert r.status in (403, 404), digest
            assert digest not in w.page.inner_text("main")
            assert w.page.goto(f"{world.base}/ui/documents/{digest}/download/xml").status in (403, 404)
        r = w.page.goto(f"{world.base}/ui/documents?vkn={OTHER}&all=1")
        assert world.digests[THEIRS] not in w.page.content()
    finally:
        w.close()


def test_a_hostile_stylesheet_is_shown_sandboxed_running_and_loading_nothing(browser, world, outside, tmp_path):
    outside.hits.clear()
    w = Watched(browser, world)
    try:
        w.sign_in("acc")
        p = w.page
        p.goto(f"{world.base}/ui/documents/{world.hostile}")
        # The print in the page's frame, the document in the print's own sandboxed frame: it shows.
        p.frame_locator("iframe.print").frame_locator("iframe.earsiv-document").locator("text=İÇERİK GÖRÜNÜYOR").wait_for()
        p.wait_for_timeout(1500)  # time for anything that would fire late (refresh, ping)
        p.screenshot(path=tmp_path / "hostile.png", full_page=True)
        assert p.locator("iframe.print").get_attribute("sandbox") == ""
        assert outside.hits == [], outside.hits
        assert w.outsiders() == [], w.outsiders()
    finally:
        w.close()


def test_control_the_hostile_markup_bare_is_seen_loading(browser, outside):
    """Without the server's fences the same markup reaches the outside: the test above would see it."""
    outside.hits.clear()
    ctx = browser.new_context()
    try:
        seen: list[str] = []
        ctx.on("request", lambda r: seen.append(r.url))
        page = ctx.new_page()
        outside.page = f"<!DOCTYPE html><html><body>{hostile_markup(outside.base)}</body></html>".encode()
        page.goto(outside.base + "/")
        page.wait_for_timeout(1000)
        assert {"/img", "/script"} <= set(outside.hits), outside.hits
        assert any(u.endswith("/script") for u in seen)
    finally:
        ctx.close()


def test_control_a_page_with_a_fault_fails_the_look(browser, world, tmp_path):
    """The checks of ``look`` can fail: a page that scrolls sideways, breaks its policy and misses a label."""
    w = Watched(browser, world)
    try:
        w.sign_in("acc")
        w.page.goto(world.base + "/ui/documents")
        w.page.evaluate("""() => {
            const t = document.createElement('div'); t.style.width = '2000px'; t.textContent = 'wide';
            document.querySelector('main').appendChild(t);
            const i = document.createElement('input'); document.querySelector('main').appendChild(i);
            document.getElementById('q').removeAttribute('id');
        }""")
        assert any(v.startswith("label") for v in axe_serious(w.page))
        w.page.set_viewport_size(PHONE)
        assert w.page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        w.page.evaluate("const s = document.createElement('img'); s.src = 'http://example.invalid/x.png'; document.body.appendChild(s);")
        w.page.wait_for_timeout(300)
        assert any("Content Security Policy" in e for e in w.errors), w.errors
    finally:
        w.close()
