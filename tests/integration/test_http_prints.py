"""GET /v1/documents/{digest}/print: what a browser is told about a copy, and a print pool that is full.

Every print answer is ``nosniff``; the HTML and XML answers (a browser could render either as a
page: XML may hold XHTML with scripts) carry the Content-Security-Policy as a header, sandbox
included, not only as a meta element a parser may meet too late.  The HTML is the framed view.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from earsiv.api.http import create_app
from earsiv.archive.archive import Archive
from earsiv.archive.sources import expand
from earsiv.render import pool as pool_module
from earsiv.render.formats import SERVED_CSP
from earsiv.render.pool import PrintLimits, PrintPool
from tests.conftest import CORPUS
from tests.helpers.auth import bearer, make_principal

FILE = "efatura/gib121_TicariFaturaOrnegi.xml"


@pytest.fixture
def client(home):
    with Archive.open(home) as arch:
        digest = next(iter(arch.ingest(expand([CORPUS / FILE])))).digest
    with TestClient(create_app(home), headers=bearer(make_principal(home, "test-admin", "admin"))) as c:
        yield c, digest


def test_html_and_xml_answers_carry_the_policy_as_a_header_and_every_answer_is_nosniff(client):
    c, digest = client
    for fmt in ("html", "xml", "pdf"):
        r = c.get(f"/v1/documents/{digest}/print", params={"format": fmt})
        assert r.status_code == 200, r.text
        assert r.headers["x-content-type-options"] == "nosniff"
        if fmt == "pdf":
            assert "content-security-policy" not in r.headers  # a PDF viewer does not run sandboxed
        else:
            csp = r.headers["content-security-policy"]
            assert csp == SERVED_CSP
            directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";")}
            assert directives["default-src"] == "default-src 'none'" and "sandbox" in directives
            assert "script-src" not in directives  # default-src 'none' covers it
    html = c.get(f"/v1/documents/{digest}/print", params={"format": "html"}).text
    assert '<header class="earsiv-provenance"' in html and '<iframe class="earsiv-document" sandbox=""' in html
    assert f"SHA-256: {digest}" in html


def test_a_print_when_every_worker_is_taken_is_a_503_with_retry_after(client, monkeypatch):
    c, digest = client
    full = PrintPool(1, limits=PrintLimits(queue_wait=0.2))
    monkeypatch.setattr(pool_module, "_shared", full)
    monkeypatch.setattr(pool_module, "_shared_pid", __import__("os").getpid())
    full._acquire("someone else")  # the one worker is busy with another caller's print
    try:
        r = c.get(f"/v1/documents/{digest}/print", params={"format": "pdf"})
    finally:
        full._release("someone else")
        full.close()
    assert r.status_code == 503 and r.headers["retry-after"] == "10"
    assert r.json()["type"] == "urn:earsiv:problem:printers-busy"


def test_every_answer_is_nosniff_and_every_page_carries_a_policy_header(client):
    """Each GET route of the API, the documentation pages and the problem documents included."""
    from starlette.routing import Route

    from earsiv.api.http.security import DOCS_CSP

    c, digest = client
    paths = [r.path.replace("{digest}", digest) for r in c.app.routes
             if isinstance(r, Route) and "GET" in (r.methods or ()) and "{" not in r.path.replace("{digest}", "")]
    paths += ["/v1/no-such-thing", f"/v1/documents/{'0' * 64}"]  # answers made by the problem handlers
    paths += ["/docs", "/redoc", "/ui/sign-in", "/ui/documents"]  # the documentation and the web pages
    pages = []
    for path in paths:
        r = c.get(path)
        assert r.headers.get("x-content-type-options") == "nosniff", (path, r.status_code)
        if r.headers.get("content-type", "").split(";")[0] in ("text/html", "application/xml"):
            pages.append(path)
            assert r.headers.get("content-security-policy"), path
    assert {"/docs", "/redoc", "/ui/sign-in", "/ui/documents"} <= set(pages)
    assert c.get("/docs").headers["content-security-policy"] == DOCS_CSP
    assert "frame-ancestors 'none'" in DOCS_CSP and "connect-src 'self'" in DOCS_CSP
    unauthenticated = TestClient(c.app).get("/v1/documents")  # refused before any route: the headers still come
    assert unauthenticated.status_code == 401 and unauthenticated.headers["x-content-type-options"] == "nosniff"
