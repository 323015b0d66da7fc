"""Requests made to hurt: tampered cursors, file names that carry terminal and line controls.

Each test performs the attack as a client would and checks the answer; the comment on each
says what the archive answered before it was fixed.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from earsiv.api.http import create_app
from earsiv.archive.archive import Archive
from tests.helpers.auth import bearer, make_principal

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"
PROBLEM = "application/problem+json"
# What a name must never carry back to a client: C0/C1 controls, DEL, line separators, bidi overrides.
UNPRINTABLE = {*map(chr, range(0x20)), *map(chr, range(0x7f, 0xa0)), "\u2028", "\u2029", "\u202e", "\u2066"}


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("hostile-requests") / "home"
    Archive.init(home).close()
    return home


@pytest.fixture(scope="module")
def client(home):
    admin = bearer(make_principal(home, "test-admin", "admin"))
    with TestClient(create_app(home), headers=admin) as c:
        yield c


def _text_cursor(offset: int, max_log_index: int = 10) -> str:
    return base64.urlsafe_b64encode(f"t1|{offset}|{max_log_index}".encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    _text_cursor(999_999),  # was a 500: the full-text index refused an offset the cursor check let through
    _text_cursor(10**9),
    _text_cursor(1, 2**70),
    base64.urlsafe_b64encode(b"t1|" + b"9" * 300 + b"|1").decode().rstrip("="),  # int() of 300 digits
    base64.urlsafe_b64encode(b"t1|-1|1").decode().rstrip("="),
    base64.urlsafe_b64encode(b"k1|2020-01-01|" + b"a" * 64).decode().rstrip("="),  # a listing's cursor, not a text one
])
def test_a_tampered_full_text_cursor_is_a_clear_422(client, cursor):
    r = client.get("/v1/documents", params={"q": "fatura", "cursor": cursor})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["type"] == "urn:earsiv:problem:invalid-request" and "cursor" in body["detail"]
    assert len(body["detail"]) < 300  # the cursor is not echoed whole
    r = client.get("/v1/documents.csv", params={"q": "fatura", "cursor": cursor})
    assert r.status_code in (200, 422)  # the CSV reads every page itself and ignores a cursor


HOSTILE_MEMBERS = [
    "a\r\nInjected: header.xml",
    "\x1b[31mred\x1b[0m.xml",
    "fatura\u202egnp.xml",  # reads "faturalmx.png" on screen
    "line\u2028sep\x85.xml",
]


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_zip_member_names_are_printable_in_every_answer(client):
    rels = ["efatura/gib121_HKS-Ornek1.xml", "earsiv/svob_sample_invoice.xml", "eirsaliye/gib121_Irsaliye-Ornek3.xml",
            "efatura/mimco_iskonto.xml"]
    members = {name: (CORPUS / rel).read_bytes() for name, rel in zip(HOSTILE_MEMBERS, rels, strict=True)}
    r = client.post("/v1/documents", content=_zip(members), params={"filename": "up\nload.zip"},
                    headers={"Content-Type": "application/zip"})
    assert r.status_code == 200, r.text
    # Was: "upload.zip:a\r\nInjected: header.xml" in the JSON, and so on in every listing.
    raw = r.content.decode()
    assert "\\r" not in raw and "\\n" not in raw and "\\u001b" not in raw and "\\u202e" not in raw.lower()
    results = r.json()["results"]
    assert len(results) == len(members)
    for res in results:
        assert not UNPRINTABLE & set(res["path"]), res["path"]
        assert "\ufffd" in res["path"]
        shown = client.get(f"/v1/documents/{res['digest']}").json()
        names = [h["source_name"] for h in shown["holdings"]]
        assert names and not any(UNPRINTABLE & set(n) for n in names), names
    # The multipart route and a raw body's name follow the same rule.
    files = [("files", ("multi\r\npart\x1b.xml", (CORPUS / "efatura/gib121_OTV.xml").read_bytes(), "application/xml"))]
    (res,) = client.post("/v1/documents", files=files).json()["results"]
    assert not UNPRINTABLE & set(res["path"]) and "\ufffd" in res["path"]


def test_cli_ingest_lines_are_printable(home, tmp_path):
    from click.testing import CliRunner

    from earsiv.api.cli.main import cli

    zpath = tmp_path / "batch.zip"
    zpath.write_bytes(_zip({"cli\r\nname\x1b.xml": (CORPUS / "efatura/gib121_OZELMATRAH.xml").read_bytes()}))
    out = CliRunner().invoke(cli, ["--home", str(home), "ingest", str(zpath), "--json", "--no-signatures"])
    assert out.exit_code == 0, out.output
    (line,) = [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
    assert not UNPRINTABLE & set(line["path"]) and line["path"].endswith("cli\ufffd\ufffdname\ufffd.xml"), line
